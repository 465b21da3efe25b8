#!/usr/bin/env python3
"""Compressed token storage: fp16 / int8 / res1 / res2 / res4 on real ColBERT-like vectors.

Usage::

    python benchmarks/python/bench_compressed.py [--root ~/.cache/aftershock-data/debian]
        [--docs 20000] [--queries 300] [--threads 2]

Data: ``doc_vectors_128.npy`` / ``doc_offsets.npy`` / ``query_vectors_128.npy`` /
``query_offsets.npy`` of the debian folder (../shared/data/README.md: MiniLM token vectors
projected to 128-d and L2-normalised; 20,000 passages, ~96 tokens each; queries ~12
tokens). Never downloaded.

Per precision it reports bytes per stored token (``info()["stats"]["bytes_per_token"]``:
everything the store holds, divided by its tokens), recall@10 of the store's exact MaxSim
search against exact fp32 and against exact fp16, and the latency of (a) exact brute-force
search (``MultiVectorStore.search``) and (b) ``MultiVectorIndex(method="centroid")`` search at
default parameters, both as ratios against fp16 measured in the same run. One more line
simulates res2 with one bucket table shared by all dimensions (same bytes) to compare it
with the per-dimension tables the codec uses. Output: JSON lines, the first with
simd_info, CPU model, threads and git SHA.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import aftershock
import numpy as np
from aftershock import MultiVectorIndex, MultiVectorStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_metadata, time_best  # noqa: E402

PRECISIONS = ["fp16", "int8", "res1", "res2", "res4"]


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def load(root: Path, n_docs: int, n_queries: int):
    off = np.load(root / "doc_offsets.npy")[: n_docs + 1].astype(np.int64)
    vec = np.load(root / "doc_vectors_128.npy", mmap_mode="r")
    vec = np.ascontiguousarray(vec[: off[-1]], dtype=np.float32)
    qoff = np.load(root / "query_offsets.npy")[: n_queries + 1].astype(np.int64)
    q = np.load(root / "query_vectors_128.npy", mmap_mode="r")
    q = np.ascontiguousarray(q[qoff[0] : qoff[-1]], dtype=np.float32)
    return vec, off, q, qoff - qoff[0]


def recall(found, truth) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(found, truth)]))


def timed(fn, reps: int = 1):
    """(result, fastest seconds) of ``reps`` calls: common.time_best in this script's order."""
    best, out = time_best(fn, reps)
    return out, best


def shared_table_res2(store: MultiVectorStore, vec: np.ndarray, off: np.ndarray, threads: int):
    """res2 with one bucket table for all dimensions (quantiles of all residual values),
    same codes and centroids as `store`: the decompressed vectors, for a recall comparison."""
    parts = store._core._residual_parts()
    c = parts["centroids"][parts["codes"]]
    r = vec - c
    rng = np.random.default_rng(0)
    sample = r[rng.choice(len(r), size=min(len(r), 65536), replace=False)].ravel()
    sample.sort()
    n = len(sample)
    cut = np.array([sample[j * n // 4] for j in (1, 2, 3)], dtype=np.float32)
    buckets = np.searchsorted(cut, sample, side="right")
    weights = np.array([sample[buckets == j].mean() for j in range(4)], dtype=np.float32)
    dec = (c + weights[np.searchsorted(cut, r, side="right")]).astype(np.float32)
    return MultiVectorStore.build(dec, off, precision="fp32", num_threads=threads)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.expanduser("~/.cache/aftershock-data/debian"))
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-index", action="store_true")
    args = ap.parse_args(argv)
    root = Path(args.root)
    if not (root / "doc_vectors_128.npy").exists():
        emit({"skipped": f"no doc_vectors_128.npy under {root}"})
        return 0
    emit({"context": True, **run_metadata(args.threads)})
    vec, off, q, qoff = load(root, args.docs, args.queries)
    emit({"data": "debian", "n_docs": len(off) - 1, "tokens": len(vec), "dim": vec.shape[1],
          "n_queries": len(qoff) - 1, "query_tokens": len(q)})
    t = args.threads
    fp32 = MultiVectorStore.build(vec, off, precision="fp32", num_threads=t)
    truth32 = fp32.search(q, 10, query_offsets=qoff, num_threads=t).ids
    del fp32
    rows = {}
    truth16 = None
    for p in PRECISIONS:
        store, build_s = timed(lambda p=p: MultiVectorStore.build(vec, off, precision=p, num_threads=t))
        res, exact_s = timed(lambda s=store: s.search(q, 10, query_offsets=qoff, num_threads=t), reps=2)
        if p == "fp16":
            truth16 = res.ids
        row = {"precision": p, "kernel": store.kernel,
               "bytes_per_token": round(store.info()["stats"]["bytes_per_token"], 2),
               "recall_at_10_vs_fp32": round(recall(res.ids, truth32), 4),
               "recall_at_10_vs_fp16": round(recall(res.ids, truth16), 4),
               "exact_ms_per_query": round(1000 * exact_s / (len(qoff) - 1), 3),
               "store_build_s": round(build_s, 1)}
        if p == "res2":
            sim = shared_table_res2(store, vec, off, t)
            sres = sim.search(q, 10, query_offsets=qoff, num_threads=t)
            emit({"precision": "res2-shared-table (simulated)",
                  "recall_at_10_vs_fp32": round(recall(sres.ids, truth32), 4),
                  "recall_at_10_vs_fp16": round(recall(sres.ids, truth16), 4)})
            del sim
        del store
        if not args.skip_index:
            index, ib = timed(lambda p=p: MultiVectorIndex.build(vec, off, method="centroid", precision=p,
                                                                 num_threads=t))
            ires, index_s = timed(lambda ix=index: ix.search(q, 10, query_offsets=qoff, num_threads=t), reps=2)
            st = index.info()["stats"]
            row.update({"index_ms_per_query": round(1000 * index_s / (len(qoff) - 1), 3),
                        "index_recall_at_10_vs_fp32": round(recall(ires.ids, truth32), 4),
                        "index_bytes_per_token": round(st["bytes_per_token"], 2),
                        "index_store_bytes_per_token": round(st["store_bytes_per_token"], 2),
                        "index_build_s": round(ib, 1)})
            del index
        rows[p] = row
        base = rows["fp16"]
        row["exact_latency_vs_fp16"] = round(row["exact_ms_per_query"] / base["exact_ms_per_query"], 3)
        if "index_ms_per_query" in row:
            row["index_latency_vs_fp16"] = round(row["index_ms_per_query"] / base["index_ms_per_query"], 3)
        emit(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
