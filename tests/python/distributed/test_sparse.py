"""A sparse sharded index, lossless (pruning off), equals the single-index exact top-k; the
manifest round trip; the bad arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import RAY_MISSING

pytest.importorskip("ray", reason=RAY_MISSING)

from aftershock import FormatError, SearchResult, exact_search  # noqa: E402
from aftershock.distributed import ShardedIndex, merge_topk, read_manifest  # noqa: E402

# Pruning off: every posting kept, fp32 weights, every query term walked, no block skipped.
LOSSLESS_BUILD = dict(pruning="fixed", n_postings=10**9, precision="fp32")
LOSSLESS_SEARCH = dict(query_cut=10**6, heap_factor=0.0)


@pytest.fixture(scope="module")
def sharded(ray_local, sparse_data, tmp_path_factory):
    docs, _ = sparse_data
    path = tmp_path_factory.mktemp("sparse") / "index"
    ix = ShardedIndex.build(docs, 3, kind="sparse", path=path, **LOSSLESS_BUILD)
    yield ix
    ix.close()


def test_lossless_shards_equal_exact_top_k(sharded, sparse_data):
    docs, queries = sparse_data
    for k in (1, 10, 40):
        got = sharded.search(queries, k, **LOSSLESS_SEARCH)
        want = exact_search(docs, queries, k)
        assert isinstance(got, SearchResult) and got.ids.dtype == np.int64 and got.scores.dtype == np.float32
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.scores, want.scores)
        assert got.answered == (0, 1, 2) and got.failed == {}
    # The empty last query pads its whole row.
    assert (got.ids[-1] == -1).all() and np.isneginf(got.scores[-1]).all()
    # One query as an (indices, values) pair, as SparseIndex.search takes it.
    row = queries[0]
    one = sharded.search((row.indices, row.data), 10, **LOSSLESS_SEARCH)
    np.testing.assert_array_equal(one.ids, exact_search(docs, row, 10).ids)


def test_manifest_and_reopen_give_identical_results(sharded, sparse_data):
    _, queries = sparse_data
    m = read_manifest(sharded.path)
    assert m.kind == "sparse" and m.n_docs == 3000 and m.n_shards == 3
    assert [s.id_offset for s in m.shards] == [0, 1000, 2000]
    assert m.build["n_postings"] == 10**9 and m.build["pruning"] == "fixed"
    before = sharded.search(queries, 10)
    with ShardedIndex.open(sharded.path, replicas=2, num_cpus_per_actor=0) as again:
        assert again.n_docs == 3000 and len(again.actors[0]) == 2
        for _ in range(2):  # both replicas of every shard answer
            after = again.search(queries, 10)
            np.testing.assert_array_equal(after.ids, before.ids)
            np.testing.assert_array_equal(after.scores, before.scores)


def test_ties_go_to_the_smaller_global_id(ray_local, tmp_path):
    import scipy.sparse as sp

    docs = sp.csr_matrix(np.ones((6, 2), dtype=np.float32))
    with ShardedIndex.build(docs, 3, kind="sparse", path=tmp_path / "ties", num_cpus_per_task=0.5) as ix:
        res = ix.search(np.array([1.0, 1.0], dtype=np.float32), 4, heap_factor=0.0)
        np.testing.assert_array_equal(res.ids, [[0, 1, 2, 3]])
        res = ix.search(np.array([1.0, 1.0], dtype=np.float32), 8, heap_factor=0.0)
        np.testing.assert_array_equal(res.ids, [[0, 1, 2, 3, 4, 5, -1, -1]])
        assert np.isneginf(res.scores[0, 6:]).all()


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
    with open(copy / "shard-00002.aftershock", "ab") as f:
        f.write(b"\0")
    with pytest.raises(FormatError, match="shard 2 has"):
        ShardedIndex.open(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        ShardedIndex.open(copy)
