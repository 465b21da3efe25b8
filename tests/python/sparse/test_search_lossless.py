"""SparseIndex.search with pruning off (LOSSLESS_BUILD / LOSSLESS_SEARCH) equals exact search
(float64) within float32 rounding, ids equal wherever scores are not tied within it: forward
rows are summed heaviest weight first, exact_search in term order, so the float32 sums may
differ in their last bits. Empty queries and documents, padding and the tie rule."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from aftershock import SparseIndex, exact_search
from aftershock.datasets import synthetic_sparse
from strategies import csr_batches

from .reference import FLOAT32_VALUES, LOSSLESS_BUILD, LOSSLESS_SEARCH, assert_topk_matches, reference_topk


@given(csr_batches(n_rows=st.integers(1, 60)), st.integers(0, 2**20), st.integers(1, 10))
def test_lossless_index_equals_exact_search(docs, seed, k):
    rng = np.random.default_rng(seed)
    queries = docs[rng.integers(0, docs.shape[0], size=5)]
    # Queries that are rescaled documents, plus an empty query.
    queries = sp.vstack([queries * 0.5, sp.csr_matrix((1, docs.shape[1]), dtype=np.float32)]).tocsr()
    queries.sort_indices()
    ix = SparseIndex.build(
        docs, centroid_fraction=float(rng.uniform(0.05, 1.0)), min_cluster_size=int(rng.integers(1, 4)),
        summary_energy=float(rng.uniform(0.1, 1.0)), seed=seed, **LOSSLESS_BUILD,
    )
    got = ix.search(queries, k, **LOSSLESS_SEARCH)
    assert_topk_matches(got, *reference_topk(docs, queries, k))
    assert_topk_matches(exact_search(docs, queries, k), *reference_topk(docs, queries, k))


def test_lossless_with_global_pruning_and_knn_graph():
    docs, queries = synthetic_sparse(3000, 30, vocab_size=2000, doc_nnz=40, query_nnz=15, seed=3)
    want = exact_search(docs, queries, 10)
    ix = SparseIndex.build(docs, pruning="global", n_postings=10**7, **FLOAT32_VALUES, knn=5)
    got = ix.search(queries, 10, n_knn=5, **LOSSLESS_SEARCH)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5)


def test_empty_queries_and_documents_are_valid():
    docs = sp.csr_matrix(np.array([[0, 1.0, 0], [0, 0, 0], [2.0, 0, 0]], dtype=np.float32))
    queries = sp.csr_matrix(np.array([[0, 0, 0], [1.0, 1.0, 0], [0, 0, 3.0]], dtype=np.float32))
    ix = SparseIndex.build(docs)
    res = ix.search(queries, 3)
    assert res.scores.dtype == np.float32 and res.ids.dtype == np.int64
    np.testing.assert_array_equal(res.ids, [[-1, -1, -1], [2, 0, -1], [-1, -1, -1]])
    assert np.isneginf(res.scores[0]).all() and res.scores[1, 0] == pytest.approx(2.0)
    empty = SparseIndex.build(sp.csr_matrix((0, 5), dtype=np.float32))
    assert empty.search(sp.csr_matrix((2, 5), dtype=np.float32), 4).ids.tolist() == [[-1] * 4] * 2


def test_ties_go_to_smaller_id():
    docs = sp.csr_matrix(np.ones((6, 2), dtype=np.float32))
    res = SparseIndex.build(docs).search(np.array([1.0, 1.0], dtype=np.float32), 4, heap_factor=0.0)
    np.testing.assert_array_equal(res.ids, [[0, 1, 2, 3]])
