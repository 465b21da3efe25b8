"""SparseIndex.score: exact scores of listed documents, across segments and deletes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from aftershock import SparseIndex
from hypothesis import given, settings
from hypothesis import strategies as st


def _docs(n, seed):
    return sp.random(n, 40, density=0.12, random_state=seed, format="csr", dtype=np.float32)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(1, 12))
def test_score_equals_dot_products(seed, n_adds, width):
    rng = np.random.default_rng(seed)
    parts = [_docs(120, seed % 1000)]
    index = SparseIndex.build(parts[0], precision="fp32", n_postings=50, num_threads=1)
    for a in range(n_adds):
        parts.append(_docs(30, seed % 1000 + a + 1))
        index.add(parts[-1])
    every = sp.vstack(parts).tocsr()
    dead = rng.choice(every.shape[0], 10, replace=False)
    index.delete(dead)
    live = np.setdiff1d(np.arange(every.shape[0]), dead)
    queries = sp.random(4, 40, density=0.25, random_state=seed % 999, format="csr", dtype=np.float32)
    ids = rng.choice(live, (4, width))
    ids[0, 0] = -1  # padding
    got = index.score(queries, ids, num_threads=1)
    want = np.take_along_axis((queries @ every.T).toarray(), np.maximum(ids, 0), 1)
    np.testing.assert_allclose(got[ids >= 0], want[ids >= 0], rtol=1e-5, atol=1e-6)
    assert np.isneginf(got[ids < 0]).all()
    # deleted ids: KeyError naming the id, or -inf with missing="ignore"
    bad = np.full((4, 1), dead[0])
    with pytest.raises(KeyError, match=str(dead[0])):
        index.score(queries, bad)
    assert np.isneginf(index.score(queries, bad, missing="ignore")).all()


def test_score_bad_arguments():
    index = SparseIndex.build(_docs(50, 1), num_threads=1)
    q = _docs(2, 2)
    with pytest.raises(ValueError, match="ids"):
        index.score(q, np.zeros(3, dtype=np.int64))  # not 2-d
    with pytest.raises(ValueError, match="ids"):
        index.score(q, np.zeros((3, 1), dtype=np.int64))  # rows != queries
    with pytest.raises(ValueError, match="ids"):
        index.score(q, np.full((2, 1), -2))
    with pytest.raises(ValueError, match="ids"):
        index.score(q, np.zeros((2, 1), dtype=np.float64))
    with pytest.raises(ValueError, match="missing"):
        index.score(q, np.zeros((2, 1), dtype=np.int64), missing="skip")
    with pytest.raises(ValueError, match="queries"):
        index.score(sp.random(2, 41, density=0.5, format="csr"), np.zeros((2, 1), dtype=np.int64))
    assert index.score(q, np.zeros((2, 0), dtype=np.int64)).shape == (2, 0)
