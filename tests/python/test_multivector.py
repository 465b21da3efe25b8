"""MultiVectorIndex: candidate generation (MUVERA FDE, token centroids) + exact MaxSim rerank.

Properties:
* every SIMD kernel of the candidate generators matches float64 numpy within the
  reordering bound ``dim * eps * sum |x_i y_i|`` (int8 scans and the max are exact);
* lossless settings (every document reranked) equal brute-force exact search;
* default settings reach recall@10 >= 0.9 against exact search on clustered data;
* build and search do not depend on num_threads; save/load/pickle round-trip exactly;
* damaged files raise FormatError; bad input raises the documented exception.
"""

from __future__ import annotations

import pickle

import aftershock
import numpy as np
import pytest
from aftershock import FormatError, MultiVectorIndex, _core

EPS32 = np.finfo(np.float32).eps
LEVELS = [lvl for lvl in ("scalar", "avx2", "avx512") if lvl in aftershock.simd_info()["supported"]]
LEVEL_ID = {"scalar": 0, "avx2": 1, "avx512": 2}
DIMS = [1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129]


# ----------------------------------------------------------------------------- data
def clustered(n_docs=600, dim=48, n_queries=40, mean_tokens=24, query_tokens=12, seed=0):
    """Topic model: unit prototypes grouped in topics; a document mixes 1-3 topics, a token is
    normalize(prototype + noise). A query samples tokens from one document's topics."""
    rng = np.random.default_rng(seed)
    n_topics, n_protos, per_topic = max(8, n_docs // 20), max(64, n_docs // 2), 24
    protos = rng.standard_normal((n_protos, dim))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    topic_protos = rng.integers(0, n_protos, size=(n_topics, per_topic))

    def sample(topics, n):
        t = topics[rng.integers(0, len(topics), n)]
        centers = protos[topic_protos[t, rng.integers(0, per_topic, n)]]
        x = centers + (0.35 / np.sqrt(dim)) * rng.standard_normal((n, dim))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    lengths = rng.integers(max(1, mean_tokens // 3), 2 * mean_tokens, n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    doc_topics = [rng.integers(0, n_topics, rng.integers(1, 4)) for _ in range(n_docs)]
    vectors = np.concatenate([sample(doc_topics[d], lengths[d]) for d in range(n_docs)])
    queries = [sample(doc_topics[rng.integers(0, n_docs)], query_tokens) for _ in range(n_queries)]
    return vectors, offsets, queries


@pytest.fixture(scope="module")
def data():
    return clustered()


@pytest.fixture(scope="module")
def centroid_index(data):
    vectors, offsets, _ = data
    return MultiVectorIndex.build(vectors, offsets, method="centroid", seed=7)


@pytest.fixture(scope="module")
def muvera_index(data):
    vectors, offsets, _ = data
    return MultiVectorIndex.build(vectors, offsets, method="muvera", seed=7)


def reference_maxsim(vectors, offsets, query):
    """float64 MaxSim of one query against every document."""
    sims = query.astype(np.float64) @ vectors.astype(np.float64).T
    return np.maximum.reduceat(sims, offsets[:-1], axis=1).sum(axis=0)


def recall_at(result, exact, k=10):
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(result.ids, exact.ids)]))


def misaligned(arr):
    """The same values in a C-contiguous array whose data pointer is 4 bytes off alignment."""
    buf = np.empty(arr.size + 1, dtype=arr.dtype)
    out = buf[1:].reshape(arr.shape)
    out[...] = arr
    return out


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("level", LEVELS)
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


@pytest.mark.parametrize("level", LEVELS)
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


@pytest.mark.parametrize("level", LEVELS)
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


