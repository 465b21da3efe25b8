"""MultiVectorIndex.load(path, mmap=True) (centroid and MUVERA, every stored precision): a
mapped index searches exactly like the same file loaded into memory; a truncated file is
refused at load; with verify every damaged file of the damage tests is refused, and a file
whose checksums are valid but whose mapped content breaks an invariant is refused by
verify(); info() reports the mapping; a living index's segment directory maps too."""

from __future__ import annotations

import os
import pickle

import aftershock
import numpy as np
import pytest
from aftershock import FormatError, MultiVectorIndex
from aftfile import assert_every_byte_flip_refused, edit_section
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(os.name != "posix", reason="memory mapping is POSIX only")

PRECISIONS = ["fp32", "fp16", "bf16", "int8", "res1", "res2", "res4"]
METHODS = ["centroid", "muvera"]


def _ragged(rng, n_docs, dim, hi=40):
    lengths = rng.integers(1, hi, size=n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), dim)).astype(np.float32)
    return vectors, offsets


def _same(a, b):
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)


def _without_mapping(info):
    stats = {k: v for k, v in info["stats"].items() if k != "mapping"}
    return {**info, "stats": stats}


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(METHODS),
    st.sampled_from(PRECISIONS),
    st.integers(0, 2**20),
    st.integers(1, 60),
    st.sampled_from([3, 8, 16, 33]),
    st.integers(1, 12),
)
def test_mapped_search_equals_in_memory(tmp_path_factory, method, precision, seed, n_docs, dim, k):
    rng = np.random.default_rng(seed)
    vectors, offsets = _ragged(rng, n_docs, dim)
    ix = MultiVectorIndex.build(vectors, offsets, method=method, precision=precision, seed=seed, num_threads=1)
    path = tmp_path_factory.mktemp("mm") / "ix.aft"
    ix.save(path)
    queries = [rng.standard_normal((int(m), dim)).astype(np.float32) for m in rng.integers(1, 10, size=4)]
    memory = MultiVectorIndex.load(path)
    for verify in (False, True):
        mapped = MultiVectorIndex.load(path, mmap=True, verify=verify)
        assert mapped.info()["stats"]["mapping"]["is_mapped"]
        for kwargs in ({}, {"n_candidates": n_docs}):
            _same(mapped.search(queries, k, **kwargs), memory.search(queries, k, **kwargs))
        _same(mapped.search_exact(queries, k), memory.search_exact(queries, k))
        assert mapped.to_bytes() == memory.to_bytes() == path.read_bytes()
        assert _without_mapping(mapped.info()) == _without_mapping(memory.info())
        mapped.verify()


@pytest.mark.parametrize("method", METHODS)
def test_fixture_indexes_pickle_populate_and_info(tmp_path, data, method, centroid_index, muvera_index):
    _, _, queries = data
    index = centroid_index if method == "centroid" else muvera_index
    path = tmp_path / "ix.aft"
    index.save(path)
    want = index.search(queries, k=10)
    mapped = MultiVectorIndex.load(path, mmap=True, populate=True)
    _same(mapped.search(queries, k=10), want)
    m = mapped.info()["stats"]["mapping"]
    assert m["is_mapped"] and m["mapped_bytes"] == os.path.getsize(path)
    assert m["resident_bytes"] == m["mapped_bytes"]  # populated, and just written
    assert MultiVectorIndex.load(path).info()["stats"]["mapping"] == {
        "is_mapped": False, "mapped_bytes": 0, "resident_bytes": 0}
    clone = pickle.loads(pickle.dumps(mapped))  # pickles the bytes: an in-memory index
    assert not clone.info()["stats"]["mapping"]["is_mapped"]
    _same(clone.search(queries, k=10), want)
    clone.verify()  # in memory: nothing to do
    mapped.verify()


def test_mapping_outlives_the_path(tmp_path, data, centroid_index):
    _, _, queries = data
    path = tmp_path / "ix.aft"
    centroid_index.save(path)
    mapped = MultiVectorIndex.load(path, mmap=True)
    os.unlink(path)
    _same(mapped.search(queries, k=10), centroid_index.search(queries, k=10))


