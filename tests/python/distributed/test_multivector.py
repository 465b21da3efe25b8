"""A multi-vector sharded index searched exhaustively equals one exact MaxSim search; the
shard-file and Ray Dataset sources give the same index as in-memory arrays."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import RAY_MISSING

pytest.importorskip("ray", reason=RAY_MISSING)

from aftershock import MultiVectorStore  # noqa: E402
from aftershock.distributed import ShardedIndex  # noqa: E402

# Every centroid probed, every probed document kept and reranked: exact MaxSim per shard.
EXHAUSTIVE = dict(n_candidates=10**6, n_probe=10**6, n_interaction=0)


@pytest.fixture(scope="module")
def tokens():
    rng = np.random.default_rng(11)
    docs = [rng.standard_normal((int(n), 16)).astype(np.float32) for n in rng.integers(1, 12, size=300)]
    queries = [rng.standard_normal((int(m), 16)).astype(np.float32) for m in rng.integers(1, 6, size=8)]
    return docs, queries


def test_exhaustive_shards_equal_exact_maxsim(ray_local, tokens, tmp_path):
    docs, queries = tokens
    want = MultiVectorStore.build(docs).search(queries, 10)
    with ShardedIndex.build(
        docs, 2, kind="multivector", path=tmp_path / "mv", method="centroid", n_centroids=16, seed=5,
        num_cpus_per_task=0.5,
    ) as ix:
        assert [s.n_docs for s in ix.shards] == [150, 150] and ix.info()["build"]["seed"] == 5
        got = ix.search(queries, 10, **EXHAUSTIVE)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.scores, want.scores)
        # A 3-d batch and a 2-d batch with query_offsets are the same queries.
        flat = np.concatenate(queries)
        offsets = np.concatenate([[0], np.cumsum([len(q) for q in queries])])
        again = ix.search(flat, 10, query_offsets=offsets, **EXHAUSTIVE)
        np.testing.assert_array_equal(again.ids, want.ids)
        with pytest.raises(TypeError, match="^query_cut: "):
            ix.search(queries, 10, query_cut=3)
        with pytest.raises(ValueError, match="dim|16"):
            ix.search([np.ones((2, 8), np.float32)], 10)


def test_file_and_dataset_sources_equal_in_memory(ray_local, sparse_data, tmp_path):
    import ray
    import scipy.sparse as sp

    docs, queries = sparse_data
    docs = docs[:600]
    files = []
    for i, (lo, hi) in enumerate([(0, 250), (250, 600)]):
        files.append(tmp_path / f"part{i}.npz")
        sp.save_npz(files[-1], docs[lo:hi])
    want = None
    with ShardedIndex.build(files, kind="sparse", path=tmp_path / "from-files", num_cpus_per_task=0.5) as ix:
        assert [s.n_docs for s in ix.shards] == [250, 350]
        want = ix.search(queries, 10, heap_factor=0.0, query_cut=10**6)
    rows = [{"indices": docs[i].indices.astype(np.int64), "values": docs[i].data} for i in range(docs.shape[0])]
    ds = ray.data.from_items(rows, override_num_blocks=3)
    with ShardedIndex.build(
        ds, 2, kind="sparse", path=tmp_path / "from-dataset", dim=docs.shape[1], num_cpus_per_task=0.5
    ) as ix:
        assert [s.n_docs for s in ix.shards] == [300, 300]
        got = ix.search(queries, 10, heap_factor=0.0, query_cut=10**6)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.scores, want.scores)
    with pytest.raises(ValueError, match="^dim: required"):
        ShardedIndex.build(ds, 2, kind="sparse", path=tmp_path / "no-dim")
    with pytest.raises(ValueError, match="^n_shards: 3, but source names 2 files"):
        ShardedIndex.build(files, 3, kind="sparse", path=tmp_path / "x")
