"""Learned sparse retrieval (Seismic-style): :class:`SparseIndex` and :func:`exact_search`."""

from __future__ import annotations

import numpy as np

from . import _core
from . import tuning as _tuning
from ._base import CoreBacked
from ._compat import warn_renamed
from ._living import Living, check_ids, concat_ragged, take_ragged
from ._progress import Progress
from ._results import SearchResult
from ._validate import UINT32_MAX, Csr, as_csr, choice, positive_int, real, seed_value, thread_count

__all__ = ["SparseIndex", "exact_search"]

# The stored precisions of the forward index, with their 0.1 spellings (value_dtype).
_PRECISIONS = {"fp16": "float16", "fp32": "float32"}
_VALUE_DTYPES = {old: new for new, old in _PRECISIONS.items()}
# search()'s defaults, reported by info()["search"].
_SEARCH_DEFAULTS = {"query_cut": 5, "heap_factor": 0.7, "n_knn": 10}
# The kNN graph a build makes when knn is not given (capped at n_docs - 1), and the search
# settings that build_knn uses by default (the core's kKnnBuild*: cheaper than a query's, as
# good a graph; cpp/src/sparse/README.md).
_DEFAULT_KNN = 10
_KNN_BUILD_QUERY_CUT, _KNN_BUILD_HEAP_FACTOR = 5, 0.9
# search_stats()'s counters, in the order of the core's SearchStats fields.
_STATS_COLUMNS = ("lists", "blocks", "blocks_visited", "postings", "docs_scored")



# The filter planner (SparseIndex._plan_exact): a segment whose allowed documents number
# at most max(_EXACT_FILTER_MIN, _EXACT_FILTER_FRACTION * its rows) is scored exactly over
# them (measured crossover: docs/living-index.md).
_EXACT_FILTER_MIN = 1000
_EXACT_FILTER_FRACTION = 0.02


def _default_n_postings(n_docs: int) -> int:
    """The core's rule for n_postings when not given (default_params.cpp)."""
    return max(100, round(3.0 * np.sqrt(n_docs) / 50.0) * 50)


def _take(csr: Csr, rows) -> Csr:
    indptr, (indices, values) = take_ragged(csr.indptr, [csr.indices, csr.values], rows)
    return Csr(indptr, indices, values, csr.n_cols)


def _build_core(csr: Csr, params: dict, progress):
    return _core.SparseIndex.build(
        csr.indptr,
        csr.indices,
        csr.values,
        csr.n_cols,
        pruning=params["pruning"],
        n_postings=0 if params["n_postings"] is None else params["n_postings"],  # 0: the core derives it
        max_fraction=params["max_fraction"],
        centroid_fraction=params["centroid_fraction"],
        min_cluster_size=params["min_cluster_size"],
        summary_energy=params["summary_energy"],
        precision=params["precision"],
        knn=params["knn"],
        num_threads=params["num_threads"],
        seed=params["seed"],
        progress=progress,
    )


def _fit_knn(params: dict, docs: Csr) -> dict:
    """A segment or view of fewer than knn + 1 documents holds every other one as its
    neighbours (a kNN graph of n_docs - 1)."""
    if params["knn"] and params["knn"] >= docs.n_rows:
        return {**params, "knn": max(docs.n_rows - 1, 0)}
    return params


# Sampled documents become tune() queries by keeping their heaviest terms (see tune()).
_DOC_QUERY_TERMS = 16
# tune()'s grids, cheap to expensive (see aftershock.tuning).
_TUNE_QUERY_CUTS = (2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64)
_TUNE_HEAP_FACTORS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)


