"""MultiVectorStore's API (python/aftershock/maxsim.py, cpp/src/multivector/store.cpp):
maxsim, maxsim_batch, rerank and search_exact agree with each other, ties go to the smaller
id with padding, threads do not change results, accessors and input forms."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorStore

from .reference import PRECISIONS, topk_ref


@pytest.mark.parametrize("precision", PRECISIONS)
def test_batch_rerank_search_consistent(corpus, precision):
    docs, queries = corpus
    store = MultiVectorStore(docs, precision=precision)
    full = np.stack([store.maxsim(q) for q in queries])
    np.testing.assert_array_equal(store.maxsim_batch(queries), full)
    subset = np.array([5, 3, 3, 149, 0])
    np.testing.assert_array_equal(store.maxsim_batch(queries, doc_ids=subset), full[:, subset])
    res = store.search_exact(queries, k=10)
    assert res.scores.shape == (len(queries), 10) and res.ids.dtype == np.int64
    for qi in range(len(queries)):
        s, i = topk_ref(full[qi], np.arange(len(docs)), 10)
        np.testing.assert_array_equal(res.scores[qi], s)
        np.testing.assert_array_equal(res.ids[qi], i)
        cand = np.array([7, 99, 3, 42, 120, 0])
        rr = store.rerank(queries[qi], cand, k=4)
        s, i = topk_ref(full[qi][cand], cand, 4)
        np.testing.assert_array_equal(rr.scores, s)
        np.testing.assert_array_equal(rr.ids, i)


def test_threads_do_not_change_results(corpus):
    docs, queries = corpus
    store = MultiVectorStore(docs, precision="fp32", num_threads=2)
    q = queries[0]
    np.testing.assert_array_equal(store.maxsim(q, num_threads=1), store.maxsim(q, num_threads=2))
    np.testing.assert_array_equal(store.maxsim_batch(queries, num_threads=1), store.maxsim_batch(queries, num_threads=2))
    a = store.search_exact(queries, k=7, num_threads=1)
    b = store.search_exact(queries, k=7, num_threads=2)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.ids, b.ids)
    s1 = MultiVectorStore(docs, precision="int8", num_threads=1)
    s2 = MultiVectorStore(docs, precision="int8", num_threads=2)
    assert s1.to_bytes() == s2.to_bytes()


def test_concurrent_calls_from_python_threads(corpus):
    from concurrent.futures import ThreadPoolExecutor

    docs, queries = corpus
    store = MultiVectorStore(docs, precision="bf16")
    expected = [store.maxsim(q, num_threads=1) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: store.maxsim(q, num_threads=2), queries * 3))
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g, expected[i % len(queries)])


def test_ties_and_padding():
    d = np.ones((2, 4), np.float32)
    store = MultiVectorStore([d, d, d], precision="fp32")
    res = store.search_exact([np.ones((1, 4), np.float32)], k=5)
    np.testing.assert_array_equal(res.ids[0], [0, 1, 2, -1, -1])
    assert np.all(np.isneginf(res.scores[0, 3:]))
    rr = store.rerank(np.ones((1, 4), np.float32), [2, 1], k=3)
    np.testing.assert_array_equal(rr.ids, [1, 2, -1])


def test_input_forms_and_accessors(corpus):
    docs, queries = corpus
    flat = np.concatenate(docs)
    offsets = np.concatenate([[0], np.cumsum([d.shape[0] for d in docs])])
    a = MultiVectorStore(docs)
    b = MultiVectorStore(flat.astype(np.float64), offsets.astype(np.int32))
    assert a.to_bytes() == b.to_bytes()
    assert len(a) == a.n_docs == len(docs) and a.dim == 24 and a.precision == "fp32"
    assert a.total_tokens == flat.shape[0]
    np.testing.assert_array_equal(a.offsets, offsets)
    np.testing.assert_array_equal(a.doc_lengths, np.diff(offsets))
    np.testing.assert_array_equal(a.doc(5), docs[5])
    assert a.size_bytes > flat.nbytes
    # A 3-d query batch equals the list form.
    batch3 = np.stack([queries[0][:1], queries[1][:1]])
    np.testing.assert_array_equal(a.maxsim_batch(batch3), a.maxsim_batch([queries[0][:1], queries[1][:1]]))
    assert "MultiVectorStore(" in repr(a)
    assert a.kernel in {"scalar", "avx2", "avx512", "avx512_bf16", "avx512_vnni"}


def test_empty_store():
    store = MultiVectorStore(np.zeros((0, 8), np.float32), [0])
    assert store.n_docs == 0
    assert store.maxsim(np.ones((2, 8), np.float32)).shape == (0,)
    res = store.search_exact([np.ones((2, 8), np.float32)], k=3)
    np.testing.assert_array_equal(res.ids, [[-1, -1, -1]])
    assert MultiVectorStore.from_bytes(store.to_bytes()).n_docs == 0
