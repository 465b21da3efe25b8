"""Exact merge of per-shard top-k lists (no Ray here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._results import SearchResult


def merge_topk(parts: Sequence[tuple[np.ndarray, np.ndarray]], k: int, n_queries: int) -> SearchResult:
    """Merge shards' top-k lists (scores float32, *global* ids int64, ``[n_queries, k_i]``).

    The result is the exact top-k of the union: best score first, ties to the smaller id
    (the rule of every aftershock search), padded with ``-inf`` / ``-1``. Each shard's list
    is already its exact top-k, so the union's top-k is the global top-k of what the shards
    searched. With no parts (no shard answered) every row is padding.
    """
    scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
    ids = np.full((n_queries, k), -1, dtype=np.int64)
    if not parts:
        return SearchResult(scores, ids)
    all_scores = np.concatenate([np.asarray(s, dtype=np.float32) for s, _ in parts], axis=1)
    all_ids = np.concatenate([np.asarray(i, dtype=np.int64) for _, i in parts], axis=1)
    # Padding (-1) sorts after every real id among equal scores; its -inf score sorts last anyway.
    tie_key = np.where(all_ids < 0, np.iinfo(np.int64).max, all_ids)
    order = np.lexsort((tie_key, -all_scores), axis=1)[:, :k]
    width = order.shape[1]
    scores[:, :width] = np.take_along_axis(all_scores, order, axis=1)
    ids[:, :width] = np.take_along_axis(all_ids, order, axis=1)
    ids[~np.isfinite(scores)] = -1
    scores[ids < 0] = -np.inf
    return SearchResult(scores, ids)
