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
from ._compat import warn_renamed
from ._base import CoreBacked
from ._results import SearchResult
from ._validate import as_ragged, choice, float_matrix, int_vector, positive_int, thread_count

__all__ = ["MultiVectorStore"]

_PRECISIONS = ("fp32", "fp16", "bf16", "int8")



class MultiVectorStore(CoreBacked):
    """Documents as ragged sets of token vectors, scored exactly by MaxSim.

    Build with :meth:`build`. Document ids are row numbers ``0 .. n_docs - 1``.

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
    def build(cls, vectors, offsets=None, *, precision: str = "fp32", num_threads: int = 0) -> "MultiVectorStore":
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
        precision : {"fp32", "fp16", "bf16", "int8"}
            Storage precision. ``fp32`` is exact; ``fp16`` (|x| < 65520) and ``bf16`` round
            to nearest even (with ``bf16`` the query is rounded to bf16 as well); ``int8``
            keeps one float32 scale per token and quantizes queries the same way. Scores are
            always accumulated in float32.
        num_threads : int
            Threads for the conversion, 0 = all cores. The result does not depend on it.

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
        return cls._wrap(cls._build_core(vectors, offsets, precision, num_threads))

    # ------------------------------------------------------------ inspection
    @property
    def total_tokens(self) -> int:
        """Token vectors over all documents."""
        return self._core.total_tokens

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``[n_docs + 1]`` token offsets (a copy)."""
        return self._core.offsets

    @property
    def doc_lengths(self) -> np.ndarray:
        """int64 ``[n_docs]`` tokens per document."""
        return np.diff(self._core.offsets)

    @property
    def kernel(self) -> str:
        """The kernel this store's precision runs on at the active SIMD level
        (``"avx512_bf16"``, ``"avx512_vnni"``, ``"avx512"``, ``"avx2"`` or ``"scalar"``)."""
        return self._core.kernel

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
            ``offsets_bytes``, which add up to ``size_bytes``.
        """
        return self._make_info(
            build={},
            search={},
            stats=self._core.stats,
        )

    def doc(self, doc_id: int) -> np.ndarray:
        """Document ``doc_id``'s tokens as float32 ``[n_tokens, dim]``: the stored values
        (fp16/bf16 widened, int8 ``code * scale``).

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
        if i < 0 or i >= self.n_docs:
            raise IndexError(f"doc_id: {doc_id} out of range for {self.n_docs} documents")
        return self._core.decode_doc(i)

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
        return self._core.maxsim(self._query(query), thread_count(num_threads))

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
        ids = None if doc_ids is None else self._doc_ids(doc_ids, "doc_ids")
        return self._core.maxsim_batch(flat, offs, ids, thread_count(num_threads))

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
        scores, ids = self._core.search(flat, offs, positive_int(k, "k", 1), thread_count(num_threads))
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
        scores, ids = self._core.rerank(flat, offs, cand, positive_int(k, "k", 1), thread_count(num_threads))
        return SearchResult(scores, ids)
