"""Multi-vector retrieval benchmark: candidate generation + exact MaxSim rerank.

Measures, for every configuration of ``aftershock.MultiVectorIndex`` (method ``centroid``
and ``muvera``, swept over their main parameters) and, in the same run, for the peers that
are installed in ``--peer-python``'s environment:

* recall@10 against exact MaxSim (brute force over the same token vectors),
* mean milliseconds per query on one thread (wall clock; CPU time is recorded too),
* speed-up over exact brute force (``aftershock`` exact search, one thread),
* build seconds (``--build-threads`` threads) and bytes per token (everything held:
  stored tokens + candidate structures; ``index_bytes_per_token`` counts the latter only),

then prints a table and the recall/latency Pareto front per dataset. Every result is a JSON
line (stdout and ``--out``) carrying ``simd_info()``, the CPU model, thread counts and the
git SHA.

Datasets (``--dataset``, repeatable; ``NAME:N`` keeps the first N documents):

* ``debian384`` -- the real token vectors of ../shared/data/README.md (all-MiniLM-L6-v2,
  384-d, fp16, ~99 tokens per passage, ~12 per query), read from ``--data-dir``.
  Exact MaxSim over fp16 vectors is the reference, so tokens are stored as fp16 by default.
* ``debian128`` -- the same tokens projected to 128-d by ``project_tokens.py``.
* ``synthetic`` -- seeded topic model, generated here: ``n_protos`` unit prototype vectors,
  grouped into topics of 64 prototypes; a document mixes 1-3 topics and has
  ``N(mean_tokens, mean_tokens/3)`` tokens (clipped to [4, 4 mean]), each
  ``normalize(prototype + 0.35 * g / sqrt(dim))`` with ``g`` standard normal; a query draws
  32 tokens from the topics of one random document. Default 50,000 documents, dim 128,
  mean 80 tokens.

Peers (``--peers plaid,muvera-python``; run in a child process of ``--peer-python`` so
that they never become dependencies, on datasets of at most ``--peer-max-docs`` documents):

* ``plaid``: PyLate's PLAID backend (``pylate.indexes.PLAID(use_fast=False)``, the
  Stanford ColBERT PLAID engine: k-means centroids, 2-bit residuals, centroid pruning and
  interaction, then MaxSim on decompressed vectors), ``torch.set_num_threads(1)`` for search.
* ``muvera-python``: its FDE encodings (AMS-sketch projection), a numpy flat inner-product
  scan for candidates, then exact MaxSim rerank of the candidates in numpy (float32).

Example::

    python benchmarks/python/bench_multivector.py --dataset synthetic:20000 \\
        --dataset debian128 --dataset debian384 --peers plaid,muvera-python \\
        --peer-python /tmp/venv-mvbench/bin/python --out /tmp/mv.jsonl
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PEER_MARKER = "@@PEER "
K = 10


# ----------------------------------------------------------------------------- metadata
def metadata(search_threads: int, build_threads: int) -> dict[str, Any]:
    """common.run_metadata (machine, simd_info, commit, time) plus the build thread count."""
    meta = common.run_metadata(search_threads)
    meta["build_threads"] = build_threads
    return meta


# ----------------------------------------------------------------------------- data
class Dataset:
    def __init__(self, name, vectors, offsets, queries, query_offsets, precision, gt_ids=None):
        self.name = name
        self.vectors = vectors  # float32 [T, dim]
        self.offsets = offsets  # int64 [n + 1]
        self.queries = queries  # float32 [Tq, dim]
        self.query_offsets = query_offsets
        self.precision = precision  # storage precision that reproduces the vectors exactly
        self.gt_ids = gt_ids  # int64 [nq, K] exact top-K, or None (computed)

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_queries(self) -> int:
        return len(self.query_offsets) - 1

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def query_list(self) -> list[np.ndarray]:
        o = self.query_offsets
        return [self.queries[o[i] : o[i + 1]] for i in range(self.n_queries)]


def synthetic(
    n_docs: int,
    dim: int = 128,
    n_queries: int = 200,
    mean_tokens: int = 80,
    query_tokens: int = 32,
    noise: float = 0.35,
    seed: int = 0,
) -> Dataset:
    rng = np.random.default_rng(seed)
    n_topics = max(8, n_docs // 50)
    n_protos = max(64, n_docs // 2)
    per_topic = 64
    protos = rng.standard_normal((n_protos, dim)).astype(np.float32)
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    topic_protos = rng.integers(0, n_protos, size=(n_topics, per_topic))

    def sample(topics, n):
        t = topics[rng.integers(0, len(topics), n)]
        x = protos[topic_protos[t, rng.integers(0, per_topic, n)]]
        x = x + (noise / np.sqrt(dim)) * rng.standard_normal((n, dim)).astype(np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    lengths = np.clip(rng.normal(mean_tokens, mean_tokens / 3, n_docs).astype(np.int64), 4, 4 * mean_tokens)
    offsets = np.zeros(n_docs + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    vectors = np.empty((int(offsets[-1]), dim), np.float32)
    doc_topics = []
    for d in range(n_docs):
        topics = rng.integers(0, n_topics, rng.integers(1, 4))
        doc_topics.append(topics)
        vectors[offsets[d] : offsets[d + 1]] = sample(topics, int(lengths[d]))
    qs = [sample(doc_topics[rng.integers(0, n_docs)], query_tokens) for _ in range(n_queries)]
    q_off = np.arange(n_queries + 1, dtype=np.int64) * query_tokens
    return Dataset(f"synthetic:{n_docs}", vectors, offsets, np.concatenate(qs), q_off, "fp32")


def load_debian(data_dir: Path, dim: int, n_docs: int | None, n_queries: int | None) -> Dataset:
    suffix = "" if dim == 384 else f"_{dim}"
    doff = np.load(data_dir / "doc_offsets.npy").astype(np.int64)
    qoff = np.load(data_dir / "query_offsets.npy").astype(np.int64)
    dvec = np.load(data_dir / f"doc_vectors{suffix}.npy", mmap_mode="r")
    qvec = np.load(data_dir / f"query_vectors{suffix}.npy", mmap_mode="r")
    full = n_docs is None or n_docs >= len(doff) - 1
    if not full:
        doff = doff[: n_docs + 1]
    nq = len(qoff) - 1 if n_queries is None else min(n_queries, len(qoff) - 1)
    qoff = qoff[: nq + 1]
    vectors = np.empty((int(doff[-1]), dvec.shape[1]), np.float32)
    step = 1 << 20
    for s in range(0, len(vectors), step):  # chunked fp16 -> fp32 (no second full-size temporary)
        e = min(s + step, len(vectors))
        vectors[s:e] = dvec[s:e]
    queries = np.ascontiguousarray(qvec[: qoff[-1]], dtype=np.float32)
    precision = "fp16" if dvec.dtype == np.float16 else "fp32"
    gt = None
    if full and dim == 384 and (data_dir / "gt_maxsim.npy").exists():
        gt = np.load(data_dir / "gt_maxsim.npy")[:nq, :K].astype(np.int64)
    name = f"debian{dim}" + ("" if full else f":{n_docs}")
    return Dataset(name, vectors, doff, queries, qoff, precision, gt)


def make_dataset(spec: str, args) -> Dataset:
    name, _, count = spec.partition(":")
    n = int(count) if count else None
    if name == "synthetic":
        return synthetic(n or 50_000, dim=args.synthetic_dim, n_queries=args.n_queries or 200, seed=args.seed)
    if name in ("debian384", "debian128"):
        return load_debian(Path(args.data_dir).expanduser(), int(name[6:]), n, args.n_queries)
    raise SystemExit(f"unknown dataset {spec!r}")


# ----------------------------------------------------------------------------- measuring
def recall(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a[:K].tolist()) & set(b[:K].tolist())) / K for a, b in zip(ids, gt)]))


def timed_search(n_queries: int, fn, *fn_args, **fn_kwargs) -> tuple[Any, float, float]:
    """Runs fn(*fn_args, **fn_kwargs) once; returns (result, wall ms/query, CPU ms/query)."""
    gc.collect()
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    out = fn(*fn_args, **fn_kwargs)
    return (
        out,
        (time.perf_counter() - t_wall) * 1e3 / n_queries,
        (time.process_time() - t_cpu) * 1e3 / n_queries,
    )


def pareto(rows: list[dict]) -> list[dict]:
    """Rows not dominated in (higher recall, lower ms/query)."""
    front = []
    for r in sorted(rows, key=lambda r: (r["ms_per_query"], -r["recall_at_10"])):
        if not front or r["recall_at_10"] > front[-1]["recall_at_10"]:
            front.append(r)
    return front


# The first two builds of each method always run; --all-builds adds the rest.
CENTROID_BUILDS = [
    {},
    {"precision": "int8"},
    {"n_centroids_factor": 2},
    {"pool_factor": 2},
]
CENTROID_SEARCHES = (
    [{"n_probe": p, "n_candidates": c} for p in (1, 2, 4, 8) for c in (32, 64, 128, 256, 512, 1024)]
    + [{"n_probe": 4, "n_candidates": c, "n_interaction": f * c} for c in (32, 64, 128) for f in (2, 4, 32)]
    + [
        {"n_probe": 8, "n_candidates": c, "n_interaction": 0, "bitvector_threshold": t, "n_bitvector": 16 * c}
        for c in (32, 64, 128)
        for t in (0.4, 0.5)
    ]
)
MUVERA_BUILDS = [
    {},
    {"r_reps": 20, "k_sim": 5, "d_proj": 16, "final_dim": 2048},
    {"r_reps": 16, "k_sim": 4, "d_proj": 16},
    {"fde_precision": "fp32"},
]
MUVERA_SEARCHES = [{"n_candidates": c} for c in (128, 256, 512, 1024, 2048)]


def run_ours(ds: Dataset, gt: np.ndarray, exact_ms: float, args, meta, emit) -> list[dict]:
    import aftershock

    rows = []
    queries = ds.query_list()
    methods = [m for m in ("centroid", "muvera") if m in args.methods.split(",")]
    for method in methods:
        builds = CENTROID_BUILDS if method == "centroid" else MUVERA_BUILDS
        searches = CENTROID_SEARCHES if method == "centroid" else MUVERA_SEARCHES
        if not args.all_builds:
            builds = builds[:2]
        if args.quick:
            builds, searches = builds[:1], searches[::3]
        for bp in builds:
            bp = dict(bp)
            precision = bp.pop("precision", ds.precision)
            factor = bp.pop("n_centroids_factor", None)
            if factor:
                tokens = len(ds.vectors)
                auto = 16
                while auto * 2 <= 2 * np.sqrt(tokens) and auto * 2 <= 65536:
                    auto *= 2
                bp["n_centroids"] = min(65536, auto * factor)
            t = time.perf_counter()
            index = aftershock.MultiVectorIndex.build(
                ds.vectors,
                ds.offsets,
                method=method,
                precision=precision,
                num_threads=args.build_threads,
                seed=args.seed,
                verbose=args.verbose,
                **bp,
            )
            build_s = time.perf_counter() - t
            info = index.info()
            stats = info["stats"]
            for sp in searches:
                res, ms, cpu_ms = timed_search(ds.n_queries, index.search, queries, k=K, num_threads=1, **sp)
                row = {
                    "dataset": ds.name,
                    "system": f"aftershock-{method}",
                    "precision": precision,
                    "build_params": {k: v for k, v in bp.items()},
                    "search_params": sp,
                    "recall_at_10": recall(res.ids, gt),
                    "ms_per_query": ms,
                    "cpu_ms_per_query": cpu_ms,
                    "speedup_vs_exact": exact_ms / ms,
                    "build_s": build_s,
                    "bytes_per_token": info["size_bytes"] / stats["original_tokens"],
                    "index_bytes_per_token": stats["index_size_bytes"] / stats["original_tokens"],
                    "n_docs": ds.n_docs,
                    "n_queries": ds.n_queries,
                    "dim": ds.dim,
                    "info": info,
                    "meta": meta,
                }
                rows.append(row)
                emit(row)
            del index
            gc.collect()
    return rows


def exact_reference(ds: Dataset, args, meta, emit) -> tuple[np.ndarray, float]:
    """Exact top-K (from the dataset's ground truth when it has one, verified on a sample)
    and exact brute-force ms/query on one thread."""
    import aftershock

    t = time.perf_counter()
    store = aftershock.MultiVectorStore.build(
        ds.vectors, ds.offsets, precision=ds.precision, num_threads=args.build_threads
    )
    store_s = time.perf_counter() - t
    queries = ds.query_list()
    n_time = min(args.exact_timing_queries, ds.n_queries)
    res, exact_ms, exact_cpu = timed_search(n_time, store.search, queries[:n_time], k=K, num_threads=1)
    if ds.gt_ids is not None:
        agree = recall(res.ids, ds.gt_ids[:n_time])
        print(
            f"[{ds.name}] shipped gt_maxsim agrees with aftershock exact search on {n_time} queries: "
            f"recall {agree:.4f}",
            file=sys.stderr,
        )
        gt = ds.gt_ids
    else:
        t = time.perf_counter()
        gt = store.search(queries, k=K, num_threads=args.build_threads).ids
        print(f"[{ds.name}] exact ground truth in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    row = {
        "dataset": ds.name,
        "system": "aftershock-exact",
        "precision": ds.precision,
        "recall_at_10": 1.0,
        "ms_per_query": exact_ms,
        "cpu_ms_per_query": exact_cpu,
        "speedup_vs_exact": 1.0,
        "build_s": store_s,
        "bytes_per_token": store.size_bytes / len(ds.vectors),
        "n_docs": ds.n_docs,
        "n_queries": n_time,
        "dim": ds.dim,
        "meta": meta,
    }
    emit(row)
    del store
    gc.collect()
    return gt, exact_ms


# ----------------------------------------------------------------------------- peers
def run_peers(ds: Dataset, gt: np.ndarray, exact_ms: float, args, meta, emit) -> list[dict]:
    rows = []
    peers = [p for p in args.peers.split(",") if p]
    if not peers:
        return rows
    if ds.n_docs > args.peer_max_docs:
        print(
            f"[{ds.name}] peers skipped: {ds.n_docs} documents > --peer-max-docs {args.peer_max_docs}",
            file=sys.stderr,
        )
        return rows
    tmp = Path(tempfile.mkdtemp(prefix="mvbench-"))
    try:
        np.save(tmp / "vectors.npy", ds.vectors)
        np.save(tmp / "offsets.npy", ds.offsets)
        np.save(tmp / "queries.npy", ds.queries)
        np.save(tmp / "query_offsets.npy", ds.query_offsets)
        for peer in peers:
            cmd = [
                args.peer_python,
                str(Path(__file__).resolve()),
                "--peer",
                peer,
                "--peer-data",
                str(tmp),
                "--build-threads",
                str(args.build_threads),
            ]
            if args.quick:
                cmd.append("--quick")
            print(f"[{ds.name}] peer {peer}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.peer_timeout, check=False)
            got = [
                json.loads(line[len(PEER_MARKER) :])
                for line in proc.stdout.splitlines()
                if line.startswith(PEER_MARKER)
            ]
            if proc.returncode != 0 or not got:
                err = (proc.stderr or "").strip().splitlines()[-12:]
                row = {
                    "dataset": ds.name,
                    "system": peer,
                    "error": f"exit {proc.returncode}: " + " | ".join(err),
                    "meta": meta,
                }
                emit(row)
                continue
            for r in got:
                if "error" in r:
                    emit({"dataset": ds.name, "system": peer, **r, "meta": meta})
                    continue
                r.update(
                    {
                        "dataset": ds.name,
                        "recall_at_10": recall(np.array(r.pop("ids")), gt),
                        "speedup_vs_exact": exact_ms / r["ms_per_query"],
                        "n_docs": ds.n_docs,
                        "n_queries": ds.n_queries,
                        "dim": ds.dim,
                        "bytes_per_token": r["size_bytes"] / len(ds.vectors),
                        "meta": meta,
                    }
                )
                rows.append(r)
                emit(r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def muvera_search(enc, fde, docs, offsets, qs, n_cand) -> list[list[int]]:
    """muvera-python peer: FDE flat scan (numpy), exact MaxSim rerank of n_cand candidates (numpy)."""
    ids = []
    for q in qs:
        qf = np.asarray(enc.encode_queries([q]), dtype=np.float32)[0]
        s = fde @ qf
        cand = np.argpartition(-s, n_cand)[:n_cand] if n_cand < len(s) else np.arange(len(s))
        sims = q @ np.concatenate([docs[c] for c in cand]).T
        lens = offsets[cand + 1] - offsets[cand]
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        scores = np.maximum.reduceat(sims, starts, axis=1).sum(axis=0)
        order = np.lexsort((cand, -scores))[:K]
        ids.append(cand[order].tolist())
    return ids


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def peer_main(args) -> None:
    """Child process: run one peer on the data in --peer-data, print PEER_MARKER lines."""
    data = Path(args.peer_data)
    vectors = np.load(data / "vectors.npy")
    offsets = np.load(data / "offsets.npy")
    queries = np.load(data / "queries.npy")
    qoff = np.load(data / "query_offsets.npy")
    docs = [vectors[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    qs = [queries[qoff[i] : qoff[i + 1]] for i in range(len(qoff) - 1)]
    dim = vectors.shape[1]

    def out(row):
        print(PEER_MARKER + json.dumps(row), flush=True)

    if args.peer == "plaid":
        import torch
        from pylate.indexes import PLAID

        torch.set_num_threads(max(1, args.build_threads or os.cpu_count()))
        folder = Path(tempfile.mkdtemp(prefix="plaid-"))
        try:
            t = time.perf_counter()
            plaid = PLAID(
                index_folder=str(folder),
                index_name="bench",
                override=True,
                use_fast=False,
                embedding_size=dim,
                nbits=2,
            )
            plaid.add_documents(documents_ids=[str(i) for i in range(len(docs))], documents_embeddings=docs)
            build_s = time.perf_counter() - t
            size = dir_bytes(folder)
            searcher = plaid._index.searcher
            torch.set_num_threads(1)
            plaid(qs[:2], k=K)  # warm-up: loads the compiled extensions
            configs = [
                (1, 0.5, 256),
                (2, 0.45, 1024),
                (4, 0.4, 4096),
                (8, 0.35, 8192),
                (2, 0.5, 512),
                (1, 0.5, 128),
                (4, 0.45, 2048),
            ]
            if args.quick:
                configs = configs[:3]
            for ncells, tcs, ndocs in configs:
                searcher.configure(ncells=ncells, centroid_score_threshold=tcs, ndocs=ndocs)
                res, ms, cpu_ms = timed_search(len(qs), plaid, qs, k=K)
                ids = [[int(r["id"]) for r in row] + [-1] * (K - len(row)) for row in res]
                out(
                    {
                        "system": "pylate-plaid",
                        "precision": "2-bit residuals",
                        "search_params": {"ncells": ncells, "centroid_score_threshold": tcs, "ndocs": ndocs},
                        "ids": ids,
                        "ms_per_query": ms,
                        "cpu_ms_per_query": cpu_ms,
                        "build_s": build_s,
                        "size_bytes": size,
                        "build_params": {"nbits": 2, "kmeans_niters": 4},
                    }
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    elif args.peer == "muvera-python":
        from muvera import Muvera

        for reps, ksim, dproj in [(8, 4, 16), (20, 5, 16)][: 1 if args.quick else 2]:
            t = time.perf_counter()
            enc = Muvera(
                num_repetitions=reps,
                num_simhash_projections=ksim,
                dimension=dim,
                projection_type="ams_sketch",
                projection_dimension=dproj,
                fill_empty_partitions=True,
                seed=1,
            )
            fde = np.ascontiguousarray(enc.encode_documents(docs), dtype=np.float32)
            build_s = time.perf_counter() - t
            for n_cand in (128, 256, 512, 1024, 2048):
                ids, ms, cpu_ms = timed_search(len(qs), muvera_search, enc, fde, docs, offsets, qs, n_cand)
                out(
                    {
                        "system": "muvera-python",
                        "precision": "fp32",
                        "build_params": {
                            "r_reps": reps,
                            "k_sim": ksim,
                            "d_proj": dproj,
                            "fde_dim": fde.shape[1],
                        },
                        "search_params": {"n_candidates": n_cand},
                        "ids": ids,
                        "ms_per_query": ms,
                        "cpu_ms_per_query": cpu_ms,
                        "build_s": build_s,
                        "size_bytes": fde.nbytes + vectors.nbytes + offsets.nbytes,
                    }
                )
    else:
        out({"error": f"unknown peer {args.peer!r}"})


# ----------------------------------------------------------------------------- report
def describe(r: dict) -> str:
    params = {**r.get("build_params", {}), **r.get("search_params", {})}
    return ",".join(f"{k}={v}" for k, v in params.items())


def print_table(name: str, rows: list[dict]) -> None:
    print(f"\n## {name}")
    print(
        f"{'system':<22} {'prec':<8} {'recall@10':>9} {'ms/q':>8} {'x exact':>8} {'build s':>8} {'B/token':>8}  "
        "params"
    )
    for r in rows:
        print(
            f"{r['system']:<22} {r.get('precision', '')!s:<8} {r['recall_at_10']:>9.4f} "
            f"{r['ms_per_query']:>8.3f} {r['speedup_vs_exact']:>8.1f} {r.get('build_s', float('nan')):>8.1f} "
            f"{r.get('bytes_per_token', float('nan')):>8.1f}  {describe(r)}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", action="append", help="synthetic[:N] | debian384[:N] | debian128[:N]")
    ap.add_argument("--data-dir", default="~/.cache/aftershock-data/debian")
    ap.add_argument(
        "--n-queries", type=int, default=None, help="queries per dataset (default: all; synthetic 200)"
    )
    ap.add_argument("--synthetic-dim", type=int, default=128)
    ap.add_argument("--methods", default="centroid,muvera")
    ap.add_argument("--build-threads", type=int, default=0, help="threads for builds (0 = all cores)")
    ap.add_argument("--exact-timing-queries", type=int, default=20)
    ap.add_argument("--peers", default="", help="comma list: plaid, muvera-python")
    ap.add_argument("--peer-python", default=sys.executable)
    ap.add_argument("--peer-max-docs", type=int, default=100_000)
    ap.add_argument("--peer-timeout", type=float, default=4 * 3600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a few configurations only (smoke run)")
    ap.add_argument(
        "--all-builds", action="store_true", help="also build 2x centroids, pooled tokens, larger / fp32 FDEs"
    )
    ap.add_argument("--verbose", action="store_true", help="print build progress")
    ap.add_argument("--out", default=None, help="append JSON lines here too")
    ap.add_argument("--peer", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--peer-data", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer_main(args)
        return

    meta = metadata(search_threads=1, build_threads=args.build_threads)

    def emit(row: dict) -> None:
        line = json.dumps(row, default=float)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    summaries = []
    for spec in args.dataset or ["synthetic:20000"]:
        t = time.perf_counter()
        ds = make_dataset(spec, args)
        print(
            f"[{ds.name}] {ds.n_docs} docs, {len(ds.vectors)} tokens, dim {ds.dim}, {ds.n_queries} queries "
            f"(loaded in {time.perf_counter() - t:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
        gt, exact_ms = exact_reference(ds, args, meta, emit)
        rows = run_ours(ds, gt, exact_ms, args, meta, emit)
        rows += run_peers(ds, gt, exact_ms, args, meta, emit)
        summaries.append((ds.name, exact_ms, rows))
        del ds
        gc.collect()

    for name, exact_ms, rows in summaries:
        print_table(f"{name} (exact brute force: {exact_ms:.1f} ms/query, one thread)", rows)
        print(f"\nPareto front (recall@10 vs ms/query), {name}:")
        for r in pareto(rows):
            print(
                f"  {r['system']:<22} recall {r['recall_at_10']:.4f}  {r['ms_per_query']:8.3f} ms/q  "
                f"{r['speedup_vs_exact']:7.1f}x exact  {describe(r)}"
            )
        for system in sorted({r["system"] for r in rows}):
            good = [r for r in rows if r["system"] == system and r["recall_at_10"] >= 0.95]
            if good:
                best = min(good, key=lambda r: r["ms_per_query"])
                print(
                    f"  fastest {system} at recall >= 0.95: {best['ms_per_query']:.3f} ms/q "
                    f"({best['speedup_vs_exact']:.1f}x exact, recall {best['recall_at_10']:.4f}) {describe(best)}"
                )


if __name__ == "__main__":
    main()
