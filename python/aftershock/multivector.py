"""Approximate multi-vector (ColBERT late-interaction) retrieval with exact MaxSim rerank.

:class:`MultiVectorIndex` proposes candidate documents with one of two generators and
scores them exactly with the MaxSim kernels of the store it owns, so every returned score
is ``sum_i max_j <q_i, d_j>`` over the stored precision:

* ``method="centroid"`` -- token-level k-means centroids with inverted lists (PLAID /
  EMVB style): probe each query token's best centroids, optionally prefilter with
  per-centroid bit vectors, rank by centroid interaction, rerank the best exactly.
* ``method="muvera"`` -- MUVERA fixed dimensional encodings (SimHash partitions x
  repetitions, random projections, optional count-sketch final projection), a SIMD flat
  inner-product scan (fp32 or int8), exact rerank of the best.

The algorithms and every parameter are described in ``cpp/src/multivector/README.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from . import tuning as _tuning
from ._base import CoreBacked
from ._living import Living, RaggedDocs, check_ids, take_ragged
from ._progress import Progress
from ._results import SearchResult
from ._validate import as_ragged, choice, positive_int, real, seed_value, thread_count

__all__ = ["MultiVectorIndex"]

_METHODS = ("centroid", "muvera")
_PRECISIONS = ("fp32", "fp16", "bf16", "int8", "res1", "res2", "res4")
_FDE_PRECISIONS = ("fp32", "int8")
# The parameters that belong to one method (build, then search): given to an index of the
# other method they raise TypeError naming them.
_METHOD_OF_BUILD = {
    "n_centroids": "centroid",
    "kmeans_iters": "centroid",
    "kmeans_points_per_centroid": "centroid",
    "k_sim": "muvera",
    "r_reps": "muvera",
    "d_proj": "muvera",
    "fill_empty": "muvera",
    "final_dim": "muvera",
    "fde_precision": "muvera",
}
_METHOD_OF_SEARCH = {
    "n_probe": "centroid",
    "n_interaction": "centroid",
    "bitvector_threshold": "centroid",
    "n_bitvector": "centroid",
}


def _check_method_params(method: str, owners: dict[str, str], given: dict[str, Any]) -> None:
    for name, value in given.items():
        if value is not None and owners[name] != method:
            raise TypeError(
                f"{name}: a parameter of method={owners[name]!r}, not of method={method!r} "
                f"(leave it unset, or build with method={owners[name]!r})"
            )


def _count(value, name: str, minimum: int) -> int | None:
    """None (the method's default) or an int >= minimum."""
    return None if value is None else positive_int(value, name, minimum=minimum)


# The build parameters a new segment is built with (besides method, precision, seed).
_BUILD_KEYS = ("pool_factor", "pool_iters", "n_centroids", "kmeans_iters", "kmeans_points_per_centroid",
               "k_sim", "r_reps", "d_proj", "fill_empty", "final_dim", "fde_precision", "seed")


def _as_centroids(centroids, dim: int) -> np.ndarray:
    arr = np.asarray(centroids)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"centroids: expected a real-valued array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != dim or arr.shape[0] < 1:
        raise ValueError(f"centroids: expected a [n_centroids >= 1, {dim}] array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _build_core(flat, offs, params: dict, centroids, progress):
    kwargs = {name: params.get(name) for name in _BUILD_KEYS if name != "seed"}
    if params["method"] == "muvera":
        for name in ("n_centroids", "kmeans_iters", "kmeans_points_per_centroid"):
            kwargs.pop(name)
    else:
        for name in ("k_sim", "r_reps", "d_proj", "fill_empty", "final_dim", "fde_precision"):
            kwargs.pop(name)
    extra = {} if centroids is None else {"centroids": centroids}
    return _core.MultiVectorIndex.build(
        flat, offs, method=params["method"], precision=params["precision"], seed=params["seed"],
        num_threads=params.get("num_threads", 0), progress=progress, **kwargs, **extra,
    )



# tune()'s grids, cheap to expensive (see aftershock.tuning).
_TUNE_N_PROBE = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
_TUNE_N_CANDIDATES = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192)
_MUVERA_CANDIDATES = 1024
# Sampled documents become tune() queries by keeping this many of their tokens (see tune()).
_DOC_QUERY_TOKENS = 16


# The core's n_interaction default, relative to n_candidates (config.hpp kDefaultInteractionFactor).
_INTERACTION_FACTOR = 8


def default_search(method: str, n_docs: int) -> dict:
    """The built-in search defaults of an index of ``n_docs`` documents.

    ``method="centroid"``: ``n_probe=1`` and
    ``n_candidates = max(512, 512 * (n_docs / 20000) ** 0.25)`` rounded up to a multiple of
    32, at most ``n_docs`` (512 up to 20,000 documents, 704 at 70,604, 928 at 200,000,
    1,376 at 1M). The exact rerank of ``n_candidates`` documents is what buys recall here,
    and the count needed for recall@10 >= 0.95 grows slowly with the corpus (measured on
    the real Debian token vectors at 128-d, 300-1,000 queries: ~250 at 2,000 and 5,000
    passages, ~420 at 10,000 and 20,000, <= 512 at 70,604; see docs/tuning.md); 512 below
    20,000 keeps a margin over the noise of those estimates, and the quarter power follows
    the growth beyond. ``n_probe=1`` is as accurate as 2-8 at equal ``n_candidates`` there
    and probes the fewest documents. ``method="muvera"``: ``n_candidates=1024``.
    """
    if method == "muvera":
        return {"n_candidates": _MUVERA_CANDIDATES}
    return {"n_probe": 1, "n_candidates": _centroid_candidates(n_docs)}


def _centroid_candidates(n_docs: int) -> int:
    scaled = 512.0 * (max(n_docs, 1) / 20000.0) ** 0.25
    return int(max(1, min(n_docs, max(512, -(-int(np.ceil(scaled)) // 32) * 32))))


class MultiVectorIndex(RaggedDocs, Living, _tuning.Tunable, CoreBacked):
    """Approximate top-k MaxSim retrieval: candidate generation plus exact rerank.

    Create one with :meth:`build` or :meth:`load`. The index is living
    (docs/living-index.md): stable int64 ids, :meth:`add` / :meth:`delete` /
    :meth:`update` / :meth:`compact`, ``search(..., filter=...)``. With
    ``method="centroid"``, added documents are assigned to the largest segment's centroids
    (PLAID-style); a merge retrains them. Searches may run
    concurrently from several threads (they release the GIL) and with one writer; a
    search sees the index before or after a write, never in between.
    """

    _core_class = _core.MultiVectorIndex

    @classmethod
    def build(
        cls,
        vectors,
        offsets=None,
        *,
        ids=None,
        centroids=None,
        method: str = "centroid",
        precision: str = "fp32",
        pool_factor: float = 1.0,
        pool_iters: int = 4,
        n_centroids: int | None = None,
        kmeans_iters: int | None = None,
        kmeans_points_per_centroid: int | None = None,
        k_sim: int | None = None,
        r_reps: int | None = None,
        d_proj: int | None = None,
        fill_empty: bool | None = None,
        final_dim: int | None = None,
        fde_precision: str | None = None,
        num_threads: int = 0,
        seed: int = 0,
        verbose: bool = False,
    ) -> MultiVectorIndex:
        """Build an index over ColBERT-style documents.

        The parameters of one method default to ``None``, meaning that method's default
        (given below); giving one to the other method raises ``TypeError``.

        Parameters
        ----------
        vectors : array_like or sequence of array_like
            Either all documents' tokens concatenated, ``[total_tokens, dim]``, with
            ``offsets``; a list of ``[n_tokens_i, dim]`` arrays; or a 3-d array
            ``[n_docs, n_tokens, dim]``. Converted to C-contiguous float32 (a copy unless
            it already is one; a list is always concatenated into one copy).
        offsets : array_like of int, optional
            ``[n_docs + 1]``: document ``d`` is rows ``offsets[d]:offsets[d+1]``; starts at
            0, strictly increasing, ends at ``total_tokens``.
        ids : array_like of int, optional
            The documents' ids: unique, >= 0, one per document (``ValueError`` naming a
            duplicate or negative one). Results, filters and deletes speak them. Default:
            row numbers.
        centroids : array_like ``[n_centroids, dim]``, optional
            ``method="centroid"``: use these token centroids instead of training them
            (e.g. one shared codebook for the shards of a distributed index); every token
            is assigned to its nearest one. ``n_centroids`` must then be omitted.
        method : {"centroid", "muvera"}
            Candidate generator: token centroids with inverted lists (PLAID / EMVB style),
            or MUVERA fixed dimensional encodings scanned flat.
        precision : {"fp32", "fp16", "bf16", "int8", "res1", "res2", "res4"}
            Storage precision of the document tokens used for the exact rerank (see
            :meth:`MultiVectorStore.build`). ``res1`` / ``res2`` / ``res4``: PLAID-style
            residual compression (nearest-centroid id + 1, 2 or 4 bits per dimension;
            18 / 34 / 66 bytes per 128-d token plus the codebook); scores are exact MaxSim
            over the decompressed tokens. With ``method="centroid"`` the store uses the
            index's own centroids and token assignment (one codebook: a token's code is its
            centroid in the index); with ``"muvera"`` the store trains its own.
        pool_factor : float in [1, 1e6]
            CRISP-style token pooling: each document is clustered into
            ``ceil(n / pool_factor)`` token means before indexing; 1 = off.
        pool_iters : int in [0, 1000]
            k-means iterations per pooled document.
        n_centroids : int in [1, 65536], optional
            ``method="centroid"``: number of token centroids, at most the number of
            (pooled) tokens. Default: ``2^floor(log2(2 sqrt(total_tokens)))``, at least 16.
        kmeans_iters : int in [0, 1000], optional
            ``method="centroid"``: Lloyd iterations of the centroid k-means (default 8).
        kmeans_points_per_centroid : int >= 1, optional
            ``method="centroid"``: k-means training sample per centroid (default 64).
        k_sim : int in [0, 12], optional
            ``method="muvera"``: SimHash bits per repetition, ``2^k_sim`` partitions (default 4).
        r_reps : int >= 1, optional
            ``method="muvera"``: independent repetitions (default 8).
        d_proj : int in [0, 4096], optional
            ``method="muvera"``: values per partition block (random projection); 0 = no
            projection, ``dim`` values (default 16). ``r_reps * 2^k_sim * d_proj`` is at
            most ``2^26``.
        fill_empty : bool, optional
            ``method="muvera"``: fill a document's empty partitions from its nearest token
            (default True).
        final_dim : int in [0, 2^26], optional
            ``method="muvera"``: count-sketch the encoding to this many values; 0 = none
            (default).
        fde_precision : {"int8", "fp32"}, optional
            ``method="muvera"``: storage of the document encodings (default ``"int8"``,
            a quarter of the memory).
        num_threads : int
            Threads for the build (0 = all cores). The index does not depend on it.
        seed : int
            Seed of every random choice (k-means sample and init, SimHash, projections).
        verbose : bool
            Print progress of the long build stages to stderr.

        Returns
        -------
        MultiVectorIndex

        Raises
        ------
        TypeError
            If an array has a bool, complex or object dtype; a parameter has the wrong type
            (e.g. a float count); an unknown keyword; or a parameter of the other method
            (the message names it and its method).
        ValueError
            For bad shapes, offsets, NaN/inf values, an unknown method, precision or
            ``fde_precision``, or a parameter out of range; the message names it.
        KeyboardInterrupt
            If interrupted during a long build stage.
        """
        method = choice(method, "method", _METHODS)
        _check_method_params(
            method,
            _METHOD_OF_BUILD,
            {
                "n_centroids": n_centroids,
                "kmeans_iters": kmeans_iters,
                "kmeans_points_per_centroid": kmeans_points_per_centroid,
                "k_sim": k_sim,
                "r_reps": r_reps,
                "d_proj": d_proj,
                "fill_empty": fill_empty,
                "final_dim": final_dim,
                "fde_precision": fde_precision,
            },
        )
        precision = choice(precision, "precision", _PRECISIONS)
        if fde_precision is not None:
            fde_precision = choice(fde_precision, "fde_precision", _FDE_PRECISIONS)
        if fill_empty is not None and not isinstance(fill_empty, (bool, np.bool_)):
            raise TypeError(f"fill_empty: expected a bool, got {type(fill_empty).__name__}")
        params = {
            "pool_factor": real(pool_factor, "pool_factor"),
            "pool_iters": positive_int(pool_iters, "pool_iters", minimum=0),
            "n_centroids": _count(n_centroids, "n_centroids", 1),
            "kmeans_iters": _count(kmeans_iters, "kmeans_iters", 0),
            "kmeans_points_per_centroid": _count(kmeans_points_per_centroid, "kmeans_points_per_centroid", 1),
            "k_sim": _count(k_sim, "k_sim", 0),
            "r_reps": _count(r_reps, "r_reps", 1),
            "d_proj": _count(d_proj, "d_proj", 0),
            "fill_empty": None if fill_empty is None else bool(fill_empty),
            "final_dim": _count(final_dim, "final_dim", 0),
            "fde_precision": fde_precision,
        }
        num_threads = thread_count(num_threads)
        seed = seed_value(seed)
        if offsets is None and not isinstance(vectors, (list, tuple)) and np.ndim(vectors) == 2:
            raise ValueError("offsets: required when vectors is a 2-d [total_tokens, dim] array")
        flat, offs = as_ragged(vectors, offsets, "vectors", "offsets")
        given = None
        if centroids is not None:
            if method != "centroid":
                raise ValueError(f"centroids: only for method='centroid', not {method!r}")
            if params["n_centroids"] is not None:
                raise ValueError("centroids: given together with n_centroids (the centroids set the count)")
            given = _as_centroids(centroids, flat.shape[1])
        params.update(method=method, precision=precision, seed=seed, num_threads=num_threads)
        ids = None if ids is None else check_ids(ids, len(offs) - 1)
        if ids is not None and ids.size > 1 and np.any(ids[1:] < ids[:-1]):
            order = np.argsort(ids, kind="stable")
            offs, (flat,) = take_ragged(offs, [flat], order)
            ids = ids[order]
        core = _build_core(flat, offs, params, given, Progress() if verbose else None)
        obj = cls(core)
        obj._init_living(core, ids, params)
        return obj

    # ------------------------------------------------------- living-index hooks
    def _params_of_core(self, core) -> dict:
        build = dict(core.info()["build"])
        params = {name: build.get(name) for name in _BUILD_KEYS}
        params["n_centroids"] = None  # derived per segment (a file cannot say if it was given)
        params.update(method=core.method, precision=core.precision, num_threads=0)
        return params

    def _build_segment_core(self, docs, merged: bool):
        params = dict(self._segment_params)
        centroids = None
        if merged:
            # The tokens come out of segments as stored, i.e. already pooled.
            params["pool_factor"], params["pool_iters"] = 1.0, 0
            if params.get("n_centroids") and params["n_centroids"] > len(docs[0]):
                params["n_centroids"] = len(docs[0])  # a merge of few documents left: fewer tokens
        elif params["method"] == "centroid":
            largest = max(self._state.segments, key=lambda s: s.n_live)
            centroids = largest.core.centroids
            params["n_centroids"] = None
        return _build_core(docs[0], docs[1], params, centroids, None)

    def _segment_search(self, seg, q, k, opts, allowed, floors, stats):
        flat, offs = q
        if opts.get("exact"):
            return seg.core.search_exact(flat, offs, k, num_threads=opts["num_threads"], allowed=allowed)
        params = dict(opts["params"])
        if opts["total_live"] > seg.n_live:
            # A segment reranks its share of the candidates (at least k, and never fewer
            # than a quarter of the budget: a small segment is cheap to search well).
            share = params["n_candidates"] * seg.n_live / opts["total_live"]
            params["n_candidates"] = max(k, int(np.ceil(max(share, params["n_candidates"] / 4))))
            if params.get("n_interaction"):
                params["n_interaction"] = max(params["n_interaction"], params["n_candidates"])
            if params.get("n_bitvector"):
                params["n_bitvector"] = max(params["n_bitvector"], params["n_candidates"])
        return seg.core.search(flat, offs, k, num_threads=opts["num_threads"], allowed=allowed, **params)

    def _segment_exact(self, seg, q, k, rows, floors, opts):
        from ._living import bits_of

        mask = np.zeros(seg.n_docs, dtype=np.bool_)
        mask[rows] = True
        return seg.core.search_exact(q[0], q[1], k, num_threads=opts["num_threads"], allowed=bits_of(mask))

    def _plan_exact(self, seg, n_allowed: int, k: int, opts: dict) -> bool:
        # Exact MaxSim over the allowed documents costs what reranking as many candidates
        # does; below twice the candidate budget that beats generating candidates.
        return opts.get("exact", False) or n_allowed <= 2 * opts["params"]["n_candidates"]

    def search(
        self,
        queries,
        k: int = 10,
        *,
        query_offsets=None,
        n_candidates: int | None = None,
        n_probe: int | None = None,
        n_interaction: int | None = None,
        bitvector_threshold: float | None = None,
        n_bitvector: int | None = None,
        target_recall: float | None = None,
        filter=None,
        num_threads: int = 0,
    ) -> SearchResult:
        """Approximate top-k documents by MaxSim; returned scores are exact.

        The centroid-only parameters default to ``None`` (the default given below); giving
        one to a ``method="muvera"`` index raises ``TypeError``.

        Parameters
        ----------
        queries : array_like or sequence of array_like
            A list of ``[m_i, dim]`` arrays; a 3-d array ``[n_queries, m, dim]``; or a 2-d
            array ``[total_query_tokens, dim]`` with ``query_offsets`` (one query alone:
            wrap it in a list). Converted to C-contiguous float32 (a list is concatenated
            into one copy).
        k : int
            Results per query (>= 1). Rows with fewer candidates are padded with
            ``-inf`` / ``-1``.
        query_offsets : array_like of int, optional
            ``[n_queries + 1]`` offsets into a 2-d ``queries`` buffer.
        n_candidates : int >= 1, optional
            Documents reranked exactly per query; ``>= n_docs`` reranks everything, i.e.
            exact search. Default: the setting of the last :meth:`tune` that reached its
            target (saved with the index), else derived from the corpus size
            (:func:`default_search`: centroid 512 up to 20,000 documents, then growing as
            ``n_docs ** 0.25``, at most ``n_docs``; muvera 1024), never fewer than ``k`` and
            never more than a given ``n_interaction`` / ``n_bitvector``.
        n_probe : int >= 1, optional
            ``method="centroid"``: centroids probed per query token; ``>= n_centroids``
            visits every document. Default: tuned, else 1.
        n_interaction : int >= 0, optional
            ``method="centroid"``: documents kept by the probe score for the centroid
            interaction; 0 = every probed document; otherwise ``>= n_candidates``
            (default ``8 * n_candidates``).
        bitvector_threshold : float, optional
            ``method="centroid"``: EMVB-style prefilter: a query token "matches" a
            document when one of its centroids scores ``>=`` this; ``None`` = off (default).
        n_bitvector : int >= 0, optional
            ``method="centroid"``: documents the prefilter keeps (the ones matching the most
            query tokens); 0 = off (default), otherwise ``>= n_candidates``.
        target_recall : float in (0, 1], optional
            Use the setting :meth:`tune` stored for this ``k`` and a target at least this
            high (the fastest such); ``ValueError`` naming ``target_recall`` when the
            index was not tuned for it (tuning never runs implicitly). Not combinable with
            ``n_candidates`` / ``n_probe``.
        filter : aftershock.IdFilter or array_like of int, optional
            Only documents whose id passes the filter are returned (an array is an
            allow-list). Applied inside candidate generation; a segment where at most
            ``2 * n_candidates`` documents pass is searched exactly over them.
        num_threads : int
            Threads (0 = all cores); parallel over queries. Results do not depend on it.

        Returns
        -------
        SearchResult
            ``scores`` float32 ``[n_queries, k]`` (best first, ties to the smaller id) and
            ``ids`` int64 ``[n_queries, k]``.

        Raises
        ------
        TypeError
            For a non-numeric dtype or parameter, an unknown keyword, or a centroid-only
            parameter given to a muvera index (the message names it).
        ValueError
            For a wrong dim, empty query, NaN/inf, ``k < 1``, or an out-of-range
            parameter (the message names it).
        """
        _check_method_params(
            self.method,
            _METHOD_OF_SEARCH,
            {
                "n_probe": n_probe,
                "n_interaction": n_interaction,
                "bitvector_threshold": bitvector_threshold,
                "n_bitvector": n_bitvector,
            },
        )
        k = positive_int(k, "k", minimum=1)
        n_candidates, n_probe = self._resolve(
            k, n_candidates, n_probe, target_recall, caps=(n_interaction, n_bitvector)
        )
        params = {
            "n_candidates": _count(n_candidates, "n_candidates", 1),
            "n_probe": _count(n_probe, "n_probe", 1),
            "n_interaction": _count(n_interaction, "n_interaction", 0),
            "bitvector_threshold": (
                None if bitvector_threshold is None else real(bitvector_threshold, "bitvector_threshold")
            ),
            "n_bitvector": _count(n_bitvector, "n_bitvector", 0),
        }
        num_threads = thread_count(num_threads)
        flat, offs = as_ragged(queries, query_offsets, "queries", "query_offsets")
        if params["n_candidates"] is None:
            params["n_candidates"] = max(self._defaults()["n_candidates"], k)
        opts = {"params": params, "num_threads": num_threads}
        scores, ids = self._search_live((flat, offs), len(offs) - 1, k, opts, filter)
        return SearchResult(scores, ids)

    # ------------------------------------------------------------- defaults
    def _defaults(self) -> dict:
        """The search defaults: the tuned ones when tune() stored some, else the built-in
        ones for this corpus size (:func:`default_search`)."""
        return {**default_search(self.method, self.n_docs), **(self._tuned_defaults() or {})}

    def _resolve(self, k, n_candidates, n_probe, target_recall, caps=()):
        if target_recall is not None:
            given = [n for n, v in (("n_candidates", n_candidates), ("n_probe", n_probe)) if v is not None]
            if given:
                raise ValueError(f"target_recall: cannot be combined with {' / '.join(given)} (it picks them)")
            tuned = self._tuned_for(target_recall, k)
            return tuned["n_candidates"], tuned.get("n_probe")
        d = self._defaults()
        if n_candidates is None:
            # A default never reranks fewer documents than asked for, nor more than an
            # explicit n_interaction / n_bitvector keeps (those must be >= n_candidates).
            n_candidates = max(d["n_candidates"], k)
            for cap in caps:
                if isinstance(cap, (int, np.integer)) and not isinstance(cap, bool) and cap > 0:
                    n_candidates = min(n_candidates, int(cap))
        if n_probe is None and self.method == "centroid":
            n_probe = d["n_probe"]
        return n_candidates, n_probe

    def _check_tuned_params(self, params: dict) -> dict:
        names = {"n_candidates"} if self.method == "muvera" else {"n_candidates", "n_probe"}
        if set(params) != names:
            raise ValueError(f"expected {sorted(names)}, got {sorted(params)}")
        return {name: positive_int(params[name], name) for name in sorted(names)}

    # ------------------------------------------------------------------ tune
    def tune(
        self,
        queries=None,
        *,
        query_offsets=None,
        target_recall: float = 0.95,
        k: int = 10,
        sample: int | None = 200,
        max_ms: float | None = None,
        num_threads: int = 1,
        repeats: int = 3,
        ground_truth=None,
        seed: int = 0,
    ) -> _tuning.TuneResult:
        """Find the fastest ``n_probe`` / ``n_candidates`` reaching ``target_recall``.

        Recall is recall@``k`` against exact MaxSim over the stored documents
        (:meth:`search_exact`) on the sample queries. The search (:mod:`aftershock.tuning`)
        walks the recall frontier: for each ``n_probe`` of a coarse grid (1, 2, 3, 4, 6,
        8, ...), the smallest ``n_candidates`` reaching the target is bisected (16 ... 8192,
        capped at ``n_docs``); then the neighbourhood of the fastest point is refined.
        ``method="muvera"`` indexes have one knob, ``n_candidates``. ``n_interaction`` and
        the bit-vector prefilter keep their defaults. A reached result becomes the index's
        default search setting, is kept for ``search(..., target_recall=...)``, and is
        saved with the index.

        Parameters
        ----------
        queries : as for :meth:`search`, optional
            Queries like the ones the index will serve (best: held-out real queries).
            When None, ``sample`` documents (seeded) become queries, each reduced to 16 of
            its stored tokens drawn at random (in order; all of a shorter document):
            ColBERT queries hold ~10-32 tokens and documents ~100, and a query's token
            count sets both the probing work and the score scale, so whole documents would
            tune for queries that never come. A document-query's exact top-k contains the
            document itself, which makes its recall slightly optimistic.
        query_offsets : array_like of int, optional
            As for :meth:`search`.
        target_recall : float in (0, 1]
        k : int
        sample : int or None
            Queries used (a seeded subset); None uses all.
        max_ms : float, optional
            Only settings at most this many milliseconds per query qualify.
        num_threads : int
            Threads of the timed searches (default 1).
        repeats : int
            Timed runs per frontier setting; the minimum is kept.
        ground_truth : array_like of int ``[n_queries, >= k]``, optional
            Exact top-k ids of all given queries (default: computed by :meth:`search_exact`).
        seed : int
            Seeds the sampling.

        Returns
        -------
        aftershock.tuning.TuneResult

        Raises
        ------
        TypeError, ValueError
            Bad queries (as :meth:`search`), ``target_recall``
            outside (0, 1], ``k < 1``, ``sample < 1``, ``max_ms <= 0``, ``repeats < 1`` or
            a ``ground_truth`` of the wrong shape (each names the argument).
        """
        target, k = _tuning.check_target(target_recall, k)
        sample = _tuning.check_sample(sample)
        max_ms = _tuning.check_max_ms(max_ms)
        repeats = positive_int(repeats, "repeats")
        num_threads = thread_count(num_threads)
        seed = seed_value(seed)
        if queries is None:
            if ground_truth is not None:
                raise ValueError("ground_truth: only with given queries")
            if query_offsets is not None:
                raise ValueError("query_offsets: only with given queries")
            rows = _tuning.sample_rows(self.n_docs, 200 if sample is None else sample, seed)
            rng = np.random.default_rng(seed)
            parts = []
            flat_docs, doc_offs = self._live_tokens()
            for r in rows:
                tokens = flat_docs[doc_offs[r] : doc_offs[r + 1]]
                if len(tokens) > _DOC_QUERY_TOKENS:
                    tokens = tokens[np.sort(rng.choice(len(tokens), _DOC_QUERY_TOKENS, replace=False))]
                parts.append(tokens)
            source = "documents"
        else:
            flat, offs = as_ragged(queries, query_offsets, "queries", "query_offsets", self.dim)
            n_all = len(offs) - 1
            if n_all == 0:
                raise ValueError("queries: expected at least one query")
            rows = _tuning.sample_rows(n_all, sample, seed)
            parts = [flat[offs[r] : offs[r + 1]] for r in rows]
            source = "given"
        q_off = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=q_off[1:])
        q = np.ascontiguousarray(np.concatenate(parts))
        if ground_truth is not None:
            gt = np.asarray(ground_truth)
            n_all = len(offs) - 1
            if gt.ndim != 2 or gt.shape[0] != n_all or gt.shape[1] < k or gt.dtype.kind not in "iu":
                raise ValueError(f"ground_truth: expected integer ids [{n_all}, >= {k}], got {gt.dtype} {gt.shape}")
            truth = gt[rows, :k]
        else:
            truth = self.search_exact(q, k, query_offsets=q_off, num_threads=0).ids
        cands = [c for c in _TUNE_N_CANDIDATES if k <= c < self.n_docs] + [self.n_docs]
        cands = sorted({max(c, k) for c in cands})
        inner = _tuning.Knob("n_candidates", cands, integer=True)
        outer = None
        if self.method == "centroid":
            n_centroids = self.info()["build"]["n_centroids"]
            probes = [p for p in _TUNE_N_PROBE if p < n_centroids] + [n_centroids]
            outer = _tuning.Knob("n_probe", sorted(set(probes)), integer=True)

        def run(params):
            opts = {"params": {"n_interaction": None, "bitvector_threshold": None, "n_bitvector": None,
                               "n_probe": None, **params}, "num_threads": num_threads}
            if self.method == "muvera":
                for name in _METHOD_OF_SEARCH:
                    opts["params"].pop(name, None)
            return self._search_live((q, q_off), len(q_off) - 1, k, opts)[1]

        params, recall, ms, reached, trials = _tuning.search_settings(
            run, truth, k, target, outer, inner, repeats=repeats, max_ms=max_ms
        )
        result = _tuning.TuneResult(params, recall, ms, reached, target, k, len(rows), source, tuple(trials))
        if reached:
            self._tuned_state().add(result)
        return result

    def search_exact(self, queries, k: int = 10, *, query_offsets=None, filter=None,
                     num_threads: int = 0) -> SearchResult:
        """Brute-force top-k by exact MaxSim over every stored document (the recall reference).

        Same arguments, result and errors as :meth:`search`, without search parameters.
        """
        k = positive_int(k, "k", minimum=1)
        num_threads = thread_count(num_threads)
        flat, offs = as_ragged(queries, query_offsets, "queries", "query_offsets")
        opts = {"exact": True, "num_threads": num_threads}
        scores, ids = self._search_live((flat, offs), len(offs) - 1, k, opts, filter)
        return SearchResult(scores, ids)

    def _live_tokens(self):
        """Every live document's stored tokens, in ascending id order: (vectors, offsets)."""
        return self._live_docs()[0]

    @property
    def method(self) -> str:
        """``"centroid"`` or ``"muvera"``."""
        return self._state.segments[0].core.method

    # ------------------------------------------------------------ persistence



    def info(self) -> dict:
        """Configuration and sizes, in the layout every aftershock class shares.

        Returns
        -------
        dict
            ``kind`` ("MultiVectorIndex"), ``n_docs``, ``dim``, ``precision``,
            ``size_bytes``; ``build``: the resolved build parameters (``method``,
            ``pool_factor``, ``pool_iters``, ``seed`` and the method's own: ``n_centroids``
            (the actual count), ``kmeans_iters``, ``kmeans_points_per_centroid``; or
            ``k_sim``, ``r_reps``, ``d_proj``, ``fill_empty``, ``final_dim``,
            ``fde_precision``); ``search``: the default search parameters
            (``n_candidates``; centroid also ``n_probe``, ``n_interaction``,
            ``bitvector_threshold``, ``n_bitvector``); ``stats``: ``total_tokens`` (after
            pooling), ``original_tokens``, ``n_centroids`` and ``n_postings`` or
            ``fde_dim``, ``index_size_bytes``, ``store_size_bytes``, ``ids_bytes`` and
            ``tombstones_bytes`` (the four add up to ``size_bytes``), ``bytes_per_token``
            (``size_bytes / total_tokens``) and ``store_bytes_per_token`` (the store alone),
            ``n_segments``,
            ``n_deleted``; ``mapping`` (see :meth:`load`): ``is_mapped`` (every segment
            memory-mapped), ``mapped_bytes`` (bytes of the mapped files; 0 in memory) and
            ``resident_bytes`` (of those, the bytes in memory now, by ``mincore``). With
            several segments, sizes and counts are sums and ``build`` is the largest
            segment's.
        """
        segs = self._state.segments
        parts = max(segs, key=lambda s: s.n_docs).core.info()
        if len(segs) > 1 or segs[0].n_deleted:
            stats = dict(parts["stats"])
            for name in ("total_tokens", "original_tokens", "n_postings", "index_size_bytes", "store_size_bytes"):
                if name in stats:
                    stats[name] = sum(s.core.info()["stats"].get(name, 0) for s in segs)
            parts = {**parts, "stats": stats}
        parts["stats"].update(self._living_bytes())
        st = parts["stats"]
        # Per stored token (after pooling): everything the index holds, and the store alone.
        st["bytes_per_token"] = self.size_bytes / max(1, st.get("total_tokens", 0))
        st["store_bytes_per_token"] = st["store_size_bytes"] / max(1, st.get("total_tokens", 0))
        parts["stats"]["n_segments"] = len(segs)
        parts["stats"]["n_deleted"] = sum(s.n_deleted for s in segs)
        parts["stats"]["mapping"] = self._mapping_stats()
        search = dict(parts["search"])
        defaults = self._defaults()
        search.update(defaults)
        if "n_interaction" in search and parts["search"].get("n_interaction"):
            # the core resolves n_interaction from its own n_candidates default
            search["n_interaction"] = _INTERACTION_FACTOR * defaults["n_candidates"]
        return self._make_info(
            build=parts["build"],
            search=search,
            stats=parts["stats"],
        )

    def _repr_fields(self) -> dict:
        return {"method": self.method}
