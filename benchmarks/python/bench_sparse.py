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
* **Matched recall**: for each ``--recall-targets`` value, the fastest configuration of each
  system reaching it, and our latency ÷ Seismic's.

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

    python benchmarks/python/bench_sparse.py --dataset debian --n-postings 1000 \\
        --query-cuts 3,5,10 --heap-factors 0.7,0.8,0.9 --out results.jsonl
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

BUILD_KEYS = ("n_postings", "centroid_fraction", "min_cluster_size", "summary_energy", "max_fraction")


# =============================================================================================
# Child process: one build, measured alone.
def child_build(spec: dict) -> None:
    system = spec["system"]
    if system == "aftershock":
        import aftershock
    else:
        import seismic
    baseline = common.rss_bytes()
    docs = sp.load_npz(spec["docs"]).tocsr().astype(np.float32, copy=False)
    docs.sort_indices()
    result = {"system": system, "baseline_rss_bytes": baseline}

    if system == "aftershock":
        params = dict(spec["params"])
        gc.collect()
        result["rss_before_build_bytes"] = common.rss_bytes()
        common.reset_peak_rss()
        seconds, index = common.time_once(lambda: aftershock.SparseIndex.build(docs, **params))
        result["build_peak_rss_bytes"] = common.peak_rss_bytes()
        result["build_seconds"] = seconds
        mem = getattr(index, "memory_bytes", None)
        result["index_bytes"] = int(mem() if callable(mem) else mem) if mem is not None else None
        index.save(spec["index"])
        result["index_path"] = spec["index"]
    else:
        ds = seismic.SeismicDataset(dim=int(docs.shape[1]))
        n_rows = docs.shape[0]

        def ingest():
            return ds.add_documents_by_id(
                [str(i) for i in range(n_rows)],
                docs.indices.astype(np.int64),
                docs.data.astype(np.float32),
                docs.indptr.astype(np.int64),
            )

        result["ingest_seconds"], result["ingested_docs"] = common.time_once(ingest)
        del docs
        gc.collect()
        result["rss_before_build_bytes"] = common.rss_bytes()
        common.reset_peak_rss()
        p = spec["params"]
        seconds, index = common.time_once(
            lambda: seismic.SeismicIndex.build_from_dataset(
                ds,
                n_postings=int(p["n_postings"]),
                centroid_fraction=float(p["centroid_fraction"]),
                min_cluster_size=int(p["min_cluster_size"]),
                summary_energy=float(p["summary_energy"]),
                max_fraction=float(p["max_fraction"]),
                nknn=int(p.get("knn", 0)),
                num_threads=int(p.get("num_threads", 0)),
            )
        )
        result["build_peak_rss_bytes"] = common.peak_rss_bytes()
        result["build_seconds"] = seconds
        sys.stdout.flush()
        index.print_space_usage_byte()  # Rust prints "Total: N Bytes"; the parent parses it
        sys.stdout.flush()
        index.save(spec["index"])
        result["index_path"] = spec["index"] + ".index.seismic"
    result["process_peak_rss_bytes"] = common.peak_rss_bytes()
    result["file_bytes"] = os.path.getsize(result["index_path"])
    common.emit_child_result(result)


# =============================================================================================
# Data.
def _save_csr(path: Path, m: sp.csr_matrix) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    sp.save_npz(tmp, m, compressed=False)
    os.replace(tmp, path)


def write_seismic_bin(path: Path, m: sp.csr_matrix) -> None:
    """Seismic's inner binary format: u32 n_rows, then per row u32 nnz, u32 ids[nnz], f32 values[nnz]."""
    lengths = np.diff(m.indptr).astype(np.int64)
    starts = 1 + np.concatenate(([0], np.cumsum(1 + 2 * lengths)[:-1]))
    buf = np.empty(1 + int(np.sum(1 + 2 * lengths)), dtype=np.uint32)
    buf[0] = m.shape[0]
    buf[starts] = lengths
    pos = np.arange(m.nnz) - np.repeat(m.indptr[:-1].astype(np.int64), lengths)
    row_start = np.repeat(starts, lengths)
    buf[row_start + 1 + pos] = m.indices
    buf[row_start + 1 + np.repeat(lengths, lengths) + pos] = m.data.astype(np.float32).view(np.uint32)
    tmp = path.with_suffix(".tmp")
    buf.tofile(tmp)
    os.replace(tmp, path)


