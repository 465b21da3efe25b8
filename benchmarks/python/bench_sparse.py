"""Learned-sparse retrieval benchmark: ``aftershock.SparseIndex`` against pyseismic-lsr on the same data.

What it measures
----------------
* **Build**: each index is built in a fresh child process (``python bench_sparse.py _build ...``)
  that loads the documents, resets its peak-RSS counter and times the build call alone, so
  build seconds and peak memory belong to one build. Peak RSS includes the input: the CSR
  matrix for aftershock, Seismic's own ``SeismicDataset`` copy for Seismic (the CSR is freed
  before Seismic builds, so each side holds one copy of the data in the form its API takes).
  The child saves the index; the parent loads it to query.
* **Search**: every ``query_cut`` × ``heap_factor`` × ``n_knn`` combination, single-threaded,
  recall@k against exact search (``gt.npy`` for Debian; ``aftershock.exact_search`` or a scipy
  fallback for synthetic data, cached in ``--work-dir``). ``single`` timing calls the index
  once per query (mean and percentiles of ms/query, including each library's Python call
  overhead); ``batch`` times one call over all queries with ``num_threads=1`` (mean only).
  With ``--repeats R`` each query's time is the minimum of R runs (robust to a shared machine).
  Systems alternate inside each query configuration, so a load spike hits both.
* **Builds**: each system sweeps its own ``n_postings`` (``--seismic-n-postings``,
  ``--aftershock-n-postings``; ``default`` is aftershock's corpus-derived default), so each is
  compared at its best build, not at equal parameters.
* **Matched recall**: for each ``--recall-targets`` value, the fastest configuration of each
  system reaching it over every build, and our latency ÷ Seismic's, with the build-time and
  index-bytes ratios of the two builds behind those points; then the same with aftershock
  restricted to its default build (what users run) against Seismic's best.

Seismic is driven through its Python API: ``SeismicDataset.add_documents_by_id`` (CSR in,
component ids used as they are), ``SeismicIndex.build_from_dataset`` with the same build
parameters, then ``SeismicIndexRaw.load`` of the saved index so queries go in as integer
arrays (``SeismicIndexRaw.search`` / ``batch_search``). Seismic's Python builder always uses
its global-threshold pruning and its approximate inverted-index k-means (``doc_cut=15``).

Data
----
``--dataset debian``: the real SPLADE set of ``shared/data`` (70,604 documents, 1,000
queries). ``--dataset synthetic``: :func:`aftershock.datasets.synthetic_sparse` (Zipf term
popularity mixed with topics, log-normal weights, queries derived from documents; its
docstring states the model), generated from ``--seed`` and cached in ``--work-dir``.
Nothing is downloaded.

Output: a readable table on stdout, JSON lines in ``--out`` (each with ``simd_info()``, the CPU
model, thread count and git SHA).

Example::

    python benchmarks/python/bench_sparse.py --dataset debian --build-threads 1 \\
        --seismic-n-postings 250,500,1000,1500,3000 --aftershock-n-postings default,500,1000 \\
        --query-cuts 3,5,8,10,12,16 --heap-factors 0.6,0.7,0.8,0.9 --repeats 3 --out results.jsonl
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from sparse_data import prepare_data  # noqa: E402
from sparse_engines import AftershockRunner, SeismicRunner, build_all, child_build  # noqa: E402
from sparse_report import print_report  # noqa: E402
from sparse_sweep import matched_recall, sweep  # noqa: E402

# The build parameters both engines share (n_postings is swept per engine).
BUILD_KEYS = ("centroid_fraction", "min_cluster_size", "summary_energy", "max_fraction")


def build_and_sweep(args, data, meta, system, params, label, build_records, doc_rows, seismic_sorted) -> list[dict]:
    """Build one system's index in a child, then time its query sweep."""
    built = build_all(args, data, {**params, "seed": args.seed}, [system], label)
    runners = {}
    for name, (res, index) in built.items():
        build_records.append({"kind": "build", "system": name, "build": label, **res, **data["info"], "meta": meta})
        if index is None:
            continue
        if name == "aftershock":
            runners["aftershock"] = AftershockRunner(index, data["queries"], args.k)
        else:
            for flag in seismic_sorted:
                key = "seismic" if len(seismic_sorted) == 1 else f"seismic-sorted{int(flag)}"
                runners[key] = SeismicRunner(index, data["queries"], args.k, data["queries_bin"], doc_rows, flag)
    return sweep(args, data, runners, label, params, meta)


