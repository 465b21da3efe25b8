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

import math
from typing import Any

import numpy as np

from . import _core
from ._persist import Persistent
from ._progress import Progress
from ._results import SearchResult
from ._validate import as_ragged, positive_int, real, seed_value

_METHODS = ("centroid", "muvera")
_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
_FDE_PRECISIONS = {"fp32": 0.0, "int8": 1.0}


def _params(params: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in params.items():
        if key == "fde_precision":
            if value not in _FDE_PRECISIONS:
                raise ValueError(f"fde_precision: expected 'fp32' or 'int8', got {value!r}")
            out[key] = _FDE_PRECISIONS[value]
        elif key == "bitvector_threshold" and value is None:
            out[key] = math.nan
        elif isinstance(value, (bool, np.bool_)):
            out[key] = 1.0 if value else 0.0
        else:
            out[key] = real(value, key)
    return out


class MultiVectorIndex(Persistent):
    """Approximate top-k MaxSim retrieval: candidate generation plus exact rerank.

    Create one with :meth:`build` or :meth:`load`. ``const`` operations (search, save) may
    run concurrently from several threads; they release the GIL.
    """

    _core_class = _core.MultiVectorIndex

    def __init__(self, core: _core.MultiVectorIndex) -> None:
        if not isinstance(core, _core.MultiVectorIndex):
            raise TypeError("use MultiVectorIndex.build(...) or MultiVectorIndex.load(...)")
        self._core = core

    @classmethod
    def build(
        cls,
        vectors,
        offsets=None,
        *,
        method: str = "centroid",
        precision: str = "fp32",
        num_threads: int = 0,
        seed: int = 0,
        verbose: bool = False,
        **params: Any,
    ) -> MultiVectorIndex:
        """Build an index over ColBERT-style documents.

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
        method : {"centroid", "muvera"}
            Candidate generator.
        precision : {"fp32", "fp16", "bf16", "int8"}
            Storage precision of the document tokens used for the exact rerank.
        num_threads : int
            Threads for the build (0 = all cores). The index does not depend on it.
        seed : int
            Seed of every random choice (k-means sample and init, SimHash, projections).
        verbose : bool
            Print progress of the long build stages to stderr.
        **params
            Build parameters. Common: ``pool_factor`` (>= 1, CRISP-style token reduction:
            each document is clustered into ``ceil(n / pool_factor)`` token means; 1 = off),
            ``pool_iters`` (4). ``method="centroid"``: ``n_centroids`` (0 = auto,
            ``2^floor(log2(2 sqrt(total_tokens)))``), ``kmeans_iters`` (8),
            ``kmeans_points_per_centroid`` (64). ``method="muvera"``: ``k_sim`` (4),
            ``r_reps`` (8), ``d_proj`` (16; 0 = no projection), ``fill_empty`` (True),
            ``final_dim`` (0 = none), ``fde_precision`` ("int8" or "fp32").

        Returns
        -------
        MultiVectorIndex

        Raises
        ------
        TypeError
            If an array has a bool, complex or object dtype, or a parameter is not a number.
        ValueError
            For bad shapes, offsets, NaN/inf values, an unknown method, precision or
            parameter, or a parameter out of range; the message names it.
        KeyboardInterrupt
            If interrupted during a long build stage.
        """
        if method not in _METHODS:
            raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
        if precision not in _PRECISIONS:
            raise ValueError(f"precision: expected one of {_PRECISIONS}, got {precision!r}")
        num_threads = positive_int(num_threads, "num_threads", minimum=0)
        seed = seed_value(seed)
        if offsets is None and not isinstance(vectors, (list, tuple)) and np.ndim(vectors) == 2:
            raise ValueError("offsets: required when vectors is a 2-d [total_tokens, dim] array")
        flat, offs = as_ragged(vectors, offsets, "vectors", "offsets")
        progress = Progress() if verbose else None
        core = _core.MultiVectorIndex.build(
            flat, offs, method, precision, _params(params), seed, num_threads, progress
        )
        return cls(core)

    def search(
        self, queries, k: int = 10, *, query_offsets=None, num_threads: int = 0, **params: Any
    ) -> SearchResult:
        """Approximate top-k documents by MaxSim; returned scores are exact.

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
        num_threads : int
            Threads (0 = all cores); parallel over queries. Results do not depend on it.
        **params
            ``n_candidates``: documents reranked exactly per query (centroid: 256,
            muvera: 1024; ``>= n_docs`` reranks everything, i.e. exact search).
            ``method="centroid"`` only: ``n_probe`` (4) centroids probed per query token;
            ``bitvector_threshold`` (None = off) and ``n_bitvector`` (>= n_candidates):
            EMVB-style prefilter keeping the ``n_bitvector`` documents that match the
            most query tokens with a centroid score >= the threshold.

        Returns
        -------
        SearchResult
            ``scores`` float32 ``[n_queries, k]`` (best first, ties to the smaller id) and
            ``ids`` int64 ``[n_queries, k]``.

        Raises
        ------
        TypeError
            For a non-numeric dtype or parameter.
        ValueError
            For a wrong dim, empty query, NaN/inf, ``k < 1``, or an unknown or
            out-of-range parameter (the message names it).
        """
        flat, offs = as_ragged(queries, query_offsets, "queries", "query_offsets")
        k = positive_int(k, "k", minimum=1)
        num_threads = positive_int(num_threads, "num_threads", minimum=0)
        scores, ids = self._core.search(flat, offs, k, _params(params), num_threads)
        return SearchResult(scores, ids)

    def search_exact(self, queries, k: int = 10, *, query_offsets=None, num_threads: int = 0) -> SearchResult:
        """Brute-force top-k by exact MaxSim over every stored document (the recall reference).

        Same arguments, result and errors as :meth:`search`, without search parameters.
        """
        flat, offs = as_ragged(queries, query_offsets, "queries", "query_offsets")
        k = positive_int(k, "k", minimum=1)
        num_threads = positive_int(num_threads, "num_threads", minimum=0)
        scores, ids = self._core.search_exact(flat, offs, k, num_threads)
        return SearchResult(scores, ids)

    @property
    def method(self) -> str:
        """``"centroid"`` or ``"muvera"``."""
        return self._core.method

    @property
    def precision(self) -> str:
        """Storage precision of the document tokens."""
        return self._core.precision

    @property
    def n_docs(self) -> int:
        return self._core.n_docs

    @property
    def dim(self) -> int:
        return self._core.dim

    @property
    def size_bytes(self) -> int:
        """Bytes held in memory: stored tokens plus candidate-generation structures."""
        return self._core.size_bytes

    def info(self) -> dict:
        """Resolved build configuration, default search parameters and sizes.

        Keys include ``n_docs``, ``dim``, ``total_tokens`` (after pooling),
        ``original_tokens``, ``size_bytes``, ``index_size_bytes`` and the method's
        parameters (e.g. the actual ``n_centroids``, ``fde_dim``).
        """
        d: dict[str, Any] = {"method": self.method, "precision": self.precision}
        for key, value in self._core.info().items():
            if key == "fde_precision":
                d[key] = "int8" if value else "fp32"
            elif key == "fill_empty":
                d[key] = bool(value)
            elif key == "pool_factor":
                d[key] = value
            else:
                d[key] = int(value)
        return d

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return (
            f"MultiVectorIndex(method={self.method!r}, precision={self.precision!r}, n_docs={self.n_docs}, "
            f"dim={self.dim})"
        )
