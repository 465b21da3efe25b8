"""Every class of invalid MultiVectorStore input raises its documented exception, and the
private core does not cast silently."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorStore, _core


def test_bad_construction_inputs():
    good = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore.build(good, [1, 4])
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore.build(good, [0, 3, 2, 4])
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore.build(good, [0, 2, 2, 4])  # empty document
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore.build(good, [0, 2, 3])  # does not end at the token count
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore.build(good, [])
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore.build(good)
    with pytest.raises(ValueError, match=r"vectors: value at row 2, column 1 is not finite \(nan\)"):
        bad = good.copy()
        bad[2, 1] = np.nan
        bad[3, 0] = np.inf
        MultiVectorStore.build(bad, [0, 2, 4])
    with pytest.raises(TypeError, match="offsets"):
        MultiVectorStore.build(good, [0.0, 4.0])
    for value in (np.nan, np.inf, -np.inf):
        bad = good.copy()
        bad[2, 1] = value
        with pytest.raises(ValueError, match="vectors"):
            MultiVectorStore.build(bad, [0, 4])
    with pytest.raises(ValueError, match="float16"):
        MultiVectorStore.build(good * 1e5, [0, 4], precision="fp16")
    with pytest.raises(ValueError, match="precision"):
        MultiVectorStore.build(good, [0, 4], precision="fp8")
    with pytest.raises(TypeError, match="precision"):
        MultiVectorStore.build(good, [0, 4], precision=None)
    with pytest.raises(ValueError, match="dim"):
        MultiVectorStore.build(np.ones((4, 0), np.float32), [0, 4])
    with pytest.raises(TypeError, match="vectors"):
        MultiVectorStore.build(good.astype(bool), [0, 4])
    with pytest.raises(TypeError, match="vectors"):
        MultiVectorStore.build(good.astype(np.complex64), [0, 4])
    with pytest.raises(ValueError, match="vectors"):
        MultiVectorStore.build(np.ones(4, np.float32), [0, 4])
    with pytest.raises(ValueError, match=r"vectors\[1\]"):
        MultiVectorStore.build([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"vectors\[1\]: expected at least one token"):
        MultiVectorStore.build([np.ones((2, 3)), np.ones((0, 3))])
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore.build([np.ones((2, 3))], [0, 2])


def test_bad_query_inputs(corpus):
    docs, queries = corpus
    store = MultiVectorStore.build(docs[:10])
    q = queries[0]
    with pytest.raises(ValueError, match="query"):
        store.maxsim(q[:, :5])
    with pytest.raises(ValueError, match="query"):
        store.maxsim(q[:0])
    with pytest.raises(ValueError, match="query"):
        store.maxsim(q[0])
    for value in (np.nan, np.inf):
        bad = q.copy()
        bad[0, 0] = value
        with pytest.raises(ValueError, match="query"):
            store.maxsim(bad)
        with pytest.raises(ValueError, match="quer"):
            store.search([q, bad], k=2)
    with pytest.raises(TypeError, match="query"):
        store.maxsim(q.astype(np.complex64))
    with pytest.raises(ValueError, match="queries"):
        store.maxsim_batch([q, q[:0]])
    with pytest.raises(ValueError, match="queries"):
        store.maxsim_batch(q)
    with pytest.raises(IndexError, match="doc_ids"):
        store.maxsim_batch([q], doc_ids=[0, 10])
    with pytest.raises(IndexError, match="candidate_ids"):
        store.rerank(q, [-2], k=1)
    with pytest.raises(IndexError, match=r"candidate_ids: id 11 at query 0, position 1"):
        store.rerank(q, [3, 11], k=1)
    with pytest.raises(IndexError, match=r"candidate_ids: id 10 at query 1, position 0"):
        store.rerank([q, q], [[3, -1], [10, 12]], k=1)
    with pytest.raises(IndexError, match="candidate_ids"):
        store.rerank(q, np.array([2**63], np.uint64), k=1)
    with pytest.raises(TypeError, match="candidate_ids"):
        store.rerank(q, [0.5], k=1)
    with pytest.raises(ValueError, match="candidate_ids"):
        store.rerank(q, [[1]], k=1)  # one 2-d query takes 1-d candidates
    with pytest.raises(ValueError, match="candidate_ids"):
        store.rerank([q], [1], k=1)  # a batch takes 2-d candidates
    with pytest.raises(ValueError, match="candidate_ids"):
        store.rerank([q, q], [[1]], k=1)  # one row per query
    with pytest.raises(ValueError, match=r"candidate_ids: .*pad short rows with -1"):
        store.rerank([q, q], [[1, 2], [3]], k=1)
    with pytest.raises(ValueError, match="k"):
        store.rerank(q, [1], k=0)
    with pytest.raises(ValueError, match="k"):
        store.search([q], k=0)
    with pytest.raises(TypeError, match="k"):
        store.search([q], k=1.5)
    with pytest.raises(IndexError, match="doc_id"):
        store.doc(10)
    with pytest.raises(ValueError, match="bfloat16"):
        MultiVectorStore.build(docs[:2], precision="bf16").maxsim(np.full((1, 24), 3.4e38, np.float32))


def test_core_is_strict(corpus):
    docs, queries = corpus
    core = MultiVectorStore.build(docs[:5])._core
    q = queries[0]
    m = q.shape[0]
    with pytest.raises(TypeError):
        core.maxsim(q.astype(np.float64), 0)
    with pytest.raises(TypeError):
        _core.MultiVectorStore(np.ones((2, 3)), np.array([0, 2], np.int64), "fp32", 0)
    with pytest.raises(ValueError, match="query_offsets"):
        core.search(q, np.array([0, 1], np.int64), 3, 0)
    with pytest.raises(ValueError, match="quer"):
        core.search(q, np.array([0, 0, m], np.int64), 3, 0)
    offs = np.array([0, m], np.int64)
    with pytest.raises(TypeError):
        core.rerank(q, offs, np.array([[0, 1]], np.uint32), 3, 0)
    with pytest.raises(ValueError, match="candidate_ids"):
        core.rerank(q, offs, np.array([0, 1], np.int64), 3, 0)
    with pytest.raises(ValueError, match="candidate_ids"):
        core.rerank(q, offs, np.zeros((2, 1), np.int64), 3, 0)
    with pytest.raises(IndexError, match="candidate_ids"):
        core.rerank(q, offs, np.array([[5]], np.int64), 3, 0)
    with pytest.raises(IndexError):
        core.maxsim_batch(queries[0], np.array([0, queries[0].shape[0]], np.int64), np.array([9], np.uint32), 0)