def exact_ground_truth(docs, queries, k: int):
    aftershock = common.import_aftershock()
    exact = getattr(aftershock, "exact_search", None) if aftershock is not None else None
    if exact is not None:
        res = exact(docs, queries, k)
        ids = res.ids if hasattr(res, "ids") else res[1]
        return np.asarray(ids, dtype=np.int64), "aftershock.exact_search"
    return common.exact_topk_scipy(docs, queries, k)[1], "scipy"


def prepare_data(args, datasets) -> dict:
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    k_gt = max(args.k, 10)
    if args.dataset == "debian":
        docs, queries, gt = datasets.load_debian_sparse(args.data_root)
        gt_source = "gt.npy"
        if args.n_queries is not None:
            queries, gt = queries[: args.n_queries], gt[: args.n_queries]
        key = "debian"
        if args.n_docs is not None and args.n_docs < docs.shape[0]:
            docs = docs[: args.n_docs]
            key = f"debian-n{args.n_docs}"
            gt = None
        folder = work / key
        folder.mkdir(exist_ok=True)
        if gt is None:
            gt_path = folder / f"gt_q{queries.shape[0]}_k{k_gt}.npy"
            if gt_path.exists():
                gt, gt_source = np.load(gt_path), "cache"
            else:
                gt, gt_source = exact_ground_truth(docs, queries, k_gt)
                np.save(gt_path, gt)
    else:
        n_docs = args.n_docs or 100_000
        n_queries = args.n_queries or 1000
        src = (common.REPO_ROOT / "python" / "aftershock" / "datasets.py").read_bytes()
        digest = hashlib.sha256(src).hexdigest()[:10]
        key = (
            f"synthetic-n{n_docs}-q{n_queries}-v{args.vocab_size}-d{args.doc_nnz}-qn{args.query_nnz}"
            f"-t{args.n_topics}-s{args.seed}-{digest}"
        )
        folder = work / key
        folder.mkdir(exist_ok=True)
        if (folder / "docs.npz").exists() and (folder / "queries.npz").exists():
            docs, queries = (
                sp.load_npz(folder / "docs.npz").tocsr(),
                sp.load_npz(folder / "queries.npz").tocsr(),
            )
            print(f"[data] cached {folder}", file=sys.stderr)
        else:
            print(f"[data] generating {n_docs} documents ...", file=sys.stderr)
            seconds, (docs, queries) = common.time_once(
                lambda: datasets.synthetic_sparse(
                    n_docs,
                    n_queries,
                    vocab_size=args.vocab_size,
                    doc_nnz=args.doc_nnz,
                    query_nnz=args.query_nnz,
                    n_topics=args.n_topics,
                    seed=args.seed,
                )
            )
            print(f"[data] generated in {seconds:.1f} s", file=sys.stderr)
            _save_csr(folder / "docs.npz", docs)
            _save_csr(folder / "queries.npz", queries)
        gt_path = folder / f"gt_k{k_gt}.npy"
        if gt_path.exists():
            gt, gt_source = np.load(gt_path), "cache"
        else:
            print("[data] exact ground truth ...", file=sys.stderr)
            seconds, (gt, gt_source) = common.time_once(lambda: exact_ground_truth(docs, queries, k_gt))
            print(f"[data] ground truth by {gt_source} in {seconds:.1f} s", file=sys.stderr)
            np.save(gt_path, gt)
    docs_path = folder / "docs.npz"
    if not docs_path.exists():
        _save_csr(docs_path, docs)
    queries_bin = folder / f"queries_q{queries.shape[0]}.seismic.bin"
    if not queries_bin.exists():
        write_seismic_bin(queries_bin, queries)
    return {
        "name": key,
        "folder": folder,
        "docs": docs,
        "queries": queries,
        "gt": gt,
        "gt_source": gt_source,
        "docs_path": docs_path,
        "queries_bin": queries_bin,
        "info": {
            "dataset": args.dataset,
            "data_key": key,
            "n_docs": int(docs.shape[0]),
            "n_queries": int(queries.shape[0]),
            "vocab_size": int(docs.shape[1]),
            "doc_nnz_mean": float(docs.nnz / max(docs.shape[0], 1)),
            "query_nnz_mean": float(queries.nnz / max(queries.shape[0], 1)),
            "gt_source": gt_source,
        },
    }


