"""The candidate generators' kernels (cpp/src/multivector/kernels_*.cpp) at every SIMD level
against float64 numpy within the reordering bound ``dim * eps * sum |x_i y_i|`` (int8 scans
and the max are exact), on misaligned arrays; and a whole build + search at every level."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorIndex, _core

from .reference import DIMS, EPS32, LEVEL_ID, misaligned, recall_at


@pytest.fixture
def level(simd_level):
    """The `simd_level` fixture's level, where this engine has a kernel table for it."""
    if simd_level not in LEVEL_ID:
        pytest.skip(f"no multi-vector kernels at {simd_level}")
    return simd_level


@pytest.mark.parametrize("dim", DIMS)
def test_dot_rows_kernel(level, dim):
    rng = np.random.default_rng(dim)
    for n_rows, n_cols in [(1, 1), (5, 15), (7, 16), (13, 17), (6, 33), (2, 70)]:
        x = misaligned(rng.standard_normal((n_rows, dim)).astype(np.float32))
        w = misaligned(rng.standard_normal((n_cols, dim)).astype(np.float32))
        got = _core._mv_dot_rows(LEVEL_ID[level], x, w)
        ref = x.astype(np.float64) @ w.astype(np.float64).T
        bound = dim * EPS32 * (np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64).T)
        assert np.all(np.abs(got - ref) <= bound + 1e-30), (level, dim, n_rows, n_cols)


@pytest.mark.parametrize("dim", DIMS)
def test_scan_kernels(level, dim):
    rng = np.random.default_rng(100 + dim)
    rows = misaligned(rng.standard_normal((11, dim)).astype(np.float32))
    q = misaligned(rng.standard_normal(dim).astype(np.float32))
    got = _core._mv_scan_f32(LEVEL_ID[level], rows, q)
    ref = rows.astype(np.float64) @ q.astype(np.float64)
    bound = dim * EPS32 * (np.abs(rows).astype(np.float64) @ np.abs(q).astype(np.float64))
    assert np.all(np.abs(got - ref) <= bound + 1e-30)

    codes = misaligned(rng.integers(-127, 128, size=(11, dim)).astype(np.int8))
    scales = rng.random(11).astype(np.float32)
    got = _core._mv_scan_i8(LEVEL_ID[level], codes, scales, q)
    dots = codes.astype(np.float64) @ q.astype(np.float64)
    bound = (dim + 1) * EPS32 * (np.abs(codes).astype(np.float64) @ np.abs(q).astype(np.float64)) * scales
    assert np.all(np.abs(got - scales * dots) <= bound + 1e-30)


@pytest.mark.parametrize("lanes", [16, 32, 48, 64])
def test_interaction_kernel(level, lanes):
    rng = np.random.default_rng(lanes)
    table = rng.standard_normal((300, lanes)).astype(np.float32)
    for n in [1, 2, 3, 5, 8, 33, 100]:
        codes = misaligned(rng.integers(0, 300, n).astype(np.uint16))
        got = _core._mv_interaction(LEVEL_ID[level], codes, table)
        maxima = table[codes].max(axis=0).astype(np.float64)  # the max is exact in any order
        assert abs(got - maxima.sum()) <= lanes * EPS32 * np.abs(maxima).sum()
    with pytest.raises(IndexError):
        _core._mv_interaction(LEVEL_ID[level], np.array([300], dtype=np.uint16), table)


def test_every_simd_level_end_to_end(data, level):
    vectors, offsets, queries = data
    for method in ("centroid", "muvera"):
        index = MultiVectorIndex.build(vectors, offsets, method=method, seed=1)
        exact = index.search_exact(queries, k=10)
        assert recall_at(index.search(queries, k=10), exact) >= 0.9, (level, method)
