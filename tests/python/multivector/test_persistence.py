"""Saving and loading a MultiVectorIndex (cpp/src/multivector/index.cpp over
cpp/src/io/format.cpp): save -> load and pickle are identical, damaged or truncated files
raise FormatError, and a MultiVectorStore file is refused."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import aftershock
from aftershock import FormatError, MultiVectorIndex


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
    aftershock.MultiVectorStore.build(vectors, offsets).save(path)
    with pytest.raises(FormatError):
        MultiVectorIndex.load(path)
