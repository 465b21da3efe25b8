"""Relevance evaluation: TREC run and qrels files, and the metrics MRR@k, nDCG@k and recall@k.

A *run* maps each query id to its retrieved documents and their scores,
``{qid: {docid: score}}``; *qrels* map each query id to its judged documents and their
integer relevance, ``{qid: {docid: rel}}``. Both are plain dictionaries, so runs and
judgments from any source can be evaluated.

The metrics follow ``trec_eval`` (the reference implementation that ``pytrec_eval`` and
``ir-measures`` wrap), written here in plain Python and numpy so that evaluation needs no
extra dependency:

* a run is ranked by score, highest first, and **ties in score are broken by document id
  in decreasing string order** (``trec_eval`` sorts with ``strcmp`` on the docno, reversed);
  the rank column of a run file is ignored, as ``trec_eval`` ignores it;
* a document is relevant when its judgment is ``>= 1`` (``trec_eval``'s default
  ``relevance_level``); unjudged documents are not relevant;
* ``MRR@k`` (``RR@k`` in ``ir-measures``): 1 / rank of the first relevant document among the
  first ``k``, else 0;
* ``nDCG@k``: ``sum_{i < k} gain_i / log2(i + 2)`` over the ranked run, divided by the same sum
  over the judged documents sorted by relevance; the gain is the judgment itself (linear, as
  ``trec_eval``'s ``ndcg_cut``), negative judgments count 0; 0 when no judgment is positive;
* ``recall@k`` (``R@k``): relevant documents among the first ``k`` / all relevant documents of
  the query, 0 when it has none;
* the mean is over every query of the qrels, a query missing from the run scoring 0
  (``trec_eval -c``, and what ``ir-measures`` reports); with ``complete=False`` over the
  queries that appear in both (``trec_eval``'s default, which ignores a query the run
  returned nothing for). Queries of the run without judgments are ignored either way; a query
  whose judgments are all 0 counts, scoring 0.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

__all__ = [
    "DEFAULT_METRICS",
    "evaluate",
    "parse_metric",
    "rank",
    "read_ids",
    "read_qrels",
    "read_run",
    "run_from_result",
    "write_run",
]

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]

DEFAULT_METRICS = ("MRR@10", "nDCG@10", "recall@100")

_METRIC = re.compile(r"^(mrr|rr|ndcg|recall|r)@([0-9]+)$", re.IGNORECASE)
_FAMILY = {"mrr": "MRR", "rr": "MRR", "ndcg": "nDCG", "recall": "recall", "r": "recall"}


def _open_text(path) -> io.TextIOBase:
    """Opens a text file for reading (gzip when the name ends in ``.gz``)."""
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if name.endswith(".gz"):
        return gzip.open(name, "rt", encoding="utf-8")
    return open(name, encoding="utf-8")


def _lines(path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) of every non-blank line."""
    with _open_text(path) as f:
        try:
            for number, line in enumerate(f, start=1):
                stripped = line.strip()
                if stripped:
                    yield number, line.rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{os.fsdecode(path)}: not a UTF-8 text file ({e.reason} at byte {e.start})"
            ) from None
        except (gzip.BadGzipFile, EOFError) as e:
            raise ValueError(f"{os.fsdecode(path)}: not a valid gzip file ({e})") from None


def _where(path, number: int) -> str:
    return f"{os.fsdecode(path)}, line {number}"


