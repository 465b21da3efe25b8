"""One core call over all segments (``_core.search_segments``, used by
``SparseIndex._search_steps``) against the per-segment loop it replaces
(``_segment_loop = True``): equal ids and scores bit for bit, and equal work counters, over
random multi-segment indexes with deletes and updates, allow/deny filters, the planner's
exact path, materialized views, k beyond the live count and 1..4 threads."""

from __future__ import annotations

import aftershock as af
import numpy as np
import pytest
import scipy.sparse as sp
from aftershock import _core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def random_docs(rng, n, dim):
    m = sp.random(n, dim, density=0.08, random_state=rng, format="csr", dtype=np.float32)
    m.data = (rng.exponential(1.0, m.nnz) + 0.01).astype(np.float32)  # not integers: rounding matters
    return m


def both(ix, queries, k, **kw):
    """(scores, ids, stats table) from the one-call path and from the loop."""
    out = []
    calls = []
    one_call = ix._search_steps

    def counted(*args):
        calls.append(1)
        return one_call(*args)

    ix._search_steps = counted
    for loop in (False, True):
        ix._segment_loop = loop
        r = ix.search_stats(queries, k, **kw)
        table = np.stack(
            [r[c] for c in ("lists", "blocks", "blocks_visited", "postings", "docs_scored")], axis=1
        )
        out.append((r["scores"], r["ids"], table))
    del ix._segment_loop, ix._search_steps
    # The one call ran (once, not under the loop) whenever anything could be returned.
    assert len(calls) <= 1
    if (out[1][1] >= 0).any():
        assert calls == [1]
    return out


@st.composite
def living_case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dim = draw(st.sampled_from([40, 120]))
    sizes = draw(st.lists(st.integers(1, 120), min_size=1, max_size=4))
    knn = draw(st.sampled_from([0, 0, 2]))
    return seed, rng, dim, sizes, knn


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=living_case(), data=st.data())
def test_one_call_equals_the_segment_loop(case, data):
    seed, rng, dim, sizes, knn = case
    n_postings = data.draw(st.sampled_from([8, 30, 1000]), label="n_postings")
    precision = data.draw(st.sampled_from(["fp16", "fp32"]), label="precision")
    if knn:  # every segment (added, updated or merged) needs more than knn documents
        sizes = [max(n, 10) for n in sizes]
    docs = random_docs(rng, sizes[0], dim)
    ix = af.SparseIndex.build(
        docs,
        n_postings=n_postings,
        precision=precision,
        knn=knn,
        seed=seed % 1000,
        ids=None if data.draw(st.booleans(), label="identity") else rng.permutation(sizes[0]) * 3,
    )
    for n in sizes[1:]:
        ix.add(random_docs(rng, n, dim))
    live = ix.ids()
    if not knn and data.draw(st.booleans(), label="delete") and len(live) > 1:
        ix.delete(rng.choice(live, size=int(rng.integers(1, len(live))), replace=False))
    if data.draw(st.booleans(), label="update") and len(ix) > 0:
        some = rng.choice(ix.ids(), size=min(len(ix), 5), replace=False)
        ix.update(random_docs(rng, len(some), dim), ids=some)
    live = ix.ids()
    queries = random_docs(rng, int(rng.integers(1, 8)), dim)

    kind = data.draw(st.sampled_from(["none", "allow", "deny", "materialize"]), label="filter")
    if knn and kind == "materialize":  # a view of fewer than knn + 1 documents cannot build its graph
        kind = "allow"
    flt = None
    if kind != "none" and len(live):
        chosen = rng.choice(live, size=int(rng.integers(1, len(live) + 1)), replace=False)
        chosen = np.concatenate([chosen, [10**9]])  # an id the index lacks matches nothing
        flt = af.IdFilter(chosen, exclude=kind == "deny", materialize=kind == "materialize")
    planner = data.draw(st.sampled_from(["planner", "exact", "approximate", "alternate"]), label="planner")
    k = data.draw(st.sampled_from([1, 3, 10, len(live) + 5]), label="k")
    kw = {
        "query_cut": data.draw(st.sampled_from([1, 3, 1000]), label="query_cut"),
        "heap_factor": data.draw(st.sampled_from([0.0, 0.5, 0.8, 1.2]), label="heap_factor"),
        "n_knn": data.draw(st.sampled_from([0, 2]), label="n_knn"),
        "filter": flt,
    }
    cls = type(ix)
    original = cls._plan_exact
    if planner == "exact":
        cls._plan_exact = lambda self, seg, n, k, opts: True
    elif planner == "approximate":
        cls._plan_exact = lambda self, seg, n, k, opts: False
    elif planner == "alternate":  # the same choice per segment on both paths
        cls._plan_exact = lambda self, seg, n, k, opts: int(seg.uid, 16) % 2 == 0
    try:
        for threads in (1, data.draw(st.integers(2, 4), label="threads")):
            (s1, i1, t1), (s2, i2, t2) = both(ix, queries, k, num_threads=threads, **kw)
            assert s1.dtype == np.float32 and i1.dtype == np.int64
            np.testing.assert_array_equal(i1, i2)
            assert s1.tobytes() == s2.tobytes()
            np.testing.assert_array_equal(t1, t2)
    finally:
        cls._plan_exact = original