# =============================================================================================
# Runners: the same interface over both libraries.
class AftershockRunner:
    system = "aftershock"

    def __init__(self, index, queries, k: int):
        self.index, self.queries, self.k = index, queries, k
        self.rows = [queries[i : i + 1] for i in range(queries.shape[0])]  # 1-row CSR, sliced once

    def single(self, query_cut, heap_factor, n_knn):
        index, k = self.index, self.k

        def one(q):
            return index.search(
                q, k, query_cut=query_cut, heap_factor=heap_factor, n_knn=n_knn, num_threads=1
            )

        ms, out = common.time_each(one, self.rows)
        return ms, np.vstack([np.asarray(r.ids, dtype=np.int64).reshape(1, -1) for r in out])

    def batch(self, query_cut, heap_factor, n_knn):
        with common.one_cpu():
            seconds, res = common.time_once(
                lambda: self.index.search(
                    self.queries, self.k, query_cut=query_cut, heap_factor=heap_factor, n_knn=n_knn, num_threads=1
                )
            )
        return seconds, np.asarray(res.ids, dtype=np.int64)


class SeismicRunner:
    system = "seismic"

    def __init__(self, index, queries, k: int, queries_bin: Path, doc_rows: np.ndarray, first_sorted: bool):
        self.index, self.k, self.queries_bin, self.first_sorted = index, k, str(queries_bin), first_sorted
        self.rows = [
            (
                queries.indices[queries.indptr[i] : queries.indptr[i + 1]].astype(np.int32),
                queries.data[queries.indptr[i] : queries.indptr[i + 1]].astype(np.float32),
            )
            for i in range(queries.shape[0])
        ]
        # Seismic skips empty documents, so its ids count non-empty rows only.
        self.doc_rows = doc_rows

    def _ids(self, results) -> np.ndarray:
        ids = np.full((len(results), self.k), -1, dtype=np.int64)
        for i, r in enumerate(results):
            if r:
                found = np.fromiter((x[1] for x in r), dtype=np.int64, count=len(r))[: self.k]
                ids[i, : found.size] = self.doc_rows[found]
        return ids

    def single(self, query_cut, heap_factor, n_knn):
        index, k, first_sorted = self.index, self.k, self.first_sorted

        def one(q):
            if q[0].size == 0:
                return []
            return index.search(q[0], q[1], k, query_cut, heap_factor, n_knn, first_sorted)

        ms, out = common.time_each(one, self.rows)
        return ms, self._ids(out)

    def batch(self, query_cut, heap_factor, n_knn):
        with common.one_cpu():
            seconds, res = common.time_once(
                lambda: self.index.batch_search(
                    self.queries_bin, self.k, query_cut, heap_factor, n_knn, self.first_sorted, num_threads=1
                )
            )
        return seconds, self._ids(res)


# =============================================================================================
def parse_list(text: str, typ):
    return [typ(x) for x in str(text).split(",") if x.strip()]


def _mb(x):
    return None if x is None else x / 2**20


def build_all(args, data, build_params: dict, systems: list[str], label: str) -> dict:
    """Build each system in a child; return {system: (build record, loaded index)}."""
    out = {}
    for system in systems:
        params = dict(build_params)
        index_path = str(Path(args.work_dir) / f"{data['name']}-{system}-{label}")
        if system == "aftershock":
            a_params = {k: v for k, v in params.items() if k not in ("num_threads",)}
            a_params["num_threads"] = args.build_threads
            if args.pruning:
                a_params["pruning"] = args.pruning
            spec = {"system": system, "docs": str(data["docs_path"]), "params": a_params, "index": index_path}
            env = None
        else:
            params["num_threads"] = args.build_threads
            spec = {"system": system, "docs": str(data["docs_path"]), "params": params, "index": index_path}
            env = {"RAYON_NUM_THREADS": str(args.build_threads)} if args.build_threads > 0 else None
        sidecar = Path(index_path + ".build.json")
        if system in args.reuse_builds and sidecar.exists():
            res = json.loads(sidecar.read_text())
            if res.get("params") == spec["params"] and Path(res["index_path"]).exists():
                res["reused"] = True
                print(f"[build] {system} {label}: reusing {res['index_path']}", file=sys.stderr)
                out[system] = (res, _load_index(system, res["index_path"]))
                continue
        print(f"[build] {system} {label}: {json.dumps(spec['params'])}", file=sys.stderr)
        try:
            res, stdout = common.run_child(
                [str(Path(__file__).resolve()), "_build", json.dumps(spec)],
                env=env,
                timeout=args.build_timeout,
                echo=args.verbose,
            )
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            # One failed build (e.g. killed by the OOM killer: exit code -9) must not lose the
            # other system's numbers; the failure is recorded and printed.
            message = str(exc).splitlines()[0]
            print(f"[build] {system} FAILED: {message}", file=sys.stderr)
            out[system] = ({"error": message, "params": spec["params"]}, None)
            continue
        if system == "seismic":
            m = re.search(r"Total:\s*(\d+)\s*Bytes", stdout)
            res["index_bytes"] = int(m.group(1)) if m else None
        res["params"] = spec["params"]
        sidecar.write_text(json.dumps(res))
        print(
            f"[build] {system}: {res['build_seconds']:.2f} s, peak {_mb(res['build_peak_rss_bytes']):.0f} MB",
            file=sys.stderr,
        )
        out[system] = (res, _load_index(system, res["index_path"]))
    return out


