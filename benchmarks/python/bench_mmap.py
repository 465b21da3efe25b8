"""Serving from disk (issue 14): memory-mapped vs in-memory indexes, in one run.

For one saved index file (``--index``; a SparseIndex, MultiVectorIndex or MultiVectorStore
saved as one file) and its queries, this measures:

- **open time**: ``load(path)`` (read + verify into private memory) against
  ``load(path, mmap=True)`` (map; header, section table and small metadata checked) and
  ``load(path, mmap=True, verify=True)``; warm page cache, median of ``--repeats``.
- **first query, cold and warm**: the file's pages are dropped from the page cache
  (``posix_fadvise(DONTNEED)``: no root needed, clean pages only) before a fresh open and
  its first query (cold), or left cached (warm).
- **warm latency**: every query, one call per query on one thread, minimum of
  ``--repeats`` passes, mapped against in-memory (target: within 1.1x).
- **shared memory**: ``--processes`` (4) processes each open the file mapped and search all
  queries; the sum of their proportional set sizes (PSS, /proc/PID/smaps_rollup) minus that
  of as many idle interpreters that imported aftershock, against the index's bytes (target:
  at most 1.2x one index for all of them together). The same for in-memory loads shows
  what mapping saves.

Queries: ``--queries`` a .npz CSR matrix (sparse) or ``--query-vectors`` / ``--query-offsets``
.npy files (token sets). Without ``--index``, ``--build sparse`` builds one on the real set
(``--data``: shared/data/debian) into ``--workdir``; ``--build mv-index`` (a
``MultiVectorIndex``, ``--method`` centroid or muvera) or ``--build mv-store`` (a
``MultiVectorStore``) builds one over the real token vectors (``--tokens``: the locally built
debian folder, ../shared/data/README.md; ``--dim`` 128 reads ``doc_vectors_128.npy``, 384
``doc_vectors.npy``; ``--precision``; ``--n-docs`` 0 = all 70,604 passages) with that
folder's queries.

Which kind the file holds is read from its header. Examples::

    python benchmarks/python/bench_mmap.py --build sparse --data ../shared/data/debian
    python benchmarks/python/bench_mmap.py --index big.aft --queries queries.npz
    python benchmarks/python/bench_mmap.py --build mv-index --method centroid --precision fp16 --dim 128
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def drop_cache(path: str) -> None:
    """Evict the file's clean pages from the page cache (best effort, no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def pss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss line")


def load_queries(args):
    if args.queries:
        import scipy.sparse as sp

        q = sp.load_npz(args.queries).tocsr().astype(np.float32)
        return ("sparse", q[: args.n_queries])
    v = np.load(args.query_vectors)
    o = np.load(args.query_offsets).astype(np.int64)
    n = min(args.n_queries, len(o) - 1)
    return ("tokens", (np.ascontiguousarray(v[: o[n]], dtype=np.float32), o[: n + 1]))


def open_index(path: str, **kw):
    """Load whatever index or store the file holds (its kind is at bytes 16..20)."""
    import aftershock

    with open(path, "rb") as f:
        kind = f.read(20)[16:20]
    cls = {b"SPRS": aftershock.SparseIndex, b"MVIX": aftershock.MultiVectorIndex,
           b"MVST": aftershock.MultiVectorStore}[kind]
    return cls.load(path, **kw)


def one_query(index, queries, i, k=10):
    kind, q = queries
    if kind == "sparse":
        return index.search(q[i : i + 1], k, num_threads=1)
    v, o = q
    return index.search(v[o[i] : o[i + 1]], k, query_offsets=np.array([0, o[i + 1] - o[i]]), num_threads=1)


def n_of(queries) -> int:
    kind, q = queries
    return q.shape[0] if kind == "sparse" else len(q[1]) - 1


def all_queries(index, queries) -> float:
    t = time.perf_counter()
    for i in range(n_of(queries)):
        one_query(index, queries, i)
    return (time.perf_counter() - t) / n_of(queries) * 1e3


def child(args) -> None:
    """One serving process: open, search every query, report PSS (then wait to be read)."""
    import aftershock  # noqa: F401 - the idle baseline includes the import

    queries = load_queries(args)
    baseline = pss_kib()
    if args.child == "idle":
        print(json.dumps({"pss_kib": baseline}), flush=True)
    else:
        index = open_index(args.index, mmap=args.child == "mmap")
        all_queries(index, queries)
        print(json.dumps({"pss_kib": pss_kib()}), flush=True)
    sys.stdin.readline()  # the parent reads every child's PSS while all are alive


def shared_pss(args, mode: str) -> int:
    cmd = [sys.executable, __file__, "--index", args.index, "--child", mode, "--n-queries", str(args.n_queries)]
    cmd += ["--queries", args.queries] if args.queries else [
        "--query-vectors", args.query_vectors, "--query-offsets", args.query_offsets]
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(args.processes)]
    total = 0
    try:
        for p in procs:
            total += json.loads(p.stdout.readline())["pss_kib"]
    finally:
        for p in procs:
            p.stdin.write("\n")
            p.stdin.flush()
            p.wait()
    return total * 1024


