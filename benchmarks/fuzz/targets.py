"""Fuzz targets of aftershock: one function ``one_input(data: bytes)`` per entry point.

Shared by ``run.py`` (atheris, coverage-guided on the Python layer) and by
``tests/python/test_fuzz_short.py`` (a deterministic replay with no atheris), so this module
imports nothing but numpy, scipy and aftershock.

A target returns normally, or raises an exception of ``ALLOWED`` internally and catches it:
those are the documented outcomes of bad input. Anything else escaping ``one_input`` (another
exception type, a failed ``Finding`` check) or killing the process (a crash) is a finding.

Targets
-------
sparse_bytes, store_bytes, index_bytes
    The loaders: ``from_bytes`` on the input as it is, and on the input *resealed* (every
    CRC32C recomputed, so mutations reach the value checks behind the checksums); the
    resealed bytes also go through ``load(path)``, which must agree with ``from_bytes``.
    Whatever loads is then used (info, search, a second round trip), since a loader that
    accepts an inconsistent file is only caught when the object is read.
sparse_arrays
    ``SparseIndex.build`` and ``search`` on CSR arrays decoded from the input: odd dtypes,
    shapes, strides, malformed ``indptr``, NaN / negative weights, edge parameters.
maxsim_arrays
    ``MultiVectorStore.build`` with ragged offsets, then ``maxsim`` / ``maxsim_batch`` /
    ``search`` / ``rerank`` with ragged query offsets and candidate ids decoded from the
    input; sometimes a tiny ``MultiVectorIndex`` over the same documents.
"""

from __future__ import annotations

import os
import struct
import tempfile
import warnings
from typing import Callable

import numpy as np
import scipy.sparse as sp

from aftershock import FormatError, MultiVectorIndex, MultiVectorStore, SparseIndex, _core

# The documented outcomes of bad input (aftershock.FormatError is a ValueError).
ALLOWED = (ValueError, TypeError, IndexError, OSError)

# Findings already reported, by exception type and message start: run.py tolerates them
# (TOLERATE_KNOWN = True) so the fuzzer explores past them; the test suite replays strictly.
KNOWN = [
    # A FormatError message quoting file bytes that are not UTF-8 (the header's kind, a
    # section tag) becomes UnicodeDecodeError when pybind11 converts the message.
    (UnicodeDecodeError, "'utf-8' codec can't decode"),
    # SparseIndex.build sizes per-term structures by the vocabulary (about 290 bytes a term),
    # which a tuple input sets to its largest term id + 1: one posting at term 1.5e9 asks
    # for ~440 GB (MemoryError under a limit, the OOM killer without one).
    (MemoryError, "std::bad_alloc"),
]
TOLERATE_KNOWN = False


class Finding(AssertionError):
    """An outcome the API does not allow (loaders disagree, a round trip fails...)."""


# --------------------------------------------------------------------------- input decoding


