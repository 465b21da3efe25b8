"""Residual precisions res1 / res2 / res4 (cpp/src/maxsim/residual_codec.hpp): the codec
(decode bit-exact against a numpy reference, error bounded by the bucket width), the
compressed kernels against a scalar decode-then-score float64 reference at every SIMD level,
exact search over the decompressed vectors, the shared codebook of a centroid index,
persistence and damaged files."""

from __future__ import annotations

import pickle

import aftershock
import numpy as np
import pytest
from aftershock import MultiVectorIndex, MultiVectorStore, _core
from aftfile import edit_section
from hypothesis import given
from hypothesis import strategies as st
from levels import per_level_settings
from maxsim.reference import DIMS, EPS, abs_products, make_query, ref_maxsim

RESIDUAL = ["res1", "res2", "res4"]
BITS = {"res1": 1, "res2": 2, "res4": 4}


def ragged(rng, n_docs, dim, lo=1, hi=40):
    lengths = rng.integers(lo, hi, size=n_docs)
    docs = [rng.standard_normal((int(n), dim)).astype(np.float32) for n in lengths]
    return docs


def reference_decode(vectors, parts, bits):
    """x' = fl32(c[code] + w[bucket]) with bucket = #{cutoffs <= x - c}, as the codec defines it."""
    c = parts["centroids"][parts["codes"]]
    r = vectors - c  # float32, the same rounding as the codec
    cut = parts["cutoffs"]
    buckets = np.stack([np.searchsorted(cut[k], r[:, k], side="right") for k in range(vectors.shape[1])], axis=1)
    w = np.take_along_axis(parts["weights"], buckets.T, axis=1).T
    return (c + w.astype(np.float32)).astype(np.float32), r, buckets


@pytest.mark.parametrize("precision", RESIDUAL)
@given(seed=st.integers(0, 2**32 - 1), dim=st.sampled_from([1, 3, 8, 17, 32, 33]),
       n_docs=st.integers(1, 30), scale=st.sampled_from([1e-3, 1.0, 50.0]))
@per_level_settings(max_examples=25, deadline=None)
def test_codec_decode_exact_and_error_bound(precision, seed, dim, n_docs, scale):
    """Decoded values equal the reference decode bit for bit, and (the sample being every
    token here: fewer than 65536) |x - x'| <= the width of x's bucket + 2^-23 (|r| + |x'|),
    the outer buckets ending at the smallest / largest training residual."""
    rng = np.random.default_rng(seed)
    docs = [d * np.float32(scale) for d in ragged(rng, n_docs, dim)]
    store = MultiVectorStore.build(docs, precision=precision)
    parts = store._core._residual_parts()
    flat = np.concatenate(docs)
    assert parts["codes"].shape == (len(flat),) and int(parts["codes"].max()) < store._core.n_centroids
    decoded = np.concatenate([store.doc(i) for i in range(n_docs)])
    ref, r, buckets = reference_decode(flat, parts, BITS[precision])
    np.testing.assert_array_equal(decoded, ref)
    cut = parts["cutoffs"].astype(np.float64)
    lo = np.concatenate([r.min(axis=0)[:, None].astype(np.float64), cut], axis=1)
    hi = np.concatenate([cut, r.max(axis=0)[:, None].astype(np.float64)], axis=1)
    width = np.take_along_axis(hi - lo, buckets.T, axis=1).T
    err = np.abs(flat.astype(np.float64) - decoded)
    assert np.all(err <= width + EPS * (np.abs(r) + np.abs(decoded)) + 1e-30)
    # Cutoffs non-decreasing per dimension; weights inside their bucket.
    assert np.all(np.diff(cut, axis=1) >= 0)


def score_bound(q, docs):
    m, dim = q.shape
    return (dim + m + 2) * EPS * abs_products(q, docs).sum(axis=1) + 1e-30


@pytest.mark.parametrize("precision", RESIDUAL)
@given(seed=st.integers(0, 2**32 - 1), dim=st.sampled_from(DIMS), n_docs=st.integers(1, 12),
       m=st.integers(1, 20))
