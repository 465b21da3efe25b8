"""SparseIndex.search with pruning on (cpp/src/sparse/search.cpp): equals the documented
best-first block walk id for id, reaches recall with default settings, kNN refinement does
not lose recall, and thread counts change neither the index nor the results."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import aftershock
from aftershock import SparseIndex, _core, exact_search
from aftershock.datasets import recall_at_k, synthetic_sparse

from .reference import FLOAT32_VALUES


def test_default_settings_reach_recall(synthetic):
    docs, queries, truth = synthetic
    ix = SparseIndex.build(docs)
    res = ix.search(queries, 10)
    recall = recall_at_k(res.ids, truth.ids, 10)
    assert recall >= 0.9, recall
    # Scores the index returns are the forward-index (float16) scores of those documents.
    found = res.ids >= 0
    assert found.all()


def test_knn_refinement_does_not_lose_recall(synthetic):
    docs, queries, truth = synthetic
    ix = SparseIndex.build(docs[:5000], knn=5)
    t5 = exact_search(docs[:5000], queries, 10)
    base = recall_at_k(ix.search(queries, 10, query_cut=3, heap_factor=1.0).ids, t5.ids, 10)
    refined = recall_at_k(ix.search(queries, 10, query_cut=3, heap_factor=1.0, n_knn=5).ids, t5.ids, 10)
    assert refined >= base
    ix.build_knn(0)
    assert ix.knn == 0


def _best_first_model(ix, docs, query, k, query_cut, heap_factor, level):
    """Search as documented, in Python: every block of the query_cut heaviest terms' lists,
    best bound first across lists (ties: smaller term, then block), stopping at the first
    bound below heap_factor * k-th score; each new document scored by the index's kernel over
    its row stored heaviest weight first (a row the kernel stops early scores below the k-th
    score, so it is rejected here too)."""
    terms = query.indices[query.data > 0].astype(np.uint32)
    weights = query.data[query.data > 0].astype(np.float32)
    dense = np.zeros(docs.shape[1], np.float32)
    dense[terms] = weights
    cut = sorted(range(len(terms)), key=lambda i: (-weights[i], terms[i]))[:query_cut]
    walk = []
    for t in sorted(int(terms[i]) for i in cut):
        bounds = ix._core._block_scores(t, terms.tolist(), weights.tolist(), level)
        walk += [(-bound, t, b) for b, bound in enumerate(bounds)]
    walk.sort()
    top, seen = [], set()  # top: (score, id), best first
    for neg_bound, t, b in walk:
        if len(top) == k and np.float32(-neg_bound) < np.float32(heap_factor) * top[-1][0]:
            break
        for d in ix.blocks_of(t)[b]:
            if d in seen:
                continue
            seen.add(d)
            lo, hi = docs.indptr[d], docs.indptr[d + 1]
            heaviest_first = np.argsort(-docs.data[lo:hi], kind="stable")  # the forward rows' order
            row_terms = docs.indices[lo:hi][heaviest_first].astype(np.uint16)
            score = np.float32(_core._sparse_dot(level, row_terms, docs.data[lo:hi][heaviest_first], dense))
            top = sorted(top + [(score, d)], key=lambda e: (-e[0], e[1]))[:k]
    return [d for _, d in top], [s for s, _ in top]


@given(st.integers(0, 2**16), st.integers(1, 6), st.sampled_from([0.5, 0.8, 1.0, 1.3]), st.integers(1, 10))
@settings(max_examples=30, deadline=None)
def test_search_walks_blocks_best_first_across_lists(seed, query_cut, heap_factor, k):
    """With heap_factor > 0, search equals the documented walk id for id and bit for bit."""
    docs, queries = synthetic_sparse(400, 3, vocab_size=150, doc_nnz=12, query_nnz=8, seed=seed)
    ix = SparseIndex.build(docs, pruning="fixed", n_postings=60, centroid_fraction=0.2, min_cluster_size=2,
                           **FLOAT32_VALUES, seed=seed)
    level = aftershock.simd_info()["active"]
    got = ix.search(queries, k, query_cut=query_cut, heap_factor=heap_factor, n_knn=0)  # the walk alone
    for qi in range(queries.shape[0]):
        ids, scores = _best_first_model(ix, docs, queries[qi], k, query_cut, heap_factor, level)
        np.testing.assert_array_equal(got.ids[qi, : len(ids)], ids)
        np.testing.assert_array_equal(got.scores[qi, : len(ids)], np.float32(scores))
        assert (got.ids[qi, len(ids):] == -1).all()


def test_threads_do_not_change_results(synthetic):
    docs, queries, _ = synthetic
    docs = docs[:6000]
    a = SparseIndex.build(docs, num_threads=1, knn=2)
    b = SparseIndex.build(docs, num_threads=2, knn=2)
    assert pickle.dumps(a) == pickle.dumps(b)
    r1 = a.search(queries, 10, num_threads=1, n_knn=2)
    r2 = a.search(queries, 10, num_threads=2, n_knn=2)
    np.testing.assert_array_equal(r1.ids, r2.ids)
    np.testing.assert_array_equal(r1.scores, r2.scores)