class Reader:
    """Turns fuzz bytes into choices, as atheris.FuzzedDataProvider does, but deterministic
    and without atheris, so a regression file replays anywhere. Past the end every read
    gives zeros, which selects the first (ordinary) choice."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out + bytes(n - len(out))

    def uint(self, n_bytes: int) -> int:
        return int.from_bytes(self.take(n_bytes), "little")

    def int_in(self, lo: int, hi: int) -> int:
        """An int in [lo, hi]."""
        span = hi - lo
        if span <= 0:
            return lo
        n_bytes = (span.bit_length() + 7) // 8
        return lo + self.uint(n_bytes) % (span + 1)

    def pick(self, choices: list):
        return choices[self.int_in(0, len(choices) - 1)]

    def flag(self) -> bool:
        return bool(self.uint(1) & 1)

    def raw_array(self, dtype, count: int) -> np.ndarray:
        """``count`` values of ``dtype`` straight from the input bytes (any bit pattern)."""
        dtype = np.dtype(dtype)
        return np.frombuffer(self.take(dtype.itemsize * count), dtype=dtype).copy()


_INT_DTYPES = [np.int64, np.int32, np.uint32, np.uint64, np.int8, np.uint8, np.int16]
_ODD_DTYPES = [np.float64, np.float32, np.bool_, np.complex64, object, np.float16]
_FLOAT_DTYPES = [np.float32, np.float64, np.float16, np.int32, np.uint8, np.bool_, np.complex64, object]
_EDGE_INTS = [1, 2, 3, 0, -1, 2**31, 2**32 + 1, 2**63, -(2**63), 10**6, True, 2.5, None, "3"]
# k for search / rerank: the outputs are [n_queries, k] however few documents exist, so a k of
# 2**28 .. 2**32 on a tiny index asks for gigabytes and fails with MemoryError (reported as a
# finding, pinned by test_fuzz_short.test_huge_k_on_a_tiny_index); left out here so the fuzzer
# explores past it.
_EDGE_K = [1, 2, 0, -1, 10**6, 2**63, 2**64, True, 2.5, None, "3"]
_EDGE_REALS = [0.5, 1.0, 0.0, -1.0, 1e-9, 2.0, 1e6, float("nan"), float("inf"), -float("inf"), "0.5", None]


def _oddify(r: Reader, a: np.ndarray) -> object:
    """Sometimes changes an array's container, dtype, shape or strides."""
    how = r.int_in(0, 15)
    if how == 1:
        dt = r.pick(_ODD_DTYPES)
        try:
            return a.astype(dt)
        except (ValueError, TypeError, OverflowError):
            return a
    if how == 2:
        return a.reshape(1, -1) if a.size else a.reshape(0, 1)
    if how == 3:  # non-contiguous view with the same values
        b = np.repeat(a, 2)
        return b[::2]
    if how == 4:
        return a.tolist()
    if how == 5:
        return a[:-1] if a.size else a
    if how == 6:
        return np.asarray(a.sum()) if a.dtype.kind in "iuf" else a  # 0-d
    return a


# ----------------------------------------------------------------------------- seed objects


def _reseal(data: bytes) -> bytes:
    """``data`` with the header CRC, the table CRC and the CRC of every in-bounds section
    recomputed (the layout of cpp/include/aftershock/io/format.hpp); unparsable headers are
    left alone."""
    if len(data) < 64:
        return data
    buf = bytearray(data)
    count, table = struct.unpack_from("<IQ", buf, 20)
    if table <= len(buf):
        fits = min(count, (len(buf) - table) // 32)
        for i in range(fits):
            pos = table + 32 * i
            offset, length = struct.unpack_from("<QQ", buf, pos + 8)
            if offset <= len(buf) and length <= len(buf) - offset:
                struct.pack_into("<I", buf, pos + 24, _crc(bytes(buf[offset : offset + length])))
        if fits == count:
            struct.pack_into("<I", buf, 40, _crc(bytes(buf[table : table + 32 * count])))
    struct.pack_into("<I", buf, 60, _crc(bytes(buf[:60])))
    return bytes(buf)


def _crc(data: bytes) -> int:
    try:
        return _core._crc32c(data, True)
    except ValueError:  # no SSE4.2 in this build or CPU
        return _core._crc32c(data, False)


def _sparse_seeds() -> list[bytes]:
    from aftershock.datasets import synthetic_sparse

    out = []
    for i, (n, precision, pruning, knn) in enumerate(
        [(30, "fp16", "global", 0), (40, "fp32", "fixed", 3), (5, "fp32", "global", 2), (2, "fp16", "fixed", 0)]
    ):
        docs, _ = synthetic_sparse(n, 1, vocab_size=50, doc_nnz=5, query_nnz=3, seed=i)
        index = SparseIndex.build(docs, n_postings=20, precision=precision, pruning=pruning, knn=knn, num_threads=1)
        out.append(index.to_bytes())
    return out


def _ragged_docs(rng: np.random.Generator, n: int, dim: int, max_len: int) -> list[np.ndarray]:
    return [rng.standard_normal((int(m), dim)).astype(np.float32) for m in rng.integers(1, max_len + 1, size=n)]


def _store_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for precision in ("fp32", "fp16", "bf16", "int8"):
        out.append(MultiVectorStore.build(_ragged_docs(rng, 6, 8, 5), precision=precision, num_threads=1).to_bytes())
    golden = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "format_v1")
    if os.path.isdir(golden):
        for name in sorted(os.listdir(golden)):
            if name.startswith("store_"):
                with open(os.path.join(golden, name), "rb") as f:
                    out.append(f.read())
    return out


