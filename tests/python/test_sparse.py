"""SparseIndex and exact_search: exactness in the lossless setting, recall in the default
setting, persistence, SIMD levels, threads, and every documented input error."""

from __future__ import annotations

import math
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import aftershock
from aftershock import SparseIndex, exact_search
from aftershock import _core
from aftershock.datasets import recall_at_k, synthetic_sparse
from aftershock._validate import as_csr
from aftershock.sparse import _from_bytes as sparse_from_bytes

from aftfile import edit_section, rename_section, replace_sections, sections
from strategies import csr_batches

EPS32 = np.finfo(np.float32).eps

LOSSLESS_BUILD = dict(pruning="fixed", n_postings=10**9, value_dtype="float32")
LOSSLESS_SEARCH = dict(heap_factor=0.0, query_cut=10**6)


def reference_topk(docs, queries, k):
    """float64 brute force: candidates share a term (both weights > 0); ties -> smaller id."""
    d64 = docs.astype(np.float64)
    q64 = queries.astype(np.float64)
    scores = (q64 @ d64.T).toarray()
    overlap = ((queries > 0).astype(np.float64) @ (docs > 0).astype(np.float64).T).toarray() > 0
    out_s = np.full((queries.shape[0], k), -np.inf)
    out_i = np.full((queries.shape[0], k), -1, dtype=np.int64)
    for qi in range(queries.shape[0]):
        cand = np.flatnonzero(overlap[qi])
        order = sorted(cand, key=lambda d: (-scores[qi, d], d))[:k]
        out_s[qi, : len(order)] = scores[qi, order]
        out_i[qi, : len(order)] = order
    # Per-row error bound of a float32 dot: nnz * eps * sum |q_i d_i|.
    bound = (abs(q64) @ abs(d64).T).toarray() * docs.shape[1] * EPS32
    return out_s, out_i, bound


def assert_topk_matches(result, ref_scores, ref_ids, bound):
    """Scores within the bound; ids equal wherever the score is not tied within the bound."""
    n, k = ref_scores.shape
    finite = np.isfinite(ref_scores)
    assert np.array_equal(np.isfinite(result.scores), finite)
    assert np.array_equal(result.ids == -1, ~finite)
    for qi in range(n):
        tol = bound[qi].max() if bound.shape[1] else 0.0
        np.testing.assert_allclose(result.scores[qi][finite[qi]], ref_scores[qi][finite[qi]], rtol=0, atol=tol + 1e-30)
        for j in range(k):
            if not finite[qi, j]:
                continue
            s = ref_scores[qi, j]
            # Documents whose reference score is within the tolerance of s may swap places.
            near = np.abs(ref_scores[qi][finite[qi]] - s) <= 2 * tol
            if near.sum() == 1 and not (j == k - 1 or j == finite[qi].sum() - 1):
                assert result.ids[qi, j] == ref_ids[qi, j]


# --------------------------------------------------------------------------- exactness
@given(csr_batches(), csr_batches(n_rows=st.integers(0, 8)), st.integers(1, 12))
def test_exact_search_matches_float64_reference(docs, queries, k):
    queries = sp.csr_matrix(queries[:, : docs.shape[1]]) if queries.shape[1] >= docs.shape[1] else sp.hstack(
        [queries, sp.csr_matrix((queries.shape[0], docs.shape[1] - queries.shape[1]), dtype=np.float32)]
    ).tocsr()
    queries.sort_indices()
    res = exact_search(docs, queries, k, num_threads=2)
    ref_s, ref_i, bound = reference_topk(docs, queries, k)
    assert_topk_matches(res, ref_s, ref_i, bound)


