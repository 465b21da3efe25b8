"""What a living index (immutable segments + tombstones) needs from the private multi-vector
core, tested on the ``_core`` objects directly: the ``allowed`` bitset of
``MultiVectorIndex.search`` / ``search_exact`` and ``MultiVectorStore.search``, builds with
given ``centroids``, the ``centroids`` property and the ``tokens()`` export."""

from __future__ import annotations

import aftershock
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

METHODS = ["muvera", "centroid"]


def _bits(mask: np.ndarray) -> np.ndarray:
    """bool [n_docs] -> uint64 [ceil(n_docs / 64)]: bit d & 63 of word d >> 6."""
    words = np.zeros((mask.size + 63) // 64, dtype=np.uint64)
    for d in np.flatnonzero(mask):
        words[d >> 6] |= np.uint64(1) << np.uint64(d & 63)
    return words


def _maxsim(vectors, offsets, query):
    sims = query.astype(np.float64) @ vectors.astype(np.float64).T
    return np.maximum.reduceat(sims, offsets[:-1], axis=1).sum(axis=0)


@st.composite
def segments(draw):
    """Small ragged documents, a few queries and an allowed mask of 1 to all documents."""
    n_docs = draw(st.integers(1, 40))
    dim = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 7, n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), dim)).astype(np.float32)
    q_lengths = rng.integers(1, 5, draw(st.integers(1, 3)))
    q_offsets = np.concatenate([[0], np.cumsum(q_lengths)]).astype(np.int64)
    queries = rng.standard_normal((int(q_offsets[-1]), dim)).astype(np.float32)
    n_allowed = draw(st.integers(1, n_docs))
    mask = np.zeros(n_docs, dtype=bool)
    mask[rng.choice(n_docs, n_allowed, replace=False)] = True
    k = draw(st.integers(1, 8))
    return vectors, offsets, queries, q_offsets, mask, k


def _core_index(vectors, offsets, method, **kw):
    return aftershock.MultiVectorIndex.build(vectors, offsets, method=method, seed=3, **kw)._core


def _check_exact(scores, ids, vectors, offsets, queries, q_offsets, mask, k):
    """Top-k of the float64 brute force over the allowed documents, up to ties and float32 rounding."""
    for q in range(len(q_offsets) - 1):
        ref = _maxsim(vectors, offsets, queries[q_offsets[q] : q_offsets[q + 1]])
        allowed_scores = np.sort(ref[mask])[::-1]
        n = min(k, int(mask.sum()))
        assert (ids[q, :n] >= 0).all() and (ids[q, n:] == -1).all()
        assert mask[ids[q, :n]].all()
        tol = 1e-4 * (1.0 + np.abs(allowed_scores[:n]))
        np.testing.assert_array_less(np.abs(ref[ids[q, :n]] - allowed_scores[:n]), tol)
        np.testing.assert_array_less(np.abs(scores[q, :n] - ref[ids[q, :n]]), tol)


@pytest.mark.parametrize("method", METHODS)
@given(case=segments())
def test_index_filtered_search_with_full_budget_is_exact_over_allowed(method, case):
    vectors, offsets, queries, q_offsets, mask, k = case
    ix = _core_index(vectors, offsets, method)
    allowed = _bits(mask)
    n_allowed = int(mask.sum())
    for n_candidates in (n_allowed, ix.n_docs):  # the budget reaches every allowed document
        scores, ids = ix.search(queries, q_offsets, k, n_candidates=n_candidates, allowed=allowed)
        _check_exact(scores, ids, vectors, offsets, queries, q_offsets, mask, k)
    scores, ids = ix.search_exact(queries, q_offsets, k, allowed=allowed)
    _check_exact(scores, ids, vectors, offsets, queries, q_offsets, mask, k)


