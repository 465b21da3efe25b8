"""SparseIndex.load(path, mmap=True): a mapped index searches exactly like the same file
loaded into memory; truncation is refused at load; with verify every damaged file of the
damage tests is refused; info() reports the mapping; processes share one file; the mapping
outlives the path."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aftershock
from aftershock import SparseIndex
from aftershock.datasets import synthetic_sparse
from aftfile import assert_every_byte_flip_refused, edit_section, rename_section, replace_sections, sections
from strategies import csr_batches

from .test_file_checks import STRUCTURAL_DAMAGE

pytestmark = pytest.mark.skipif(os.name != "posix", reason="memory mapping is POSIX only")


def _assert_same(a, b):
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)


@settings(max_examples=25, deadline=None)
@given(
    csr_batches(n_rows=st.integers(1, 60)),
    st.integers(0, 2**20),
    st.sampled_from(["fp16", "fp32"]),
    st.integers(0, 3),
    st.integers(1, 10),
)
def test_mapped_search_equals_in_memory(tmp_path_factory, docs, seed, precision, knn, k):
    rng = np.random.default_rng(seed)
    knn = min(knn, docs.shape[0] - 1)
    ix = SparseIndex.build(
        docs, precision=precision, knn=knn, centroid_fraction=float(rng.uniform(0.05, 1.0)),
        min_cluster_size=int(rng.integers(1, 4)), n_postings=int(rng.integers(1, 40)), seed=seed,
    )
    path = tmp_path_factory.mktemp("mm") / "ix.aft"
    ix.save(path)
    queries = docs[rng.integers(0, docs.shape[0], size=6)]
    memory = SparseIndex.load(path)
    for verify in (False, True):
        mapped = SparseIndex.load(path, mmap=True, verify=verify)
        assert mapped.info()["stats"]["mapping"]["is_mapped"]
        for kwargs in ({}, {"heap_factor": 0.0, "query_cut": 100}, {"n_knn": knn}):
            _assert_same(mapped.search(queries, k, **kwargs), memory.search(queries, k, **kwargs))
        assert mapped.to_bytes() == memory.to_bytes()
        assert mapped.info()["stats"]["forward_index_bytes"] == memory.info()["stats"]["forward_index_bytes"]


def test_mapped_synthetic_with_knn_pickle_and_populate(tmp_path, synthetic):
    docs, queries, _ = synthetic
    ix = SparseIndex.build(docs[:3000], knn=3)
    path = tmp_path / "ix.aft"
    ix.save(path)
    want = ix.search(queries, 10, n_knn=3)
    mapped = SparseIndex.load(path, mmap=True, populate=True)
    _assert_same(mapped.search(queries, 10, n_knn=3), want)
    clone = pickle.loads(pickle.dumps(mapped))  # pickles the bytes: an in-memory index
    assert not clone.info()["stats"]["mapping"]["is_mapped"]
    _assert_same(clone.search(queries, 10, n_knn=3), want)
    mapped.verify()
    clone.verify()  # in memory: checked at load, nothing to do
    assert {k: v for k, v in mapped.info().items() if k != "stats"} == {
        k: v for k, v in ix.info().items() if k != "stats"}


def test_info_reports_mapped_and_resident_bytes(tmp_path):
    docs, _ = synthetic_sparse(2000, 5, vocab_size=500, doc_nnz=20, seed=1)
    path = tmp_path / "ix.aft"
    SparseIndex.build(docs).save(path)
    memory = SparseIndex.load(path).info()["stats"]["mapping"]
    assert memory == {"is_mapped": False, "mapped_bytes": 0, "resident_bytes": 0}
    mapped = SparseIndex.load(path, mmap=True, populate=True)
    m = mapped.info()["stats"]["mapping"]
    assert m["is_mapped"] and m["mapped_bytes"] == os.path.getsize(path)
    assert 0 < m["resident_bytes"] <= m["mapped_bytes"]
    assert m["resident_bytes"] == m["mapped_bytes"]  # populated, and just written: in the page cache
    core = mapped._core
    assert core.is_mapped and core.mapped_bytes == m["mapped_bytes"]


def test_truncated_files_raise_on_load_without_verify(tmp_path):
    docs, _ = synthetic_sparse(300, 1, vocab_size=200, doc_nnz=10, seed=2)
    path = tmp_path / "ix.aft"
    SparseIndex.build(docs).save(path)
    data = path.read_bytes()
    for cut in (0, 10, 63, 64, 100, len(data) // 2, len(data) - 64, len(data) - 1):
        (tmp_path / "short").write_bytes(data[:cut])
        for verify in (False, True):
            with pytest.raises(aftershock.FormatError):
                SparseIndex.load(tmp_path / "short", mmap=True, verify=verify)
    # Extended (a file system appending garbage) is refused too: the header's size disagrees.
    (tmp_path / "long").write_bytes(data + b"\0" * 64)
    with pytest.raises(aftershock.FormatError, match="truncated or extended"):
        SparseIndex.load(tmp_path / "long", mmap=True)


def _load_bytes_mapped(tmp_path, data: bytes, verify: bool = True):
    p = tmp_path / "bad.aft"
    p.write_bytes(data)
    return SparseIndex.load(p, mmap=True, verify=verify)


def test_every_byte_flip_is_found_by_verify(tmp_path):
    """Every single-byte flip of a small index (the damage test of test_persistence.py):
    FormatError under mmap=True, verify=True, and from verify() after a load without it
    (or already at that load, for the header, table, padding and small sections)."""
    tiny_docs, _ = synthetic_sparse(30, 1, vocab_size=40, doc_nnz=5, seed=4)
    tiny = tmp_path / "tiny.aft"
    SparseIndex.build(tiny_docs).save(tiny)
    assert_every_byte_flip_refused(tiny, aftershock._core.SparseIndex.load, aftershock.FormatError)


def test_damaged_files_of_the_persistence_tests(tmp_path):
    docs, _ = synthetic_sparse(300, 1, vocab_size=200, doc_nnz=10, seed=2)
    data = SparseIndex.build(docs).to_bytes()
    for pos in [0, 9, 20, 40, 64, 100, len(data) - 1]:
        bad = bytearray(data)
        bad[pos] ^= 0x41
        with pytest.raises(aftershock.FormatError):
            _load_bytes_mapped(tmp_path, bytes(bad))
    major = bytearray(data)
    major[8] = 2
    with pytest.raises(aftershock.FormatError, match="format|checksum"):
        _load_bytes_mapped(tmp_path, bytes(major), verify=False)
    with pytest.raises(OSError):
        SparseIndex.load(tmp_path / "missing", mmap=True)


@pytest.mark.parametrize("tag,dtype,edit,message", STRUCTURAL_DAMAGE)
def test_structurally_damaged_files_raise_under_mmap_verify(tmp_path, tag, dtype, edit, message):
    """The files of test_file_checks.py (valid checksums, broken invariants): refused by a
    mapped load with verify, and by verify() after a mapped load without it."""
    docs, _ = synthetic_sparse(50, 1, vocab_size=60, doc_nnz=6, seed=5)
    bad = edit_section(SparseIndex.build(docs)._core.to_bytes(), tag, dtype, edit)
    with pytest.raises(aftershock.FormatError, match=message):
        _load_bytes_mapped(tmp_path, bad)
    with pytest.raises(aftershock.FormatError, match=message):
        _load_bytes_mapped(tmp_path, bad, verify=False).verify()


def test_other_damage_tests_under_mmap_verify(tmp_path):
    docs, _ = synthetic_sparse(50, 1, vocab_size=60, doc_nnz=6, seed=5)
    data = SparseIndex.build(docs)._core.to_bytes()
    with pytest.raises(aftershock.FormatError, match="appears twice"):
        _load_bytes_mapped(tmp_path, rename_section(data, "ST32", "ST16"), verify=False)
    _, offset, length = sections(data)["CONF"]
    lines = data[offset : offset + length].decode().splitlines()
    for key, value in [("centroid_fraction", "-1"), ("summary_energy", "0"), ("n_postings", "0")]:
        conf = "".join(f"{key}={value}\n" if line.startswith(key + "=") else line + "\n" for line in lines)
        with pytest.raises(aftershock.FormatError, match=key):
            _load_bytes_mapped(tmp_path, replace_sections(data, {"CONF": conf.encode()}), verify=False)
    # Section lengths that disagree with the metadata are refused without verify as well.
    prow = sections(data)["PROW"]
    short = data[prow[1] : prow[1] + prow[2] - 4]
    with pytest.raises(aftershock.FormatError):
        _load_bytes_mapped(tmp_path, replace_sections(data, {"PROW": short}), verify=False)


def test_a_run_out_of_order_is_found_by_verify(tmp_path):
    docs, _ = synthetic_sparse(3000, 1, vocab_size=400, doc_nnz=20, seed=7)
    data = SparseIndex.build(docs, n_postings=200)._core.to_bytes()
    _, off, length = sections(data)["SRUN"]
    starts = np.unpackbits(np.frombuffer(data[off : off + length], np.uint8), bitorder="little").astype(bool)
    e = int(np.flatnonzero(~starts[: sections(data)["EBLK"][2]])[0])
    bad = edit_section(data, "EBLK", np.uint8, lambda a: a.__setitem__(e, a[e - 1]))
    with pytest.raises(aftershock.FormatError, match="out of order"):
        _load_bytes_mapped(tmp_path, bad)
    with pytest.raises(aftershock.FormatError, match="out of order"):
        _load_bytes_mapped(tmp_path, bad, verify=False).verify()


def test_a_file_without_stored_samples_maps(tmp_path):
    """Files written before the stored rank and run samples (SRNK, SSMP) map too: theirs
    are derived at open (renamed sections are unknown tags, skipped as a newer file's are)."""
    docs, queries = synthetic_sparse(2000, 20, vocab_size=500, doc_nnz=20, seed=3)
    ix = SparseIndex.build(docs, knn=2)
    old = rename_section(rename_section(ix.to_bytes(), "SRNK", "XRNK"), "SSMP", "XSMP")
    for verify in (False, True):
        mapped = _load_bytes_mapped(tmp_path, old, verify=verify)
        _assert_same(mapped.search(queries, 10, n_knn=2), ix.search(queries, 10, n_knn=2))
        mapped.verify()


def test_layout4_file_maps(tmp_path):
    """A layout-4 file's rows are rewritten on load: mapped, they are copied into memory
    (and checked first); the index searches as the in-memory load does."""
    path = Path(__file__).resolve().parents[2] / "data" / "format_v1" / "sparse_layout4.aft"
    _, queries = synthetic_sparse(300, 5, vocab_size=500, doc_nnz=20, query_nnz=8, seed=5)
    memory, mapped = SparseIndex.load(path), SparseIndex.load(path, mmap=True)
    _assert_same(mapped.search(queries, 5), memory.search(queries, 5))
    mapped.verify()


def test_mapping_outlives_the_path(tmp_path):
    docs, queries = synthetic_sparse(2000, 20, vocab_size=500, doc_nnz=20, seed=3)
    path = tmp_path / "ix.aft"
    ix = SparseIndex.build(docs, knn=2)
    ix.save(path)
    want = ix.search(queries, 10, n_knn=2)
    mapped = SparseIndex.load(str(path), mmap=True)
    os.unlink(path)
    _assert_same(mapped.search(queries, 10, n_knn=2), want)
    # A new save over the path renames a new file there: the old mapping is untouched.
    SparseIndex.build(docs[:100]).save(path)
    _assert_same(mapped.search(queries, 10, n_knn=2), want)
    mapped.verify()


_CHILD = """
import sys, numpy as np
from aftershock import SparseIndex
from aftershock.datasets import synthetic_sparse
_, queries = synthetic_sparse(2000, 20, vocab_size=500, doc_nnz=20, seed=3)
ix = SparseIndex.load(sys.argv[1], mmap=True)
r = ix.search(queries, 10)
assert ix.info()["stats"]["mapping"]["is_mapped"]
np.save(sys.argv[2], np.concatenate([r.ids.astype(np.float64), r.scores.astype(np.float64)]))
"""


def test_two_processes_search_one_mapped_file(tmp_path):
    docs, queries = synthetic_sparse(2000, 20, vocab_size=500, doc_nnz=20, seed=3)
    path = tmp_path / "ix.aft"
    ix = SparseIndex.build(docs)
    ix.save(path)
    want = ix.search(queries, 10)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(tmp_path / f"out{i}.npy")], env=env)
        for i in range(2)
    ]
    assert [c.wait(timeout=120) for c in children] == [0, 0]
    for i in range(2):
        got = np.load(tmp_path / f"out{i}.npy")
        np.testing.assert_array_equal(got, np.concatenate([want.ids.astype(np.float64), want.scores.astype(np.float64)]))


