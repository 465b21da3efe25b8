"""The sparse kernels (cpp/src/sparse/kernels_*.cpp) at every SIMD level: the dot product
against float64 within the reordering bound (misaligned, u16/u32 ids, f32/f16 values), the
summary accumulation within two roundings, and a whole search against the scalar oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from aftershock import SparseIndex, _core, exact_search
from aftershock.datasets import recall_at_k
from levels import at_simd_level, per_level_settings

from .reference import EPS32, LOSSLESS_BUILD, LOSSLESS_SEARCH


@given(
    st.sampled_from([0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129]),
    st.integers(0, 3),
    st.integers(0, 2**32 - 1),
)
@per_level_settings(max_examples=60)
def test_dot_kernels_agree_with_scalar(simd_level, n, offset, seed):
    rng = np.random.default_rng(seed)
    dim = 70000
    query = rng.lognormal(0, 1, size=dim).astype(np.float32)
    terms32 = np.sort(rng.choice(dim, size=n, replace=False)).astype(np.uint32)
    values = rng.lognormal(0, 1, size=n).astype(np.float32)
    # Misaligned views: slice a larger buffer at an offset.
    t32 = np.concatenate([np.zeros(offset, np.uint32), terms32])[offset:]
    t16 = np.concatenate([np.zeros(offset, np.uint16), (terms32 % 65536).astype(np.uint16)])[offset:]
    v32 = np.concatenate([np.zeros(offset, np.float32), values])[offset:]
    v16 = np.concatenate([np.zeros(offset, np.float16), values.astype(np.float16)])[offset:].view(np.uint16)
    for terms in (t16, t32):
        for vals, as_f32 in ((v32, v32), (v16, v16.view(np.float16).astype(np.float32))):
            exact = float(np.dot(query[terms.astype(np.int64)].astype(np.float64), as_f32.astype(np.float64)))
            bound = max(n, 1) * EPS32 * float(np.abs(query[terms.astype(np.int64)]).astype(np.float64) @ np.abs(as_f32))
            got = _core._sparse_dot(simd_level, terms, vals, query)
            assert abs(got - exact) <= bound + 1e-30, (simd_level, n, got, exact)


@given(st.integers(0, 256), st.floats(0.0, 100.0), st.integers(0, 2**32 - 1))
@per_level_settings(max_examples=60)
def test_accumulate_kernels_agree_with_float64(simd_level, n, weight, seed):
    """Summary accumulation (gather/scatter at AVX-512) equals acc + w * code up to one
    rounding of the product and one of the sum, at every level."""
    rng = np.random.default_rng(seed)
    blocks = rng.permutation(256)[:n].astype(np.uint8)
    codes = rng.integers(1, 256, size=n).astype(np.uint8)
    acc = rng.uniform(0, 1000, size=256).astype(np.float32)
    want = acc.astype(np.float64)
    want[blocks] += np.float64(np.float32(weight)) * codes
    got = _core._sparse_accumulate(simd_level, blocks, codes, weight, acc)
    np.testing.assert_allclose(got, want, rtol=3 * EPS32, atol=0, err_msg=simd_level)


def test_search_at_every_level_matches_scalar(simd_level, synthetic):
    docs, queries, _ = synthetic
    docs = docs[:4000]
    ix = SparseIndex.build(docs, **LOSSLESS_BUILD)
    got = ix.search(queries, 10, **LOSSLESS_SEARCH)
    with at_simd_level("scalar"):
        want = exact_search(docs, queries, 10)
    bound = (abs(queries.astype(np.float64)) @ abs(docs.astype(np.float64)).T).toarray().max(axis=1) * 200 * EPS32
    np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=float(bound.max()))
    assert recall_at_k(got.ids, want.ids, 10) >= 0.99


@given(st.integers(0, 300), st.floats(0.0, 3.0), st.integers(0, 2**32 - 1))
@per_level_settings(max_examples=60)
def test_dot_early_stop_returns_the_score_or_a_bound_below_the_threshold(simd_level, n, fraction, seed):
    """On a row stored heaviest first, a threshold either leaves the score's bits unchanged or
    stops with an upper bound of it below the threshold; it stops only rows whose exact
    (float64) score is below the threshold."""
    rng = np.random.default_rng(seed)
    dim = 3000
    query = np.where(rng.random(dim) < 0.3, rng.lognormal(0, 1, size=dim), 0.0).astype(np.float32)
    mass = float(query[query > 0].astype(np.float64).sum())
    terms = rng.choice(dim, size=n, replace=False).astype(np.uint16)
    values = np.sort(rng.lognormal(0, 1, size=n).astype(np.float32))[::-1].copy()
    full = _core._sparse_dot(simd_level, terms, values, query)
    exact = float(query[terms.astype(np.int64)].astype(np.float64) @ values.astype(np.float64))
    threshold = np.float32(fraction * max(exact, 1e-3))
    got = _core._sparse_dot(simd_level, terms, values, query, mass, threshold)
    if got != full:
        assert got < threshold and exact < threshold, (simd_level, n, got, full, exact, threshold)
        assert got >= exact * (1 - 1e-5)
