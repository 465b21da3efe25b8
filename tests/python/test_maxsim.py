"""MultiVectorStore / MaxSim kernels against a float64 numpy reference.

Error bounds (derived in cpp/src/maxsim/README.md; u = 2^-24, eps = 2^-23 = 2u):
  A_i = max_j sum_k |q_ik d_jk|
  fp32:  |score - ref| <= (dim + m + 2) * eps * sum_i A_i + abs_term
  fp16 / bf16 / int8: the storage rounding bound below plus the fp32 bound.
The kernel properties run at every SIMD level this machine supports (and at avx512 with the
BF16 / VNNI kernels switched off, to exercise the plain AVX-512 fallbacks).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import aftershock  # noqa: E402
from aftershock import MultiVectorStore, _core  # noqa: E402

EPS = 2.0**-23
TINY = 2.0**-120  # generous absolute slack for subnormal underflow / bf16 flush-to-zero
DIMS = [1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129]
PRECISIONS = ["fp32", "fp16", "bf16", "int8"]

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def _levels():
    out = []
    for level in _core.simd_info()["supported"]:
        out.append((level, True))
        if level == "avx512" and (_core.simd_info()["cpu"]["avx512_bf16"] or _core.simd_info()["cpu"]["avx512_vnni"]):
            out.append((level, False))
    return out


LEVELS = _levels()
LEVEL_IDS = [lvl if ext else f"{lvl}-noext" for lvl, ext in LEVELS]


@pytest.fixture(params=LEVELS, ids=LEVEL_IDS)
def simd_level(request):
    level, ext = request.param
    before = _core.simd_info()["active"]
    _core.set_simd_level(level)
    _core._set_maxsim_extensions(ext, ext)
    yield level
    _core._set_maxsim_extensions(False, True)  # the defaults
    _core.set_simd_level(before)


# ----------------------------------------------------------------------------- helpers
def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 (round to nearest even) -> float32, as the store does."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def ref_maxsim(q: np.ndarray, docs) -> np.ndarray:
    q64 = q.astype(np.float64)
    return np.array([(q64 @ d.astype(np.float64).T).max(axis=1).sum() for d in docs])


def abs_products(q: np.ndarray, docs) -> np.ndarray:
    """[n_docs, m]: A_ij = max_t sum_k |q_ik d_tk| per document."""
    qa = np.abs(q.astype(np.float64))
    return np.array([(qa @ np.abs(d.astype(np.float64)).T).max(axis=1) for d in docs])


def fp32_tol(q, docs, extra_dim=0):
    m, dim = q.shape
    a = abs_products(q, docs).sum(axis=1)
    return (dim + extra_dim + m + 2) * EPS * a + m * (dim + 2) * TINY * (1 + np.abs(q).max())


def make_docs(rng, n_docs, dim, lengths=None, scale_spread=3.0):
    if lengths is None:
        lengths = rng.integers(1, 40, size=n_docs)
    docs = []
    for n in lengths:
        d = rng.standard_normal((int(n), dim)).astype(np.float32)
        d *= (2.0 ** rng.uniform(-scale_spread, scale_spread, size=(int(n), 1))).astype(np.float32)
        docs.append(d)
    return docs


def make_query(rng, m, dim):
    q = rng.standard_normal((m, dim)).astype(np.float32)
    q *= (2.0 ** rng.uniform(-3, 3, size=(m, 1))).astype(np.float32)
    return q


shapes = st.fixed_dictionaries(
    {
        "dim": st.sampled_from(DIMS),
        "m": st.one_of(st.integers(1, 17), st.sampled_from([1, 8, 9, 32])),
        "lengths": st.lists(
            st.one_of(st.integers(1, 50), st.sampled_from([1, 15, 16, 17, 31, 32, 33, 48, 49, 64, 65])),
            min_size=1,
            max_size=5,
        ),
        "seed": st.integers(0, 2**32 - 1),
    }
)


# ------------------------------------------------------------------- kernel properties
@SETTINGS
@given(shape=shapes)
def test_fp32_matches_float64_reference(simd_level, shape):
    rng = np.random.default_rng(shape["seed"])
    dim, m = shape["dim"], shape["m"]
    docs = make_docs(rng, len(shape["lengths"]), dim, shape["lengths"])
    q = make_query(rng, m, dim)
    store = MultiVectorStore(docs, precision="fp32")
    got = store.maxsim(q).astype(np.float64)
    ref = ref_maxsim(q, docs)
    tol = fp32_tol(q, docs)
    assert np.all(np.abs(got - ref) <= tol), (got - ref, tol)
    # The free function takes the same kernels.
    for i in range(min(2, len(docs))):
        one = _core.maxsim_f32(q, docs[i])
        assert abs(one - ref[i]) <= tol[i]


@SETTINGS
@given(shape=shapes)
def test_fp16_within_bound(simd_level, shape):
    rng = np.random.default_rng(shape["seed"])
    dim, m = shape["dim"], shape["m"]
    docs = make_docs(rng, len(shape["lengths"]), dim, shape["lengths"])
    q = make_query(rng, m, dim)
    store = MultiVectorStore(docs, precision="fp16")
    got = store.maxsim(q).astype(np.float64)
    # 1. Exactly the stored values: the numpy float16 rounding (RNE), fp32 bound on them.
    stored = [store.doc(i) for i in range(len(docs))]
    for d, s in zip(docs, stored):
        np.testing.assert_array_equal(s, d.astype(np.float16).astype(np.float32))
    assert np.all(np.abs(got - ref_maxsim(q, stored)) <= fp32_tol(q, stored))
    # 2. Against the original fp32 data: |d - fp16(d)| <= 2^-11 |d| + 2^-25.
    a = abs_products(q, docs)
    q1 = np.abs(q.astype(np.float64)).sum(axis=1)
    storage = (2.0**-11 * a + 2.0**-25 * q1[None, :]).sum(axis=1)
    tol = storage + fp32_tol(q, docs) * (1 + 2.0**-10)
    assert np.all(np.abs(got - ref_maxsim(q, docs)) <= tol)


@SETTINGS
@given(shape=shapes)
def test_bf16_within_bound(simd_level, shape):
    rng = np.random.default_rng(shape["seed"])
    dim, m = shape["dim"], shape["m"]
    docs = make_docs(rng, len(shape["lengths"]), dim, shape["lengths"])
    q = make_query(rng, m, dim)
    store = MultiVectorStore(docs, precision="bf16")
    got = store.maxsim(q).astype(np.float64)
    stored = [store.doc(i) for i in range(len(docs))]
    for d, s in zip(docs, stored):
        np.testing.assert_array_equal(s, bf16_round(d))
    # 1. Exactly MaxSim(bf16(q), stored docs) up to fp32 accumulation (+ flush-to-zero slack).
    qb = bf16_round(q)
    assert np.all(np.abs(got - ref_maxsim(qb, stored)) <= fp32_tol(qb, stored))
    # 2. Against the original data: each factor carries relative error <= 2^-8.
    a = abs_products(q, docs).sum(axis=1)
    tol = (2.0**-7 + 2.0**-16) * a + fp32_tol(q, docs) * (1 + 2.0**-7)
    assert np.all(np.abs(got - ref_maxsim(q, docs)) <= tol)


def int8_bound(q, docs):
    """Provable |int8 score - exact score| (README: int8 error bound)."""
    q64 = q.astype(np.float64)
    m, dim = q.shape
    t = (np.abs(q).max(axis=1) / np.float32(127)).astype(np.float64)  # per query token
    e_q = t * 0.5 * (1 + 2.0**-16)
    q1 = np.abs(q64).sum(axis=1)
    out = []
    for d in docs:
        d64 = d.astype(np.float64)
        s = (np.abs(d).max(axis=1) / np.float32(127)).astype(np.float64)
        e_d = s * 0.5 * (1 + 2.0**-16)
        d1 = np.abs(d64).sum(axis=1)
        b = q1[:, None] * e_d[None, :] + (d1 + dim * e_d)[None, :] * e_q[:, None]  # [m, n]
        a = np.abs(q64) @ np.abs(d64).T
        bmax = b.max(axis=1)
        out.append(bmax.sum() + (m + 3) * EPS * (a.max(axis=1) + bmax).sum() + m * (dim + 2) * TINY)
    return np.array(out)


@SETTINGS
@given(shape=shapes)
def test_int8_within_bound_and_bit_identical_across_levels(simd_level, shape):
    rng = np.random.default_rng(shape["seed"])
    dim, m = shape["dim"], shape["m"]
    docs = make_docs(rng, len(shape["lengths"]), dim, shape["lengths"])
    q = make_query(rng, m, dim)
    store = MultiVectorStore(docs, precision="int8")
    got = store.maxsim(q)
    assert np.all(np.abs(got.astype(np.float64) - ref_maxsim(q, docs)) <= int8_bound(q, docs))
    # Integer dot products are exact: every level gives the scalar oracle's bits.
    _core.set_simd_level("scalar")
    oracle = store.maxsim(q)
    _core.set_simd_level(simd_level)
    np.testing.assert_array_equal(got, oracle)


def test_int8_large_dim_chunks_exact(simd_level):
    # dim > 1024 crosses the fallback kernels' exact fp32 chunk; results stay bit-identical.
    rng = np.random.default_rng(7)
    dim = 1100
    docs = make_docs(rng, 3, dim, [1, 17, 40])
    q = make_query(rng, 9, dim)
    store = MultiVectorStore(docs, precision="int8")
    got = store.maxsim(q)
    _core.set_simd_level("scalar")
    oracle = store.maxsim(q)
    _core.set_simd_level(simd_level)
    np.testing.assert_array_equal(got, oracle)
    assert np.all(np.abs(got.astype(np.float64) - ref_maxsim(q, docs)) <= int8_bound(q, docs))


@SETTINGS
@given(shape=shapes, precision=st.sampled_from(PRECISIONS))
def test_token_permutation_invariance(simd_level, shape, precision):
    # Every (query token, doc token) dot product is computed the same way whatever the
    # token's position, and max is exact: the score is bit-identical.
    rng = np.random.default_rng(shape["seed"])
    dim, m = shape["dim"], shape["m"]
    docs = make_docs(rng, len(shape["lengths"]), dim, shape["lengths"])
    q = make_query(rng, m, dim)
    permuted = [d[rng.permutation(d.shape[0])] for d in docs]
    a = MultiVectorStore(docs, precision=precision).maxsim(q)
    b = MultiVectorStore(permuted, precision=precision).maxsim(q)
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
        got = MultiVectorStore(docs, precision=precision).maxsim(q).astype(np.float64)
        assert np.all(np.abs(got - ref) <= 0.02 * np.abs(ref) + 1e-20), (precision, got, ref)


# ----------------------------------------------------------------------- API behaviour
@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(1)
    dim = 24
    docs = make_docs(rng, 150, dim, rng.integers(1, 70, size=150), scale_spread=1.0)
    queries = [make_query(rng, int(m), dim) for m in rng.integers(1, 20, size=7)]
    return docs, queries


def topk_ref(scores: np.ndarray, ids: np.ndarray, k: int):
    order = np.lexsort((ids, -scores))[:k]
    return scores[order], ids[order]


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


# ------------------------------------------------------------------------ persistence
@pytest.mark.parametrize("precision", PRECISIONS)
def test_save_load_pickle_identical(tmp_path, corpus, precision):
    docs, queries = corpus
    store = MultiVectorStore(docs, precision=precision)
    path = tmp_path / f"store-{precision}.aft"
    store.save(path)
    loaded = MultiVectorStore.load(path)
    assert loaded.precision == precision and loaded.n_docs == store.n_docs
    np.testing.assert_array_equal(loaded.maxsim_batch(queries), store.maxsim_batch(queries))
    for i in (0, 17, 149):
        np.testing.assert_array_equal(loaded.doc(i), store.doc(i))
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone.maxsim(queries[0]), store.maxsim(queries[0]))
    assert path.read_bytes() == store.to_bytes()


def test_damaged_files_raise_format_error(tmp_path, corpus):
    docs, _ = corpus
    store = MultiVectorStore(docs[:20], precision="int8")
    data = bytearray(store.to_bytes())
    # Header bytes, section-table bytes, and the first / middle / last byte of every
    # section's payload (the zero padding between sections is not part of any checksum).
    n_sections = int.from_bytes(data[20:24], "little")
    positions = [0, 9, 12, 16, 20, 24, 32, 40, 60] + [64 + 32 * i + j for i in range(n_sections) for j in (0, 4, 8, 16, 24)]
    for i in range(n_sections):
        entry = 64 + 32 * i
        offset = int.from_bytes(data[entry + 8 : entry + 16], "little")
        length = int.from_bytes(data[entry + 16 : entry + 24], "little")
        positions += [offset, offset + length // 2, offset + length - 1]
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= 0x10
        with pytest.raises(aftershock.FormatError):
            MultiVectorStore.from_bytes(bytes(bad))
    for cut in (0, 10, 63, 64, 200, len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut{cut}.aft"
        path.write_bytes(bytes(data[:cut]))
        with pytest.raises(aftershock.FormatError):
            MultiVectorStore.load(path)
    with pytest.raises(OSError):
        MultiVectorStore.load(tmp_path / "missing.aft")
    assert issubclass(aftershock.FormatError, ValueError)


# ------------------------------------------------------------------------- bad inputs
def test_bad_construction_inputs():
    good = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore(good, [1, 4])
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore(good, [0, 3, 2, 4])
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore(good, [0, 2, 2, 4])  # empty document
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore(good, [0, 2, 3])  # does not end at the token count
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore(good, [])
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore(good)
    with pytest.raises(TypeError, match="offsets"):
        MultiVectorStore(good, [0.0, 4.0])
    for value in (np.nan, np.inf, -np.inf):
        bad = good.copy()
        bad[2, 1] = value
        with pytest.raises(ValueError, match="vectors"):
            MultiVectorStore(bad, [0, 4])
    with pytest.raises(ValueError, match="float16"):
        MultiVectorStore(good * 1e5, [0, 4], precision="fp16")
    with pytest.raises(ValueError, match="precision"):
        MultiVectorStore(good, [0, 4], precision="fp8")
    with pytest.raises(TypeError, match="precision"):
        MultiVectorStore(good, [0, 4], precision=None)
    with pytest.raises(ValueError, match="dim"):
        MultiVectorStore(np.ones((4, 0), np.float32), [0, 4])
    with pytest.raises(TypeError, match="vectors"):
        MultiVectorStore(good.astype(bool), [0, 4])
    with pytest.raises(TypeError, match="vectors"):
        MultiVectorStore(good.astype(np.complex64), [0, 4])
    with pytest.raises(ValueError, match="vectors"):
        MultiVectorStore(np.ones(4, np.float32), [0, 4])
    with pytest.raises(ValueError, match=r"vectors\[1\]"):
        MultiVectorStore([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"vectors\[1\]: expected at least one token"):
        MultiVectorStore([np.ones((2, 3)), np.ones((0, 3))])
    with pytest.raises(ValueError, match="offsets"):
        MultiVectorStore([np.ones((2, 3))], [0, 2])


def test_bad_query_inputs(corpus):
    docs, queries = corpus
    store = MultiVectorStore(docs[:10])
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
            store.search_exact([q, bad], k=2)
    with pytest.raises(TypeError, match="query"):
        store.maxsim(q.astype(np.complex64))
    with pytest.raises(ValueError, match="queries"):
        store.maxsim_batch([q, q[:0]])
    with pytest.raises(ValueError, match="queries"):
        store.maxsim_batch(q)
    with pytest.raises(IndexError, match="doc_ids"):
        store.maxsim_batch([q], doc_ids=[0, 10])
    with pytest.raises(IndexError, match="candidate_ids"):
        store.rerank(q, [-1], k=1)
    with pytest.raises(IndexError, match="candidate_ids"):
        store.rerank(q, [3, 11], k=1)
    with pytest.raises(TypeError, match="candidate_ids"):
        store.rerank(q, [0.5], k=1)
    with pytest.raises(ValueError, match="k"):
        store.rerank(q, [1], k=0)
    with pytest.raises(ValueError, match="k"):
        store.search_exact([q], k=0)
    with pytest.raises(TypeError, match="k"):
        store.search_exact([q], k=1.5)
    with pytest.raises(IndexError, match="doc_id"):
        store.doc(10)
    with pytest.raises(ValueError, match="bfloat16"):
        MultiVectorStore(docs[:2], precision="bf16").maxsim(np.full((1, 24), 3.4e38, np.float32))


def test_core_is_strict(corpus):
    docs, queries = corpus
    core = MultiVectorStore(docs[:5])._core
    with pytest.raises(TypeError):
        core.maxsim(queries[0].astype(np.float64), 0)
    with pytest.raises(TypeError):
        _core.MultiVectorStore(np.ones((2, 3)), np.array([0, 2], np.int64), "fp32", 0)
    with pytest.raises(ValueError, match="query_offsets"):
        core.search_exact(queries[0], np.array([0, 1], np.int64), 3, 0)
    with pytest.raises(ValueError, match="quer"):
        core.search_exact(queries[0], np.array([0, 0, queries[0].shape[0]], np.int64), 3, 0)
    with pytest.raises(IndexError):
        core.maxsim_batch(queries[0], np.array([0, queries[0].shape[0]], np.int64), np.array([9], np.uint32), 0)
