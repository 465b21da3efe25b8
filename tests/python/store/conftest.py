"""Fixtures shared by the store tests (the data makers are the MaxSim tests' own)."""

from __future__ import annotations

import numpy as np
import pytest

from maxsim.reference import make_docs, make_query


@pytest.fixture(scope="package")
def corpus():
    """150 ragged documents of dim 24 and 7 queries of 1-19 tokens."""
    rng = np.random.default_rng(1)
    dim = 24
    docs = make_docs(rng, 150, dim, rng.integers(1, 70, size=150), scale_spread=1.0)
    queries = [make_query(rng, int(m), dim) for m in rng.integers(1, 20, size=7)]
    return docs, queries
