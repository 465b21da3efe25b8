"""tune(): the chosen setting reaches its target on held-out queries, is stored as the
index's default, saved with the index (TUNE section), and used by search(target_recall=).

Tolerance: tune() selects on a sample of ``sample`` queries, so held-out recall can be
below the target by the sampling error of a mean of ~200 per-query recalls (standard
error ~0.01-0.015 here) plus the selection bias of picking the cheapest passing setting;
the tests allow 0.04 below the target.
"""

from __future__ import annotations

import pickle

import aftershock
import aftfile
import numpy as np
import pytest
from aftershock import FormatError, MultiVectorIndex, SparseIndex, exact_search
from aftershock.datasets import synthetic_sparse
from aftershock.tuning import TuneResult, recall_at_k
from multivector.reference import clustered

TOLERANCE = 0.04


@pytest.fixture(scope="module")
def sparse_case():
    docs, queries = synthetic_sparse(2000, 400, vocab_size=3000, doc_nnz=80, query_nnz=20, seed=3)
    index = SparseIndex.build(docs, num_threads=2)
    return docs, queries, index


@pytest.fixture(scope="module")
def tuned_sparse(sparse_case):
    docs, queries, index = sparse_case
    index = SparseIndex.from_bytes(index.to_bytes())  # a fresh copy per module
    result = index.tune(queries[:200], target_recall=0.9, k=10, sample=200, repeats=1)
    return docs, queries, index, result


@pytest.fixture(scope="module")
def mv_case():
    vec, off, qs = clustered(n_docs=1500, dim=32, n_queries=300, mean_tokens=16, query_tokens=8, seed=5)
    index = MultiVectorIndex.build(vec, off, n_centroids=128, num_threads=2)
    return vec, off, qs, index


def _stored_recall(index, queries, k, **params):
    exact = exact_search(index._stored_docs()[0], queries, k)
    return recall_at_k(index.search(queries, k, **params).ids, exact.ids, k)


def test_sparse_tune_reaches_target_on_held_out_queries(tuned_sparse):
    _docs, queries, index, result = tuned_sparse
    assert isinstance(result, TuneResult) and result.reached
    assert result.recall >= 0.9 and result.queries == "given" and result.n_queries == 200
    assert set(result.params) == {"query_cut", "heap_factor"}
    # Every trial is reported, the chosen one among them, flagged in the table.
    rows = result.table()
    assert sum(r["chosen"] for r in rows) >= 1 and {"recall", "ms_per_query", "phase"} <= set(rows[0])
    assert any(r["phase"] == "refine" for r in rows) or len(rows) > 3
    held_out = queries[200:]
    assert _stored_recall(index, held_out, 10, target_recall=0.9) >= 0.9 - TOLERANCE
    # The defaults are the tuned ones, and target_recall= picks the same setting.
    assert index.info()["search"]["query_cut"] == result.params["query_cut"]
    a = index.search(held_out, 10, target_recall=0.9)
    b = index.search(held_out, 10, **result.params)
    c = index.search(held_out, 10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(c.ids, b.ids)
    # A lower target is served by the stored 0.9 setting (the fastest at least as high).
    np.testing.assert_array_equal(index.search(held_out, 10, target_recall=0.8).ids, b.ids)


def test_sparse_tune_from_documents(sparse_case):
    _docs, queries, index = sparse_case
    index = SparseIndex.from_bytes(index.to_bytes())
    result = index.tune(target_recall=0.9, k=10, sample=100, repeats=1)
    assert result.queries == "documents" and result.n_queries == 100
    assert result.reached
    # Document-queries are a proxy: the setting still does well on real-like queries.
    assert _stored_recall(index, queries[200:], 10) >= 0.9 - 2 * TOLERANCE


def test_tuned_settings_are_saved_and_reloaded(tuned_sparse, tmp_path):
    _, queries, index, result = tuned_sparse
    path = tmp_path / "tuned.aft"
    index.save(path)
    for other in (
        SparseIndex.load(path),
        SparseIndex.from_bytes(index.to_bytes()),
        pickle.loads(pickle.dumps(index)),
    ):
        assert other.tuned == index.tuned
        assert other.info()["search"] == index.info()["search"]
        np.testing.assert_array_equal(
            other.search(queries[:50], 10, target_recall=0.9).ids,
            index.search(queries[:50], 10, **result.params).ids,
        )
    # The core reads the file (it skips the TUNE section); a file without one loads untuned.
    plain = SparseIndex.from_bytes(index._core.to_bytes())
    assert plain.tuned == [] and plain.info()["search"]["query_cut"] == 5  # the built-in default
    assert "TUNE" in aftfile.sections(index.to_bytes())


def test_damaged_tune_section_raises_format_error(tuned_sparse, tmp_path):
    _, _, index, _ = tuned_sparse
    data = index.to_bytes()

    def garble(a):
        a[: min(8, a.size)] = ord("#")

    sealed = aftfile.edit_section(data, "TUNE", np.uint8, garble)  # checksums valid, JSON broken
    with pytest.raises(FormatError, match="TUNE"):
        SparseIndex.from_bytes(sealed)
    flipped = bytearray(data)
    flipped[aftfile.sections(data)["TUNE"][1] + 3] ^= 0x01  # checksum no longer matches
    with pytest.raises(FormatError):
        SparseIndex.from_bytes(bytes(flipped))
    (tmp_path / "bad.aft").write_bytes(sealed)
    with pytest.raises(FormatError, match="TUNE"):
        SparseIndex.load(tmp_path / "bad.aft")

    def bad_value(a):  # valid JSON, a parameter build would refuse
        text = bytes(a).replace(b'"query_cut": ', b'"query_cut":-')
        a[:] = np.frombuffer(text[: a.size].ljust(a.size, b" "), dtype=np.uint8)

    with pytest.raises(FormatError, match="query_cut"):
        SparseIndex.from_bytes(aftfile.edit_section(data, "TUNE", np.uint8, bad_value))


def test_untuned_target_and_conflicts_raise(sparse_case, tuned_sparse):
    _, queries, index = sparse_case
    fresh = SparseIndex.from_bytes(index._core.to_bytes())
    with pytest.raises(ValueError, match="target_recall"):
        fresh.search(queries[:3], 10, target_recall=0.9)
    _, _, tuned, _ = tuned_sparse
    with pytest.raises(ValueError, match="target_recall"):
        tuned.search(queries[:3], 10, target_recall=0.99)  # tuned for 0.9 only
    with pytest.raises(ValueError, match="target_recall"):
        tuned.search(queries[:3], 5, target_recall=0.9)  # tuned for k=10 only
    with pytest.raises(ValueError, match="query_cut"):
        tuned.search(queries[:3], 10, target_recall=0.9, query_cut=3)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"target_recall": 0.0}, ValueError, "target_recall"),
        ({"target_recall": 1.5}, ValueError, "target_recall"),
        ({"target_recall": "high"}, TypeError, "target_recall"),
        ({"k": 0}, ValueError, "k"),
        ({"sample": 0}, ValueError, "sample"),
        ({"max_ms": -1.0}, ValueError, "max_ms"),
        ({"repeats": 0}, ValueError, "repeats"),
        ({"ground_truth": np.zeros((3, 2), np.int64)}, ValueError, "ground_truth"),
    ],
)
def test_bad_tune_arguments(sparse_case, kwargs, exc, name):
    _, queries, index = sparse_case
    with pytest.raises(exc, match=name):
        index.tune(queries[:20], **kwargs)


