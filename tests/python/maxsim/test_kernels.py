"""The MaxSim kernels (cpp/src/maxsim/kernels_*.cpp) through MultiVectorStore, against a
float64 numpy reference, at every SIMD level this machine supports (the `simd_level`
fixture, which also runs avx512 with the BF16 / VNNI kernels switched off, to exercise the
plain AVX-512 fallbacks). Bounds: see reference.py and cpp/src/maxsim/README.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftershock import MultiVectorStore, _core
from levels import at_simd_level

from .reference import (
    PRECISIONS,
    SETTINGS,
    abs_products,
    bf16_round,
    fp32_tol,
    int8_bound,
    make_case,
    make_docs,
    make_query,
    ref_maxsim,
    shapes,
)


@SETTINGS
@given(shape=shapes)
def test_fp32_matches_float64_reference(simd_level, shape):
    _, docs, q = make_case(shape)
    store = MultiVectorStore.build(docs, precision="fp32")
    got = store.maxsim(q).astype(np.float64)
    ref = ref_maxsim(q, docs)
    tol = fp32_tol(q, docs)
    assert np.all(np.abs(got - ref) <= tol), (got - ref, tol)
    # The free function takes the same kernels.
    for i in range(min(2, len(docs))):
        one = _core.maxsim_f32(q, docs[i])
        assert abs(one - ref[i]) <= tol[i]


def _fp16_storage_bound(q, docs):
    """|d - fp16(d)| <= 2^-11 |d| + 2^-25, summed over the query tokens."""
    a = abs_products(q, docs)
    q1 = np.abs(q.astype(np.float64)).sum(axis=1)
    return (2.0**-11 * a + 2.0**-25 * q1[None, :]).sum(axis=1)


def _bf16_storage_bound(q, docs):
    """Each factor (query and document) carries relative error <= 2^-8."""
    return (2.0**-7 + 2.0**-16) * abs_products(q, docs).sum(axis=1)


# precision -> (how a document value is stored, how the kernel rounds the query,
#               storage error bound against the original data, relative slack on the fp32 bound)
ROUNDED_PRECISIONS = {
    "fp16": (lambda d: d.astype(np.float16).astype(np.float32), lambda q: q, _fp16_storage_bound, 2.0**-10),
    "bf16": (bf16_round, bf16_round, _bf16_storage_bound, 2.0**-7),
}


@pytest.mark.parametrize("precision", sorted(ROUNDED_PRECISIONS))
@SETTINGS
@given(shape=shapes)
def test_rounded_precision_within_bound(simd_level, precision, shape):
    """fp16 and bf16 stores: 1. the stored values are exactly the rounded inputs (round to
    nearest even) and the score is MaxSim(rounded query, stored docs) within the fp32 bound
    (+ flush-to-zero slack); 2. against the original data, within the storage bound."""
    round_doc, round_query, storage_bound, slack = ROUNDED_PRECISIONS[precision]
    _, docs, q = make_case(shape)
    store = MultiVectorStore.build(docs, precision=precision)
    got = store.maxsim(q).astype(np.float64)
    stored = [store.doc(i) for i in range(len(docs))]
    for d, s in zip(docs, stored):
        np.testing.assert_array_equal(s, round_doc(d))
    qr = round_query(q)
    assert np.all(np.abs(got - ref_maxsim(qr, stored)) <= fp32_tol(qr, stored))
    tol = storage_bound(q, docs) + fp32_tol(q, docs) * (1 + slack)
    assert np.all(np.abs(got - ref_maxsim(q, docs)) <= tol)


def _int8_scores_and_scalar_oracle(store, q):
    got = store.maxsim(q)
    with at_simd_level("scalar"):
        oracle = store.maxsim(q)
    return got, oracle


@SETTINGS
@given(shape=shapes)
def test_int8_within_bound_and_bit_identical_across_levels(simd_level, shape):
    _, docs, q = make_case(shape)
    got, oracle = _int8_scores_and_scalar_oracle(MultiVectorStore.build(docs, precision="int8"), q)
    assert np.all(np.abs(got.astype(np.float64) - ref_maxsim(q, docs)) <= int8_bound(q, docs))
    # Integer dot products are exact: every level gives the scalar oracle's bits.
    np.testing.assert_array_equal(got, oracle)


def test_int8_large_dim_chunks_exact(simd_level):
    # dim > 1024 crosses the fallback kernels' exact fp32 chunk; results stay bit-identical.
    rng = np.random.default_rng(7)
    dim = 1100
    docs = make_docs(rng, 3, dim, [1, 17, 40])
    q = make_query(rng, 9, dim)
    got, oracle = _int8_scores_and_scalar_oracle(MultiVectorStore.build(docs, precision="int8"), q)
    np.testing.assert_array_equal(got, oracle)
    assert np.all(np.abs(got.astype(np.float64) - ref_maxsim(q, docs)) <= int8_bound(q, docs))


@SETTINGS
@given(shape=shapes, precision=st.sampled_from(PRECISIONS))
def test_token_permutation_invariance(simd_level, shape, precision):
    # Every (query token, doc token) dot product is computed the same way whatever the
    # token's position, and max is exact: the score is bit-identical.
    rng, docs, q = make_case(shape)
    permuted = [d[rng.permutation(d.shape[0])] for d in docs]
    a = MultiVectorStore.build(docs, precision=precision).maxsim(q)
    b = MultiVectorStore.build(permuted, precision=precision).maxsim(q)
    np.testing.assert_array_equal(a, b)


def test_special_values(simd_level):
    dim = 33
    zeros = np.zeros((5, dim), np.float32)
    tiny = np.full((3, dim), 1e-30, np.float32)
    big = np.full((2, dim), 1e10, np.float32)
    mixed = np.vstack([zeros[:1], -big[:1], tiny[:1]])
    docs = [zeros, tiny, big, mixed]
    q = np.vstack([np.ones((1, dim), np.float32), -np.ones((1, dim), np.float32), np.zeros((1, dim), np.float32)])
    ref = ref_maxsim(q, docs)
    for precision in ["fp32", "bf16", "int8"]:
        got = MultiVectorStore.build(docs, precision=precision).maxsim(q).astype(np.float64)
        assert np.all(np.abs(got - ref) <= 0.02 * np.abs(ref) + 1e-20), (precision, got, ref)