def _index_seeds() -> list[bytes]:
    rng = np.random.default_rng(1)
    docs = _ragged_docs(rng, 12, 8, 6)
    builds = [
        dict(method="centroid", n_centroids=4, kmeans_iters=2),
        dict(method="centroid", n_centroids=2, precision="int8", pool_factor=2.0),
        dict(method="muvera", k_sim=2, r_reps=2, d_proj=4),
        dict(method="muvera", k_sim=1, r_reps=1, d_proj=0, fde_precision="fp32", final_dim=8, precision="fp16"),
    ]
    return [MultiVectorIndex.build(docs, num_threads=1, seed=3, **kw).to_bytes() for kw in builds]


SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "sparse_bytes": _sparse_seeds,
    "store_bytes": _store_seeds,
    "index_bytes": _index_seeds,
}


# ---------------------------------------------------------------------------------- loaders

_TMP = None


def _tmp_path() -> str:
    global _TMP
    if _TMP is None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        _TMP = tempfile.mkdtemp(prefix="aftershock-fuzz-", dir=base)
    return os.path.join(_TMP, f"input-{os.getpid()}.aft")


def _outcome(fn, *args):
    """('ok', value) or ('raised', exception type); an exception outside ALLOWED propagates."""
    try:
        return "ok", fn(*args)
    except ALLOWED as exc:
        return "raised", type(exc)


_SMALL = 1 << 16  # dims above this are not probed with dim-sized queries


def _probe_sparse(index: SparseIndex) -> None:
    info = index.info()
    n, dim = len(index), int(info["dim"])
    rng = np.random.default_rng(n)
    if 0 < dim <= _SMALL:
        terms = np.unique(rng.integers(0, dim, size=3)).astype(np.int64)
        query = (terms, np.ones(terms.size, np.float32))
        for n_knn in (0, 2) if index.knn else (0,):
            _outcome(lambda: index.search(query, k=3, n_knn=n_knn, num_threads=1))
        _outcome(lambda: index.search(query, k=3, query_cut=1, heap_factor=0.0, num_threads=1))
    if n:
        _outcome(index.blocks_of, 0)
    _roundtrip(SparseIndex, index)


def _probe_store(store: MultiVectorStore) -> None:
    n, dim = len(store), store.dim
    if n:
        store.doc(n - 1)
    if 0 < dim <= _SMALL:
        q = np.random.default_rng(n).standard_normal((2, dim)).astype(np.float32)
        _outcome(lambda: store.maxsim(q, num_threads=1))
        _outcome(lambda: store.search([q, q[:1]], k=3, num_threads=1))
        if n:
            _outcome(lambda: store.rerank([q], np.array([[0, n - 1, -1]]), k=2, num_threads=1))
    _roundtrip(MultiVectorStore, store)


def _probe_index(index: MultiVectorIndex) -> None:
    index.info()
    dim = index.dim
    if 0 < dim <= _SMALL:
        q = np.random.default_rng(len(index)).standard_normal((3, dim)).astype(np.float32)
        _outcome(lambda: index.search([q], k=3, num_threads=1))
        _outcome(lambda: index.search([q, q[1:]], k=2, n_candidates=1, num_threads=1))
    _roundtrip(MultiVectorIndex, index)


def _roundtrip(cls, obj) -> None:
    data = obj.to_bytes()
    try:
        again = cls.from_bytes(data)
    except ALLOWED as exc:
        raise Finding(f"{cls.__name__}: a loaded object's own bytes do not load again: {exc!r}") from exc
    if again.to_bytes() != data:
        raise Finding(f"{cls.__name__}: to_bytes is not stable across a round trip")


