"""Progress and interrupts (python/aftershock/_progress.py, the progress callbacks of the
cores): verbose builds report their stages, an exception from the progress callback stops a
build cleanly, and a real SIGINT ends a build with KeyboardInterrupt from inside the core."""

from __future__ import annotations

import signal
import subprocess
import sys

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
