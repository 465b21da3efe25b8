"""aftershock.evaluation: metrics against a plain-Python reference (and ir-measures when
installed), run / qrels / ids files, format detection and malformed-file errors."""

from __future__ import annotations

import functools
import gzip
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftershock.evaluation import (
    evaluate,
    parse_metric,
    rank,
    read_ids,
    read_qrels,
    read_run,
    run_from_result,
    write_run,
)

METRICS = ["MRR@1", "MRR@3", "MRR@10", "nDCG@1", "nDCG@3", "nDCG@10", "recall@1", "recall@5", "recall@100"]

# Small id and score alphabets, so that ties in score and shared documents are frequent.
_docids = st.sampled_from([f"d{i}" for i in range(12)] + ["D1", "d10a", "z"])
_qids = st.sampled_from(["q1", "q2", "q3", "q4", "10", "9"])
_runs = st.dictionaries(
    _qids,
    st.dictionaries(_docids, st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0, 3.25]), max_size=14),
    max_size=6,
)
_qrels = st.dictionaries(
    _qids, st.dictionaries(_docids, st.integers(-1, 3), min_size=1, max_size=8), min_size=1, max_size=6
)


def _reference(run, qrels, metric, complete):
    """Plain Python: trec_eval's order (score decreasing, then docid decreasing), rel >= 1."""
    name, k = metric.split("@")
    k = int(k)

    def order(a, b):
        if a[1] != b[1]:
            return -1 if a[1] > b[1] else 1
        return -1 if a[0] > b[0] else (1 if a[0] < b[0] else 0)

    qids = list(qrels) if complete else [q for q in run if q in qrels]
    values = []
    for q in qids:
        ranked = [d for d, _ in sorted(run.get(q, {}).items(), key=functools.cmp_to_key(order))][:k]
        judged = qrels[q]
        relevant = [d for d, r in judged.items() if r >= 1]
        if name == "MRR":
            v = 0.0
            for i, d in enumerate(ranked):
                if judged.get(d, 0) >= 1:
                    v = 1.0 / (i + 1)
                    break
        elif name == "recall":
            v = sum(1 for d in ranked if judged.get(d, 0) >= 1) / len(relevant) if relevant else 0.0
        else:
            dcg = sum(max(judged.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked))
            ideal = sorted((max(r, 0) for r in judged.values()), reverse=True)[:k]
            idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
            v = dcg / idcg if idcg > 0 else 0.0
        values.append(v)
    return sum(values) / len(values) if values else 0.0


@given(run=_runs, qrels=_qrels, complete=st.booleans())
def test_metrics_match_plain_python_reference(run, qrels, complete):
    got = evaluate(run, qrels, METRICS, complete=complete)
    assert list(got) == METRICS
    for metric in METRICS:
        assert got[metric] == pytest.approx(_reference(run, qrels, metric, complete), abs=1e-12), metric


@settings(max_examples=25)
@given(run=_runs, qrels=_qrels)
def test_metrics_agree_with_ir_measures(run, qrels):
    """Against trec_eval itself, through ir-measures' pytrec_eval provider. (ir-measures
    computes RR@k with its msmarco provider, which orders tied scores differently; RR without
    a cut-off is trec_eval's, and equals MRR@k when no run is longer than k.)"""
    ir_measures = pytest.importorskip("ir_measures")
    provider = ir_measures.providers.registry["pytrec_eval"]
    if not provider.is_available():
        pytest.skip("ir-measures without pytrec_eval")
    if not any(run.values()):
        return  # trec_eval needs at least one scored document
    measures = [ir_measures.parse_measure(m) for m in ("RR", "nDCG@10", "nDCG@3", "R@100", "R@5")]
    theirs = provider.calc_aggregate(
        measures,
        [ir_measures.Qrel(q, d, r) for q, docs in qrels.items() for d, r in docs.items()],
        [ir_measures.ScoredDoc(q, d, s) for q, docs in run.items() for d, s in docs.items()],
    )
    ours = evaluate(run, qrels, ["MRR@100", "nDCG@10", "nDCG@3", "recall@100", "recall@5"])
    for measure, name in zip(measures, ours):
        assert ours[name] == pytest.approx(theirs.get(measure, 0.0), abs=1e-9), name


