"""num_threads is capped by the machine: a huge request neither creates a thread per work item
nor leaves the process with a pool that slows every later call."""

from __future__ import annotations

import os

import numpy as np
import pytest

import aftershock
from aftershock import _core
from aftershock.datasets import synthetic_sparse


def _threads_now() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_huge_num_threads_is_capped():
    cap = _core.resolve_num_threads(10**6)
    assert 1 <= cap <= 4 * (os.cpu_count() or 1)
    assert _core.resolve_num_threads(0) >= 1
    docs, queries = synthetic_sparse(500, 300, seed=2)
    index = aftershock.SparseIndex.build(docs, n_postings=200)
    want = index.search(queries, 10, num_threads=1)
    before = _threads_now()
    got = index.search(queries, 10, num_threads=10**6)
    store = aftershock.MultiVectorStore.build(np.ones((40, 8), np.float32), np.arange(41) * 1)
    store.search([np.ones((2, 8), np.float32)] * 50, 5, num_threads=10**6)
    assert _threads_now() <= max(before, 1) + cap
    np.testing.assert_array_equal(got.ids, want.ids)
