"""Ragged multi-vector documents with exact late-interaction scoring: :class:`MultiVectorStore`.

``score(q, d) = sum_i max_j <q_i, d_j>`` (ColBERT MaxSim) over the query's tokens ``q_i`` and
the document's tokens ``d_j``, accumulated in float32 by register-blocked SIMD kernels
(AVX-512, AVX2, scalar; AVX512_BF16 and AVX512_VNNI where present). See
``cpp/src/maxsim/README.md`` for the exact definition per storage precision and the error
bounds.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from . import _core
from ._base import CoreBacked
from ._compat import warn_renamed
from ._living import Living, RaggedDocs, check_ids, merge_topk, take_ragged
from ._results import SearchResult
from ._validate import as_ragged, choice, float_matrix, int_vector, positive_int, thread_count

__all__ = ["MultiVectorStore"]

_PRECISIONS = ("fp32", "fp16", "bf16", "int8", "res1", "res2", "res4")



class MultiVectorStore(RaggedDocs, Living, CoreBacked):
    """Documents as ragged sets of token vectors, scored exactly by MaxSim.

    Build with :meth:`build`. Document ids are row numbers ``0 .. n_docs - 1`` unless
    given (``build(..., ids=...)``); the store is living like the indexes
    (docs/living-index.md: :meth:`add`, :meth:`delete`, :meth:`update`, :meth:`compact`),
    so a pipeline's rerank store follows its first stage's ids. Methods that return one
    value per document (:meth:`maxsim`, :attr:`offsets`, :attr:`doc_lengths`) list the
    live documents in ascending id order (:meth:`ids`).

    Notes
    -----
    Thread safety: every method may run concurrently from many threads; the batch calls
    release the GIL. Pickling uses the same bytes as :meth:`save`.
    """

    _core_class = _core.MultiVectorStore

    def __init__(self, vectors, offsets=None, *, precision: str = "fp32", num_threads: int = 0):
        """Deprecated: use :meth:`MultiVectorStore.build` (same arguments)."""
        warn_renamed("MultiVectorStore(vectors, offsets, ...)", "MultiVectorStore.build(vectors, offsets, ...)")
        self._core = self._build_core(vectors, offsets, precision, num_threads)

    @staticmethod
    def _build_core(vectors, offsets, precision, num_threads):
        precision = choice(precision, "precision", _PRECISIONS)
        threads = thread_count(num_threads)
        flat, offs = as_ragged(vectors, offsets, "vectors", "offsets")
        return _core.MultiVectorStore(flat, offs, precision, threads)

    @classmethod
    def build(cls, vectors, offsets=None, *, ids=None, precision: str = "fp32",
              num_threads: int = 0, centroids=None, n_centroids: int | None = None) -> MultiVectorStore:
        """Store ``vectors`` as documents.

        Parameters
        ----------
        vectors : array_like ``[total_tokens, dim]``, list of ``[n_i, dim]`` arrays, or ``[n_docs, n, dim]``
            All documents' token vectors, concatenated (then ``offsets`` is required); one
            2-d array per document; or a 3-d array of equal-length documents. Real dtypes are
            converted once to float32 (a copy when the input is not C-contiguous float32;
            a list is always concatenated into one copy), then to ``precision``.
        offsets : array_like of int, ``[n_docs + 1]``, optional
            With a 2-d ``vectors``: document ``i`` is ``vectors[offsets[i]:offsets[i + 1]]``;
            ``offsets[0] == 0``, strictly increasing (every document has at least one token)
            and ``offsets[-1] == total_tokens``.
        ids : array_like of int, optional
            The documents' ids (unique, >= 0); default row numbers.
        precision : {"fp32", "fp16", "bf16", "int8", "res1", "res2", "res4"}
            Storage precision. ``fp32`` is exact; ``fp16`` (|x| < 65520) and ``bf16`` round
            to nearest even (with ``bf16`` the query is rounded to bf16 as well); ``int8``
            keeps one float32 scale per token and quantizes queries the same way.
            ``res1`` / ``res2`` / ``res4`` (PLAID-style residual compression, |x| < 2^50):
            each token is stored as the id of its nearest centroid (2 bytes) plus the
            residual quantized to 1, 2 or 4 bits per dimension (per-dimension bucket cutoffs
            at residual quantiles, bucket weights = mean residual per bucket): 2 + dim / 8,
            2 + dim / 4 or 2 + dim / 2 bytes per token (18 / 34 / 66 at dim 128), plus the
            codebook. Queries stay float32 and every score is the exact float32 MaxSim over
            the decompressed tokens (:meth:`doc` returns them); decompression happens panel
            by panel inside the SIMD kernels. Scores are always accumulated in float32.
        num_threads : int
            Threads for the conversion, 0 = all cores. The result does not depend on it.
        centroids : array_like ``[n_centroids, dim]``, optional
            Residual precisions only: the codebook's centroids (e.g. a centroid
            :class:`MultiVectorIndex`'s ``centroids``); every token is coded by its nearest
            one, exactly as that index assigns it. Default: k-means (8 iterations) on an
            evenly spread sample of ``min(total_tokens, max(65536, min(64 n_centroids,
            262144)))`` tokens. Segments added later train their own codebook.
        n_centroids : int, optional
            Residual precisions without ``centroids``: the codebook size to train, 1 to
            min(65536, total_tokens). Default: the centroid index's automatic count
            ``2^floor(log2(2 sqrt(total_tokens)))`` in [16, 65536] (2,048 for 2 M tokens).
            Larger codebooks lower the residuals a little (res2 recall@10 0.821 / 0.832 /
            0.845 at 2,048 / 8,192 / 16,384 centroids on 1.67 M real tokens) at a build
            cost roughly linear in ``n_centroids`` (27 / 128 / 274 s) and
            ``2 * n_centroids * dim * 4`` bytes of codebook (two layouts):
            cpp/src/multivector/README.md, "Compressed token storage".

        Returns
        -------
        MultiVectorStore

        Raises
        ------
        TypeError
            A non-real dtype (bool, complex, object, strings), a non-integer ``offsets`` or
            a non-string ``precision``.
        ValueError
            NaN/inf values (the message names the first bad row and column), ``dim == 0``,
            offsets not starting at 0, not strictly increasing or not ending at the token
            count, values out of the precision's range, an unknown ``precision``, a 2-d
            ``vectors`` without ``offsets``, or ``offsets`` with a list of arrays.
        """
        precision = choice(precision, "precision", _PRECISIONS)
        threads = thread_count(num_threads)
        flat, offs = as_ragged(vectors, offsets, "vectors", "offsets")
        if ids is not None:
            ids = check_ids(ids, len(offs) - 1)
            if ids.size > 1 and np.any(ids[1:] < ids[:-1]):
                order = np.argsort(ids, kind="stable")
                offs, (flat,) = take_ragged(offs, [flat], order)
                ids = ids[order]
        if centroids is not None:
            if precision not in ("res1", "res2", "res4"):
                raise ValueError(f"centroids: only the residual precisions (res1, res2, res4) take centroids, "
                                 f"got precision {precision!r}")
            centroids = float_matrix(centroids, "centroids", flat.shape[1])
        if n_centroids is not None:
            n_centroids = positive_int(n_centroids, "n_centroids", 1, 65536)
            if precision not in ("res1", "res2", "res4"):
                raise ValueError(f"n_centroids: only the residual precisions (res1, res2, res4) train a codebook, "
                                 f"got precision {precision!r}")
            if centroids is not None:
                raise ValueError("n_centroids: give either centroids or n_centroids, not both")
        core = _core.MultiVectorStore(flat, offs, precision, threads, centroids, n_centroids or 0)
        obj = cls._wrap(core)
        obj._init_living(core, ids, {"precision": precision, "num_threads": threads})
        return obj

    # ------------------------------------------------------- living-index hooks
    def _params_of_core(self, core) -> dict:
        return {"precision": core.precision, "num_threads": 0}

    def _build_segment_core(self, docs, merged: bool):
        return _core.MultiVectorStore(docs[0], docs[1], self._segment_params["precision"],
                                      self._segment_params.get("num_threads", 0))

    def _segment_search(self, seg, q, k, opts, allowed, floors, stats):
        return seg.core.search(q[0], q[1], k, opts["num_threads"], allowed=allowed)

    def _segment_exact(self, seg, q, k, rows, floors, opts):
        from ._living import bits_of

        mask = np.zeros(seg.n_docs, dtype=np.bool_)
        mask[rows] = True
        return self._segment_search(seg, q, k, opts, bits_of(mask), floors, None)

    def _plan_exact(self, seg, n_allowed: int, k: int, opts: dict) -> bool:
        return False  # the store's search is exact already

    def _where(self, ids: np.ndarray, name: str):
        """(segment index, row) of each id; IndexError naming the first id not in the store."""
        seg_of = np.full(ids.shape, -1, dtype=np.int64)
        row_of = np.full(ids.shape, -1, dtype=np.int64)
        for j, seg in enumerate(self._state.segments):
            rows = seg.live_rows_of(ids)
            hit = rows >= 0
            seg_of[hit], row_of[hit] = j, rows[hit]
        if np.any(seg_of < 0):
            raise IndexError(f"{name}: id {int(ids[np.flatnonzero(seg_of < 0)[0]])} is not in the store")
        return seg_of, row_of

    def _live_order(self):
        """Per segment the live rows, and the permutation putting their concatenation in
        ascending id order."""
        rows = [np.flatnonzero(s.live_mask()) for s in self._state.segments]
        ids = np.concatenate([s.ids[r] for s, r in zip(self._state.segments, rows)])
        return rows, np.argsort(ids, kind="stable")

    # ------------------------------------------------------------ inspection
    @property
    def total_tokens(self) -> int:
        """Token vectors over all live documents."""
        return int(self.doc_lengths.sum())

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``[n_docs + 1]`` token offsets of the live documents in id order (a copy)."""
        out = np.zeros(self.n_docs + 1, dtype=np.int64)
        np.cumsum(self.doc_lengths, out=out[1:])
        return out

    @property
    def doc_lengths(self) -> np.ndarray:
        """int64 ``[n_docs]`` tokens per live document, in id order."""
        if self._is_plain:
            return np.diff(self._core.offsets)
        rows, order = self._live_order()
        lengths = np.concatenate([np.diff(s.core.offsets)[r] for s, r in zip(self._state.segments, rows)])
        return lengths[order]

    @property
    def kernel(self) -> str:
        """The kernel this store's precision runs on at the active SIMD level
        (``"avx512_bf16"``, ``"avx512_vnni"``, ``"avx512"``, ``"avx2"`` or ``"scalar"``)."""
        return self._state.segments[0].core.kernel

    # ------------------------------------------------------------ persistence



    def info(self) -> dict:
        """Configuration and sizes, in the layout every aftershock class shares.

        Returns
        -------
        dict
            ``kind`` ("MultiVectorStore"), ``n_docs``, ``dim``, ``precision``,
            ``size_bytes``; ``build`` and ``search`` are ``{}`` (a store has no build or
            search parameters); ``stats``: ``total_tokens``, ``n_panels`` (panels of
            ``panel_tokens`` = 16 tokens), and the component sizes ``data_bytes`` (token
            panels), ``scales_bytes`` and ``bias_bytes`` (int8 only, else 0),
            ``offsets_bytes``, ``codes_bytes`` and ``codebook_bytes`` (residual precisions:
            centroid ids per token; centroids, bucket cutoffs and weights; else 0),
            ``ids_bytes`` and ``tombstones_bytes`` (the living index's id map and
            deletions), which add up to ``size_bytes``; ``bytes_per_token``
            (``size_bytes / total_tokens``: everything held, per token); ``n_segments``,
            ``n_deleted``; ``mapping`` (see :meth:`load`): ``is_mapped`` (every segment
            memory-mapped), ``mapped_bytes`` (bytes of the mapped files; 0 in memory) and
            ``resident_bytes`` (of those, the bytes in memory now, by ``mincore``). A mapped
            store's panels, codes, scales and bias are in the mapping, not on the heap; the
            offsets and the codebook are in memory either way.
        """
        stats: dict = {}
        for seg in self._state.segments:
            for name, value in seg.core.stats.items():
                stats[name] = stats.get(name, 0) + value
        stats.update(self._living_bytes())
        stats["bytes_per_token"] = self.size_bytes / max(1, stats.get("total_tokens", 0))
        stats["n_segments"] = self.n_segments
        stats["n_deleted"] = sum(s.n_deleted for s in self._state.segments)
        stats["mapping"] = self._mapping_stats()
        return self._make_info(build={}, search={}, stats=stats)

    def doc(self, doc_id: int) -> np.ndarray:
        """Document ``doc_id``'s tokens as float32 ``[n_tokens, dim]``: the stored values
        (fp16/bf16 widened, int8 ``code * scale``, res1/2/4 the decompressed
        ``centroid + bucket weight``).

        Raises
        ------
        TypeError
            ``doc_id`` is not an integer.
        IndexError
            ``doc_id`` is not in ``[0, n_docs)``.
        """
        if isinstance(doc_id, (bool, np.bool_)) or not isinstance(doc_id, (numbers.Integral, np.integer)):
            raise TypeError(f"doc_id: expected an integer, got {type(doc_id).__name__}")
        i = operator.index(doc_id)
        if self._is_plain and (i < 0 or i >= self.n_docs):
            raise IndexError(f"doc_id: {doc_id} out of range for {self.n_docs} documents")
        if self._is_plain:
            return self._core.decode_doc(i)
        seg_of, row_of = self._where(np.array([i], dtype=np.int64), "doc_id")
        return self._state.segments[int(seg_of[0])].core.decode_doc(int(row_of[0]))

    # --------------------------------------------------------------- helpers
    def _query(self, query, name: str = "query") -> np.ndarray:
        q = float_matrix(query, name, self.dim)
        if q.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one token, got shape {q.shape}")
        return q

    def _doc_ids(self, ids, name: str) -> np.ndarray:
        a = int_vector(ids, name)
        if a.size:
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi >= self.n_docs:
                bad = lo if lo < 0 else hi
                raise IndexError(f"{name}: id {bad} out of range for {self.n_docs} documents")
        return np.ascontiguousarray(a, dtype=np.uint32)

    def _queries(self, queries, query_offsets):
        return as_ragged(queries, query_offsets, "queries", "query_offsets", self.dim)

    # --------------------------------------------------------------- scoring
    def maxsim(self, query, *, num_threads: int = 0) -> np.ndarray:
        """MaxSim of one query against every document.

        Parameters
        ----------
        query : array_like ``[m, dim]``
            One query's token vectors (m >= 1), any real dtype (converted to float32).
        num_threads : int
            Threads over document blocks, 0 = all cores. Results do not depend on it.

        Returns
        -------
        numpy.ndarray
            float32 ``[n_docs]``.

        Raises
        ------
        TypeError
            Non-real dtype.
        ValueError
            Not 2-d, wrong dim, no tokens, or NaN/inf.
        """
        q, threads = self._query(query), thread_count(num_threads)
        if self._is_plain:
            return self._core.maxsim(q, threads)
        rows, order = self._live_order()
        scores = [s.core.maxsim(q, threads)[r] for s, r in zip(self._state.segments, rows)]
        return np.concatenate(scores)[order]

    def maxsim_batch(self, queries, doc_ids=None, *, query_offsets=None, num_threads: int = 0) -> np.ndarray:
        """MaxSim of many queries against all documents or a subset.

        Parameters
        ----------
        queries : list of ``[m_i, dim]`` arrays, ``[n_queries, m, dim]``, or ``[total, dim]`` with ``query_offsets``
            Queries may have different lengths (no padding is needed or wanted).
        doc_ids : array_like of int, optional
            Documents to score, in output order (repeats allowed). Default: all.
        query_offsets : array_like of int, ``[n_queries + 1]``, optional
            With a 2-d ``queries``: query ``i`` is ``queries[query_offsets[i]:query_offsets[i + 1]]``.
        num_threads : int
            Threads over (query, document block) pairs, 0 = all cores; the GIL is
            released. Results do not depend on it.

        Returns
        -------
        numpy.ndarray
            float32 ``[n_queries, len(doc_ids)]`` (or ``[n_queries, n_docs]``).

        Raises
        ------
        TypeError
            Non-real query dtype or non-integer ``doc_ids``.
        ValueError
            Wrong dim, an empty query, NaN/inf, bad ``query_offsets``.
        IndexError
            A doc id outside ``[0, n_docs)``.
        """
        flat, offs = self._queries(queries, query_offsets)
        threads = thread_count(num_threads)
        if self._is_plain:
            ids = None if doc_ids is None else self._doc_ids(doc_ids, "doc_ids")
            return self._core.maxsim_batch(flat, offs, ids, threads)
        wanted = self.ids() if doc_ids is None else int_vector(doc_ids, "doc_ids").astype(np.int64)
        seg_of, row_of = self._where(wanted, "doc_ids")
        out = np.empty((len(offs) - 1, wanted.shape[0]), dtype=np.float32)
        for j, seg in enumerate(self._state.segments):
            cols = np.flatnonzero(seg_of == j)
            if cols.size:
                out[:, cols] = seg.core.maxsim_batch(flat, offs, row_of[cols].astype(np.uint32), threads)
        return out

    def search(self, queries, k: int = 10, *, query_offsets=None, num_threads: int = 0) -> SearchResult:
        """Top-``k`` documents by MaxSim for each query, by brute force: exact by nature
        (the ground truth for an approximate index).

        Parameters
        ----------
        queries : list of ``[m_i, dim]`` arrays, ``[n_queries, m, dim]``, or ``[total, dim]`` with ``query_offsets``
            Converted once to float32 (a copy unless already C-contiguous float32).
        k : int
            Results per query (>= 1).
        query_offsets : array_like of int, ``[n_queries + 1]``, optional
            With a 2-d ``queries``, as in :meth:`maxsim_batch`.
        num_threads : int
            Threads over queries and document blocks, 0 = all cores; the GIL is released.
            Results do not depend on it.

        Returns
        -------
        SearchResult
            ``scores`` float32 ``[n_queries, k]`` and ``ids`` int64 ``[n_queries, k]``, best
            first, ties to the smaller id, padded with ``-inf`` / ``-1`` when
            ``n_docs < k``.

        Raises
        ------
        TypeError
            Non-real dtype or non-integer ``k``.
        ValueError
            Wrong dim, an empty query, NaN/inf, ``k < 1``, bad ``query_offsets``.
        """
        flat, offs = self._queries(queries, query_offsets)
        k = positive_int(k, "k", 1)
        scores, ids = self._search_live((flat, offs), len(offs) - 1, k, {"num_threads": thread_count(num_threads)})
        return SearchResult(scores, ids)

    def search_exact(self, queries, k: int = 10, num_threads: int = 0) -> SearchResult:
        """Deprecated: :meth:`search` (the store's search is exact)."""
        warn_renamed("MultiVectorStore.search_exact", "MultiVectorStore.search")
        return self.search(queries, k, num_threads=num_threads)

    def rerank(self, queries, candidate_ids, k: int = 10, *, query_offsets=None, num_threads: int = 0) -> SearchResult:
        """The ``k`` best of each query's candidates, by exact MaxSim.

        Parameters
        ----------
        queries : list of ``[m_i, dim]`` arrays, ``[n_queries, m, dim]``, ``[total, dim]`` with ``query_offsets``, or one ``[m, dim]`` query
            A single 2-d query (without ``query_offsets``) goes with 1-d ``candidate_ids``.
        candidate_ids : array_like of int, ``[n_queries, n_candidates]`` (or ``[n_candidates]`` for one query)
            Row ``i`` holds query ``i``'s candidates (e.g. a first stage's
            ``SearchResult.ids``). ``-1`` entries are padding and skipped; duplicates are
            scored, and may be returned, twice. Converted to int64 (a copy unless already
            C-contiguous int64).
        k : int
            Results per query (>= 1).
        query_offsets : array_like of int, ``[n_queries + 1]``, optional
            With a 2-d ``queries`` holding several queries, as in :meth:`maxsim_batch`.
        num_threads : int
            Threads over queries, 0 = all cores; the GIL is released. Results do not depend
            on it.

        Returns
        -------
        SearchResult
            ``scores`` float32 ``[n_queries, k]`` and ``ids`` int64 ``[n_queries, k]`` (``[1, k]``
            for a single query), best first, ties to the smaller id, padded with ``-inf`` /
            ``-1`` when a row has fewer than ``k`` candidates.

        Raises
        ------
        TypeError
            Non-real query dtype, non-integer ids or ``k``.
        ValueError
            Wrong dim, an empty query, NaN/inf, ``k < 1``, ``candidate_ids`` not 2-d (1-d
            for a single query) or with another number of rows than queries.
        IndexError
            A candidate id outside ``[0, n_docs)`` other than ``-1`` (the message names
            ``candidate_ids``, the query and the position).
        """
        try:
            cand = np.asarray(candidate_ids)
        except ValueError:
            raise ValueError(
                "candidate_ids: expected a rectangular [n_queries, n_candidates] array (pad short rows with -1)"
            ) from None
        if cand.size == 0 and cand.dtype.kind == "f":
            cand = cand.astype(np.int64)
        if cand.dtype == np.bool_ or cand.dtype.kind not in "iu":
            raise TypeError(f"candidate_ids: expected an integer array, got dtype {cand.dtype}")
        single = query_offsets is None and isinstance(queries, np.ndarray) and queries.ndim == 2
        if single:
            if cand.ndim != 1:
                raise ValueError(
                    f"candidate_ids: expected a 1-d array with one 2-d query, got shape {cand.shape}"
                    " (for a batch, pass the queries as a list or a 3-d array)"
                )
            flat = self._query(queries, "queries")
            offs = np.array([0, flat.shape[0]], dtype=np.int64)
            cand = cand[None, :]
        else:
            flat, offs = self._queries(queries, query_offsets)
            if cand.ndim != 2:
                raise ValueError(
                    f"candidate_ids: expected a 2-d array [n_queries, n_candidates], got shape {cand.shape}"
                )
        if cand.size and cand.dtype.kind == "u" and int(cand.max()) > np.iinfo(np.int64).max:
            raise IndexError(f"candidate_ids: id {int(cand.max())} out of range for {self.n_docs} documents")
        cand = np.ascontiguousarray(cand, dtype=np.int64)
        k, threads = positive_int(k, "k", 1), thread_count(num_threads)
        if self._is_plain:
            scores, ids = self._core.rerank(flat, offs, cand, k, threads)
            return SearchResult(scores, ids)
        # Candidates speak external ids: each segment reranks its own (as rows), and the
        # per-segment top-k lists are merged.
        flat_cand = cand.reshape(-1)
        given = flat_cand >= 0
        if np.any(flat_cand < -1):
            bad = np.flatnonzero(flat_cand < -1)[0]
            raise IndexError(f"candidate_ids: id {int(flat_cand[bad])} at query {bad // cand.shape[1]} is not in the store")
        seg_of = np.full(flat_cand.shape, -1, dtype=np.int64)
        row_of = np.full(flat_cand.shape, -1, dtype=np.int64)
        if given.any():
            s_of, r_of = self._where(flat_cand[given], "candidate_ids")
            seg_of[given], row_of[given] = s_of, r_of
        scores = np.full((cand.shape[0], k), -np.inf, dtype=np.float32)
        ids = np.full((cand.shape[0], k), -1, dtype=np.int64)
        for j, seg in enumerate(self._state.segments):
            here = seg_of == j
            if not here.any():
                continue
            rows = np.ascontiguousarray(np.where(here, row_of, -1).reshape(cand.shape))
            s_j, r_j = seg.core.rerank(flat, offs, rows, k, threads)
            ext = np.where(r_j >= 0, seg.ids[np.maximum(r_j, 0)], -1)
            scores, ids = merge_topk(scores, ids, s_j, ext, k)
        return SearchResult(scores, ids)
