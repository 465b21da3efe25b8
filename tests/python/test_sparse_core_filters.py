"""`_core.SparseIndex` for segments of a living index: `search(..., allowed=, floors=)`,
`search_subset` and `documents()`, called directly (the strict layer), against a numpy brute
force. Weights are small integers, so every float32 sum is exact and, in the lossless
setting (fp32, nothing pruned, heap_factor 0, every query term walked), results must match
the brute force bit for bit: the exact top k among allowed documents scoring >= the floor."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import aftershock

LOSSLESS_BUILD = {"pruning": "fixed", "n_postings": 10**9, "precision": "fp32"}
INF = np.float32(np.inf)


def integer_csr(rng, n_rows, dim, max_nnz):
    """CSR float32 rows of distinct ascending terms with integer weights 0..5, stored zeros
    included (a shared term of weight 0 does not make a candidate); some rows empty."""
    indptr, indices, values = [0], [], []
    for _ in range(n_rows):
        nnz = int(rng.integers(0, min(dim, max_nnz) + 1))
        indices.append(np.sort(rng.choice(dim, size=nnz, replace=False)))
        values.append(rng.integers(0, 6, size=nnz).astype(np.float32))
        indptr.append(indptr[-1] + nnz)
    return sp.csr_matrix(
        (
            np.concatenate(values + [np.zeros(0, np.float32)]),
            np.concatenate(indices + [np.zeros(0, np.int64)]),
            indptr,
        ),
        shape=(n_rows, dim),
    )


def core_args(q):
    return q.indptr.astype(np.int64), q.indices.astype(np.uint32), q.data.astype(np.float32), q.shape[1]


def bitset(mask, garbage_tail=True):
    """allowed as ceil(n/64) uint64 words; bits beyond n set, to check they are ignored."""
    n = mask.size
    words = (n + 63) // 64
    bits = np.zeros(words * 64, dtype=bool)
    bits[:n] = mask
    if garbage_tail:
        bits[n:] = True
    return np.packbits(bits, bitorder="little").view("<u8").astype(np.uint64)


def brute(docs, queries, k, allowed=None, floors=None):
    """float64 top k: candidates share a term (both weights > 0), are allowed and score >= floor."""
    d = docs.toarray().astype(np.float64)
    q = queries.toarray().astype(np.float64)
    scores = q @ d.T
    shares = ((q > 0).astype(np.int64) @ (d > 0).T.astype(np.int64)) > 0
    out_s = np.full((q.shape[0], k), -np.inf, np.float32)
    out_i = np.full((q.shape[0], k), -1, np.int64)
    for i in range(q.shape[0]):
        ok = shares[i].copy()
        if allowed is not None:
            ok &= allowed
        if floors is not None:
            ok &= scores[i].astype(np.float32) >= floors[i]
        ids = np.flatnonzero(ok)
        order = np.lexsort((ids, -scores[i, ids]))[:k]
        out_s[i, : order.size] = scores[i, ids[order]]
        out_i[i, : order.size] = ids[order]
    return out_s, out_i


def allowed_mask(rng, n, kind):
    """From exactly one document to all of them."""
    if kind == "one":
        m = np.zeros(n, bool)
        m[rng.integers(n)] = True
        return m
    if kind == "all":
        return np.ones(n, bool)
    return rng.random(n) < kind


def pick_floors(rng, unfiltered_scores):
    """Per query: -inf, a score the unfiltered search returns (a tie with the floor), a
    random value, or one above everything."""
    nq = unfiltered_scores.shape[0]
    floors = np.empty(nq, np.float32)
    for i in range(nq):
        kind = rng.integers(4)
        finite = unfiltered_scores[i][np.isfinite(unfiltered_scores[i])]
        if kind == 0 or finite.size == 0:
            floors[i] = -INF
        elif kind == 1:
            floors[i] = finite[rng.integers(finite.size)]
        elif kind == 2:
            floors[i] = np.float32(rng.uniform(-1, 30))
        else:
            floors[i] = np.float32(1e6)
    return floors


corpora = st.tuples(st.integers(1, 150), st.integers(1, 40), st.integers(1, 12), st.integers(0, 2**32 - 1))
kinds = st.sampled_from(["one", 0.02, 0.2, 0.5, 0.9, "all"])


@given(corpora, kinds, st.integers(1, 12), st.booleans())
def test_lossless_filtered_search_is_the_exact_filtered_top_k(corpus, kind, k, with_floors):
    n_docs, dim, max_nnz, seed = corpus
    rng = np.random.default_rng(seed)
    docs = integer_csr(rng, n_docs, dim, max_nnz)
    queries = integer_csr(rng, 6, dim, max_nnz)
    core = aftershock.SparseIndex.build(docs, **LOSSLESS_BUILD)._core
    args = core_args(queries)
    plain = core.search(*args, k, 1000, 0.0, 0, 1)
    np.testing.assert_array_equal(plain[1], brute(docs, queries, k)[1])
    mask = allowed_mask(rng, n_docs, kind)
    floors = pick_floors(rng, plain[0]) if with_floors else None
    got = core.search(*args, k, 1000, 0.0, 0, 1, allowed=bitset(mask), floors=floors)
    want = brute(docs, queries, k, mask, floors)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    # with_stats still works, and filtered documents are never scored.
    _, i, stats = core.search(*args, k, 1000, 0.0, 0, 2, with_stats=True, allowed=bitset(mask), floors=floors)
    np.testing.assert_array_equal(i, want[1])
    assert stats.shape == (6, 5)
    assert (stats[:, 4] <= mask.sum()).all()


@given(corpora, kinds, st.integers(1, 12), st.booleans(), st.sampled_from(["fp32", "fp16"]))
def test_search_subset_is_the_exact_top_k_of_the_listed_docs(corpus, kind, k, with_floors, precision):
    n_docs, dim, max_nnz, seed = corpus
    rng = np.random.default_rng(seed)
    docs = integer_csr(rng, n_docs, dim, max_nnz)
    queries = integer_csr(rng, 5, dim, max_nnz)
    # Small integers are exact in fp16 too; the list pruning does not matter (rows are scored).
    core = aftershock.SparseIndex.build(docs, precision=precision)._core
    mask = allowed_mask(rng, n_docs, kind)
    listed = np.flatnonzero(mask).astype(np.uint32)
    floors = pick_floors(rng, brute(docs, queries, k)[0]) if with_floors else None
    got = core.search_subset(*core_args(queries), listed, k, floors=floors, num_threads=2)
    want = brute(docs, queries, k, mask, floors)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert got[0].dtype == np.float32 and got[1].dtype == np.int64 and got[0].shape == (5, k)


def test_search_subset_of_nothing_pads():
    rng = np.random.default_rng(0)
    docs = integer_csr(rng, 30, 10, 5)
    core = aftershock.SparseIndex.build(docs)._core
    s, i = core.search_subset(*core_args(docs[:3]), np.array([], np.uint32), 4)
    assert (i == -1).all() and (s == -np.inf).all()


@given(corpora, kinds, st.booleans())
def test_approximate_search_returns_allowed_docs_at_or_above_the_floor(corpus, kind, with_knn):
    n_docs, dim, max_nnz, seed = corpus
    rng = np.random.default_rng(seed)
    docs = integer_csr(rng, n_docs, dim, max_nnz)
    queries = integer_csr(rng, 6, dim, max_nnz)
    knn = 2 if with_knn and n_docs > 2 else 0
    core = aftershock.SparseIndex.build(docs, n_postings=10, knn=knn)._core  # pruned, fp16
    args = core_args(queries)
    plain = core.search(*args, 5, 10, 0.8, knn, 1)
    mask = allowed_mask(rng, n_docs, kind)
    floors = pick_floors(rng, plain[0])
    s, i = core.search(*args, 5, 10, 0.8, knn, 1, allowed=bitset(mask), floors=floors)
    for q in range(6):
        found = i[q][i[q] >= 0]
        assert mask[found].all()
        assert (s[q][i[q] >= 0] >= floors[q]).all()
        assert (s[q][i[q] < 0] == -np.inf).all()


def test_a_floor_from_an_earlier_segment_prunes_and_keeps_exact_ties():
    """The merged top k of two segments searched in turn, the second with the first's k-th
    score as its floor, equals the top k of both (lossless setting)."""
    rng = np.random.default_rng(7)
    a, b = integer_csr(rng, 200, 30, 8), integer_csr(rng, 200, 30, 8)
    queries = integer_csr(rng, 10, 30, 6)
    k = 5
    ca = aftershock.SparseIndex.build(a, **LOSSLESS_BUILD)._core
    cb = aftershock.SparseIndex.build(b, **LOSSLESS_BUILD)._core
    sa, ia = ca.search(*core_args(queries), k, 1000, 0.0, 0, 1)
    sb, ib = cb.search(*core_args(queries), k, 1000, 0.0, 0, 1, floors=sa[:, -1].copy())
    both = sp.vstack([a, b]).tocsr()
    _, want_i = brute(both, queries, k)
    for q in range(10):
        merged = sorted(
            [(-s, int(i)) for s, i in zip(sa[q], ia[q]) if i >= 0]
            + [(-s, int(i) + 200) for s, i in zip(sb[q], ib[q]) if i >= 0]
        )[:k]
        assert [i for _, i in merged] == [int(i) for i in want_i[q] if i >= 0]


@given(
    st.integers(1, 120), st.integers(1, 70000), st.integers(0, 2**32 - 1), st.sampled_from(["fp32", "fp16"])
)
def test_documents_round_trips_the_stored_rows(n_docs, dim, seed, precision):
    rng = np.random.default_rng(seed)
    docs = sp.random(
        n_docs, dim, density=min(1.0, 8.0 / dim), format="csr", random_state=rng, dtype=np.float32
    )
    docs.sort_indices()
    core = aftershock.SparseIndex.build(docs, precision=precision)._core
    indptr, indices, values = core.documents()
    assert indptr.dtype == np.int64 and indices.dtype == np.uint32 and values.dtype == np.float32
    np.testing.assert_array_equal(indptr, docs.indptr)
    np.testing.assert_array_equal(indices, docs.indices)
    want = docs.data if precision == "fp32" else docs.data.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(values, want)
    for d in range(0, n_docs, 17):
        row = core.document(d)
        assert [t for t, _ in row] == list(indices[indptr[d] : indptr[d + 1]])


# ------------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(1)
    docs = integer_csr(rng, 100, 20, 6)  # 2 words of allowed bits
    return aftershock.SparseIndex.build(docs)._core, core_args(docs[:3])


def _search(core, args, **kw):
    return core.search(*args, 5, 10, 0.8, 0, 1, **kw)


@pytest.mark.parametrize(
    "allowed, exc",
    [
        (np.zeros(2, np.int64), TypeError),
        (np.zeros(2, np.uint32), TypeError),
        (np.zeros(2, bool), TypeError),
        ([0, 0], TypeError),
        (np.zeros(1, np.uint64), ValueError),
        (np.zeros(3, np.uint64), ValueError),
        (np.zeros((2, 1), np.uint64), ValueError),
        (np.zeros(4, np.uint64)[::2], ValueError),
    ],
)
def test_bad_allowed_names_it(small, allowed, exc):
    core, args = small
    with pytest.raises(exc, match="allowed"):
        _search(core, args, allowed=allowed)


@pytest.mark.parametrize(
    "floors, exc",
    [
        (np.zeros(3, np.float64), TypeError),
        (np.zeros(2, np.float32), ValueError),
        (np.zeros(4, np.float32), ValueError),
        (np.array([0, np.nan, 0], np.float32), ValueError),
    ],
)
def test_bad_floors_name_it(small, floors, exc):
    core, args = small
    with pytest.raises(exc, match="floors"):
        _search(core, args, floors=floors)
    with pytest.raises(exc, match="floors"):
        core.search_subset(*args, np.arange(10, dtype=np.uint32), 5, floors=floors)


@pytest.mark.parametrize(
    "docs, exc",
    [
        (np.array([3, 2], np.uint32), ValueError),
        (np.array([2, 2], np.uint32), ValueError),
        (np.array([0, 100], np.uint32), ValueError),
        (np.array([0, 1], np.int64), TypeError),
        (np.zeros((1, 2), np.uint32), ValueError),
        (None, TypeError),
    ],
)
def test_bad_docs_name_it(small, docs, exc):
    core, args = small
    with pytest.raises(exc, match="docs"):
        core.search_subset(*args, docs, 5)


def test_subset_validates_queries_and_k(small):
    core, (indptr, indices, values, dim) = small
    with pytest.raises(ValueError, match="k"):
        core.search_subset(indptr, indices, values, dim, np.arange(3, dtype=np.uint32), 0)
    bad = values.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="queries"):
        core.search_subset(indptr, indices, bad, dim, np.arange(3, dtype=np.uint32), 2)
    with pytest.raises(ValueError, match="queries"):
        core.search_subset(indptr, indices, values, dim + 1, np.arange(3, dtype=np.uint32), 2)