# ----------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("method", ["centroid", "muvera"])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "int8"])
def test_lossless_equals_exact(data, method, precision):
    vectors, offsets, queries = data
    n_docs = len(offsets) - 1
    extra = {"n_centroids": 32} if method == "centroid" else {}
    index = MultiVectorIndex.build(vectors, offsets, method=method, precision=precision, seed=3, **extra)
    params = {"n_candidates": n_docs}
    if method == "centroid":
        params["n_probe"] = 32
    got = index.search(queries, k=10, **params)
    exact = index.search_exact(queries, k=10)
    np.testing.assert_array_equal(got.ids, exact.ids)
    np.testing.assert_array_equal(got.scores, exact.scores)
    if method == "centroid":  # the union of the inverted lists reaches every document too
        got = index.search(queries, k=10, n_probe=31, n_candidates=n_docs)
        np.testing.assert_array_equal(got.ids, exact.ids)
        np.testing.assert_array_equal(got.scores, exact.scores)
    if precision == "fp32":  # and exact means the float64 MaxSim top-k
        dim = vectors.shape[1]
        for q, row_scores, row_ids in zip(queries, exact.scores, exact.ids):
            ref = reference_maxsim(vectors, offsets, q)
            m = q.shape[0]
            bound = m * (dim + m) * EPS32  # unit vectors: sum_k |q_k d_k| <= 1 for every pair
            np.testing.assert_allclose(row_scores, ref[row_ids], atol=bound, rtol=0)
            assert ref[row_ids[-1]] >= np.sort(ref)[-10] - 2 * bound


def test_lossless_equals_store_search_exact(data):
    if not hasattr(aftershock, "MultiVectorStore"):
        pytest.skip("aftershock.MultiVectorStore is not available in this build")
    vectors, offsets, queries = data
    store = aftershock.MultiVectorStore(vectors, offsets, precision="bf16")
    index = MultiVectorIndex.build(vectors, offsets, method="muvera", precision="bf16", seed=3)
    expected = store.search_exact(queries, 10)
    got = index.search(queries, k=10, n_candidates=len(offsets) - 1)
    np.testing.assert_array_equal(got.ids, expected.ids)
    np.testing.assert_array_equal(got.scores, expected.scores)


def test_scores_are_exact_maxsim_of_returned_ids(data, centroid_index):
    vectors, offsets, queries = data
    res = centroid_index.search(queries[:5], k=10)
    for q, scores, ids in zip(queries[:5], res.scores, res.ids):
        ref = reference_maxsim(vectors, offsets, q)[ids]
        np.testing.assert_allclose(scores, ref, atol=q.shape[0] * (48 + q.shape[0]) * EPS32, rtol=0)
        assert np.all(np.diff(scores) <= 0)


# ----------------------------------------------------------------------------- recall
@pytest.mark.parametrize("method", ["centroid", "muvera"])
def test_default_recall(data, centroid_index, muvera_index, method):
    _, _, queries = data
    index = centroid_index if method == "centroid" else muvera_index
    exact = index.search_exact(queries, k=10)
    assert recall_at(index.search(queries, k=10), exact) >= 0.9


def test_default_recall_larger_corpus():
    vectors, offsets, queries = clustered(n_docs=4000, dim=32, n_queries=40, seed=11)
    for method in ("centroid", "muvera"):
        index = MultiVectorIndex.build(vectors, offsets, method=method, seed=1)
        exact = index.search_exact(queries, k=10)
        assert recall_at(index.search(queries, k=10), exact) >= 0.9, method


def test_recall_grows_with_candidates(data, centroid_index):
    _, _, queries = data
    exact = centroid_index.search_exact(queries, k=10)
    recalls = [
        recall_at(centroid_index.search(queries, k=10, n_candidates=c, n_probe=2), exact)
        for c in (10, 40, 160, 600)
    ]
    assert recalls == sorted(recalls) and recalls[-1] == 1.0


def test_bitvector_prefilter(data, centroid_index):
    _, _, queries = data
    exact = centroid_index.search_exact(queries, k=10)
    res = centroid_index.search(queries, k=10, n_probe=8, bitvector_threshold=0.3, n_bitvector=400)
    assert recall_at(res, exact) >= 0.85
    off = centroid_index.search(queries, k=10, n_probe=8, bitvector_threshold=None, n_bitvector=400)
    np.testing.assert_array_equal(off.ids, centroid_index.search(queries, k=10, n_probe=8).ids)