@pytest.mark.parametrize("method", METHODS)
@given(case=segments())
def test_index_filtered_search_returns_only_allowed_and_fills_k(method, case):
    vectors, offsets, queries, q_offsets, mask, k = case
    ix = _core_index(vectors, offsets, method)
    allowed = _bits(mask)
    want = min(k, int(mask.sum()))
    # The default (approximate) setting: only allowed documents.
    _, ids = ix.search(queries, q_offsets, k, allowed=allowed)
    assert mask[ids[ids >= 0]].all()
    # A budget of k (< the allowed count in general): still k allowed results when they exist.
    for params in ({"n_candidates": k}, {"n_candidates": k, "n_probe": 1}):
        _, ids = ix.search(queries, q_offsets, k, allowed=allowed, **params)
        assert (ids[:, :want] >= 0).all() and (ids[:, want:] == -1).all()
        assert mask[ids[:, :want]].all()


@given(case=segments(), precision=st.sampled_from(["fp32", "fp16"]))
def test_store_filtered_search_is_exact_over_allowed(case, precision):
    vectors, offsets, queries, q_offsets, mask, k = case
    store = aftershock.MultiVectorStore.build(vectors, offsets, precision=precision)._core
    scores, ids = store.search(queries, q_offsets, k, allowed=_bits(mask))
    if precision == "fp32":
        _check_exact(scores, ids, vectors, offsets, queries, q_offsets, mask, k)
    else:
        tokens, _ = store.tokens()  # the fp16 values the store scores
        _check_exact(scores, ids, tokens, offsets, queries, q_offsets, mask, k)


def test_all_allowed_equals_unfiltered_and_none_allowed_is_padding():
    rng = np.random.default_rng(5)
    offsets = np.arange(0, 4 * 130 + 1, 4, dtype=np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), 12)).astype(np.float32)
    queries = rng.standard_normal((9, 12)).astype(np.float32)
    q_offsets = np.array([0, 3, 9], dtype=np.int64)
    for method in METHODS:
        ix = _core_index(vectors, offsets, method)
        every = np.full(3, np.iinfo(np.uint64).max, dtype=np.uint64)  # bits past n_docs are ignored
        for a, b in zip(
            ix.search(queries, q_offsets, 5, n_candidates=20),
            ix.search(queries, q_offsets, 5, n_candidates=20, allowed=every),
        ):
            np.testing.assert_array_equal(a, b)
        scores, ids = ix.search(queries, q_offsets, 5, allowed=np.zeros(3, dtype=np.uint64))
        assert (ids == -1).all() and np.isneginf(scores).all()


@pytest.mark.parametrize(
    ("allowed", "error"),
    [
        (np.zeros(2, dtype=np.int64), TypeError),
        (np.zeros(2, dtype=bool), TypeError),
        (np.zeros(2, dtype=np.float64), TypeError),
        (np.zeros(2, dtype=np.uint32), TypeError),
        ([0, 0], TypeError),
        (np.zeros(1, dtype=np.uint64), ValueError),
        (np.zeros(3, dtype=np.uint64), ValueError),
        (np.zeros((1, 2), dtype=np.uint64), ValueError),
        (np.zeros(4, dtype=np.uint64)[::2], ValueError),
    ],
)
def test_bad_allowed_is_named(allowed, error):
    rng = np.random.default_rng(6)
    offsets = np.arange(0, 2 * 100 + 1, 2, dtype=np.int64)  # 100 documents: 2 words
    vectors = rng.standard_normal((int(offsets[-1]), 4)).astype(np.float32)
    queries, q_offsets = vectors[:3].copy(), np.array([0, 3], dtype=np.int64)
    store = aftershock.MultiVectorStore.build(vectors, offsets)._core
    calls = [lambda a: store.search(queries, q_offsets, 3, allowed=a)]
    for method in METHODS:
        ix = _core_index(vectors, offsets, method)
        calls += [
            lambda a, ix=ix: ix.search(queries, q_offsets, 3, allowed=a),
            lambda a, ix=ix: ix.search_exact(queries, q_offsets, 3, allowed=a),
        ]
    for call in calls:
        with pytest.raises(error, match="allowed"):
            call(allowed)


