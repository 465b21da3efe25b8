"""Hypothesis strategies for valid CSR batches (sorted unique term ids, weights >= 0)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st


@st.composite
def csr_batches(draw, n_rows=st.integers(0, 40), dim=st.integers(1, 60), max_nnz=25, zero_rows=True):
    """A scipy CSR float32 batch with canonical rows; some rows may be empty."""
    n = draw(n_rows)
    d = draw(dim)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for r in range(n):
        nnz = int(rng.integers(0 if zero_rows else 1, min(d, max_nnz) + 1))
        c = np.sort(rng.choice(d, size=nnz, replace=False))
        # Coarse weights make exact score ties common, which exercises the tie rule.
        v = rng.integers(0, 8, size=nnz).astype(np.float32) / 4.0 if rng.random() < 0.3 else rng.lognormal(
            0, 1, size=nnz
        ).astype(np.float32)
        rows.append(np.full(nnz, r))
        cols.append(c)
        vals.append(v)
    if n == 0:
        return sp.csr_matrix((0, d), dtype=np.float32)
    m = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, d), dtype=np.float32
    )
    m.sort_indices()
    return m
