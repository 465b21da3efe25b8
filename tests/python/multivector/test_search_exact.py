"""MultiVectorIndex with every document reranked (lossless settings) equals exact search
(its own search_exact, MultiVectorStore.search, and the float64 MaxSim top k), and the
scores returned are the exact MaxSim of the ids returned."""

from __future__ import annotations

import numpy as np
import pytest

import aftershock
from aftershock import MultiVectorIndex

from .reference import EPS32, reference_maxsim


@pytest.mark.parametrize("method", ["centroid", "muvera"])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "int8"])
def test_lossless_equals_exact(data, method, precision):
    vectors, offsets, queries = data
    n_docs = len(offsets) - 1
    extra = {"n_centroids": 32} if method == "centroid" else {}
    index = MultiVectorIndex.build(vectors, offsets, method=method, precision=precision, seed=3, **extra)
    params = {"n_candidates": n_docs}
    if method == "centroid":
        params["n_probe"] = 32
    got = index.search(queries, k=10, **params)
    exact = index.search_exact(queries, k=10)
    np.testing.assert_array_equal(got.ids, exact.ids)
    np.testing.assert_array_equal(got.scores, exact.scores)
    if method == "centroid":  # the union of the inverted lists reaches every document too
        got = index.search(queries, k=10, n_probe=31, n_candidates=n_docs)
        np.testing.assert_array_equal(got.ids, exact.ids)
        np.testing.assert_array_equal(got.scores, exact.scores)
    if precision == "fp32":  # and exact means the float64 MaxSim top-k
        dim = vectors.shape[1]
        for q, row_scores, row_ids in zip(queries, exact.scores, exact.ids):
            ref = reference_maxsim(vectors, offsets, q)
            m = q.shape[0]
            bound = m * (dim + m) * EPS32  # unit vectors: sum_k |q_k d_k| <= 1 for every pair
            np.testing.assert_allclose(row_scores, ref[row_ids], atol=bound, rtol=0)
            assert ref[row_ids[-1]] >= np.sort(ref)[-10] - 2 * bound


def test_lossless_equals_store_search_exact(data):
    vectors, offsets, queries = data
    store = aftershock.MultiVectorStore.build(vectors, offsets, precision="bf16")
    index = MultiVectorIndex.build(vectors, offsets, method="muvera", precision="bf16", seed=3)
    expected = store.search(queries, 10)
    got = index.search(queries, k=10, n_candidates=len(offsets) - 1)
    np.testing.assert_array_equal(got.ids, expected.ids)
    np.testing.assert_array_equal(got.scores, expected.scores)


def test_scores_are_exact_maxsim_of_returned_ids(data, centroid_index):
    vectors, offsets, queries = data
    res = centroid_index.search(queries[:5], k=10)
    for q, scores, ids in zip(queries[:5], res.scores, res.ids):
        ref = reference_maxsim(vectors, offsets, q)[ids]
        np.testing.assert_allclose(scores, ref, atol=q.shape[0] * (48 + q.shape[0]) * EPS32, rtol=0)
        assert np.all(np.diff(scores) <= 0)
