"""Shared pieces of the multi-vector index tests: clustered test data, the float64 MaxSim
reference, recall and misaligned arrays."""

from __future__ import annotations

import numpy as np

EPS32 = np.finfo(np.float32).eps
# Level names -> the ids the private kernel entry points take.
LEVEL_ID = {"scalar": 0, "avx2": 1, "avx512": 2}
DIMS = [1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129]


def clustered(n_docs=600, dim=48, n_queries=40, mean_tokens=24, query_tokens=12, seed=0):
    """Topic model: unit prototypes grouped in topics; a document mixes 1-3 topics, a token is
    normalize(prototype + noise). A query samples tokens from one document's topics."""
    rng = np.random.default_rng(seed)
    n_topics, n_protos, per_topic = max(8, n_docs // 20), max(64, n_docs // 2), 24
    protos = rng.standard_normal((n_protos, dim))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    topic_protos = rng.integers(0, n_protos, size=(n_topics, per_topic))

    def sample(topics, n):
        t = topics[rng.integers(0, len(topics), n)]
        centers = protos[topic_protos[t, rng.integers(0, per_topic, n)]]
        x = centers + (0.35 / np.sqrt(dim)) * rng.standard_normal((n, dim))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    lengths = rng.integers(max(1, mean_tokens // 3), 2 * mean_tokens, n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    doc_topics = [rng.integers(0, n_topics, rng.integers(1, 4)) for _ in range(n_docs)]
    vectors = np.concatenate([sample(doc_topics[d], lengths[d]) for d in range(n_docs)])
    queries = [sample(doc_topics[rng.integers(0, n_docs)], query_tokens) for _ in range(n_queries)]
    return vectors, offsets, queries


def reference_maxsim(vectors, offsets, query):
    """float64 MaxSim of one query against every document."""
    sims = query.astype(np.float64) @ vectors.astype(np.float64).T
    return np.maximum.reduceat(sims, offsets[:-1], axis=1).sum(axis=0)


def recall_at(result, exact, k=10):
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(result.ids, exact.ids)]))


def misaligned(arr):
    """The same values in a C-contiguous array whose data pointer is 4 bytes off alignment."""
    buf = np.empty(arr.size + 1, dtype=arr.dtype)
    out = buf[1:].reshape(arr.shape)
    out[...] = arr
    return out