class SparseIndex(Living, _tuning.Tunable, CoreBacked):
    """An approximate top-k index over sparse non-negative vectors (SPLADE-like).

    Each term keeps an inverted list, statically pruned to its largest postings and split
    into blocks of similar documents; each block has an 8-bit summary vector (the
    coordinate-wise max of its documents, pruned to ``summary_energy`` of its mass). A
    query walks its ``query_cut`` heaviest terms' lists, skips every block whose summary
    bound is below ``heap_factor`` times the current k-th score, and scores the remaining
    documents exactly against a forward index. Build with :meth:`build`; the constructor is
    private.

    The index is living (docs/living-index.md): documents have stable int64 ids
    (``build(..., ids=...)``, default row numbers), and :meth:`add`, :meth:`delete`,
    :meth:`update` and :meth:`compact` change it without a rebuild; ``search(...,
    filter=...)`` restricts results to (or away from) a set of ids.

    Thread safety: :meth:`search` may run concurrently from many threads (it releases the
    GIL), and with one writer (add / delete / update / compact): a search sees the index
    before or after a write, never in between. Writes are serialized by a lock.
    :meth:`build_knn` needs exclusive access.
    """

    _core_class = _core.SparseIndex

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        docs,
        *,
        ids=None,
        n_postings: int | None = None,
        centroid_fraction: float = 0.1,
        min_cluster_size: int = 2,
        summary_energy: float = 0.4,
        max_fraction: float = 1.5,
        pruning: str = "global",
        precision: str = "fp16",
        knn: int | None = None,
        dim: int | None = None,
        num_threads: int = 0,
        seed: int = 0,
        verbose: bool = False,
        value_dtype: str | None = None,
    ) -> SparseIndex:
        """Build an index over ``docs``.

        Parameters
        ----------
        docs : scipy.sparse matrix, dense 2-d array, or tuple ``(indices, values, indptr)``
            One row per document, one column per vocabulary term, non-negative finite
            weights. scipy matrices of any format and real dtype are converted once to CSR
            float32; if not in canonical form (sorted indices, no duplicates) a copy is
            canonicalized the scipy way (duplicates summed). Tuples must already hold
            strictly increasing term ids within each row; they are not reordered.
        ids : array_like of int, optional
            The documents' ids: unique, >= 0, one per row (``ValueError`` naming a
            duplicate or negative one). Search results, filters and deletes speak them.
            Default: row numbers.
        n_postings : int, optional
            Postings kept per inverted list (``pruning="fixed"``) or on average over the
            non-empty lists (``pruning="global"``). Larger: better recall, more memory,
            slower search. Default: derived from the corpus, ``3 * sqrt(n_docs)`` rounded to
            50 and at least 100 (800 for 70k documents, 3,000 for 1M), where the
            recall-latency frontier at recall@10 0.95-0.98 lies on real SPLADE data; the
            value used is in ``info()["build"]["n_postings"]``.
        centroid_fraction : float in (0, 1]
            Clusters per list = ``ceil(centroid_fraction * list length)``. A cluster larger
            than the list's mean cluster size (about ``1 / centroid_fraction``, and at least
            ``2 * min_cluster_size``) is cut by weight into blocks of at most that size, so
            no block's summary is loosened by its size. With the defaults this gives about
            1.44x as many blocks as ``ceil(centroid_fraction * list length)`` (Debian set and
            synthetic data alike).
        min_cluster_size : int
            Clusters with fewer documents are dissolved into the nearest others.
        summary_energy : float in (0, 1]
            Fraction of each block summary's L1 mass kept (largest components first).
            Smaller: faster scans, looser bounds. A document lends a summary at most its
            ``4 x median document length`` heaviest terms (at least 64), so one very long
            document cannot inflate every summary it joins.
        max_fraction : float >= 1
            With ``pruning="global"``, a list keeps at most ``max_fraction * n_postings``.
        pruning : {"global", "fixed"}
            Static pruning: one global weight threshold, or a fixed top-``n_postings`` per list.
        precision : {"fp16", "fp32"}
            Stored precision of the forward-index weights. ``"fp16"`` halves their memory
            with ~0.05% relative error per weight and holds weights up to 65504: a larger
            weight is refused (``ValueError`` naming it), never clamped; ``"fp32"`` is
            exact (use it for the lossless setting, or for weights above 65504).
        knn : int, optional
            If > 0, also build a graph of each document's ``knn`` nearest documents, used
            by ``search(..., n_knn=...)``: the neighbours of every result are scored too,
            the cheap path to high recall. Costs one (cheap) search per document: 7.6 s on
            one thread for the 70,604 real passages, against 25 s for the rest of the build,
            and 4 bytes per neighbour. Default: 10 (at most ``n_docs - 1``); 0 builds none.
        dim : int, optional
            Vocabulary size for tuple input (default: largest term id + 1). Ignored for
            matrices, whose column count is the vocabulary. At most ``2**32 - 1`` (term
            ids are uint32); the build holds a few hundred bytes per vocabulary entry, and
            a vocabulary needing more memory than the process can use (RAM, address-space
            or cgroup limit) is refused with ``ValueError`` before any work.
        num_threads : int
            Threads to use, 0 = all cores. The index does not depend on it.
        seed : int
            Seeds the centroid sampling; same input and seed give the same index.
        verbose : bool
            Print the progress of the long stages (lists, kNN graph) to stderr.
        value_dtype : {"float16", "float32"}, optional
            Deprecated spelling of ``precision`` (``"float16"`` is ``"fp16"``); warns.

        Returns
        -------
        SparseIndex

        Raises
        ------
        TypeError
            ``docs`` is not a supported container or has a non-real dtype.
        ValueError
            NaN/inf or negative weights, term ids out of range or not strictly increasing
            within a row (tuple input), malformed ``indptr``, or a parameter out of range.
        KeyboardInterrupt
            On Ctrl-C; the build stops within about one inverted list's work.
        """
        if value_dtype is not None:
            warn_renamed("SparseIndex.build(value_dtype=...)", "precision='fp16' or 'fp32'")
            if value_dtype in (np.float16, np.float32):
                value_dtype = np.dtype(value_dtype).name
            precision = _VALUE_DTYPES[choice(value_dtype, "value_dtype", tuple(_VALUE_DTYPES))]
        precision = choice(precision, "precision", _PRECISIONS)
        pruning = choice(pruning, "pruning", ("global", "fixed"))
        csr = as_csr(docs, "docs")
        n_cols = csr.n_cols
        if dim is not None and not hasattr(docs, "tocsr"):
            n_cols = positive_int(dim, "dim")
        csr = Csr(csr.indptr, csr.indices, csr.values, n_cols)
        params = {
            "pruning": pruning,
            "n_postings": None if n_postings is None else positive_int(n_postings, "n_postings"),
            "max_fraction": real(max_fraction, "max_fraction"),
            "centroid_fraction": real(centroid_fraction, "centroid_fraction"),
            "min_cluster_size": positive_int(min_cluster_size, "min_cluster_size"),
            "summary_energy": real(summary_energy, "summary_energy"),
            "precision": precision,
            "knn": min(_DEFAULT_KNN, max(csr.n_rows - 1, 0)) if knn is None else positive_int(knn, "knn", minimum=0),
            "num_threads": thread_count(num_threads),
            "seed": seed_value(seed),
        }
        ids = None if ids is None else check_ids(ids, csr.n_rows)
        if ids is not None and ids.size > 1 and np.any(ids[1:] < ids[:-1]):
            order = np.argsort(ids, kind="stable")
            csr, ids = _take(csr, order), ids[order]
        core = _build_core(csr, params, Progress() if verbose else None)
        obj = cls(core)
        obj._init_living(core, ids, params)
        return obj

    # ------------------------------------------------------- living-index hooks
    def _params_of_core(self, core) -> dict:
        p = dict(core.build_params)
        p.pop("seed", None)
        params = {**p, "seed": core.build_params["seed"], "num_threads": 0}
        # A file does not say whether n_postings was given or derived; the derived rule's
        # value for the file's size is taken as derived (new segments derive their own).
        if params["n_postings"] == _default_n_postings(core.n_docs):
            params["n_postings"] = None
        return params

    def _normalize_docs(self, docs) -> Csr:
        csr = as_csr(docs, "docs", n_cols=self.dim)
        return Csr(csr.indptr, csr.indices, csr.values, self.dim)

    def _n_docs_of(self, docs: Csr) -> int:
        return docs.n_rows

    def _take_docs(self, docs: Csr, rows) -> Csr:
        return _take(docs, rows)

    def _concat_docs(self, parts: list) -> Csr:
        indptr, (indices, values) = concat_ragged([(p.indptr, [p.indices, p.values]) for p in parts])
        return Csr(indptr, indices, values, parts[0].n_cols)

    def _export_docs(self, core) -> Csr:
        indptr, indices, values = core.documents()
        return Csr(indptr, indices, values, core.dim)

    def _build_segment_core(self, docs: Csr, merged: bool):
        return _build_core(docs, _fit_knn(self._segment_params, docs), None)

    def _build_view_core(self, docs: Csr, seg):
        # A view's lists are subsets of the segment's: it keeps the segment's n_postings
        # rather than deriving a smaller one from its own size, so it prunes no deeper than
        # the index it filters (measured: man pages recall 0.917 with the derived 300, see
        # docs/living-index.md).
        params = {**self._segment_params, "n_postings": seg.core.build_params["n_postings"]}
        return _build_core(docs, _fit_knn(params, docs), None)

    @staticmethod
    def _segment_heap_factor(opts) -> float:
        # Under a filter letting a fraction s of the segment through, a visited block costs
        # only its allowed documents, while the k-th score (among allowed documents) rises
        # more slowly: blocks are cut at heap_factor * (0.75 + 0.25 s) instead (measured on
        # the real set: docs/living-index.md).
        return opts["heap_factor"] * (0.75 + 0.25 * opts.get("allowed_fraction", 1.0))

    def _search_steps(self, steps, q: Csr, k, opts, stats):
        # The whole segment loop and merge in one core call (_core.search_segments): equal,
        # bit for bit, to the loop over _segment_search / _segment_exact.
        segments = [(seg.core, bits, None if seg.identity else seg.ids, self._segment_heap_factor(seg_opts), rows)
                    for seg, bits, rows, seg_opts in steps]
        out = _core.search_segments(
            segments, q.indptr, q.indices, q.values, self.dim, k=k, query_cut=opts["query_cut"],
            n_knn=opts["n_knn"], num_threads=opts["num_threads"], with_stats=stats is not None,
        )
        if stats is not None:
            stats.append(out[2])
        return out[0], out[1]

    def _segment_search(self, seg, q: Csr, k, opts, allowed, floors, stats):
        heap_factor = self._segment_heap_factor(opts)
        # Positional (k, query_cut, heap_factor, n_knn, num_threads, with_stats, allowed,
        # floors): pybind11 matches keywords one by one, 1 us of a single query's call.
        out = seg.core.search(
            q.indptr, q.indices, q.values, self.dim, k, opts["query_cut"], heap_factor, opts["n_knn"],
            opts["num_threads"], stats is not None, allowed, floors,
        )
        if stats is not None:
            stats.append(out[2])
        return out[0], out[1]

    def _segment_exact(self, seg, q: Csr, k, rows, floors, opts):
        return seg.core.search_subset(q.indptr, q.indices, q.values, self.dim, rows, k, floors=floors,
                                      num_threads=opts["num_threads"])

    def _plan_exact(self, seg, n_allowed: int, k: int, opts: dict) -> bool:
        # Scoring the allowed rows exactly costs one row dot each; a filtered approximate
        # search still bounds every block of the walked lists and finds few allowed
        # documents in them. docs/living-index.md gives the measured crossover.
        return n_allowed <= max(_EXACT_FILTER_MIN, _EXACT_FILTER_FRACTION * seg.n_docs)

    def build_knn(
        self,
        knn: int = 10,
        *,
        query_cut: int = _KNN_BUILD_QUERY_CUT,
        heap_factor: float = _KNN_BUILD_HEAP_FACTOR,
        num_threads: int = 0,
        verbose: bool = False,
    ) -> None:
        """(Re)build the kNN graph: each document's ``knn`` nearest documents.

        Found by searching this index with every document as the query (with the given
        ``query_cut`` / ``heap_factor``; by default 5 / 0.9, the settings ``build`` uses:
        cheaper than a query's defaults, as good a graph), excluding the document itself. ``knn=0`` drops
        the graph. ``verbose`` prints progress to stderr.

        Raises
        ------
        ValueError
            ``knn`` < 0, fewer than 2 documents, or bad search parameters.
        KeyboardInterrupt
            On Ctrl-C; the index is then left without a graph.
        """
        knn = positive_int(knn, "knn", minimum=0)
        with self._lock:
            for seg in self._state.segments:
                seg.core.build_knn(
                    knn,
                    positive_int(query_cut, "query_cut"),
                    real(heap_factor, "heap_factor"),
                    thread_count(num_threads),
                    progress=Progress() if verbose else None,
                )
            self._segment_params["knn"] = knn

    # ----------------------------------------------------------------- search
    def search(
        self,
        queries,
        k: int = 10,
        *,
        query_cut: int | None = None,
        heap_factor: float | None = None,
        n_knn: int = 10,
        target_recall: float | None = None,
        filter=None,
        num_threads: int = 0,
    ) -> SearchResult:
        """Approximate top-``k`` documents by inner product for each query.

        Parameters
        ----------
        queries : scipy.sparse matrix ``[n_queries, dim]``, dense array, CSR tuple, or ``(indices, values)``
            Same conventions as ``docs`` in :meth:`build`; one row per query. A 1-d dense
            array or an ``(indices, values)`` pair is a single query (one output row).
        k : int
            Results per query.
        query_cut : int, optional
            Only the ``query_cut`` heaviest query terms' lists are walked (all query
            terms still contribute to the exact scores). Default: the setting of the
            last :meth:`tune` that reached its target (saved with the index), else 5.
        heap_factor : float >= 0, optional
            A block is skipped when its summary bound is below ``heap_factor`` times the
            current k-th best score. 0 visits every block of the walked lists. Default:
            as for ``query_cut`` (built-in 0.7).
        n_knn : int
            If the index has a kNN graph (built by default), the first ``n_knn``
            neighbours of every result are scored too (at most the graph's ``knn``;
            ignored without a graph). Default 10. The built-in defaults reach recall@10
            0.97 on the real SPLADE set (README, "Sparse").
        target_recall : float in (0, 1], optional
            Use the setting :meth:`tune` stored for this ``k`` and a target at least this
            high (the fastest such); ``ValueError`` naming ``target_recall`` when the
            index was not tuned for it (tuning needs queries and seconds of work, so it
            never runs implicitly). Not combinable with ``query_cut`` / ``heap_factor``.
        num_threads : int
            Threads over queries, 0 = all cores. Results do not depend on it.

        Returns
        -------
        SearchResult
            ``scores`` float32 ``[n_queries, k]`` and ``ids`` int64 ``[n_queries, k]``,
            best first, ties to the smaller id, padded with ``-inf`` / ``-1`` when the
            walked lists and blocks yield fewer than ``k`` documents. The search is
            approximate: it reads only the pruned lists of the ``query_cut`` heaviest
            query terms, so it can pad while more documents share a term with the query
            (:func:`exact_search` pads only when fewer than ``k`` do).

        Raises
        ------
        TypeError
            Unsupported container or dtype.
        ValueError
            Wrong number of columns, NaN/inf or negative weights, bad ids, ``k < 1``,
            ``query_cut < 1`` or ``heap_factor < 0``; ``target_recall`` the index was
            not tuned for, or given with ``query_cut`` / ``heap_factor``.
        """
        query_cut, heap_factor = self._resolve(k, query_cut, heap_factor, target_recall)
        scores, ids = self._search(queries, k, query_cut, heap_factor, n_knn, num_threads, with_stats=False,
                                   filter=filter)
        return SearchResult(scores, ids)

    def search_stats(
        self,
        queries,
        k: int = 10,
        *,
        query_cut: int | None = None,
        heap_factor: float | None = None,
        n_knn: int = 10,
        target_recall: float | None = None,
        filter=None,
        num_threads: int = 0,
    ) -> dict:
        """Run :meth:`search` and report the work it did for each query.

        The counters explain latency independently of the machine (two configurations
        that score the same documents cost the same) and show where a query's time goes.
        Parameters are those of :meth:`search`.

        Returns
        -------
        dict
            ``"scores"`` and ``"ids"`` as :meth:`search` returns them, and one int64 array
            of length ``n_queries`` per counter: ``"lists"`` (inverted lists walked, at most
            ``query_cut``), ``"blocks"`` (blocks of those lists, each bounded by its
            summary), ``"blocks_visited"`` (blocks whose documents were scored),
            ``"postings"`` (postings of the visited blocks and kNN neighbours, repeats
            included) and ``"docs_scored"`` (distinct documents scored exactly), summed over
            the segments searched approximately (a segment scored exactly over a filter's
            few documents is not counted).
        """
        query_cut, heap_factor = self._resolve(k, query_cut, heap_factor, target_recall)
        scores, ids, table = self._search(queries, k, query_cut, heap_factor, n_knn, num_threads, with_stats=True,
                                          filter=filter)
        out = {"scores": scores, "ids": ids}
        for j, name in enumerate(_STATS_COLUMNS):
            out[name] = np.ascontiguousarray(table[:, j])
        return out

    def score(self, queries, ids, *, missing: str = "raise", num_threads: int = 0) -> np.ndarray:
        """Exact scores of given documents: ``out[q, j]`` = the inner product of query ``q``
        with document ``ids[q, j]`` over the stored weights (what :meth:`search` returns for
        it), e.g. to combine the sparse score with another stage's (hybrid ranking).

        Parameters
        ----------
        queries : as for :meth:`search`
            ``n_queries`` rows.
        ids : array_like of int, ``[n_queries, n]``
            External ids per query; ``-1`` is padding (scored ``-inf``), so a
            :class:`SearchResult`'s ``ids`` can be passed as they are. Repeats are allowed.
        missing : {"raise", "ignore"}
            An id that is not a live document: ``KeyError`` naming it, or scored ``-inf``.
        num_threads : int
            Threads of the core calls (0 = all cores).

        Returns
        -------
        numpy.ndarray
            float32 ``[n_queries, n]``. Cost: one exact dot product per listed document.

        Raises
        ------
        TypeError, ValueError
            Malformed ``queries`` or ``ids`` (not 2-d integers, another number of rows,
            ids below ``-1``), ``missing`` not one of its choices.
        KeyError
            An id not in the index (``missing="raise"``).
        """
        csr = as_csr(queries, "queries", n_cols=self.dim)
        missing = self._check_missing_arg(missing)
        threads = thread_count(num_threads)
        try:
            ids = np.asarray(ids)
        except (TypeError, ValueError) as e:
            raise TypeError(f"ids: expected an integer array [n_queries, n], got {type(ids).__name__}") from e
        if ids.ndim != 2 or not (np.issubdtype(ids.dtype, np.integer) or ids.size == 0):
            raise ValueError(f"ids: expected a 2-d integer array [n_queries, n], got shape {ids.shape} of {ids.dtype}")
        if ids.shape[0] != csr.n_rows:
            raise ValueError(f"ids: expected {csr.n_rows} rows (one per query), got {ids.shape[0]}")
        ids = ids.astype(np.int64, copy=False)
        if ids.size and int(ids.min()) < -1:
            raise ValueError(f"ids: expected ids >= 0 or -1 (padding), got {int(ids.min())}")
        out = np.full(ids.shape, -np.inf, dtype=np.float32)
        snap = self._state
        real_ids = ids >= 0
        rows = self._locate(np.where(real_ids, ids, -2).ravel(), snap)
        found = np.zeros(ids.size, dtype=np.bool_)
        for r in rows:
            found |= r >= 0
        lost = real_ids.ravel() & ~found
        if missing == "raise" and lost.any():
            raise KeyError(f"ids: id {int(ids.ravel()[np.flatnonzero(lost)[0]])} is not in the index")
        for seg, seg_rows in zip(snap.segments, rows):
            seg_rows = seg_rows.reshape(ids.shape)
            for q in np.flatnonzero((seg_rows >= 0).any(axis=1)):
                at = np.flatnonzero(seg_rows[q] >= 0)
                wanted = np.unique(seg_rows[q, at]).astype(np.uint32)
                lo, hi = csr.indptr[q], csr.indptr[q + 1]
                s, r = seg.core.search_subset(
                    np.array([0, hi - lo], dtype=np.int64), csr.indices[lo:hi], csr.values[lo:hi], self.dim,
                    wanted, wanted.shape[0], num_threads=threads,
                )
                # k = the number of listed rows: all come back (a row sharing no term with
                # the query scores 0 either way); map rows to positions
                got = r[0] >= 0
                pos = np.searchsorted(wanted, r[0, got])
                by_row = np.zeros(wanted.shape[0], dtype=np.float32)
                by_row[pos] = s[0, got]
                out[q, at] = by_row[np.searchsorted(wanted, seg_rows[q, at])]
        return out

    def _defaults(self) -> dict:
        """The search defaults: the tuned ones when tune() stored some, else built in."""
        return {**_SEARCH_DEFAULTS, **(self._tuned_defaults() or {})}

    def _resolve(self, k, query_cut, heap_factor, target_recall):
        if target_recall is not None:
            given = [n for n, v in (("query_cut", query_cut), ("heap_factor", heap_factor)) if v is not None]
            if given:
                raise ValueError(f"target_recall: cannot be combined with {' / '.join(given)} (it picks them)")
            tuned = self._tuned_for(target_recall, positive_int(k, "k"))
            return tuned["query_cut"], tuned["heap_factor"]
        defaults = self._defaults()
        return (
            defaults["query_cut"] if query_cut is None else query_cut,
            defaults["heap_factor"] if heap_factor is None else heap_factor,
        )

    def _check_tuned_params(self, params: dict) -> dict:
        if set(params) != {"query_cut", "heap_factor"}:
            raise ValueError(f"expected query_cut and heap_factor, got {sorted(params)}")
        qc = params["query_cut"]
        if isinstance(qc, float):
            raise TypeError(f"query_cut: expected an integer, got {qc!r}")
        hf = real(params["heap_factor"], "heap_factor")
        if not (hf >= 0 and np.isfinite(hf)):
            raise ValueError(f"heap_factor: expected a finite number >= 0, got {hf!r}")
        return {"query_cut": positive_int(qc, "query_cut"), "heap_factor": hf}

    # ------------------------------------------------------------------- tune
    def tune(
        self,
        queries=None,
        *,
        target_recall: float = 0.95,
        k: int = 10,
        sample: int | None = 200,
        max_ms: float | None = None,
        num_threads: int = 1,
        repeats: int = 3,
        ground_truth=None,
        seed: int = 0,
    ) -> _tuning.TuneResult:
        """Find the fastest ``query_cut`` / ``heap_factor`` reaching ``target_recall``.

        Recall is recall@``k`` against exact search (by inner product, over this index's
        stored documents, i.e. its forward-index weights) on the sample queries. The
        search over the two knobs is described in :mod:`aftershock.tuning`: a coarse walk
        along the recall frontier (``query_cut`` ascending, ``heap_factor`` bisected for
        the largest value reaching the target), then a finer grid around the fastest
        point; latency is the minimum over ``repeats`` runs. A reached result becomes the
        index's default search setting, is kept for ``search(..., target_recall=...)``,
        and is saved with the index (:meth:`save`, :meth:`to_bytes`, pickle).

        Parameters
        ----------
        queries : as for :meth:`search`, optional
            Queries like the ones the index will serve (best: held-out real queries). When
            None, ``sample`` documents of the corpus (seeded) become queries, each cut to
            its 16 heaviest terms: learned sparse queries are short (~10-30 terms) while
            documents hold ~100-200, and ``query_cut`` / ``heap_factor`` act on the
            query's heaviest terms and on the score scale, so a whole document would tune
            them for queries that never come. A document-query's exact top-k includes the
            document itself, which makes its recall slightly optimistic.
        target_recall : float in (0, 1]
        k : int
            Recall is measured at this depth.
        sample : int or None
            Queries used (a seeded subset of ``queries``, or documents sampled); None uses
            all given queries. More queries: a less noisy estimate, a slower tune.
        max_ms : float, optional
            Only settings at most this many milliseconds per query count as reaching the
            target.
        num_threads : int
            Threads of the timed searches (default 1: single-thread latency is the least
            noisy measure, and the ranking of settings does not depend on it).
        repeats : int
            Timed runs per frontier setting; the minimum is kept.
        ground_truth : array_like of int ``[n_queries, >= k]``, optional
            Exact top-k ids of the given ``queries`` (all of them, before sampling),
            e.g. from :func:`exact_search` over the original documents. Default: computed
            from the index's stored documents.
        seed : int
            Seeds the sampling.

        Returns
        -------
        aftershock.tuning.TuneResult
            The chosen setting, whether it reached the target, and every trial
            (``result.table()`` is a list of dicts; ``print(result)`` shows it).

        Raises
        ------
        TypeError, ValueError
            Bad queries (as :meth:`search`), ``target_recall`` outside (0, 1], ``k < 1``,
            ``sample < 1``, ``max_ms <= 0``, ``repeats < 1``, or a ``ground_truth`` of the
            wrong shape (each names the argument).
        """
        target, k = _tuning.check_target(target_recall, k)
        sample = _tuning.check_sample(sample)
        max_ms = _tuning.check_max_ms(max_ms)
        repeats = positive_int(repeats, "repeats")
        num_threads = thread_count(num_threads)
        seed = seed_value(seed)
        docs = None
        if queries is None:
            if ground_truth is not None:
                raise ValueError("ground_truth: only with given queries")
            docs, doc_ids = self._stored_docs()
            rows = _tuning.sample_rows(self.n_docs, 200 if sample is None else sample, seed)
            q = _heaviest_terms(docs[rows], _DOC_QUERY_TERMS)
            source = "documents"
            truth = None
        else:
            csr = as_csr(queries, "queries", n_cols=self.dim)
            import scipy.sparse as sp

            allq = sp.csr_matrix((csr.values, csr.indices, csr.indptr), shape=(csr.n_rows, self.dim))
            if allq.shape[0] == 0:
                raise ValueError("queries: expected at least one query")
            rows = _tuning.sample_rows(allq.shape[0], sample, seed)
            q = allq[rows]
            source = "given"
            truth = None
            if ground_truth is not None:
                gt = np.asarray(ground_truth)
                if gt.ndim != 2 or gt.shape[0] != allq.shape[0] or gt.shape[1] < k or gt.dtype.kind not in "iu":
                    raise ValueError(
                        f"ground_truth: expected integer ids [{allq.shape[0]}, >= {k}], got {gt.dtype} {gt.shape}"
                    )
                truth = gt[rows, :k]
        if truth is None:
            if docs is None:
                docs, doc_ids = self._stored_docs()
            rows_truth = exact_search(docs, q, k, num_threads=0).ids
            truth = np.where(rows_truth >= 0, doc_ids[np.maximum(rows_truth, 0)], -1)
        max_terms = int(np.diff(q.indptr).max()) if q.shape[0] else 1
        cuts = [c for c in _TUNE_QUERY_CUTS if c < max_terms] + [max(max_terms, 1)]
        outer = _tuning.Knob("query_cut", sorted(set(cuts)), integer=True)
        inner = _tuning.Knob("heap_factor", _TUNE_HEAP_FACTORS, integer=False, round_to=3)

        def run(params):
            return self._search(q, k, params["query_cut"], params["heap_factor"], 0, num_threads, with_stats=False)[1]

        params, recall, ms, reached, trials = _tuning.search_settings(
            run, truth, k, target, outer, inner, repeats=repeats, max_ms=max_ms
        )
        result = _tuning.TuneResult(params, recall, ms, reached, target, k, q.shape[0], source, tuple(trials))
        if reached:
            self._tuned_state().add(result)
        return result

    def _stored_docs(self):
        """The live stored documents (forward-index weights) as a scipy CSR matrix, in
        ascending id order, and their ids."""
        import scipy.sparse as sp

        csr, ids = self._live_docs()
        if csr is None:
            return sp.csr_matrix((0, self.dim), dtype=np.float32), ids
        m = sp.csr_matrix((csr.values, csr.indices.astype(np.int64), csr.indptr), shape=(csr.n_rows, self.dim))
        return m, ids

    def _search(self, queries, k, query_cut, heap_factor, n_knn, num_threads, *, with_stats, filter=None):
        csr = as_csr(queries, "queries", n_cols=self.dim)
        k = positive_int(k, "k")
        opts = {
            "query_cut": positive_int(query_cut, "query_cut"),
            "heap_factor": real(heap_factor, "heap_factor"),
            "n_knn": positive_int(n_knn, "n_knn", minimum=0),
            "num_threads": thread_count(num_threads),
        }
        stats = [] if with_stats else None
        plain = self._plain_segment() if filter is None and not with_stats else None
        if plain is not None and plain.n_docs:
            # One segment, nothing deleted, ids = rows: the core's own search, without the
            # segment plan and merge (a few microseconds of Python per call, ~5% of a
            # single query's time on the real set).
            return self._segment_search(plain, csr, k, opts, None, None, None)
        scores, ids = self._search_live(csr, csr.n_rows, k, opts, filter, stats)
        if not with_stats:
            return scores, ids
        table = sum(stats) if stats else np.zeros((csr.n_rows, len(_STATS_COLUMNS)), dtype=np.int64)
        return scores, ids, table

    # ------------------------------------------------------------ persistence


    # ------------------------------------------------------------- inspection
    @property
    def knn(self) -> int:
        """Neighbours per document in the kNN graph (0 if none)."""
        return self._state.segments[0].core.knn

    def info(self) -> dict:
        """Configuration and sizes, in the layout every aftershock class shares.

        Returns
        -------
        dict
            ``kind`` ("SparseIndex"), ``n_docs``, ``dim``, ``precision``, ``size_bytes``;
            ``build``: the build parameters (``pruning``, ``n_postings``, ``max_fraction``,
            ``centroid_fraction``, ``min_cluster_size``, ``summary_energy``, ``knn``,
            ``seed``); ``search``: the default search parameters (``query_cut``,
            ``heap_factor``, ``n_knn``; the tuned ones after :meth:`tune`, see :attr:`tuned`); ``stats``: ``n_postings`` (kept in all lists),
            ``n_blocks``, ``n_summary_entries``, and the bytes of each component
            (``forward_index_bytes``, ``postings_bytes``, ``blocks_bytes``,
            ``summaries_bytes``, ``knn_graph_bytes``, ``ids_bytes``, ``tombstones_bytes``;
            they add up to ``size_bytes``), ``n_segments`` and ``n_deleted`` (documents
            deleted but not yet merged away). With several segments the counts and bytes
            are sums and ``build`` is the largest segment's. ``mapping`` (see :meth:`load`):
            ``is_mapped`` (every segment memory-mapped), ``mapped_bytes`` (bytes of the
            mapped files; 0 in memory) and ``resident_bytes`` (of those, the bytes in memory
            now, by ``mincore``; pages another process faulted in count too). A mapped
            component's bytes are in the mapping, not on the heap; the per-term offsets and
            the summaries' derived ranks are in memory either way.
        """
        segs = self._state.segments
        largest = max(segs, key=lambda s: s.n_docs).core
        build = {key: value for key, value in largest.build_params.items() if key != "precision"}
        stats = {"n_postings": 0, "n_blocks": 0, "n_summary_entries": 0}
        for seg in segs:
            stats["n_postings"] += seg.core.n_postings_total
            stats["n_blocks"] += seg.core.n_blocks_total
            stats["n_summary_entries"] += seg.core.n_summary_entries
            for name, value in seg.core.component_bytes.items():
                stats[name] = stats.get(name, 0) + value
        stats.update(self._living_bytes())
        stats["n_segments"] = len(segs)
        stats["n_deleted"] = sum(s.n_deleted for s in segs)
        stats["mapping"] = self._mapping_stats()
        return self._make_info(build=build, search=self._defaults(), stats=stats)

    @property
    def memory_bytes(self) -> int:
        """Deprecated: :attr:`size_bytes`."""
        warn_renamed("SparseIndex.memory_bytes", "size_bytes")
        return self.size_bytes

    @property
    def build_params(self) -> dict:
        """Deprecated: ``info()["build"]`` (and ``info()["precision"]``)."""
        warn_renamed("SparseIndex.build_params", "info()['build']")
        params = self._core.build_params
        params["value_dtype"] = _PRECISIONS[params.pop("precision")]
        return params

    @property
    def stats(self) -> dict:
        """Deprecated: ``info()["stats"]``."""
        warn_renamed("SparseIndex.stats", "info()['stats']")
        info = self.info()
        return {"n_docs": self.n_docs, **info["stats"], "memory_bytes": self.size_bytes}

    def blocks_of(self, term: int) -> list:
        """The blocks of ``term``'s pruned list, each a list of doc ids (for inspection;
        single-segment indexes only, see :meth:`compact`)."""
        ids = self._state.segments[0].ids
        blocks = self._core.blocks_of(positive_int(term, "term", minimum=0, maximum=UINT32_MAX))
        return [[int(ids[d]) for d in block] for block in blocks]

    def summary_of(self, term: int, block: int) -> list:
        """Dequantized summary of one block as ``(term, value)`` pairs (for inspection)."""
        term = positive_int(term, "term", minimum=0, maximum=UINT32_MAX)
        return self._core.summary_of(term, positive_int(block, "block", minimum=0))

    def _repr_fields(self) -> dict:
        return {"knn": self.knn}


