"""Command line: ``python -m aftershock demo`` and ``python -m aftershock info``."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _demo_sparse(n_docs: int, n_queries: int, num_threads: int) -> None:
    from . import SparseIndex, exact_search
    from .datasets import recall_at_k, synthetic_sparse

    t = time.perf_counter()
    docs, queries = synthetic_sparse(n_docs, n_queries, seed=0)
    print(f"[sparse] generated {docs.shape[0]:,} SPLADE-like documents and {queries.shape[0]} queries "
          f"(vocabulary {docs.shape[1]:,}, {docs.nnz / docs.shape[0]:.0f} nonzeros/doc) in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    index = SparseIndex.build(docs, num_threads=num_threads)
    print(f"[sparse] built {index} in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    truth = exact_search(docs, queries, 10, num_threads=1)
    exact_ms = (time.perf_counter() - t) * 1000 / n_queries
    index.search(queries[:10], 10, num_threads=1)  # warm up caches
    t = time.perf_counter()
    found = index.search(queries, 10, num_threads=1)
    ms = (time.perf_counter() - t) * 1000 / n_queries
    print(f"[sparse] default search: recall@10 {recall_at_k(found.ids, truth.ids, 10):.3f} vs exact, "
          f"{ms:.3f} ms/query on one thread (exact brute force: {exact_ms:.3f} ms/query, {exact_ms / ms:.1f}x slower)")
    print(f"[sparse] first query's top 3: ids {found.ids[0, :3].tolist()} "
          f"scores {np.round(found.scores[0, :3], 3).tolist()}")


def _demo_maxsim(n_docs: int, num_threads: int) -> None:
    try:
        from . import MultiVectorStore
    except ImportError:
        return
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 181, size=n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = [rng.standard_normal((32, 128)).astype(np.float32) for _ in range(8)]
    store = MultiVectorStore.build(vectors, offsets)
    store.search(queries[:1], 10, num_threads=1)
    t = time.perf_counter()
    result = store.search(queries, 10, num_threads=1)
    dt = time.perf_counter() - t
    print(f"[maxsim] exact MaxSim over {n_docs:,} documents ({int(offsets[-1]):,} tokens, dim 128): "
          f"{n_docs * len(queries) / dt:,.0f} documents/s on one thread; first query's best id {int(result.ids[0, 0])}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="aftershock", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build and query indexes on generated data, report recall and speed")
    demo.add_argument("--n-docs", type=int, default=30_000)
    demo.add_argument("--n-queries", type=int, default=200)
    demo.add_argument("--num-threads", type=int, default=0)
    sub.add_parser("info", help="print SIMD levels of this build and CPU")
    args = parser.parse_args(argv)

    from . import simd_info

    if args.command == "info":
        print(json.dumps(simd_info(), indent=2))
        return 0
    info = simd_info()
    print(f"aftershock: SIMD level {info['active']} (supported: {', '.join(info['supported'])})")
    _demo_sparse(args.n_docs, args.n_queries, args.num_threads)
    _demo_maxsim(min(args.n_docs, 20_000), args.num_threads)
    return 0
