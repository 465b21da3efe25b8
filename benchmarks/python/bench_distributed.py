"""Sharded sparse search on a local Ray against one in-process index of the same data.

Measures, on the real Debian SPLADE set (70,604 documents, 1,000 queries):

* build: one in-process ``SparseIndex.build`` (all cores) against ``ShardedIndex.build`` with
  1, 2 and 4 shards (one Ray task per shard, one thread each);
* search: latency p50 / p99 of one query per call (sequential) and throughput of (a) one
  batch of all queries and (b) single-query calls from ``--clients`` threads, for the
  in-process index and the sharded ones (one actor per shard, one search thread each);
* the work sharding adds (``search_stats``: documents scored and blocks visited summed over
  shards, against one index), the most a shared running k-th score could save;
* ``--sizing``: one in-process index at several sizes (build throughput, bytes per document,
  the fastest ``query_cut`` x ``heap_factor`` reaching recall@10 >= 0.95 and its latency),
  the numbers docs/scale-out.md extrapolates from.

Every result line is JSON with ``common.run_metadata`` (``simd_info``, CPU, threads, git SHA).

    PYTHONPATH=python python benchmarks/python/bench_distributed.py --data-root ../shared/data/debian \\
        --shards 1,2,4 --sizing --out bench_distributed.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import aftershock  # noqa: E402
from aftershock.datasets import load_debian_sparse, recall_at_k  # noqa: E402

K = 10


def percentiles_ms(seconds: list[float]) -> dict:
    a = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean())}


def time_single(search, queries, n: int) -> tuple[dict, np.ndarray]:
    """Sequential one-query calls: latency percentiles, and the ids (for recall)."""
    times, ids = [], []
    for i in range(n):
        q = queries[i]
        t = time.perf_counter()
        res = search(q)
        times.append(time.perf_counter() - t)
        ids.append(res.ids[0])
    return percentiles_ms(times), np.asarray(ids)


def time_concurrent(search, queries, n: int, clients: int) -> float:
    """Queries per second of one-query calls from ``clients`` threads."""
    rows = [queries[i] for i in range(n)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(search, rows))
    return n / (time.perf_counter() - start)


def time_batch(search, queries) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    res = search(queries)
    return queries.shape[0] / (time.perf_counter() - start), res.ids


def emit(out, meta: dict, record: dict) -> None:
    line = json.dumps({**record, "meta": meta})
    if out is not None:
        out.write(line + "\n")
        out.flush()


def run_sharding(args, docs, queries, gt, meta, out) -> list[dict]:
    import ray

    from aftershock.distributed import ShardedIndex

    rows = []
    params = dict(query_cut=args.query_cut, heap_factor=args.heap_factor)
    n_lat = min(args.n_latency, queries.shape[0])

    # One in-process index, all cores for the build, one thread per single query.
    t = time.perf_counter()
    single = aftershock.SparseIndex.build(docs, num_threads=0)
    build_s = time.perf_counter() - t
    lat, ids = time_single(lambda q: single.search(q, K, num_threads=1, **params), queries, n_lat)
    qps_batch, batch_ids = time_batch(lambda q: single.search(q, K, num_threads=0, **params), queries)
    qps_conc = time_concurrent(lambda q: single.search(q, K, num_threads=1, **params), queries, n_lat, args.clients)
    stats = single.search_stats(queries, K, num_threads=0, **params)
    base_work = {"docs_scored": float(stats["docs_scored"].mean()), "blocks_visited": float(stats["blocks_visited"].mean())}
    row = {
        "config": "in-process", "n_shards": 0, "build_s": build_s, "size_bytes": single.size_bytes,
        "recall": recall_at_k(batch_ids, gt, K), **lat, "qps_batch": qps_batch, "qps_concurrent": qps_conc,
        **base_work, "work_vs_single": 1.0,
    }
    rows.append(row)
    emit(out, meta, {"bench": "distributed", **params, **row})
    print(f"in-process: build {build_s:.1f} s, p50 {lat['p50_ms']:.2f} ms", flush=True)
    single_n_postings = single.info()["build"]["n_postings"]
    del single

    for n_shards in args.shards:
        path = Path(args.work_dir) / f"debian-{n_shards}shards"
        t = time.perf_counter()
        build = {}
        if args.equal_postings:  # the single index's postings, divided among the shards
            build["n_postings"] = max(1, single_n_postings // n_shards)
        ix = ShardedIndex.build(
            docs, n_shards, kind="sparse", path=path, overwrite=True, num_cpus_per_task=1, **build
        )
        build_s = time.perf_counter() - t
        ix.search(queries[:20], K, **params)  # warm every actor
        lat, ids = time_single(lambda q: ix.search(q, K, **params), queries, n_lat)
        qps_batch, batch_ids = time_batch(lambda q: ix.search(q, K, **params), queries)
        qps_conc = time_concurrent(lambda q: ix.search(q, K, **params), queries, n_lat, args.clients)
        per_shard = ix.search_stats(queries, K, **params)
        work = {
            key: float(np.sum([s[key] for s in per_shard], axis=0).mean()) for key in ("docs_scored", "blocks_visited")
        }
        row = {
            "config": f"{n_shards} shard(s)" + (", equal postings" if args.equal_postings else ""), "n_shards": n_shards, "build_s": build_s,
            "size_bytes": ix.info()["size_bytes"], "recall": recall_at_k(batch_ids, gt, K), **lat,
            "qps_batch": qps_batch, "qps_concurrent": qps_conc, **work,
            "work_vs_single": work["docs_scored"] / base_work["docs_scored"],
            "n_postings_per_shard": ix.info()["build"]["n_postings"],
        }
        rows.append(row)
        emit(out, meta, {"bench": "distributed", **params, **row})
        print(f"{n_shards} shards: build {build_s:.1f} s, p50 {lat['p50_ms']:.2f} ms", flush=True)
        ix.close()
    ray.shutdown()
    return rows


def run_sizing(args, docs, queries, gt, meta, out) -> list[dict]:
    rows = []
    n_total = docs.shape[0]
    for frac in args.sizes:
        n = int(round(n_total * frac))
        sub = docs[:n]
        truth = gt[:, :K] if n == n_total else aftershock.exact_search(sub, queries, K).ids
        t = time.perf_counter()
        ix = aftershock.SparseIndex.build(sub, num_threads=1)
        build_s = time.perf_counter() - t
        best = None
        for qc in args.grid_query_cuts:
            for hf in args.grid_heap_factors:
                t = time.perf_counter()
                res = ix.search(queries, K, query_cut=qc, heap_factor=hf, num_threads=1)
                ms = (time.perf_counter() - t) / queries.shape[0] * 1e3
                rec = recall_at_k(res.ids, truth, K)
                if rec >= 0.95 and (best is None or ms < best["batch_ms_per_query"]):
                    best = {"query_cut": qc, "heap_factor": hf, "recall": rec, "batch_ms_per_query": ms}
        lat = {}
        if best is not None:
            lat, _ = time_single(
                lambda q: ix.search(q, K, query_cut=best["query_cut"], heap_factor=best["heap_factor"], num_threads=1),
                queries, min(args.n_latency, queries.shape[0]),
            )
        row = {
            "n_docs": n, "build_s_1thread": build_s, "build_docs_per_s": n / build_s,
            "size_bytes": ix.size_bytes, "bytes_per_doc": ix.size_bytes / n,
            "n_postings": ix.info()["build"]["n_postings"], "at_recall_0.95": best, **lat,
        }
        rows.append(row)
        emit(out, meta, {"bench": "distributed-sizing", **row})
        print(f"sizing {n}: {json.dumps(row)}", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=None, help="the debian folder (holding sparse/); default: found")
    p.add_argument("--shards", default="1,2,4")
    p.add_argument("--query-cut", type=int, default=10)
    p.add_argument("--heap-factor", type=float, default=0.8)
    p.add_argument("--n-latency", type=int, default=1000, help="queries timed one by one")
    p.add_argument("--clients", type=int, default=8, help="threads sending single queries")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    p.add_argument("--sizing", action="store_true", help="also run the single-index sizing sweep")
    p.add_argument("--sizes", default="0.25,0.5,1.0", help="fractions of the collection for --sizing")
    p.add_argument("--grid-query-cuts", default="3,5,8,10,12,16")
    p.add_argument("--grid-heap-factors", default="0.7,0.8,0.9,1.0")
    p.add_argument("--skip-sharding", action="store_true")
    p.add_argument(
        "--equal-postings", action="store_true",
        help="build shards with n_postings = the single index's / n_shards (default: each shard's own default)",
    )
    p.add_argument("--work-dir", default=None)
    p.add_argument("--out", default=None, help="JSON lines output file (appended)")
    args = p.parse_args()
    args.shards = [int(s) for s in args.shards.split(",") if s]
    args.sizes = [float(s) for s in args.sizes.split(",") if s]
    args.grid_query_cuts = [int(s) for s in args.grid_query_cuts.split(",")]
    args.grid_heap_factors = [float(s) for s in args.grid_heap_factors.split(",")]
    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="bench-distributed-")

    docs, queries, gt = load_debian_sparse(args.data_root)
    gt = np.asarray(gt)[:, :K]
    meta = common.run_metadata(num_threads=os.cpu_count() or 1)
    out = open(args.out, "a", encoding="utf-8") if args.out else None
    if not args.skip_sharding:
        import ray

        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        rows = run_sharding(args, docs, queries, gt, meta, out)
        print(f"\nDebian {docs.shape[0]} docs, {queries.shape[0]} queries, k={K}, query_cut {args.query_cut}, "
              f"heap_factor {args.heap_factor}, loadavg {os.getloadavg()[0]:.1f}, git {meta['git_sha'][:10]}")
        print("| config | build s | index MB | recall@10 | p50 ms | p99 ms | batch q/s | "
              f"{args.clients}-client q/s | docs scored / q | vs single |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            print(f"| {r['config']} | {r['build_s']:.1f} | {r['size_bytes'] / 2**20:.0f} | {r['recall']:.3f} | "
                  f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['qps_batch']:.0f} | {r['qps_concurrent']:.0f} | "
                  f"{r['docs_scored']:.0f} | {r['work_vs_single']:.2f}x |")
    if args.sizing:
        run_sizing(args, docs, queries, gt, meta, out)
    if out is not None:
        out.close()


if __name__ == "__main__":
    main()