def test_given_centroids_reproduce_the_index_and_share_codes():
    rng = np.random.default_rng(7)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(2, 9, 200))]).astype(np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), 16)).astype(np.float32)
    queries = rng.standard_normal((12, 16)).astype(np.float32)
    q_offsets = np.array([0, 4, 12], dtype=np.int64)
    a = _core_index(vectors, offsets, "centroid", n_centroids=32)
    c = a.centroids
    assert c.dtype == np.float32 and c.shape == (32, 16) and c.flags.c_contiguous
    c[0, 0] += 1.0  # a copy: the index is unchanged
    assert a.centroids[0, 0] != c[0, 0]
    c = a.centroids
    for kw in ({}, {"n_centroids": 32}):
        b = aftershock._core.MultiVectorIndex.build(
            vectors, offsets, method="centroid", seed=99, centroids=c, **kw
        )
        np.testing.assert_array_equal(b.centroids, c)
        for n_probe in (1, 4):
            for x, y in zip(
                a.search(queries, q_offsets, 10, n_candidates=20, n_probe=n_probe),
                b.search(queries, q_offsets, 10, n_candidates=20, n_probe=n_probe),
            ):
                np.testing.assert_array_equal(x, y)
    # A segment of 2 documents (fewer tokens than centroids) with the shared centroids.
    seg = aftershock._core.MultiVectorIndex.build(
        vectors[:5], np.array([0, 2, 5], dtype=np.int64), method="centroid", centroids=c
    )
    assert seg.info()["stats"]["n_centroids"] == 32
    assert _core_index(vectors, offsets, "muvera").centroids is None


def test_bad_centroids_are_named():
    rng = np.random.default_rng(8)
    offsets = np.arange(0, 3 * 50 + 1, 3, dtype=np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), 8)).astype(np.float32)
    build = aftershock._core.MultiVectorIndex.build
    good = rng.standard_normal((16, 8)).astype(np.float32)
    nan = good.copy()
    nan[3, 2] = np.nan
    inf = good.copy()
    inf[0, 0] = np.inf
    cases = [
        ({"centroids": good.astype(np.float64)}, TypeError),
        ({"centroids": good.tolist()}, TypeError),
        ({"centroids": good[:, :7].copy()}, ValueError),
        ({"centroids": good[:, ::2]}, ValueError),
        ({"centroids": good.ravel()}, ValueError),
        ({"centroids": good[:0].copy()}, ValueError),
        ({"centroids": np.zeros((65537, 8), dtype=np.float32)}, ValueError),
        ({"centroids": nan}, ValueError),
        ({"centroids": inf}, ValueError),
        ({"centroids": good, "method": "muvera"}, ValueError),
    ]
    for kw, error in cases:
        kw.setdefault("method", "centroid")
        with pytest.raises(error, match="centroids"):
            build(vectors, offsets, **kw)
    with pytest.raises(ValueError, match="n_centroids"):
        build(vectors, offsets, method="centroid", centroids=good, n_centroids=8)
    assert build(vectors, offsets, method="centroid", centroids=good).centroids.shape == (16, 8)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "int8"])
def test_tokens_round_trip(precision):
    rng = np.random.default_rng(9)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(1, 40, 60))]).astype(np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), 10)).astype(np.float32)
    store = aftershock.MultiVectorStore.build(vectors, offsets, precision=precision)._core
    tokens, offs = store.tokens()
    assert tokens.dtype == np.float32 and tokens.shape == vectors.shape and offs.dtype == np.int64
    np.testing.assert_array_equal(offs, offsets)
    if precision == "fp32":
        np.testing.assert_array_equal(tokens, vectors)
    elif precision == "fp16":
        np.testing.assert_array_equal(tokens, vectors.astype(np.float16).astype(np.float32))
    for d in (0, 17, 59):
        np.testing.assert_array_equal(tokens[offs[d] : offs[d + 1]], store.decode_doc(d))
    ix = aftershock.MultiVectorIndex.build(vectors, offsets, method="centroid", precision=precision)._core
    t2, o2 = ix.tokens(num_threads=2)
    np.testing.assert_array_equal(t2, tokens)
    np.testing.assert_array_equal(o2, offsets)
    # Pooled index: the stored (pooled) tokens.
    pooled = aftershock.MultiVectorIndex.build(vectors, offsets, method="muvera", pool_factor=2.0)._core
    t3, o3 = pooled.tokens()
    assert o3[-1] == t3.shape[0] == pooled.info()["stats"]["total_tokens"] < vectors.shape[0]
    np.testing.assert_array_equal(t3[o3[5] : o3[6]], pooled.decode_doc(5))