def test_bad_arguments(tmp_path):
    docs, _ = synthetic_sparse(50, 1, vocab_size=60, doc_nnz=6, seed=5)
    path = tmp_path / "ix.aft"
    SparseIndex.build(docs).save(path)
    for kwargs, name in [({"mmap": 1}, "mmap"), ({"mmap": "yes"}, "mmap"), ({"mmap": True, "verify": 0}, "verify"),
                         ({"mmap": True, "populate": None}, "populate")]:
        with pytest.raises(TypeError, match=name):
            SparseIndex.load(path, **kwargs)
        with pytest.raises(TypeError, match=name):
            aftershock._core.SparseIndex.load(str(path), **kwargs)
    with pytest.raises(ValueError, match="verify"):
        SparseIndex.load(path, verify=False)
    with pytest.raises(ValueError, match="populate"):
        SparseIndex.load(path, populate=True)
    with pytest.raises(TypeError):
        SparseIndex.load(path, True)  # keyword-only
    with pytest.raises(ValueError, match="path"):
        SparseIndex.load("", mmap=True)
    with pytest.raises(ValueError, match="NUL"):
        SparseIndex.load(str(path) + "\0x", mmap=True)
    with pytest.raises(IsADirectoryError):
        aftershock._core.SparseIndex.load(str(tmp_path), mmap=True)
    assert SparseIndex.load(path, mmap=np.bool_(True)).info()["stats"]["mapping"]["is_mapped"]