@pytest.mark.parametrize("method", METHODS)
def test_damaged_files_of_the_persistence_tests(tmp_path, method, centroid_index, muvera_index):
    """The flips and cuts of test_persistence.py: FormatError under mmap=True, verify=True,
    and (flips) from load(mmap=True) or its verify(); cuts already at the mapped load."""
    index = centroid_index if method == "centroid" else muvera_index
    blob = index.to_bytes()
    rng = np.random.default_rng(0)
    path = tmp_path / "bad.aft"
    for pos in [0, 9, 70, len(blob) // 3, len(blob) // 2, len(blob) - 65] + list(rng.integers(0, len(blob), 5)):
        bad = bytearray(blob)
        bad[pos] ^= 0x40
        path.write_bytes(bytes(bad))
        with pytest.raises(FormatError):
            MultiVectorIndex.load(path, mmap=True, verify=True)
        with pytest.raises(FormatError):
            MultiVectorIndex.load(path, mmap=True).verify()
    for size in [0, 10, 64, 200, len(blob) // 2, len(blob) - 1]:
        path.write_bytes(blob[:size])
        for verify in (False, True):
            with pytest.raises(FormatError):
                MultiVectorIndex.load(path, mmap=True, verify=verify)
    path.write_bytes(blob + b"\0" * 64)
    with pytest.raises(FormatError):
        MultiVectorIndex.load(path, mmap=True)


@pytest.mark.parametrize(("method", "precision"), [("centroid", "res2"), ("muvera", "int8"), ("centroid", "fp16")])
def test_every_byte_flip_is_found_by_verify(tmp_path, method, precision):
    rng = np.random.default_rng(3)
    vectors, offsets = _ragged(rng, 6, 5, hi=20)
    params = {"n_centroids": 4} if method == "centroid" else {"k_sim": 1, "r_reps": 1, "d_proj": 2}
    ix = MultiVectorIndex.build(vectors, offsets, method=method, precision=precision, **params)
    path = tmp_path / "tiny.aft"
    ix.save(path)
    assert_every_byte_flip_refused(path, aftershock._core.MultiVectorIndex.load, FormatError)  # the core: thousands of loads


def _sealed_damage(tmp_path, blob, tag, dtype, edit):
    path = tmp_path / f"{tag}.aft"
    path.write_bytes(edit_section(blob, tag, dtype, edit))
    return path


def _assert_refused_by_verify_only(path):
    """Valid checksums, broken content of a mapped section: a mapped load without verify
    trusts it (open does not read it); verify() and verify=True refuse it, and so does the
    in-memory load."""
    mapped = MultiVectorIndex.load(path, mmap=True)
    with pytest.raises(FormatError):
        mapped.verify()
    with pytest.raises(FormatError):
        MultiVectorIndex.load(path, mmap=True, verify=True)


def test_content_checks_of_verify(tmp_path):
    rng = np.random.default_rng(5)
    vectors, offsets = _ragged(rng, 40, 16)
    centroid = MultiVectorIndex.build(vectors, offsets, method="centroid", precision="res2", n_centroids=8).to_bytes()

    def code_out_of_range(a):
        a[3] = 60000

    def swap_two_codes(a):
        a[0], a[1] = a[1], a[0]

    for tag, dtype, edit in [
        ("CDCO", np.uint16, code_out_of_range),   # the in-memory load refuses it
        ("CDCO", np.uint16, swap_two_codes),      # unsorted codes
        ("CLDO", np.uint32, swap_two_codes),      # stored lists disagree with the codes
        ("MVCD", np.uint16, code_out_of_range),   # a residual centroid code
        ("MVNM", np.float64, lambda a: a.__setitem__(0, a[0] * 2)),  # stored norm disagrees
    ]:
        path = _sealed_damage(tmp_path, centroid, tag, dtype, edit)
        _assert_refused_by_verify_only(path)
        if tag in ("CDCO", "MVCD"):
            with pytest.raises(FormatError):
                MultiVectorIndex.load(path)
    muvera = MultiVectorIndex.build(vectors, offsets, method="muvera", precision="int8", fde_precision="fp32").to_bytes()
    for tag, dtype, edit in [
        ("FDEV", np.float32, lambda a: a.__setitem__(5, np.nan)),
        ("MVBI", np.int32, lambda a: a.__setitem__(0, a[0] + 1)),
        ("MVSC", np.float32, lambda a: a.__setitem__(0, -1.0)),
    ]:
        _assert_refused_by_verify_only(_sealed_damage(tmp_path, muvera, tag, dtype, edit))
    fp16 = MultiVectorIndex.build(vectors, offsets, method="centroid", precision="fp16").to_bytes()
    # The padding lanes of the first document's last panel (its length is not a multiple of 16).
    n0 = int(offsets[1])
    if n0 % 16:
        def pad_lane(a):
            a[n0 % 16] ^= 0x1  # dimension 0 of the first padding lane of panel 0 (n0 < 16 here)
        if n0 < 16:
            _assert_refused_by_verify_only(_sealed_damage(tmp_path, fp16, "MVDA", np.uint16, pad_lane))


def test_bad_arguments_name_the_argument(tmp_path, centroid_index):
    path = tmp_path / "ix.aft"
    centroid_index.save(path)
    with pytest.raises(ValueError, match="verify"):
        MultiVectorIndex.load(path, verify=False)
    with pytest.raises(ValueError, match="populate"):
        MultiVectorIndex.load(path, populate=True)
    with pytest.raises(TypeError, match="mmap"):
        MultiVectorIndex.load(path, mmap="yes")
    with pytest.raises(TypeError, match="verify"):
        MultiVectorIndex.load(path, mmap=True, verify=1)
    with pytest.raises(TypeError, match="populate"):
        MultiVectorIndex.load(path, mmap=True, populate=None)
    with pytest.raises(ValueError, match="mmap"):
        aftershock._core.MultiVectorIndex.load(str(path), verify=False)
    with pytest.raises(OSError):
        MultiVectorIndex.load(tmp_path / "missing.aft", mmap=True)


@pytest.mark.parametrize("method", METHODS)
def test_living_directory_maps(tmp_path, method):
    rng = np.random.default_rng(9)
    vectors, offsets = _ragged(rng, 60, 12)
    ix = MultiVectorIndex.build(vectors, offsets, method=method, precision="res4", ids=np.arange(100, 160))
    more, more_offsets = _ragged(rng, 10, 12)
    ix.add(more, more_offsets, ids=np.arange(500, 510))
    ix.delete([101, 503])
    path = tmp_path / "living"
    ix.save(path)
    assert os.path.isdir(path)
    queries = [rng.standard_normal((5, 12)).astype(np.float32) for _ in range(3)]
    memory = MultiVectorIndex.load(path)
    mapped = MultiVectorIndex.load(path, mmap=True, verify=True)
    assert mapped.info()["stats"]["mapping"]["is_mapped"]
    assert mapped.info()["stats"]["mapping"]["mapped_bytes"] > 0
    for kwargs in ({}, {"n_candidates": 100}):
        _same(mapped.search(queries, 5, **kwargs), memory.search(queries, 5, **kwargs))
    mapped.verify()