def _int_field(text: str, what: str, path, number: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{_where(path, number)}: {what} must be an integer, got {text!r}") from None


# --------------------------------------------------------------------------------- runs
def read_run(path) -> Run:
    """Read a TREC run file: one ``qid Q0 docid rank score tag`` line per retrieved document.

    Fields are separated by whitespace; the second (``Q0``), the rank and the tag are
    checked for form but not used (ranking is by score, as ``trec_eval`` does). A ``.gz``
    name is read through gzip.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``{qid: {docid: score}}``, queries in file order.

    Raises
    ------
    OSError
        The file cannot be read (``FileNotFoundError``, ``PermissionError``, ...).
    ValueError
        A line without exactly 6 fields, a rank that is not an integer, a score that is not
        a finite number, or a document listed twice for one query; the message names the
        file and the line.
    """
    run: Run = {}
    for number, line in _lines(path):
        fields = line.split()
        if len(fields) != 6:
            raise ValueError(
                f"{_where(path, number)}: expected 6 fields 'qid Q0 docid rank score tag', got {len(fields)}"
            )
        qid, _, docid, rank_text, score_text, _ = fields
        _int_field(rank_text, "rank", path, number)
        try:
            score = float(score_text)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise ValueError(f"{_where(path, number)}: score must be a finite number, got {score_text!r}")
        docs = run.setdefault(qid, {})
        if docid in docs:
            raise ValueError(f"{_where(path, number)}: document {docid!r} listed twice for query {qid!r}")
        docs[docid] = score
    return run


def _id_list(ids, n: int, name: str) -> list[str] | None:
    if ids is None:
        return None
    out = [str(i) for i in ids]
    if len(out) != n:
        raise ValueError(f"{name}: expected {n} ids (one per row), got {len(out)}")
    return out


def _checked_result(result, query_ids, doc_ids):
    """(scores, ids, query id strings or None, doc id strings or None) of a search result,
    checked: one 2-d shape, one query id per row, a doc id for every returned row."""
    scores, ids = result
    scores = np.asarray(scores)
    ids = np.asarray(ids)
    if scores.shape != ids.shape or ids.ndim != 2:
        raise ValueError(
            f"result: expected scores and ids of one 2-d shape, got {scores.shape} and {ids.shape}"
        )
    qids = _id_list(query_ids, ids.shape[0], "query_ids")
    dids = None if doc_ids is None else [str(d) for d in doc_ids]
    if dids is not None and ids.size and int(ids.max()) >= len(dids):
        raise ValueError(f"doc_ids: {len(dids)} ids, but the result holds document row {int(ids.max())}")
    return scores, ids, qids, dids


def run_from_result(result, *, query_ids: Sequence | None = None, doc_ids: Sequence | None = None) -> Run:
    """Turn a search result into a run, naming rows by ids.

    Parameters
    ----------
    result : SearchResult or tuple ``(scores, ids)``
        ``scores`` ``[n_queries, k]`` and ``ids`` ``[n_queries, k]``; padding (id < 0) is
        dropped. Rows that ``doc_ids`` gives one id (passages of one document, duplicate
        entries) count once per query, at their best score (MaxP).
    query_ids : sequence, optional
        Id of each query row (``str`` of each item); default: the row number.
    doc_ids : sequence, optional
        Id of each document row; default: the row number.

    Returns
    -------
    dict
        ``{qid: {docid: score}}``; every query row appears, possibly with no documents.

    Raises
    ------
    ValueError
        Shapes differ, or an id list does not have one id per row (for ``doc_ids``: a
        returned id beyond it).
    """
    scores, ids, qids, dids = _checked_result(result, query_ids, doc_ids)
    return {qid: dict(docs) for qid, docs in _named_rows(scores, ids, qids, dids)}


def _named_rows(scores: np.ndarray, ids: np.ndarray, qids, dids):
    """(query id, [(doc id, score), ...] best first) per result row, padding dropped. Rows
    sharing a document id (passages of one document, duplicates) count once, at their best
    score (MaxP), as trec_eval refuses a document listed twice."""
    for row in range(ids.shape[0]):
        best: dict[str, float] = {}
        for doc, score in zip(ids[row].tolist(), scores[row].tolist()):
            if doc < 0:
                continue
            name = dids[doc] if dids is not None else str(doc)
            if name not in best or score > best[name]:
                best[name] = float(score)
        ranked = sorted(best.items(), key=lambda item: -item[1])  # stable: the result's order on ties
        yield (qids[row] if qids is not None else str(row)), ranked


def write_run(
    path,
    result,
    *,
    query_ids: Sequence | None = None,
    doc_ids: Sequence | None = None,
    tag: str = "aftershock",
) -> int:
    """Write a search result as a TREC run file (``qid Q0 docid rank score tag``).

    Ranks start at 1 in the result's order (best first); padding (id < 0) is not written;
    scores are written with 9 significant digits, which round-trip float32 exactly. Rows
    that ``doc_ids`` gives one id are written once per query, at their best score (MaxP;
    ``trec_eval`` refuses a document listed twice), so a query can have fewer than k lines.

    Parameters
    ----------
    path : str, os.PathLike or a text file object
        The file to write (replaced if it exists), or an open text stream to write to.
    result : SearchResult or tuple ``(scores, ids)``
    query_ids, doc_ids : sequence, optional
        As for :func:`run_from_result`: ids must not contain whitespace.
    tag : str
        The run tag of the last column (no whitespace).

    Returns
    -------
    int
        The number of lines written.

    Raises
    ------
    ValueError
        Bad shapes or id lists, or an id or the tag containing whitespace (the file would
        not read back).
    OSError
        The file cannot be written.
    """
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"tag: expected a non-empty word without whitespace, got {tag!r}")
    scores, ids, qids, dids = _checked_result(result, query_ids, doc_ids)
    for name, values in (("query_ids", qids), ("doc_ids", dids)):
        for value in values or ():
            if not value or any(c.isspace() for c in value):
                raise ValueError(f"{name}: id {value!r} is empty or contains whitespace")
    lines = []
    for qid, ranked in _named_rows(scores, ids, qids, dids):
        for r, (doc, score) in enumerate(ranked, start=1):
            lines.append(f"{qid} Q0 {doc} {r} {score:.9g} {tag}\n")
    if hasattr(path, "write"):
        path.writelines(lines)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(lines)
    return len(lines)


