"""A sparse sharded index, lossless (pruning off), equals the single-index exact top-k; the
manifest round trip; the bad arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import LOSSLESS_SEARCH, RAY_MISSING

pytest.importorskip("ray", reason=RAY_MISSING)

from aftershock import FormatError, SearchResult, exact_search  # noqa: E402
from aftershock.distributed import ShardedIndex, merge_topk, read_manifest  # noqa: E402

@pytest.fixture(scope="module")
def sharded(sparse_index):
    return sparse_index


def test_lossless_shards_equal_exact_top_k(sharded, sparse_data):
    docs, queries = sparse_data
    for k in (1, 10, 40):
        got = sharded.search(queries, k, **LOSSLESS_SEARCH)
        want = exact_search(docs, queries, k)
        assert isinstance(got, SearchResult) and got.ids.dtype == np.int64 and got.scores.dtype == np.float32
        np.testing.assert_array_equal(got.ids, want.ids)
        # Index rows are summed heaviest weight first, exact_search in term order: equal up to rounding.
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5)
        assert got.answered == (0, 1, 2) and got.failed == {}
    # Query 0 ties documents 5, 999, 1000, 2000 and 2999 (in three shards): by global id.
    np.testing.assert_array_equal(got.ids[0, :5], [5, 999, 1000, 2000, 2999])
    assert (got.scores[0, :5] == got.scores[0, 0]).all()
    # The empty last query pads its whole row.
    assert (got.ids[-1] == -1).all() and np.isneginf(got.scores[-1]).all()
    # One query as an (indices, values) pair, as SparseIndex.search takes it.
    row = queries[0]
    one = sharded.search((row.indices, row.data), 10, **LOSSLESS_SEARCH)
    np.testing.assert_array_equal(one.ids, exact_search(docs, row, 10).ids)


def test_manifest_and_reopen_give_identical_results(sharded, sparse_built, sparse_data):
    _, queries = sparse_data
    m = read_manifest(sharded.path)
    assert m.kind == "sparse" and m.n_docs == 3000 and m.n_shards == 3
    assert [s.id_offset for s in m.shards] == [0, 1000, 2000]
    assert m.build["n_postings"] == 10**9 and m.build["pruning"] == "fixed"
    _, before = sparse_built  # answered by the index build() returned, before it was closed
    after = sharded.search(queries, 10)  # the same files, reopened by new actors
    np.testing.assert_array_equal(after.ids, before.ids)
    np.testing.assert_array_equal(after.scores, before.scores)


def test_merge_is_exact_with_ties_and_padding():
    a = (np.array([[3.0, 1.0, -np.inf]], np.float32), np.array([[5, 9, -1]]))
    b = (np.array([[3.0, 2.0, 1.0]], np.float32), np.array([[2, 7, 4]]))
    got = merge_topk([a, b], 5, 1)
    np.testing.assert_array_equal(got.ids, [[2, 5, 7, 4, 9]])
    got = merge_topk([a], 4, 1)
    np.testing.assert_array_equal(got.ids, [[5, 9, -1, -1]])
    assert merge_topk([], 2, 3).ids.tolist() == [[-1, -1]] * 3


def test_bad_arguments_name_the_argument(sharded, sparse_data, tmp_path):
    docs, queries = sparse_data
    with pytest.raises(ValueError, match="^k: "):
        sharded.search(queries, 0)
    with pytest.raises(TypeError, match="^k: "):
        sharded.search(queries, 2.5)
    with pytest.raises(TypeError, match="^n_probe: "):
        sharded.search(queries, 10, n_probe=3)
    with pytest.raises(ValueError, match="^queries: expected 2000 columns"):
        sharded.search(docs[:, :10], 10)
    with pytest.raises(ValueError, match="query_cut"):  # the shards' own check, raised as such
        sharded.search(queries, 10, query_cut=0)
    with pytest.raises(TypeError, match="^queries: "):
        sharded.search("not a query", 10)
    with pytest.raises(ValueError, match="^kind: "):
        ShardedIndex.build(docs, 2, kind="dense", path=tmp_path / "x")
    with pytest.raises(ValueError, match="^n_shards: "):
        ShardedIndex.build(docs, 0, kind="sparse", path=tmp_path / "x")
    with pytest.raises(ValueError, match="^n_shards: required"):
        ShardedIndex.build(docs, kind="sparse", path=tmp_path / "x")
    with pytest.raises(TypeError, match="^n_centroids: "):
        ShardedIndex.build(docs, 2, kind="sparse", path=tmp_path / "x", n_centroids=4)
    with pytest.raises(TypeError, match="^source: "):
        ShardedIndex.build({"docs": docs}, 2, kind="sparse", path=tmp_path / "x")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ShardedIndex.build(docs, 2, kind="sparse", path=sharded.path)
    with pytest.raises(ValueError, match="^replicas: "):
        ShardedIndex.open(sharded.path, replicas=0)
    with pytest.raises(FileNotFoundError):
        ShardedIndex.open(tmp_path / "nothing-here")
    with pytest.raises(TypeError, match="ShardedIndex.build"):
        ShardedIndex()
    with pytest.raises(NotImplementedError, match="issue 13"):
        sharded.add(docs[:2])
    with pytest.raises(NotImplementedError, match="issue 13"):
        sharded.delete([0])


def test_damaged_manifest_or_shard_file_is_refused(sharded, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sharded.path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["shards"][1]["id_offset"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match="shard 1: id range"):
        read_manifest(copy)
    manifest["shards"][1]["id_offset"] -= 1
    manifest["shards"][2]["file"] = "../shard-00000.aftershock"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match="plain file name"):
        read_manifest(copy)
    manifest["shards"][2]["file"] = "shard-00002.aftershock"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    # A flipped byte keeps the size: the shard's actor refuses the file with the index's own check.
    data = bytearray((copy / "shard-00002.aftershock").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "shard-00002.aftershock").write_bytes(bytes(data))
    with pytest.raises(FormatError, match="shard-00002.aftershock"):
        ShardedIndex.open(copy)
    with open(copy / "shard-00002.aftershock", "ab") as f:
        f.write(b"\0")
    with pytest.raises(FormatError, match="shard 2 has"):
        ShardedIndex.open(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        ShardedIndex.open(copy)