def test_search_segments_validates_its_arguments():
    rng = np.random.default_rng(0)
    ix = af.SparseIndex.build(random_docs(rng, 100, 40))
    core = ix._state.segments[0].core
    q = random_docs(rng, 2, 40)
    args = (q.indptr.astype(np.int64), q.indices.astype(np.uint32), q.data.astype(np.float32), 40)
    kw = {"k": 5, "query_cut": 5, "n_knn": 0, "num_threads": 1}
    ok = (core, None, None, 0.8, None)
    s, i = _core.search_segments([ok], *args, **kw)
    assert s.shape == (2, 5) and i.dtype == np.int64
    with pytest.raises(TypeError, match=r"segments\[1\]"):
        _core.search_segments([ok, (core, None, None, 0.8)], *args, **kw)
    with pytest.raises(TypeError, match=r"segments\[0\]\[0\]"):
        _core.search_segments([("core", None, None, 0.8, None)], *args, **kw)
    with pytest.raises(ValueError, match=r"segments\[0\]\.allowed"):
        _core.search_segments([(core, np.zeros(1, np.uint64), None, 0.8, None)], *args, **kw)
    with pytest.raises(TypeError, match=r"segments\[0\]\.allowed"):
        _core.search_segments([(core, np.zeros(2, np.int64), None, 0.8, None)], *args, **kw)
    with pytest.raises(ValueError, match=r"segments\[0\]\.ids"):
        _core.search_segments([(core, None, np.arange(99, dtype=np.int64), 0.8, None)], *args, **kw)
    with pytest.raises(TypeError, match=r"segments\[0\]\.ids"):
        _core.search_segments([(core, None, np.arange(100, dtype=np.int32), 0.8, None)], *args, **kw)
    with pytest.raises(ValueError, match=r"segments\[0\]\.ids"):
        _core.search_segments([(core, None, np.arange(200, dtype=np.int64)[::2], 0.8, None)], *args, **kw)
    with pytest.raises(ValueError, match=r"segments\[0\]\.heap_factor"):
        _core.search_segments([(core, None, None, float("nan"), None)], *args, **kw)
    with pytest.raises(TypeError, match=r"segments\[0\]\.heap_factor"):
        _core.search_segments([(core, None, None, "0.8", None)], *args, **kw)
    with pytest.raises(ValueError, match=r"segments\[0\]\.exact_rows"):
        _core.search_segments([(core, None, None, 0.8, np.array([3, 2], np.uint32))], *args, **kw)
    with pytest.raises(ValueError, match=r"segments\[0\]\.exact_rows"):
        _core.search_segments([(core, None, None, 0.8, np.array([100], np.uint32))], *args, **kw)
    with pytest.raises(ValueError, match="queries"):
        _core.search_segments([ok], *args[:3], 41, **kw)
    with pytest.raises(ValueError, match="k"):
        _core.search_segments([ok], *args, **{**kw, "k": 0})
    s, i = _core.search_segments([], *args, **kw)
    assert (i == -1).all() and np.isneginf(s).all()


def test_segments_and_views_smaller_than_knn():
    """An add (or a materialized view) of fewer than knn + 1 documents builds a segment
    whose graph holds every other document; searching with n_knn still works."""
    docs = sp.random(100, 30, density=0.2, random_state=1, format="csr", dtype=np.float32)
    index = af.SparseIndex.build(docs, knn=5, num_threads=1)
    for n, seed in ((3, 2), (1, 3)):
        index.add(sp.random(n, 30, density=0.3, random_state=seed, format="csr", dtype=np.float32))
    assert index.n_segments == 3
    queries = docs[:4]
    got = index.search(queries, 3, n_knn=5)
    assert (got.ids >= 0).all()
    view = af.IdFilter(np.arange(0, 104, 30), materialize=True)
    filtered = index.search(queries, 3, filter=view, n_knn=5)
    assert np.isin(filtered.ids[filtered.ids >= 0], np.arange(0, 104, 30)).all()
