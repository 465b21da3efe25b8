"""Another Python thread writing into the caller's arrays while a core call runs without the
GIL must never crash the process (issue 11). The bindings copy every array the core indexes
with (CSR indptr and term ids, sparse weights, ragged offsets, candidate ids) while the GIL
is held, check the copy and hand the core only the copy (cpp/bindings/arrays.hpp,
owned_copy). Before that, each of these calls died with SIGSEGV within a few hundred
calls. Each entry point runs in a child process, the writer flipping one entry to a huge
value and back in a tight loop; a result or a ValueError / IndexError are both fine."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

_SETUP = """
import threading
import numpy as np
from aftershock import _core
from aftershock._validate import as_csr
from aftershock.datasets import synthetic_sparse

docs, queries = synthetic_sparse(2000, 64, vocab_size=3000, seed=1)
d = as_csr(docs, "docs")
q = as_csr(queries, "queries")
d_ptr, d_ind, d_val = d.indptr.copy(), d.indices.copy(), d.values.copy()
q_ptr, q_ind, q_val = q.indptr.copy(), q.indices.copy(), q.values.copy()
rng = np.random.default_rng(0)
tokens = rng.standard_normal((4000, 16)).astype(np.float32)
doc_offsets = np.arange(0, 4001, 20, dtype=np.int64)
store = _core.MultiVectorStore(tokens, doc_offsets.copy(), "fp32", 2)
flat = rng.standard_normal((32 * 8, 16)).astype(np.float32)
offsets = np.arange(0, 32 * 8 + 1, 8, dtype=np.int64)
candidates = rng.integers(0, 200, (32, 50)).astype(np.int64)
doc_ids = np.arange(200, dtype=np.uint32)
index = _core.SparseIndex.build(d_ptr.copy(), d_ind.copy(), d_val.copy(), d.n_cols, pruning="global",
    n_postings=200, max_fraction=1.5, centroid_fraction=0.1, min_cluster_size=2, summary_energy=0.4,
    precision="fp16", knn=0, num_threads=2, seed=0)
stop = False

def flip(arr, bad, first, last):
    r = np.random.default_rng(1)
    while not stop:  # a bad value for a moment, then the good one again
        i = int(r.integers(first, last))
        good = arr.flat[i]
        arr.flat[i] = bad
        arr.flat[i] = good
"""

_CASES = {
    "sparse_search": ("q_ind, 2**31, 0, len(q_ind)",
                      "index.search(q_ptr, q_ind, q_val, q.n_cols, 10, 10, 0.8, 0, 2)"),
    "sparse_search_indptr": ("q_ptr, 10**9, 1, len(q_ptr) - 1",
                             "index.search(q_ptr, q_ind, q_val, q.n_cols, 10, 10, 0.8, 0, 2)"),
    "sparse_build": ("d_ind, 2**31, 0, len(d_ind)",
                     "_core.SparseIndex.build(d_ptr, d_ind, d_val, d.n_cols, pruning='global', n_postings=100, "
                     "max_fraction=1.5, centroid_fraction=0.1, min_cluster_size=2, summary_energy=0.4, "
                     "precision='fp16', knn=0, num_threads=2, seed=0)"),
    "sparse_build_values": ("d_val, -1.0, 0, len(d_val)",
                            "_core.SparseIndex.build(d_ptr, d_ind, d_val, d.n_cols, pruning='global', "
                            "n_postings=100, max_fraction=1.5, centroid_fraction=0.1, min_cluster_size=2, "
                            "summary_energy=0.4, precision='fp16', knn=0, num_threads=2, seed=0)"),
    "exact_search": ("q_ind, 2**31, 0, len(q_ind)",
                     "_core.sparse_exact_search(d_ptr, d_ind, d_val, q_ptr, q_ind, q_val, d.n_cols, 10, 2)"),
    "maxsim_batch": ("offsets, 10**9, 1, len(offsets)", "store.maxsim_batch(flat, offsets, doc_ids, 2)"),
    "maxsim_batch_ids": ("doc_ids, 2**31, 0, len(doc_ids)", "store.maxsim_batch(flat, offsets, doc_ids, 2)"),
    "store_search": ("offsets, 10**9, 1, len(offsets)", "store.search(flat, offsets, 5, 2)"),
    "store_rerank": ("offsets, 10**9, 1, len(offsets)", "store.rerank(flat, offsets, candidates, 5, 2)"),
    "store_rerank_ids": ("candidates, 10**9, 0, candidates.size", "store.rerank(flat, offsets, candidates, 5, 2)"),
    "store_build": ("doc_offsets, 10**9, 1, len(doc_offsets)",
                    "_core.MultiVectorStore(tokens, doc_offsets, 'fp32', 2)"),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_core_call_survives_concurrent_writes_to_its_input(case):
    target, call = _CASES[case]
    calls = 10 if "build" in case else 300  # a build takes ~1 s here: it waits for the GIL the writer holds
    code = _SETUP + textwrap.dedent(f"""
        writer = threading.Thread(target=flip, args=({target},))
        writer.start()
        try:
            for _ in range({calls}):
                try:
                    {call}
                except (ValueError, IndexError):
                    pass
        finally:
            stop = True
            writer.join()
        print("survived")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "survived" in proc.stdout, (proc.returncode, proc.stderr[-2000:])
