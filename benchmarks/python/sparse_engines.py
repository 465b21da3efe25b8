"""bench_sparse.py, engines: aftershock and pyseismic-lsr behind one interface. Each build
runs alone in a child process (``bench_sparse.py _build SPEC``) so its time and peak memory
belong to it; the parent loads the saved index and queries it through a runner."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import common

# The command-line script the build children run.
BENCH_SCRIPT = Path(__file__).resolve().with_name("bench_sparse.py")


def index_size_bytes(index) -> int:
    """In-memory size of an aftershock SparseIndex: the one place naming that attribute."""
    return int(index.size_bytes)


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
        result["index_bytes"] = index_size_bytes(index)
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
# Parent: build every system in a child, load what it saved.
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
                out[system] = (res, load_index(system, res["index_path"]))
                continue
        print(f"[build] {system} {label}: {json.dumps(spec['params'])}", file=sys.stderr)
        try:
            res, stdout = common.run_child(
                [str(BENCH_SCRIPT), "_build", json.dumps(spec)],
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
            f"[build] {system}: {res['build_seconds']:.2f} s, peak {common.mib(res['build_peak_rss_bytes']):.0f} MB",
            file=sys.stderr,
        )
        out[system] = (res, load_index(system, res["index_path"]))
    return out


def load_index(system: str, path: str):
    if system == "aftershock":
        import aftershock

        return aftershock.SparseIndex.load(path)
    import seismic

    return seismic.SeismicIndexRaw.load(path)


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
