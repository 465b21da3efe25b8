"""SparseIndex.search_stats (the work counters of search.cpp) and the corpus-derived
n_postings default (default_params.cpp)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aftershock import SparseIndex
from aftershock.datasets import synthetic_sparse


@pytest.fixture(scope="module")
def corpus():
    docs, queries = synthetic_sparse(3000, 40, vocab_size=800, doc_nnz=30, query_nnz=12, seed=11)
    return SparseIndex.build(docs, n_postings=120, seed=1), queries


def top_terms(queries, i, cut):
    row = queries[i]
    order = sorted(zip(-row.data, row.indices))[:cut]
    return [int(t) for _, t in order]


def test_stats_with_nothing_skipped_count_every_walked_list(corpus):
    ix, queries = corpus
    st = ix.search_stats(queries, 10, query_cut=4, heap_factor=0.0, n_knn=0, num_threads=1)  # the lists alone
    for i in range(queries.shape[0]):
        terms = top_terms(queries, i, 4)
        blocks = [ix.blocks_of(t) for t in terms]
        members = [d for bl in blocks for b in bl for d in b]
        assert st["lists"][i] == len(terms)
        assert st["blocks"][i] == st["blocks_visited"][i] == sum(len(bl) for bl in blocks)
        assert st["postings"][i] == len(members)
        assert st["docs_scored"][i] == len(set(members))


def test_stats_match_search_and_skip_blocks(corpus):
    ix, queries = corpus
    res = ix.search(queries, 10, query_cut=6, heap_factor=1.0, num_threads=2)
    st = ix.search_stats(queries, 10, query_cut=6, heap_factor=1.0, num_threads=2)
    np.testing.assert_array_equal(st["ids"], res.ids)
    np.testing.assert_array_equal(st["scores"], res.scores)
    assert (st["lists"] <= 6).all()
    assert (st["blocks_visited"] <= st["blocks"]).all()
    assert (st["docs_scored"] <= st["postings"]).all()
    # heap_factor 1.0 stops at the first block that cannot beat the k-th score.
    assert st["blocks_visited"].sum() < st["blocks"].sum()
    for key in ("lists", "blocks", "blocks_visited", "postings", "docs_scored"):
        assert st[key].dtype == np.int64 and st[key].shape == (queries.shape[0],)


def test_stats_check_parameters_like_search(corpus):
    ix, queries = corpus
    with pytest.raises(ValueError, match="query_cut"):
        ix.search_stats(queries, 10, query_cut=0)


@pytest.mark.parametrize("n_docs", [500, 5000, 20000])
def test_default_n_postings_grows_with_the_square_root_of_the_corpus(n_docs):
    docs, _ = synthetic_sparse(n_docs, 1, vocab_size=2000, doc_nnz=20, seed=3)
    ix = SparseIndex.build(docs, num_threads=2)
    expected = max(100, round(3 * math.sqrt(n_docs) / 50) * 50)
    assert ix.info()["build"]["n_postings"] == expected
    # An explicit value is kept as given.
    assert SparseIndex.build(docs, n_postings=77).info()["build"]["n_postings"] == 77