def _known(exc: BaseException) -> bool:
    return TOLERATE_KNOWN and any(isinstance(exc, t) and str(exc).startswith(m) for t, m in KNOWN)


def _load_outcome(fn, arg, allowed):
    """As _outcome, for a loader: only FormatError (and OSError for a path) is documented."""
    try:
        return "ok", fn(arg)
    except allowed as exc:
        return "raised", type(exc)
    except ALLOWED as exc:
        if _known(exc):
            return "raised", FormatError
        raise Finding(f"{fn.__qualname__}: {type(exc).__name__} instead of FormatError: {exc!r}"[:500]) from exc


def _loader(cls, probe) -> Callable[[bytes], None]:
    def one_input(data: bytes) -> None:
        status, obj = _load_outcome(cls.from_bytes, data, FormatError)
        if status == "ok":
            probe(obj)
        sealed = _reseal(data)
        if sealed != data:
            status, obj = _load_outcome(cls.from_bytes, sealed, FormatError)
            if status == "ok":
                probe(obj)
        path = _tmp_path()
        with open(path, "wb") as f:
            f.write(sealed)
        from_file = _load_outcome(cls.load, path, (FormatError, OSError))
        if from_file[0] != status or (status == "raised" and from_file[1] is not obj):
            raise Finding(f"{cls.__name__}: load gives {from_file}, from_bytes gives {(status, obj)}")

    one_input.__name__ = f"{cls.__name__}_bytes"
    return one_input


# ------------------------------------------------------------------------------ array inputs


