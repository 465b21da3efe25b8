"""Huge pages (cpp/src/util/huge_pages.cpp): large index arrays ask for them, the
AFTERSHOCK_HUGE_PAGES switch turns that off, and results do not depend on it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest


def test_huge_pages_leave_results_unchanged_and_are_asked_for(tmp_path):
    """Arrays of 8 MiB or more ask for huge pages (madvise, seen as the "hg" flag of their
    mappings in /proc/self/smaps: whether the kernel then finds free huge pages depends on
    the machine, the request does not). AFTERSHOCK_HUGE_PAGES=0 asks for none; results are
    the same either way. The switch is read once per process, so each setting runs in its own."""
    code = textwrap.dedent("""
        import sys, numpy as np, aftershock as af
        from aftershock.datasets import synthetic_sparse
        def advised_bytes():  # total size of the mappings flagged for huge pages
            try:
                text = open("/proc/self/smaps").read()
            except OSError:
                return -1
            total, size = 0, 0
            for line in text.splitlines():
                if line.startswith("Size:"):
                    size = int(line.split()[1]) * 1024
                elif line.startswith("VmFlags:") and " hg" in " " + line.split(":", 1)[1]:
                    total += size
            return total
        docs, queries = synthetic_sparse(16000, 50, doc_nnz=60, seed=3)
        ix = af.SparseIndex.build(docs, n_postings=300, num_threads=2)
        ix.save(sys.argv[1])
        loaded = af.SparseIndex.load(sys.argv[1])
        r = loaded.search(queries, 10, query_cut=5, heap_factor=0.9)
        np.save(sys.argv[2], np.concatenate([r.ids.astype(np.float64), r.scores.astype(np.float64)]))
        print(advised_bytes())
    """)
    results, advised = [], []
    for setting in ("1", "0"):
        env = dict(os.environ, AFTERSHOCK_HUGE_PAGES=setting)
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"ix{setting}"), str(tmp_path / f"r{setting}.npy")],
                             env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        results.append(np.load(tmp_path / f"r{setting}.npy"))
        advised.append(int(out.stdout.strip().splitlines()[-1]))
    np.testing.assert_array_equal(results[0], results[1])
    if advised[0] < 0 or not os.path.isdir("/sys/kernel/mm/transparent_hugepage"):
        pytest.skip("results agree; no /proc/self/smaps or no transparent huge pages to ask for")
    # numpy flags its own large arrays the same way in both runs; the index's arrays (the
    # built and the loaded copy, each with sections of 8-15 MiB) must add at least 16 MiB.
    assert advised[0] - advised[1] >= 16 << 20, f"flagged {advised[0]} bytes with huge pages on, {advised[1]} off"