@given(st.integers(1, 120), st.integers(1, 8), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_exact_search_is_the_kernel_top_k_under_near_ties(n_docs, k, seed):
    """exact_search prunes with approximate scores before its exact pass; with documents
    whose scores differ by about one float32 ulp it must still return exactly the top k
    of the kernel's scores (ties to the smaller id)."""
    rng = np.random.default_rng(seed)
    dim = 50
    base = np.sort(rng.choice(dim, size=12, replace=False))
    w = rng.lognormal(0, 1, 12).astype(np.float32)
    rows, vals = [], []
    for i in range(n_docs):
        extra = np.sort(rng.choice(np.setdiff1d(np.arange(dim), base), size=int(rng.integers(0, 4)), replace=False))
        cols = np.sort(np.r_[base, extra])
        v = np.where(np.isin(cols, base), 1.0, 1e-7).astype(np.float64)
        v[np.isin(cols, base)] = w * (1 + rng.integers(-3, 4) * 1e-7)
        rows.append(cols)
        vals.append(v.astype(np.float32))
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
    docs = sp.csr_matrix((np.concatenate(vals), np.concatenate(rows), indptr), shape=(n_docs, dim))
    queries = sp.csr_matrix(rng.lognormal(0, 1, (3, dim)).astype(np.float32) * (rng.random((3, dim)) < 0.5))
    got = exact_search(docs, queries, k)
    level = aftershock.simd_info()["active"]
    for qi in range(queries.shape[0]):
        q = queries[qi].toarray().ravel().astype(np.float32)
        scores = [
            _core._sparse_dot(level, docs.indices[indptr[d]:indptr[d + 1]].astype(np.uint32),
                              docs.data[indptr[d]:indptr[d + 1]], q)
            for d in range(n_docs)
        ]
        shares = [bool((q[docs.indices[indptr[d]:indptr[d + 1]]] > 0).any()) for d in range(n_docs)]
        order = sorted((d for d in range(n_docs) if shares[d]), key=lambda d: (-np.float32(scores[d]), d))[:k]
        np.testing.assert_array_equal(got.ids[qi, : len(order)], order)
        np.testing.assert_array_equal(got.scores[qi, : len(order)], np.float32([scores[d] for d in order]))


@given(csr_batches(n_rows=st.integers(1, 60)), st.integers(0, 2**20), st.integers(1, 10))
def test_lossless_index_equals_exact_search(docs, seed, k):
    rng = np.random.default_rng(seed)
    queries = docs[rng.integers(0, docs.shape[0], size=5)]
    # Queries that are rescaled documents, plus an empty query.
    queries = sp.vstack([queries * 0.5, sp.csr_matrix((1, docs.shape[1]), dtype=np.float32)]).tocsr()
    queries.sort_indices()
    ix = SparseIndex.build(
        docs, centroid_fraction=float(rng.uniform(0.05, 1.0)), min_cluster_size=int(rng.integers(1, 4)),
        summary_energy=float(rng.uniform(0.1, 1.0)), seed=seed, **LOSSLESS_BUILD,
    )
    got = ix.search(queries, k, **LOSSLESS_SEARCH)
    want = exact_search(docs, queries, k)
    np.testing.assert_array_equal(got.scores, want.scores)
    np.testing.assert_array_equal(got.ids, want.ids)


def test_lossless_with_global_pruning_and_knn_graph():
    docs, queries = synthetic_sparse(3000, 30, vocab_size=2000, doc_nnz=40, query_nnz=15, seed=3)
    want = exact_search(docs, queries, 10)
    ix = SparseIndex.build(docs, pruning="global", n_postings=10**7, value_dtype="float32", knn=5)
    got = ix.search(queries, 10, n_knn=5, **LOSSLESS_SEARCH)
    np.testing.assert_array_equal(got.scores, want.scores)
    np.testing.assert_array_equal(got.ids, want.ids)


def test_single_query_forms_agree():
    docs, queries = synthetic_sparse(500, 3, vocab_size=300, doc_nnz=20, query_nnz=8, seed=1)
    ix = SparseIndex.build(docs, **LOSSLESS_BUILD)
    row = queries[0]
    batch = ix.search(row, 5, **LOSSLESS_SEARCH)
    pair = ix.search((row.indices, row.data), 5, **LOSSLESS_SEARCH)
    dense = ix.search(row.toarray()[0], 5, **LOSSLESS_SEARCH)
    assert batch.scores.shape == (1, 5)
    for other in (pair, dense):
        np.testing.assert_array_equal(batch.ids, other.ids)
        np.testing.assert_array_equal(batch.scores, other.scores)


def test_empty_queries_and_documents_are_valid():
    docs = sp.csr_matrix(np.array([[0, 1.0, 0], [0, 0, 0], [2.0, 0, 0]], dtype=np.float32))
    queries = sp.csr_matrix(np.array([[0, 0, 0], [1.0, 1.0, 0], [0, 0, 3.0]], dtype=np.float32))
    ix = SparseIndex.build(docs)
    res = ix.search(queries, 3)
    assert res.scores.dtype == np.float32 and res.ids.dtype == np.int64
    np.testing.assert_array_equal(res.ids, [[-1, -1, -1], [2, 0, -1], [-1, -1, -1]])
    assert np.isneginf(res.scores[0]).all() and res.scores[1, 0] == pytest.approx(2.0)
    empty = SparseIndex.build(sp.csr_matrix((0, 5), dtype=np.float32))
    assert empty.search(sp.csr_matrix((2, 5), dtype=np.float32), 4).ids.tolist() == [[-1] * 4] * 2


def test_ties_go_to_smaller_id():
    docs = sp.csr_matrix(np.ones((6, 2), dtype=np.float32))
    res = SparseIndex.build(docs).search(np.array([1.0, 1.0], dtype=np.float32), 4, heap_factor=0.0)
    np.testing.assert_array_equal(res.ids, [[0, 1, 2, 3]])


# ------------------------------------------------------------------------------ recall
@pytest.fixture(scope="module")
def synthetic():
    docs, queries = synthetic_sparse(20000, 200, seed=7)
    truth = exact_search(docs, queries, 10)
    return docs, queries, truth


def test_default_settings_reach_recall(synthetic):
    docs, queries, truth = synthetic
    ix = SparseIndex.build(docs)
    res = ix.search(queries, 10)
    recall = recall_at_k(res.ids, truth.ids, 10)
    assert recall >= 0.9, recall
    # Scores the index returns are the forward-index (float16) scores of those documents.
    found = res.ids >= 0
    assert found.all()


def test_knn_refinement_does_not_lose_recall(synthetic):
    docs, queries, truth = synthetic
    ix = SparseIndex.build(docs[:5000], knn=5)
    t5 = exact_search(docs[:5000], queries, 10)
    base = recall_at_k(ix.search(queries, 10, query_cut=3, heap_factor=1.0).ids, t5.ids, 10)
    refined = recall_at_k(ix.search(queries, 10, query_cut=3, heap_factor=1.0, n_knn=5).ids, t5.ids, 10)
    assert refined >= base
    ix.build_knn(0)
    assert ix.knn == 0



def _best_first_model(ix, docs, query, k, query_cut, heap_factor, level):
    """Search as documented, in Python: every block of the query_cut heaviest terms' lists,
    best bound first across lists (ties: smaller term, then block), stopping at the first
    bound below heap_factor * k-th score; each new document scored by the index's kernel."""
    terms = query.indices[query.data > 0].astype(np.uint32)
    weights = query.data[query.data > 0].astype(np.float32)
    dense = np.zeros(docs.shape[1], np.float32)
    dense[terms] = weights
    cut = sorted(range(len(terms)), key=lambda i: (-weights[i], terms[i]))[:query_cut]
    walk = []
    for t in sorted(int(terms[i]) for i in cut):
        bounds = ix._core._block_scores(t, terms.tolist(), weights.tolist(), level)
        walk += [(-bound, t, b) for b, bound in enumerate(bounds)]
    walk.sort()
    top, seen = [], set()  # top: (score, id), best first
    for neg_bound, t, b in walk:
        if len(top) == k and np.float32(-neg_bound) < np.float32(heap_factor) * top[-1][0]:
            break
        for d in ix.blocks_of(t)[b]:
            if d in seen:
                continue
            seen.add(d)
            lo, hi = docs.indptr[d], docs.indptr[d + 1]
            score = np.float32(_core._sparse_dot(level, docs.indices[lo:hi].astype(np.uint16), docs.data[lo:hi], dense))
            top = sorted(top + [(score, d)], key=lambda e: (-e[0], e[1]))[:k]
    return [d for _, d in top], [s for s, _ in top]


@given(st.integers(0, 2**16), st.integers(1, 6), st.sampled_from([0.5, 0.8, 1.0, 1.3]), st.integers(1, 10))
@settings(max_examples=30, deadline=None)
def test_search_walks_blocks_best_first_across_lists(seed, query_cut, heap_factor, k):
    """With heap_factor > 0, search equals the documented walk id for id and bit for bit."""
    docs, queries = synthetic_sparse(400, 3, vocab_size=150, doc_nnz=12, query_nnz=8, seed=seed)
    ix = SparseIndex.build(docs, pruning="fixed", n_postings=60, centroid_fraction=0.2, min_cluster_size=2,
                           value_dtype="float32", seed=seed)
    level = aftershock.simd_info()["active"]
    got = ix.search(queries, k, query_cut=query_cut, heap_factor=heap_factor)
    for qi in range(queries.shape[0]):
        ids, scores = _best_first_model(ix, docs, queries[qi], k, query_cut, heap_factor, level)
        np.testing.assert_array_equal(got.ids[qi, : len(ids)], ids)
        np.testing.assert_array_equal(got.scores[qi, : len(ids)], np.float32(scores))
        assert (got.ids[qi, len(ids):] == -1).all()

# ------------------------------------------------------------------- structure of an index
def test_blocks_partition_the_pruned_lists():
    docs, _ = synthetic_sparse(2000, 1, vocab_size=500, doc_nnz=30, seed=5)
    ix = SparseIndex.build(docs, pruning="fixed", n_postings=50, value_dtype="float32", centroid_fraction=0.1,
                           min_cluster_size=2)
    dense = docs.toarray()
    for term in range(0, 500, 7):
        blocks = ix.blocks_of(term)
        members = [d for b in blocks for d in b]
        positive = np.flatnonzero(dense[:, term] > 0)
        assert len(set(members)) == len(members)
        assert len(members) == min(50, len(positive))
        # Fixed pruning keeps the heaviest postings.
        if members:
            kept_min = dense[members, term].min()
            dropped = np.setdiff1d(positive, members)
            assert (dense[dropped, term] <= kept_min).all()
        if members:
            # Clusters above the mean cluster size are cut (at least 2 * min_cluster_size).
            cap = max(-(-len(members) // math.ceil(0.1 * len(members))), 4)
            assert max(len(b) for b in blocks) <= cap
        for b, block in enumerate(blocks):
            summary = dict(ix.summary_of(term, b))
            # Quantization rounds up: every kept component bounds the block's documents.
            for u, value in summary.items():
                assert value >= dense[block, u].max() * (1 - 1e-6)
            assert summary, "every block keeps at least one summary component"



def test_rows_are_stored_by_heaviest_terms():
    """Forward-index rows go in order of (heaviest term, second-heaviest term), ties by id,
    so a block's documents tend to be neighbours in memory; the handles section says where."""
    docs, _ = synthetic_sparse(500, 1, vocab_size=300, doc_nnz=12, seed=9)
    data = SparseIndex.build(docs)._core.to_bytes()
    at, length = sections(data)["FWDH"][1:]
    stored = np.argsort(np.frombuffer(data[at : at + length], np.uint32), kind="stable")  # docs in row order
    def key(d):
        row = docs[d]
        top = row.indices[np.lexsort((row.indices, -row.data))]  # heaviest first, ties to the smaller term
        return (int(top[0]), int(top[1]) if len(top) > 1 else 2**32 - 1, d)
    assert [key(d) for d in stored] == sorted(key(d) for d in range(500))

def test_a_large_cluster_is_cut_by_weight():
    """100 documents identical but for their weight on term 0 form one cluster of term 0's
    list (every document's nearest centroid is the heaviest sampled one); it must be cut
    into blocks of the mean cluster size (10), heaviest weights first."""
    n = 100
    weights = 1.0 + np.random.default_rng(3).permutation(n) / n  # distinct
    rows = [[0, 1, 2, 3, 4, 5]] * n
    values = np.concatenate([[w, 1, 1, 1, 1, 1] for w in weights]).astype(np.float32)
    docs = sp.csr_matrix((values, np.concatenate(rows), np.arange(0, 6 * n + 1, 6)), shape=(n, 8))
    ix = SparseIndex.build(docs, pruning="fixed", n_postings=n, centroid_fraction=0.1, min_cluster_size=2,
                           value_dtype="float32")
    blocks = ix.blocks_of(0)
    assert [len(b) for b in blocks] == [10] * 10
    for heavier, lighter in zip(blocks, blocks[1:]):
        assert weights[heavier].min() > weights[lighter].max()


@given(
    st.sampled_from([40, 300, 70000]),
    st.integers(1, 700),
    st.floats(0.05, 1.0),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=25, deadline=None)
def test_block_scores_equal_summaries_times_query(dim, n_docs, centroid_fraction, seed):
    """The summary scan (directory lookup, run search, pages) at every level, against the
    summaries read back block by block. Small vocabularies give bitmap directories, larger
    ones sorted u16 or (above 65,536 terms) u32 ids, and lists of more than 256 blocks
    several pages."""
    rng = np.random.default_rng(seed)
    nnz = min(dim, 12)
    rows = [np.sort(np.r_[0, rng.choice(np.arange(1, dim), size=nnz - 1, replace=False)]) for _ in range(n_docs)]
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
    docs = sp.csr_matrix((rng.lognormal(0, 1, indptr[-1]).astype(np.float32), np.concatenate(rows), indptr),
                         shape=(n_docs, dim))
    ix = SparseIndex.build(docs, pruning="fixed", n_postings=n_docs, centroid_fraction=centroid_fraction,
                           min_cluster_size=1, summary_energy=float(rng.uniform(0.2, 1.0)), seed=seed)
    terms = np.unique(np.r_[0, rng.choice(dim, size=min(dim, 30), replace=False)]).astype(np.uint32)
    weights = rng.lognormal(0, 1, terms.size).astype(np.float32)
    q = dict(zip(terms.tolist(), weights.astype(np.float64).tolist()))
    for term in (0, int(docs.indices[0]), int(docs.indices[-1])):
        n_blocks = len(ix.blocks_of(term))
        want = np.array([sum(q.get(u, 0.0) * v for u, v in ix.summary_of(term, b)) for b in range(n_blocks)])
        for level in aftershock.simd_info()["supported"]:
            got = ix._core._block_scores(term, terms.tolist(), weights.tolist(), level)
            np.testing.assert_allclose(got, want, rtol=64 * EPS32, atol=0, err_msg=level)


# -------------------------------------------------------------------------- persistence
def test_save_load_pickle_identical(tmp_path, synthetic):
    docs, queries, _ = synthetic
    ix = SparseIndex.build(docs[:3000], knn=3)
    path = tmp_path / "ix.aft"
    ix.save(path)
    assert not os.path.exists(str(path) + ".tmp")
    loaded = SparseIndex.load(path)
    clone = pickle.loads(pickle.dumps(ix))
    want = ix.search(queries, 10, n_knn=3)
    for other in (loaded, clone):
        got = other.search(queries, 10, n_knn=3)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.scores, want.scores)
        assert other.build_params == ix.build_params


def test_damaged_files_raise_format_error(tmp_path):
    docs, _ = synthetic_sparse(300, 1, vocab_size=200, doc_nnz=10, seed=2)
    path = tmp_path / "ix.aft"
    SparseIndex.build(docs).save(path)
    data = path.read_bytes()
    # Every single-byte flip of a small index, padding included, is detected.
    tiny_docs, _ = synthetic_sparse(30, 1, vocab_size=40, doc_nnz=5, seed=4)
    tiny = tmp_path / "tiny.aft"
    SparseIndex.build(tiny_docs).save(tiny)
    tiny_data = tiny.read_bytes()
    for pos in range(len(tiny_data)):
        bad = bytearray(tiny_data)
        bad[pos] ^= 0x41
        with pytest.raises(aftershock.FormatError):
            sparse_from_bytes(bytes(bad))
    for pos in [0, 9, 20, 40, 64, 100, len(data) - 1]:
        bad = bytearray(data)
        bad[pos] ^= 0x41
        (tmp_path / "bad").write_bytes(bytes(bad))
        with pytest.raises(aftershock.FormatError):
            SparseIndex.load(tmp_path / "bad")
    for cut in (0, 10, 63, 64, len(data) // 2, len(data) - 1):
        (tmp_path / "short").write_bytes(data[:cut])
        with pytest.raises(aftershock.FormatError):
            SparseIndex.load(tmp_path / "short")
    major = bytearray(data)
    major[8] = 2
    (tmp_path / "major").write_bytes(bytes(major))
    with pytest.raises(aftershock.FormatError, match="format|checksum"):
        SparseIndex.load(tmp_path / "major")
    with pytest.raises(OSError):
        SparseIndex.load(tmp_path / "missing")
    assert issubclass(aftershock.FormatError, ValueError)


def _set(index, value):
    def edit(a):
        a[index] = value

    return edit


def _old_layout(a):
    at = bytes(a).index(b"layout") + len(b"layout") + 1  # the digit after "layout="
    a[at] = ord("1")


def _header_doc(a):
    a[0] = a[0] + 1  # row 0's header: (doc id 0, length) as one u64 word; names doc 1


def test_duplicate_section_is_refused():
    """A file naming one section twice would leave one of them unchecked: refused."""
    docs, _ = synthetic_sparse(50, 1, vocab_size=60, doc_nnz=6, seed=5)
    data = SparseIndex.build(docs)._core.to_bytes()
    with pytest.raises(aftershock.FormatError, match="appears twice"):
        sparse_from_bytes(rename_section(data, "ST32", "ST16"))


def test_an_empty_vocabulary_is_refused():
    """A file consistent in form with dim = 0 and no documents (a build refuses dim = 0) must
    be refused, not divide by zero sizing the bitmap directories."""
    docs, _ = synthetic_sparse(5, 1, vocab_size=4, doc_nnz=2, seed=1)
    data = SparseIndex.build(docs)._core.to_bytes()
    conf_at, conf_len = sections(data)["CONF"][1:]
    conf = data[conf_at : conf_at + conf_len].decode().replace("dim=4", "dim=0").replace("n_docs=5", "n_docs=0")
    u64 = lambda *v: np.array(v, np.uint64).tobytes()  # noqa: E731
    empty = {tag: b"" for tag in ("FWDR", "FWDH", "PROW", "BPST", "BSCL", "SBMP", "ST16", "ST32", "EBLK", "ECOD", "KNNG")}
    bad = replace_sections(data, {**empty, "CONF": conf.encode(), "LPST": u64(0), "LBLK": u64(0), "SPGR": u64(0),
                                  "SRUN": u64(1)})
    with pytest.raises(aftershock.FormatError, match="dim"):
        sparse_from_bytes(bad)


@pytest.mark.parametrize(
    "tag,dtype,edit,message",
    [
        ("PROW", np.uint32, lambda a: a.__setitem__(0, a[0] + 1), "posting does not name a document"),
        ("PROW", np.uint32, _set(0, 2**32 - 1), "posting does not name a document"),
        ("FWDH", np.uint32, lambda a: a.__setitem__(slice(0, 2), a[1::-1].copy()), "names the wrong document"),
        ("FWDH", np.uint32, lambda a: a.__setitem__(1, a[0]), "names the wrong document"),
        ("FWDR", np.uint64, _header_doc, "names the wrong document"),
        ("FWDR", np.uint16, _set(4, 65535), "term id out of range"),
        ("FWDR", np.uint16, lambda a: a.__setitem__(slice(4, None), 0x7E00), "out of range|invalid weight"),
        ("CONF", np.uint8, _old_layout, "another version"),
        ("SRUN", np.uint64, lambda a: a.__setitem__(0, a[0] & ~np.uint64(1)), "run bits do not match"),
        ("SRUN", np.uint64, lambda a: a.__setitem__(-1, a[-1] | np.uint64(1 << 63)), "run bits have the wrong length"),
        ("SPGR", np.uint64, lambda a: a.__setitem__(-1, a[-1] + 1), "run bits do not match|truncated"),
        ("EBLK", np.uint8, _set(0, 255), "out of order|out of range"),
        ("EBLK", np.uint8, lambda a: a.__setitem__(slice(0, 2), [3, 2]), "out of order|out of range"),
        ("ST16", np.uint16, _set(0, 65535), "not sorted or names a term out of range"),
        ("SBMP", np.uint64, lambda a: a.__setitem__(0, a[0] | np.uint64(1 << 63)), "does not match its page"),
    ],
)
def test_structurally_damaged_files_raise_format_error(tag, dtype, edit, message):
    """Files with valid checksums but broken invariants are refused, never read out of bounds."""
    docs, _ = synthetic_sparse(50, 1, vocab_size=60, doc_nnz=6, seed=5)
    data = SparseIndex.build(docs)._core.to_bytes()
    with pytest.raises(aftershock.FormatError, match=message):
        sparse_from_bytes(edit_section(data, tag, dtype, edit))



def test_a_run_out_of_order_anywhere_is_refused():
    """The run-order check goes 64 entries at a time: damage in the first word, the middle
    and the unaligned tail must all be found, and equal blocks count as out of order."""
    docs, _ = synthetic_sparse(3000, 1, vocab_size=400, doc_nnz=20, seed=7)
    data = SparseIndex.build(docs, n_postings=200)._core.to_bytes()
    _, off, length = sections(data)["SRUN"]
    starts = np.unpackbits(np.frombuffer(data[off : off + length], np.uint8), bitorder="little").astype(bool)
    n_entries = sections(data)["EBLK"][2]
    inside = np.flatnonzero(~starts[:n_entries])  # entries continuing a run
    tail = inside[inside >= n_entries - n_entries % 64]
    picks = {int(inside[0]), int(inside[len(inside) // 2]), int(inside[-1])}
    assert inside[0] < 64 and len(tail) and n_entries > 1000
    word = n_entries // 128 * 64  # a full 64-entry word in the middle: every lane of the SIMD check
    picks |= {e for e in range(word, word + 64) if not starts[e]}
    for e in sorted(picks):
        swap = lambda a, e=e: a.__setitem__(slice(e - 1, e + 1), a[e - 1 : e + 1][::-1].copy())
        equal = lambda a, e=e: a.__setitem__(e, a[e - 1])
        for edit in (swap, equal):
            with pytest.raises(aftershock.FormatError, match="out of order"):
                sparse_from_bytes(edit_section(data, "EBLK", np.uint8, edit))
    sparse_from_bytes(data)  # and the undamaged file loads

# ------------------------------------------------------------------ SIMD levels, threads
@given(
    st.sampled_from([0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129]),
    st.integers(0, 3),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=60)
def test_dot_kernels_agree_with_scalar(n, offset, seed):
    rng = np.random.default_rng(seed)
    dim = 70000
    query = rng.lognormal(0, 1, size=dim).astype(np.float32)
    terms32 = np.sort(rng.choice(dim, size=n, replace=False)).astype(np.uint32)
    values = rng.lognormal(0, 1, size=n).astype(np.float32)
    # Misaligned views: slice a larger buffer at an offset.
    t32 = np.concatenate([np.zeros(offset, np.uint32), terms32])[offset:]
    t16 = np.concatenate([np.zeros(offset, np.uint16), (terms32 % 65536).astype(np.uint16)])[offset:]
    v32 = np.concatenate([np.zeros(offset, np.float32), values])[offset:]
    v16 = np.concatenate([np.zeros(offset, np.float16), values.astype(np.float16)])[offset:].view(np.uint16)
    for terms in (t16, t32):
        for vals, as_f32 in ((v32, v32), (v16, v16.view(np.float16).astype(np.float32))):
            exact = float(np.dot(query[terms.astype(np.int64)].astype(np.float64), as_f32.astype(np.float64)))
            bound = max(n, 1) * EPS32 * float(np.abs(query[terms.astype(np.int64)]).astype(np.float64) @ np.abs(as_f32))
            for level in aftershock.simd_info()["supported"]:
                got = _core._sparse_dot(level, terms, vals, query)
                assert abs(got - exact) <= bound + 1e-30, (level, n, got, exact)


@given(st.integers(0, 256), st.floats(0.0, 100.0), st.integers(0, 2**32 - 1))
@settings(max_examples=60)
def test_accumulate_kernels_agree_with_float64(n, weight, seed):
    """Summary accumulation (gather/scatter at AVX-512) equals acc + w * code up to one
    rounding of the product and one of the sum, at every level."""
    rng = np.random.default_rng(seed)
    blocks = rng.permutation(256)[:n].astype(np.uint8)
    codes = rng.integers(1, 256, size=n).astype(np.uint8)
    acc = rng.uniform(0, 1000, size=256).astype(np.float32)
    want = acc.astype(np.float64)
    want[blocks] += np.float64(np.float32(weight)) * codes
    for level in aftershock.simd_info()["supported"]:
        got = _core._sparse_accumulate(level, blocks, codes, weight, acc)
        np.testing.assert_allclose(got, want, rtol=3 * EPS32, atol=0, err_msg=level)


def test_search_at_every_level_matches_scalar(simd_level, synthetic):
    docs, queries, _ = synthetic
    docs = docs[:4000]
    ix = SparseIndex.build(docs, **LOSSLESS_BUILD)
    got = ix.search(queries, 10, **LOSSLESS_SEARCH)
    _core.set_simd_level("scalar")
    want = exact_search(docs, queries, 10)
    _core.set_simd_level(simd_level)
    bound = (abs(queries.astype(np.float64)) @ abs(docs.astype(np.float64)).T).toarray().max(axis=1) * 200 * EPS32
    np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=float(bound.max()))
    assert recall_at_k(got.ids, want.ids, 10) >= 0.99


def test_threads_do_not_change_results(synthetic):
    docs, queries, _ = synthetic
    docs = docs[:6000]
    a = SparseIndex.build(docs, num_threads=1, knn=2)
    b = SparseIndex.build(docs, num_threads=2, knn=2)
    assert pickle.dumps(a) == pickle.dumps(b)
    r1 = a.search(queries, 10, num_threads=1, n_knn=2)
    r2 = a.search(queries, 10, num_threads=2, n_knn=2)
    np.testing.assert_array_equal(r1.ids, r2.ids)
    np.testing.assert_array_equal(r1.scores, r2.scores)


def test_simd_env_override_and_errors():
    code = "import aftershock; print(aftershock.simd_info()['active'])"
    env = dict(os.environ, AFTERSHOCK_SIMD="scalar")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "scalar"
    env["AFTERSHOCK_SIMD"] = "sse9"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "ValueError" in out.stderr and "AFTERSHOCK_SIMD" in out.stderr
    with pytest.raises(ValueError, match="expected one of"):
        _core.set_simd_level("neon9")



def test_huge_pages_leave_results_unchanged_and_are_asked_for(tmp_path):
    """Arrays of 8 MiB or more ask for huge pages (madvise, seen as the "hg" flag of their
    mappings in /proc/self/smaps: whether the kernel then finds free huge pages depends on
    the machine, the request does not). AFTERSHOCK_HUGE_PAGES=0 asks for none; results are
    the same either way. The switch is read once per process, so each setting runs in its own."""
    code = textwrap.dedent("""
        import sys, numpy as np, aftershock as af
        from aftershock.datasets import synthetic_sparse
        def advised_bytes():  # total size of the mappings flagged for huge pages
            try:
                text = open("/proc/self/smaps").read()
            except OSError:
                return -1
            total, size = 0, 0
            for line in text.splitlines():
                if line.startswith("Size:"):
                    size = int(line.split()[1]) * 1024
                elif line.startswith("VmFlags:") and " hg" in " " + line.split(":", 1)[1]:
                    total += size
            return total
        docs, queries = synthetic_sparse(16000, 50, doc_nnz=60, seed=3)
        ix = af.SparseIndex.build(docs, n_postings=300, num_threads=2)
        ix.save(sys.argv[1])
        loaded = af.SparseIndex.load(sys.argv[1])
        r = loaded.search(queries, 10, query_cut=5, heap_factor=0.9)
        np.save(sys.argv[2], np.concatenate([r.ids.astype(np.float64), r.scores.astype(np.float64)]))
        print(advised_bytes())
    """)
    results, advised = [], []
    for setting in ("1", "0"):
        env = dict(os.environ, AFTERSHOCK_HUGE_PAGES=setting)
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"ix{setting}"), str(tmp_path / f"r{setting}.npy")],
                             env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        results.append(np.load(tmp_path / f"r{setting}.npy"))
        advised.append(int(out.stdout.strip().splitlines()[-1]))
    np.testing.assert_array_equal(results[0], results[1])
    if advised[0] < 0 or not os.path.isdir("/sys/kernel/mm/transparent_hugepage"):
        pytest.skip("results agree; no /proc/self/smaps or no transparent huge pages to ask for")
    # numpy flags its own large arrays the same way in both runs; the index's arrays (the
    # built and the loaded copy, each with sections of 8-15 MiB) must add at least 16 MiB.
    assert advised[0] - advised[1] >= 16 << 20, f"flagged {advised[0]} bytes with huge pages on, {advised[1]} off"


# --------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small_index():
    docs, _ = synthetic_sparse(500, 1, vocab_size=100, doc_nnz=10, seed=11)
    return docs, SparseIndex.build(docs)


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (np.array([[0, np.nan]], np.float32), ValueError, "not finite"),
        (np.array([[0, np.inf]], np.float64), ValueError, "not finite"),
        (np.array([[0, -1.0]], np.float32), ValueError, "non-negative"),
        (np.array([[0, 1e300]], np.float64), ValueError, "not finite"),
        (np.array([[1 + 1j, 0]]), TypeError, "docs"),
        (np.array([[True, False]]), TypeError, "docs"),
        (np.array([["a", "b"]], dtype=object), TypeError, "docs"),
        ("not a matrix", TypeError, "docs"),
        (np.zeros((2, 2, 2), np.float32), ValueError, "shape"),
    ],
)
def test_bad_documents(bad, err, match):
    with pytest.raises(err, match=match):
        SparseIndex.build(bad)


@pytest.mark.parametrize(
    "triple, match",
    [
        ((np.array([2, 1]), np.array([1.0, 1.0]), np.array([0, 2])), "strictly increasing"),
        ((np.array([1, 1]), np.array([1.0, 1.0]), np.array([0, 2])), "strictly increasing"),
        ((np.array([1, 5]), np.array([1.0, 1.0]), np.array([0, 2])), "out of range"),
        ((np.array([1, 2]), np.array([1.0, 1.0]), np.array([1, 2])), "indptr\\[0\\]"),
        ((np.array([1, 2]), np.array([1.0, 1.0]), np.array([0, 3])), "indptr\\[-1\\]"),
        ((np.array([1, 2]), np.array([1.0, 1.0]), np.array([0, 2, 1, 2])), "non-decreasing"),
        ((np.array([1, 2]), np.array([1.0]), np.array([0, 2])), "differ in length"),
        ((np.array([-1, 2]), np.array([1.0, 1.0]), np.array([0, 2])), ">= 0"),
        ((np.array([-1, 2], np.int32), np.array([1.0, 1.0]), np.array([0, 2])), ">= 0, got -1"),
        ((np.array([2**32 + 1, 2]), np.array([1.0, 1.0]), np.array([0, 2])), "does not fit"),
    ],
)
def test_bad_csr_tuples(triple, match):
    with pytest.raises(ValueError, match=match):
        SparseIndex.build(triple, dim=4)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_negative_query_ids_are_named(small_index, dtype):
    """Narrow signed ids skip the Python scan and reach the core reinterpreted as unsigned;
    the core's message still names the negative id."""
    _, ix = small_index
    with pytest.raises(ValueError, match="negative id, -3|>= 0, got -3"):
        ix.search((np.array([-3, 2], dtype), np.array([1.0, 1.0], np.float32)), 5)
    with pytest.raises(ValueError, match="negative"):
        ix.search(sp.csr_matrix((np.array([1.0], np.float32), np.array([-3], np.int32), np.array([0, 1])), shape=(1, 100)), 5)


def test_scipy_input_is_canonicalized():
    # Unsorted indices with duplicates: scipy semantics (duplicates summed) on a copy.
    m = sp.csr_matrix((np.array([1.0, 2.0, 3.0], np.float32), np.array([2, 0, 2]), np.array([0, 3])), shape=(1, 3))
    ix = SparseIndex.build(m, value_dtype="float32")
    res = ix.search(np.array([0, 0, 1.0], np.float32), 1, heap_factor=0.0)
    assert res.scores[0, 0] == 4.0
    assert not m.has_canonical_format  # the caller's matrix is untouched


def test_bad_queries_and_parameters(small_index):
    docs, ix = small_index
    q = docs[:2]
    with pytest.raises(ValueError, match="columns"):
        ix.search(sp.csr_matrix((1, 99), dtype=np.float32), 10)
    with pytest.raises(ValueError, match="k"):
        ix.search(q, 0)
    with pytest.raises(TypeError, match="k"):
        ix.search(q, 2.5)
    with pytest.raises(ValueError, match="query_cut"):
        ix.search(q, 10, query_cut=0)
    with pytest.raises(ValueError, match="heap_factor"):
        ix.search(q, 10, heap_factor=-0.5)
    with pytest.raises(ValueError, match="heap_factor"):
        ix.search(q, 10, heap_factor=float("nan"))
    with pytest.raises(ValueError, match="num_threads"):
        ix.search(q, 10, num_threads=-1)
    with pytest.raises(ValueError, match="not finite"):
        ix.search(np.full(100, np.nan, np.float32), 10)
    with pytest.raises(ValueError, match="k"):
        exact_search(docs, q, 0)
    for kwargs, match in [
        (dict(centroid_fraction=0.0), "centroid_fraction"),
        (dict(centroid_fraction=1.5), "centroid_fraction"),
        (dict(summary_energy=0.0), "summary_energy"),
        (dict(n_postings=0), "n_postings"),
        (dict(min_cluster_size=0), "min_cluster_size"),
        (dict(max_fraction=0.5), "max_fraction"),
        (dict(pruning="magic"), "pruning"),
        (dict(value_dtype="int8"), "value_dtype"),
        (dict(knn=-1), "knn"),
    ]:
        with pytest.raises(ValueError, match=match):
            SparseIndex.build(docs, **kwargs)
    with pytest.raises(TypeError):
        SparseIndex(object())


# ------------------------------------------------------------------ progress and Ctrl-C
def _core_build(docs, progress, knn=0):
    csr = as_csr(docs, "docs")
    return _core.SparseIndex.build(
        csr.indptr, csr.indices, csr.values, csr.n_cols, pruning="global", n_postings=200, max_fraction=1.5,
        centroid_fraction=0.1, min_cluster_size=2, summary_energy=0.4, value_dtype="float16", knn=knn,
        num_threads=2, seed=0, progress=progress,
    )


def test_build_and_knn_stop_when_progress_raises():
    """Ctrl-C reaches the core as an exception from the progress callback (the binding
    raises KeyboardInterrupt there); the build stops and nothing is left half-done."""
    docs, _ = synthetic_sparse(3000, 1, vocab_size=2000, doc_nnz=40, seed=3)
    seen = []

    def interrupt(stage, done, total):
        seen.append((stage, done, total))
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _core_build(docs, interrupt)
    assert seen[0][0] == "lists" and seen[-1][1] < seen[-1][2], "stopped before the last list"
    ix = SparseIndex.build(docs, n_postings=200)
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        ix._core.build_knn(3, 10, 0.8, 2, progress=interrupt)
    assert ix.knn == 0 and [s for s, _, _ in seen] == ["knn", "knn"]
    ix.build_knn(3)  # the index is intact and a graph can still be built
    assert ix.knn == 3


def test_verbose_build_prints_progress(capsys):
    docs, _ = synthetic_sparse(2000, 1, vocab_size=1000, doc_nnz=30, seed=3)
    SparseIndex.build(docs, knn=2, verbose=True)
    err = capsys.readouterr().err
    assert "aftershock: lists" in err and "aftershock: knn" in err


def test_ctrl_c_interrupts_a_build():
    """A real SIGINT during the list stage ends the build with KeyboardInterrupt. The child
    builds again and again, so however late a loaded machine delivers the signal, it lands
    in a build (a build takes seconds, the loop between builds microseconds); the traceback
    must then come out of the core's build call, not from Python code around it."""
    code = (
        "import aftershock\n"
        "from aftershock.datasets import synthetic_sparse\n"
        "docs, _ = synthetic_sparse(40000, 1, seed=1)\n"
        "while True:\n"
        "    aftershock.SparseIndex.build(docs, n_postings=4000, num_threads=1, verbose=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()
    assert first.startswith("aftershock: lists"), first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, err[-2000:]
    assert "line 5, in <module>" in err and "_core.SparseIndex.build(" in err, err[-2000:]  # inside the core call