def build_multivector(args) -> None:
    """Builds (once) a multi-vector index or store over the real token vectors and points
    args.index / the query arguments at it. The tokens are read from the float16 .npy file
    and converted to float32 in one copy (128-d: 3.5 GB for all 6.8 M tokens)."""
    import aftershock

    root = Path(args.tokens)
    suffix = "_128" if args.dim == 128 else ""
    os.makedirs(args.workdir, exist_ok=True)
    what = f"{args.method}-{args.precision}" if args.build == "mv-index" else f"store-{args.precision}"
    args.index = os.path.join(args.workdir, f"mv-{what}-{args.dim}d-{args.n_docs or 'all'}.aft")
    qv = root / f"query_vectors{suffix}.npy"
    if args.dim == 128:
        args.query_vectors = str(qv)
    else:  # the 384-d queries, as float32 (the files are float16)
        args.query_vectors = os.path.join(args.workdir, "query_vectors_384_f32.npy")
        if not os.path.exists(args.query_vectors):
            np.save(args.query_vectors, np.load(qv).astype(np.float32))
    args.query_offsets = str(root / "query_offsets.npy")
    if os.path.exists(args.index):
        return
    off = np.load(root / "doc_offsets.npy").astype(np.int64)
    if args.n_docs:
        off = off[: args.n_docs + 1]
    vec = np.load(root / f"doc_vectors{suffix}.npy", mmap_mode="r")
    vec = np.ascontiguousarray(vec[: off[-1]], dtype=np.float32)
    t = time.perf_counter()
    if args.build == "mv-index":
        obj = aftershock.MultiVectorIndex.build(vec, off, method=args.method, precision=args.precision,
                                               num_threads=args.threads)
    else:
        obj = aftershock.MultiVectorStore.build(vec, off, precision=args.precision, num_threads=args.threads)
    del vec
    obj.save(args.index)
    print(f"built {args.index} in {time.perf_counter() - t:.1f} s: {len(off) - 1} docs", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index")
    ap.add_argument("--build", choices=["sparse", "mv-index", "mv-store"])
    ap.add_argument("--tokens", default=os.path.expanduser("~/.cache/aftershock-data/debian"))
    ap.add_argument("--method", default="centroid", choices=["centroid", "muvera"])
    ap.add_argument("--precision", default="fp16")
    ap.add_argument("--dim", type=int, default=128, choices=[128, 384])
    ap.add_argument("--n-docs", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="build threads (searches use one)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "debian"))
    ap.add_argument("--workdir", default="/tmp/aftershock-bench-mmap")
    ap.add_argument("--queries")
    ap.add_argument("--query-vectors")
    ap.add_argument("--query-offsets")
    ap.add_argument("--n-queries", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--pss-modes", default="mmap,memory",
                    help="which loads the shared-memory run measures (in-memory copies of a large index may not fit)")
    ap.add_argument("--child", choices=["idle", "mmap", "memory"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0

    import aftershock

    if args.build == "sparse":
        import scipy.sparse as sp

        os.makedirs(args.workdir, exist_ok=True)
        args.index = os.path.join(args.workdir, "sparse.aft")
        args.queries = args.queries or os.path.join(args.data, "sparse", "queries.npz")
        if not os.path.exists(args.index):
            docs = sp.load_npz(os.path.join(args.data, "sparse", "docs.npz")).tocsr().astype(np.float32)
            aftershock.SparseIndex.build(docs).save(args.index)
    if args.build in ("mv-index", "mv-store"):
        build_multivector(args)
    if not args.index:
        ap.error("--index or --build is required")
    if args.query_vectors and not args.queries:
        v = np.load(args.query_vectors, mmap_mode="r")
        if v.dtype != np.float32:  # children load the file as it is: give them float32
            f32 = os.path.join(args.workdir, Path(args.query_vectors).stem + "_f32.npy")
            if not os.path.exists(f32):
                os.makedirs(args.workdir, exist_ok=True)
                np.save(f32, np.asarray(v, dtype=np.float32))
            args.query_vectors = f32
    queries = load_queries(args)
    size = os.path.getsize(args.index)
    print(f"index {args.index}: {size / 2**20:.1f} MiB; {n_of(queries)} queries; SIMD {aftershock.simd_info()['active']}")

    def timed_open(**kw):
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            ix = open_index(args.index, **kw)
            times.append(time.perf_counter() - t)
            del ix
        return statistics.median(times) * 1e3

    rows = []
    for name, kw in (("in-memory", {}), ("mmap", {"mmap": True}), ("mmap + verify", {"mmap": True, "verify": True})):
        rows.append((f"open, warm cache ({name})", timed_open(**kw), "ms"))
    for name, kw in (("in-memory", {}), ("mmap", {"mmap": True})):
        for cold in (True, False):
            if cold:
                drop_cache(args.index)
            t = time.perf_counter()
            ix = open_index(args.index, **kw)
            one_query(ix, queries, 0)
            rows.append((f"open + first query, {'cold' if cold else 'warm'} ({name})",
                         (time.perf_counter() - t) * 1e3, "ms"))
            del ix
    mem = open_index(args.index)
    mapped = open_index(args.index, mmap=True)
    best = {"in-memory": float("inf"), "mmap": float("inf")}
    for _ in range(args.repeats):
        for name, ix in (("in-memory", mem), ("mmap", mapped)):
            best[name] = min(best[name], all_queries(ix, queries))
    rows.append(("warm latency (in-memory)", best["in-memory"], "ms/query"))
    rows.append(("warm latency (mmap)", best["mmap"], "ms/query"))
    rows.append(("warm latency ratio mmap / in-memory", best["mmap"] / best["in-memory"], "x"))
    del mem, mapped
    idle = shared_pss(args, "idle")
    for mode in args.pss_modes.split(","):
        total = shared_pss(args, mode) - idle
        rows.append((f"PSS of {args.processes} processes ({mode}) - idle interpreters", total / 2**20, "MiB"))
        rows.append((f"  / index bytes ({size / 2**20:.1f} MiB)", total / size, "x"))
    for name, value, unit in rows:
        print(f"{name:58s} {value:10.3f} {unit}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import run_metadata

    print(json.dumps({**run_metadata(1), "index": args.index, "index_bytes": size, "n_queries": n_of(queries),
                      "rows": {name: round(value, 4) for name, value, _ in rows}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
