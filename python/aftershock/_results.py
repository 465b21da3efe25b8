"""The result type shared by every search call."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SearchResult(NamedTuple):
    """Top-k results of a batch of queries.

    Attributes
    ----------
    scores : numpy.ndarray
        float32 ``[n_queries, k]``, best first; ``-inf`` pads rows with fewer than k results.
    ids : numpy.ndarray
        int64 ``[n_queries, k]`` document ids (row numbers); ``-1`` pads.
        Ties are broken by the smaller id.
    """

    scores: np.ndarray
    ids: np.ndarray