def attach_build_ratios(m: dict, build_records: list[dict]) -> None:
    """Build seconds and index bytes of the builds behind a matched-recall row, ours / Seismic's."""
    by_key = {(r["system"], r["build"]): r for r in build_records if "error" not in r}
    best = m["best"]
    ours = best.get("aftershock")
    theirs = [v for s, v in best.items() if s.startswith("seismic") and v]
    if not ours or not theirs:
        return
    a = by_key.get(("aftershock", ours["build"]))
    s = by_key.get(("seismic", min(theirs, key=lambda v: v["latency_ms"])["build"]))
    if a and s:
        m["build_seconds_ratio"] = a["build_seconds"] / s["build_seconds"]
        if a.get("index_bytes") and s.get("index_bytes"):
            m["index_bytes_ratio"] = a["index_bytes"] / s["index_bytes"]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    common.prefer_oom_kill()
    if argv and argv[0] == "_build":
        child_build(json.loads(argv[1]))
        return 0

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["debian", "synthetic"], default="debian")
    p.add_argument("--data-root", default=None, help="Debian data folder (default: see load_debian_sparse)")
    p.add_argument("--n-docs", type=int, default=None, help="synthetic: default 100000; debian: a prefix")
    p.add_argument("--n-queries", type=int, default=None, help="synthetic: default 1000; debian: a prefix")
    p.add_argument("--vocab-size", type=int, default=30522)
    p.add_argument("--doc-nnz", type=int, default=120)
    p.add_argument("--query-nnz", type=int, default=40)
    p.add_argument("--n-topics", type=int, default=None)
    p.add_argument("--seed", type=int, default=0, help="data seed (synthetic) and build seed (aftershock)")
    g = p.add_argument_group("build (comma lists sweep every combination; defaults are pyseismic-lsr's)")
    g.add_argument("--n-postings", default="3500", help="both systems, unless overridden below")
    g.add_argument(
        "--seismic-n-postings",
        default=None,
        help="Seismic's own n_postings list, e.g. 250,500,1000,1500,3000 (its best build per recall is compared)",
    )
    g.add_argument(
        "--aftershock-n-postings",
        default=None,
        help="aftershock's own n_postings list; 'default' builds with aftershock's corpus-derived default",
    )
    g.add_argument("--centroid-fraction", default="0.1")
    g.add_argument("--min-cluster-size", default="2")
    g.add_argument("--summary-energy", default="0.4")
    g.add_argument("--max-fraction", default="1.5")
    g.add_argument(
        "--knn",
        type=int,
        default=None,
        help="kNN-graph neighbours built per document (default: aftershock's own default, 10; none for Seismic)",
    )
    g.add_argument(
        "--pruning",
        choices=["global", "fixed"],
        default="global",
        help="aftershock's posting-list pruning (Seismic's Python builder always uses global)",
    )
    g.add_argument("--build-threads", type=int, default=0, help="threads for both builds (0 = all cores)")
    g.add_argument("--build-timeout", type=float, default=3600)
    g.add_argument(
        "--reuse-builds",
        default="",
        help="comma list of systems (aftershock,seismic) whose saved index from an earlier run with the "
        "same data and parameters is loaded instead of rebuilt; its recorded build numbers are reported",
    )
    q = p.add_argument_group("search")
    q.add_argument("--k", type=int, default=10)
    q.add_argument("--query-cuts", default="3,5,10")
    q.add_argument("--heap-factors", default="0.7,0.8,0.9")
    q.add_argument("--n-knn", default="0")
    q.add_argument("--seismic-sorted", default="1", help="Seismic's `sorted` flag values to sweep, e.g. 1,0")
    q.add_argument("--timing", choices=["single", "batch", "both"], default="both")
    q.add_argument("--repeats", type=int, default=1)
    q.add_argument("--recall-targets", default="0.90,0.95,0.97")
    q.add_argument("--latency-metric", choices=["mean_ms", "p50_ms", "batch_mean_ms"], default="mean_ms")
    s = p.add_argument_group("systems and output")
    s.add_argument("--seismic", dest="seismic", action="store_true", default=True)
    s.add_argument("--no-seismic", dest="seismic", action="store_false")
    s.add_argument("--no-aftershock", dest="aftershock", action="store_false", default=True)
    s.add_argument("--out", default=None, help="append JSON lines here")
    s.add_argument("--work-dir", default=os.environ.get("AFTERSHOCK_BENCH_DIR", "/tmp/aftershock-bench"))
    s.add_argument("--verbose", action="store_true", help="echo the build children's stdout")
    args = p.parse_args(argv)
    args.query_cuts = common.parse_list(args.query_cuts, int)
    args.heap_factors = common.parse_list(args.heap_factors, float)
    args.n_knn = common.parse_list(args.n_knn, int)
    args.recall_targets = common.parse_list(args.recall_targets, float)
    args.reuse_builds = set(common.parse_list(args.reuse_builds, str))
    seismic_sorted = [bool(int(x)) for x in common.parse_list(args.seismic_sorted, str)]

    datasets = common.import_datasets()
    aftershock = common.import_aftershock()
    systems = []
    if args.aftershock:
        if aftershock is not None and getattr(aftershock, "SparseIndex", None) is not None:
            systems.append("aftershock")
        else:
            print(
                "[warn] aftershock.SparseIndex is not available: benchmarking Seismic only", file=sys.stderr
            )
    if args.seismic:
        if common.import_seismic() is not None:
            systems.append("seismic")
        else:
            print(
                "[warn] pyseismic-lsr (module `seismic`) is not installed: skipping Seismic", file=sys.stderr
            )
    if not systems:
        print("nothing to benchmark", file=sys.stderr)
        return 1

    data = prepare_data(args, datasets)
    meta = common.run_metadata(num_threads=1)
    meta["build_threads"] = args.build_threads or common.available_cpus()
    print(f"[data] {json.dumps(data['info'])}", file=sys.stderr)
    lengths = np.diff(data["docs"].indptr)
    doc_rows = np.flatnonzero(lengths > 0).astype(np.int64)

    # Each system sweeps its own n_postings (Seismic's best build against aftershock's), the
    # other build parameters are shared; "default" leaves aftershock's n_postings to the
    # index (derived from the corpus).
    per_system_np = {
        "aftershock": args.aftershock_n_postings or args.n_postings,
        "seismic": args.seismic_n_postings or args.n_postings,
    }
    grid = list(
        itertools.product(
            common.parse_list(args.centroid_fraction, float),
            common.parse_list(args.min_cluster_size, int),
            common.parse_list(args.summary_energy, float),
            common.parse_list(args.max_fraction, float),
        )
    )
    build_records, search_records = [], []
    for system in systems:
        for n_postings in common.parse_list(per_system_np[system], str):
            for values in grid:
                params = dict(zip(BUILD_KEYS, values))
                # None: aftershock's default graph (SparseIndex.build(knn=None)); Seismic
                # builds none unless --knn asks for one.
                params["knn"] = args.knn if args.knn is not None else (None if system == "aftershock" else 0)
                if n_postings != "default":
                    params["n_postings"] = int(n_postings)
                elif system != "aftershock":
                    raise SystemExit("--n-postings: 'default' is only for aftershock (--aftershock-n-postings)")
                knn = "D" if params["knn"] is None else params["knn"]
                label = "np{}-cf{}-mcs{}-se{}-mf{}-knn{}".format(n_postings, *values, knn)
                search_records += build_and_sweep(args, data, meta, system, params, label, build_records, doc_rows,
                                                  seismic_sorted)
                gc.collect()

    matched = matched_recall(args, search_records)
    defaults = [r for r in search_records if r["system"] != "aftershock" or r["build"].startswith("npdefault")]
    if len(defaults) < len(search_records) and any(r["system"] == "aftershock" for r in defaults):
        for m in matched_recall(args, defaults):
            m["aftershock_builds"] = "default"
            matched.append(m)
    for m in matched:
        m.update(data["info"])
        m["meta"] = meta
        attach_build_ratios(m, build_records)
    print_report(args, build_records, search_records, matched)
    if args.out:
        common.write_jsonl(args.out, build_records + search_records + matched)
        print(f"\nwrote {len(build_records) + len(search_records) + len(matched)} JSON lines to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
