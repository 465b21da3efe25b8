"""Input normalization shared by the public classes.

The private ``_core`` module is strict (exact dtypes, C-contiguous, no silent casts); this
layer converts what users hand us into that form, once, and says so in the docstrings.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp


class Csr(NamedTuple):
    indptr: np.ndarray  # int64 [n_rows + 1]
    indices: np.ndarray  # uint32 [nnz]
    values: np.ndarray  # float32 [nnz]
    n_cols: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1


def check_dtype_kind(arr: np.ndarray, name: str, kinds: str, expected: str) -> None:
    if arr.dtype.kind not in kinds:
        raise TypeError(f"{name}: expected {expected}, got dtype {arr.dtype}")


def as_float32(values, name: str) -> np.ndarray:
    """Any real numeric array -> C-contiguous float32 (a copy only if needed)."""
    arr = np.asarray(values)
    check_dtype_kind(arr, name, "fiu", "a real numeric array (float preferred)")
    # Values beyond float32 range become inf here and are rejected by the core's check.
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(arr, dtype=np.float32)


def as_ids(ids, name: str, upper: int | None = None) -> np.ndarray:
    """Integer ids -> uint32 after a range check (negative or >= upper raise IndexError)."""
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.uint32)
    check_dtype_kind(arr, name, "iu", "an integer array")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or (upper is not None and hi >= upper) or hi > np.iinfo(np.uint32).max:
        bad = lo if lo < 0 else hi
        bound = f"[0, {upper})" if upper is not None else "[0, 2**32)"
        raise IndexError(f"{name}: id {bad} is out of range {bound}")
    return np.ascontiguousarray(arr, dtype=np.uint32)


def positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


def _term_ids(indices: np.ndarray) -> np.ndarray:
    """Non-negative integer term ids as uint32 for the core: int32 ids (scipy's default) are
    reinterpreted in place rather than copied, which at a million documents saves about
    half a gigabyte during a build."""
    if indices.dtype == np.int32 and indices.flags.c_contiguous:
        return indices.view(np.uint32)
    return np.ascontiguousarray(indices, dtype=np.uint32)


def as_csr(x, name: str, n_cols: int | None = None) -> Csr:
    """Normalize a batch of sparse vectors.

    Accepted: any ``scipy.sparse`` matrix or array (canonicalized on a copy: indices sorted,
    duplicates summed, as scipy defines them); a dense 1-D (one row) or 2-D numpy array;
    a ``(indices, values, indptr)`` tuple, which must already be canonical (strictly
    increasing term ids per row); or an ``(indices, values)`` pair, one row.
    """
    if sp.issparse(x):
        m = x.tocsr()
        if m.dtype.kind not in "fiu":
            raise TypeError(f"{name}: expected real (float) values, got dtype {m.dtype}")
        if not m.has_canonical_format:
            m = m.copy()
            m.sum_duplicates()
        rows, cols = m.shape
        if n_cols is not None and cols != n_cols:
            raise ValueError(f"{name}: expected {n_cols} columns (the vocabulary size), got {cols}")
        indices = m.indices
        # As for tuples below: only ids wider than 32 bits are scanned here.
        if indices.size and (indices.dtype.itemsize > 4 or cols > 2**31) and indices.min() < 0:
            raise ValueError(f"{name}: negative column index")
        return Csr(
            np.ascontiguousarray(m.indptr, dtype=np.int64),
            _term_ids(indices),
            as_float32(m.data, f"{name} values"),
            cols,
        )
    if isinstance(x, tuple):
        if len(x) == 3:
            indices, values, indptr = x
        elif len(x) == 2:
            indices, values = x
            indptr = np.array([0, len(np.asarray(indices))], dtype=np.int64)
        else:
            raise ValueError(f"{name}: expected a tuple (indices, values, indptr) or (indices, values)")
        indices = np.asarray(indices)
        values = np.asarray(values)
        indptr = np.asarray(indptr)
        for arr, part in ((indices, "indices"), (values, "values"), (indptr, "indptr")):
            if arr.ndim != 1:
                raise ValueError(f"{name} {part}: expected a 1-d array, got shape {arr.shape}")
        check_dtype_kind(indptr, f"{name} indptr", "iu", "an integer array")
        check_dtype_kind(indices, f"{name} indices", "iu", "an integer array")
        # Ids of 32 bits or fewer reach the core as uint32, where a negative one wraps to at
        # least 2**31 and fails the core's range check (which names it as negative). Only
        # 64-bit ids could wrap into range, and only they pay for the scans here: a single
        # query call is a few microseconds.
        if indices.size and (indices.dtype.itemsize > 4 or n_cols is None or n_cols > 2**31):
            if indices.min() < 0:
                raise ValueError(f"{name} indices: term ids must be >= 0, got {int(indices.min())}")
            if int(indices.max()) > np.iinfo(np.uint32).max:
                raise ValueError(f"{name} indices: term id {int(indices.max())} does not fit in uint32")
        if n_cols is None:
            n_cols = int(indices.max()) + 1 if indices.size else 1
        return Csr(
            np.ascontiguousarray(indptr, dtype=np.int64),
            _term_ids(indices),
            as_float32(values, f"{name} values"),
            n_cols,
        )
    if isinstance(x, np.ndarray) or isinstance(x, list):
        arr = np.asarray(x)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(f"{name}: expected a sparse matrix, a 2-d dense array or a CSR tuple, got shape {arr.shape}")
        check_dtype_kind(arr, name, "fiu", "real (float) values")
        return as_csr(sp.csr_matrix(as_float32(arr, name)), name, n_cols)
    raise TypeError(
        f"{name}: expected a scipy.sparse matrix, a dense numpy array or an (indices, values, indptr) tuple, "
        f"got {type(x).__name__}"
    )
