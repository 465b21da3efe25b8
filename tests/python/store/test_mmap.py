"""MultiVectorStore.load(path, mmap=True), every stored precision: a mapped store scores
exactly like the same file loaded into memory; a truncated file is refused at load; with
verify every damaged file is refused, and a file whose checksums are valid but whose mapped
content breaks an invariant is refused by verify(); info() reports the mapping."""

from __future__ import annotations

import os
import pickle

import aftershock
import numpy as np
import pytest
from aftershock import FormatError, MultiVectorStore
from aftfile import assert_every_byte_flip_refused, edit_section
from hypothesis import given, settings
from hypothesis import strategies as st
from maxsim.reference import PRECISIONS

pytestmark = pytest.mark.skipif(os.name != "posix", reason="memory mapping is POSIX only")
ALL = [*PRECISIONS, "res1", "res2", "res4"]


def _docs(rng, n_docs, dim, hi=40):
    return [rng.standard_normal((int(n), dim)).astype(np.float32) for n in rng.integers(1, hi, size=n_docs)]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(ALL), st.integers(0, 2**20), st.integers(1, 50), st.sampled_from([1, 3, 8, 13, 16, 33]))
def test_mapped_scores_equal_in_memory(tmp_path_factory, precision, seed, n_docs, dim):
    rng = np.random.default_rng(seed)
    docs = _docs(rng, n_docs, dim)
    store = MultiVectorStore.build(docs, precision=precision, num_threads=1)
    path = tmp_path_factory.mktemp("mm") / "store.aft"
    store.save(path)
    queries = _docs(rng, 4, dim, hi=10)
    memory = MultiVectorStore.load(path)
    for verify in (False, True):
        mapped = MultiVectorStore.load(path, mmap=True, verify=verify)
        assert mapped.info()["stats"]["mapping"]["is_mapped"]
        np.testing.assert_array_equal(mapped.maxsim_batch(queries), memory.maxsim_batch(queries))
        a, b = mapped.search(queries, 5), memory.search(queries, 5)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
        for i in (0, n_docs - 1):
            np.testing.assert_array_equal(mapped.doc(i), memory.doc(i))
        assert mapped.to_bytes() == memory.to_bytes() == path.read_bytes()
        assert mapped.size_bytes == memory.size_bytes
        mapped.verify()


@pytest.mark.parametrize("precision", ALL)
def test_info_pickle_populate(tmp_path, corpus, precision):
    docs, queries = corpus
    store = MultiVectorStore.build(docs, precision=precision)
    path = tmp_path / "store.aft"
    store.save(path)
    mapped = MultiVectorStore.load(path, mmap=True, populate=True)
    m = mapped.info()["stats"]["mapping"]
    assert m["is_mapped"] and m["mapped_bytes"] == os.path.getsize(path) == m["resident_bytes"]
    assert mapped.info()["stats"]["bytes_per_token"] == store.info()["stats"]["bytes_per_token"]
    clone = pickle.loads(pickle.dumps(mapped))
    assert not clone.info()["stats"]["mapping"]["is_mapped"]
    np.testing.assert_array_equal(clone.maxsim_batch(queries), store.maxsim_batch(queries))


@pytest.mark.parametrize("precision", ALL)
def test_damaged_and_truncated_files(tmp_path, corpus, precision):
    docs, _ = corpus
    blob = MultiVectorStore.build(docs[:20], precision=precision).to_bytes()
    path = tmp_path / "bad.aft"
    rng = np.random.default_rng(0)
    for pos in [0, 9, 20, 40, 64, 100, len(blob) // 3, len(blob) // 2, len(blob) - 1, *rng.integers(0, len(blob), 8)]:
        bad = bytearray(blob)
        bad[pos] ^= 0x41
        path.write_bytes(bytes(bad))
        with pytest.raises(FormatError):
            MultiVectorStore.load(path, mmap=True, verify=True)
        with pytest.raises(FormatError):
            MultiVectorStore.load(path, mmap=True).verify()
    for cut in (0, 10, 63, 64, 100, len(blob) // 2, len(blob) - 64, len(blob) - 1):
        path.write_bytes(blob[:cut])
        for verify in (False, True):
            with pytest.raises(FormatError):
                MultiVectorStore.load(path, mmap=True, verify=verify)


@pytest.mark.parametrize("precision", ["fp16", "int8", "res2"])
def test_every_byte_flip_is_found_by_verify(tmp_path, precision):
    rng = np.random.default_rng(2)
    path = tmp_path / "tiny.aft"
    MultiVectorStore.build(_docs(rng, 4, 5, hi=20), precision=precision).save(path)
    assert_every_byte_flip_refused(path, aftershock._core.MultiVectorStore.load, FormatError)  # the core: thousands of loads


def test_content_checks_of_verify(tmp_path):
    rng = np.random.default_rng(4)
    docs = [d for d in _docs(rng, 30, 16) if len(d) % 16] or _docs(rng, 1, 16)
    cases = {
        "fp16": [("MVDA", np.uint16, lambda a: a.__setitem__(-1, a[-1] ^ 1)),   # a padding lane of the last panel
                 ("MVNM", np.float64, lambda a: a.__setitem__(0, a[0] + 1))],
        "int8": [("MVBI", np.int32, lambda a: a.__setitem__(0, a[0] + 1)),
                 ("MVSC", np.float32, lambda a: a.__setitem__(0, np.nan))],
        "res2": [("MVCD", np.uint16, lambda a: a.__setitem__(0, 60000)),
                 ("MVCD", np.uint16, lambda a: a.__setitem__(-1, (a[-1] + 1) % 8))],  # a padding lane's code
    }
    for precision, edits in cases.items():
        blob = MultiVectorStore.build(docs, precision=precision).to_bytes()
        for tag, dtype, edit in edits:
            path = tmp_path / f"{precision}-{tag}.aft"
            path.write_bytes(edit_section(blob, tag, dtype, edit))
            mapped = MultiVectorStore.load(path, mmap=True)  # trusted at open
            with pytest.raises(FormatError):
                mapped.verify()
            with pytest.raises(FormatError):
                MultiVectorStore.load(path, mmap=True, verify=True)


def test_bad_arguments_name_the_argument(tmp_path, corpus):
    docs, _ = corpus
    path = tmp_path / "s.aft"
    MultiVectorStore.build(docs[:5]).save(path)
    with pytest.raises(ValueError, match="verify"):
        MultiVectorStore.load(path, verify=False)
    with pytest.raises(ValueError, match="populate"):
        MultiVectorStore.load(path, populate=True)
    with pytest.raises(TypeError, match="mmap"):
        MultiVectorStore.load(path, mmap=1)
    with pytest.raises(TypeError, match="verify"):
        MultiVectorStore.load(path, mmap=True, verify="no")


def test_living_directory_maps(tmp_path, corpus):
    docs, queries = corpus
    store = MultiVectorStore.build(docs[:100], precision="res2", ids=np.arange(1000, 1100))
    store.add(docs[100:], ids=np.arange(5000, 5050))
    store.delete([1003, 5007])
    path = tmp_path / "living"
    store.save(path)
    memory = MultiVectorStore.load(path)
    mapped = MultiVectorStore.load(path, mmap=True, verify=True)
    assert mapped.info()["stats"]["mapping"]["is_mapped"]
    a, b = mapped.search(queries, 7), memory.search(queries, 7)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    mapped.verify()
