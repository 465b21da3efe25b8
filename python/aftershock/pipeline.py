"""Multi-stage retrieval: :class:`Pipeline` (first stage(s), optional fusion, exact MaxSim rerank).

A pipeline chains what users otherwise wire by hand (kANNolo, ColBERT-serve): a cheap
first stage proposes ``n_candidates`` documents per query, and a
:class:`~aftershock.MultiVectorStore` scores them exactly by MaxSim. Several first stages
(e.g. a :class:`~aftershock.SparseIndex` and a :class:`~aftershock.MultiVectorIndex`) are
fused into one candidate list, by reciprocal-rank fusion or by normalized-score fusion.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._results import SearchResult
from ._validate import as_csr, as_ragged, choice, positive_int, real, thread_count
from .multivector import MultiVectorIndex
from .sparse import SparseIndex
from .store import MultiVectorStore

__all__ = ["Pipeline", "fuse"]

_FUSIONS = ("rrf", "score")
_STAGE_CLASSES = {"SparseIndex": SparseIndex, "MultiVectorIndex": MultiVectorIndex}
_MANIFEST = "manifest.json"
_FORMAT = "aftershock-pipeline"
_VERSION = 1


def _to_store_ids(ids: np.ndarray) -> np.ndarray:
    """First-stage ids -> the reranking store's ids (int64, ``-1`` = none).

    The one place where ids cross stages. Every class speaks its documents' external ids
    (row numbers unless built or added with ``ids=``), and the stages and the store of a
    pipeline hold the same documents under the same ids, so this is the identity.
    """
    return np.ascontiguousarray(ids, dtype=np.int64)


def fuse(
    results: Sequence[SearchResult],
    depth: int,
    *,
    method: str = "rrf",
    weights: Sequence[float] | None = None,
    rrf_k: float = 60.0,
) -> SearchResult:
    """Fuse the ranked lists of several stages into one list of ``depth`` documents per query.

    Parameters
    ----------
    results : sequence of SearchResult
        One per stage, each ``[n_queries, k_s]`` (padding ``-1`` ignored); same ``n_queries``.
    depth : int
        Documents kept per query.
    method : {"rrf", "score"}
        ``"rrf"``: reciprocal-rank fusion, ``sum_s w_s / (rrf_k + rank_s(d))`` with ranks
        from 1 (Cormack et al. 2009); scale-free, so sparse and MaxSim scores need no
        calibration. ``"score"``: each stage's scores are min-max normalized per query over
        the stage's own returned list, ``(s - min) / (max - min)`` (1 when all are equal),
        and fused as ``sum_s w_s * norm_s(d)``. In both, a document a stage did not return
        contributes 0 for that stage.
    weights : sequence of float, optional
        One non-negative weight per stage (default 1 each).
    rrf_k : float
        The RRF constant (default 60, as in the paper).

    Returns
    -------
    SearchResult
        Fused scores (float32) and ids (int64) ``[n_queries, depth]``, best first, ties to
        the smaller id, padded with ``-inf`` / ``-1``.

    Raises
    ------
    ValueError
        No results, different numbers of queries, ``depth < 1``, a bad ``method``, weights
        of the wrong length or negative, or ``rrf_k < 0``.
    """
    method = choice(method, "method", _FUSIONS)
    depth = positive_int(depth, "depth")
    if len(results) == 0:
        raise ValueError("results: expected at least one stage's SearchResult")
    n_q = results[0].ids.shape[0]
    if any(r.ids.shape[0] != n_q for r in results):
        raise ValueError(
            f"results: expected the same number of queries in every stage, got {[r.ids.shape[0] for r in results]}"
        )
    w = _weights(weights, len(results))
    rrf_k = real(rrf_k, "rrf_k")
    if not (rrf_k >= 0 and math.isfinite(rrf_k)):
        raise ValueError(f"rrf_k: expected a finite number >= 0, got {rrf_k!r}")
    q_parts, d_parts, c_parts = [], [], []
    for r, weight in zip(results, w):
        ids = np.asarray(r.ids, dtype=np.int64)
        scores = np.asarray(r.scores, dtype=np.float64)
        valid = ids >= 0
        if method == "rrf":
            ranks = np.broadcast_to(np.arange(1, ids.shape[1] + 1, dtype=np.float64), ids.shape)
            contrib = weight / (rrf_k + ranks)
        else:
            # rows without a valid entry contribute nothing, whatever their bounds
            hi = np.where(valid, scores, -np.inf).max(axis=1, initial=-np.inf, keepdims=True)
            lo = np.where(valid, scores, np.inf).min(axis=1, initial=np.inf, keepdims=True)
            span = np.where(np.isfinite(hi) & np.isfinite(lo), hi - lo, 0.0)
            s = np.where(valid, scores, 0.0)
            with np.errstate(invalid="ignore"):
                norm = np.where(
                    span > 0, (s - np.where(np.isfinite(lo), lo, 0.0)) / np.where(span > 0, span, 1.0), 1.0
                )
            contrib = weight * norm
        rows = np.broadcast_to(np.arange(n_q)[:, None], ids.shape)
        q_parts.append(rows[valid])
        d_parts.append(ids[valid])
        c_parts.append(np.asarray(contrib)[valid])
    q = np.concatenate(q_parts)
    d = np.concatenate(d_parts)
    c = np.concatenate(c_parts)
    out_scores = np.full((n_q, depth), -np.inf, dtype=np.float32)
    out_ids = np.full((n_q, depth), -1, dtype=np.int64)
    if q.size == 0:
        return SearchResult(out_scores, out_ids)
    n_ids = int(d.max()) + 1
    key, inverse = np.unique(q * n_ids + d, return_inverse=True)
    total = np.bincount(inverse.ravel(), weights=c)
    kq, kd = key // n_ids, key % n_ids
    fused = total.astype(np.float32)
    # Rank on the float32 score the caller sees, so ties are ties there too (smaller id first).
    order = np.lexsort((kd, -fused, kq))
    kq, kd, fused = kq[order], kd[order], fused[order]
    starts = np.searchsorted(kq, np.arange(n_q), side="left")
    pos = np.arange(kq.size) - starts[kq]
    keep = pos < depth
    out_scores[kq[keep], pos[keep]] = fused[keep]
    out_ids[kq[keep], pos[keep]] = kd[keep]
    return SearchResult(out_scores, out_ids)


def _weights(weights, n: int) -> list[float]:
    if weights is None:
        return [1.0] * n
    w = [real(x, "weights") for x in weights]
    if len(w) != n:
        raise ValueError(f"weights: expected {n} weights (one per stage), got {len(w)}")
    if any(not (x >= 0 and math.isfinite(x)) for x in w):
        raise ValueError(f"weights: expected finite numbers >= 0, got {w}")
    return w


_STAGE_KNOBS = {
    "SparseIndex": {"query_cut", "heap_factor", "n_knn", "target_recall"},
    "MultiVectorIndex": {
        "n_candidates",
        "n_probe",
        "n_interaction",
        "bitvector_threshold",
        "n_bitvector",
        "target_recall",
    },
}


def _stage_params(stage_params, stages) -> list[dict]:
    if stage_params is None:
        return [{} for _ in stages]
    if not isinstance(stage_params, (list, tuple)) or len(stage_params) != len(stages):
        raise ValueError(f"stage_params: expected a list of {len(stages)} dicts (one per stage)")
    out = []
    for i, (params, stage) in enumerate(zip(stage_params, stages)):
        if not isinstance(params, dict):
            raise TypeError(f"stage_params[{i}]: expected a dict, got {type(params).__name__}")
        allowed = _STAGE_KNOBS[type(stage).__name__]
        for name, value in params.items():
            if name not in allowed:
                raise TypeError(
                    f"stage_params[{i}]: {name!r} is not a search parameter of {type(stage).__name__} "
                    f"(expected one of {sorted(allowed)})"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
                raise TypeError(f"stage_params[{i}][{name!r}]: expected a number, got {type(value).__name__}")
        out.append(dict(params))
    return out


def _size_on_disk(path: str) -> int:
    """Bytes of a saved stage: its file, or the files of its directory (a living index of
    several segments saves as one)."""
    if os.path.isdir(path):
        return sum(e.stat().st_size for e in os.scandir(path) if e.is_file(follow_symlinks=False))
    return os.path.getsize(path)


def _standardize(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per row: (x - mean) / std over the valid entries (std 0: all 0)."""
    n = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    xv = np.where(valid, x, 0.0)
    mean = xv.sum(axis=1, keepdims=True) / n
    std = np.sqrt((np.where(valid, x - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / n)
    return np.where(valid, (xv - mean) / np.where(std > 0, std, 1.0), 0.0)


def _cut(result: SearchResult, min_score: float | None, max_gap: float | None) -> SearchResult:
    """Relevance filtering of the last stage: see :class:`Pipeline`."""
    scores, ids = result.scores.copy(), result.ids.copy()
    drop = np.zeros(scores.shape, dtype=bool)
    if min_score is not None:
        drop |= scores < min_score
    if max_gap is not None and scores.shape[1] > 1:
        top = np.abs(scores[:, :1].astype(np.float64))
        with np.errstate(invalid="ignore"):
            gaps = scores[:, :-1].astype(np.float64) - scores[:, 1:].astype(np.float64)
        big = np.isfinite(gaps) & (gaps > max_gap * top)
        # everything after the first big gap is cut
        after = np.cumsum(big, axis=1) > 0
        drop[:, 1:] |= after
    scores[drop] = -np.inf
    ids[drop] = -1
    return SearchResult(scores, ids)


class Pipeline:
    """First stage(s) -> ``n_candidates`` documents -> exact MaxSim rerank.

    Parameters
    ----------
    stages : SparseIndex, MultiVectorIndex, or a sequence of them
        The first stage. Several stages each retrieve ``n_candidates`` documents and are
        fused (``fusion``) into one list of ``n_candidates``. Each stage searches with its
        own defaults (the tuned ones after its ``tune()``, saved in its file).
    rerank : MultiVectorStore, optional
        Scores the candidates exactly by MaxSim and returns the top ``k``. Without it the
        (fused) first-stage list is returned, cut to ``k``.
    n_candidates : int
        Documents passed from the first stage to the rerank (per stage, and after fusion).
    fusion : {"rrf", "score"}
        How several stages are fused (see :func:`aftershock.pipeline.fuse`); ignored with
        one stage.
    weights : sequence of float, optional
        Per-stage fusion weights (default 1 each).
    rrf_k : float
        Reciprocal-rank fusion constant (default 60).
    min_score : float, optional
        Relevance filter on the last stage: results scoring below it are cut.
    stage_params : sequence of dict, optional
        One dict per stage of search parameters for that stage (e.g. ``{"query_cut": 8}``
        or ``{"n_candidates": 100}``); default ``{}``: the stage's own defaults. Only the
        stage's knobs are accepted (``query_cut``, ``heap_factor``, ``n_knn``,
        ``target_recall``; ``n_candidates``, ``n_probe``, ``n_interaction``,
        ``bitvector_threshold``, ``n_bitvector``, ``target_recall``), plain numbers only.
        A multi-vector stage feeding a rerank needs few candidates of its own: its
        internal exact rerank of ``n_candidates`` documents is repeated by the pipeline's.
    interpolate : float >= 0
        Hybrid ranking (needs ``rerank`` and a :class:`~aftershock.SparseIndex` stage):
        every candidate is ranked by ``z(MaxSim) + interpolate * z(sparse)``, where
        ``sparse`` is its exact score by the sparse stage(s) (:meth:`SparseIndex.score`;
        several sparse stages: their sum, weighted by ``weights``) and ``z`` standardizes
        over the query's candidates (mean 0, standard deviation 1). The returned scores are
        these combined values. 0 (default): rank by MaxSim alone. The two models make
        different errors, so a small weight lifts judged quality above either: on the real
        set, 0.1 gives MRR@10 above exact MaxSim's (README, "A retrieval pipeline").
    max_gap : float, optional
        Relevance filter on the last stage: results after the first drop between
        consecutive scores larger than ``max_gap`` times the best score's magnitude are
        cut (a "score cliff"; e.g. 0.1 = a drop of 10%). Cut results are marked like
        :class:`~aftershock.SearchResult` padding, id ``-1`` and score ``-inf``, so rows
        keep their shape.

    Document ids are the classes' external ids (row numbers unless given with ``ids=``),
    shared by every stage and the store: all must hold the same documents under the same
    ids (checked: the same number of live documents); id handling across stages lives in
    one function, ``_to_store_ids``. Living indexes (ids, adds, deletes) work as stages
    and store, and save as directories inside the pipeline's.

    Thread safety: :meth:`search` may run concurrently (every core call releases the GIL).

    Raises
    ------
    TypeError
        A stage that is not a SparseIndex / MultiVectorIndex, or a ``rerank`` that is not
        a MultiVectorStore.
    ValueError
        No stage, stages or store with different ``n_docs``, a multi-vector stage and a
        store of different ``dim``, or a parameter out of range (each names itself).
    """

    def __init__(
        self,
        stages,
        rerank: MultiVectorStore | None = None,
        *,
        n_candidates: int = 100,
        fusion: str = "rrf",
        weights: Sequence[float] | None = None,
        rrf_k: float = 60.0,
        min_score: float | None = None,
        max_gap: float | None = None,
        stage_params: Sequence[dict] | None = None,
        interpolate: float = 0.0,
    ) -> None:
        if isinstance(stages, (SparseIndex, MultiVectorIndex)):
            stages = [stages]
        if not isinstance(stages, (list, tuple)):
            raise TypeError(
                f"stages: expected a SparseIndex, a MultiVectorIndex or a list of them, got {type(stages).__name__}"
            )
        if not stages:
            raise ValueError("stages: expected at least one first stage")
        for i, s in enumerate(stages):
            if not isinstance(s, (SparseIndex, MultiVectorIndex)):
                raise TypeError(
                    f"stages[{i}]: expected a SparseIndex or a MultiVectorIndex, got {type(s).__name__}"
                )
        if rerank is not None and not isinstance(rerank, MultiVectorStore):
            raise TypeError(f"rerank: expected a MultiVectorStore or None, got {type(rerank).__name__}")
        n_docs = {s.n_docs for s in stages} | ({rerank.n_docs} if rerank is not None else set())
        if len(n_docs) != 1:
            raise ValueError(
                "stages: every stage and the rerank store must hold the same documents (under the same ids); "
                f"got n_docs {[s.n_docs for s in stages]}"
                + (f" and rerank {rerank.n_docs}" if rerank is not None else "")
            )
        dims = {s.dim for s in stages if isinstance(s, MultiVectorIndex)} | (
            {rerank.dim} if rerank is not None else set()
        )
        if len(dims) > 1:
            raise ValueError(f"rerank: token dim differs from the multi-vector stages' ({sorted(dims)})")
        self.stages = list(stages)
        self.rerank = rerank
        self.n_candidates = positive_int(n_candidates, "n_candidates")
        self.fusion = choice(fusion, "fusion", _FUSIONS)
        self.weights = _weights(weights, len(self.stages))
        self.stage_params = _stage_params(stage_params, self.stages)
        self.rrf_k = real(rrf_k, "rrf_k")
        if not (self.rrf_k >= 0 and math.isfinite(self.rrf_k)):
            raise ValueError(f"rrf_k: expected a finite number >= 0, got {rrf_k!r}")
        self.min_score = None if min_score is None else real(min_score, "min_score")
        if self.min_score is not None and math.isnan(self.min_score):
            raise ValueError("min_score: expected a number, got nan")
        self.max_gap = None if max_gap is None else real(max_gap, "max_gap")
        if self.max_gap is not None and not (self.max_gap >= 0 and math.isfinite(self.max_gap)):
            raise ValueError(f"max_gap: expected a finite number >= 0, got {max_gap!r}")
        self.interpolate = real(interpolate, "interpolate")
        if not (self.interpolate >= 0 and math.isfinite(self.interpolate)):
            raise ValueError(f"interpolate: expected a finite number >= 0, got {interpolate!r}")
        if self.interpolate > 0 and (rerank is None or not any(isinstance(s, SparseIndex) for s in self.stages)):
            raise ValueError("interpolate: needs a rerank store and a SparseIndex stage (it mixes their scores)")

    @property
    def n_docs(self) -> int:
        return self.stages[0].n_docs

    def __repr__(self) -> str:
        stages = ", ".join(type(s).__name__ for s in self.stages)
        return (
            f"Pipeline(stages=[{stages}], rerank={'MultiVectorStore' if self.rerank else None}, "
            f"n_candidates={self.n_candidates}, fusion={self.fusion!r}, n_docs={self.n_docs})"
        )

    # ----------------------------------------------------------------- search
    def search(
        self,
        sparse_queries=None,
        token_queries=None,
        k: int = 10,
        *,
        token_offsets=None,
        n_candidates: int | None = None,
        num_threads: int = 0,
    ) -> SearchResult:
        """Top-``k`` documents per query.

        Parameters
        ----------
        sparse_queries : as for :meth:`SparseIndex.search`, optional
            Required when a stage is a :class:`SparseIndex`.
        token_queries : as for :meth:`MultiVectorStore.search`, optional
            Required when a stage is a :class:`MultiVectorIndex` or ``rerank`` is set.
            Converted once to float32 and shared by those stages.
        k : int
            Results per query.
        token_offsets : array_like of int, optional
            ``[n_queries + 1]`` offsets with a 2-d ``token_queries`` buffer.
        n_candidates : int, optional
            Overrides the pipeline's ``n_candidates`` for this call.
        num_threads : int
            Threads of every stage (0 = all cores); the GIL is released in each stage.

        Returns
        -------
        SearchResult
            ``[n_queries, k]``; with ``rerank`` the scores are exact MaxSim, else the
            (fused) first-stage scores. Padding and relevance-filtered results are ``-1`` /
            ``-inf``. With ``n_candidates >= n_docs`` and one stage, the result equals
            exact MaxSim over every document the stage returns.

        Raises
        ------
        TypeError, ValueError
            Missing or malformed queries (named ``sparse_queries`` / ``token_queries``),
            different numbers of sparse and token queries, ``k < 1``, ``n_candidates < 1``.
        """
        k = positive_int(k, "k")
        depth = self.n_candidates if n_candidates is None else positive_int(n_candidates, "n_candidates")
        if self.rerank is None:
            depth = max(depth, k)
        num_threads = thread_count(num_threads)
        needs_sparse = any(isinstance(s, SparseIndex) for s in self.stages)
        needs_tokens = self.rerank is not None or any(isinstance(s, MultiVectorIndex) for s in self.stages)
        sq = tq = None
        n_q = set()
        if needs_sparse:
            if sparse_queries is None:
                raise ValueError("sparse_queries: required by the pipeline's SparseIndex stage")
            sq = as_csr(sparse_queries, "sparse_queries")
            n_q.add(("sparse_queries", sq.n_rows))
            import scipy.sparse as sp

            sq_matrix = sp.csr_matrix((sq.values, sq.indices, sq.indptr), shape=(sq.n_rows, sq.n_cols))
        elif sparse_queries is not None:
            raise ValueError("sparse_queries: the pipeline has no SparseIndex stage")
        if needs_tokens:
            if token_queries is None:
                raise ValueError("token_queries: required by the pipeline's multi-vector stage or rerank")
            dim = (
                self.rerank.dim
                if self.rerank is not None
                else next(s.dim for s in self.stages if isinstance(s, MultiVectorIndex))
            )
            tq = as_ragged(token_queries, token_offsets, "token_queries", "token_offsets", dim)
            n_q.add(("token_queries", len(tq[1]) - 1))
        elif token_queries is not None:
            raise ValueError("token_queries: the pipeline has no multi-vector stage or rerank")
        if len({n for _, n in n_q}) > 1:
            raise ValueError(f"token_queries: expected as many queries as sparse_queries, got {dict(n_q)}")
        stage_results = []
        for s, params in zip(self.stages, self.stage_params):
            if isinstance(s, SparseIndex):
                if sq.n_cols != s.dim:
                    raise ValueError(f"sparse_queries: expected {s.dim} columns, got {sq.n_cols}")
                stage_results.append(s.search(sq_matrix, depth, num_threads=num_threads, **params))
            else:
                stage_results.append(
                    s.search(tq[0], depth, query_offsets=tq[1], num_threads=num_threads, **params)
                )
        if len(stage_results) == 1:
            cand = stage_results[0]
        else:
            cand = fuse(stage_results, depth, method=self.fusion, weights=self.weights, rrf_k=self.rrf_k)
        if self.rerank is not None and self.interpolate > 0:
            result = self._hybrid(sq_matrix, tq, cand.ids, k, num_threads)
        elif self.rerank is not None:
            ids = _to_store_ids(cand.ids)
            result = self.rerank.rerank(tq[0], ids, k, query_offsets=tq[1], num_threads=num_threads)
        else:
            result = SearchResult(
                np.ascontiguousarray(cand.scores[:, :k], dtype=np.float32),
                np.ascontiguousarray(cand.ids[:, :k], dtype=np.int64),
            )
        if self.min_score is not None or self.max_gap is not None:
            result = _cut(result, self.min_score, self.max_gap)
        return result

    def _hybrid(self, sq_matrix, tq, cand_ids: np.ndarray, k: int, num_threads: int) -> SearchResult:
        """MaxSim of every candidate, mixed with its sparse score (``interpolate``)."""
        ids = _to_store_ids(cand_ids)
        exact = self.rerank.rerank(tq[0], ids, ids.shape[1], query_offsets=tq[1], num_threads=num_threads)
        sparse = np.zeros(exact.ids.shape, dtype=np.float64)
        for s, w in zip(self.stages, self.weights):
            if isinstance(s, SparseIndex) and w:
                sparse += w * s.score(sq_matrix, exact.ids, num_threads=num_threads)
        valid = exact.ids >= 0
        mixed = _standardize(exact.scores.astype(np.float64), valid) + self.interpolate * _standardize(sparse, valid)
        mixed[~valid] = -np.inf
        # best first, ties to the smaller id (as every aftershock result)
        order = np.lexsort((np.where(valid, exact.ids, np.iinfo(np.int64).max), -mixed), axis=1)[:, :k]
        scores = np.take_along_axis(mixed, order, 1).astype(np.float32)
        out_ids = np.take_along_axis(exact.ids, order, 1)
        if out_ids.shape[1] < k:  # fewer candidates than k: pad as every result
            pad = k - out_ids.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            out_ids = np.pad(out_ids, ((0, 0), (0, pad)), constant_values=-1)
        return SearchResult(np.ascontiguousarray(scores), np.ascontiguousarray(out_ids, dtype=np.int64))

    # ------------------------------------------------------------ save / load
    def _params(self) -> dict[str, Any]:
        return {
            "interpolate": self.interpolate,
            "n_candidates": self.n_candidates,
            "fusion": self.fusion,
            "weights": self.weights,
            "stage_params": self.stage_params,
            "rrf_k": self.rrf_k,
            "min_score": self.min_score,
            "max_gap": self.max_gap,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the pipeline as one directory: each stage's and the store's file (in the
        aftershock format, with their tuned settings) and ``manifest.json`` naming them,
        their kind, ``n_docs`` and byte size, and the pipeline's parameters.

        Atomic per directory: everything is written into a new temporary directory beside
        ``path`` and renamed into place; an existing pipeline directory at ``path`` is
        first renamed aside and removed after the rename, so a reader sees the old
        directory or the new one (between the two renames, briefly, none).

        Raises
        ------
        TypeError
            ``path`` is not a str or os.PathLike.
        FileExistsError
            ``path`` exists and is not a pipeline directory (it is never overwritten).
        OSError
            The directory cannot be written; ``path`` is left as it was.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
        target = os.path.abspath(os.fspath(path))
        if os.path.lexists(target) and not os.path.isfile(os.path.join(target, _MANIFEST)):
            raise FileExistsError(f"path: {target} exists and is not a saved pipeline (not overwritten)")
        parent, name = os.path.split(target)
        tmp = os.path.join(parent, f".{name}.{os.getpid()}.{secrets.token_hex(8)}.aftershock-tmp")
        os.mkdir(tmp)
        try:
            entries = []
            for i, s in enumerate(self.stages):
                fname = f"stage{i}.aft"
                s.save(os.path.join(tmp, fname))
                entries.append(
                    {
                        "kind": type(s).__name__,
                        "file": fname,
                        "n_docs": s.n_docs,
                        "size_bytes": _size_on_disk(os.path.join(tmp, fname)),
                    }
                )
            rerank = None
            if self.rerank is not None:
                self.rerank.save(os.path.join(tmp, "rerank.aft"))
                rerank = {
                    "kind": "MultiVectorStore",
                    "file": "rerank.aft",
                    "n_docs": self.rerank.n_docs,
                    "size_bytes": _size_on_disk(os.path.join(tmp, "rerank.aft")),
                }
            manifest = {
                "format": _FORMAT,
                "version": _VERSION,
                "stages": entries,
                "rerank": rerank,
                "params": self._params(),
            }
            with open(os.path.join(tmp, _MANIFEST), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=2, sort_keys=True, allow_nan=False)
                f.flush()
                os.fsync(f.fileno())
            old = None
            if os.path.lexists(target):
                old = os.path.join(parent, f".{name}.{os.getpid()}.{secrets.token_hex(8)}.aftershock-old")
                os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                if old is not None:
                    os.rename(old, target)
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> Pipeline:
        """Read a directory written by :meth:`save`, verifying the manifest and every file
        (each file's own checksums and values, its kind, ``n_docs`` and byte size).

        Raises
        ------
        TypeError
            ``path`` is not a str or os.PathLike.
        aftershock.FormatError
            A missing, malformed or inconsistent manifest, a file of another kind or size,
            or a damaged file.
        OSError
            The directory or a file cannot be read.
        """
        from . import _core

        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
        root = os.fspath(path)

        def bad(why: str) -> Exception:
            return _core.FormatError(f"{os.path.join(root, _MANIFEST)}: {why}")

        with open(os.path.join(root, _MANIFEST), encoding="utf-8") as f:
            try:
                m = json.load(f)
            except ValueError:
                raise bad("not valid JSON") from None
        if not isinstance(m, dict) or m.get("format") != _FORMAT:
            raise bad("not an aftershock pipeline manifest")
        if m.get("version") != _VERSION:
            raise bad(f"version {m.get('version')!r}; this build reads {_VERSION}")
        if set(m) != {"format", "version", "stages", "rerank", "params"}:
            raise bad("unexpected fields")

        def load_entry(entry, allowed: dict[str, type], what: str):
            if not isinstance(entry, dict) or set(entry) != {"kind", "file", "n_docs", "size_bytes"}:
                raise bad(f"{what}: unexpected fields")
            klass = allowed.get(entry["kind"])
            if klass is None:
                raise bad(f"{what}: unknown kind {entry['kind']!r}")
            fname = entry["file"]
            if not isinstance(fname, str) or os.path.basename(fname) != fname or fname in ("", ".", ".."):
                raise bad(f"{what}: bad file name {fname!r}")
            full = os.path.join(root, fname)
            size = _size_on_disk(full)
            if size != entry["size_bytes"]:
                raise bad(
                    f"{what}: {fname} has {size} bytes, the manifest says {entry['size_bytes']}"
                )
            obj = klass.load(full)
            if obj.n_docs != entry["n_docs"]:
                raise bad(
                    f"{what}: {fname} holds {obj.n_docs} documents, the manifest says {entry['n_docs']}"
                )
            return obj

        if not isinstance(m["stages"], list) or not m["stages"]:
            raise bad("no stages")
        stages = [load_entry(e, _STAGE_CLASSES, f"stages[{i}]") for i, e in enumerate(m["stages"])]
        rerank = None
        if m["rerank"] is not None:
            rerank = load_entry(m["rerank"], {"MultiVectorStore": MultiVectorStore}, "rerank")
        params = m["params"]
        keys = {"n_candidates", "fusion", "weights", "rrf_k", "min_score", "max_gap", "stage_params"}
        # "interpolate" came later: a pipeline saved before it has none (0)
        if not isinstance(params, dict) or not keys <= set(params) <= keys | {"interpolate"}:
            raise bad("params: unexpected fields")
        try:
            return cls(stages, rerank, **params)
        except (TypeError, ValueError) as exc:
            raise bad(f"params: {exc}") from None
