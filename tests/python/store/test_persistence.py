"""Saving and loading a MultiVectorStore (cpp/src/io/format.cpp): save -> load and pickle
are identical, and damaged or truncated files raise FormatError."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import aftershock
from aftershock import MultiVectorStore

from maxsim.reference import PRECISIONS


@pytest.mark.parametrize("precision", PRECISIONS)
def test_save_load_pickle_identical(tmp_path, corpus, precision):
    docs, queries = corpus
    store = MultiVectorStore.build(docs, precision=precision)
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
    store = MultiVectorStore.build(docs[:20], precision="int8")
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