def _csr_parts(r: Reader, n_rows: int, n_cols: int, well_formed: bool):
    """(indptr, indices, values) for n_rows rows, mostly valid, sometimes not."""
    if well_formed:
        counts = [r.int_in(0, min(n_cols, 6)) for _ in range(n_rows)]
        indptr = np.zeros(n_rows + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.concatenate(
            [np.sort(np.random.default_rng(r.uint(2)).choice(n_cols, c, replace=False)) for c in counts]
            + [np.zeros(0, np.int64)]
        ).astype(np.int64)
    else:
        indptr = r.raw_array(r.pick(_INT_DTYPES), n_rows + 1)
        indices = r.raw_array(r.pick(_INT_DTYPES), r.int_in(0, 12))
    nnz = indices.size
    if r.flag():
        values = r.raw_array(np.float32, nnz)  # any bits: NaN, inf, negative, subnormal
    else:
        values = (r.raw_array(np.uint8, nnz) / 16.0).astype(np.float32)
    return indptr, indices, values


def _sparse_input(r: Reader, n_cols_hint: int | None = None):
    kind = r.int_in(0, 7)
    n_rows = r.int_in(0, 6)
    n_cols = n_cols_hint if n_cols_hint is not None else r.pick([8, 1, 3, 64, 2**31 + 5, 2**32 + 3, 0])
    n_cols_small = max(1, min(n_cols, 64))
    well_formed = r.int_in(0, 3) > 0
    indptr, indices, values = _csr_parts(r, n_rows, n_cols_small, well_formed)
    if kind <= 3:
        return (_oddify(r, indices), _oddify(r, values), _oddify(r, indptr)), n_cols
    if kind == 4:
        return (_oddify(r, indices), _oddify(r, values)), n_cols
    if kind == 5:
        dense = (r.raw_array(np.uint8, n_rows * n_cols_small) / 8.0).reshape(n_rows, n_cols_small)
        return _oddify(r, dense), n_cols_small
    if kind == 6 and well_formed:  # scipy itself reads and writes out of bounds on a malformed indptr
        m = sp.csr_matrix((values, indices, indptr), shape=(n_rows, n_cols_small))
        return r.pick([m, m.tocoo(), m.tocsc(), m.astype(np.float64)]), n_cols_small
    if kind == 6:
        return (indices, values, indptr), n_cols
    return r.pick([None, "docs", [[0.5]], (1, 2, 3, 4), np.zeros((2, 2, 2))]), n_cols


def sparse_arrays(data: bytes) -> None:
    r = Reader(data)
    docs, n_cols = _sparse_input(r)
    params = {}
    for name, pool in (
        ("n_postings", [4000, *_EDGE_INTS]),
        ("centroid_fraction", [0.1, *_EDGE_REALS]),
        ("min_cluster_size", [2, *_EDGE_INTS]),
        ("summary_energy", [0.4, *_EDGE_REALS]),
        ("max_fraction", [1.5, *_EDGE_REALS]),
        ("pruning", ["global", "fixed", "Fixed", 3]),
        ("precision", ["fp16", "fp32", "bf16", None]),
        ("knn", [0, 0, 1, 3, -1, 10**9]),
        ("dim", [None, n_cols, 1, 0, 2**32, -1]),
        ("seed", [0, 7, -1, 2**64, 2.5]),
    ):
        if r.flag():
            params[name] = r.pick(pool)
    try:
        index = SparseIndex.build(docs, num_threads=r.pick([1, 2]), **params)
    except ALLOWED:
        return
    except MemoryError as exc:
        if _known(exc):
            return
        raise
    dim = int(index.info()["dim"])
    for _ in range(r.int_in(1, 3)):
        queries, _ = _sparse_input(r, n_cols_hint=r.pick([dim, dim + 1, 1]))
        kw = {}
        for name, pool in (
            ("k", [10, *_EDGE_K]),
            ("query_cut", [10, *_EDGE_INTS]),
            ("heap_factor", [0.8, *_EDGE_REALS]),
            ("n_knn", [0, 1, 5, -1, 2**40]),
        ):
            if r.flag():
                kw[name] = r.pick(pool)
        _outcome(lambda: index.search(queries, num_threads=r.pick([1, 2]), **kw))


def _ragged(r: Reader, dim: int, n_sets: int, max_len: int, *, allow_bad: bool):
    """(flat float32 [total, dim], offsets) with fuzzed lengths; sometimes bad offsets."""
    lengths = [r.int_in(1 if not allow_bad else 0, max_len) for _ in range(n_sets)]
    offsets = np.zeros(n_sets + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    if allow_bad and r.flag():
        flat = r.raw_array(np.float32, total * dim).reshape(total, dim)
    else:
        flat = ((r.raw_array(np.int8, total * dim)) / 32.0).astype(np.float32).reshape(total, dim)
    if allow_bad:
        how = r.int_in(0, 7)
        if how == 1:
            offsets = r.raw_array(r.pick(_INT_DTYPES), n_sets + 1)
        elif how == 2 and n_sets:
            offsets[r.int_in(0, n_sets)] += r.pick([1, -1, 2**40, -(2**40)])
        elif how == 3:
            offsets = offsets.astype(r.pick(_ODD_DTYPES + _INT_DTYPES))
        elif how == 4:
            offsets = offsets[:-1]
    return flat, offsets


def maxsim_arrays(data: bytes) -> None:
    r = Reader(data)
    dim = r.pick([8, 1, 3, 17, 64, 0])
    n_docs = r.int_in(0, 6)
    flat, offsets = _ragged(r, dim, n_docs, 5, allow_bad=r.int_in(0, 3) == 0)
    form = r.int_in(0, 3)
    precision = r.pick(["fp32", "fp16", "bf16", "int8", "fp64"])
    try:
        if form == 0:
            store = MultiVectorStore.build(_oddify(r, flat), _oddify(r, offsets), precision=precision, num_threads=1)
        elif form == 1:
            parts = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)] if offsets.dtype.kind == "i" else [flat]
            store = MultiVectorStore.build(parts, precision=precision, num_threads=1)
        else:
            store = MultiVectorStore.build(flat, offsets, precision=precision, num_threads=1)
    except ALLOWED:
        return
    n = len(store)
    for _ in range(r.int_in(1, 4)):
        qdim = r.pick([store.dim, store.dim, store.dim + 1, 1])
        qflat, qoffs = _ragged(r, qdim, r.int_in(0, 4), 4, allow_bad=r.int_in(0, 2) == 0)
        op = r.int_in(0, 4)
        k = r.pick([3, *_EDGE_K])
        threads = r.pick([1, 2])
        if op == 0:
            _outcome(lambda: store.maxsim(_oddify(r, qflat), num_threads=threads))
        elif op == 1:
            ids = r.pick([None, np.arange(n), np.array([n, -1]), r.raw_array(r.pick(_INT_DTYPES), 3), np.array([0.0])])
            _outcome(lambda: store.maxsim_batch(qflat, ids, query_offsets=_oddify(r, qoffs), num_threads=threads))
        elif op == 2:
            _outcome(lambda: store.search(qflat, k, query_offsets=qoffs, num_threads=threads))
        elif op == 3:
            n_q = max(len(qoffs) - 1, 0)
            cands = r.raw_array(np.int8, n_q * 3).astype(np.int64).reshape(n_q, 3) % (n + 2) - 1
            _outcome(lambda: store.rerank(qflat, _oddify(r, cands), k, query_offsets=qoffs, num_threads=threads))
        else:
            _index_from(r, flat, offsets, qflat, qoffs, k)


