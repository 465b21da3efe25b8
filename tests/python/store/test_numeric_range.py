"""Issue 11, numbers the store cannot represent: fp16 storage refuses values above its
range (never clamps), and an fp32 store refuses queries whose MaxSim could overflow float32
(finite values near 3e38 gave +inf + -inf = NaN scores, which were then ranked)."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorIndex, MultiVectorStore


def test_fp16_store_refuses_values_above_its_range():
    docs = np.ones((4, 8), np.float32)
    docs[2, 3] = 70000.0
    with pytest.raises(ValueError, match="vectors"):
        MultiVectorStore.build(docs, [0, 2, 4], precision="fp16")
    docs[2, 3] = 65504.0
    store = MultiVectorStore.build(docs, [0, 2, 4], precision="fp16")
    assert store.maxsim(np.eye(1, 8, 3, dtype=np.float32))[1] == 65504.0


def _near_float_max_store():
    rng = np.random.default_rng(0)
    docs = (rng.choice([-1.0, 1.0], size=(6, 8)) * 3e38).astype(np.float32)
    return docs, MultiVectorStore.build(docs, [0, 2, 4, 6])


def test_fp32_scores_that_could_overflow_are_refused():
    docs, store = _near_float_max_store()
    query = docs[:3].copy()
    calls = [
        lambda: store.maxsim(query),
        lambda: store.maxsim_batch([query]),
        lambda: store.search([query], 3),
        lambda: store.rerank([query], np.array([[0, 1, 2]])),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="overflow float32.*scale"):
            call()


def test_scaled_down_vectors_score_finite_and_rank_the_same():
    docs, _ = _near_float_max_store()
    scale = np.float32(1e-30)
    store = MultiVectorStore.build(docs * scale, [0, 2, 4, 6])
    res = store.search([docs[:3] * scale], 3)
    assert np.isfinite(res.scores).all()
    assert sorted(res.ids[0]) == [0, 1, 2]


def test_index_search_refuses_overflowing_scores():
    docs, _ = _near_float_max_store()
    ix = MultiVectorIndex.build([docs[:2], docs[2:4], docs[4:]], method="muvera", precision="fp32")
    with pytest.raises(ValueError, match="overflow float32"):
        ix.search([docs[:3]], 2, n_candidates=3)
