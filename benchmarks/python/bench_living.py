"""The living index (issue 13): churn and filtered search, against a fresh build in the same run.

Churn (``churn``)
-----------------
Build on a random 90% of the documents (ids = their row numbers), add the other 10% in
batches of ``--batch`` (1,000), delete a random 10% of all documents, update 1% (the same
content re-indexed under the same ids). Then a fresh ``build`` of the same final set (same
ids) is the baseline: recall@10 against exact search over the final set, and latency at the
same (default) search parameters, churned vs fresh, then again after ``compact()``.
Throughput: documents/s of the adds against the fresh build's; the delete cost per id.

Filters (``filters``)
---------------------
Allow-lists of 50%, 10%, 1%, 0.1% and 0.01% of the documents drawn at random, and a
correlated one (``--dataset debian``: only the man-page passages, 11.9%): recall@10 against
exact filtered search (exact search over the allowed documents) and latency against the
unfiltered search. ``--crossover`` also times the two paths the planner chooses between
(approximate search with the allow-bitset, exact scoring of the allowed documents) at each
selectivity, which is how the planner's rule was set.

Engines: ``--engine sparse`` (``--dataset debian``: shared/data's SPLADE set; ``synthetic``:
:func:`aftershock.datasets.synthetic_sparse` with ``--n-docs``), ``--engine multivector``
(the real token vectors built by shared/data's script, ``--tokens DIR`` holding
``doc_vectors_128.npy`` / ``doc_offsets.npy`` / ``query_vectors_128.npy`` /
``query_offsets.npy`` / ``docs.jsonl``), ``--engine store`` is not benchmarked (exact).

Latency: one call over all queries with ``num_threads=1`` (``batch``, ms/query) and one call
per query for ``--single`` of them (``single``), minimum of ``--repeats`` runs, systems
alternating. Prints a table; ``--out`` appends JSON lines.

Examples::

    python benchmarks/python/bench_living.py churn --engine sparse --dataset debian
    python benchmarks/python/bench_living.py filters --engine sparse --dataset debian --crossover
    python benchmarks/python/bench_living.py churn --engine multivector --tokens ~/.cache/aftershock-data/debian
    python benchmarks/python/bench_living.py churn --engine sparse --dataset synthetic --n-docs 1000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aftershock as af
import common
from aftershock import datasets

K = 10


# ----------------------------------------------------------------------------- data
def load_sparse(args):
    if args.dataset == "debian":
        docs, queries, _ = datasets.load_debian_sparse(args.data_root)
        sources = None
        path = Path(args.data_root or "../shared/data") / "debian" / "docs.jsonl.gz"
        if path.exists():
            with gzip.open(path, "rt") as f:
                sources = np.array([json.loads(line)["id"].startswith("man:") for line in f])
    else:
        docs, queries = datasets.synthetic_sparse(args.n_docs, n_queries=args.n_queries, seed=args.seed)[:2]
        sources = None
    return docs.tocsr(), queries[: args.n_queries].tocsr(), sources


def load_tokens(args):
    root = Path(args.tokens).expanduser()
    vectors = np.load(root / "doc_vectors_128.npy", mmap_mode="r")
    offsets = np.load(root / "doc_offsets.npy")
    qv = np.load(root / "query_vectors_128.npy").astype(np.float32)
    qo = np.load(root / "query_offsets.npy")
    n_q = min(args.n_queries, len(qo) - 1)
    queries = [qv[qo[i] : qo[i + 1]] for i in range(n_q)]
    sources = None
    if (root / "docs.jsonl").exists():
        with open(root / "docs.jsonl") as f:
            sources = np.array([json.loads(line)["id"].startswith("man:") for line in f])
    return (np.asarray(vectors, dtype=np.float32), offsets), queries, sources


class Engine:
    """What the benchmark needs from each engine, over one data set."""

    def __init__(self, args):
        self.args = args
        if args.engine == "sparse":
            self.docs, self.queries, self.sources = load_sparse(args)
            self.n = self.docs.shape[0]
        else:
            self.docs, self.queries, self.sources = load_tokens(args)
            self.n = len(self.docs[1]) - 1

    def take(self, rows):
        if self.args.engine == "sparse":
            return self.docs[rows]
        vectors, offsets = self.docs
        return [vectors[offsets[r] : offsets[r + 1]] for r in rows]

    def build(self, rows):
        if self.args.engine == "sparse":
            return af.SparseIndex.build(self.take(rows), ids=rows, num_threads=self.args.build_threads)
        return af.MultiVectorIndex.build(self.take(rows), ids=rows, num_threads=self.args.build_threads)

    def add(self, ix, rows):
        return ix.add(self.take(rows), ids=rows)

    def update(self, ix, rows):
        if self.args.engine == "sparse":
            return ix.update(self.take(rows), rows)
        return ix.update(self.take(rows), ids=rows)

    def exact(self, rows, k=K):
        """Exact top-k ids (as row numbers) over documents ``rows``."""
        if self.args.engine == "sparse":
            res = af.exact_search(self.docs[rows], self.queries, k)
        else:
            store = af.MultiVectorStore.build(self.take(rows))
            res = store.search(self.queries, k)
        return np.where(res.ids >= 0, np.asarray(rows)[np.maximum(res.ids, 0)], -1)

    def search(self, ix, queries=None, **kw):
        return ix.search(self.queries if queries is None else queries, K, num_threads=1, **kw)

    def query_subset(self, n):
        if self.args.engine == "sparse":
            return [self.queries[i] for i in range(min(n, self.queries.shape[0]))]
        return [[q] for q in self.queries[:n]]


def recall(found, truth, k=K):
    hits = sum(len(set(f[:k][f[:k] >= 0]) & set(t[:k][t[:k] >= 0])) for f, t in zip(found, truth))
    return hits / max(1, sum(int(np.sum(t[:k] >= 0)) for t in truth))


def latency(engine, systems: dict, repeats: int, n_single: int, **kw) -> dict:
    """ms/query per system: batch (one call, 1 thread) and single (one call per query)."""
    out = {name: {"batch": np.inf, "single": np.inf} for name in systems}
    singles = engine.query_subset(n_single)
    n_q = engine.queries.shape[0] if engine.args.engine == "sparse" else len(engine.queries)
    for _ in range(repeats):
        for name, (ix, extra) in systems.items():
            t = time.perf_counter()
            engine.search(ix, **kw, **extra)
            out[name]["batch"] = min(out[name]["batch"], (time.perf_counter() - t) * 1e3 / n_q)
            t = time.perf_counter()
            for q in singles:
                engine.search(ix, queries=q, **kw, **extra)
            out[name]["single"] = min(out[name]["single"], (time.perf_counter() - t) * 1e3 / len(singles))
    return out


# ----------------------------------------------------------------------------- churn
def churn(args):
    eng = Engine(args)
    rng = np.random.default_rng(args.seed)
    n = eng.n
    perm = rng.permutation(n)
    base, extra = np.sort(perm[: int(0.9 * n)]), perm[int(0.9 * n) :]
    report = {"engine": args.engine, "dataset": args.dataset if args.engine == "sparse" else "tokens-128",
              "n_docs": n, "n_queries": int(eng.queries.shape[0] if args.engine == "sparse" else len(eng.queries))}
    t = time.perf_counter()
    ix = eng.build(base)
    report["base_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, len(extra), args.batch):
        eng.add(ix, np.sort(extra[i : i + args.batch]))
    report["add_s"] = time.perf_counter() - t
    report["add_docs_per_s"] = len(extra) / report["add_s"]
    gone = rng.choice(n, n // 10, replace=False)
    t = time.perf_counter()
    ix.delete(gone)
    report["delete_s"] = time.perf_counter() - t
    report["delete_us_per_id"] = report["delete_s"] * 1e6 / len(gone)
    live = ix.ids()
    upd = np.sort(rng.choice(live, max(1, n // 100), replace=False))
    t = time.perf_counter()
    eng.update(ix, upd)
    report["update_s"] = time.perf_counter() - t
    report["segments_after_churn"] = ix.n_segments
    final = ix.ids()
    t = time.perf_counter()
    fresh = eng.build(final)
    report["fresh_build_s"] = time.perf_counter() - t
    report["build_docs_per_s"] = len(final) / report["fresh_build_s"]
    truth = eng.exact(final)
    r_churn, r_fresh = recall(eng.search(ix).ids, truth), recall(eng.search(fresh).ids, truth)
    lat = latency(eng, {"churned": (ix, {}), "fresh": (fresh, {})}, args.repeats, args.single)
    t = time.perf_counter()
    ix.compact()
    report["compact_s"] = time.perf_counter() - t
    r_compact = recall(eng.search(ix).ids, truth)
    lat2 = latency(eng, {"compacted": (ix, {}), "fresh": (fresh, {})}, args.repeats, args.single)
    report.update(
        recall_churned=r_churn, recall_fresh=r_fresh, recall_compacted=r_compact,
        ms_churned=lat["churned"], ms_fresh=lat["fresh"], ms_compacted=lat2["compacted"], ms_fresh_2=lat2["fresh"],
        ratio_churned={m: lat["churned"][m] / lat["fresh"][m] for m in ("batch", "single")},
        ratio_compacted={m: lat2["compacted"][m] / lat2["fresh"][m] for m in ("batch", "single")},
        add_vs_build_throughput=report["add_docs_per_s"] / report["build_docs_per_s"],
    )
    print(f"{args.engine} churn on {report['dataset']} ({n} documents, {report['n_queries']} queries)")
    print(f"  segments after churn: {report['segments_after_churn']}")
    print(f"  recall@10: churned {r_churn:.4f}  fresh {r_fresh:.4f}  compacted {r_compact:.4f}")
    for mode in ("batch", "single"):
        print(f"  ms/query ({mode}): churned {lat['churned'][mode]:.3f}  fresh {lat['fresh'][mode]:.3f}"
              f"  -> {report['ratio_churned'][mode]:.2f}x;  compacted {lat2['compacted'][mode]:.3f}"
              f" vs {lat2['fresh'][mode]:.3f} -> {report['ratio_compacted'][mode]:.2f}x")
    print(f"  add {report['add_docs_per_s']:.0f} docs/s vs build {report['build_docs_per_s']:.0f} docs/s"
          f" ({report['add_vs_build_throughput']:.2f}x); delete {report['delete_us_per_id']:.2f} us/id"
          f" ({len(gone)} ids in {report['delete_s'] * 1e3:.1f} ms); update {len(upd)} docs in {report['update_s']:.2f} s;"
          f" compact {report['compact_s']:.1f} s; fresh build {report['fresh_build_s']:.1f} s")
    return report


# --------------------------------------------------------------------------- filters
def filters(args):
    eng = Engine(args)
    rng = np.random.default_rng(args.seed)
    n = eng.n
    rows = np.arange(n)
    ix = eng.build(rows)
    cases = [(f"random {s:g}", np.sort(rng.choice(n, max(1, round(s * n)), replace=False)), False)
             for s in (0.5, 0.1, 0.01, 0.001, 0.0001)]
    if eng.sources is not None and len(eng.sources) == n:
        man = np.flatnonzero(eng.sources)
        cases.append((f"man pages {eng.sources.mean():.3f}", man, False))
        cases.append(("man, materialized", man, True))
        cases.append(("random 0.1, mat.", cases[1][1], True))
    base = latency(eng, {"unfiltered": (ix, {})}, args.repeats, args.single)["unfiltered"]
    print(f"{args.engine} filters ({n} documents): unfiltered {base['batch']:.3f} ms/query batch,"
          f" {base['single']:.3f} single")
    reports = []
    cls = type(ix)
    planner = cls._plan_exact
    for name, allowed, materialize in cases:
        flt = af.IdFilter(allowed, materialize=materialize)
        truth = eng.exact(allowed)
        t = time.perf_counter()
        got = eng.search(ix, filter=flt)
        first = time.perf_counter() - t
        if materialize:
            print(f"  ({name}: first search, building the view, {first:.1f} s; view {flt.size_bytes / 2**20:.1f} MiB)")
        rec = recall(got.ids, truth)
        lat = latency(eng, {"filtered": (ix, {"filter": flt})}, args.repeats, args.single)["filtered"]
        rep = {"engine": args.engine, "case": name, "n_allowed": len(allowed), "recall": rec,
               "ms": lat, "ratio": {m: lat[m] / base[m] for m in lat}}
        line = (f"  {name:>18}: {len(allowed):>6} allowed  recall {rec:.4f}  {lat['batch']:.3f} ms batch"
                f" ({rep['ratio']['batch']:.2f}x)  {lat['single']:.3f} single ({rep['ratio']['single']:.2f}x)")
        if args.crossover:
            paths = {}
            for path_name, forced in (("approx", False), ("exact", True)):
                cls._plan_exact = lambda self, seg, n_allowed, k, opts, forced=forced: forced
                try:
                    r = recall(eng.search(ix, filter=flt).ids, truth)
                    paths[path_name] = (latency(eng, {"x": (ix, {"filter": flt})}, args.repeats, 1)["x"]["batch"], r)
                finally:
                    cls._plan_exact = planner
            rep["paths"] = {k: {"ms": v[0], "recall": v[1]} for k, v in paths.items()}
            line += "  | approx {:.3f} ms r={:.3f}, exact {:.3f} ms r={:.3f}".format(*paths["approx"], *paths["exact"])
        print(line)
        reports.append(rep)
    return reports


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("churn", "filters"))
    p.add_argument("--engine", choices=("sparse", "multivector"), default="sparse")
    p.add_argument("--dataset", choices=("debian", "synthetic"), default="debian")
    p.add_argument("--data-root", default=None)
    p.add_argument("--tokens", default="~/.cache/aftershock-data/debian")
    p.add_argument("--n-docs", type=int, default=1_000_000)
    p.add_argument("--n-queries", type=int, default=1000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--build-threads", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--single", type=int, default=200, help="queries timed one call each")
    p.add_argument("--crossover", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    result = churn(args) if args.what == "churn" else filters(args)
    if args.out:
        meta = common.run_metadata(1)
        records = result if isinstance(result, list) else [result]
        common.write_jsonl(args.out, [{**r, "what": args.what, **meta} for r in records])


if __name__ == "__main__":
    main()
