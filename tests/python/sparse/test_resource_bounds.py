"""Issue 11, resources and numbers in the sparse index: one document holding every term
cannot inflate the block summaries (summaries.cpp / build.cpp summarize); fp16 weights
above the half range are refused, not clamped; and padding follows the README: exact
search pads iff fewer than k documents share a term with the query, the approximate
search may pad earlier."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from aftershock import SparseIndex, exact_search
from aftershock.datasets import synthetic_sparse

from .reference import PRECISION_KEYWORD


def test_one_document_with_every_term_keeps_the_index_small():
    docs, _ = synthetic_sparse(3000, 1, vocab_size=5000, doc_nnz=60, seed=3)
    rng = np.random.default_rng(0)
    every_term = sp.csr_matrix(rng.uniform(0.01, 1.0, size=(1, docs.shape[1])).astype(np.float32))
    with_outlier = sp.vstack([docs, every_term]).tocsr()
    plain = SparseIndex.build(docs, num_threads=2)
    outlier = SparseIndex.build(with_outlier, num_threads=2)
    # Before the per-document cut the outlier's tail filled every summary it joined
    # (about 9x here); the index may grow by its own postings and its capped summaries.
    assert outlier.size_bytes <= 2.0 * plain.size_bytes, (outlier.size_bytes, plain.size_bytes)
    # Its own row is still found: the outlier is a candidate of a query on its terms.
    res = outlier.search(every_term, 1)
    assert res.ids[0, 0] == docs.shape[0]


def test_summaries_still_bound_ordinary_documents():
    # The cut only touches rows longer than 4x the median: a corpus of equal-length rows
    # builds the same summaries as before, each an upper bound of its kept components.
    docs, _ = synthetic_sparse(500, 1, vocab_size=300, doc_nnz=20, seed=4)
    ix = SparseIndex.build(docs, **{PRECISION_KEYWORD: "fp32"})
    dense = docs.toarray()
    for term in range(0, 300, 11):
        for b, block in enumerate(ix.blocks_of(term)):
            for u, bound in ix.summary_of(term, b):
                assert bound >= dense[block, u].max() * (1 - 1e-6)


@pytest.mark.parametrize("spelling", [{PRECISION_KEYWORD: "fp16"}, {"value_dtype": "float16"}])
def test_fp16_refuses_weights_above_its_range(spelling):
    docs = sp.csr_matrix(np.array([[150000.0, 1.0, 0.0], [0.0, 2.0, 3.0]], dtype=np.float32))
    with pytest.warns(DeprecationWarning) if "value_dtype" in spelling else _no_warning():
        with pytest.raises(ValueError, match=r"precision: 'fp16' stores weights up to 65504.*150000.*fp32"):
            SparseIndex.build(docs, **spelling)
    # 65504 itself fits; fp32 keeps the large weight exactly.
    SparseIndex.build(sp.csr_matrix(np.array([[65504.0, 1.0]], dtype=np.float32)), **{PRECISION_KEYWORD: "fp16"})
    ix = SparseIndex.build(docs, **{PRECISION_KEYWORD: "fp32"})
    res = ix.search(sp.csr_matrix(np.array([[1.0, 0.0, 0.0]], dtype=np.float32)), 1)
    assert res.scores[0, 0] == 150000.0


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_exact_search_pads_iff_fewer_than_k_documents_share_a_term():
    # Documents 0-2 share term 1 with the query; 3 shares nothing; 4 holds term 2 at weight 0.
    docs = sp.csr_matrix(
        np.array([[0, 1, 0, 0], [2, 1, 0, 0], [0, 3, 0, 1], [0, 0, 0, 5], [0, 0, 0, 0]], dtype=np.float32)
    )
    query = sp.csr_matrix(np.array([[0, 1, 1, 0]], dtype=np.float32))
    full = exact_search(docs, query, 3)
    assert list(full.ids[0]) == [2, 0, 1] and np.isfinite(full.scores[0]).all()
    padded = exact_search(docs, query, 5)
    assert list(padded.ids[0]) == [2, 0, 1, -1, -1]
    assert np.isneginf(padded.scores[0, 3:]).all()


def test_approximate_search_may_pad_while_more_documents_share_a_term():
    # With query_cut=1 only the query's heaviest term is walked: documents sharing only its
    # other term are not seen, so the result pads although k documents share a term.
    docs = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32))
    query = sp.csr_matrix(np.array([[2, 1]], dtype=np.float32))
    ix = SparseIndex.build(docs)
    res = ix.search(query, 4, query_cut=1, heap_factor=0.0)
    assert list(res.ids[0, 2:]) == [-1, -1]
    assert list(exact_search(docs, query, 4).ids[0]) == [0, 1, 2, 3]