def _load_index(system: str, path: str):
    if system == "aftershock":
        import aftershock

        return aftershock.SparseIndex.load(path)
    import seismic

    return seismic.SeismicIndexRaw.load(path)


def sweep(args, data, runners: dict, build_label: str, build_params: dict, meta: dict) -> list[dict]:
    records = []
    gt = data["gt"]
    k = args.k
    combos = list(itertools.product(args.query_cuts, args.heap_factors, args.n_knn))
    # Warm caches and code paths once, untimed.
    for runner in runners.values():
        qc, hf, _ = combos[0]
        runner.single(qc, hf, 0) if args.timing != "batch" else runner.batch(qc, hf, 0)
    for qc, hf, nk in combos:
        for name, runner in runners.items():
            if nk > 0 and int(build_params.get("knn", 0)) == 0:
                continue
            rec = {
                "kind": "search",
                "system": name,
                "build": build_label,
                **{f"build_{key}": val for key, val in build_params.items()},
                "query_cut": qc,
                "heap_factor": hf,
                "n_knn": nk,
                "k": k,
                **data["info"],
            }
            if name.startswith("seismic"):
                rec["seismic_first_sorted"] = runner.first_sorted
            ids = None
            if args.timing in ("single", "both"):
                runs = []
                for _ in range(args.repeats):
                    ms, ids = runner.single(qc, hf, nk)
                    runs.append(ms)
                ms = np.min(np.vstack(runs), axis=0)
                rec.update(common.latency_summary(ms))
            if args.timing in ("batch", "both"):
                best = np.inf
                for _ in range(args.repeats):
                    seconds, batch_ids = runner.batch(qc, hf, nk)
                    best = min(best, seconds)
                rec["batch_mean_ms"] = 1e3 * best / max(len(gt), 1)
                if ids is None:
                    ids = batch_ids
            rec[f"recall_at_{k}"] = recall(ids, gt, k)
            rec["meta"] = meta
            records.append(rec)
    return records


def recall(ids, gt, k):
    return common.import_datasets().recall_at_k(ids, gt, k)


def matched_recall(args, search_records: list[dict]) -> list[dict]:
    """Fastest configuration of each system at each recall target, and the latency ratio."""
    metric = args.latency_metric
    if metric != "batch_mean_ms" and args.timing == "batch":
        metric = "batch_mean_ms"
    rkey = f"recall_at_{args.k}"
    systems = sorted({r["system"] for r in search_records})
    out = []
    for target in args.recall_targets:
        row = {"kind": "matched_recall", "recall_target": target, "latency_metric": metric, "best": {}}
        for s in systems:
            ok = [r for r in search_records if r["system"] == s and r[rkey] >= target and metric in r]
            best = min(ok, key=lambda r: r[metric]) if ok else None
            row["best"][s] = (
                None
                if best is None
                else {
                    "latency_ms": best[metric],
                    "recall": best[rkey],
                    "build": best["build"],
                    "query_cut": best["query_cut"],
                    "heap_factor": best["heap_factor"],
                    "n_knn": best["n_knn"],
                }
            )
        row["interpolated_ms"] = {
            s: _interpolate_latency([r for r in search_records if r["system"] == s], target, rkey, metric)
            for s in systems
        }
        a = row["best"].get("aftershock")
        seis = [row["best"][s] for s in systems if s.startswith("seismic") and row["best"].get(s)]
        if a and seis:
            fastest = min(seis, key=lambda x: x["latency_ms"])
            row["ratio_ours_over_seismic"] = a["latency_ms"] / fastest["latency_ms"]
        interp = row["interpolated_ms"]
        seis_i = [v for s, v in interp.items() if s.startswith("seismic") and v is not None]
        if interp.get("aftershock") is not None and seis_i:
            row["ratio_interpolated"] = interp["aftershock"] / min(seis_i)
        out.append(row)
    return out


