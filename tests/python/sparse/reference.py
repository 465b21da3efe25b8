"""Shared pieces of the sparse tests: the float64 brute-force reference and the settings
under which an index is lossless (pruning off), so each concept is spelled once."""

from __future__ import annotations

import numpy as np

EPS32 = np.finfo(np.float32).eps

# The build keyword naming the stored weight precision, spelled once for every test.
PRECISION_KEYWORD = "precision"
FLOAT32_VALUES = {PRECISION_KEYWORD: "fp32"}

# A build and a search with pruning off: the index must then equal exact_search.
LOSSLESS_BUILD = dict(pruning="fixed", n_postings=10**9, **FLOAT32_VALUES)
LOSSLESS_SEARCH = dict(heap_factor=0.0, query_cut=10**6)

def reference_topk(docs, queries, k):
    """float64 brute force: candidates share a term (both weights > 0); ties -> smaller id."""
    d64 = docs.astype(np.float64)
    q64 = queries.astype(np.float64)
    scores = (q64 @ d64.T).toarray()
    overlap = ((queries > 0).astype(np.float64) @ (docs > 0).astype(np.float64).T).toarray() > 0
    out_s = np.full((queries.shape[0], k), -np.inf)
    out_i = np.full((queries.shape[0], k), -1, dtype=np.int64)
    for qi in range(queries.shape[0]):
        cand = np.flatnonzero(overlap[qi])
        order = sorted(cand, key=lambda d: (-scores[qi, d], d))[:k]
        out_s[qi, : len(order)] = scores[qi, order]
        out_i[qi, : len(order)] = order
    # Per-row error bound of a float32 dot: nnz * eps * sum |q_i d_i|.
    bound = (abs(q64) @ abs(d64).T).toarray() * docs.shape[1] * EPS32
    return out_s, out_i, bound


def assert_topk_matches(result, ref_scores, ref_ids, bound):
    """Scores within the bound; ids equal wherever the score is not tied within the bound."""
    n, k = ref_scores.shape
    finite = np.isfinite(ref_scores)
    assert np.array_equal(np.isfinite(result.scores), finite)
    assert np.array_equal(result.ids == -1, ~finite)
    for qi in range(n):
        tol = bound[qi].max() if bound.shape[1] else 0.0
        np.testing.assert_allclose(result.scores[qi][finite[qi]], ref_scores[qi][finite[qi]], rtol=0, atol=tol + 1e-30)
        for j in range(k):
            if not finite[qi, j]:
                continue
            s = ref_scores[qi, j]
            # Documents whose reference score is within the tolerance of s may swap places.
            near = np.abs(ref_scores[qi][finite[qi]] - s) <= 2 * tol
            if near.sum() == 1 and not (j == k - 1 or j == finite[qi].sum() - 1):
                assert result.ids[qi, j] == ref_ids[qi, j]