@per_level_settings(max_examples=15, deadline=None)
def test_kernels_match_decoded_reference(simd_level, precision, seed, dim, n_docs, m):
    """Every score is the float32 MaxSim over the decompressed tokens: within the fp32
    reordering bound of a float64 MaxSim over decode_doc's values, at every level."""
    rng = np.random.default_rng(seed)
    docs = ragged(rng, n_docs, dim, 1, 60)
    store = MultiVectorStore.build(docs, precision=precision)
    decoded = [store.doc(i) for i in range(n_docs)]
    q = make_query(rng, m, dim)
    got = store.maxsim(q)
    ref = ref_maxsim(q, decoded)
    assert np.all(np.abs(got - ref) <= score_bound(q, decoded))


@pytest.mark.parametrize("precision", RESIDUAL)
def test_levels_agree_with_scalar(precision):
    rng = np.random.default_rng(7)
    docs = ragged(rng, 40, 128, 1, 90)
    store = MultiVectorStore.build(docs, precision=precision)
    queries = [make_query(rng, int(m), 128) for m in (1, 5, 32)]
    from levels import at_simd_level
    with at_simd_level("scalar"):
        base = store.maxsim_batch(queries)
    for level in aftershock.simd_info()["supported"]:
        with at_simd_level(level):
            got = store.maxsim_batch(queries)
        decoded = [store.doc(i) for i in range(40)]
        for qi, q in enumerate(queries):
            assert np.all(np.abs(got[qi] - base[qi]) <= 2 * score_bound(q, decoded)), level


@pytest.mark.parametrize("precision", RESIDUAL)
def test_search_exact_over_decompressed(precision):
    rng = np.random.default_rng(3)
    docs = ragged(rng, 120, 16, 1, 30)
    queries = [make_query(rng, int(m), 16) for m in (3, 8, 1)]
    store = MultiVectorStore.build(docs, precision=precision)
    decoded = [store.doc(i) for i in range(len(docs))]
    res = store.search(queries, 10)
    for qi, q in enumerate(queries):
        ref = ref_maxsim(q, decoded)
        order = np.lexsort((np.arange(len(ref)), -ref))[:10]
        # Equal up to fp32 near-ties: the returned scores are the reference's best ten.
        np.testing.assert_allclose(res.scores[qi], ref[order], rtol=1e-5, atol=1e-5)
    for method in ("centroid", "muvera"):
        index = MultiVectorIndex.build(docs, method=method, precision=precision)
        out = index.search(queries, 10, n_candidates=len(docs))
        exact = index.search_exact(queries, 10)
        np.testing.assert_array_equal(out.ids, exact.ids)
        np.testing.assert_array_equal(out.scores, exact.scores)
        idx_decoded = [index.doc(i) for i in range(len(docs))] if hasattr(index, "doc") else None
        if idx_decoded is not None:
            for qi, q in enumerate(queries):
                ref = ref_maxsim(q, idx_decoded)
                np.testing.assert_allclose(out.scores[qi], np.sort(ref)[::-1][:10], rtol=1e-5, atol=1e-5)


def test_centroid_index_shares_its_codebook():
    rng = np.random.default_rng(5)
    docs = ragged(rng, 200, 24, 1, 40)
    flat = np.concatenate(docs)
    index = MultiVectorIndex.build(docs, method="centroid", precision="res2")
    core = index._state.segments[0].core
    parts = core._store_residual_parts()
    np.testing.assert_array_equal(parts["centroids"], core.centroids)
    # The store's code of every token is its nearest centroid, as the index assigns it.
    c = core.centroids.astype(np.float64)
    d2 = (flat.astype(np.float64) ** 2).sum(1)[:, None] - 2 * flat @ c.T + (c**2).sum(1)[None, :]
    near = np.argmin(d2, axis=1)
    assert np.mean(parts["codes"] == near) > 0.99  # float32 assignment vs float64 near-ties
    # A store given the same centroids codes every token identically.
    store = MultiVectorStore.build(docs, precision="res2", centroids=core.centroids)
    np.testing.assert_array_equal(store._core._residual_parts()["codes"], parts["codes"])
    # An index built with given centroids (a new segment of a living index) too.
    other = MultiVectorIndex.build(docs[:50], method="centroid", precision="res2", centroids=core.centroids)
    n50 = sum(len(d) for d in docs[:50])
    np.testing.assert_array_equal(other._state.segments[0].core._store_residual_parts()["codes"],
                                  parts["codes"][:n50])
    info = index.info()["stats"]
    assert info["store_bytes_per_token"] == info["store_size_bytes"] / info["total_tokens"]


