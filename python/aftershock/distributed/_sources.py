"""Build sources: in-memory arrays, shard files, or a Ray Dataset, split into shard payloads.

The driver turns a source into one *spec* per shard; a Ray task turns its spec into the
arguments of ``SparseIndex.build`` / ``MultiVectorIndex.build`` (:func:`load_spec`). Files and
Dataset pieces are read by the task, on the worker, so the driver never holds them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

# Column names a Ray Dataset must have, per kind.
DATASET_COLUMNS = {"sparse": ("indices", "values"), "multivector": ("vectors",)}


def _bounds(n: int, n_shards: int) -> list[int]:
    """Contiguous, balanced row ranges: shard i holds rows bounds[i] .. bounds[i+1] - 1."""
    return [(i * n) // n_shards for i in range(n_shards + 1)]


def _is_dataset(source: Any) -> bool:
    module = type(source).__module__
    return module.startswith("ray.data") and hasattr(source, "split_at_indices")


def _is_file_list(source: Any) -> bool:
    return (
        isinstance(source, (list, tuple))
        and len(source) > 0
        and all(isinstance(s, (str, os.PathLike)) for s in source)
    )


def split_source(source: Any, kind: str, n_shards: int | None) -> tuple[list[tuple[str, Any]], int]:
    """One spec per shard, and the shard count.

    Raises
    ------
    TypeError
        ``source`` is none of the supported containers.
    ValueError
        ``n_shards`` is missing, below 1, larger than the document count, or disagrees with
        the number of files.
    """
    if _is_file_list(source):
        files = [Path(os.fspath(f)) for f in source]
        if n_shards is not None and n_shards != len(files):
            raise ValueError(f"n_shards: {n_shards}, but source names {len(files)} files (one shard per file)")
        for f in files:
            if f.suffix not in (".npz", ".npy"):
                raise ValueError(f"source: {f}: expected a .npz or .npy file")
            if not f.is_file():
                raise FileNotFoundError(f"source: {f}: no such file")
        return [("file", str(f.resolve())) for f in files], len(files)
    if n_shards is None:
        raise ValueError("n_shards: required unless source is a list of shard files")
    if _is_dataset(source):
        missing = [c for c in DATASET_COLUMNS[kind] if c not in source.schema().names]
        if missing:
            raise ValueError(
                f"source: the Ray Dataset lacks column(s) {missing}; kind={kind!r} needs {DATASET_COLUMNS[kind]}"
            )
        n = source.count()
        _check_shards(n, n_shards)
        pieces = source.split_at_indices(_bounds(n, n_shards)[1:-1])
        # Each task fetches its piece's blocks (Arrow tables, wherever they live) itself;
        # iterating the piece inside the task would start a Ray Data executor per task.
        return [("dataset", piece.to_arrow_refs()) for piece in pieces], n_shards
    if kind == "sparse":
        return _split_sparse(source, n_shards), n_shards
    return _split_multivector(source, n_shards), n_shards


def _check_shards(n_docs: int, n_shards: int) -> None:
    if n_shards > max(n_docs, 1):
        raise ValueError(f"n_shards: {n_shards} shards for {n_docs} documents (at most one shard per document)")


def _split_sparse(source: Any, n_shards: int) -> list[tuple[str, Any]]:
    if sp.issparse(source):
        m = source.tocsr()
    elif isinstance(source, np.ndarray) and source.ndim == 2:
        m = source
    else:
        raise TypeError(
            "source: for kind='sparse' expected a scipy.sparse matrix, a 2-d numpy array, a list of "
            f".npz/.npy files or a Ray Dataset, got {type(source).__name__}"
        )
    _check_shards(m.shape[0], n_shards)
    b = _bounds(m.shape[0], n_shards)
    return [("data", m[b[i] : b[i + 1]]) for i in range(n_shards)]


def _split_multivector(source: Any, n_shards: int) -> list[tuple[str, Any]]:
    if (
        isinstance(source, tuple)
        and len(source) == 2
        and np.ndim(source[0]) == 2
        and np.ndim(source[1]) == 1
    ):
        vectors, offsets = np.asarray(source[0]), np.asarray(source[1])
        if offsets.dtype.kind not in "iu":
            raise TypeError(f"source: offsets: expected an integer array, got dtype {offsets.dtype}")
        n = len(offsets) - 1
        _check_shards(n, n_shards)
        b = _bounds(n, n_shards)
        specs = []
        for i in range(n_shards):
            lo, hi = int(offsets[b[i]]), int(offsets[b[i + 1]])
            specs.append(("data", (vectors[lo:hi], offsets[b[i] : b[i + 1] + 1] - offsets[b[i]])))
        return specs
    if isinstance(source, np.ndarray) and source.ndim == 3:
        docs = source
    elif isinstance(source, (list, tuple)) and all(np.ndim(d) == 2 for d in source):
        docs = list(source)
    else:
        raise TypeError(
            "source: for kind='multivector' expected a list of [n_tokens, dim] arrays, a 3-d array, "
            "a (vectors, offsets) tuple, a list of .npz/.npy files or a Ray Dataset, "
            f"got {type(source).__name__}"
        )
    _check_shards(len(docs), n_shards)
    b = _bounds(len(docs), n_shards)
    return [("data", (docs[b[i] : b[i + 1]], None)) for i in range(n_shards)]


def load_spec(spec: tuple[str, Any], kind: str, dim: int | None) -> tuple[tuple, dict]:
    """A shard spec -> (positional, keyword) arguments of the kind's ``build``. Runs in the task."""
    how, payload = spec
    if how == "data":
        return (payload if kind == "multivector" else (payload,)), {}
    if how == "file":
        return _load_file(Path(payload), kind)
    return _load_dataset(payload, kind, dim)


def _load_file(path: Path, kind: str) -> tuple[tuple, dict]:
    if kind == "sparse":
        if path.suffix == ".npz":
            return (sp.load_npz(path),), {}
        return (np.load(path),), {}
    if path.suffix == ".npz":
        with np.load(path) as z:
            if "vectors" not in z or "offsets" not in z:
                raise ValueError(f"source: {path}: a multi-vector .npz needs arrays 'vectors' and 'offsets'")
            return (z["vectors"], z["offsets"]), {}
    return (np.load(path), None), {}


def _dataset_batches(block_refs: list) -> Any:
    """The piece's blocks, in order, as dicts of numpy columns (ragged columns: object arrays)."""
    import ray
    from ray.data.block import BlockAccessor

    for ref in block_refs:
        yield BlockAccessor.for_block(ray.get(ref)).to_batch_format("numpy")


def _load_dataset(block_refs: list, kind: str, dim: int | None) -> tuple[tuple, dict]:
    if kind == "multivector":
        docs = []
        for batch in _dataset_batches(block_refs):
            docs.extend(np.asarray(v) for v in batch["vectors"])
        return (docs, None), {}
    indptr = [0]
    indices, values = [], []
    for batch in _dataset_batches(block_refs):
        for ix, vs in zip(batch["indices"], batch["values"]):
            ix, vs = np.asarray(ix), np.asarray(vs)
            if ix.shape != vs.shape or ix.ndim != 1:
                raise ValueError(f"source: a row's indices {ix.shape} and values {vs.shape} differ in shape")
            indices.append(ix)
            values.append(vs)
            indptr.append(indptr[-1] + len(ix))
    ind = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    val = np.concatenate(values) if values else np.zeros(0, dtype=np.float32)
    return ((ind, val, np.asarray(indptr, dtype=np.int64)),), {"dim": dim}
