"""MultiVectorStore's API (python/aftershock/store.py, cpp/src/multivector/store.cpp):
maxsim, maxsim_batch, rerank and search agree with each other, ties go to the smaller id
with padding, threads do not change results, accessors, info() and input forms."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorStore, SearchResult
from maxsim.reference import PRECISIONS, topk_ref


def _ragged(docs):
    flat = np.concatenate(docs)
    offsets = np.concatenate([[0], np.cumsum([d.shape[0] for d in docs])]).astype(np.int64)
    return flat, offsets


@pytest.mark.parametrize("precision", PRECISIONS)
def test_batch_rerank_search_consistent(corpus, precision):
    docs, queries = corpus
    store = MultiVectorStore.build(docs, precision=precision)
    full = np.stack([store.maxsim(q) for q in queries])
    np.testing.assert_array_equal(store.maxsim_batch(queries), full)
    subset = np.array([5, 3, 3, 149, 0])
    np.testing.assert_array_equal(store.maxsim_batch(queries, doc_ids=subset), full[:, subset])
    res = store.search(queries, k=10)
    assert isinstance(res, SearchResult)
    assert res.scores.shape == (len(queries), 10) and res.ids.dtype == np.int64 and res.scores.dtype == np.float32
    cand = np.array([[7, 99, 3, 42, 120, 0]] * len(queries))
    rr = store.rerank(queries, cand, k=4)
    assert rr.scores.shape == (len(queries), 4) and rr.ids.shape == (len(queries), 4)
    for qi in range(len(queries)):
        s, i = topk_ref(full[qi], np.arange(len(docs)), 10)
        np.testing.assert_array_equal(res.scores[qi], s)
        np.testing.assert_array_equal(res.ids[qi], i)
        s, i = topk_ref(full[qi][cand[qi]], cand[qi], 4)
        np.testing.assert_array_equal(rr.scores[qi], s)
        np.testing.assert_array_equal(rr.ids[qi], i)


def test_rerank_padding_and_single_query(corpus):
    docs, queries = corpus
    store = MultiVectorStore.build(docs)
    full = np.stack([store.maxsim(q) for q in queries[:3]])
    cand = np.array([[4, -1, 9, -1, 17], [-1, -1, -1, -1, -1], [120, 3, -1, 3, 8]])
    rr = store.rerank(queries[:3], cand, k=4)
    for qi in range(3):
        real = cand[qi][cand[qi] >= 0]
        s, i = topk_ref(full[qi][real], real, 4)
        n = len(s)
        np.testing.assert_array_equal(rr.ids[qi, :n], i)
        np.testing.assert_array_equal(rr.scores[qi, :n], s)
        np.testing.assert_array_equal(rr.ids[qi, n:], -1)
        assert np.all(np.isneginf(rr.scores[qi, n:]))
    # Row 2 holds a duplicate: scored, and returned, twice.
    assert list(rr.ids[2]).count(3) == 2
    # A first stage's ids feed it directly.
    first = store.search(queries[:3], k=6)
    again = store.rerank(queries[:3], first.ids, k=6)
    np.testing.assert_array_equal(again.ids, first.ids)
    # One 2-d query with 1-d candidates: [1, k].
    one = store.rerank(queries[0], cand[0], k=4)
    assert one.ids.shape == (1, 4) and one.scores.shape == (1, 4)
    np.testing.assert_array_equal(one.ids, rr.ids[:1])
    np.testing.assert_array_equal(one.scores, rr.scores[:1])
    # Flat queries with query_offsets are the same batch.
    flat, offs = _ragged(queries[:3])
    np.testing.assert_array_equal(store.rerank(flat, cand, k=4, query_offsets=offs).ids, rr.ids)
    # No candidates at all.
    empty = store.rerank(queries[:2], np.zeros((2, 0), np.int64), k=2)
    np.testing.assert_array_equal(empty.ids, [[-1, -1], [-1, -1]])


def test_threads_do_not_change_results(corpus):
    docs, queries = corpus
    store = MultiVectorStore.build(docs, precision="fp32", num_threads=2)
    q = queries[0]
    np.testing.assert_array_equal(store.maxsim(q, num_threads=1), store.maxsim(q, num_threads=2))
    np.testing.assert_array_equal(store.maxsim_batch(queries, num_threads=1), store.maxsim_batch(queries, num_threads=2))
    a = store.search(queries, k=7, num_threads=1)
    b = store.search(queries, k=7, num_threads=2)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.ids, b.ids)
    cand = np.random.default_rng(3).integers(-1, len(docs), size=(len(queries), 40))
    a = store.rerank(queries, cand, k=5, num_threads=1)
    b = store.rerank(queries, cand, k=5, num_threads=2)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.ids, b.ids)
    s1 = MultiVectorStore.build(docs, precision="int8", num_threads=1)
    s2 = MultiVectorStore.build(docs, precision="int8", num_threads=2)
    assert s1.to_bytes() == s2.to_bytes()


def test_concurrent_calls_from_python_threads(corpus):
    from concurrent.futures import ThreadPoolExecutor

    docs, queries = corpus
    store = MultiVectorStore.build(docs, precision="bf16")
    expected = [store.maxsim(q, num_threads=1) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: store.maxsim(q, num_threads=2), queries * 3))
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g, expected[i % len(queries)])


def test_ties_and_padding():
    d = np.ones((2, 4), np.float32)
    store = MultiVectorStore.build([d, d, d], precision="fp32")
    res = store.search([np.ones((1, 4), np.float32)], k=5)
    np.testing.assert_array_equal(res.ids[0], [0, 1, 2, -1, -1])
    assert np.all(np.isneginf(res.scores[0, 3:]))
    rr = store.rerank(np.ones((1, 4), np.float32), [2, 1], k=3)
    np.testing.assert_array_equal(rr.ids, [[1, 2, -1]])


def test_input_forms_and_accessors(corpus):
    docs, queries = corpus
    flat, offsets = _ragged(docs)
    a = MultiVectorStore.build(docs)
    b = MultiVectorStore.build(flat.astype(np.float64), offsets.astype(np.int32))
    assert a.to_bytes() == b.to_bytes()
    assert len(a) == a.n_docs == len(docs) and a.dim == 24 and a.precision == "fp32"
    assert a.total_tokens == flat.shape[0]
    np.testing.assert_array_equal(a.offsets, offsets)
    np.testing.assert_array_equal(a.doc_lengths, np.diff(offsets))
    np.testing.assert_array_equal(a.doc(5), docs[5])
    assert a.size_bytes > flat.nbytes
    # A 3-d query batch and flat queries with offsets equal the list form.
    two = [queries[0][:1], queries[1][:1]]
    np.testing.assert_array_equal(a.maxsim_batch(np.stack(two)), a.maxsim_batch(two))
    qflat, qoffs = _ragged(queries)
    np.testing.assert_array_equal(a.maxsim_batch(qflat, query_offsets=qoffs), a.maxsim_batch(queries))
    np.testing.assert_array_equal(a.search(qflat, 5, query_offsets=qoffs).ids, a.search(queries, 5).ids)
    assert repr(a) == f"MultiVectorStore(n_docs=150, dim=24, precision='fp32', size_bytes={a.size_bytes})"
    assert a.kernel in {"scalar", "avx2", "avx512", "avx512_bf16", "avx512_vnni"}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_info_layout(corpus, precision):
    docs, _ = corpus
    store = MultiVectorStore.build(docs, precision=precision)
    info = store.info()
    assert list(info) == ["kind", "n_docs", "dim", "precision", "size_bytes", "build", "search", "stats"]
    assert info["kind"] == "MultiVectorStore"
    assert (info["n_docs"], info["dim"], info["precision"]) == (150, 24, precision)
    assert info["size_bytes"] == store.size_bytes
    assert info["build"] == {} and info["search"] == {}
    stats = info["stats"]
    assert stats["total_tokens"] == store.total_tokens
    assert stats["n_panels"] == int(np.sum((store.doc_lengths + 15) // 16))
    parts = ("data_bytes", "scales_bytes", "bias_bytes", "offsets_bytes", "codes_bytes", "codebook_bytes",
             "ids_bytes", "tombstones_bytes")
    assert sum(stats[p] for p in parts) == store.size_bytes
    assert stats["bytes_per_token"] == store.size_bytes / store.total_tokens
    assert stats.pop("mapping") == {"is_mapped": False, "mapped_bytes": 0, "resident_bytes": 0}
    assert all(isinstance(v, int) for k, v in stats.items() if k != "bytes_per_token")
    assert (stats["scales_bytes"] > 0) == (precision == "int8")


def test_empty_store():
    store = MultiVectorStore.build(np.zeros((0, 8), np.float32), [0])
    assert store.n_docs == 0 and len(store) == 0
    assert store.maxsim(np.ones((2, 8), np.float32)).shape == (0,)
    res = store.search([np.ones((2, 8), np.float32)], k=3)
    np.testing.assert_array_equal(res.ids, [[-1, -1, -1]])
    assert store.info()["stats"]["n_panels"] == 0
    assert MultiVectorStore.from_bytes(store.to_bytes()).n_docs == 0
