"""Shared pieces of the MaxSim tests: the float64 reference, the error bounds, data makers.

Error bounds (derived in cpp/src/maxsim/README.md; u = 2^-24, eps = 2^-23 = 2u):
  A_i = max_j sum_k |q_ik d_jk|
  fp32:  |score - ref| <= (dim + m + 2) * eps * sum_i A_i + abs_term
  fp16 / bf16 / int8: the storage rounding bound below plus the fp32 bound.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EPS = 2.0**-23
TINY = 2.0**-120  # generous absolute slack for subnormal underflow / bf16 flush-to-zero
DIMS = [1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129]
PRECISIONS = ["fp32", "fp16", "bf16", "int8"]

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 (round to nearest even) -> float32, as the store does."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def ref_maxsim(q: np.ndarray, docs) -> np.ndarray:
    q64 = q.astype(np.float64)
    return np.array([(q64 @ d.astype(np.float64).T).max(axis=1).sum() for d in docs])


def abs_products(q: np.ndarray, docs) -> np.ndarray:
    """[n_docs, m]: A_ij = max_t sum_k |q_ik d_tk| per document."""
    qa = np.abs(q.astype(np.float64))
    return np.array([(qa @ np.abs(d.astype(np.float64)).T).max(axis=1) for d in docs])


def fp32_tol(q, docs, extra_dim=0):
    m, dim = q.shape
    a = abs_products(q, docs).sum(axis=1)
    return (dim + extra_dim + m + 2) * EPS * a + m * (dim + 2) * TINY * (1 + np.abs(q).max())


def make_docs(rng, n_docs, dim, lengths=None, scale_spread=3.0):
    if lengths is None:
        lengths = rng.integers(1, 40, size=n_docs)
    docs = []
    for n in lengths:
        d = rng.standard_normal((int(n), dim)).astype(np.float32)
        d *= (2.0 ** rng.uniform(-scale_spread, scale_spread, size=(int(n), 1))).astype(np.float32)
        docs.append(d)
    return docs


def make_query(rng, m, dim):
    q = rng.standard_normal((m, dim)).astype(np.float32)
    q *= (2.0 ** rng.uniform(-3, 3, size=(m, 1))).astype(np.float32)
    return q


shapes = st.fixed_dictionaries(
    {
        "dim": st.sampled_from(DIMS),
        "m": st.one_of(st.integers(1, 17), st.sampled_from([1, 8, 9, 32])),
        "lengths": st.lists(
            st.one_of(st.integers(1, 50), st.sampled_from([1, 15, 16, 17, 31, 32, 33, 48, 49, 64, 65])),
            min_size=1,
            max_size=5,
        ),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def make_case(shape: dict):
    """(rng, docs, query) for one drawn `shapes` example; the rng continues for the test."""
    rng = np.random.default_rng(shape["seed"])
    dim, m = shape["dim"], shape["m"]
    docs = make_docs(rng, len(shape["lengths"]), dim, shape["lengths"])
    q = make_query(rng, m, dim)
    return rng, docs, q


def int8_bound(q, docs):
    """Provable |int8 score - exact score| (README: int8 error bound)."""
    q64 = q.astype(np.float64)
    m, dim = q.shape
    t = (np.abs(q).max(axis=1) / np.float32(127)).astype(np.float64)  # per query token
    e_q = t * 0.5 * (1 + 2.0**-16)
    q1 = np.abs(q64).sum(axis=1)
    out = []
    for d in docs:
        d64 = d.astype(np.float64)
        s = (np.abs(d).max(axis=1) / np.float32(127)).astype(np.float64)
        e_d = s * 0.5 * (1 + 2.0**-16)
        d1 = np.abs(d64).sum(axis=1)
        b = q1[:, None] * e_d[None, :] + (d1 + dim * e_d)[None, :] * e_q[:, None]  # [m, n]
        a = np.abs(q64) @ np.abs(d64).T
        bmax = b.max(axis=1)
        out.append(bmax.sum() + (m + 3) * EPS * (a.max(axis=1) + bmax).sum() + m * (dim + 2) * TINY)
    return np.array(out)


def topk_ref(scores: np.ndarray, ids: np.ndarray, k: int):
    order = np.lexsort((ids, -scores))[:k]
    return scores[order], ids[order]
