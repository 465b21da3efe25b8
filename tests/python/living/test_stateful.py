"""Random sequences of build / add / delete / update / compact / save / load / search on
each living index kind, against a trivially correct model: a dict id -> document and
brute-force scoring. In the lossless setting (integer weights, so float32 sums are exact;
no pruning; every block visited, or every document reranked) results equal the model's
exactly, ids included."""

from __future__ import annotations

import os
import pickle
import tempfile

import aftershock as af
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

DIM_SPARSE = 40
DIM_TOKENS = 6
K = 5
POLICY = {"segments_per_tier": 3, "max_merge_at_once": 3, "floor_docs": 2, "max_deleted_fraction": 0.9}


# ------------------------------------------------------------------------- models
def sparse_topk(model: dict, query: np.ndarray, k: int, allowed=None):
    """Exact top-k by inner product among documents sharing a term with the query."""
    cands = []
    for i, d in model.items():
        if allowed is not None and i not in allowed:
            continue
        if np.any((d > 0) & (query > 0)):
            cands.append((-float(d @ query), i))
    cands.sort()
    return [i for _, i in cands[:k]], [-s for s, _ in cands[:k]]


def maxsim(q: np.ndarray, d: np.ndarray) -> float:
    return float((q.astype(np.float64) @ d.astype(np.float64).T).max(axis=1).sum())


def mv_topk(model: dict, query: np.ndarray, k: int, allowed=None):
    cands = sorted((-maxsim(query, d), i) for i, d in model.items() if allowed is None or i in allowed)
    return [i for _, i in cands[:k]], [-s for s, _ in cands[:k]]


def padded(ids, k):
    return list(ids) + [-1] * (k - len(ids))


# ----------------------------------------------------------------- strategies
def sparse_docs(n):
    return st.lists(
        st.lists(st.tuples(st.integers(0, DIM_SPARSE - 1), st.integers(1, 4)), min_size=1, max_size=8),
        min_size=n, max_size=n,
    )


def to_dense(rows):
    out = np.zeros((len(rows), DIM_SPARSE), dtype=np.float32)
    for r, entries in enumerate(rows):
        for t, v in entries:
            out[r, t] = v
    return out


def token_docs(n):
    return st.lists(
        st.lists(st.lists(st.integers(-2, 2), min_size=DIM_TOKENS, max_size=DIM_TOKENS), min_size=1, max_size=4),
        min_size=n, max_size=n,
    )


# -------------------------------------------------------------- the machines
class LivingMachine(RuleBasedStateMachine):
    """Shared rules; subclasses say how to build, add, search and compare."""

    def __init__(self):
        super().__init__()
        self.model: dict[int, np.ndarray] = {}
        self.tmp = tempfile.mkdtemp(prefix="aft-living-")
        self.saves = 0

    def teardown(self):
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)

    def fresh_ids(self, data, n):
        used = set(self.model) | getattr(self, "ever", set())
        pool = [i for i in range(60) if i not in used]
        if len(pool) < n or data.draw(st.booleans()):
            return None
        return data.draw(st.permutations(pool).map(lambda p: p[:n]))

    def record_add(self, ids, docs):
        for i, d in zip(ids, docs):
            self.model[int(i)] = d
        self.ever = getattr(self, "ever", set()) | {int(i) for i in ids}

    @rule(data=st.data())
    def delete(self, data):
        live = sorted(self.model)
        chosen = data.draw(st.lists(st.sampled_from(live), max_size=4, unique=True)) if live else []
        unknown = data.draw(st.booleans())
        ids = chosen + ([1000] if unknown else [])
        if unknown:
            with pytest.raises(KeyError, match="1000"):
                self.index.delete(ids)
            assert self.index.delete(ids, missing="ignore") == len(chosen)
        else:
            assert self.index.delete(ids) == len(chosen)
        for i in chosen:
            del self.model[i]

    @rule()
    def compact(self):
        self.index.compact()
        assert self.index.n_segments == 1

    @rule(data=st.data())
    def save_and_load(self, data):
        how = data.draw(st.sampled_from(["dir", "pickle", "resave"]))
        cls = type(self.index)
        if how == "pickle":
            self.index = pickle.loads(pickle.dumps(self.index))
        else:
            path = os.path.join(self.tmp, "idx" if how == "resave" else f"idx{self.saves}")
            self.saves += 1
            if os.path.isfile(path):
                os.unlink(path)
            self.index.save(path)
            self.index = cls.load(path)
        self.index.merge_policy = af.TieredMergePolicy(**POLICY)

    @invariant()
    def same_ids(self):
        if not hasattr(self, "index"):
            return
        assert len(self.index) == len(self.model)
        np.testing.assert_array_equal(self.index.ids(), np.array(sorted(self.model), dtype=np.int64))
        if self.model:
            some = next(iter(self.model))
            assert some in self.index
        assert 10_000 not in self.index

    @rule(data=st.data())
    def search(self, data):
        allowed = None
        flt = None
        if data.draw(st.booleans()) and self.model:
            allowed = set(data.draw(st.lists(st.sampled_from(sorted(self.model) + [999]), max_size=6)))
            exclude = data.draw(st.booleans())
            if exclude:
                flt = af.IdFilter(sorted(allowed), exclude=True)
                allowed = set(self.model) - allowed
            else:
                flt = af.IdFilter(sorted(allowed)) if data.draw(st.booleans()) else np.array(sorted(allowed), dtype=np.int64)
        self.check_search(data, allowed, flt)


