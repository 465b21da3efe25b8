"""Structure of a built index (cpp/src/sparse/build.cpp, forward_index.cpp): blocks
partition the pruned posting lists, summaries bound their blocks, forward-index rows are
stored by heaviest terms, and a large cluster is cut by weight."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from aftershock import SparseIndex
from aftershock.datasets import synthetic_sparse
from aftfile import sections

from .reference import FLOAT32_VALUES


def test_blocks_partition_the_pruned_lists():
    docs, _ = synthetic_sparse(2000, 1, vocab_size=500, doc_nnz=30, seed=5)
    ix = SparseIndex.build(docs, pruning="fixed", n_postings=50, **FLOAT32_VALUES, centroid_fraction=0.1,
                           min_cluster_size=2)
    dense = docs.toarray()
    for term in range(0, 500, 7):
        blocks = ix.blocks_of(term)
        members = [d for b in blocks for d in b]
        positive = np.flatnonzero(dense[:, term] > 0)
        assert len(set(members)) == len(members)
        assert len(members) == min(50, len(positive))
        # Fixed pruning keeps the heaviest postings.
        if members:
            kept_min = dense[members, term].min()
            dropped = np.setdiff1d(positive, members)
            assert (dense[dropped, term] <= kept_min).all()
        if members:
            # Clusters above the mean cluster size are cut (at least 2 * min_cluster_size).
            cap = max(-(-len(members) // math.ceil(0.1 * len(members))), 4)
            assert max(len(b) for b in blocks) <= cap
        for b, block in enumerate(blocks):
            summary = dict(ix.summary_of(term, b))
            # Quantization rounds up: every kept component bounds the block's documents.
            for u, value in summary.items():
                assert value >= dense[block, u].max() * (1 - 1e-6)
            assert summary, "every block keeps at least one summary component"


def test_rows_are_stored_by_heaviest_terms():
    """Forward-index rows go in order of (heaviest term, second-heaviest term), ties by id,
    so a block's documents tend to be neighbours in memory; the handles section says where."""
    docs, _ = synthetic_sparse(500, 1, vocab_size=300, doc_nnz=12, seed=9)
    data = SparseIndex.build(docs)._core.to_bytes()
    at, length = sections(data)["FWDH"][1:]
    stored = np.argsort(np.frombuffer(data[at : at + length], np.uint32), kind="stable")  # docs in row order
    def key(d):
        row = docs[d]
        top = row.indices[np.lexsort((row.indices, -row.data))]  # heaviest first, ties to the smaller term
        return (int(top[0]), int(top[1]) if len(top) > 1 else 2**32 - 1, d)
    assert [key(d) for d in stored] == sorted(key(d) for d in range(500))

def test_a_large_cluster_is_cut_by_weight():
    """100 documents identical but for their weight on term 0 form one cluster of term 0's
    list (every document's nearest centroid is the heaviest sampled one); it must be cut
    into blocks of the mean cluster size (10), heaviest weights first."""
    n = 100
    weights = 1.0 + np.random.default_rng(3).permutation(n) / n  # distinct
    rows = [[0, 1, 2, 3, 4, 5]] * n
    values = np.concatenate([[w, 1, 1, 1, 1, 1] for w in weights]).astype(np.float32)
    docs = sp.csr_matrix((values, np.concatenate(rows), np.arange(0, 6 * n + 1, 6)), shape=(n, 8))
    ix = SparseIndex.build(docs, pruning="fixed", n_postings=n, centroid_fraction=0.1, min_cluster_size=2,
                           **FLOAT32_VALUES)
    blocks = ix.blocks_of(0)
    assert [len(b) for b in blocks] == [10] * 10
    for heavier, lighter in zip(blocks, blocks[1:]):
        assert weights[heavier].min() > weights[lighter].max()
