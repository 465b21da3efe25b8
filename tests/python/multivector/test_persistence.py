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


def _tiny(method, seed):
    rng = np.random.default_rng(0)
    docs = [rng.standard_normal((int(rng.integers(2, 6)), 8)).astype(np.float32) for _ in range(30)]
    extra = {"n_centroids": 4} if method == "centroid" else {}
    return MultiVectorIndex.build(docs, method=method, seed=seed, **extra)


@pytest.mark.parametrize("method", ["centroid", "muvera"])
@pytest.mark.parametrize("seed", [2**53 + 1, 2**64 - 1])
def test_seed_round_trips_exactly(tmp_path, method, seed):
    index = _tiny(method, seed)
    assert index.info()["build"]["seed"] == seed
    index.save(tmp_path / "index.mvix")
    for loaded in (MultiVectorIndex.load(tmp_path / "index.mvix"), MultiVectorIndex.from_bytes(index.to_bytes())):
        assert loaded.info()["build"]["seed"] == seed
        assert loaded.to_bytes() == index.to_bytes()


@pytest.mark.parametrize("seed", [-1, 2**64, 10**30])
def test_seed_out_of_range_is_a_value_error(seed):
    with pytest.raises(ValueError, match=r"seed: expected an integer in \[0, 2\*\*64 - 1\]"):
        _tiny("muvera", seed)


@pytest.mark.parametrize(
    "method, key, value, name",
    [
        ("centroid", "centroid.kmeans_points_per_centroid", "0", "kmeans_points_per_centroid"),
        ("centroid", "index.pool_factor", "-1", "pool_factor"),
        ("centroid", "index.pool_factor", "1e300", "pool_factor"),
    ],
)
def test_parameters_build_refuses_are_refused_on_load(method, key, value, name):
    """Load checks the CONF values with build's own check (validate_build in index.cpp), not
    only their checksums: a file build could not have written is a FormatError naming it."""
    from aftfile import replace_sections, sections

    data = _tiny(method, 1).to_bytes()
    _, offset, length = sections(data)["CONF"]
    lines = data[offset : offset + length].decode().splitlines()
    assert any(line.startswith(key + "=") for line in lines)
    conf = "".join(f"{key}={value}\n" if line.startswith(key + "=") else line + "\n" for line in lines)
    with pytest.raises(FormatError, match=name):
        MultiVectorIndex.from_bytes(replace_sections(data, {"CONF": conf.encode()}))