def test_living_directory_loads_mapped(tmp_path):
    """A saved directory (several segments, deletes, own ids) loads mapped: the same
    results, every segment file mapped, verify() and verify=True pass; the multi-vector
    classes say they cannot map yet."""
    import scipy.sparse as sp

    docs = sp.random(300, 50, density=0.1, random_state=5, format="csr", dtype=np.float32)
    index = SparseIndex.build(docs[:200], ids=np.arange(200) * 3, n_postings=60, num_threads=1)
    index.add(docs[200:])
    index.delete([0, 3, 6])
    path = tmp_path / "living"
    index.save(path)
    queries = sp.random(6, 50, density=0.3, random_state=6, format="csr", dtype=np.float32)
    want = SparseIndex.load(path).search(queries, 7, heap_factor=0.0)
    for kw in ({"mmap": True}, {"mmap": True, "verify": True}, {"mmap": True, "populate": True}):
        mapped = SparseIndex.load(path, **kw)
        assert mapped.n_segments == index.n_segments == 2
        assert all(seg.core.is_mapped for seg in mapped._state.segments)
        got = mapped.search(queries, 7, heap_factor=0.0)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.scores, want.scores)
        mapped.verify()
    for cls in (aftershock.MultiVectorIndex, aftershock.MultiVectorStore):
        with pytest.raises(aftershock.FormatError):  # mappable too now: refused as another kind
            cls.load(path, mmap=True)
    with pytest.raises(TypeError, match="mmap"):
        SparseIndex.load(path, mmap="yes")
