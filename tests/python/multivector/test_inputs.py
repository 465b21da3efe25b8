"""Inputs of MultiVectorIndex (python/aftershock/multivector.py): the query forms agree,
documents may be a list (results padded), every class of invalid input raises its
documented exception, and the private core does not cast silently."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorIndex, _core


def test_query_forms_agree(data, centroid_index):
    _, _, queries = data
    base = centroid_index.search(queries[:4], k=5)
    flat = np.concatenate(queries[:4])
    offs = np.cumsum([0] + [len(q) for q in queries[:4]])
    np.testing.assert_array_equal(centroid_index.search(flat, k=5, query_offsets=offs).ids, base.ids)
    np.testing.assert_array_equal(centroid_index.search(np.stack(queries[:4]), k=5).ids, base.ids)
    np.testing.assert_array_equal(centroid_index.search(queries[:1], k=5).ids, base.ids[:1])
    with pytest.raises(ValueError, match="wrap it in a list"):
        centroid_index.search(queries[0], k=5)
    np.testing.assert_array_equal(
        centroid_index.search([q.astype(np.float64) for q in queries[:4]], k=5).ids, base.ids
    )


def test_list_of_documents_and_padding():
    rng = np.random.default_rng(0)
    docs = [rng.standard_normal((n, 8)).astype(np.float32) for n in (1, 3, 2, 5, 4)]
    index = MultiVectorIndex.build(docs, method="centroid", n_centroids=4)
    res = index.search([rng.standard_normal((2, 8))], k=8, n_candidates=5)
    assert res.scores.shape == (1, 8) and res.ids.dtype == np.int64 and res.scores.dtype == np.float32
    assert sorted(res.ids[0, :5]) == [0, 1, 2, 3, 4]
    assert np.all(res.ids[0, 5:] == -1) and np.all(np.isneginf(res.scores[0, 5:]))
    assert len(index) == 5 and "centroid" in repr(index)


def test_bad_input_raises(data, centroid_index, muvera_index):
    vectors, offsets, queries = data
    small, small_off = vectors[:200], offsets[offsets <= 200]
    small_off = np.append(small_off[:-1], 200) if small_off[-1] != 200 else small_off
    build = MultiVectorIndex.build

    bad = small.copy()
    bad[17, 3] = np.nan
    with pytest.raises(ValueError, match="vectors"):
        build(bad, small_off)
    bad[17, 3] = np.inf
    with pytest.raises(ValueError, match="vectors"):
        build(bad, small_off, method="muvera")
    with pytest.raises(ValueError, match="offsets"):
        build(small, small_off[::-1].copy())
    with pytest.raises(ValueError, match="offsets"):
        build(small, np.array([0, 5, 5, 200]))
    with pytest.raises(ValueError, match="offsets"):
        build(small, np.array([0, 5, 199]))
    with pytest.raises(ValueError, match="offsets"):
        build(small, None)
    with pytest.raises(TypeError, match="vectors"):
        build(small > 0, small_off)
    with pytest.raises(TypeError, match="offsets"):
        build(small, small_off.astype(np.float64))
    with pytest.raises(ValueError, match="method"):
        build(small, small_off, method="plaid")
    with pytest.raises(ValueError, match="precision"):
        build(small, small_off, precision="fp8")
    with pytest.raises(TypeError, match="n_centroidz"):  # a misspelt keyword: Python's own TypeError
        build(small, small_off, n_centroidz=4)
    with pytest.raises(TypeError, match="k_sim.*muvera"):  # a muvera parameter given to the centroid method
        build(small, small_off, k_sim=3)
    with pytest.raises(ValueError, match="k_sim"):
        build(small, small_off, method="muvera", k_sim=13)
    with pytest.raises(ValueError, match="n_centroids"):
        build(small, small_off, n_centroids=201)
    with pytest.raises(TypeError, match="n_centroids"):  # a count is an int
        build(small, small_off, n_centroids=2.5)
    with pytest.raises(ValueError, match="pool_factor"):
        build(small, small_off, pool_factor=0.5)
    with pytest.raises(ValueError, match="fde_precision"):
        build(small, small_off, method="muvera", fde_precision="int4")
    with pytest.raises(TypeError, match="n_centroids"):
        build(small, small_off, n_centroids="64")
    with pytest.raises(ValueError, match="num_threads"):
        build(small, small_off, num_threads=-1)

    for index in (centroid_index, muvera_index):
        with pytest.raises(ValueError, match="queries"):
            index.search([np.ones((3, 47), np.float32)])
        with pytest.raises(ValueError, match="queries"):
            index.search([np.ones((0, 48), np.float32)])
        q = queries[0].copy()
        q[0, 0] = np.nan
        with pytest.raises(ValueError, match="queries"):
            index.search([q])
        with pytest.raises(ValueError, match="k"):
            index.search(queries[:2], k=0)
        with pytest.raises(ValueError, match="n_candidates"):
            index.search(queries[:2], n_candidates=0)
        with pytest.raises(TypeError, match="n_candidatez"):
            index.search(queries[:2], n_candidatez=5)
        with pytest.raises(ValueError, match="query_offsets"):
            index.search(np.concatenate(queries[:2]), query_offsets=[0, 5, 3])
        with pytest.raises(TypeError, match="queries"):
            index.search([queries[0].astype(np.complex64)])
    with pytest.raises(ValueError, match="n_probe"):
        centroid_index.search(queries[:2], n_probe=0)
    with pytest.raises(ValueError, match="n_interaction"):
        centroid_index.search(queries[:2], n_interaction=10, n_candidates=100)
    with pytest.raises(ValueError, match="bitvector_threshold"):
        centroid_index.search(queries[:2], bitvector_threshold=float("inf"), n_bitvector=500)
    with pytest.raises(ValueError, match="n_bitvector"):
        centroid_index.search(queries[:2], bitvector_threshold=0.5, n_bitvector=10, n_candidates=100)
    with pytest.raises(TypeError, match="n_probe.*centroid"):
        muvera_index.search(queries[:2], n_probe=4)


def test_core_is_strict(data, centroid_index):
    vectors, offsets, queries = data
    with pytest.raises(TypeError):  # float64 is not silently cast by the private core
        _core.MultiVectorIndex.build(vectors.astype(np.float64), offsets, method="centroid", num_threads=1)
    with pytest.raises(ValueError, match="offsets"):
        _core.MultiVectorIndex.build(vectors, offsets[:1], method="centroid", num_threads=1)
    with pytest.raises(TypeError):  # a float count is not silently truncated
        _core.MultiVectorIndex.build(vectors, offsets, n_centroids=2.5)
    with pytest.raises(ValueError, match="n_centroids"):
        _core.MultiVectorIndex.build(vectors, offsets, n_centroids=-1)
    with pytest.raises(ValueError, match="query_offsets"):
        centroid_index._core.search(queries[0], np.array([0, 99], np.int64), 10, num_threads=1)
    two = np.concatenate(queries[:2])
    two_offsets = np.array([0, len(queries[0]), len(two)], np.int64)
    with pytest.raises(ValueError, match="n_probe"):
        centroid_index._core.search(two, two_offsets, 10, n_probe=0)
