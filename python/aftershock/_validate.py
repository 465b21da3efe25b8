"""Input normalization shared by the public classes.

The private ``_core`` module is strict (exact dtypes, C-contiguous, no silent casts); this
layer converts what users hand us into that form, once, and says so in the docstrings.
"""

from __future__ import annotations

import numbers
import os
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
    if arr.dtype == np.float32 and arr.flags.c_contiguous:  # the common case, without the errstate
        return arr
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


INT64_MAX = 2**63 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


def _bound(value: int) -> str:
    """``2**63 - 1`` rather than 19 digits, for the bounds a user cannot be expected to know."""
    for power in (32, 63, 64):
        if value == 2**power - 1:
            return f"2**{power} - 1"
    return str(value)


def positive_int(value, name: str, minimum: int = 1, maximum: int = INT64_MAX) -> int:
    """A Python int in ``[minimum, maximum]`` (bool is refused: ``True`` is not a count).

    Every public integer argument comes through here (or :func:`thread_count` /
    :func:`seed_value`), so a value the core's C++ integer cannot hold (``10**30``) is a
    ``ValueError`` naming the argument and its range, never a failed conversion in ``_core``.
    ``maximum`` defaults to the largest int64, which every count parameter of ``_core``
    accepts; the core checks tighter, parameter-specific limits.
    """
    if type(value) is not int:  # a plain int skips the slower abstract-type checks
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
            raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
        value = int(value)
    if value < minimum or value > maximum:
        raise ValueError(f"{name}: expected an integer in [{minimum}, {_bound(maximum)}], got {value}")
    return value


def thread_count(num_threads) -> int:
    """``num_threads``: an integer >= 0, 0 meaning every core (the core caps large requests)."""
    return positive_int(num_threads, "num_threads", minimum=0)


def seed_value(seed) -> int:
    """A seed for the core's portable generator: an integer in ``[0, 2**64 - 1]``, stored
    exactly in files (as an integer, not a double)."""
    return positive_int(seed, "seed", minimum=0, maximum=UINT64_MAX)


def path_value(path, name: str = "path") -> bytes:
    """A file path (``str``, ``bytes`` or ``os.PathLike``) as the bytes the OS sees.

    Encoded as :func:`os.fsencode` does, so a name that is not valid UTF-8 still reaches the
    core intact. A NUL byte is refused: the OS would cut the name there and write another
    file (``"victim.aft\\0x"`` is ``"victim.aft"`` to ``open(2)``).
    """
    try:
        raw = os.fsencode(path)
    except TypeError:
        raise TypeError(f"{name}: expected a str, bytes or os.PathLike, got {type(path).__name__}") from None
    if b"\0" in raw:
        raise ValueError(f"{name}: expected a file name without NUL bytes, got {path!r}")
    if not raw:
        raise ValueError(f"{name}: expected a file name, got an empty path")
    return raw


def strict_bool(value, name: str) -> bool:
    """``value`` as a bool: True/False (numpy.bool_ too); anything else is a TypeError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")


def choice(value, name: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of strings; TypeError for a non-string, ValueError naming the choices."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, one of {', '.join(map(repr, choices))}; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def real(value, name: str) -> float:
    """A Python float from any real number (bool is refused)."""
    if type(value) is float:
        return value
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


# ----------------------------------------------------------------------------- dense and ragged


def float_matrix(x, name: str, dim: int | None = None) -> np.ndarray:
    """A C-contiguous float32 ``[rows, dim]`` array (a copy only when dtype or layout differ)."""
    arr = np.asarray(x)
    check_dtype_kind(arr, name, "fiu", "a real-valued array")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d array (tokens, dim), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name}: expected (n, {dim}) float32, got {arr.shape}")
    return as_float32(arr, name)


def int_vector(x, name: str) -> np.ndarray:
    """A 1-d integer array (an empty float array, as ``np.array([])`` makes, is accepted)."""
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name}: expected an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {arr.shape}")
    return arr


def as_offsets(offsets, name: str) -> np.ndarray:
    """Ragged offsets -> C-contiguous int64 ``[n + 1]``. Their values (start at 0, increasing,
    end at the token count) are checked by the core, on the copy it reads."""
    arr = int_vector(offsets, name)
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: offset {int(arr.max())} does not fit int64")
    if arr.shape[0] < 1:
        raise ValueError(f"{name}: expected n + 1 >= 1 entries, got 0")
    return np.ascontiguousarray(arr, dtype=np.int64)


def as_ragged(x, offsets, name: str, offsets_name: str, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token sets in any accepted form -> ``(float32 [total, dim], int64 [n + 1])``.

    The one normaliser of ragged input (documents and queries of both multi-vector classes).
    Accepted forms:

    * a 2-d ``[total_tokens, dim]`` array with ``offsets`` (``[n + 1]``, set ``i`` is rows
      ``offsets[i]:offsets[i + 1]``);
    * a 3-d array ``[n, m, dim]`` (every set has ``m`` tokens);
    * a list or tuple of 2-d ``[m_i, dim]`` arrays (concatenated into one copy).

    A 2-d array without offsets is refused with a hint (it could be one set or many). An empty
    array in a list is refused here, naming it; offsets given by the caller are checked once,
    by the core, on this copy.
    """
    if offsets is not None:
        if isinstance(x, (list, tuple)):
            raise ValueError(f"{offsets_name}: must be omitted when {name} is a list of per-set arrays")
        return float_matrix(x, name, dim), as_offsets(offsets, offsets_name)
    if isinstance(x, (list, tuple)):
        if len(x) == 0:
            raise ValueError(f"{name}: expected at least one [m, dim] array, got an empty sequence")
        parts = [float_matrix(p, f"{name}[{i}]", dim) for i, p in enumerate(x)]
        dim = parts[0].shape[1]
        for i, p in enumerate(parts):
            if p.shape[1] != dim:
                raise ValueError(f"{name}[{i}]: expected a 2-d array of shape (m, {dim}), got {p.shape}")
            if p.shape[0] == 0:
                raise ValueError(f"{name}[{i}]: expected at least one token, got shape {p.shape}")
        lengths = np.fromiter((p.shape[0] for p in parts), dtype=np.int64, count=len(parts))
        offs = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offs[1:])
        return np.ascontiguousarray(np.concatenate(parts, axis=0)), offs
    arr = np.asarray(x)
    check_dtype_kind(arr, name, "fiu", "a real-valued array")
    if arr.ndim == 3:
        n, m, d = arr.shape
        return float_matrix(arr.reshape(n * m, d), name, dim), np.arange(n + 1, dtype=np.int64) * m
    hint = " (for one set, wrap it in a list)" if arr.ndim == 2 else ""
    raise ValueError(
        f"{name}: expected a list of [m, dim] arrays, a 3-d array, or a 2-d array with "
        f"{offsets_name}; got shape {arr.shape}{hint}"
    )
