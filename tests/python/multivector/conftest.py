"""Fixtures shared by the multi-vector index tests."""

from __future__ import annotations

import pytest

from aftershock import MultiVectorIndex

from .reference import clustered


@pytest.fixture(scope="package")
def data():
    return clustered()


@pytest.fixture(scope="package")
def centroid_index(data):
    vectors, offsets, _ = data
    return MultiVectorIndex.build(vectors, offsets, method="centroid", seed=7)


@pytest.fixture(scope="package")
def muvera_index(data):
    vectors, offsets, _ = data
    return MultiVectorIndex.build(vectors, offsets, method="muvera", seed=7)