# -------------------------------------------------------------------------------- qrels
def read_qrels(path) -> Qrels:
    """Read relevance judgments in TREC or BEIR form; the form is detected from the first line.

    * TREC: ``qid iteration docid relevance``, whitespace-separated (4 fields).
    * BEIR: ``query-id<TAB>corpus-id<TAB>score`` (3 fields), with a header line (recognized
      by a third field that is not an integer) or without one.

    A ``.gz`` name is read through gzip.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``{qid: {docid: relevance}}``.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        An empty file, a first line of neither form, a line with another number of fields
        than the first, a relevance that is not an integer, or one (qid, docid) judged
        twice; the message names the file and the line.
    """
    qrels: Qrels = {}
    n_fields = 0
    for number, line in _lines(path):
        if n_fields == 0:
            tabbed = line.split("\t")
            fields = tabbed if len(tabbed) == 3 else line.split()
            if len(fields) not in (3, 4):
                raise ValueError(
                    f"{_where(path, number)}: not a qrels line: expected 'qid 0 docid relevance' (TREC) or "
                    f"'query-id<TAB>corpus-id<TAB>score' (BEIR), got {len(fields)} fields"
                )
            n_fields = len(fields)
            if n_fields == 3:
                try:
                    int(fields[2])
                except ValueError:
                    continue  # the BEIR header
        else:
            fields = line.split("\t") if n_fields == 3 and "\t" in line else line.split()
            if len(fields) != n_fields:
                form = "'query-id<TAB>corpus-id<TAB>score'" if n_fields == 3 else "'qid 0 docid relevance'"
                raise ValueError(
                    f"{_where(path, number)}: expected {n_fields} fields {form}, got {len(fields)}"
                )
        fields = [f.strip() for f in fields]
        if n_fields == 3:
            qid, docid, rel_text = fields
        else:
            qid, _, docid, rel_text = fields
        if not qid or not docid:
            raise ValueError(f"{_where(path, number)}: empty query or document id")
        rel = _int_field(rel_text, "relevance", path, number)
        docs = qrels.setdefault(qid, {})
        if docid in docs:
            raise ValueError(f"{_where(path, number)}: document {docid!r} judged twice for query {qid!r}")
        docs[docid] = rel
    if n_fields == 0:
        raise ValueError(f"{os.fsdecode(path)}: no judgments (empty file)")
    return qrels


