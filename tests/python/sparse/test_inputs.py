"""Inputs of SparseIndex and exact_search (python/aftershock/_validate.py, sparse.py and
cpp/src/sparse/validate.cpp): the accepted query forms agree, scipy input is canonicalized
on a copy, and every class of invalid input raises its documented exception."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from aftershock import SparseIndex, exact_search
from aftershock.datasets import synthetic_sparse

from .reference import FLOAT32_VALUES, LOSSLESS_BUILD, LOSSLESS_SEARCH, PRECISION_KEYWORD


def test_single_query_forms_agree():
    docs, queries = synthetic_sparse(500, 3, vocab_size=300, doc_nnz=20, query_nnz=8, seed=1)
    ix = SparseIndex.build(docs, **LOSSLESS_BUILD)
    row = queries[0]
    batch = ix.search(row, 5, **LOSSLESS_SEARCH)
    pair = ix.search((row.indices, row.data), 5, **LOSSLESS_SEARCH)
    dense = ix.search(row.toarray()[0], 5, **LOSSLESS_SEARCH)
    assert batch.scores.shape == (1, 5)
    for other in (pair, dense):
        np.testing.assert_array_equal(batch.ids, other.ids)
        np.testing.assert_array_equal(batch.scores, other.scores)


@pytest.fixture(scope="module")
def small_index():
    docs, _ = synthetic_sparse(500, 1, vocab_size=100, doc_nnz=10, seed=11)
    return docs, SparseIndex.build(docs)


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (np.array([[0, np.nan]], np.float32), ValueError, "not finite"),
        (np.array([[0, np.inf]], np.float64), ValueError, "not finite"),
        (np.array([[0, -1.0]], np.float32), ValueError, "non-negative"),
        (np.array([[0, 1e300]], np.float64), ValueError, "not finite"),
        (np.array([[1 + 1j, 0]]), TypeError, "docs"),
        (np.array([[True, False]]), TypeError, "docs"),
        (np.array([["a", "b"]], dtype=object), TypeError, "docs"),
        ("not a matrix", TypeError, "docs"),
        (np.zeros((2, 2, 2), np.float32), ValueError, "shape"),
    ],
)
def test_bad_documents(bad, err, match):
    with pytest.raises(err, match=match):
        SparseIndex.build(bad)


@pytest.mark.parametrize(
    "triple, match",
    [
        ((np.array([2, 1]), np.array([1.0, 1.0]), np.array([0, 2])), "strictly increasing"),
        ((np.array([1, 1]), np.array([1.0, 1.0]), np.array([0, 2])), "strictly increasing"),
        ((np.array([1, 5]), np.array([1.0, 1.0]), np.array([0, 2])), "out of range"),
        ((np.array([1, 2]), np.array([1.0, 1.0]), np.array([1, 2])), "indptr\\[0\\]"),
        ((np.array([1, 2]), np.array([1.0, 1.0]), np.array([0, 3])), "indptr\\[-1\\]"),
        ((np.array([1, 2]), np.array([1.0, 1.0]), np.array([0, 2, 1, 2])), "non-decreasing"),
        ((np.array([1, 2]), np.array([1.0]), np.array([0, 2])), "differ in length"),
        ((np.array([-1, 2]), np.array([1.0, 1.0]), np.array([0, 2])), ">= 0"),
        ((np.array([-1, 2], np.int32), np.array([1.0, 1.0]), np.array([0, 2])), ">= 0, got -1"),
        ((np.array([2**32 + 1, 2]), np.array([1.0, 1.0]), np.array([0, 2])), "does not fit"),
    ],
)
def test_bad_csr_tuples(triple, match):
    with pytest.raises(ValueError, match=match):
        SparseIndex.build(triple, dim=4)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_negative_query_ids_are_named(small_index, dtype):
    """Narrow signed ids skip the Python scan and reach the core reinterpreted as unsigned;
    the core's message still names the negative id."""
    _, ix = small_index
    with pytest.raises(ValueError, match="negative id, -3|>= 0, got -3"):
        ix.search((np.array([-3, 2], dtype), np.array([1.0, 1.0], np.float32)), 5)
    with pytest.raises(ValueError, match="negative"):
        ix.search(sp.csr_matrix((np.array([1.0], np.float32), np.array([-3], np.int32), np.array([0, 1])), shape=(1, 100)), 5)


def test_scipy_input_is_canonicalized():
    # Unsorted indices with duplicates: scipy semantics (duplicates summed) on a copy.
    m = sp.csr_matrix((np.array([1.0, 2.0, 3.0], np.float32), np.array([2, 0, 2]), np.array([0, 3])), shape=(1, 3))
    ix = SparseIndex.build(m, **FLOAT32_VALUES)
    res = ix.search(np.array([0, 0, 1.0], np.float32), 1, heap_factor=0.0)
    assert res.scores[0, 0] == 4.0
    assert not m.has_canonical_format  # the caller's matrix is untouched


def test_bad_queries_and_parameters(small_index):
    docs, ix = small_index
    q = docs[:2]
    with pytest.raises(ValueError, match="columns"):
        ix.search(sp.csr_matrix((1, 99), dtype=np.float32), 10)
    with pytest.raises(ValueError, match="k"):
        ix.search(q, 0)
    with pytest.raises(TypeError, match="k"):
        ix.search(q, 2.5)
    with pytest.raises(ValueError, match="query_cut"):
        ix.search(q, 10, query_cut=0)
    with pytest.raises(ValueError, match="heap_factor"):
        ix.search(q, 10, heap_factor=-0.5)
    with pytest.raises(ValueError, match="heap_factor"):
        ix.search(q, 10, heap_factor=float("nan"))
    with pytest.raises(ValueError, match="num_threads"):
        ix.search(q, 10, num_threads=-1)
    with pytest.raises(ValueError, match="not finite"):
        ix.search(np.full(100, np.nan, np.float32), 10)
    with pytest.raises(ValueError, match="k"):
        exact_search(docs, q, 0)
    for kwargs, match in [
        (dict(centroid_fraction=0.0), "centroid_fraction"),
        (dict(centroid_fraction=1.5), "centroid_fraction"),
        (dict(summary_energy=0.0), "summary_energy"),
        (dict(n_postings=0), "n_postings"),
        (dict(min_cluster_size=0), "min_cluster_size"),
        (dict(max_fraction=0.5), "max_fraction"),
        (dict(pruning="magic"), "pruning"),
        ({PRECISION_KEYWORD: "int8"}, PRECISION_KEYWORD),
        (dict(knn=-1), "knn"),
    ]:
        with pytest.raises(ValueError, match=match):
            SparseIndex.build(docs, **kwargs)
    with pytest.raises(TypeError):
        SparseIndex(object())


def test_knn_is_capped_by_the_number_of_other_documents():
    docs, _ = synthetic_sparse(50, 2, seed=4)
    with pytest.raises(ValueError, match="knn: expected <= n_docs - 1 = 49, got 400000"):
        SparseIndex.build(docs, knn=400000)
    index = SparseIndex.build(docs, knn=49)
    assert index.knn == 49
    with pytest.raises(ValueError, match="knn: expected <= n_docs - 1 = 49, got 50"):
        index.build_knn(50)
