"""Every public integer argument goes through _validate before _core: an int no C++ integer
holds (10**30) is a ValueError naming the argument and its range, not pybind11's dump of a
private function's signature (a TypeError)."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorIndex, MultiVectorStore, SparseIndex, exact_search
from aftershock.datasets import synthetic_sparse

HUGE = 10**30


def _tokens(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(2, 5)), 8)).astype(np.float32) for _ in range(n)]


@pytest.fixture(scope="module")
def made():
    docs, queries = synthetic_sparse(60, 2, vocab_size=50, doc_nnz=5, seed=1)
    tokens = _tokens()
    return {
        "docs": docs,
        "queries": queries,
        "dense": docs.toarray(),
        "tokens": tokens,
        "sparse": SparseIndex.build(docs, n_postings=20),
        "store": MultiVectorStore.build(tokens),
        "centroid": MultiVectorIndex.build(tokens, method="centroid", n_centroids=4),
        "muvera": MultiVectorIndex.build(tokens, method="muvera"),
    }


def _kw(name):
    return {name: HUGE}


CALLS = {
    # SparseIndex.build
    **{f"SparseIndex.build({n})": (n, lambda m, n=n: SparseIndex.build(m["docs"], **_kw(n)))
       for n in ("n_postings", "min_cluster_size", "knn", "num_threads", "seed")},
    "SparseIndex.build(dim)": ("dim", lambda m: SparseIndex.build(m["dense"], dim=HUGE)),
    # SparseIndex.search / build_knn / introspection
    "SparseIndex.search(k)": ("k", lambda m: m["sparse"].search(m["queries"], HUGE)),
    **{f"SparseIndex.search({n})": (n, lambda m, n=n: m["sparse"].search(m["queries"], 3, **_kw(n)))
       for n in ("query_cut", "n_knn", "num_threads")},
    **{f"SparseIndex.build_knn({n})": (n, lambda m, n=n: m["sparse"].build_knn(**{"knn": 2, **_kw(n)}))
       for n in ("knn", "query_cut", "num_threads")},
    "SparseIndex.blocks_of(term)": ("term", lambda m: m["sparse"].blocks_of(HUGE)),
    "SparseIndex.summary_of(term)": ("term", lambda m: m["sparse"].summary_of(HUGE, 0)),
    "SparseIndex.summary_of(block)": ("block", lambda m: m["sparse"].summary_of(0, HUGE)),
    "exact_search(k)": ("k", lambda m: exact_search(m["docs"], m["queries"], HUGE)),
    "exact_search(num_threads)": (
        "num_threads", lambda m: exact_search(m["docs"], m["queries"], 3, num_threads=HUGE)),
    # MultiVectorStore
    "MultiVectorStore.build(num_threads)": (
        "num_threads", lambda m: MultiVectorStore.build(m["tokens"], num_threads=HUGE)),
    "MultiVectorStore.maxsim(num_threads)": (
        "num_threads", lambda m: m["store"].maxsim(m["tokens"][0], num_threads=HUGE)),
    "MultiVectorStore.maxsim_batch(num_threads)": (
        "num_threads", lambda m: m["store"].maxsim_batch(m["tokens"][:2], num_threads=HUGE)),
    "MultiVectorStore.search(k)": ("k", lambda m: m["store"].search(m["tokens"][:2], HUGE)),
    "MultiVectorStore.search(num_threads)": (
        "num_threads", lambda m: m["store"].search(m["tokens"][:2], 3, num_threads=HUGE)),
    "MultiVectorStore.rerank(k)": ("k", lambda m: m["store"].rerank(m["tokens"][:2], [[0, 1], [2, 3]], HUGE)),
    "MultiVectorStore.rerank(num_threads)": (
        "num_threads", lambda m: m["store"].rerank(m["tokens"][:2], [[0, 1], [2, 3]], 3, num_threads=HUGE)),
    # MultiVectorIndex.build
    **{f"MultiVectorIndex.build(centroid, {n})": (
        n, lambda m, n=n: MultiVectorIndex.build(m["tokens"], method="centroid", **_kw(n)))
       for n in ("pool_iters", "n_centroids", "kmeans_iters", "kmeans_points_per_centroid", "seed",
                 "num_threads")},
    **{f"MultiVectorIndex.build(muvera, {n})": (
        n, lambda m, n=n: MultiVectorIndex.build(m["tokens"], method="muvera", **_kw(n)))
       for n in ("k_sim", "r_reps", "d_proj", "final_dim")},
    # MultiVectorIndex.search
    "MultiVectorIndex.search(k)": ("k", lambda m: m["centroid"].search(m["tokens"][:2], HUGE)),
    **{f"MultiVectorIndex.search(centroid, {n})": (
        n, lambda m, n=n: m["centroid"].search(m["tokens"][:2], 3, **_kw(n)))
       for n in ("n_candidates", "n_probe", "n_interaction", "n_bitvector", "num_threads")},
    "MultiVectorIndex.search(muvera, n_candidates)": (
        "n_candidates", lambda m: m["muvera"].search(m["tokens"][:2], 3, n_candidates=HUGE)),
    "MultiVectorIndex.search_exact(k)": ("k", lambda m: m["muvera"].search_exact(m["tokens"][:2], HUGE)),
    "MultiVectorIndex.search_exact(num_threads)": (
        "num_threads", lambda m: m["muvera"].search_exact(m["tokens"][:2], 3, num_threads=HUGE)),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_huge_int_is_a_value_error_naming_the_argument(made, call):
    name, fn = CALLS[call]
    pattern = rf"^{name}: expected an integer in \[\d+, 2\*\*(63|64|32) - 1\], got {HUGE}"
    with pytest.raises(ValueError, match=pattern):
        fn(made)
