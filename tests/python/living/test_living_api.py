"""The living index's API around the stateful tests: filters at every selectivity, ids,
errors, concurrency with one writer, crash safety of a directory save, old files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import aftershock as af
import numpy as np
import pytest
import scipy.sparse as sp
from aftershock._living import bits_of, merge_topk


def corpus(n, dim=300, density=0.05, seed=0):
    rng = np.random.default_rng(seed)
    m = sp.random(n, dim, density=density, random_state=rng, format="csr", dtype=np.float32)
    m.data = np.round(m.data * 16) + 1  # integer weights: exact float32 sums
    return m


def exact_filtered(docs, queries, k, allowed_rows, ids=None):
    """Top-k rows among allowed rows sharing a term with the query (ties: smaller id,
    ``ids[row]``, default the row)."""
    d = docs.toarray().astype(np.float64)
    q = queries.toarray().astype(np.float64)
    out = []
    for qi in range(q.shape[0]):
        s = d @ q[qi]
        share = ((d > 0) & (q[qi] > 0)).any(axis=1)
        c = np.array([r for r in allowed_rows if share[r]], dtype=np.int64)
        tie = c if ids is None else ids[c]
        order = c[np.lexsort((tie, -s[c]))][:k] if c.size else c
        out.append(list(order) + [-1] * (k - len(order)))
    return np.array(out)


def lossless_sparse(docs, **kw):
    return af.SparseIndex.build(docs, precision="fp32", pruning="fixed", n_postings=10**6, **kw)


# ------------------------------------------------------------------------- helpers
def test_bits_of_layout():
    mask = np.zeros(130, dtype=bool)
    mask[[0, 63, 64, 129]] = True
    words = bits_of(mask)
    assert words.dtype == np.uint64 and words.shape == (3,)
    assert words[0] == (1 | (1 << 63)) and words[1] == 1 and words[2] == 2


def test_merge_topk_orders_by_score_then_id():
    s1 = np.array([[3.0, 1.0, -np.inf]], np.float32)
    i1 = np.array([[7, 2, -1]])
    s2 = np.array([[3.0, 2.0, 1.0]], np.float32)
    i2 = np.array([[5, 9, 1]])
    s, i = merge_topk(s1, i1, s2, i2, 4)
    assert i.tolist() == [[5, 7, 9, 1]] and s.tolist() == [[3.0, 3.0, 2.0, 1.0]]


# ------------------------------------------------------------------------- filters
@pytest.mark.parametrize("n_allowed", [1, 3, 40, 400, 1500, 2000])
@pytest.mark.parametrize("segments", [1, 3])
def test_lossless_filtered_search_is_exact(n_allowed, segments):
    docs = corpus(2000)
    queries = corpus(12, seed=1)
    rng = np.random.default_rng(n_allowed)
    ext = rng.permutation(10_000)[:2000]  # ids unrelated to rows
    parts = np.array_split(np.arange(2000), segments)
    ix = lossless_sparse(docs[parts[0]], ids=ext[parts[0]])
    for p in parts[1:]:
        ix.add(docs[p], ids=ext[p])
    allowed_rows = np.sort(rng.choice(2000, n_allowed, replace=False))
    want_rows = exact_filtered(docs, queries, 10, allowed_rows, ext)
    want = np.where(want_rows >= 0, ext[np.maximum(want_rows, 0)], -1)
    for flt in (ext[allowed_rows], af.IdFilter(ext[allowed_rows])):
        got = ix.search(queries, 10, query_cut=1000, heap_factor=0.0, filter=flt)
        np.testing.assert_array_equal(got.ids, want)
    deny = np.setdiff1d(np.arange(2000), allowed_rows)
    got = ix.search(queries, 10, query_cut=1000, heap_factor=0.0, filter=af.IdFilter(ext[deny], exclude=True))
    np.testing.assert_array_equal(got.ids, want)


def test_filter_returns_k_live_results_when_they_exist():
    docs = corpus(3000, density=0.2)
    ix = af.SparseIndex.build(docs)
    ix.delete(np.arange(0, 3000, 2))  # every even id
    queries = corpus(20, density=0.2, seed=3)
    allowed = np.arange(0, 3000, 3)  # only odd multiples of 3 are live
    res = ix.search(queries, 10, filter=allowed)
    assert np.all(res.ids % 2 == 1) and np.all(res.ids % 3 == 0)
    assert np.all(res.ids >= 0)  # 500 allowed live documents, all sharing terms: k found


def test_filter_unknown_ids_match_nothing_and_bad_filters_raise():
    ix = af.SparseIndex.build(corpus(50))
    q = corpus(2, seed=1)
    res = ix.search(q, 5, filter=[10**9])
    assert np.all(res.ids == -1)
    with pytest.raises(TypeError, match="filter"):
        ix.search(q, 5, filter=np.array([0.5]))
    with pytest.raises(TypeError, match="exclude"):
        af.IdFilter([1], exclude="yes")


# ----------------------------------------------------------------------------- ids
def test_ids_errors_name_the_id():
    docs = corpus(10)
    with pytest.raises(ValueError, match="id 3 appears more than once"):
        af.SparseIndex.build(docs, ids=[0, 1, 2, 3, 3, 5, 6, 7, 8, 9])
    with pytest.raises(ValueError, match=">= 0"):
        af.SparseIndex.build(docs, ids=[-1] + list(range(9)))
    with pytest.raises(ValueError, match="10 ids"):
        af.SparseIndex.build(docs, ids=[1, 2])
    ix = af.SparseIndex.build(docs, ids=np.arange(100, 110))
    with pytest.raises(ValueError, match="id 105 is already in the index"):
        ix.add(corpus(1), ids=[105])
    with pytest.raises(KeyError, match="id 7"):
        ix.delete([100, 7])
    assert len(ix) == 10  # nothing deleted by the failed call
    with pytest.raises(KeyError, match="id 7"):
        ix.update(corpus(1), [7])
    ix.update(corpus(1), [7], missing="ignore")  # an upsert
    assert 7 in ix and len(ix) == 11
    assert ix.add(corpus(2)).tolist() == [110, 111]  # after the largest id ever assigned
    assert ix.contains([100, 5, 7]).tolist() == [True, False, True]


def test_user_ids_array_is_not_modified():
    ids = np.array([5, 3, 9], dtype=np.int64)
    ix = af.SparseIndex.build(corpus(3), ids=ids)
    assert ids.flags.writeable and ids.tolist() == [5, 3, 9]
    assert ix.ids().tolist() == [3, 5, 9]


def test_compact_keeps_ids_and_results():
    docs = corpus(1200)
    queries = corpus(10, seed=2)
    ix = lossless_sparse(docs[:1000])
    ix.add(docs[1000:])
    ix.delete(np.arange(0, 1200, 7))
    before = ix.search(queries, 10, query_cut=1000, heap_factor=0.0)
    ix.compact()
    assert ix.n_segments == 1 and ix.info()["stats"]["n_deleted"] == 0
    after = ix.search(queries, 10, query_cut=1000, heap_factor=0.0)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.scores, after.scores)


def test_merge_policy_bounds_segment_count():
    ix = af.SparseIndex.build(corpus(100))
    ix.merge_policy = af.TieredMergePolicy(segments_per_tier=4, max_merge_at_once=4, floor_docs=50)
    for i in range(20):
        ix.add(corpus(20, seed=10 + i))
    assert ix.n_segments <= 8
    assert len(ix) == 500


# --------------------------------------------------------------------- concurrency
def test_searches_see_whole_snapshots_while_one_writer_changes_the_index():
    docs = corpus(600, density=0.08)
    queries = corpus(8, density=0.08, seed=5)
    ix = lossless_sparse(docs[:300])
    versions = [frozenset(range(300))]  # the live rows after each write (ids = rows)
    lock = threading.Lock()
    errors = []

    def reference(live):
        return exact_filtered(docs, queries, 10, np.array(sorted(live)))

    def writer():
        live = set(range(300))
        rng = np.random.default_rng(0)
        for step in range(12):
            # The version is published before the write: a reader may see it from the
            # moment the write commits.
            if step % 2 == 0:
                new = np.arange(300 + 25 * step // 2, 300 + 25 * (step // 2 + 1))
                live |= set(new.tolist())
                with lock:
                    versions.append(frozenset(live))
                ix.add(docs[new], ids=new)
            else:
                gone = rng.choice(sorted(live), 15, replace=False)
                live -= set(gone.tolist())
                with lock:
                    versions.append(frozenset(live))
                ix.delete(gone)

    cache = {}

    def valid(ids) -> bool:
        with lock:
            seen = list(versions)
        for v in seen:
            if v not in cache:
                cache[v] = reference(v)
            if np.array_equal(ids, cache[v]):
                return True
        return False

    def reader():
        try:
            for _ in range(25):
                res = ix.search(queries, 10, query_cut=1000, heap_factor=0.0, num_threads=1)
                if not valid(res.ids):
                    errors.append(res.ids)
        except Exception as exc:  # noqa: BLE001 - any error in a reader thread is reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:1]


# ----------------------------------------------------------------------- files
def test_plain_index_saves_one_file_and_living_one_directory(tmp_path):
    docs = corpus(100)
    ix = af.SparseIndex.build(docs)
    ix.save(tmp_path / "plain.aft")
    assert (tmp_path / "plain.aft").is_file()
    ix.add(corpus(5, seed=1))
    with pytest.raises(ValueError, match="directory"):
        ix.save(tmp_path / "plain.aft")
    ix.save(tmp_path / "live")
    assert (tmp_path / "live" / "MANIFEST.json").is_file()
    back = af.SparseIndex.load(tmp_path / "live")
    assert back.n_segments == 2 and len(back) == 105
    # A second save after one more add writes only the new segment (and the manifest).
    names = set(os.listdir(tmp_path / "live"))
    back.add(corpus(3, seed=2))
    stamps = {n: os.stat(tmp_path / "live" / n).st_mtime_ns for n in names}
    back.save(tmp_path / "live")
    for n in names - {"MANIFEST.json"}:
        assert os.stat(tmp_path / "live" / n).st_mtime_ns == stamps[n]
    assert len(set(os.listdir(tmp_path / "live")) - names) == 1
    assert len(af.SparseIndex.load(tmp_path / "live")) == 108


def test_damaged_directory_raises_format_error(tmp_path):
    ix = af.SparseIndex.build(corpus(50), ids=np.arange(50) * 2)
    ix.delete([0, 2])
    ix.save(tmp_path / "d")
    manifest = tmp_path / "d" / "MANIFEST.json"
    text = manifest.read_bytes()
    manifest.write_bytes(text.replace(b'"next_id": 99', b'"next_id": 98'))
    with pytest.raises(af.FormatError, match="checksum"):
        af.SparseIndex.load(tmp_path / "d")
    manifest.write_bytes(text)
    dels = [p for p in (tmp_path / "d").iterdir() if p.name.startswith("del-")]
    raw = bytearray(dels[0].read_bytes())
    raw[0] ^= 1
    dels[0].write_bytes(bytes(raw))
    with pytest.raises(af.FormatError):
        af.SparseIndex.load(tmp_path / "d")
    with pytest.raises(af.FormatError, match="MultiVectorIndex|SparseIndex"):
        af.MultiVectorIndex.load(tmp_path / "d")


_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np, scipy.sparse as sp
    import aftershock as af
    import aftershock._living as living

    real = living.write_atomic
    def slow(path, data):  # widen the window a kill can land in
        real(path, data)
        time.sleep(0.05)
    living.write_atomic = slow
    path = sys.argv[1]
    ix = af.SparseIndex.load(path)
    rng = np.random.default_rng(int(sys.argv[2]))
    for i in range(4):
        m = sp.random(20, 300, density=0.05, random_state=rng, format="csr", dtype=np.float32)
        ix.add(m)
    ix.delete(ix.ids()[:5])
    print("saving", flush=True)
    ix.save(path)
    print("saved", flush=True)
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.2, 0.3])
def test_save_killed_midway_leaves_previous_index_loadable(tmp_path, delay):
    path = tmp_path / "idx"
    ix = af.SparseIndex.build(corpus(200), ids=np.arange(200) + 1000)
    ix.add(corpus(10, seed=1))
    ix.save(path)
    before = set(ix.ids().tolist())
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(int(delay * 100))],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "saving"
    import time

    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    back = af.SparseIndex.load(path)
    ids = set(back.ids().tolist())
    assert ids == before or (len(ids) == len(before) + 80 - 5 and before - ids and len(before - ids) == 5)
    back.search(corpus(3, seed=9), 5)  # and it searches


@pytest.mark.parametrize("segments", [1, 2])
def test_materialized_filter_is_exact_in_the_lossless_setting_and_cached(segments):
    docs = corpus(3000)
    queries = corpus(10, seed=4)
    parts = np.array_split(np.arange(3000), segments)
    ix = lossless_sparse(docs[parts[0]])
    for p in parts[1:]:
        ix.add(docs[p], ids=p)
    allowed = np.arange(0, 3000, 3)  # 1,000 documents: above the planner's exact threshold per segment? no matter
    flt = af.IdFilter(allowed, materialize=True)
    ix.delete([3, 6])
    live_allowed = np.setdiff1d(allowed, [3, 6])
    want = exact_filtered(docs, queries, 10, live_allowed)
    cls = type(ix)
    planner = cls._plan_exact
    cls._plan_exact = lambda *a: False  # force the approximate path, i.e. the materialized view
    try:
        got = ix.search(queries, 10, query_cut=1000, heap_factor=0.0, filter=flt)
        assert flt.size_bytes > 0
        again = ix.search(queries, 10, query_cut=1000, heap_factor=0.0, filter=flt)
    finally:
        cls._plan_exact = planner
    np.testing.assert_array_equal(got.ids, want)
    np.testing.assert_array_equal(again.ids, want)
    assert len(flt._views) == segments


def test_materialized_filter_on_a_multivector_index():
    rng = np.random.default_rng(0)
    docs = [rng.integers(-2, 3, size=(rng.integers(1, 5), 8)).astype(np.float32) for _ in range(300)]
    queries = [rng.integers(-2, 3, size=(3, 8)).astype(np.float32) for _ in range(5)]
    ix = af.MultiVectorIndex.build(docs, n_centroids=8)
    allowed = np.arange(0, 300, 2)
    flt = af.IdFilter(allowed, materialize=True)
    got = ix.search(queries, 5, n_candidates=10_000, filter=flt)
    store = af.MultiVectorStore.build([docs[i] for i in allowed])
    want = store.search(queries, 5)
    np.testing.assert_array_equal(got.ids, allowed[want.ids])


@pytest.mark.parametrize("as_bytes", [False, True])
def test_next_id_survives_compaction_to_row_numbers_and_save(tmp_path, as_bytes):
    """Deleting the largest id and compacting leaves ids that equal row numbers; the saved
    index must still continue after the deleted id (a single file would not record it), as
    the hypothesis state machine found."""
    docs = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32))
    ix = af.SparseIndex.build(docs)
    ix.delete([1])
    ix.compact()
    if as_bytes:
        back = af.SparseIndex.from_bytes(ix.to_bytes())
    else:
        ix.save(tmp_path / "ix")
        back = af.SparseIndex.load(tmp_path / "ix")
    assert list(back.add(docs[:1])) == [2]
