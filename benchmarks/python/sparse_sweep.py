"""bench_sparse.py, sweep and timing: every query_cut x heap_factor x n_knn configuration
timed per query and/or as one batch, recall against exact search, the fastest configuration
per recall target."""

from __future__ import annotations

import itertools
import numpy as np

import common


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
            if nk > 0 and build_params.get("knn", 0) == 0:  # no graph (None: the library's default one)
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