def read_ids(path) -> list[str]:
    """Read an ids file: line ``i`` names row ``i``.

    A plain text file holds one id per line (surrounding whitespace removed; a blank line is
    an error, since it would shift every later row). A ``.jsonl`` file (or ``.jsonl.gz``)
    holds one JSON object per line, whose ``"id"`` is taken; when it also has ``"row"``, that
    must equal the line's index (as in the BEIR-style ``docs.jsonl`` / ``queries.jsonl``).

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        A blank line, an id with whitespace inside, a JSON line without ``"id"``, or a
        ``"row"`` out of order; the message names the file and the line.
    """
    name = os.fsdecode(os.fspath(path))
    is_jsonl = name.endswith((".jsonl", ".jsonl.gz"))
    out: list[str] = []
    with _open_text(path) as f:
        try:
            for number, line in enumerate(f, start=1):
                text = line.strip()
                if not text:
                    if is_jsonl:
                        continue
                    raise ValueError(f"{_where(path, number)}: blank line (line i names row i - 1)")
                if is_jsonl:
                    try:
                        obj = json.loads(text)
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{_where(path, number)}: not JSON ({e.msg})") from None
                    if not isinstance(obj, dict) or "id" not in obj:
                        raise ValueError(f'{_where(path, number)}: a JSON object with an "id" expected')
                    if "row" in obj and obj["row"] != len(out):
                        raise ValueError(
                            f'{_where(path, number)}: "row" is {obj["row"]!r}, expected {len(out)}'
                        )
                    text = str(obj["id"])
                if any(c.isspace() for c in text):
                    raise ValueError(f"{_where(path, number)}: id {text!r} contains whitespace")
                out.append(text)
        except UnicodeDecodeError as e:
            raise ValueError(f"{name}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
        except (gzip.BadGzipFile, EOFError) as e:
            raise ValueError(f"{name}: not a valid gzip file ({e})") from None
    return out


# ------------------------------------------------------------------------------ metrics
def parse_metric(name: str) -> tuple[str, int]:
    """``"MRR@10"`` -> ``("MRR", 10)``; also ``RR@k``, ``nDCG@k``, ``recall@k`` / ``R@k`` (any case).

    Raises
    ------
    ValueError
        An unknown metric or a cut-off below 1.
    """
    match = _METRIC.match(str(name).strip())
    if match is None:
        raise ValueError(f"metric: expected MRR@k, nDCG@k or recall@k, got {name!r}")
    k = int(match.group(2))
    if k < 1:
        raise ValueError(f"metric: the cut-off must be >= 1, got {name!r}")
    return _FAMILY[match.group(1).lower()], k


def rank(docs: dict[str, float]) -> list[str]:
    """Document ids of one query's run, best first: score decreasing, ties by id decreasing
    (``trec_eval``'s order)."""
    by_id = sorted(docs.items(), key=lambda item: item[0], reverse=True)
    return [doc for doc, _ in sorted(by_id, key=lambda item: -item[1])]


def _query_metrics(ranked: list[str], judged: dict[str, int], parsed: list[tuple[str, int]]) -> list[float]:
    rels = np.array([judged.get(doc, 0) for doc in ranked], dtype=np.float64)
    hits = rels >= 1
    n_relevant = sum(1 for r in judged.values() if r >= 1)
    out = []
    for family, k in parsed:
        if family == "MRR":
            first = np.flatnonzero(hits[:k])
            out.append(1.0 / float(first[0] + 1) if first.size else 0.0)
        elif family == "recall":
            out.append(float(hits[:k].sum()) / n_relevant if n_relevant else 0.0)
        else:
            gains = np.maximum(rels[:k], 0.0)
            dcg = float(np.sum(gains / np.log2(np.arange(2, gains.size + 2))))
            ideal = np.sort(np.array([max(r, 0) for r in judged.values()], dtype=np.float64))[::-1][:k]
            idcg = float(np.sum(ideal / np.log2(np.arange(2, ideal.size + 2))))
            out.append(dcg / idcg if idcg > 0 else 0.0)
    return out


def evaluate(
    run: Run,
    qrels: Qrels,
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    complete: bool = True,
    per_query: bool = False,
):
    """Mean MRR@k, nDCG@k and recall@k of a run against judgments (``trec_eval`` semantics).

    Parameters
    ----------
    run : dict
        ``{qid: {docid: score}}`` (:func:`read_run`, :func:`run_from_result`).
    qrels : dict
        ``{qid: {docid: relevance}}`` (:func:`read_qrels`).
    metrics : iterable of str
        Names such as ``"MRR@10"``, ``"nDCG@10"``, ``"recall@100"`` (see :func:`parse_metric`).
    complete : bool
        Average over every query of ``qrels``, one missing from the run scoring 0 (default;
        ``trec_eval -c``, ``ir-measures``); ``False``: over the queries in both, as
        ``trec_eval`` without ``-c``.
    per_query : bool
        Also return each query's values.

    Returns
    -------
    dict or (dict, dict)
        ``{metric name: mean}`` in the order given (0.0 for every metric when no query is
        evaluated); with ``per_query``, also ``{qid: {metric name: value}}``.

    Raises
    ------
    ValueError
        An unknown metric name.
    """
    names = list(metrics)
    parsed = [parse_metric(m) for m in names]
    qids = list(qrels) if complete else [q for q in run if q in qrels]
    table: dict[str, dict[str, float]] = {}
    for qid in qids:
        values = _query_metrics(rank(run.get(qid, {})), qrels[qid], parsed)
        table[qid] = dict(zip(names, values))
    means = {name: (float(np.mean([table[q][name] for q in qids])) if qids else 0.0) for name in names}
    return (means, table) if per_query else means
