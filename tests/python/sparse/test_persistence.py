"""Saving and loading a SparseIndex (cpp/src/sparse/index_io.cpp over cpp/src/io/format.cpp):
save -> load and pickle give identical results, and damaged or truncated files (every byte
flip of a small index, padding included) raise FormatError."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import aftershock
from aftershock import SparseIndex
from aftershock.datasets import synthetic_sparse


# -------------------------------------------------------------------------- persistence
def test_save_load_pickle_identical(tmp_path, synthetic):
    docs, queries, _ = synthetic
    ix = SparseIndex.build(docs[:3000], knn=3)
    path = tmp_path / "ix.aft"
    ix.save(path)
    assert not os.path.exists(str(path) + ".tmp")
    loaded = SparseIndex.load(path)
    clone = pickle.loads(pickle.dumps(ix))
    want = ix.search(queries, 10, n_knn=3)
    for other in (loaded, clone):
        got = other.search(queries, 10, n_knn=3)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.scores, want.scores)
        assert other.info() == ix.info()


def test_damaged_files_raise_format_error(tmp_path):
    docs, _ = synthetic_sparse(300, 1, vocab_size=200, doc_nnz=10, seed=2)
    path = tmp_path / "ix.aft"
    SparseIndex.build(docs).save(path)
    data = path.read_bytes()
    # Every single-byte flip of a small index, padding included, is detected.
    tiny_docs, _ = synthetic_sparse(30, 1, vocab_size=40, doc_nnz=5, seed=4)
    tiny = tmp_path / "tiny.aft"
    SparseIndex.build(tiny_docs).save(tiny)
    tiny_data = tiny.read_bytes()
    for pos in range(len(tiny_data)):
        bad = bytearray(tiny_data)
        bad[pos] ^= 0x41
        with pytest.raises(aftershock.FormatError):
            SparseIndex.from_bytes(bytes(bad))
    for pos in [0, 9, 20, 40, 64, 100, len(data) - 1]:
        bad = bytearray(data)
        bad[pos] ^= 0x41
        (tmp_path / "bad").write_bytes(bytes(bad))
        with pytest.raises(aftershock.FormatError):
            SparseIndex.load(tmp_path / "bad")
    for cut in (0, 10, 63, 64, len(data) // 2, len(data) - 1):
        (tmp_path / "short").write_bytes(data[:cut])
        with pytest.raises(aftershock.FormatError):
            SparseIndex.load(tmp_path / "short")
    major = bytearray(data)
    major[8] = 2
    (tmp_path / "major").write_bytes(bytes(major))
    with pytest.raises(aftershock.FormatError, match="format|checksum"):
        SparseIndex.load(tmp_path / "major")
    with pytest.raises(OSError):
        SparseIndex.load(tmp_path / "missing")
    assert issubclass(aftershock.FormatError, ValueError)



@pytest.mark.parametrize("seed", [2**53 + 1, 2**64 - 1])
def test_seed_round_trips_exactly(tmp_path, seed):
    # Seeds are stored as integers: a double turned 2**53 + 1 into 2**53, and values near
    # 2**64 into an undefined double -> uint64 conversion.
    docs, _ = synthetic_sparse(60, 1, vocab_size=50, doc_nnz=5, seed=1)
    ix = SparseIndex.build(docs, n_postings=20, seed=seed)
    assert ix.info()["build"]["seed"] == seed
    ix.save(tmp_path / "ix.aft")
    for loaded in (SparseIndex.load(tmp_path / "ix.aft"), SparseIndex.from_bytes(ix.to_bytes())):
        assert loaded.info()["build"]["seed"] == seed
        assert loaded.to_bytes() == ix.to_bytes()


@pytest.mark.parametrize("seed", [-1, 2**64, 10**30])
def test_seed_out_of_range_is_a_value_error(seed):
    docs, _ = synthetic_sparse(60, 1, vocab_size=50, doc_nnz=5, seed=1)
    with pytest.raises(ValueError, match=r"seed: expected an integer in \[0, 2\*\*64 - 1\]"):
        SparseIndex.build(docs, seed=seed)


def test_layout4_file_loads_with_rows_reordered():
    """A file of layout 4 (forward rows in term order, written by the previous release:
    tests/data/format_v1/sparse_layout4.aft, 300 synthetic documents, seed 5, n_postings 100,
    build seed 1) loads, its rows brought to heaviest-first order, and searches like a fresh
    build of the same data. (Its bytes may differ from the fresh build's: weights equal in
    float16 but not in float32 keep their term order.)"""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data" / "format_v1" / "sparse_layout4.aft"
    docs, queries = synthetic_sparse(300, 5, vocab_size=500, doc_nnz=20, query_nnz=8, seed=5)
    old = SparseIndex.load(path)
    fresh = SparseIndex.build(docs, n_postings=100, seed=1)
    for kwargs in ({}, {"heap_factor": 0.0, "query_cut": 100}):
        a, b = old.search(queries, 5, **kwargs), fresh.search(queries, 5, **kwargs)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
