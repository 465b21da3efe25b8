"""Pipeline: lossless setting equals exact MaxSim over the first stage's candidates; fusion
equals a plain-Python reference; save/load round trip; relevance cut; bad arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from aftershock import (
    FormatError,
    MultiVectorIndex,
    MultiVectorStore,
    Pipeline,
    SearchResult,
    SparseIndex,
    fuse,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from multivector.reference import clustered, reference_maxsim


@pytest.fixture(scope="module")
def case():
    vec, off, qs = clustered(n_docs=400, dim=16, n_queries=12, mean_tokens=10, query_tokens=6, seed=2)
    docs = sp.random(400, 60, density=0.15, random_state=1, format="csr", dtype=np.float32)
    queries = sp.random(12, 60, density=0.2, random_state=2, format="csr", dtype=np.float32)
    store = MultiVectorStore.build(vec, off)
    sparse = SparseIndex.build(docs, precision="fp32", num_threads=1)
    mv = MultiVectorIndex.build(vec, off, n_centroids=32, num_threads=1)
    return vec, off, qs, docs, queries, store, sparse, mv


def _exact_over(vec, off, query, cand, k):
    """float64 MaxSim over the candidates (padding -1 skipped), best first, ties to smaller id."""
    cand = [int(c) for c in cand if c >= 0]
    scores = reference_maxsim(vec, off, query)[cand]
    order = sorted(range(len(cand)), key=lambda i: (-scores[i], cand[i]))[:k]
    return [cand[i] for i in order], [scores[i] for i in order]


def test_lossless_pipeline_equals_exact_maxsim_over_candidates(case):
    vec, off, qs, _, queries, store, sparse, _ = case
    n = sparse.n_docs
    pipe = Pipeline(sparse, store, n_candidates=n)
    got = pipe.search(queries, qs, 7)
    cand = sparse.search(queries, n).ids
    for i, q in enumerate(qs):
        ids, scores = _exact_over(vec, off, q, cand[i], 7)
        np.testing.assert_allclose(got.scores[i, : len(ids)], scores, rtol=1e-5, atol=1e-5)
        # same documents, up to float32 near-ties
        close = np.isclose(got.scores[i, : len(ids)], scores, rtol=1e-5)
        assert close.all()
        assert set(got.ids[i, : len(ids)]) == set(ids) or np.any(np.diff(scores) > -1e-5)
        assert (got.ids[i, len(ids) :] == -1).all()


def test_multivector_first_stage_with_all_candidates_is_exact(case):
    _, _, qs, _, _, store, _, mv = case
    got = Pipeline(mv, store, n_candidates=mv.n_docs).search(token_queries=qs, k=10)
    exact = store.search(qs, 10)
    np.testing.assert_array_equal(got.ids, exact.ids)
    np.testing.assert_array_equal(got.scores, exact.scores)


def _reference_fusion(lists, depth, method, weights, rrf_k):
    total = {}
    for (scores, ids), w in zip(lists, weights):
        valid = [(s, d) for s, d in zip(scores, ids) if d >= 0]
        if method == "rrf":
            for rank, (_, d) in enumerate(valid, start=1):
                total[d] = total.get(d, 0.0) + w / (rrf_k + rank)
        else:
            if not valid:
                continue
            lo, hi = min(s for s, _ in valid), max(s for s, _ in valid)
            for s, d in valid:
                total[d] = total.get(d, 0.0) + w * ((s - lo) / (hi - lo) if hi > lo else 1.0)
    return total


@st.composite
def stage_lists(draw):
    n_stages = draw(st.integers(1, 3))
    n_q = draw(st.integers(1, 4))
    n_docs = draw(st.integers(1, 30))
    width = draw(st.integers(1, 12))
    out = []
    for _ in range(n_stages):
        ids = np.full((n_q, width), -1, np.int64)
        scores = np.full((n_q, width), -np.inf, np.float32)
        for q in range(n_q):
            m = draw(st.integers(0, min(width, n_docs)))
            chosen = draw(st.permutations(range(n_docs)))[:m]
            vals = sorted(draw(st.lists(st.integers(-5, 5), min_size=m, max_size=m)), reverse=True)
            ids[q, :m] = chosen
            scores[q, :m] = np.asarray(vals, np.float32) / 2
        out.append(SearchResult(scores, ids))
    return out


@settings(max_examples=60, deadline=None)
@given(stage_lists(), st.integers(1, 15), st.sampled_from(["rrf", "score"]), st.data())
def test_fusion_equals_python_reference(lists, depth, method, data):
    weights = data.draw(st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=len(lists), max_size=len(lists)))
    got = fuse(lists, depth, method=method, weights=weights, rrf_k=60.0)
    for q in range(lists[0].ids.shape[0]):
        ref = _reference_fusion([(r.scores[q], r.ids[q]) for r in lists], depth, method, weights, 60.0)
        expected = sorted(ref.items(), key=lambda kv: (-np.float32(kv[1]), kv[0]))[:depth]
        n = len(expected)
        assert (got.ids[q, n:] == -1).all() and np.isneginf(got.scores[q, n:]).all()
        np.testing.assert_allclose(got.scores[q, :n], [s for _, s in expected], rtol=1e-6)
        # the order is by score, ties to the smaller id; near-ties (float rounding) may swap
        for (d_ref, s_ref), d_got in zip(expected, got.ids[q, :n]):
            assert d_got == d_ref or np.isclose(ref[int(d_got)], s_ref, rtol=1e-6)


def test_fused_pipeline_uses_fusion_then_rerank(case):
    _vec, _off, qs, _, queries, store, sparse, mv = case
    pipe = Pipeline([sparse, mv], store, n_candidates=40, fusion="score", weights=[1.0, 2.0])
    got = pipe.search(queries, qs, 5)
    a = sparse.search(queries, 40)
    b = mv.search(qs, 40)
    cand = fuse([a, b], 40, method="score", weights=[1.0, 2.0]).ids
    ref = store.rerank(qs, cand, 5)
    np.testing.assert_array_equal(got.ids, ref.ids)
    np.testing.assert_array_equal(got.scores, ref.scores)
    # Without a rerank store, the fused list itself.
    fused_only = Pipeline([sparse, mv], None, n_candidates=40, fusion="rrf").search(queries, qs, 5)
    np.testing.assert_array_equal(fused_only.ids, fuse([a, b], 40).ids[:, :5])


def test_relevance_cut(case):
    _, _, qs, _, queries, store, sparse, _ = case
    base = Pipeline(sparse, store, n_candidates=100).search(queries, qs, 8)
    threshold = float(np.median(base.scores[np.isfinite(base.scores)]))
    cut = Pipeline(sparse, store, n_candidates=100, min_score=threshold).search(queries, qs, 8)
    keep = base.scores >= threshold
    np.testing.assert_array_equal(cut.ids, np.where(keep, base.ids, -1))
    assert np.isneginf(cut.scores[~keep]).all()
    gap = Pipeline(sparse, store, n_candidates=100, max_gap=0.02).search(queries, qs, 8)
    for row, got in zip(base.scores, gap.ids):
        n_keep = len(row)
        for i in range(len(row) - 1):
            if np.isfinite(row[i + 1]) and row[i] - row[i + 1] > 0.02 * abs(row[0]):
                n_keep = i + 1
                break
        assert (got[n_keep:] == -1).all() and (got[:n_keep] >= 0).sum() == np.isfinite(row[:n_keep]).sum()


def test_save_load_round_trip(case, tmp_path):
    _, _, qs, _, queries, store, sparse, mv = case
    pipe = Pipeline(
        [sparse, mv],
        store,
        n_candidates=30,
        fusion="rrf",
        rrf_k=10.0,
        max_gap=0.5,
        stage_params=[{"query_cut": 5}, {"n_candidates": 40}],
    )
    path = tmp_path / "pipe"
    pipe.save(path)
    pipe.save(path)  # replaces a saved pipeline
    loaded = Pipeline.load(path)
    a, b = pipe.search(queries, qs, 6), loaded.search(queries, qs, 6)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert loaded.rrf_k == 10.0 and loaded.max_gap == 0.5 and loaded.n_candidates == 30
    assert loaded.stage_params == [{"query_cut": 5}, {"n_candidates": 40}]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left
    manifest = json.loads((path / "manifest.json").read_text())
    assert [s["kind"] for s in manifest["stages"]] == ["SparseIndex", "MultiVectorIndex"]
    # Damage: size mismatch, unknown kind, a damaged stage file, bad JSON.
    manifest["stages"][0]["size_bytes"] += 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match="bytes"):
        Pipeline.load(path)
    manifest["stages"][0]["size_bytes"] -= 1
    manifest["stages"][0]["kind"] = "Nope"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match="kind"):
        Pipeline.load(path)
    (path / "manifest.json").write_text("{")
    with pytest.raises(FormatError, match="JSON"):
        Pipeline.load(path)
    pipe.save(path)
    data = bytearray((path / "stage0.aft").read_bytes())
    data[-5] ^= 0xFF
    (path / "stage0.aft").write_bytes(bytes(data))
    with pytest.raises(FormatError):
        Pipeline.load(path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        pipe.save(tmp_path / "file")


def test_bad_arguments(case):
    vec, off, qs, _docs, queries, store, sparse, mv = case
    other = MultiVectorStore.build(vec[: off[10]], off[:11])
    with pytest.raises(TypeError, match="stages"):
        Pipeline("index", store)
    with pytest.raises(TypeError, match=r"stages\[1\]"):
        Pipeline([sparse, store], store)
    with pytest.raises(TypeError, match="rerank"):
        Pipeline(sparse, mv)
    with pytest.raises(ValueError, match="stages"):
        Pipeline([], store)
    with pytest.raises(ValueError, match="n_docs"):
        Pipeline(sparse, other)
    with pytest.raises(ValueError, match="n_candidates"):
        Pipeline(sparse, store, n_candidates=0)
    with pytest.raises(TypeError, match="n_candidates"):
        Pipeline(sparse, store, n_candidates=1.5)
    with pytest.raises(ValueError, match="fusion"):
        Pipeline([sparse, mv], store, fusion="max")
    with pytest.raises(ValueError, match="weights"):
        Pipeline([sparse, mv], store, weights=[1.0])
    with pytest.raises(ValueError, match="max_gap"):
        Pipeline(sparse, store, max_gap=-1.0)
    with pytest.raises(TypeError, match=r"stage_params\[0\]"):
        Pipeline(sparse, store, stage_params=[{"n_probe": 2}])
    with pytest.raises(ValueError, match="stage_params"):
        Pipeline(sparse, store, stage_params=[{}, {}])
    pipe = Pipeline([sparse, mv], store)
    with pytest.raises(ValueError, match="sparse_queries"):
        pipe.search(token_queries=qs)
    with pytest.raises(ValueError, match="token_queries"):
        pipe.search(queries)
    with pytest.raises(ValueError, match="token_queries"):
        pipe.search(queries, qs[:3])
    with pytest.raises(ValueError, match="k"):
        pipe.search(queries, qs, 0)
    with pytest.raises(ValueError, match="token_queries"):
        Pipeline(sparse, None).search(queries, qs)
    with pytest.raises(ValueError, match="depth"):
        fuse([SearchResult(np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int64))], 0)


def _reference_hybrid(vec, off, docs, query_tokens, sparse_query, cand, w, k):
    """float64 z(MaxSim) + w z(sparse) over the candidates, best first, ties to smaller id."""
    cand = np.array(sorted({int(c) for c in cand if c >= 0}))
    maxsim = reference_maxsim(vec, off, query_tokens)[cand]
    sparse = (docs[cand] @ sparse_query.T).toarray().ravel().astype(np.float64)

    def z(x):
        sd = x.std()
        return (x - x.mean()) / (sd if sd > 0 else 1.0)

    mixed = z(maxsim) + w * z(sparse)
    order = sorted(range(len(cand)), key=lambda i: (-mixed[i], cand[i]))[:k]
    return cand[order], mixed[order]


@pytest.mark.parametrize("w", [0.1, 0.7])
def test_interpolate_equals_reference(case, w):
    vec, off, qs, docs, queries, store, sparse, mv = case
    pipe = Pipeline([sparse, mv], store, n_candidates=25, interpolate=w)
    got = pipe.search(queries, qs, 8)
    cand = fuse([sparse.search(queries, 25), mv.search(qs, 25)], 25).ids
    for i, q in enumerate(qs):
        ids, mixed = _reference_hybrid(vec, off, docs, q, queries[i], cand[i], w, 8)
        np.testing.assert_allclose(got.scores[i, : len(ids)], mixed, rtol=1e-4, atol=1e-4)
        # the same documents in the same order, up to float32 near-ties
        ties = np.isclose(got.scores[i, : len(ids)][:, None], mixed[None, :], atol=2e-4)
        assert all(ties[j, list(ids).index(d)] for j, d in enumerate(got.ids[i, : len(ids)]))
    # interpolate 0 is the plain rerank; saved and loaded with the pipeline
    assert Pipeline([sparse, mv], store, n_candidates=25).interpolate == 0.0


def test_interpolate_round_trip_and_bad_values(case, tmp_path):
    _, _, qs, _, queries, store, sparse, mv = case
    pipe = Pipeline(sparse, store, n_candidates=20, interpolate=0.2)
    pipe.save(tmp_path / "p")
    loaded = Pipeline.load(tmp_path / "p")
    assert loaded.interpolate == 0.2
    np.testing.assert_array_equal(pipe.search(queries, qs, 5).ids, loaded.search(queries, qs, 5).ids)
    # a manifest of a pipeline saved before `interpolate` existed still loads (as 0)
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    del manifest["params"]["interpolate"]
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(manifest))
    assert Pipeline.load(tmp_path / "p").interpolate == 0.0
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="interpolate"):
            Pipeline(sparse, store, interpolate=bad)
    with pytest.raises(ValueError, match="interpolate"):
        Pipeline(mv, store, interpolate=0.1)  # no sparse stage
    with pytest.raises(ValueError, match="interpolate"):
        Pipeline(sparse, None, interpolate=0.1)  # no rerank
    # fewer candidates than k: padded like every result
    few = Pipeline(sparse, store, n_candidates=3, interpolate=0.5).search(queries, qs, 6)
    assert few.ids.shape == (len(qs), 6) and (few.ids[:, 3:] == -1).all()
    assert np.isneginf(few.scores[:, 3:]).all()


def test_pipeline_of_living_indexes_saves_directories(case, tmp_path):
    """Stages and store with their own ids, adds and deletes save as directories inside the
    pipeline's; their size is the sum of their files, so a damaged segment is caught."""
    vec, off, qs, docs, queries, _, _, _ = case
    ids = 10 + 3 * np.arange(300)
    sparse = SparseIndex.build(docs[:300], ids=ids, precision="fp32", num_threads=1)
    store = MultiVectorStore.build(vec[: off[300]], off[:301], ids=ids)
    extra = np.array([5000, 5001])
    sparse.add(docs[300:302], ids=extra)
    store.add(vec[off[300] : off[302]], off[300:303] - off[300], ids=extra)
    sparse.delete([13])
    store.delete([13])
    pipe = Pipeline(sparse, store, n_candidates=50, interpolate=0.1)
    got = pipe.search(queries, qs, 5)
    assert not np.isin(got.ids, [13]).any()
    path = tmp_path / "pipe"
    pipe.save(path)
    assert (path / "stage0.aft").is_dir() and (path / "rerank.aft").is_dir()
    loaded = Pipeline.load(path)
    again = loaded.search(queries, qs, 5)
    np.testing.assert_array_equal(again.ids, got.ids)
    np.testing.assert_array_equal(again.scores, got.scores)
    segment = next(p for p in (path / "stage0.aft").iterdir() if p.name.startswith("seg-"))
    segment.write_bytes(segment.read_bytes()[:-1])
    with pytest.raises(FormatError, match="stages.0.: stage0.aft has .* bytes, the manifest says"):
        Pipeline.load(path)
