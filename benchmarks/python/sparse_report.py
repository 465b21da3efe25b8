"""bench_sparse.py, reporting: the readable tables on stdout (build, search sweep, matched
recall with the ours / Seismic ratios). The JSON lines are written by bench_sparse.main."""

from __future__ import annotations

import common

# Every column of the two tables: record key -> (header, format spec).
COLUMNS = {
    "system": ("system", ""),
    "build": ("build", ""),
    "build_seconds": ("build s", ".2f"),
    "ingest_seconds": ("ingest s", ".2f"),
    "peak_mb": ("peak RSS MB", ".0f"),
    "peak_over_input_mb": ("peak-input MB", ".0f"),
    "index_mb": ("index MB", ".1f"),
    "file_mb": ("file MB", ".1f"),
    "query_cut": ("query_cut", "d"),
    "heap_factor": ("heap_factor", ".2f"),
    "n_knn": ("n_knn", "d"),
    "mean_ms": ("mean ms", ".3f"),
    "p50_ms": ("p50 ms", ".3f"),
    "p99_ms": ("p99 ms", ".3f"),
    "batch_mean_ms": ("batch ms/q", ".3f"),
}
BUILD_TABLE = (
    "system", "build", "build_seconds", "ingest_seconds", "peak_mb", "peak_over_input_mb", "index_mb", "file_mb"
)
SEARCH_TABLE = ("system", "build", "query_cut", "heap_factor", "n_knn", "mean_ms", "p50_ms", "p99_ms", "batch_mean_ms")


def columns(keys) -> list[tuple[str, str, str]]:
    """(key, header, format spec) triples for common.format_table."""
    return [(key, *COLUMNS[key]) for key in keys]


def print_report(args, build_records, search_records, matched):
    rkey = f"recall_at_{args.k}"
    print("\n== build ==")
    cols = columns(BUILD_TABLE)
    rows = []
    for r in build_records:
        rows.append(
            {
                **r,
                "peak_mb": common.mib(r.get("build_peak_rss_bytes")),
                "peak_over_input_mb": (
                    common.mib(r["build_peak_rss_bytes"] - r["rss_before_build_bytes"]) if "error" not in r else None
                ),
                "index_mb": common.mib(r.get("index_bytes")),
                "file_mb": common.mib(r.get("file_bytes")),
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
    cols = [*columns(SEARCH_TABLE), (rkey, f"recall@{args.k}", ".4f")]
    print(common.format_table(search_records, cols))
    print("\n== matched recall: fastest configuration reaching each target ==")
    for m in matched:
        scope = "aftershock default build" if m.get("aftershock_builds") == "default" else "every build"
        parts = [f"[{scope}] recall >= {m['recall_target']:.2f} ({m['latency_metric']}):"]
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
        if "build_seconds_ratio" in m:
            parts.append(f"build time {m['build_seconds_ratio']:.2f}x")
        if "index_bytes_ratio" in m:
            parts.append(f"index bytes {m['index_bytes_ratio']:.2f}x")
        print("  " + "  ".join(parts))