def test_ties_are_broken_by_decreasing_docid_as_trec_eval():
    assert rank({"a": 1.0, "c": 1.0, "b": 2.0, "B": 1.0}) == ["b", "c", "a", "B"]
    # the first relevant document ranks second: "x" > "r" on the tie
    assert evaluate({"q": {"r": 1.0, "x": 1.0}}, {"q": {"r": 1}}, ["MRR@10"])["MRR@10"] == 0.5


def test_complete_counts_missing_queries_as_zero():
    run = {"q1": {"a": 1.0}, "q9": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    assert evaluate(run, qrels, ["MRR@10"])["MRR@10"] == 0.5
    assert evaluate(run, qrels, ["MRR@10"], complete=False)["MRR@10"] == 1.0
    _, table = evaluate(run, qrels, ["MRR@10"], per_query=True)
    assert table == {"q1": {"MRR@10": 1.0}, "q2": {"MRR@10": 0.0}}


@pytest.mark.parametrize(
    "name, parsed",
    [
        ("MRR@10", ("MRR", 10)),
        ("rr@5", ("MRR", 5)),
        ("NDCG@3", ("nDCG", 3)),
        ("R@100", ("recall", 100)),
        ("recall@7", ("recall", 7)),
    ],
)
def test_parse_metric(name, parsed):
    assert parse_metric(name) == parsed


@pytest.mark.parametrize("name", ["MAP", "P@10", "MRR@0", "nDCG", "recall@x"])
def test_parse_metric_refuses(name):
    with pytest.raises(ValueError, match="metric"):
        parse_metric(name)


def test_run_round_trip_keeps_float32_scores(tmp_path):
    rng = np.random.default_rng(0)
    scores = np.sort(rng.standard_normal((3, 5)).astype(np.float32), axis=1)[:, ::-1].copy()
    ids = np.array([[4, 2, 0, 1, -1], [0, 1, 2, 3, 4], [-1, -1, -1, -1, -1]], dtype=np.int64)
    path = tmp_path / "run.trec"
    n = write_run(
        path, (scores, ids), query_ids=["a", "b", "c"], doc_ids=[f"doc{i}" for i in range(5)], tag="t1"
    )
    assert n == 9
    lines = path.read_text().splitlines()
    assert lines[0].split()[:4] == ["a", "Q0", "doc4", "1"] and lines[0].split()[5] == "t1"
    run = read_run(path)
    expected = run_from_result(
        (scores, ids), query_ids=["a", "b", "c"], doc_ids=[f"doc{i}" for i in range(5)]
    )
    assert expected.pop("c") == {}  # a query whose row is all padding has no line
    as_float32 = {q: {d: np.float32(s) for d, s in docs.items()} for q, docs in run.items()}
    assert as_float32 == expected  # 9 significant digits give back every float32 exactly
    assert list(run["a"]) == ["doc4", "doc2", "doc0", "doc1"]


def test_write_run_refuses_bad_ids(tmp_path):
    scores, ids = np.zeros((2, 1), np.float32), np.zeros((2, 1), np.int64)
    with pytest.raises(ValueError, match="query_ids: expected 2 ids"):
        write_run(tmp_path / "r", (scores, ids), query_ids=["a"])
    with pytest.raises(ValueError, match="whitespace"):
        write_run(tmp_path / "r", (scores, ids), query_ids=["a b", "c"])
    with pytest.raises(ValueError, match="doc_ids"):
        write_run(tmp_path / "r", (scores, ids + 3), doc_ids=["x"])


def test_qrels_formats_are_detected(tmp_path):
    expected = {"q1": {"d1": 1, "d2": 0}, "q2": {"d 3": 2}}
    (tmp_path / "beir.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\n\nq2\td 3\t2\n")
    assert read_qrels(tmp_path / "beir.tsv") == expected
    (tmp_path / "plain.tsv").write_text("q1\td1\t1\nq1\td2\t0\nq2\td 3\t2\n")
    assert read_qrels(tmp_path / "plain.tsv") == expected
    trec = {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}
    (tmp_path / "qrels.trec").write_text("q1 0 d1 1\nq1 0 d2 0\nq2  0\td3   2\n")
    assert read_qrels(tmp_path / "qrels.trec") == trec
    with gzip.open(tmp_path / "qrels.trec.gz", "wt") as f:
        f.write("q1 0 d1 1\nq1 0 d2 0\nq2 0 d3 2\n")
    assert read_qrels(tmp_path / "qrels.trec.gz") == trec


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("", None, "no judgments"),
        ("q1 d1\n", 1, "not a qrels line"),
        ("q1 0 d1 1\nq1 0 d2\n", 2, "expected 4 fields"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\n", 3, "expected 3 fields"),
        ("q1 0 d1 high\n", 1, "relevance must be an integer"),
        ("q1 0 d1 1\nq1 0 d1 2\n", 2, "judged twice"),
    ],
)
def test_malformed_qrels_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.qrels"
    path.write_text(text)
    where = f"bad.qrels, line {line}" if line else "bad.qrels"
    with pytest.raises(ValueError, match=message) as info:
        read_qrels(path)
    assert where in str(info.value)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("q1 Q0 d1 1 2.5\n", 1, "expected 6 fields"),
        ("q1 Q0 d1 1 2.5 t\nq1 Q0 d2 x 2.0 t\n", 2, "rank must be an integer"),
        ("q1 Q0 d1 1 high t\n", 1, "score must be a finite number"),
        ("q1 Q0 d1 1 nan t\n", 1, "score must be a finite number"),
        ("q1 Q0 d1 1 2.5 t\nq1 Q0 d1 2 2.0 t\n", 2, "listed twice"),
    ],
)
def test_malformed_run_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.run"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        read_run(path)
    assert f"bad.run, line {line}" in str(info.value)