def test_bytes_per_token_at_dim_128():
    rng = np.random.default_rng(0)
    docs = [rng.standard_normal((160, 128)).astype(np.float32) for _ in range(250)]  # 40,000 tokens
    sizes = {}
    for p in ("fp16", "int8", "res1", "res2", "res4"):
        store = MultiVectorStore.build(docs, precision=p)
        stats = store.info()["stats"]
        sizes[p] = stats["bytes_per_token"]
        if p.startswith("res"):
            # Exactly a 2-byte code + dim * bits / 8 bytes per token (160 tokens: no panel
            # padding), plus the codebook (256 centroids here, amortized) and offsets.
            per_token = (stats["data_bytes"] + stats["codes_bytes"]) / stats["total_tokens"]
            assert per_token == 2 + 128 * BITS[p] / 8
            assert sizes[p] < per_token + 8  # codebook: 256 centroids (two layouts) over 40,000 tokens
    assert sizes["fp16"] >= 256


@pytest.mark.parametrize("precision", RESIDUAL)
def test_save_load_round_trip(tmp_path, precision):
    rng = np.random.default_rng(11)
    docs = ragged(rng, 60, 20, 1, 35)
    queries = [make_query(rng, int(m), 20) for m in (2, 9)]
    store = MultiVectorStore.build(docs, precision=precision)
    path = tmp_path / "s.aft"
    store.save(path)
    loaded = MultiVectorStore.load(path)
    assert loaded.precision == precision
    np.testing.assert_array_equal(loaded.maxsim_batch(queries), store.maxsim_batch(queries))
    for i in (0, 31, 59):
        np.testing.assert_array_equal(loaded.doc(i), store.doc(i))
    assert pickle.loads(pickle.dumps(store)).size_bytes == store.size_bytes
    index = MultiVectorIndex.build(docs, method="centroid", precision=precision)
    again = MultiVectorIndex.from_bytes(index.to_bytes()) if hasattr(MultiVectorIndex, "from_bytes") else \
        pickle.loads(pickle.dumps(index))
    np.testing.assert_array_equal(again.search(queries, 5).ids, index.search(queries, 5).ids)


