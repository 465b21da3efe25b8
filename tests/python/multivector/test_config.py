"""The typed parameters of MultiVectorIndex (python/aftershock/multivector.py over
cpp/include/aftershock/multivector/config.hpp): a parameter of the other method is a
TypeError naming it and its method, before any work; None means the method's default;
info() has the layout every class shares, with resolved values of the right types."""

from __future__ import annotations

import numpy as np
import pytest

from aftershock import MultiVectorIndex

# The layout of aftershock._info.make_info (as tests/python/test_vocabulary.py checks it
# for the sparse index).
INFO_KEYS = {"kind", "n_docs", "dim", "precision", "size_bytes", "build", "search", "stats"}

CENTROID_BUILD = {"n_centroids": 16, "kmeans_iters": 3, "kmeans_points_per_centroid": 8}
MUVERA_BUILD = {
    "k_sim": 3, "r_reps": 2, "d_proj": 8, "fill_empty": False, "final_dim": 64, "fde_precision": "fp32",
}
CENTROID_SEARCH = {"n_probe": 2, "n_interaction": 0, "bitvector_threshold": 0.5, "n_bitvector": 100}


class Exploding:
    """Documents that fail if anything reads them: the parameter check must come first."""

    def __array__(self, *args, **kwargs):
        raise AssertionError("the documents were read before the parameters were checked")


@pytest.mark.parametrize("name,value", sorted(MUVERA_BUILD.items()))
def test_muvera_parameter_for_centroid_is_a_type_error(name, value):
    with pytest.raises(TypeError, match=rf"{name}.*method='muvera'"):
        MultiVectorIndex.build(Exploding(), np.array([0, 1]), method="centroid", **{name: value})


@pytest.mark.parametrize("name,value", sorted(CENTROID_BUILD.items()))
def test_centroid_parameter_for_muvera_is_a_type_error(name, value):
    with pytest.raises(TypeError, match=rf"{name}.*method='centroid'"):
        MultiVectorIndex.build(Exploding(), np.array([0, 1]), method="muvera", **{name: value})


@pytest.mark.parametrize("name,value", sorted(CENTROID_SEARCH.items()))
def test_centroid_search_parameter_for_muvera_is_a_type_error(data, muvera_index, name, value):
    _, _, queries = data
    with pytest.raises(TypeError, match=rf"{name}.*method='centroid'"):
        muvera_index.search(queries[:2], **{name: value})


def test_misspelt_keyword_is_pythons_type_error(data, centroid_index):
    _, _, queries = data
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_prob'"):
        centroid_index.search(queries[:2], n_prob=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'kmeans_iter'"):
        MultiVectorIndex.build(Exploding(), np.array([0, 1]), kmeans_iter=3)


def test_none_is_the_methods_default(data):
    vectors, offsets, queries = data
    a = MultiVectorIndex.build(vectors, offsets, method="muvera", seed=4)
    b = MultiVectorIndex.build(
        vectors, offsets, method="muvera", seed=4, k_sim=None, r_reps=None, d_proj=None, fill_empty=None,
        final_dim=None, fde_precision=None,
    )
    assert a.to_bytes() == b.to_bytes()
    assert a.info()["build"]["fde_precision"] == "int8"


def test_bitvector_threshold_none_is_off(data, centroid_index):
    _, _, queries = data
    base = centroid_index.search(queries, k=10, n_candidates=50)
    off = centroid_index.search(queries, k=10, n_candidates=50, bitvector_threshold=None, n_bitvector=60)
    np.testing.assert_array_equal(off.ids, base.ids)
    np.testing.assert_array_equal(off.scores, base.scores)
    on = centroid_index.search(queries, k=10, n_candidates=50, bitvector_threshold=5.0, n_bitvector=60)
    assert not np.array_equal(on.ids, base.ids)  # a threshold no token reaches: the prefilter acts


@pytest.mark.parametrize("method", ["centroid", "muvera"])
def test_info_layout(data, method):
    vectors, offsets, _ = data
    own = CENTROID_BUILD if method == "centroid" else MUVERA_BUILD
    index = MultiVectorIndex.build(vectors, offsets, method=method, precision="bf16", seed=2**63 + 1, **own)
    info = index.info()
    assert set(info) == INFO_KEYS
    assert info["kind"] == "MultiVectorIndex"
    assert info["precision"] == index.precision == "bf16"
    assert info["n_docs"] == len(index) == len(offsets) - 1
    assert info["dim"] == index.dim == vectors.shape[1]
    assert info["size_bytes"] == index.size_bytes > 0

    build = info["build"]
    assert set(build) == {"method", "pool_factor", "pool_iters", "seed", *own}
    assert build["method"] == method
    assert build["seed"] == 2**63 + 1 and isinstance(build["seed"], int)
    assert build["pool_factor"] == 1.0 and isinstance(build["pool_factor"], float)
    assert build["pool_iters"] == 4 and isinstance(build["pool_iters"], int)
    for name, value in own.items():
        assert build[name] == value and type(build[name]) is type(value), name

    stats = info["stats"]
    assert stats["total_tokens"] == stats["original_tokens"] == len(vectors)
    parts = ("index_size_bytes", "store_size_bytes", "ids_bytes", "tombstones_bytes")
    assert sum(stats[p] for p in parts) == info["size_bytes"]
    search = info["search"]
    if method == "centroid":
        n_candidates = min(512, info["n_docs"])  # multivector.default_search for this corpus size
        assert search == {
            "n_candidates": n_candidates,
            "n_probe": 1,
            "n_interaction": 8 * n_candidates,
            "bitvector_threshold": None,
            "n_bitvector": 0,
        }
        assert stats["n_centroids"] == 16 and stats["n_postings"] > 0
    else:
        assert search == {"n_candidates": 1024}
        assert stats["fde_dim"] == 64
    # The two per-token ratios are the only floats.
    assert stats.pop("bytes_per_token") == info["size_bytes"] / stats["total_tokens"]
    assert stats.pop("store_bytes_per_token") == stats["store_size_bytes"] / stats["total_tokens"]
    assert stats.pop("mapping") == {"is_mapped": False, "mapped_bytes": 0, "resident_bytes": 0}
    for key, value in {**stats, **{k: v for k, v in search.items() if v is not None}}.items():
        assert isinstance(value, int) and not isinstance(value, bool), key
    assert repr(index) == (
        f"MultiVectorIndex(method='{method}', n_docs={info['n_docs']}, dim={info['dim']}, "
        f"precision='bf16', size_bytes={info['size_bytes']})"
    )


def test_info_reports_resolved_defaults(data, centroid_index):
    vectors, _, _ = data
    build = centroid_index.info()["build"]
    n = build["n_centroids"]
    assert n >= 16 and n & (n - 1) == 0 and n <= 2 * np.sqrt(len(vectors))  # auto: a power of two
    assert build["kmeans_iters"] == 8 and build["kmeans_points_per_centroid"] == 64
