"""exact_search (cpp/src/sparse/exact.cpp): equals the float64 brute-force top k within the
float32 error bound, and is exactly the kernel's top k when scores differ by about one ulp."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import aftershock
from aftershock import _core, exact_search
from strategies import csr_batches

from .reference import assert_topk_matches, reference_topk


@given(csr_batches(), csr_batches(n_rows=st.integers(0, 8)), st.integers(1, 12))
def test_exact_search_matches_float64_reference(docs, queries, k):
    queries = sp.csr_matrix(queries[:, : docs.shape[1]]) if queries.shape[1] >= docs.shape[1] else sp.hstack(
        [queries, sp.csr_matrix((queries.shape[0], docs.shape[1] - queries.shape[1]), dtype=np.float32)]
    ).tocsr()
    queries.sort_indices()
    res = exact_search(docs, queries, k, num_threads=2)
    ref_s, ref_i, bound = reference_topk(docs, queries, k)
    assert_topk_matches(res, ref_s, ref_i, bound)


@given(st.integers(1, 120), st.integers(1, 8), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_exact_search_is_the_kernel_top_k_under_near_ties(n_docs, k, seed):
    """exact_search prunes with approximate scores before its exact pass; with documents
    whose scores differ by about one float32 ulp it must still return exactly the top k
    of the kernel's scores (ties to the smaller id)."""
    rng = np.random.default_rng(seed)
    dim = 50
    base = np.sort(rng.choice(dim, size=12, replace=False))
    w = rng.lognormal(0, 1, 12).astype(np.float32)
    rows, vals = [], []
    for i in range(n_docs):
        extra = np.sort(rng.choice(np.setdiff1d(np.arange(dim), base), size=int(rng.integers(0, 4)), replace=False))
        cols = np.sort(np.r_[base, extra])
        v = np.where(np.isin(cols, base), 1.0, 1e-7).astype(np.float64)
        v[np.isin(cols, base)] = w * (1 + rng.integers(-3, 4) * 1e-7)
        rows.append(cols)
        vals.append(v.astype(np.float32))
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
    docs = sp.csr_matrix((np.concatenate(vals), np.concatenate(rows), indptr), shape=(n_docs, dim))
    queries = sp.csr_matrix(rng.lognormal(0, 1, (3, dim)).astype(np.float32) * (rng.random((3, dim)) < 0.5))
    got = exact_search(docs, queries, k)
    level = aftershock.simd_info()["active"]
    for qi in range(queries.shape[0]):
        q = queries[qi].toarray().ravel().astype(np.float32)
        scores = [
            _core._sparse_dot(level, docs.indices[indptr[d]:indptr[d + 1]].astype(np.uint32),
                              docs.data[indptr[d]:indptr[d + 1]], q)
            for d in range(n_docs)
        ]
        shares = [bool((q[docs.indices[indptr[d]:indptr[d + 1]]] > 0).any()) for d in range(n_docs)]
        order = sorted((d for d in range(n_docs) if shares[d]), key=lambda d: (-np.float32(scores[d]), d))[:k]
        np.testing.assert_array_equal(got.ids[qi, : len(order)], order)
        np.testing.assert_array_equal(got.scores[qi, : len(order)], np.float32([scores[d] for d in order]))
