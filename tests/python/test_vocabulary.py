"""One vocabulary across classes: info() layout, precision, size_bytes, and the deprecated
spellings of 0.1 that still work for one release with a DeprecationWarning."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import SparseIndex
from aftershock.datasets import synthetic_sparse

INFO_KEYS = {"kind", "n_docs", "dim", "precision", "size_bytes", "build", "search", "stats"}


@pytest.fixture(scope="module")
def sparse_index():
    docs, _ = synthetic_sparse(400, 2, seed=3)
    return SparseIndex.build(docs, precision="fp32", n_postings=200, seed=5)


def test_sparse_info_layout(sparse_index):
    info = sparse_index.info()
    assert set(info) == INFO_KEYS
    assert info["kind"] == "SparseIndex"
    assert info["precision"] == sparse_index.precision == "fp32"
    assert info["n_docs"] == len(sparse_index) == 400
    assert info["size_bytes"] == sparse_index.size_bytes > 0
    assert info["build"]["seed"] == 5 and isinstance(info["build"]["seed"], int)
    assert info["build"]["n_postings"] == 200
    assert set(info["search"]) == {"query_cut", "heap_factor", "n_knn"}
    assert info["stats"]["n_postings"] > 0
    assert sum(v for k, v in info["stats"].items() if k.endswith("_bytes")) == info["size_bytes"]


def test_sparse_precision_choices():
    docs, _ = synthetic_sparse(200, 2, seed=1)
    assert SparseIndex.build(docs).precision == "fp16"
    with pytest.raises(ValueError, match="precision"):
        SparseIndex.build(docs, precision="float32")
    with pytest.raises(TypeError, match="precision"):
        SparseIndex.build(docs, precision=np.float32)


def test_sparse_deprecated_spellings(sparse_index):
    docs, _ = synthetic_sparse(200, 2, seed=1)
    with pytest.warns(DeprecationWarning, match="precision"):
        old = SparseIndex.build(docs, value_dtype="float32")
    assert old.precision == "fp32"
    with pytest.warns(DeprecationWarning, match="precision"):
        assert SparseIndex.build(docs, value_dtype=np.float16).precision == "fp16"
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="value_dtype"):
        SparseIndex.build(docs, value_dtype="int8")
    with pytest.warns(DeprecationWarning, match="size_bytes"):
        assert sparse_index.memory_bytes == sparse_index.size_bytes
    with pytest.warns(DeprecationWarning, match="info"):
        assert sparse_index.build_params["value_dtype"] == "float32"
    with pytest.warns(DeprecationWarning, match="info"):
        assert sparse_index.stats["n_blocks"] == sparse_index.info()["stats"]["n_blocks"]
