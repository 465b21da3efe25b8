"""Fixtures shared by the sparse tests."""

from __future__ import annotations

import pytest

from aftershock import exact_search
from aftershock.datasets import synthetic_sparse


@pytest.fixture(scope="package")
def synthetic():
    """20,000 synthetic documents, 200 queries and their exact top 10 (built once)."""
    docs, queries = synthetic_sparse(20000, 200, seed=7)
    truth = exact_search(docs, queries, 10)
    return docs, queries, truth
