"""Exact late-interaction scoring (ColBERT MaxSim): :class:`MultiVectorStore`.

``score(q, d) = sum_i max_j <q_i, d_j>`` over the query's tokens ``q_i`` and the document's
tokens ``d_j``, accumulated in float32 by register-blocked SIMD kernels (AVX-512, AVX2,
scalar; AVX512_BF16 and AVX512_VNNI where present). See ``cpp/src/maxsim/README.md`` for
the exact definition per storage precision and the error bounds.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from . import _core
from ._persist import Persistent
from ._results import SearchResult
from ._validate import as_ragged, choice, float_matrix, int_vector, positive_int

__all__ = ["MultiVectorStore"]

_PRECISIONS = ("fp32", "fp16", "bf16", "int8")


class MultiVectorStore(Persistent):
    """Documents as ragged sets of token vectors, scored exactly by MaxSim.

    Parameters
    ----------
    vectors : array_like ``[total_tokens, dim]`` or list of ``[n_i, dim]`` arrays
        All documents' token vectors, concatenated; or one 2-d array per document (then
        ``offsets`` must be omitted). Real dtypes are converted once to float32 (a copy
        when the input is not already C-contiguous float32), then to ``precision``.
    offsets : array_like of int, ``[n_docs + 1]``
        Document ``i`` is ``vectors[offsets[i]:offsets[i + 1]]``: ``offsets[0] == 0``,
        strictly increasing (every document has at least one token) and
        ``offsets[-1] == total_tokens``.
    precision : {"fp32", "fp16", "bf16", "int8"}
        Storage precision. ``fp32`` is exact; ``fp16`` (|x| < 65520) and ``bf16`` round to
        nearest even (with ``bf16`` the query is rounded to bf16 as well); ``int8`` keeps
        one float32 scale per token and quantizes queries the same way. Scores are always
        accumulated in float32.
    num_threads : int
        Threads for the conversion, 0 = all cores.

    Raises
    ------
    TypeError
        A non-real dtype (bool, complex, object, strings) or a non-integer ``offsets``.
    ValueError
        NaN/inf values, ``dim == 0``, offsets not starting at 0, not strictly increasing
        or not ending at the token count, values out of the precision's range, an unknown
        ``precision``, or ``offsets`` given together with a list of arrays.

    Notes
    -----
    Thread safety: every method may run concurrently from many threads; the batch calls
    release the GIL. Document ids are row numbers ``0 .. n_docs - 1``. Pickling uses the
    same bytes as :meth:`save`.
    """

    _core_class = _core.MultiVectorStore

    def __init__(self, vectors, offsets=None, *, precision: str = "fp32", num_threads: int = 0):
        precision = choice(precision, "precision", _PRECISIONS)
        threads = positive_int(num_threads, "num_threads", minimum=0)
        if offsets is None and isinstance(vectors, np.ndarray) and vectors.ndim == 2:
            raise ValueError("offsets: required when vectors is one 2-d [total_tokens, dim] array")
        flat, offs = as_ragged(vectors, offsets, "vectors", "offsets")
        self._core = _core.MultiVectorStore(flat, offs, precision, threads)

    # ------------------------------------------------------------ inspection
    @property
    def n_docs(self) -> int:
        """Number of documents."""
        return self._core.n_docs

    def __len__(self) -> int:
        return self._core.n_docs

    @property
    def dim(self) -> int:
        """Dimension of every token vector."""
        return self._core.dim

    @property
    def precision(self) -> str:
        """Storage precision: ``"fp32"``, ``"fp16"``, ``"bf16"`` or ``"int8"``."""
        return self._core.precision

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
    def size_bytes(self) -> int:
        """Bytes held (token data including panel padding, scales, offsets)."""
        return self._core.size_bytes

    @property
    def kernel(self) -> str:
        """The kernel this store's precision runs on at the active SIMD level
        (``"avx512_bf16"``, ``"avx512_vnni"``, ``"avx512"``, ``"avx2"`` or ``"scalar"``)."""
        return self._core.kernel

    def doc(self, doc_id: int) -> np.ndarray:
        """Document ``doc_id``'s tokens as float32 ``[n_tokens, dim]``: the stored values
        (fp16/bf16 widened, int8 ``code * scale``).

        Raises
        ------
        IndexError
            ``doc_id`` is not in ``[0, n_docs)``.
        """
        if isinstance(doc_id, (bool, np.bool_)) or not isinstance(doc_id, (numbers.Integral, np.integer)):
            raise TypeError(f"doc_id: expected an integer, got {type(doc_id).__name__}")
        i = operator.index(doc_id)
        if i < 0 or i >= self.n_docs:
            raise IndexError(f"doc_id: {doc_id} out of range for {self.n_docs} documents")
        return self._core.decode_doc(i)

    def __repr__(self) -> str:
        return (
            f"MultiVectorStore(n_docs={self.n_docs}, dim={self.dim}, precision={self.precision!r}, "
            f"total_tokens={self.total_tokens}, size_bytes={self.size_bytes})"
        )

    # --------------------------------------------------------------- helpers
    def _query(self, query, name: str = "query") -> np.ndarray:
        q = float_matrix(query, name, self.dim)
        if q.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one token, got shape {q.shape}")
        return q

    def _ids(self, ids, name: str) -> np.ndarray:
        a = int_vector(ids, name)
        if a.size:
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi >= self.n_docs:
                bad = lo if lo < 0 else hi
                raise IndexError(f"{name}: id {bad} out of range for {self.n_docs} documents")
        return np.ascontiguousarray(a, dtype=np.uint32)

    def _queries(self, queries):
        if isinstance(queries, np.ndarray) and queries.ndim == 2:
            raise ValueError(
                f"queries: expected a list of 2-d arrays or a 3-d array [n_queries, m, {self.dim}], got shape "
                f"{queries.shape} (for one query use maxsim / rerank, or wrap it in a list)"
            )
        return as_ragged(queries, None, "queries", "query_offsets", self.dim)

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
        return self._core.maxsim(self._query(query), positive_int(num_threads, "num_threads", minimum=0))

    def maxsim_batch(self, queries, doc_ids=None, *, num_threads: int = 0) -> np.ndarray:
        """MaxSim of many queries against all documents or a subset.

        Parameters
        ----------
        queries : list of ``[m_i, dim]`` arrays, or one ``[n_queries, m, dim]`` array
            Queries may have different lengths (no padding is needed or wanted).
        doc_ids : array_like of int, optional
            Documents to score, in output order (repeats allowed). Default: all.
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
            Wrong dim, an empty query, NaN/inf.
        IndexError
            A doc id outside ``[0, n_docs)``.
        """
        flat, offs = self._queries(queries)
        ids = None if doc_ids is None else self._ids(doc_ids, "doc_ids")
        return self._core.maxsim_batch(flat, offs, ids, positive_int(num_threads, "num_threads", minimum=0))

    def rerank(self, query, candidate_ids, k: int) -> SearchResult:
        """The ``k`` best of ``candidate_ids`` for one query, by exact MaxSim.

        Parameters
        ----------
        query : array_like ``[m, dim]``
        candidate_ids : array_like of int
            Candidate documents (e.g. from a first-stage retriever). Duplicates are
            scored, and may be returned, twice.
        k : int
            Results to return (>= 1).

        Returns
        -------
        SearchResult
            ``scores`` float32 ``[k]`` and ``ids`` int64 ``[k]``, best first, ties to the
            smaller id, padded with ``-inf`` / ``-1`` when there are fewer than ``k``
            candidates.

        Raises
        ------
        TypeError
            Non-real query dtype, non-integer ids or ``k``.
        ValueError
            Wrong dim, empty query, NaN/inf, ``k < 1``.
        IndexError
            A candidate id outside ``[0, n_docs)``.
        """
        q = self._query(query)
        ids = self._ids(candidate_ids, "candidate_ids")
        scores, out_ids = self._core.rerank(q, ids, positive_int(k, "k", 1))
        return SearchResult(scores, out_ids)

    def search_exact(self, queries, k: int = 10, num_threads: int = 0) -> SearchResult:
        """Brute-force top-``k`` documents by MaxSim for each query (the exact ground truth).

        Parameters
        ----------
        queries : list of ``[m_i, dim]`` arrays, or one ``[n_queries, m, dim]`` array
        k : int
            Results per query (>= 1).
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
            Wrong dim, an empty query, NaN/inf, ``k < 1``.
        """
        flat, offs = self._queries(queries)
        scores, ids = self._core.search_exact(flat, offs, positive_int(k, "k", 1), positive_int(num_threads, "num_threads", minimum=0))
        return SearchResult(scores, ids)