class SparseMachine(LivingMachine):
    @initialize(data=st.data(), n=st.integers(1, 6))
    def build(self, data, n):
        rows = data.draw(sparse_docs(n))
        docs = to_dense(rows)
        ids = self.fresh_ids(data, n)
        self.index = af.SparseIndex.build(
            sp.csr_matrix(docs), ids=ids, precision="fp32", pruning="fixed", n_postings=1000, dim=DIM_SPARSE
        )
        self.index.merge_policy = af.TieredMergePolicy(**POLICY)
        self.record_add(range(n) if ids is None else ids, docs)

    @rule(data=st.data(), n=st.integers(1, 4))
    def add(self, data, n):
        docs = to_dense(data.draw(sparse_docs(n)))
        ids = self.fresh_ids(data, n)
        got = self.index.add(sp.csr_matrix(docs), ids=ids)
        if ids is not None:
            np.testing.assert_array_equal(got, ids)
        else:
            assert got[0] == max(self.ever) + 1
        self.record_add(got, docs)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def update(self, data):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=3, unique=True))
        docs = to_dense(data.draw(sparse_docs(len(ids))))
        self.index.update(sp.csr_matrix(docs), ids)
        self.record_add(ids, docs)

    def check_search(self, data, allowed, flt):
        queries = to_dense(data.draw(sparse_docs(3)))
        res = self.index.search(sp.csr_matrix(queries), K, query_cut=1000, heap_factor=0.0, filter=flt)
        for qi, q in enumerate(queries):
            ids, scores = sparse_topk(self.model, q.astype(np.float64), K, allowed)
            assert list(res.ids[qi]) == padded(ids, K), (qi, res.ids[qi], ids)
            np.testing.assert_array_equal(res.scores[qi, : len(scores)], np.array(scores, dtype=np.float32))
        # The default (approximate) setting: only live, allowed documents.
        approx = self.index.search(sp.csr_matrix(queries), K, filter=flt)
        for row in approx.ids:
            for i in row[row >= 0]:
                assert int(i) in self.model and (allowed is None or int(i) in allowed)


class MultiVectorMachine(LivingMachine):
    method = "centroid"

    @initialize(data=st.data(), n=st.integers(2, 6))
    def build(self, data, n):
        docs = [np.array(d, dtype=np.float32) for d in data.draw(token_docs(n))]
        ids = self.fresh_ids(data, n)
        kwargs = {"n_centroids": 2} if self.method == "centroid" else {}
        self.index = af.MultiVectorIndex.build(docs, ids=ids, method=self.method, **kwargs)
        self.index.merge_policy = af.TieredMergePolicy(**POLICY)
        self.record_add(range(n) if ids is None else ids, docs)

    @rule(data=st.data(), n=st.integers(1, 4))
    def add(self, data, n):
        docs = [np.array(d, dtype=np.float32) for d in data.draw(token_docs(n))]
        ids = self.fresh_ids(data, n)
        got = self.index.add(docs, ids=ids)
        self.record_add(got, docs)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def update(self, data):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=3, unique=True))
        docs = [np.array(d, dtype=np.float32) for d in data.draw(token_docs(len(ids)))]
        self.index.update(docs, ids=ids)
        self.record_add(ids, docs)

    def check_search(self, data, allowed, flt):
        queries = [np.array(q, dtype=np.float32) for q in data.draw(token_docs(2))]
        big = 10_000
        for res in (self.index.search(queries, K, n_candidates=big, filter=flt),
                    self.index.search_exact(queries, K, filter=flt)):
            for qi, q in enumerate(queries):
                ids, scores = mv_topk(self.model, q, K, allowed)
                assert list(res.ids[qi]) == padded(ids, K), (qi, res.ids[qi], ids)
                np.testing.assert_array_equal(res.scores[qi, : len(scores)], np.array(scores, dtype=np.float32))
        approx = self.index.search(queries, K, filter=flt)
        for row in approx.ids:
            for i in row[row >= 0]:
                assert int(i) in self.model and (allowed is None or int(i) in allowed)


class MuveraMachine(MultiVectorMachine):
    method = "muvera"


class StoreMachine(MultiVectorMachine):
    @initialize(data=st.data(), n=st.integers(1, 6))
    def build(self, data, n):
        docs = [np.array(d, dtype=np.float32) for d in data.draw(token_docs(n))]
        ids = self.fresh_ids(data, n)
        self.index = af.MultiVectorStore.build(docs, ids=ids)
        self.index.merge_policy = af.TieredMergePolicy(**POLICY)
        self.record_add(range(n) if ids is None else ids, docs)

    def check_search(self, data, allowed, flt):
        queries = [np.array(q, dtype=np.float32) for q in data.draw(token_docs(2))]
        if flt is None:
            res = self.index.search(queries, K)
            for qi, q in enumerate(queries):
                ids, _ = mv_topk(self.model, q, K)
                assert list(res.ids[qi]) == padded(ids, K)
        # Rerank by external ids, as a pipeline does.
        if self.model:
            cand = np.array([sorted(self.model)[:8]] * len(queries), dtype=np.int64)
            rr = self.index.rerank(queries, cand, K)
            for qi, q in enumerate(queries):
                sub = {i: self.model[i] for i in cand[qi]}
                ids, _ = mv_topk(sub, q, K)
                assert list(rr.ids[qi]) == padded(ids, K)
            some = min(self.model)
            np.testing.assert_array_equal(self.index.doc(some), self.model[some])


_SETTINGS = settings(max_examples=25, stateful_step_count=12, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TestSparseLiving = SparseMachine.TestCase
TestSparseLiving.settings = _SETTINGS
TestMultiVectorLiving = MultiVectorMachine.TestCase
TestMultiVectorLiving.settings = _SETTINGS
TestMuveraLiving = MuveraMachine.TestCase
TestMuveraLiving.settings = _SETTINGS
TestStoreLiving = StoreMachine.TestCase
TestStoreLiving.settings = _SETTINGS
