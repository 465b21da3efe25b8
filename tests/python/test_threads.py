"""num_threads is capped by the machine: a huge request neither creates a thread per work item
nor leaves the process with a pool that slows every later call."""

from __future__ import annotations

import os
import subprocess
import sys

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


_SHUTDOWN = """
import threading, time
import numpy as np
import aftershock
from aftershock.datasets import synthetic_sparse
docs, queries = synthetic_sparse(4000, 200, seed=1)
index = aftershock.SparseIndex.build(docs, n_postings=300)
rng = np.random.default_rng(0)
store = aftershock.MultiVectorStore.build(rng.standard_normal((8000, 32), dtype=np.float32), np.arange(0, 8001, 10))
q = [np.ones((4, 32), np.float32)] * 50
def loop(kind):
    while True:
        if kind == 0:
            index.search(queries, 10, num_threads=2)
        elif kind == 1:
            store.maxsim_batch(q)
        else:
            aftershock.SparseIndex.build(docs[:2000], n_postings=200)
for kind in range(3):
    for _ in range(2):
        threading.Thread(target=loop, args=(kind,), daemon=True).start()
time.sleep(0.2)
"""


def test_exit_with_daemon_threads_inside_the_core():
    """The interpreter exits while daemon threads are inside search / maxsim_batch / build.
    Before the fix every run aborted ("terminate called without an active exception"):
    py::gil_scoped_release took the GIL back in its destructor during finalization, and
    Python ended the thread with pthread_exit, a forced unwind through a noexcept
    destructor. The bindings now never take the GIL during shutdown (progress.hpp,
    without_gil): such a thread parks until the process exits."""
    for _ in range(10):
        proc = subprocess.run([sys.executable, "-c", _SHUTDOWN], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
