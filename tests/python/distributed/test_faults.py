"""Faults: a killed shard actor is restarted from its file and the query in flight retried;
a shard gone for good is an error naming it, or with allow_partial=True a result that says so."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from .conftest import LOSSLESS_SEARCH as LOSSLESS
from .conftest import RAY_MISSING

ray = pytest.importorskip("ray", reason=RAY_MISSING)

from aftershock import exact_search  # noqa: E402
from aftershock.distributed import ShardError, ShardedIndex  # noqa: E402



def test_killed_actor_is_restarted_and_query_retried(sparse_index, sparse_data):
    docs, queries = sparse_data
    want = exact_search(docs, queries, 10)
    ix = sparse_index
    victim = ix.actors[1][0]
    pid = ray.get(victim.ready.remote())
    results = []
    worker = threading.Thread(target=lambda: results.extend(ix.search(queries, 10, **LOSSLESS) for _ in range(3)))
    worker.start()
    ray.kill(victim, no_restart=False)  # dies mid-run; Ray restarts it (max_restarts) from its file
    worker.join(120)
    assert len(results) == 3
    for got in results:
        np.testing.assert_array_equal(got.ids, want.ids)
        assert got.failed == {}
    assert ray.get(victim.ready.remote()) != pid  # a new process holds shard 1
    np.testing.assert_array_equal(ix.search(queries, 10, **LOSSLESS).ids, want.ids)


def test_dead_shard_fails_by_name_or_partially(sparse_built, sparse_data):
    docs, queries = sparse_data
    want = exact_search(docs, queries, 10)
    with ShardedIndex.open(sparse_built[0], replicas=2, max_restarts=0, max_task_retries=0) as ix:
        ray.kill(ix.actors[1][0], no_restart=True)
        for _ in range(2):  # whichever replica a query goes to first, the live one answers
            got = ix.search(queries, 10, **LOSSLESS)
            np.testing.assert_array_equal(got.ids, want.ids)
        ray.kill(ix.actors[1][1], no_restart=True)
        with pytest.raises(ShardError, match=r"^shard 1 \(.*shard-00001.aftershock\) did not answer") as info:
            ix.search(queries, 10, **LOSSLESS)
        assert info.value.shard == 1
        got = ix.search(queries, 10, allow_partial=True, **LOSSLESS)
        assert got.answered == (0, 2) and list(got.failed) == [1] and not got.is_complete
        # Exactly the top-k of the shards that answered: shard 1's documents emptied.
        lo, hi = ix.shards[1].id_offset, ix.shards[1].id_offset + ix.shards[1].n_docs
        rest = docs.tolil()
        rest[lo:hi] = 0
        want = exact_search(rest.tocsr(), queries, 10)
        np.testing.assert_array_equal(got.ids, want.ids)
        # Index rows are summed heaviest weight first, exact_search in term order: equal up to rounding.
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5)
