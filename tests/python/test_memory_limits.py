"""Allocations sized by a parameter are refused before they are made (issue 11): a
vocabulary from a stray term id of 10**9, MUVERA encodings of r_reps x d_proj values per
document, an n_docs x knn graph. Each reproducer runs in a child interpreter whose address
space is capped at 2 GiB, so that before the check it died with MemoryError or, without
the cap, the kernel's OOM killer; now it must raise ValueError stating the need."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")

PRELUDE = """
import resource, sys
cap = 2 << 30
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import numpy as np
import aftershock
def expect_refusal(fn, *words):
    try:
        fn()
    except ValueError as e:
        msg = str(e)
        missing = [w for w in words if w not in msg]
        print("MISSING " + repr(missing) + ": " + msg if missing else "REFUSED " + msg)
    else:
        print("ACCEPTED")
"""


def run_capped(body: str) -> str:
    code = PRELUDE + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"child failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


def assert_all_refused(out: str, n: int) -> None:
    lines = [line for line in out.splitlines() if line.split(" ", 1)[0] in ("REFUSED", "MISSING", "ACCEPTED")]
    assert len(lines) == n, out
    for line in lines:
        assert line.startswith("REFUSED"), line
        assert "this process can use" in line, line


def test_vocabulary_from_a_huge_term_id_is_refused():
    out = run_capped(
        """
        docs = (np.array([0, 10**9], dtype=np.int64), np.array([1.0, 1.0], dtype=np.float32),
                np.array([0, 1, 2], dtype=np.int64))
        expect_refusal(lambda: aftershock.SparseIndex.build(docs), "docs: a vocabulary of 1000000001 terms", "needs", "dim")
        expect_refusal(lambda: aftershock.exact_search(docs, docs, 1), "1000000001 terms", "needs", "dim")
        """
    )
    assert_all_refused(out, 2)


def test_dim_beyond_uint32_term_ids_is_refused():
    import numpy as np

    from aftershock import SparseIndex

    docs = (np.array([0, 1], dtype=np.int64), np.array([1.0, 1.0], dtype=np.float32), np.array([0, 2]))
    with pytest.raises(ValueError, match="dim"):
        SparseIndex.build(docs, dim=2**32 + 5)


def test_muvera_encodings_beyond_memory_are_refused():
    # r_reps = d_proj = 4096 is in range (2^24 values per document), but 64 documents of
    # 2^24 floats need 4 GiB, and the projection weights another 24 GiB.
    out = run_capped(
        """
        rng = np.random.default_rng(0)
        docs = [rng.standard_normal((4, 8)).astype(np.float32) for _ in range(64)]
        expect_refusal(lambda: aftershock.MultiVectorIndex.build(docs, method="muvera", k_sim=0, r_reps=4096,
                                                               d_proj=4096, fde_precision="fp32"),
                       "needs", "r_reps")
        """
    )
    assert_all_refused(out, 1)


def test_knn_graph_beyond_memory_is_refused():
    # 30,000 documents and knn = 29,999: a 3.4 GiB graph, refused before the build's work
    # and by build_knn on a built index.
    out = run_capped(
        """
        import scipy.sparse as sp
        n = 30000
        rows = np.repeat(np.arange(n), 2)
        cols = np.stack([np.arange(n) % 97, 100 + np.arange(n) % 89], axis=1).ravel()
        docs = sp.csr_matrix((np.ones(2 * n, dtype=np.float32), (rows, cols)), shape=(n, 200))
        expect_refusal(lambda: aftershock.SparseIndex.build(docs, knn=n - 1), "knn", "needs")
        ix = aftershock.SparseIndex.build(docs, n_postings=50)
        expect_refusal(lambda: ix.build_knn(n - 1), "knn", "needs")
        """
    )
    assert_all_refused(out, 2)
