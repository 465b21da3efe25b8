"""The 0.1 spellings of the store still work for one release, each with a DeprecationWarning:
the constructor, search_exact, and the module aftershock.maxsim."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import aftershock
from aftershock import MultiVectorStore


def test_constructor_warns_and_builds(corpus):
    docs, queries = corpus
    with pytest.warns(DeprecationWarning, match=r"MultiVectorStore\.build"):
        old = MultiVectorStore(docs[:20], precision="bf16")
    new = MultiVectorStore.build(docs[:20], precision="bf16")
    assert isinstance(old, MultiVectorStore)
    assert old.to_bytes() == new.to_bytes()
    flat = np.concatenate(docs[:3])
    offsets = np.cumsum([0] + [d.shape[0] for d in docs[:3]])
    with pytest.warns(DeprecationWarning):
        assert MultiVectorStore(flat, offsets).n_docs == 3


def test_search_exact_warns_and_equals_search(corpus):
    docs, queries = corpus
    store = MultiVectorStore.build(docs)
    with pytest.warns(DeprecationWarning, match=r"MultiVectorStore\.search"):
        old = store.search_exact(queries, 5, num_threads=1)
    new = store.search(queries, 5)
    np.testing.assert_array_equal(old.ids, new.ids)
    np.testing.assert_array_equal(old.scores, new.scores)


def test_maxsim_module_is_a_deprecated_alias():
    module = importlib.import_module("aftershock.maxsim")
    with pytest.warns(DeprecationWarning, match=r"aftershock\.store\.MultiVectorStore"):
        cls = module.MultiVectorStore
    assert cls is aftershock.MultiVectorStore is aftershock.store.MultiVectorStore
    with pytest.warns(DeprecationWarning):
        from aftershock.maxsim import MultiVectorStore as alias  # noqa: F401
    assert alias is MultiVectorStore
    with pytest.raises(AttributeError):
        module.not_there  # noqa: B018
