"""``aftershock demo``: generated data (recall and speed), or ``--real`` data (judged quality)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ._cli_io import CliError, Ragged, format_table, load_ragged, progress_bar


# ------------------------------------------------------------------------------ synthetic
def _demo_sparse(n_docs: int, n_queries: int, num_threads: int) -> None:
    from . import SparseIndex, exact_search
    from .datasets import recall_at_k, synthetic_sparse

    t = time.perf_counter()
    docs, queries = synthetic_sparse(n_docs, n_queries, seed=0)
    print(
        f"[sparse] generated {docs.shape[0]:,} SPLADE-like documents and {queries.shape[0]} queries "
        f"(vocabulary {docs.shape[1]:,}, {docs.nnz / docs.shape[0]:.0f} nonzeros/doc) in {time.perf_counter() - t:.1f} s"
    )
    t = time.perf_counter()
    index = SparseIndex.build(docs, num_threads=num_threads)
    print(f"[sparse] built {index} in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    truth = exact_search(docs, queries, 10, num_threads=1)
    exact_ms = (time.perf_counter() - t) * 1000 / n_queries
    index.search(queries[:10], 10, num_threads=1)  # warm up caches
    t = time.perf_counter()
    found = index.search(queries, 10, num_threads=1)
    ms = (time.perf_counter() - t) * 1000 / n_queries
    print(
        f"[sparse] default search: recall@10 {recall_at_k(found.ids, truth.ids, 10):.3f} vs exact, "
        f"{ms:.3f} ms/query on one thread (exact brute force: {exact_ms:.3f} ms/query, {exact_ms / ms:.1f}x slower)"
    )
    print(
        f"[sparse] first query's top 3: ids {found.ids[0, :3].tolist()} "
        f"scores {np.round(found.scores[0, :3], 3).tolist()}"
    )


def _demo_maxsim(n_docs: int, num_threads: int) -> None:
    from . import MultiVectorStore

    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 181, size=n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = [rng.standard_normal((32, 128)).astype(np.float32) for _ in range(8)]
    store = MultiVectorStore.build(vectors, offsets)
    store.search(queries[:1], 10, num_threads=1)
    t = time.perf_counter()
    result = store.search(queries, 10, num_threads=1)
    dt = time.perf_counter() - t
    print(
        f"[maxsim] exact MaxSim over {n_docs:,} documents ({int(offsets[-1]):,} tokens, dim 128): "
        f"{n_docs * len(queries) / dt:,.0f} documents/s on one thread; first query's best id {int(result.ids[0, 0])}"
    )


def demo_synthetic(n_docs: int, n_queries: int, num_threads: int) -> int:
    from . import simd_info

    info = simd_info()
    print(f"aftershock: SIMD level {info['active']} (supported: {', '.join(info['supported'])})")
    _demo_sparse(n_docs, n_queries, num_threads)
    _demo_maxsim(min(n_docs, 20_000), num_threads)
    return 0


# ----------------------------------------------------------------------------------- real
_SPARSE_FILES = ("docs.npz", "queries.npz")
_JUDGED_FILES = ("queries.jsonl", "qrels.tsv")


def _first(folder: Path, names) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _find_real(path: str | None) -> Path:
    """The data folder: ``path``, or the first ``shared/data/debian`` above the current directory."""
    from .datasets import _debian_candidates

    candidates = [Path(path)] if path else _debian_candidates(None)
    for base in candidates:
        if (
            all((base / "sparse" / n).is_file() for n in _SPARSE_FILES)
            and all((base / n).is_file() for n in _JUDGED_FILES)
            and _first(base, ("docs.jsonl.gz", "docs.jsonl")) is not None
        ):
            return base
    tried = ", ".join(str(c) for c in candidates[:3]) + (", ..." if len(candidates) > 3 else "")
    raise CliError(
        f"real data not found (need sparse/docs.npz, sparse/queries.npz, docs.jsonl[.gz], queries.jsonl, "
        f"qrels.tsv); tried: {tried}. Pass the 'debian' folder: aftershock demo --real PATH"
    )


def _find_multivector(base: Path, mv_dir: str | None = None) -> Path | None:
    """A folder of token vectors with its own ids and judgments (``build_datasets.py`` output)."""
    if mv_dir:
        candidates = (Path(mv_dir),)
    else:
        candidates = (base / "multivector", Path(os.path.expanduser("~/.cache/aftershock-data/debian")))
    for folder in candidates:
        needed = ("doc_offsets.npy", "query_offsets.npy", "queries.jsonl", "qrels.tsv")
        if (
            all((folder / n).is_file() for n in needed)
            and _first(folder, ("doc_vectors_128.npy", "doc_vectors.npy")) is not None
            and _first(folder, ("query_vectors_128.npy", "query_vectors.npy")) is not None
            and _first(folder, ("docs.jsonl", "docs.jsonl.gz")) is not None
        ):
            return folder
    if mv_dir:
        raise CliError(
            f"--mv-dir {mv_dir}: needs doc_vectors[_128].npy, doc_offsets.npy, query_vectors[_128].npy, "
            "query_offsets.npy, docs.jsonl, queries.jsonl and qrels.tsv"
        )
    return None


class _Table:
    def __init__(self, qrels, query_ids, doc_ids, truth_ids=None):
        self.rows: list[dict] = []
        self.qrels, self.query_ids, self.doc_ids = qrels, query_ids, doc_ids
        self.truth_ids = truth_ids

    def add(self, system: str, result, seconds: float, threads: str, n: int) -> dict:
        from .datasets import recall_at_k
        from .evaluation import evaluate, run_from_result

        run = run_from_result(result, query_ids=self.query_ids[:n], doc_ids=self.doc_ids)
        qrels = {q: self.qrels[q] for q in self.query_ids[:n] if q in self.qrels}
        metrics = evaluate(run, qrels)
        if self.truth_ids is None:
            self.truth_ids = result.ids
        row = {
            "system": system,
            **metrics,
            "recall@10 vs exact": recall_at_k(result.ids, self.truth_ids, 10),
            "ms/query": seconds * 1000 / n,
            "threads": threads,
        }
        self.rows.append(row)
        return row


def _timed(call):
    t = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t


def demo_real(
    path: str | None,
    *,
    num_threads: int = 0,
    n_queries: int | None = None,
    mv_queries: int | None = None,
    mv_dir: str | None = None,
    multivector: bool = True,
) -> int:
    """Build both engines on the real set, search its queries, print judged quality."""
    from . import MultiVectorIndex, SparseIndex, exact_search, simd_info
    from ._cli_io import load_csr
    from .evaluation import read_ids, read_qrels

    base = _find_real(path)
    threads = str(num_threads) if num_threads else f"all ({os.cpu_count()})"
    print(f"aftershock: SIMD level {simd_info()['active']}; data {base}")
    docs = load_csr(str(base / "sparse" / "docs.npz"), "documents")
    queries = load_csr(str(base / "sparse" / "queries.npz"), "queries")
    if docs.shape[1] != queries.shape[1]:
        raise CliError(f"{base}/sparse: documents have {docs.shape[1]} columns, queries {queries.shape[1]}")
    doc_ids = read_ids(_first(base, ("docs.jsonl.gz", "docs.jsonl")))
    query_ids = read_ids(base / "queries.jsonl")
    qrels = read_qrels(base / "qrels.tsv")
    if len(doc_ids) != docs.shape[0] or len(query_ids) != queries.shape[0]:
        raise CliError(f"{base}: docs.jsonl / queries.jsonl do not have one line per matrix row")
    n = queries.shape[0] if n_queries is None else max(1, min(n_queries, queries.shape[0]))
    queries = queries[:n]
    print(
        f'[sparse] {docs.shape[0]:,} documents, {n} queries; run ids: "id" of docs.jsonl / queries.jsonl '
        f"(line i = matrix row i), judged by qrels.tsv ({sum(len(v) for v in qrels.values())} judgments)"
    )
    index, seconds = _timed(lambda: SparseIndex.build(docs, num_threads=num_threads))
    print(f"[sparse] built {index} in {seconds:.1f} s")
    table = _Table(qrels, query_ids, doc_ids)
    exact, seconds = _timed(lambda: exact_search(docs, queries, 100, num_threads=num_threads))
    table.add("sparse exact (exact_search)", exact, seconds, threads, n)
    index.search(queries[:16], 100, num_threads=num_threads)
    found, seconds = _timed(lambda: index.search(queries, 100, num_threads=num_threads))
    table.add("SparseIndex, default search", found, seconds, threads, n)
    print(format_table(table.rows))

    if not multivector:
        return 0
    mv_dir = _find_multivector(base, mv_dir)
    if mv_dir is None:
        print(
            "[multivector] token vectors not found (<data>/multivector or ~/.cache/aftershock-data/debian; "
            "see shared/data/README.md to build them): skipped"
        )
        return 0
    _demo_real_multivector(
        mv_dir,
        num_threads,
        threads,
        mv_queries,
        read_ids,
        read_qrels,
        MultiVectorIndex,
        sparse_rows=table.rows,
    )
    return 0


def _demo_real_multivector(
    folder: Path,
    num_threads: int,
    threads: str,
    mv_queries,
    read_ids,
    read_qrels,
    MultiVectorIndex,
    sparse_rows,
) -> None:
    import aftershock

    vec_path = _first(folder, ("doc_vectors_128.npy", "doc_vectors.npy"))
    qvec_path = _first(folder, ("query_vectors_128.npy", "query_vectors.npy"))
    docs = load_ragged(str(vec_path), str(folder / "doc_offsets.npy"), "documents", "doc_offsets.npy")
    queries = load_ragged(str(qvec_path), str(folder / "query_offsets.npy"), "queries", "query_offsets.npy")
    doc_ids = read_ids(_first(folder, ("docs.jsonl", "docs.jsonl.gz")))
    query_ids = read_ids(folder / "queries.jsonl")
    qrels = read_qrels(folder / "qrels.tsv")
    if len(doc_ids) != docs.n or len(query_ids) != queries.n:
        raise CliError(f"{folder}: docs.jsonl / queries.jsonl do not have one line per token set")
    n = queries.n if mv_queries is None else max(1, min(mv_queries, queries.n))
    queries = queries.rows(0, n)
    print(
        f"[multivector] {folder}: its own corpus ({docs.n:,} passages, {docs.vectors.shape[0]:,} tokens, "
        f"dim {docs.vectors.shape[1]}), {n} queries and qrels.tsv (a different sample from the sparse set's)"
    )
    index, seconds = _timed(
        lambda: MultiVectorIndex.build(docs.vectors, docs.offsets, precision="fp16", num_threads=num_threads)
    )
    print(f"[multivector] built {index} in {seconds:.1f} s")
    table = _Table(qrels, query_ids, doc_ids)
    q = np.asarray(queries.vectors)

    def batched(call, desc):
        parts = []
        with progress_bar(total=n, desc=desc, unit="q") as bar:
            for lo in range(0, n, 100):
                hi = min(n, lo + 100)
                sub = queries.rows(lo, hi)
                parts.append(call(np.asarray(sub.vectors), sub.offsets))
                bar.update(hi - lo)
        return aftershock.SearchResult(
            np.concatenate([p.scores for p in parts]), np.concatenate([p.ids for p in parts])
        )

    exact, seconds = _timed(
        lambda: batched(
            lambda v, o: index.search_exact(v, 100, query_offsets=o, num_threads=num_threads), "exact MaxSim"
        )
    )
    table.add("exact MaxSim (fp16 tokens)", exact, seconds, threads, n)
    index.search(
        q[: int(queries.offsets[min(n, 16)])],
        100,
        query_offsets=queries.offsets[: min(n, 16) + 1],
        num_threads=num_threads,
    )
    found, seconds = _timed(
        lambda: index.search(q, 100, query_offsets=queries.offsets, num_threads=num_threads)
    )
    table.add(f"MultiVectorIndex ({index.method}), default search", found, seconds, threads, n)
    note = _pipeline_rows(folder, table, docs, index, queries, num_threads, threads, n)
    print(format_table(table.rows))
    if note:
        print(f"[pipeline] {note}")


def _pipeline_rows(
    folder, table, docs: Ragged, mv_index, queries: Ragged, num_threads, threads, n
) -> str | None:
    """Rows for :class:`aftershock.Pipeline` (sparse candidates, exact MaxSim rerank; and sparse +
    multi-vector fused) when this version has it and the multi-vector folder holds sparse encodings
    of its own documents and queries (``sparse/docs.npz``, ``sparse/queries.npz``: rows = its rows)."""
    import aftershock

    pipeline_cls = getattr(aftershock, "Pipeline", None)
    if pipeline_cls is None:
        return "aftershock.Pipeline is not in this version: skipped"
    sparse_dir = folder / "sparse"
    if not all((sparse_dir / name).is_file() for name in _SPARSE_FILES):
        return (
            f"needs sparse encodings of this set's own documents and queries ({sparse_dir}/docs.npz and "
            f"queries.npz, rows = this folder's rows; benchmarks/python/pipeline_data.py writes them): skipped"
        )
    import scipy.sparse as sp

    try:
        sparse_docs = sp.load_npz(sparse_dir / "docs.npz").tocsr().astype(np.float32)
        sparse_queries = sp.load_npz(sparse_dir / "queries.npz").tocsr().astype(np.float32)[:n]
        if sparse_docs.shape[0] != docs.n or sparse_queries.shape[0] != n:
            return f"{sparse_dir}: its rows do not match the token files' ({sparse_docs.shape[0]} documents): skipped"
        first, seconds = _timed(lambda: aftershock.SparseIndex.build(sparse_docs, num_threads=num_threads))
        print(f"[pipeline] first stage {first} built in {seconds:.1f} s")
        store = aftershock.MultiVectorStore.build(
            docs.vectors, docs.offsets, precision="fp16", num_threads=num_threads
        )
        q = np.asarray(queries.vectors)
        configs = [(f"Pipeline: sparse -> MaxSim rerank of {c}", first, c, 0.0) for c in (50, 100, 200)]
        configs.append(("Pipeline: sparse -> rerank of 200, interpolate 0.1", first, 200, 0.1))
        for c in (100, 200):
            configs.append((f"Pipeline: sparse + MultiVectorIndex (RRF) -> rerank of {c}", [first, mv_index], c, 0.0))
        # the hybrid ranking: z(MaxSim) + 0.1 z(sparse score) (Pipeline's `interpolate`)
        configs.append(("Pipeline: sparse + MultiVectorIndex (RRF) -> rerank of 100, interpolate 0.1",
                        [first, mv_index], 100, 0.1))
        for name, stages, n_candidates, interpolate in configs:
            pipe = pipeline_cls(stages, store, n_candidates=n_candidates, interpolate=interpolate)
            result, seconds = _timed(
                lambda pipe=pipe: pipe.search(
                    sparse_queries, q, 100, token_offsets=queries.offsets, num_threads=num_threads
                )
            )
            table.add(name, result, seconds, threads, n)
    except Exception as e:  # noqa: BLE001 - another part's API; report it, never fail the demo
        return f"Pipeline did not run with the API this demo expects ({type(e).__name__}: {e})"
    return None