def test_binary_file_is_a_value_error(tmp_path):
    path = tmp_path / "x.run"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        read_run(path)
    with pytest.raises(FileNotFoundError):
        read_run(tmp_path / "missing.run")


def test_ids_files(tmp_path):
    (tmp_path / "ids.txt").write_text("a\n b \nc\n")
    assert read_ids(tmp_path / "ids.txt") == ["a", "b", "c"]
    (tmp_path / "blank.txt").write_text("a\n\nc\n")
    with pytest.raises(ValueError, match="blank.txt, line 2: blank line"):
        read_ids(tmp_path / "blank.txt")
    (tmp_path / "docs.jsonl").write_text('{"id": "x", "row": 0}\n{"id": "y", "row": 1}\n')
    assert read_ids(tmp_path / "docs.jsonl") == ["x", "y"]
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "row": 0}\n{"id": "y", "row": 5}\n')
    with pytest.raises(ValueError, match="bad.jsonl, line 2"):
        read_ids(tmp_path / "bad.jsonl")


def test_rows_sharing_an_id_count_once_at_their_best_score(tmp_path):
    scores = np.array([[5.0, 4.0, 3.0, 2.0]], np.float32)
    ids = np.array([[2, 0, 1, 3]], np.int64)
    doc_ids = ["a", "b", "a", "c"]  # rows 0 and 2 are passages of one document "a"
    assert run_from_result((scores, ids), doc_ids=doc_ids) == {"0": {"a": 5.0, "b": 3.0, "c": 2.0}}
    assert write_run(tmp_path / "r", (scores, ids), doc_ids=doc_ids) == 3
    assert [line.split()[2:4] for line in (tmp_path / "r").read_text().splitlines()] == [
        ["a", "1"],
        ["b", "2"],
        ["c", "3"],
    ]
    assert read_run(tmp_path / "r") == {"0": {"a": 5.0, "b": 3.0, "c": 2.0}}