def test_pooling_reduces_tokens(data):
    vectors, offsets, queries = data
    index = MultiVectorIndex.build(vectors, offsets, method="centroid", pool_factor=2, seed=1)
    info = index.info()
    assert info["original_tokens"] == len(vectors)
    assert info["total_tokens"] <= (len(vectors) + len(offsets)) // 2 + len(offsets)
    assert info["total_tokens"] < len(vectors)
    full = MultiVectorIndex.build(vectors, offsets, method="centroid", seed=1)
    assert index.size_bytes < full.size_bytes
    # Still exact over the pooled documents, and close to the unpooled ranking.
    got = index.search(queries, k=10, n_candidates=len(offsets), n_probe=10**6)
    np.testing.assert_array_equal(got.ids, index.search_exact(queries, k=10).ids)
    assert recall_at(got, full.search_exact(queries, k=10)) >= 0.6


def test_final_projection_and_fp32_fde(data):
    vectors, offsets, queries = data
    for params in (
        {"final_dim": 512},
        {"fde_precision": "fp32"},
        {"d_proj": 0, "k_sim": 3, "r_reps": 4},
        {"fill_empty": False},
    ):
        index = MultiVectorIndex.build(vectors, offsets, method="muvera", seed=2, **params)
        exact = index.search_exact(queries, k=10)
        assert recall_at(index.search(queries, k=10, n_candidates=200), exact) >= 0.8, params
    assert MultiVectorIndex.build(vectors, offsets, method="muvera", final_dim=512).info()["fde_dim"] == 512


# ----------------------------------------------------------------------------- threads, io
@pytest.mark.parametrize("method", ["centroid", "muvera"])
def test_num_threads_do_not_change_results(data, method):
    vectors, offsets, queries = data
    one = MultiVectorIndex.build(vectors, offsets, method=method, seed=5, num_threads=1)
    two = MultiVectorIndex.build(vectors, offsets, method=method, seed=5, num_threads=2)
    assert one.to_bytes() == two.to_bytes()
    a = one.search(queries, k=10, num_threads=1)
    b = one.search(queries, k=10, num_threads=2)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("method", ["centroid", "muvera"])
