"""MultiVectorIndex approximate search (cpp/src/multivector/centroid_index.cpp, fde.cpp,
candidates): default settings reach recall@10 >= 0.9 against exact search on clustered data,
recall grows with candidates, the bitvector prefilter, token pooling and the MUVERA options
keep recall, and thread counts change neither the index nor the results."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorIndex

from .reference import clustered, recall_at


@pytest.mark.parametrize("method", ["centroid", "muvera"])
def test_default_recall(data, centroid_index, muvera_index, method):
    _, _, queries = data
    index = centroid_index if method == "centroid" else muvera_index
    exact = index.search_exact(queries, k=10)
    assert recall_at(index.search(queries, k=10), exact) >= 0.9


def test_default_recall_larger_corpus():
    vectors, offsets, queries = clustered(n_docs=4000, dim=32, n_queries=40, seed=11)
    for method in ("centroid", "muvera"):
        index = MultiVectorIndex.build(vectors, offsets, method=method, seed=1)
        exact = index.search_exact(queries, k=10)
        assert recall_at(index.search(queries, k=10), exact) >= 0.9, method


def test_recall_grows_with_candidates(data, centroid_index):
    _, _, queries = data
    exact = centroid_index.search_exact(queries, k=10)
    recalls = [
        recall_at(centroid_index.search(queries, k=10, n_candidates=c, n_probe=2), exact)
        for c in (10, 40, 160, 600)
    ]
    assert recalls == sorted(recalls) and recalls[-1] == 1.0


def test_bitvector_prefilter(data, centroid_index):
    _, _, queries = data
    exact = centroid_index.search_exact(queries, k=10)
    res = centroid_index.search(queries, k=10, n_probe=8, bitvector_threshold=0.3, n_bitvector=400)
    assert recall_at(res, exact) >= 0.85
    off = centroid_index.search(queries, k=10, n_probe=8, bitvector_threshold=None, n_bitvector=400)
    np.testing.assert_array_equal(off.ids, centroid_index.search(queries, k=10, n_probe=8).ids)


def test_pooling_reduces_tokens(data):
    vectors, offsets, queries = data
    index = MultiVectorIndex.build(vectors, offsets, method="centroid", pool_factor=2, seed=1)
    stats = index.info()["stats"]
    assert stats["original_tokens"] == len(vectors)
    assert stats["total_tokens"] <= (len(vectors) + len(offsets)) // 2 + len(offsets)
    assert stats["total_tokens"] < len(vectors)
    full = MultiVectorIndex.build(vectors, offsets, method="centroid", seed=1)
    assert index.size_bytes < full.size_bytes
    # Still exact over the pooled documents, and close to the unpooled ranking.
    got = index.search(queries, k=10, n_candidates=len(offsets), n_probe=10**6)
    np.testing.assert_array_equal(got.ids, index.search_exact(queries, k=10).ids)
    assert recall_at(got, full.search_exact(queries, k=10)) >= 0.6


def test_final_projection_and_fp32_fde(data):
    vectors, offsets, queries = data
    for params in (
        {"final_dim": 512},
        {"fde_precision": "fp32"},
        {"d_proj": 0, "k_sim": 3, "r_reps": 4},
        {"fill_empty": False},
    ):
        index = MultiVectorIndex.build(vectors, offsets, method="muvera", seed=2, **params)
        exact = index.search_exact(queries, k=10)
        assert recall_at(index.search(queries, k=10, n_candidates=200), exact) >= 0.8, params
    projected = MultiVectorIndex.build(vectors, offsets, method="muvera", final_dim=512)
    assert projected.info()["stats"]["fde_dim"] == 512


# ----------------------------------------------------------------------------- threads, io
@pytest.mark.parametrize("method", ["centroid", "muvera"])
def test_num_threads_do_not_change_results(data, method):
    vectors, offsets, queries = data
    one = MultiVectorIndex.build(vectors, offsets, method=method, seed=5, num_threads=1)
    two = MultiVectorIndex.build(vectors, offsets, method=method, seed=5, num_threads=2)
    assert one.to_bytes() == two.to_bytes()
    a = one.search(queries, k=10, num_threads=1)
    b = one.search(queries, k=10, num_threads=2)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