def _heaviest_terms(m, n_terms: int):
    """Each row of CSR ``m`` cut to its ``n_terms`` largest weights (ties: smaller term)."""
    import scipy.sparse as sp

    m = sp.csr_matrix(m)
    indptr = [0]
    indices, values = [], []
    for i in range(m.shape[0]):
        a, b = m.indptr[i], m.indptr[i + 1]
        idx, val = m.indices[a:b], m.data[a:b]
        keep = np.sort(np.argsort(-val, kind="stable")[:n_terms])
        indices.append(idx[keep])
        values.append(val[keep])
        indptr.append(indptr[-1] + len(keep))
    return sp.csr_matrix(
        (np.concatenate(values) if values else np.zeros(0, np.float32),
         np.concatenate(indices) if indices else np.zeros(0, np.int64), np.asarray(indptr)),
        shape=m.shape,
    )


def exact_search(docs, queries, k: int = 10, *, num_threads: int = 0) -> SearchResult:
    """Exact top-``k`` by inner product (brute force), the ground truth for evaluation.

    Only documents sharing at least one term with the query (both weights > 0) are
    candidates; rows with fewer are padded with ``-inf`` / ``-1``. Scores come from the
    same kernel :class:`SparseIndex` uses, so an index built with ``precision="fp32"``
    and searched losslessly returns identical scores.

    Parameters
    ----------
    docs, queries
        As for :meth:`SparseIndex.build` and :meth:`SparseIndex.search`; the same number of
        columns.
    k : int
        Results per query.
    num_threads : int
        Threads over queries, 0 = all cores.

    Returns
    -------
    SearchResult

    Raises
    ------
    TypeError, ValueError
        As for :meth:`SparseIndex.build` / :meth:`SparseIndex.search`.
    """
    d = as_csr(docs, "docs")
    q = as_csr(queries, "queries", n_cols=d.n_cols)
    scores, ids = _core.sparse_exact_search(
        d.indptr, d.indices, d.values, q.indptr, q.indices, q.values,
        max(d.n_cols, q.n_cols), positive_int(k, "k"), thread_count(num_threads),
    )
    return SearchResult(scores, ids)