def _interpolate_latency(records, target, rkey, metric):
    """Latency at exactly ``target`` recall on the (latency, recall) Pareto frontier.

    Linear between the fastest frontier point reaching the target and the frontier point
    just below it; the reaching point's latency if none is below; None if none reaches it.
    """
    pts = sorted((r[metric], r[rkey]) for r in records if metric in r)
    frontier = []
    for lat, rec in pts:
        if not frontier or rec > frontier[-1][1]:
            frontier.append((lat, rec))
    above = [p for p in frontier if p[1] >= target]
    if not above:
        return None
    la, ra = above[0]
    below = [p for p in frontier if p[1] < target]
    if not below:
        return la
    lb, rb = below[-1]
    return lb + (la - lb) * (target - rb) / (ra - rb)


def print_report(args, build_records, search_records, matched):
    rkey = f"recall_at_{args.k}"
    print("\n== build ==")
    cols = [
        ("system", "system", ""),
        ("build", "build", ""),
        ("build_seconds", "build s", ".2f"),
        ("ingest_seconds", "ingest s", ".2f"),
        ("peak_mb", "peak RSS MB", ".0f"),
        ("peak_over_input_mb", "peak-input MB", ".0f"),
        ("index_mb", "index MB", ".1f"),
        ("file_mb", "file MB", ".1f"),
    ]
    rows = []
    for r in build_records:
        rows.append(
            {
                **r,
                "peak_mb": _mb(r.get("build_peak_rss_bytes")),
                "peak_over_input_mb": (
                    _mb(r["build_peak_rss_bytes"] - r["rss_before_build_bytes"]) if "error" not in r else None
                ),
                "index_mb": _mb(r.get("index_bytes")),
                "file_mb": _mb(r.get("file_bytes")),
            }
        )
    print(common.format_table(rows, cols))
    by_build = {}
    for r in build_records:
        by_build.setdefault(r["build"], {})[r["system"]] = r
    for label, d in by_build.items():
        for r in d.values():
            if "error" in r:
                print(f"  {label}: {r['system']} build FAILED: {r['error']}")
        if "aftershock" in d and "seismic" in d and not any("error" in r for r in d.values()):
            a, s = d["aftershock"], d["seismic"]
            print(
                f"  {label}: build time ours/Seismic = {a['build_seconds'] / s['build_seconds']:.2f}x, "
                f"peak RSS ours/Seismic = {a['build_peak_rss_bytes'] / s['build_peak_rss_bytes']:.2f}x"
                + (
                    f", index bytes ours/Seismic = {a['index_bytes'] / s['index_bytes']:.2f}x"
                    if a.get("index_bytes") and s.get("index_bytes")
                    else ""
                )
            )
    print(f"\n== search (k={args.k}, 1 thread, {args.timing} timing, repeats={args.repeats}) ==")
    cols = [
        ("system", "system", ""),
        ("build", "build", ""),
        ("query_cut", "query_cut", "d"),
        ("heap_factor", "heap_factor", ".2f"),
        ("n_knn", "n_knn", "d"),
        ("mean_ms", "mean ms", ".3f"),
        ("p50_ms", "p50 ms", ".3f"),
        ("p99_ms", "p99 ms", ".3f"),
        ("batch_mean_ms", "batch ms/q", ".3f"),
        (rkey, f"recall@{args.k}", ".4f"),
    ]
    print(common.format_table(search_records, cols))
    print("\n== matched recall: fastest configuration reaching each target ==")
    for m in matched:
        parts = [f"recall >= {m['recall_target']:.2f} ({m['latency_metric']}):"]
        for key, val in m["best"].items():
            if val is None:
                parts.append(f"{key} not reached")
            else:
                parts.append(
                    f"{key} {val['latency_ms']:.3f} ms (r={val['recall']:.4f}, {val['build']}, "
                    f"qc={val['query_cut']}, hf={val['heap_factor']}, nk={val['n_knn']})"
                )
        if "ratio_ours_over_seismic" in m:
            parts.append(f"=> ours / Seismic = {m['ratio_ours_over_seismic']:.2f}x")
        if "ratio_interpolated" in m:
            parts.append(f"(interpolated on the Pareto frontier: {m['ratio_interpolated']:.2f}x)")
        print("  " + "  ".join(parts))


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
    g.add_argument("--n-postings", default="3500")
    g.add_argument("--centroid-fraction", default="0.1")
    g.add_argument("--min-cluster-size", default="2")
    g.add_argument("--summary-energy", default="0.4")
    g.add_argument("--max-fraction", default="1.5")
    g.add_argument("--knn", type=int, default=0, help="kNN-graph neighbours built per document")
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
    g.add_argument(
        "--aftershock-defaults",
        action="store_true",
        help="also build aftershock with its own defaults and search with its default query parameters",
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
    args.query_cuts = parse_list(args.query_cuts, int)
    args.heap_factors = parse_list(args.heap_factors, float)
    args.n_knn = parse_list(args.n_knn, int)
    args.recall_targets = parse_list(args.recall_targets, float)
    args.reuse_builds = set(parse_list(args.reuse_builds, str))
    seismic_sorted = [bool(int(x)) for x in parse_list(args.seismic_sorted, str)]

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

    grid = list(
        itertools.product(
            parse_list(args.n_postings, int),
            parse_list(args.centroid_fraction, float),
            parse_list(args.min_cluster_size, int),
            parse_list(args.summary_energy, float),
            parse_list(args.max_fraction, float),
        )
    )
    build_records, search_records = [], []
    for values in grid:
        params = dict(zip(BUILD_KEYS, values))
        params["knn"] = args.knn
        label = "np{}-cf{}-mcs{}-se{}-mf{}-knn{}".format(*values, args.knn)
        built = build_all(args, data, {**params, "seed": args.seed}, systems, label)
        runners = {}
        for system, (res, index) in built.items():
            build_records.append(
                {"kind": "build", "system": system, "build": label, **res, **data["info"], "meta": meta}
            )
            if index is None:
                continue
            if system == "aftershock":
                runners["aftershock"] = AftershockRunner(index, data["queries"], args.k)
            else:
                for flag in seismic_sorted:
                    name = "seismic" if len(seismic_sorted) == 1 else f"seismic-sorted{int(flag)}"
                    runners[name] = SeismicRunner(
                        index, data["queries"], args.k, data["queries_bin"], doc_rows, flag
                    )
        search_records += sweep(args, data, runners, label, params, meta)
        del built, runners
        gc.collect()

    if args.aftershock_defaults and "aftershock" in systems:
        search_records += run_aftershock_defaults(args, data, meta, build_records)

    matched = matched_recall(args, [r for r in search_records if r["build"] != "defaults"])
    for m in matched:
        m.update(data["info"])
        m["meta"] = meta
    print_report(args, build_records, search_records, matched)
    if args.out:
        common.write_jsonl(args.out, build_records + search_records + matched)
        print(f"\nwrote {len(build_records) + len(search_records) + len(matched)} JSON lines to {args.out}")
    return 0


def run_aftershock_defaults(args, data, meta, build_records) -> list[dict]:
    """aftershock with no tuning at all: default build, default search parameters."""
    spec_params = {"num_threads": args.build_threads}
    index_path = str(Path(args.work_dir) / f"{data['name']}-aftershock-defaults")
    spec = {
        "system": "aftershock",
        "docs": str(data["docs_path"]),
        "params": spec_params,
        "index": index_path,
    }
    res, _ = common.run_child(
        [str(Path(__file__).resolve()), "_build", json.dumps(spec)], timeout=args.build_timeout
    )
    res["params"] = spec_params
    build_records.append(
        {"kind": "build", "system": "aftershock", "build": "defaults", **res, **data["info"], "meta": meta}
    )
    import aftershock

    index = aftershock.SparseIndex.load(res["index_path"])
    rows = [data["queries"][i : i + 1] for i in range(data["queries"].shape[0])]
    ms, out = common.time_each(lambda q: index.search(q, args.k, num_threads=1), rows)
    ids = np.vstack([np.asarray(r.ids, dtype=np.int64).reshape(1, -1) for r in out])
    rec = {
        "kind": "search",
        "system": "aftershock",
        "build": "defaults",
        "query_cut": None,
        "heap_factor": None,
        "n_knn": None,
        "k": args.k,
        **data["info"],
        **common.latency_summary(ms),
        f"recall_at_{args.k}": recall(ids, data["gt"], args.k),
        "meta": meta,
    }
    return [rec]


if __name__ == "__main__":
    sys.exit(main())
