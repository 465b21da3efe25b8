"""The ``aftershock`` command line (also ``python -m aftershock``).

::

    aftershock build sparse|multivector|store INPUT -o INDEX [build parameters]
    aftershock search INDEX QUERIES -k 10 -o run.trec [--doc-ids FILE] [--query-ids FILE]
    aftershock eval run.trec qrels.tsv [--json]
    aftershock tune INDEX QUERIES --target-recall 0.95 -k 10 [-o TUNED_INDEX]
    aftershock bench INDEX QUERIES [-k 10] [--plot out.png]
    aftershock info [INDEX]
    aftershock demo [--real [DATA_DIR]]

A bad path or a malformed file ends the command with a one-line message and exit code 2.
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from ._cli_io import (
    CliError,
    Ragged,
    format_table,
    index_kind,
    load_csr,
    load_index,
    load_queries,
    load_ragged,
    n_queries,
    os_message,
    progress_bar,
    query_rows,
    search,
    search_batched,
)

# Build parameters of each kind, as (keyword, type, help); flags are --keyword-with-dashes.
# Unset flags are not passed, so the library's defaults apply.
_SPARSE_BUILD = [
    ("n_postings", int, "postings per inverted list (default: derived from the corpus)"),
    ("centroid_fraction", float, "clusters per list as a fraction of its length"),
    ("min_cluster_size", int, "smaller clusters are dissolved"),
    ("summary_energy", float, "fraction of each block summary's mass kept"),
    ("max_fraction", float, "with pruning=global, a list keeps at most max_fraction * n_postings"),
    ("pruning", str, "global | fixed"),
    ("precision", str, "forward-index weights: fp16 | fp32"),
    ("knn", int, "neighbours per document in a kNN graph (0 = none)"),
]
_MULTIVECTOR_BUILD = [
    ("method", str, "centroid | muvera"),
    ("precision", str, "stored tokens: fp32 | fp16 | bf16 | int8"),
    ("pool_factor", float, "token pooling factor (1 = off)"),
    ("pool_iters", int, "k-means iterations per pooled document"),
    ("n_centroids", int, "centroid: number of token centroids"),
    ("kmeans_iters", int, "centroid: Lloyd iterations"),
    ("kmeans_points_per_centroid", int, "centroid: k-means sample per centroid"),
    ("k_sim", int, "muvera: SimHash bits per repetition"),
    ("r_reps", int, "muvera: repetitions"),
    ("d_proj", int, "muvera: values per partition block"),
    ("fill_empty", "bool", "muvera: fill empty partitions (true | false)"),
    ("final_dim", int, "muvera: count-sketch dimension (0 = none)"),
    ("fde_precision", str, "muvera: int8 | fp32"),
]
_STORE_BUILD = [("precision", str, "stored tokens: fp32 | fp16 | bf16 | int8")]
# Search parameters of each kind (multi-vector: the centroid-only ones are refused by muvera).
_SPARSE_SEARCH = [
    ("query_cut", int, "sparse: heaviest query terms whose lists are walked"),
    ("heap_factor", float, "sparse: block skipping threshold factor"),
    ("n_knn", int, "sparse: kNN neighbours scored per result"),
]
_MULTIVECTOR_SEARCH = [
    ("n_candidates", int, "multivector: documents reranked exactly per query"),
    ("n_probe", int, "multivector centroid: centroids probed per query token"),
    ("n_interaction", int, "multivector centroid: documents kept for the centroid interaction"),
    ("bitvector_threshold", float, "multivector centroid: prefilter threshold"),
    ("n_bitvector", int, "multivector centroid: documents kept by the prefilter"),
]
_SEARCH_OF_KIND = {
    "SparseIndex": _SPARSE_SEARCH,
    "MultiVectorIndex": _MULTIVECTOR_SEARCH,
    "MultiVectorStore": [],
}


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_params(parser, specs, group_title: str) -> None:
    group = parser.add_argument_group(group_title)
    for name, kind, help_text in specs:
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_bool if kind == "bool" else kind,
            default=None,
            help=help_text,
        )


def _given(args, specs) -> dict:
    return {name: getattr(args, name) for name, _, _ in specs if getattr(args, name, None) is not None}


def _search_params(args, kind: str) -> dict:
    """The search flags given, checked against the index kind."""
    given = _given(args, _SPARSE_SEARCH + _MULTIVECTOR_SEARCH)
    allowed = {name for name, _, _ in _SEARCH_OF_KIND[kind]}
    wrong = [name for name in given if name not in allowed]
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        raise CliError(f"{flags}: not a search parameter of a {kind}")
    return given


def _read_ids(path: str | None, n: int, what: str):
    if path is None:
        return None
    from .evaluation import read_ids

    ids = read_ids(path)
    if len(ids) != n:
        raise CliError(f"{path}: {len(ids)} ids, but the {what} have {n} rows (line i names row i)")
    return ids


# ------------------------------------------------------------------------------ commands
def _cmd_build(args) -> int:
    from . import MultiVectorIndex, MultiVectorStore, SparseIndex

    t = time.perf_counter()
    common = {"num_threads": args.num_threads}
    own = {"sparse": _SPARSE_BUILD, "multivector": _MULTIVECTOR_BUILD, "store": _STORE_BUILD}[args.kind]
    wrong = set(_given(args, _SPARSE_BUILD + _MULTIVECTOR_BUILD)) - {name for name, _, _ in own}
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in sorted(wrong))
        raise CliError(f"{flags}: not a build parameter of {args.kind}")
    if args.kind == "sparse":
        if args.offsets is not None:
            raise CliError("--offsets: only for multivector and store builds")
        docs = load_csr(args.input, "INPUT")
        params = _given(args, _SPARSE_BUILD)
        index = SparseIndex.build(docs, seed=args.seed, verbose=args.verbose, **common, **params)
    else:
        if args.input.endswith(".npz"):
            raise CliError(
                f"{args.input}: a {args.kind} build takes .npy token vectors with --offsets, not a sparse .npz"
            )
        ragged = load_ragged(args.input, args.offsets, "INPUT", "--offsets")
        if args.kind == "multivector":
            params = _given(args, _MULTIVECTOR_BUILD)
            index = MultiVectorIndex.build(
                ragged.vectors, ragged.offsets, seed=args.seed, verbose=args.verbose, **common, **params
            )
        else:
            params = _given(args, _STORE_BUILD)
            index = MultiVectorStore.build(ragged.vectors, ragged.offsets, **common, **params)
    index.save(args.output)
    print(f"built {index} in {time.perf_counter() - t:.1f} s -> {args.output}", file=sys.stderr)
    return 0


def _cmd_search(args) -> int:
    from .evaluation import write_run

    kind = index_kind(args.index)
    params = _search_params(args, kind)
    if args.target_recall is not None:
        params["target_recall"] = args.target_recall
    queries = load_queries(kind, args.queries, args.query_offsets)
    query_ids = _read_ids(args.query_ids, n_queries(queries), "queries")
    index = load_index(args.index)
    doc_ids = _read_ids(args.doc_ids, index.n_docs, "index's documents")
    t = time.perf_counter()
    result = search_batched(index, queries, args.k, params, args.num_threads)
    seconds = time.perf_counter() - t
    out = sys.stdout if args.output == "-" else args.output
    lines = write_run(out, result, query_ids=query_ids, doc_ids=doc_ids, tag=args.tag)
    n = n_queries(queries)
    if args.output != "-":
        print(
            f"searched {n} queries in {seconds:.2f} s ({seconds * 1000 / max(n, 1):.3f} ms/query); "
            f"{lines} lines -> {args.output}",
            file=sys.stderr,
        )
    return 0


def _cmd_eval(args) -> int:
    from .evaluation import DEFAULT_METRICS, evaluate, parse_metric, read_qrels, read_run

    metrics = args.metric or list(DEFAULT_METRICS)
    for m in metrics:
        parse_metric(m)
    run = read_run(args.run)
    qrels = read_qrels(args.qrels)
    means, table = evaluate(run, qrels, metrics, complete=not args.only_run_queries, per_query=True)
    missing = sum(1 for q in qrels if q not in run)
    unjudged = sum(1 for q in run if q not in qrels)
    if args.json:
        out = {**means, "n_queries": len(table), "missing_from_run": missing, "unjudged_in_run": unjudged}
        if args.per_query:
            out["per_query"] = table
        print(json.dumps(out))
        return 0
    if args.per_query:
        for qid, values in table.items():
            for name, value in values.items():
                print(f"{name}\t{qid}\t{value:.4f}")
    width = max(len(m) for m in metrics)
    for name, value in means.items():
        print(f"{name:<{width}}  all  {value:.4f}")
    print(f"{'queries':<{width}}  all  {len(table)}")
    if missing:
        note = "not evaluated" if args.only_run_queries else "counted as 0"
        print(f"note: {missing} judged queries have no results in the run ({note})", file=sys.stderr)
    if unjudged:
        print(f"note: {unjudged} queries of the run have no judgments (ignored)", file=sys.stderr)
    return 0


def _cmd_tune(args) -> int:
    kind = index_kind(args.index)
    index = load_index(args.index)
    if not hasattr(index, "tune"):
        raise CliError(f"{args.index}: this aftershock version's {kind} has no tune(); upgrade aftershock")
    queries = load_queries(kind, args.queries, args.query_offsets)
    batch = queries.as_list() if isinstance(queries, Ragged) else queries
    extra = {}
    if args.sample is not None:
        extra["sample"] = args.sample
    if args.max_ms is not None:
        extra["max_ms"] = args.max_ms
    table = index.tune(
        batch, target_recall=args.target_recall, k=args.k, num_threads=args.num_threads, **extra
    )
    rows = _rows_of(table)
    if args.json:
        print(json.dumps(rows if rows is not None else table, default=_json_default))
    elif rows is not None:
        print(format_table(rows))
    else:
        print(table)
    for name in ("reached", "params", "best", "chosen"):
        if hasattr(table, name) and not callable(getattr(table, name)):
            print(f"{name}: {json.dumps(getattr(table, name), default=_json_default)}", file=sys.stderr)
    info = index.info()
    print(
        f"search defaults now: {json.dumps(info.get('search', {}), default=_json_default)}", file=sys.stderr
    )
    if args.output:
        index.save(args.output)
        print(f"tuned index -> {args.output}", file=sys.stderr)
    else:
        print("not saved (pass -o FILE to save the index with its tuned defaults)", file=sys.stderr)
    return 0


def _rows_of(table):
    """A list of dict rows from whatever tune() returns: an object with ``table()`` (TuneResult),
    a list of dicts, a dict holding one, or a DataFrame."""
    if callable(getattr(table, "table", None)):
        rows = table.table()
        if isinstance(rows, (list, tuple)) and all(isinstance(r, dict) for r in rows):
            return list(rows)
    if hasattr(table, "to_dict"):
        try:
            return table.to_dict("records")
        except TypeError:
            pass
    if isinstance(table, (list, tuple)) and all(isinstance(r, dict) for r in table):
        return list(table)
    if isinstance(table, dict):
        for value in table.values():
            if isinstance(value, (list, tuple)) and value and all(isinstance(r, dict) for r in value):
                return list(value)
    return None


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _sweep_grid(args, index, kind: str) -> list[dict]:
    if kind == "SparseIndex":
        cuts = args.query_cut or [3, 5, 8, 10, 15, 20]
        factors = args.heap_factor or [0.6, 0.7, 0.8, 0.9, 1.0]
        return [{"query_cut": c, "heap_factor": h} for c in cuts for h in factors]
    if kind == "MultiVectorIndex":
        cap = max(index.n_docs, 1)
        if index.method == "centroid":
            candidates = args.n_candidates or [64, 128, 256, 512, 1024]
            probes = args.n_probe or [1, 2, 4, 8]
            grid = [{"n_probe": p, "n_candidates": min(c, cap)} for p in probes for c in candidates]
        else:
            candidates = args.n_candidates or [128, 256, 512, 1024, 2048, 4096]
            grid = [{"n_candidates": min(c, cap)} for c in candidates]
        unique = []
        for g in grid:
            if g not in unique:
                unique.append(g)
        return unique
    raise CliError(f"{args.index}: a {kind} searches exactly; bench sweeps the parameters of an index")


def pareto(rows: list[dict], recall_key: str, ms_key: str = "ms_per_query") -> list[dict]:
    """The configurations no other one beats on both recall and latency, fastest first."""
    front, best = [], -1.0
    for row in sorted(rows, key=lambda r: (r[ms_key], -r[recall_key])):
        if row[recall_key] > best:
            front.append(row)
            best = row[recall_key]
    return front


def _cmd_bench(args) -> int:
    from .datasets import recall_at_k

    kind = index_kind(args.index)
    if args.plot is not None:
        _check_matplotlib()
    index = load_index(args.index)
    queries = load_queries(kind, args.queries, args.query_offsets)
    grid = _sweep_grid(args, index, kind)
    nq = n_queries(queries)
    if nq == 0:
        raise CliError(f"{args.queries}: no queries")
    k = args.k
    if hasattr(index, "search_exact"):
        truth = search(index, queries, k, {}, 0, exact=True)
    elif args.docs is not None:
        from . import exact_search

        truth = exact_search(load_csr(args.docs, "--docs"), queries, k)
    else:
        raise CliError("a sparse bench needs --docs DOCS.npz (the indexed documents) for exact search")
    search(index, query_rows(queries, 0, min(nq, 32)), k, grid[0], args.num_threads)  # warm up
    rows = []
    recall_key = f"recall@{k}"
    with progress_bar(total=len(grid), desc="bench", unit="config") as bar:
        for params in grid:
            best = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                result = search(index, queries, k, params, args.num_threads)
                best = min(best, time.perf_counter() - t)
            rows.append(
                {**params, recall_key: recall_at_k(result[1], truth[1], k), "ms_per_query": best * 1000 / nq}
            )
            bar.update(1)
    front = pareto(rows, recall_key)
    shown = rows if args.all else front
    if args.json:
        for row in rows:
            print(
                json.dumps(
                    {
                        **row,
                        "pareto": row in front,
                        "kind": kind,
                        "num_threads": args.num_threads,
                        "n_queries": nq,
                        "k": k,
                    },
                    default=_json_default,
                )
            )
    else:
        title = "all configurations" if args.all else "Pareto frontier"
        print(
            f"{kind} {args.index}: {title}, {nq} queries, {args.num_threads or 'all'} thread(s), "
            f"recall@{k} against exact search"
        )
        print(format_table(shown))
    if args.plot is not None:
        _plot(args.plot, rows, front, recall_key, f"{kind}: {nq} queries, k={k}")
        print(f"plot -> {args.plot}", file=sys.stderr)
    return 0


def _check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install 'aftershock[plot]'") from None


def _plot(path: str, rows: list[dict], front: list[dict], recall_key: str, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(
        [r["ms_per_query"] for r in rows],
        [r[recall_key] for r in rows],
        s=14,
        color="0.65",
        label="configurations",
    )
    ax.plot(
        [r["ms_per_query"] for r in front],
        [r[recall_key] for r in front],
        "o-",
        color="C0",
        label="Pareto frontier",
    )
    ax.set_xlabel("ms per query")
    ax.set_ylabel(recall_key + " vs exact")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as e:
        raise CliError(os_message(e, path)) from None


def _cmd_info(args) -> int:
    from . import simd_info

    if args.index is None:
        print(json.dumps(simd_info(), indent=2))
        return 0
    index = load_index(args.index)
    print(json.dumps(index.info(), indent=2, default=_json_default))
    return 0


def _cmd_demo(args) -> int:
    if args.real is not None:
        from ._cli_demo import demo_real

        return demo_real(
            args.real or None,
            num_threads=args.num_threads,
            n_queries=args.real_queries,
            mv_queries=args.mv_queries,
            mv_dir=args.mv_dir,
            multivector=not args.skip_multivector,
        )
    from ._cli_demo import demo_synthetic

    return demo_synthetic(args.n_docs, args.n_queries, args.num_threads)


# -------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aftershock", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "build", help="build an index from .npz (sparse) or .npy + offsets (multi-vector) files"
    )
    p.add_argument("kind", choices=("sparse", "multivector", "store"))
    p.add_argument(
        "input", help="sparse: a scipy CSR .npz; multivector/store: .npy token vectors [total, dim]"
    )
    p.add_argument("-o", "--output", required=True, help="the index file to write")
    p.add_argument("--offsets", help="multivector/store: .npy int offsets [n_docs + 1]")
    p.add_argument("--num-threads", type=int, default=0, help="0 = all cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true", help="print the build's progress to stderr")
    _add_params(p, _SPARSE_BUILD, "sparse parameters (SparseIndex.build)")
    _add_params(
        p,
        [s for s in _MULTIVECTOR_BUILD if s[0] != "precision"],
        "multivector parameters (MultiVectorIndex.build; --precision applies too)",
    )
    p.set_defaults(handler=_cmd_build)

    def add_queries(p):
        p.add_argument("index", help="an index file (its kind is read from the file)")
        p.add_argument("queries", help="sparse: a scipy CSR .npz; multivector: .npy token vectors")
        p.add_argument("--query-offsets", help="multivector: .npy int offsets [n_queries + 1]")
        p.add_argument("-k", type=int, default=10, help="results per query (default 10)")

    p = sub.add_parser("search", help="search an index, write a TREC run")
    add_queries(p)
    p.add_argument("-o", "--output", default="-", help="the run file (default: stdout)")
    p.add_argument("--doc-ids", help='ids file: line i names document row i (text, or .jsonl with "id")')
    p.add_argument("--query-ids", help='ids file: line i names query row i (text, or .jsonl with "id")')
    p.add_argument("--tag", default="aftershock", help="run tag (last column)")
    p.add_argument("--num-threads", type=int, default=0, help="0 = all cores")
    p.add_argument("--target-recall", type=float, help="use the index's tuned settings (if tuned)")
    _add_params(p, _SPARSE_SEARCH + _MULTIVECTOR_SEARCH, "search parameters (default: the index's)")
    p.set_defaults(handler=_cmd_search)

    p = sub.add_parser("eval", help="MRR@10, nDCG@10, recall@100 of a TREC run against qrels")
    p.add_argument("run", help="TREC run: qid Q0 docid rank score tag")
    p.add_argument(
        "qrels", help="TREC qrels (qid 0 docid rel) or BEIR tsv (query-id corpus-id score, header)"
    )
    p.add_argument("-m", "--metric", action="append", help="MRR@k, nDCG@k or recall@k (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-q", "--per-query", action="store_true", help="also each query's values")
    p.add_argument(
        "--only-run-queries",
        action="store_true",
        help="average over the judged queries present in the run (trec_eval without -c); "
        "default: every judged query, missing ones scoring 0",
    )
    p.set_defaults(handler=_cmd_eval)

    p = sub.add_parser("tune", help="find the fastest search settings reaching a recall target")
    add_queries(p)
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument("--sample", type=int, help="queries to tune on (passed to tune)")
    p.add_argument("--max-ms", type=float, help="latency budget per query (passed to tune)")
    p.add_argument("--num-threads", type=int, default=1, help="threads of the timed searches (default 1)")
    p.add_argument("-o", "--output", help="save the tuned index here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_cmd_tune)

    p = sub.add_parser("bench", help="sweep search parameters: recall vs exact and ms/query, Pareto table")
    add_queries(p)
    p.add_argument("--docs", help="sparse: the indexed documents' .npz, for exact search")
    p.add_argument("--num-threads", type=int, default=1, help="search threads (default 1; 0 = all cores)")
    p.add_argument(
        "--repeat", type=int, default=1, help="timed passes per configuration (the fastest counts)"
    )
    p.add_argument("--query-cut", type=_ints, help="sparse: comma-separated values")
    p.add_argument("--heap-factor", type=_floats, help="sparse: comma-separated values")
    p.add_argument("--n-probe", type=_ints, help="multivector centroid: comma-separated values")
    p.add_argument("--n-candidates", type=_ints, help="multivector: comma-separated values")
    p.add_argument("--all", action="store_true", help="print every configuration, not only the frontier")
    p.add_argument("--json", action="store_true", help="one JSON line per configuration")
    p.add_argument("--plot", help="write a recall-latency plot (PNG; needs the [plot] extra)")
    p.set_defaults(handler=_cmd_bench)

    p = sub.add_parser("info", help="an index's configuration, or (without INDEX) this build's SIMD levels")
    p.add_argument("index", nargs="?")
    p.set_defaults(handler=_cmd_info)

    p = sub.add_parser(
        "demo", help="build and query indexes on generated data (or --real data), report quality"
    )
    p.add_argument("--n-docs", type=int, default=30_000)
    p.add_argument("--n-queries", type=int, default=200)
    p.add_argument("--num-threads", type=int, default=0)
    p.add_argument(
        "--real",
        nargs="?",
        const="",
        metavar="DATA_DIR",
        help="the real Debian set (default: the first shared/data/debian found above the current "
        "directory); judged quality against its qrels.tsv",
    )
    p.add_argument("--real-queries", type=int, help="--real: use only the first N queries")
    p.add_argument(
        "--mv-queries", type=int, default=None, help="--real: queries of the multi-vector part (default: all)"
    )
    p.add_argument(
        "--mv-dir",
        help="--real: the token vectors' folder (default: DATA_DIR/multivector, then "
        "~/.cache/aftershock-data/debian)",
    )
    p.add_argument("--skip-multivector", action="store_true", help="--real: the sparse part only")
    p.set_defaults(handler=_cmd_demo)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0, or 2 on a user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2), already printed
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    if getattr(args, "k", 1) < 1:
        return _fail("-k: expected >= 1")
    try:
        return args.handler(args)
    except CliError as e:
        return _fail(str(e))
    except BrokenPipeError:  # the reader of stdout went away (e.g. `| head`): stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except OSError as e:
        return _fail(os_message(e))
    except (ValueError, TypeError, IndexError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print("aftershock: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    print(f"aftershock: error: {' '.join(message.split())}", file=sys.stderr)
    return 2