def test_damaged_residual_sections_raise_format_error():
    rng = np.random.default_rng(2)
    docs = ragged(rng, 30, 12, 1, 30)
    store = MultiVectorStore.build(docs, precision="res2")
    data = store.to_bytes()
    n_centroids = store._core.n_centroids

    def bad_code(a):
        a[3] = n_centroids

    def bad_cutoffs(a):
        a[0], a[1] = 1.0, -1.0  # decreasing in dimension 0

    def nan0(a):
        a[0] = np.nan

    edits = [("MVCD", np.uint16, bad_code), ("MVCU", np.float32, bad_cutoffs), ("MVCU", np.float32, nan0),
             ("MVCT", np.float32, nan0), ("MVWT", np.float32, nan0)]
    for tag, dtype, edit in edits:
        with pytest.raises(aftershock.FormatError):
            MultiVectorStore.from_bytes(edit_section(data, tag, dtype, edit))
    # A flipped byte in any new section fails its checksum.
    from aftfile import sections
    for tag in ("MVCT", "MVCD", "MVCU", "MVWT"):
        _, offset, length = sections(data)[tag]
        bad = bytearray(data)
        bad[offset + length // 2] ^= 0x10
        with pytest.raises(aftershock.FormatError):
            MultiVectorStore.from_bytes(bytes(bad))


def test_bad_precision_names():
    docs = [np.ones((3, 4), np.float32)]
    for bad in ("res3", "res8", "RES2", "int4"):
        with pytest.raises(ValueError, match="precision"):
            MultiVectorStore.build(docs, precision=bad)
        with pytest.raises(ValueError, match="precision"):
            MultiVectorIndex.build(docs, precision=bad)
        with pytest.raises(ValueError, match="precision"):
            _core.MultiVectorStore(docs[0], np.array([0, 3], np.int64), bad)
    with pytest.raises(ValueError, match="centroids"):
        MultiVectorStore.build(docs, precision="fp16", centroids=np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="centroids"):
        MultiVectorStore.build(docs, precision="res2", centroids=np.full((2, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="vectors"):
        MultiVectorStore.build([np.full((2, 4), 2.0**51, np.float32)], precision="res1")


@pytest.mark.parametrize("precision", ["res1", "res2", "res4", "int8", "bf16"])
def test_sparse_index_rejects_other_precisions(precision):
    import scipy.sparse as sp

    docs = sp.random(20, 50, density=0.2, format="csr", dtype=np.float32, random_state=0)
    with pytest.raises(ValueError, match="precision"):
        aftershock.SparseIndex.build(docs, precision=precision)
    # The strict core too (cpp/src/sparse/params.cpp).
    with pytest.raises(ValueError, match="precision"):
        _core.SparseIndex.build(docs.indptr.astype(np.int64), docs.indices.astype(np.uint32), docs.data, dim=50,
                                pruning="global", n_postings=100, max_fraction=1.5, centroid_fraction=0.1,
                                min_cluster_size=2, summary_energy=0.4, precision=precision, knn=0,
                                num_threads=1, seed=0)


def test_n_centroids_of_a_trained_codebook():
    rng = np.random.default_rng(11)
    docs = ragged(rng, 60, 8, 1, 30)
    store = MultiVectorStore.build(docs, precision="res2", n_centroids=5)
    assert store._core.n_centroids == 5
    assert MultiVectorStore.build(docs, precision="res2")._core.n_centroids == 32  # 2^floor(log2(2 sqrt(n)))
    with pytest.raises(ValueError, match="n_centroids"):
        MultiVectorStore.build(docs, precision="fp16", n_centroids=5)
    with pytest.raises(ValueError, match="n_centroids"):
        MultiVectorStore.build(docs, precision="res2", n_centroids=5, centroids=np.zeros((5, 8), np.float32))
    with pytest.raises(ValueError, match="n_centroids"):
        MultiVectorStore.build(docs, precision="res2", n_centroids=0)
    with pytest.raises(ValueError, match="n_centroids"):
        MultiVectorStore.build(docs, precision="res2", n_centroids=10**9)


def test_lloyd_max_buckets_lower_the_error_of_quantile_buckets():
    """The trained cutoffs are Lloyd-Max refinements of the quantiles: on heavy-tailed
    residuals (Student t) their mean squared error is below that of quantile cutoffs with
    bucket means, and every weight lies inside its bucket."""
    rng = np.random.default_rng(12)
    x = rng.standard_t(3, size=(4000, 4)).astype(np.float32)
    store = MultiVectorStore.build(x, np.array([0, 4000]), precision="res2", n_centroids=1)
    parts = store._core._residual_parts()
    r = x - parts["centroids"][0]
    dec = store.doc(0)
    err_lloyd = float(((dec - x) ** 2).mean())
    err_quantile = 0.0
    for k in range(4):
        s = np.sort(r[:, k])
        cut = np.array([s[j * len(s) // 4] for j in (1, 2, 3)])
        b = np.searchsorted(cut, r[:, k], side="right")
        w = np.array([r[b == j, k].mean() for j in range(4)])
        err_quantile += float(((w[b] - r[:, k]) ** 2).mean()) / 4
    assert err_lloyd < err_quantile
    cut, w = parts["cutoffs"], parts["weights"]
    assert np.all(w[:, 1:-1] >= cut[:, :-1]) and np.all(w[:, 1:-1] <= cut[:, 1:])