def test_bad_tune_queries(sparse_case):
    _, _, index = sparse_case
    with pytest.raises(TypeError, match="queries"):
        index.tune(np.zeros((2, index.dim), dtype=np.complex64))
    with pytest.raises(ValueError, match="queries"):
        index.tune(np.zeros((2, index.dim + 1), dtype=np.float32))


def test_unreachable_max_ms_stores_nothing(sparse_case):
    _, queries, index = sparse_case
    fresh = SparseIndex.from_bytes(index._core.to_bytes())
    result = fresh.tune(queries[:20], target_recall=0.9, max_ms=1e-9, repeats=1)
    assert not result.reached and fresh.tuned == []
    assert "NOT reached" in str(result)


def test_multivector_tune(mv_case, tmp_path):
    _vec, _off, qs, index = mv_case
    index = MultiVectorIndex.from_bytes(index.to_bytes())
    result = index.tune(qs[:150], target_recall=0.9, k=10, sample=None, repeats=1)
    assert result.reached and set(result.params) == {"n_probe", "n_candidates"}
    held_out = qs[150:]
    exact = index.search_exact(held_out, 10)
    assert recall_at_k(index.search(held_out, 10, target_recall=0.9).ids, exact.ids, 10) >= 0.9 - TOLERANCE
    assert index.info()["search"]["n_candidates"] == result.params["n_candidates"]
    index.save(tmp_path / "mv.aft")
    loaded = MultiVectorIndex.load(tmp_path / "mv.aft")
    assert loaded.tuned == index.tuned
    np.testing.assert_array_equal(
        loaded.search(held_out, 10).ids, index.search(held_out, 10, **result.params).ids
    )
    with pytest.raises(ValueError, match="ground_truth"):
        index.tune(None, ground_truth=np.zeros((3, 10), np.int64))
    with pytest.raises(ValueError, match="n_probe"):
        index.search(held_out, 10, target_recall=0.9, n_probe=2)


def test_multivector_tune_from_documents(mv_case):
    vec, off, qs, index = mv_case
    np.testing.assert_array_equal(index._core.decode_doc(3), vec[off[3] : off[4]])  # fp32, no pooling
    with pytest.raises(IndexError):
        index._core.decode_doc(index.n_docs)
    index = MultiVectorIndex.from_bytes(index.to_bytes())
    result = index.tune(target_recall=0.9, k=10, sample=100, repeats=1)
    assert result.reached and result.queries == "documents" and result.n_queries == 100
    exact = index.search_exact(qs, 10)
    assert recall_at_k(index.search(qs, 10).ids, exact.ids, 10) >= 0.9 - 2 * TOLERANCE


def test_multivector_defaults_depend_on_corpus_size(mv_case):
    from aftershock.multivector import default_search

    *_, index = mv_case
    small, large = default_search("centroid", 1000), default_search("centroid", 1_000_000)
    assert small["n_candidates"] <= large["n_candidates"]
    info = index.info()["search"]
    assert info["n_candidates"] == default_search("centroid", index.n_docs)["n_candidates"]
    # The untuned defaults reach recall@10 >= 0.95 here too.
    exact = index.search_exact(mv_case[2], 10)
    assert recall_at_k(index.search(mv_case[2], 10).ids, exact.ids, 10) >= 0.95
    assert aftershock.MultiVectorIndex is MultiVectorIndex