def _index_from(r: Reader, flat, offsets, qflat, qoffs, k) -> None:
    """A tiny MultiVectorIndex over the same documents, with edge parameters, then a search."""
    method = r.pick(["centroid", "muvera"])
    if method == "centroid":
        pool = {"n_centroids": [None, 1, 2, 64, 65536, 0], "kmeans_iters": [None, 0, 1, 1000],
                "kmeans_points_per_centroid": [None, 1, 2]}
    else:
        pool = {"k_sim": [None, 0, 1, 12, 13], "r_reps": [None, 1, 2, 0], "d_proj": [None, 0, 1, 4096, 4097],
                "final_dim": [None, 0, 1, 7, 2**26 + 1], "fill_empty": [None, True, False, 1],
                "fde_precision": [None, "int8", "fp32", "fp16"]}
    pool["pool_factor"] = [1.0, 2.0, 1e6, 0.5, float("nan")]
    pool["pool_iters"] = [4, 0, 1, -1]
    kw = {name: r.pick(values) for name, values in pool.items() if r.flag()}
    kw = {name: value for name, value in kw.items() if value is not None}
    try:
        index = MultiVectorIndex.build(flat, offsets, method=method, num_threads=1, seed=r.uint(2), **kw)
    except ALLOWED:
        return
    search_kw = {
        name: r.pick(values)
        for name, values in {
            "n_candidates": [1, 2, 0, 10**6],
            "n_probe": [1, 0, 2**20],
            "n_interaction": [1, 0, 5],
            "bitvector_threshold": [0.5, float("nan"), -1.0],
            "n_bitvector": [1, 0, 3],
        }.items()
        if r.flag() and (method == "centroid" or name == "n_candidates")
    }
    _outcome(lambda: index.search(qflat, k, query_offsets=qoffs, num_threads=1, **search_kw))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "sparse_bytes": _loader(SparseIndex, _probe_sparse),
    "store_bytes": _loader(MultiVectorStore, _probe_store),
    "index_bytes": _loader(MultiVectorIndex, _probe_index),
    "sparse_arrays": sparse_arrays,
    "maxsim_arrays": maxsim_arrays,
}


def array_seeds(name: str) -> list[bytes]:
    """Seeds for the array targets: byte strings that decode to ordinary inputs."""
    rng = np.random.default_rng(len(name))
    return [bytes(64), bytes(range(256)), rng.bytes(512), rng.bytes(2048), b"\x01" * 300]


def seeds(name: str) -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return SEEDS[name]() if name in SEEDS else array_seeds(name)


def run_one(name: str, data: bytes) -> None:
    """One input through one target, with the library's deprecation warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TARGETS[name](data)


__all__ = ["ALLOWED", "Finding", "Reader", "SEEDS", "TARGETS", "run_one", "seeds"]
