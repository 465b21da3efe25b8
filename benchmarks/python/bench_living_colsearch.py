"""The living multi-vector index against colsearch (PyPI): churn and filtered search, one run.

Both systems get the same documents (real ColBERT token vectors at 128-d from
``--tokens``: a seeded random ``--n-docs`` of the first ``--pool`` = 20,000, so the
man pages, rows 17,587+ of the file, keep their 12% share), the same queries, the same churn and the same
allow-lists; every search is single-threaded (aftershock ``num_threads=1``; colsearch
``torch.set_num_threads(1)`` and ``RAYON_NUM_THREADS=1`` for its Rust kernel).

Churn (mirrors ``bench_living.py churn --engine multivector``)
--------------------------------------------------------------
Build on a random 90% of the documents (ids = row numbers), add the other 10% in batches
of ``--batch``, delete a random 10% of all documents, update 1% (same content, same ids:
aftershock ``update``, colsearch ``upsert``). Baseline: a fresh build of the final set.
Recall@10 against exact MaxSim over the final set (``aftershock.MultiVectorStore``),
ms/query churned vs fresh, add docs/s vs fresh-build docs/s, delete us/id.
aftershock is then ``compact()``-ed; colsearch has no compaction (its ``CompactionTask``
and ``flush()`` only checkpoint the WAL: "Real L0-to-sealed merge is not yet implemented"),
so its added/updated documents stay in its exact fp32 MemTable for good.

Filters
-------
On the fresh index of the final set (not a separate build of all documents, as
``bench_living.py`` does, to save colsearch's slow build): allow-lists of 50/10/1/0.1/0.01%
of the live documents at random and "man pages only" (correlated). aftershock:
``filter=aftershock.IdFilter(ids)``. colsearch: payload filter ``{"id": {"$in": set}}``
(each document carries the payload ``{"id": id, "man": bool}``) and ``{"man": True}`` for
the man pages -- its only filter mechanism, a post-filter of the top ``4*k`` candidates.
Recall@10 against exact search over the allowed documents; latency against unfiltered.

Latency: ``batch`` = one call over all queries (aftershock ``search(list)``, colsearch
``search_batch``; with a filter colsearch's ``search_batch`` loops over ``search``),
``single`` = one call per query over ``--single`` queries; minimum of ``--repeats`` runs,
systems alternating, after one warm-up search each.

colsearch settings: ``colsearch.Index(path, dim=128, engine="shard", device="cpu")``
with its defaults (rroq158 1.58-bit codes, K=8192, LEMUR router, PROXY_GROUPED layout,
k_candidates=2000, max_docs_exact=10000) except ``enable_wal=False`` (no fsync in the
timings) and ``--cs-lemur-epochs`` (default 10 = its default). The "gem" engine (its
default when ``latence_gem_index`` is installed) is not on PyPI's CPU wheels here.
Its build (LEMUR MLP training + K=8192 spherical k-means) is very slow on CPU: it runs
with ``--build-threads`` torch threads (aftershock's builds use the same count), and with
``RROQ158_KMEANS_BACKEND=fast`` (its documented vectorised k-means; the default k-means++
init alone took minutes for 300 documents). Even so a colsearch build of 2,000 documents
takes over 4 minutes and one of 900 over 9 minutes on 2 cores, so the default ``--n-docs``
is 300 (two colsearch builds of ~3.5 min each
per run); 20,000 documents (``--n-docs 20000``) would take hours here.

Environment: a separate venv so the dev venv stays clean::

    python -m venv --system-site-packages /work/venv-colsearch
    # torch 2.13 CPU came from an existing venv, linked with a .pth file (no torch download):
    echo /root/.cache/aftershock-data/venv/lib/python3.11/site-packages \\
        > /work/venv-colsearch/lib/python3.11/site-packages/zz_torch.pth
    /work/venv-colsearch/bin/pip install "colsearch[shard,shard-native]"   # + faiss-cpu, latence-shard-engine

aftershock is not installed into it: this script imports it from ``--aftershock-site``
(default: the dev venv's site-packages, ``/work/main/.venv-test/lib/python3.11/site-packages``),
put first on ``sys.path`` only while ``import aftershock`` runs.

Example (as run for the log, ~10 minutes on 2 cores; LEMUR epochs cut to 1)::

    /work/venv-colsearch/bin/python benchmarks/python/bench_living_colsearch.py \\
        --n-docs 300 --n-queries 100 --single 50 --repeats 1 --cs-lemur-epochs 1 --out x.jsonl

``--skip-colsearch`` runs aftershock alone (any size, in any environment with aftershock).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")
# colsearch's documented fast rroq158 k-means (its default k-means++ init at K=8192 is
# sequential NumPy: minutes even for a few hundred documents).
os.environ.setdefault("RROQ158_KMEANS_BACKEND", "fast")

import numpy as np

K = 10
DEFAULT_AF_SITE = "/work/main/.venv-test/lib/python3.11/site-packages"


def import_aftershock(site: str | None):
    if site:
        sys.path.insert(0, site)
    try:
        import aftershock
    finally:
        if site:
            sys.path.remove(site)
    return aftershock


# ----------------------------------------------------------------------------- data
def load_tokens(args):
    root = Path(args.tokens).expanduser()
    vectors = np.load(root / "doc_vectors_128.npy", mmap_mode="r")
    offsets = np.load(root / "doc_offsets.npy")
    n_all = min(args.pool, len(offsets) - 1)
    n = min(args.n_docs, n_all)
    # a seeded random sample of the first --pool documents (the file is ordered by source:
    # the man pages are rows 17,587+), renumbered 0..n-1 in file order
    rows = np.sort(np.random.default_rng(args.seed + 1).choice(n_all, n, replace=False))
    docs = [np.asarray(vectors[offsets[i] : offsets[i + 1]], dtype=np.float32) for i in rows]
    qv = np.load(root / "query_vectors_128.npy").astype(np.float32)
    qo = np.load(root / "query_offsets.npy")
    queries = [qv[qo[i] : qo[i + 1]] for i in range(min(args.n_queries, len(qo) - 1))]
    man_all = np.zeros(n_all, dtype=bool)
    if (root / "docs.jsonl").exists():
        with open(root / "docs.jsonl") as f:
            for i, line in enumerate(f):
                if i >= n_all:
                    break
                # this data set says "manpages" (bench_living.py tests == "man")
                man_all[i] = json.loads(line).get("source") in ("man", "manpages")
    return docs, queries, man_all[rows]


def recall(found, truth, k=K):
    hits = sum(len(set(f[:k][f[:k] >= 0]) & set(t[:k][t[:k] >= 0])) for f, t in zip(found, truth))
    return hits / max(1, sum(int(np.sum(t[:k] >= 0)) for t in truth))


# --------------------------------------------------------------------------- systems
class Aftershock:
    name = "aftershock"

    def __init__(self, af, docs, queries, args):
        self.af, self.docs, self.queries, self.args = af, docs, queries, args

    def take(self, rows):
        return [self.docs[r] for r in rows]

    def build(self, rows):
        return self.af.MultiVectorIndex.build(self.take(rows), ids=np.asarray(rows, dtype=np.int64),
                                              num_threads=self.args.build_threads)

    def add(self, ix, rows):
        ix.add(self.take(rows), ids=np.asarray(rows, dtype=np.int64))

    def delete(self, ix, rows):
        ix.delete(np.asarray(rows, dtype=np.int64))

    def update(self, ix, rows):
        ix.update(self.take(rows), ids=np.asarray(rows, dtype=np.int64))

    def make_filter(self, allowed, man_only):
        return self.af.IdFilter(np.asarray(allowed, dtype=np.int64))

    def search(self, ix, queries, flt=None):
        kw = {} if flt is None else {"filter": flt}
        return np.asarray(ix.search(queries, K, num_threads=1, **kw).ids)

    def search_one(self, ix, q, flt=None):
        kw = {} if flt is None else {"filter": flt}
        return ix.search([q], K, num_threads=1, **kw)

    def close(self, ix):
        pass


class Colsearch:
    name = "colsearch"

    def __init__(self, docs, queries, man, args):
        import colsearch
        import torch

        self.torch, self.cs = torch, colsearch
        self.docs, self.queries, self.man, self.args = docs, queries, man, args
        self.tmp = Path(tempfile.mkdtemp(prefix="colsearch-", dir=args.tmp))
        self._n = 0

    def take(self, rows):
        return [self.docs[r] for r in rows]

    def payloads(self, rows):
        return [{"id": int(r), "man": bool(self.man[r])} for r in rows]

    def build(self, rows):
        self._n += 1
        self.torch.set_num_threads(max(1, self.args.build_threads or os.cpu_count()))
        try:
            ix = self.cs.Index(str(self.tmp / f"ix{self._n}"), dim=128, engine="shard", device="cpu",
                               enable_wal=False, lemur_epochs=self.args.cs_lemur_epochs)
            ix.add(self.take(rows), ids=[int(r) for r in rows], payloads=self.payloads(rows))
        finally:
            self.torch.set_num_threads(1)
        return ix

    def add(self, ix, rows):
        ix.add(self.take(rows), ids=[int(r) for r in rows], payloads=self.payloads(rows))

    def delete(self, ix, rows):
        ix.delete([int(r) for r in rows])

    def update(self, ix, rows):
        ix.upsert(self.take(rows), ids=[int(r) for r in rows], payloads=self.payloads(rows))

    def make_filter(self, allowed, man_only):
        return {"man": True} if man_only else {"id": {"$in": set(int(a) for a in allowed)}}

    @staticmethod
    def _ids(results):
        out = np.full((len(results), K), -1, dtype=np.int64)
        for i, res in enumerate(results):
            for j, r in enumerate(res[:K]):
                out[i, j] = r.doc_id
        return out

    def search(self, ix, queries, flt=None):
        return self._ids(ix.search_batch(queries, k=K, filters=flt))

    def search_one(self, ix, q, flt=None):
        return ix.search(q, k=K, filters=flt)

    def close(self, ix):
        ix.close()

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def latency(systems, queries, repeats, n_single):
    """{label: {"batch": ms/query, "single": ms/query}}; systems = {label: (sys, ix, flt)}."""
    out = {label: {"batch": np.inf, "single": np.inf} for label in systems}
    singles = queries[:n_single]
    for label, (s, ix, flt) in systems.items():  # warm-up
        s.search_one(ix, queries[0], flt)
    for _ in range(repeats):
        for label, (s, ix, flt) in systems.items():
            t = time.perf_counter()
            s.search(ix, queries, flt)
            out[label]["batch"] = min(out[label]["batch"], (time.perf_counter() - t) * 1e3 / len(queries))
            t = time.perf_counter()
            for q in singles:
                s.search_one(ix, q, flt)
            out[label]["single"] = min(out[label]["single"], (time.perf_counter() - t) * 1e3 / max(1, len(singles)))
    return out


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- main
def run(args):
    af = import_aftershock(args.aftershock_site)
    docs, queries, man = load_tokens(args)
    n = len(docs)
    systems = [Aftershock(af, docs, queries, args)]
    if not args.skip_colsearch:
        systems.append(Colsearch(docs, queries, man, args))
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(n)
    base, extra = np.sort(perm[: int(0.9 * n)]), perm[int(0.9 * n) :]
    gone = np.sort(rng.choice(n, n // 10, replace=False))
    live = np.setdiff1d(np.arange(n), gone)
    upd = np.sort(rng.choice(live, max(1, n // 100), replace=False))
    final = live

    def exact(rows):
        res = af.MultiVectorStore.build([docs[r] for r in rows]).search(queries, K)
        ids = np.asarray(res.ids)
        return np.where(ids >= 0, np.asarray(rows)[np.maximum(ids, 0)], -1)

    truth = exact(final)
    meta = {"n_docs": n, "n_queries": len(queries), "batch": args.batch, "build_threads": args.build_threads}
    reports, churned, fresh = {}, {}, {}
    for s in systems:
        r = {"system": s.name, **meta}
        log(f"{s.name}: base build of {len(base)} documents")
        t = time.perf_counter()
        ix = s.build(base)
        r["base_build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(0, len(extra), args.batch):
            s.add(ix, np.sort(extra[i : i + args.batch]))
        r["add_s"] = time.perf_counter() - t
        r["add_docs_per_s"] = len(extra) / r["add_s"]
        t = time.perf_counter()
        s.delete(ix, gone)
        r["delete_s"] = time.perf_counter() - t
        r["delete_us_per_id"] = r["delete_s"] * 1e6 / len(gone)
        t = time.perf_counter()
        s.update(ix, upd)
        r["update_s"] = time.perf_counter() - t
        log(f"{s.name}: fresh build of {len(final)} documents")
        t = time.perf_counter()
        fr = s.build(final)
        r["fresh_build_s"] = time.perf_counter() - t
        r["build_docs_per_s"] = len(final) / r["fresh_build_s"]
        r["add_vs_build_throughput"] = r["add_docs_per_s"] / r["build_docs_per_s"]
        r["recall_churned"] = recall(s.search(ix, queries), truth)
        r["recall_fresh"] = recall(s.search(fr, queries), truth)
        churned[s.name], fresh[s.name] = ix, fr
        reports[s.name] = r
    log("churn latency")
    lat = latency({f"{s.name}/{w}": (s, ix, None) for s in systems
                   for w, ix in (("churned", churned[s.name]), ("fresh", fresh[s.name]))},
                  queries, args.repeats, args.single)
    for s in systems:
        r = reports[s.name]
        r["ms_churned"], r["ms_fresh"] = lat[f"{s.name}/churned"], lat[f"{s.name}/fresh"]
        r["ratio_churned"] = {m: r["ms_churned"][m] / r["ms_fresh"][m] for m in ("batch", "single")}
    a = reports["aftershock"]
    t = time.perf_counter()
    churned["aftershock"].compact()
    a["compact_s"] = time.perf_counter() - t
    a["recall_compacted"] = recall(systems[0].search(churned["aftershock"], queries), truth)
    a["ms_compacted"] = latency({"c": (systems[0], churned["aftershock"], None)}, queries, args.repeats,
                                args.single)["c"]
    for s in systems[1:]:
        s.close(churned[s.name])

    # ---- filters, on the fresh indexes of the final set
    log("filters")
    cases = [(f"random {f:g}", np.sort(rng.choice(final, max(1, int(round(f * len(final)))), replace=False)), False)
             for f in (0.5, 0.1, 0.01, 0.001, 0.0001)]
    man_rows = final[man[final]]
    if len(man_rows):
        cases.append((f"man pages {len(man_rows) / len(final):.3f}", man_rows, True))
    filt = []
    for name, allowed, man_only in cases:
        ftruth = exact(allowed)
        rec = {"case": name, "n_allowed": len(allowed)}
        flts = {s.name: s.make_filter(allowed, man_only) for s in systems}
        for s in systems:
            rec[f"{s.name}_recall"] = recall(s.search(fresh[s.name], queries, flts[s.name]), ftruth)
        lt = latency({s.name: (s, fresh[s.name], flts[s.name]) for s in systems}, queries, args.repeats, args.single)
        for s in systems:
            rec[f"{s.name}_ms"] = lt[s.name]
            rec[f"{s.name}_ratio"] = {m: lt[s.name][m] / reports[s.name]["ms_fresh"][m] for m in ("batch", "single")}
        filt.append(rec)
    for s in systems[1:]:
        s.close(fresh[s.name])
        s.cleanup()
    return reports, filt, systems


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def print_table(reports, filt, names, args):
    g = lambda name, key: reports[name].get(key)
    n, nq = reports[names[0]]["n_docs"], reports[names[0]]["n_queries"]
    print(f"living multi-vector index vs colsearch: {n} documents, {nq} queries, k={K}, 1 search thread")
    w = 22
    print(f"{'churn':<34}" + "".join(f"{nm:>{w}}" for nm in names))
    rows = [
        ("recall@10 churned", lambda nm: fmt(g(nm, "recall_churned"), ".4f")),
        ("recall@10 fresh", lambda nm: fmt(g(nm, "recall_fresh"), ".4f")),
        ("recall@10 compacted", lambda nm: fmt(g(nm, "recall_compacted"), ".4f")),
    ]
    for mode in ("batch", "single"):
        rows += [
            (f"ms/query churned ({mode})", lambda nm, m=mode: f"{g(nm, 'ms_churned')[m]:.3f} ({g(nm, 'ratio_churned')[m]:.2f}x)"),
            (f"ms/query fresh ({mode})", lambda nm, m=mode: f"{g(nm, 'ms_fresh')[m]:.3f}"),
            (f"ms/query compacted ({mode})", lambda nm, m=mode: fmt((g(nm, "ms_compacted") or {}).get(m), ".3f")),
        ]
    rows += [
        (f"add docs/s (batches of {args.batch})", lambda nm: f"{g(nm, 'add_docs_per_s'):.0f}"),
        ("fresh build docs/s", lambda nm: f"{g(nm, 'build_docs_per_s'):.0f}"),
        ("add / build throughput", lambda nm: f"{g(nm, 'add_vs_build_throughput'):.2f}x"),
        ("delete us/id", lambda nm: f"{g(nm, 'delete_us_per_id'):.2f}"),
        ("update 1% (s)", lambda nm: f"{g(nm, 'update_s'):.3f}"),
        ("base / fresh build (s)", lambda nm: f"{g(nm, 'base_build_s'):.1f} / {g(nm, 'fresh_build_s'):.1f}"),
        ("compact (s)", lambda nm: fmt(g(nm, "compact_s"), ".2f")),
    ]
    for label, f in rows:
        print(f"{label:<34}" + "".join(f"{f(nm):>{w}}" for nm in names))
    print()
    print("filters (fresh index of the final set): recall@10 vs exact filtered; ms/query batch, single"
          " (x unfiltered)")
    print(f"{'case':<20}{'allowed':>8}" + "".join(f"{nm + ' recall':>20}{nm + ' batch':>24}{nm + ' single':>24}"
                                                 for nm in names))
    for r in filt:
        line = f"{r['case']:<20}{r['n_allowed']:>8}"
        for nm in names:
            ms, ra = r[f"{nm}_ms"], r[f"{nm}_ratio"]
            line += (f"{r[f'{nm}_recall']:>20.4f}{ms['batch']:>16.3f} ({ra['batch']:>4.2f}x)"
                     f"{ms['single']:>16.3f} ({ra['single']:>4.2f}x)")
        print(line)
    sys.stdout.flush()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", default="~/.cache/aftershock-data/debian")
    p.add_argument("--pool", type=int, default=20_000, help="documents sampled from: the first POOL")
    p.add_argument("--n-docs", type=int, default=300, help="documents indexed, a random sample of the pool")
    p.add_argument("--n-queries", type=int, default=300)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--build-threads", type=int, default=0, help="threads for builds (0 = all), both systems")
    p.add_argument("--cs-lemur-epochs", type=int, default=10, help="colsearch LEMUR router epochs (its default 10)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--single", type=int, default=100, help="queries timed one call each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tmp", default=None, help="directory for colsearch's on-disk index")
    p.add_argument("--aftershock-site", default=DEFAULT_AF_SITE,
                   help="site-packages to import aftershock from ('' = the current environment's)")
    p.add_argument("--skip-colsearch", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    reports, filt, systems = run(args)
    names = [s.name for s in systems]
    print_table(reports, filt, names, args)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.out:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import common

        meta = {**common.run_metadata(1), "what": "living_colsearch"}
        try:
            from importlib.metadata import version

            import colsearch  # noqa: F401

            meta["colsearch_version"] = version("colsearch")
        except Exception:
            pass
        recs = [{**r, "kind": "churn", **meta} for r in reports.values()]
        recs += [{**r, "kind": "filter", "n_docs": reports[names[0]]["n_docs"], **meta} for r in filt]
        common.write_jsonl(args.out, recs)


if __name__ == "__main__":
    main()