def test_save_load_identical(tmp_path, data, method, centroid_index, muvera_index):
    _, _, queries = data
    index = centroid_index if method == "centroid" else muvera_index
    path = tmp_path / "index.mvix"
    index.save(path)
    loaded = MultiVectorIndex.load(path)
    assert loaded.info() == index.info()
    a, b = index.search(queries, k=10), loaded.search(queries, k=10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert loaded.to_bytes() == path.read_bytes()
    unpickled = pickle.loads(pickle.dumps(index))
    np.testing.assert_array_equal(unpickled.search(queries, k=10).ids, a.ids)


@pytest.mark.parametrize("method", ["centroid", "muvera"])
def test_damaged_files_raise_format_error(tmp_path, method, centroid_index, muvera_index):
    index = centroid_index if method == "centroid" else muvera_index
    blob = bytearray(index.to_bytes())
    rng = np.random.default_rng(0)
    for pos in [0, 9, 70, len(blob) // 3, len(blob) // 2, len(blob) - 65] + list(
        rng.integers(0, len(blob), 5)
    ):
        bad = bytearray(blob)
        bad[pos] ^= 0x40
        with pytest.raises(FormatError):
            MultiVectorIndex.from_bytes(bytes(bad))
    for size in [0, 10, 64, 200, len(blob) // 2, len(blob) - 1]:
        path = tmp_path / f"trunc{size}.mvix"
        path.write_bytes(bytes(blob[:size]))
        with pytest.raises(FormatError):
            MultiVectorIndex.load(path)
    with pytest.raises(OSError):
        MultiVectorIndex.load(tmp_path / "missing.mvix")


def test_other_kind_of_file_is_refused(tmp_path, data):
    if not hasattr(aftershock, "MultiVectorStore") or not hasattr(aftershock.MultiVectorStore, "save"):
        pytest.skip("aftershock.MultiVectorStore is not available in this build")
    vectors, offsets, _ = data
    path = tmp_path / "store.mvst"
    aftershock.MultiVectorStore(vectors, offsets).save(path)
    with pytest.raises(FormatError):
        MultiVectorIndex.load(path)


# ----------------------------------------------------------------------------- inputs
def test_query_forms_agree(data, centroid_index):
    _, _, queries = data
    base = centroid_index.search(queries[:4], k=5)
    flat = np.concatenate(queries[:4])
    offs = np.cumsum([0] + [len(q) for q in queries[:4]])
    np.testing.assert_array_equal(centroid_index.search(flat, k=5, query_offsets=offs).ids, base.ids)
    np.testing.assert_array_equal(centroid_index.search(np.stack(queries[:4]), k=5).ids, base.ids)
    np.testing.assert_array_equal(centroid_index.search(queries[:1], k=5).ids, base.ids[:1])
    with pytest.raises(ValueError, match="wrap it in a list"):
        centroid_index.search(queries[0], k=5)
    np.testing.assert_array_equal(
        centroid_index.search([q.astype(np.float64) for q in queries[:4]], k=5).ids, base.ids
    )


def test_list_of_documents_and_padding():
    rng = np.random.default_rng(0)
    docs = [rng.standard_normal((n, 8)).astype(np.float32) for n in (1, 3, 2, 5, 4)]
    index = MultiVectorIndex.build(docs, method="centroid", n_centroids=4)
    res = index.search([rng.standard_normal((2, 8))], k=8, n_candidates=5)
    assert res.scores.shape == (1, 8) and res.ids.dtype == np.int64 and res.scores.dtype == np.float32
    assert sorted(res.ids[0, :5]) == [0, 1, 2, 3, 4]
    assert np.all(res.ids[0, 5:] == -1) and np.all(np.isneginf(res.scores[0, 5:]))
    assert len(index) == 5 and "centroid" in repr(index)


def test_bad_input_raises(data, centroid_index, muvera_index):
    vectors, offsets, queries = data
    small, small_off = vectors[:200], offsets[offsets <= 200]
    small_off = np.append(small_off[:-1], 200) if small_off[-1] != 200 else small_off
    build = MultiVectorIndex.build

    bad = small.copy()
    bad[17, 3] = np.nan
    with pytest.raises(ValueError, match="vectors"):
        build(bad, small_off)
    bad[17, 3] = np.inf
    with pytest.raises(ValueError, match="vectors"):
        build(bad, small_off, method="muvera")
    with pytest.raises(ValueError, match="offsets"):
        build(small, small_off[::-1].copy())
    with pytest.raises(ValueError, match="offsets"):
        build(small, np.array([0, 5, 5, 200]))
    with pytest.raises(ValueError, match="offsets"):
        build(small, np.array([0, 5, 199]))
    with pytest.raises(ValueError, match="offsets"):
        build(small, None)
    with pytest.raises(TypeError, match="vectors"):
        build(small > 0, small_off)
    with pytest.raises(TypeError, match="offsets"):
        build(small, small_off.astype(np.float64))
    with pytest.raises(ValueError, match="method"):
        build(small, small_off, method="plaid")
    with pytest.raises(ValueError, match="precision"):
        build(small, small_off, precision="fp8")
    with pytest.raises(ValueError, match="n_centroidz"):
        build(small, small_off, n_centroidz=4)
    with pytest.raises(ValueError, match="k_sim"):
        build(small, small_off, k_sim=3)  # a muvera parameter given to the centroid method
    with pytest.raises(ValueError, match="k_sim"):
        build(small, small_off, method="muvera", k_sim=13)
    with pytest.raises(ValueError, match="n_centroids"):
        build(small, small_off, n_centroids=201)
    with pytest.raises(ValueError, match="n_centroids"):
        build(small, small_off, n_centroids=2.5)
    with pytest.raises(ValueError, match="pool_factor"):
        build(small, small_off, pool_factor=0.5)
    with pytest.raises(ValueError, match="fde_precision"):
        build(small, small_off, method="muvera", fde_precision="int4")
    with pytest.raises(TypeError, match="n_centroids"):
        build(small, small_off, n_centroids="64")
    with pytest.raises(ValueError, match="num_threads"):
        build(small, small_off, num_threads=-1)

    for index in (centroid_index, muvera_index):
        with pytest.raises(ValueError, match="queries"):
            index.search([np.ones((3, 47), np.float32)])
        with pytest.raises(ValueError, match="queries"):
            index.search([np.ones((0, 48), np.float32)])
        q = queries[0].copy()
        q[0, 0] = np.nan
        with pytest.raises(ValueError, match="queries"):
            index.search([q])
        with pytest.raises(ValueError, match="k"):
            index.search(queries[:2], k=0)
        with pytest.raises(ValueError, match="n_candidates"):
            index.search(queries[:2], n_candidates=0)
        with pytest.raises(ValueError, match="n_candidatez"):
            index.search(queries[:2], n_candidatez=5)
        with pytest.raises(ValueError, match="query_offsets"):
            index.search(np.concatenate(queries[:2]), query_offsets=[0, 5, 3])
        with pytest.raises(TypeError, match="queries"):
            index.search([queries[0].astype(np.complex64)])
    with pytest.raises(ValueError, match="n_probe"):
        centroid_index.search(queries[:2], n_probe=0)
    with pytest.raises(ValueError, match="n_interaction"):
        centroid_index.search(queries[:2], n_interaction=10, n_candidates=100)
    with pytest.raises(ValueError, match="bitvector_threshold"):
        centroid_index.search(queries[:2], bitvector_threshold=float("inf"), n_bitvector=500)
    with pytest.raises(ValueError, match="n_bitvector"):
        centroid_index.search(queries[:2], bitvector_threshold=0.5, n_bitvector=10, n_candidates=100)
    with pytest.raises(ValueError, match="n_probe"):
        muvera_index.search(queries[:2], n_probe=4)


def test_core_is_strict(data, centroid_index):
    vectors, offsets, queries = data
    with pytest.raises(TypeError):  # float64 is not silently cast by the private core
        _core.MultiVectorIndex.build(vectors.astype(np.float64), offsets, "centroid", "fp32", {}, 0, 1)
    with pytest.raises(ValueError, match="offsets"):
        _core.MultiVectorIndex.build(vectors, offsets[:1], "centroid", "fp32", {}, 0, 1)
    with pytest.raises(ValueError, match="query_offsets"):
        centroid_index._core.search(queries[0], np.array([0, 99], np.int64), 10, {}, 1)


@pytest.mark.parametrize("level", LEVELS)
def test_every_simd_level_end_to_end(data, level):
    vectors, offsets, queries = data
    before = aftershock.simd_info()["active"]
    try:
        _core.set_simd_level(level)
        for method in ("centroid", "muvera"):
            index = MultiVectorIndex.build(vectors, offsets, method=method, seed=1)
            exact = index.search_exact(queries, k=10)
            assert recall_at(index.search(queries, k=10), exact) >= 0.9, (level, method)
    finally:
        _core.set_simd_level(before)


def test_verbose_build_reports_progress(data, capsys):
    vectors, offsets, _ = data
    MultiVectorIndex.build(vectors, offsets, method="centroid", verbose=True, n_centroids=16)
    err = capsys.readouterr().err
    assert "aftershock: kmeans" in err and "aftershock: assign" in err
    MultiVectorIndex.build(vectors, offsets, method="muvera", verbose=True, pool_factor=2)
    err = capsys.readouterr().err
    assert "aftershock: pool" in err and "aftershock: fde" in err
