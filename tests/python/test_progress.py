"""Progress and interrupts (python/aftershock/_progress.py, the progress callbacks of the
cores): verbose builds report their stages, an exception from the progress callback stops a
build cleanly, and a real SIGINT ends a build with KeyboardInterrupt from inside the core."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from aftershock import MultiVectorIndex, SparseIndex, _core
from aftershock._validate import as_csr
from aftershock.datasets import synthetic_sparse
from multivector.reference import clustered


def _core_build(docs, progress, knn=0):
    csr = as_csr(docs, "docs")
    return _core.SparseIndex.build(
        csr.indptr, csr.indices, csr.values, csr.n_cols, pruning="global", n_postings=200, max_fraction=1.5,
        centroid_fraction=0.1, min_cluster_size=2, summary_energy=0.4, precision="fp16", knn=knn,
        num_threads=2, seed=0, progress=progress,
    )


def test_build_and_knn_stop_when_progress_raises():
    """Ctrl-C reaches the core as an exception from the progress callback (the binding
    raises KeyboardInterrupt there); the build stops and nothing is left half-done."""
    docs, _ = synthetic_sparse(3000, 1, vocab_size=2000, doc_nnz=40, seed=3)
    seen = []

    def interrupt(stage, done, total):
        seen.append((stage, done, total))
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _core_build(docs, interrupt)
    assert seen[0][0] == "lists" and seen[-1][1] < seen[-1][2], "stopped before the last list"
    ix = SparseIndex.build(docs, n_postings=200)
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        ix._core.build_knn(3, 10, 0.8, 2, progress=interrupt)
    assert ix.knn == 0 and [s for s, _, _ in seen] == ["knn", "knn"]
    ix.build_knn(3)  # the index is intact and a graph can still be built
    assert ix.knn == 3


def test_verbose_build_prints_progress(capsys):
    docs, _ = synthetic_sparse(2000, 1, vocab_size=1000, doc_nnz=30, seed=3)
    SparseIndex.build(docs, knn=2, verbose=True)
    err = capsys.readouterr().err
    assert "aftershock: lists" in err and "aftershock: knn" in err


def test_ctrl_c_interrupts_a_build():
    """A real SIGINT during the list stage ends the build with KeyboardInterrupt. The child
    builds again and again, so however late a loaded machine delivers the signal, it lands
    in a build (a build takes seconds, the loop between builds microseconds); the traceback
    must then come out of the core's build call, not from Python code around it."""
    code = (
        "import aftershock\n"
        "from aftershock.datasets import synthetic_sparse\n"
        "docs, _ = synthetic_sparse(40000, 1, seed=1)\n"
        "while True:\n"
        "    aftershock.SparseIndex.build(docs, n_postings=4000, num_threads=1, verbose=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()
    assert first.startswith("aftershock: lists"), first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, err[-2000:]
    assert "line 5, in <module>" in err and "_core.SparseIndex.build(" in err, err[-2000:]  # inside the core call


def test_verbose_build_reports_progress(capsys):
    """MultiVectorIndex: both candidate generators report their build stages on stderr."""
    vectors, offsets, _ = clustered()  # the data of the multivector tests' `data` fixture
    MultiVectorIndex.build(vectors, offsets, method="centroid", verbose=True, n_centroids=16)
    err = capsys.readouterr().err
    assert "aftershock: kmeans" in err and "aftershock: assign" in err
    MultiVectorIndex.build(vectors, offsets, method="muvera", verbose=True, pool_factor=2)
    err = capsys.readouterr().err
    assert "aftershock: pool" in err and "aftershock: fde" in err


_QUERY_BATCHES = {
    "sparse_search": "index.search(queries, 10, num_threads=1)",
    "exact_search": "aftershock.exact_search(docs, queries, 10, num_threads=1)",
    "store_search": "store.search(qs, 10, num_threads=1)",
    "store_rerank": "store.rerank(qs, cand, 10, num_threads=1)",
    "maxsim_batch": "store.maxsim_batch(qs, num_threads=1)",
    "multivector_search": "mv.search(qs, 10, num_threads=1)",
}


@pytest.mark.parametrize("entry", sorted(_QUERY_BATCHES))
def test_ctrl_c_interrupts_a_query_batch(entry):
    """SIGINT 0.3 s into a long query batch raises KeyboardInterrupt promptly: the core runs
    query batches in ~50 ms chunks and the binding checks for signals between them (one
    mechanism, InterruptScope in parallel_for). Before, Ctrl-C waited for the whole batch
    (5 s for sparse_search, 16 s for store_search on a loaded 2-core machine). The child
    times one uninterrupted batch first, so the assertion is relative, not a fixed time."""
    code = textwrap.dedent(f"""
        import os, signal, threading, time
        import numpy as np
        import scipy.sparse
        import aftershock
        from aftershock.datasets import synthetic_sparse
        rng = np.random.default_rng(0)
        docs, queries = synthetic_sparse(10000, 2000, seed=1)
        qs = [rng.standard_normal((16, 64), dtype=np.float32)] * 400
        cand = rng.integers(0, 2000, (400, 2000))
        tokens, offsets = rng.standard_normal((60000, 64), dtype=np.float32), np.arange(0, 60001, 30)
        # Only what the entry point needs is built.
        if "{entry}" == "sparse_search":
            index = aftershock.SparseIndex.build(docs, n_postings=1000)
        if "{entry}".startswith(("store", "maxsim")):
            store = aftershock.MultiVectorStore.build(tokens, offsets)
        if "{entry}" == "multivector_search":
            mv = aftershock.MultiVectorIndex.build(tokens, offsets, n_centroids=64)
        t0 = time.perf_counter()
        {_QUERY_BATCHES[entry]}
        full = time.perf_counter() - t0
        # 16 batches in one call: the signal lands inside the call however late it comes
        qs, queries, cand = qs * 16, scipy.sparse.vstack([queries] * 16).tocsr(), np.concatenate([cand] * 16)
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        t0 = time.perf_counter()
        try:
            {_QUERY_BATCHES[entry]}
            print("finished", full, time.perf_counter() - t0)
        except KeyboardInterrupt:
            print("interrupted", full, time.perf_counter() - t0)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    word, full, waited = proc.stdout.split()
    assert word == "interrupted", proc.stdout
    assert float(waited) < 0.3 + max(1.0, 0.5 * float(full)), proc.stdout  # far sooner than the 16x batch


@pytest.mark.parametrize("how", ["closed_pipe", "closed_fd", "none"])
def test_verbose_build_survives_a_broken_stderr(how):
    """verbose=True must never fail a build: with stderr a pipe nobody reads (closed),
    a closed descriptor, or sys.stderr None, the build completes (before: BrokenPipeError
    or OSError out of the build)."""
    breaks = {
        "closed_pipe": "",
        "closed_fd": "import os; os.close(2)\n",
        "none": "import sys; sys.stderr = None\n",
    }[how]
    code = breaks + textwrap.dedent("""
        import aftershock
        from aftershock.datasets import synthetic_sparse
        docs, _ = synthetic_sparse(3000, 1, vocab_size=2000, doc_nnz=40, seed=3)
        ix = aftershock.SparseIndex.build(docs, n_postings=200, knn=2, verbose=True)
        print("built", len(ix), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stderr.close()  # the reader goes away: every write to stderr is EPIPE
    out = proc.stdout.read()
    assert proc.wait(timeout=300) == 0 and out.startswith("built 3000"), out
