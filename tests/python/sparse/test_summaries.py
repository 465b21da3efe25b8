"""Block summaries (cpp/src/sparse/summaries.cpp, summary_scan.inc): the summary scan at
every SIMD level equals the summaries read back block by block, times the query."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from aftershock import SparseIndex
from levels import per_level_settings

from .reference import EPS32


@given(
    st.sampled_from([40, 300, 70000]),
    st.integers(1, 700),
    st.floats(0.05, 1.0),
    st.integers(0, 2**32 - 1),
)
@per_level_settings(max_examples=25, deadline=None)
def test_block_scores_equal_summaries_times_query(simd_level, dim, n_docs, centroid_fraction, seed):
    """The summary scan (directory lookup, run search, pages) at every level, against the
    summaries read back block by block. Small vocabularies give bitmap directories, larger
    ones sorted u16 or (above 65,536 terms) u32 ids, and lists of more than 256 blocks
    several pages."""
    rng = np.random.default_rng(seed)
    nnz = min(dim, 12)
    rows = [np.sort(np.r_[0, rng.choice(np.arange(1, dim), size=nnz - 1, replace=False)]) for _ in range(n_docs)]
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
    docs = sp.csr_matrix((rng.lognormal(0, 1, indptr[-1]).astype(np.float32), np.concatenate(rows), indptr),
                         shape=(n_docs, dim))
    ix = SparseIndex.build(docs, pruning="fixed", n_postings=n_docs, centroid_fraction=centroid_fraction,
                           min_cluster_size=1, summary_energy=float(rng.uniform(0.2, 1.0)), seed=seed)
    terms = np.unique(np.r_[0, rng.choice(dim, size=min(dim, 30), replace=False)]).astype(np.uint32)
    weights = rng.lognormal(0, 1, terms.size).astype(np.float32)
    q = dict(zip(terms.tolist(), weights.astype(np.float64).tolist()))
    for term in (0, int(docs.indices[0]), int(docs.indices[-1])):
        n_blocks = len(ix.blocks_of(term))
        want = np.array([sum(q.get(u, 0.0) * v for u, v in ix.summary_of(term, b)) for b in range(n_blocks)])
        got = ix._core._block_scores(term, terms.tolist(), weights.tolist(), simd_level)
        np.testing.assert_allclose(got, want, rtol=64 * EPS32, atol=0, err_msg=simd_level)
