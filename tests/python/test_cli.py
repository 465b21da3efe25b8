"""The command line: build -> search -> eval round trips on tiny generated sets (the same numbers
as the Python API), bench's Pareto table and PNG plot, tune, info, and user errors (exit code
2, one line, no traceback). In-process through ``cli.main`` except one subprocess test."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import aftershock
from aftershock import MultiVectorIndex, SparseIndex, cli
from aftershock.datasets import synthetic_sparse
from aftershock.evaluation import evaluate, read_qrels, read_run, run_from_result

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPARSE_BUILD = {"n_postings": 100, "summary_energy": 0.5, "seed": 3}
MV_BUILD = {"n_centroids": 8, "seed": 2}


def _write_ids(path: Path, prefix: str, n: int) -> list[str]:
    ids = [f"{prefix}{i}" for i in range(n)]
    path.write_text("".join(i + "\n" for i in ids))
    return ids


def _write_qrels(path: Path, query_ids, doc_ids, rng) -> None:
    """BEIR tsv: one or two judged documents per query, some of them unjudged queries."""
    lines = ["query-id\tcorpus-id\tscore\n"]
    for q in query_ids[:-1]:  # the last query has no judgments
        for d in rng.choice(len(doc_ids), size=int(rng.integers(1, 3)), replace=False):
            lines.append(f"{q}\t{doc_ids[d]}\t{int(rng.integers(1, 3))}\n")
    path.write_text("".join(lines))


@pytest.fixture(scope="module")
def sparse_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sparse")
    docs, queries = synthetic_sparse(400, 12, seed=5)
    sp.save_npz(folder / "docs.npz", docs)
    sp.save_npz(folder / "queries.npz", queries)
    doc_ids = _write_ids(folder / "doc_ids.txt", "doc-", docs.shape[0])
    query_ids = _write_ids(folder / "query_ids.txt", "q", queries.shape[0])
    rng = np.random.default_rng(0)
    # judge mostly documents the search finds, so the metrics are not all zero
    top = aftershock.exact_search(docs, queries, 3).ids
    lines = ["query-id\tcorpus-id\tscore\n"]
    for i, q in enumerate(query_ids[:-1]):
        lines.append(f"{q}\t{doc_ids[top[i, i % 3]]}\t{1 + i % 2}\n")
        lines.append(f"{q}\t{doc_ids[int(rng.integers(docs.shape[0]))]}\t1\n")
    (folder / "qrels.tsv").write_text("".join(dict.fromkeys(lines)))
    index = folder / "index.aft"
    assert (
        cli.main(
            [
                "build",
                "sparse",
                str(folder / "docs.npz"),
                "-o",
                str(index),
                "--num-threads",
                "1",
                "--n-postings",
                "100",
                "--summary-energy",
                "0.5",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    return folder, docs, queries, doc_ids, query_ids


@pytest.fixture(scope="module")
def mv_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mv")
    rng = np.random.default_rng(7)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(2, 12, size=60))]).astype(np.int64)
    vectors = rng.standard_normal((int(offsets[-1]), 8)).astype(np.float32)
    q_offsets = np.concatenate([[0], np.cumsum(rng.integers(1, 5, size=9))]).astype(np.int64)
    q_vectors = rng.standard_normal((int(q_offsets[-1]), 8)).astype(np.float32)
    for name, array in (
        ("vectors", vectors),
        ("offsets", offsets),
        ("qvectors", q_vectors),
        ("qoffsets", q_offsets),
    ):
        np.save(folder / f"{name}.npy", array)
    doc_ids = _write_ids(folder / "doc_ids.txt", "p", len(offsets) - 1)
    query_ids = _write_ids(folder / "query_ids.txt", "mq", len(q_offsets) - 1)
    _write_qrels(folder / "qrels.tsv", query_ids, doc_ids, rng)
    assert (
        cli.main(
            [
                "build",
                "multivector",
                str(folder / "vectors.npy"),
                "--offsets",
                str(folder / "offsets.npy"),
                "-o",
                str(folder / "index.aft"),
                "--n-centroids",
                "8",
                "--seed",
                "2",
                "--num-threads",
                "1",
            ]
        )
        == 0
    )
    return folder, (vectors, offsets), (q_vectors, q_offsets), doc_ids, query_ids


def _check_trec_run(path: Path, query_ids, doc_ids, k: int) -> None:
    per_query: dict[str, list] = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        assert len(fields) == 6 and fields[1] == "Q0" and fields[5] == "aftershock"
        assert fields[0] in query_ids and fields[2] in doc_ids
        per_query.setdefault(fields[0], []).append((int(fields[3]), float(fields[4])))
    assert set(per_query) == set(query_ids)
    for rows in per_query.values():
        assert [r for r, _ in rows] == list(range(1, len(rows) + 1)) and len(rows) <= k
        scores = [s for _, s in rows]
        assert scores == sorted(scores, reverse=True)


def _eval_json(capsys, run: Path, qrels: Path) -> dict:
    capsys.readouterr()
    assert cli.main(["eval", str(run), str(qrels), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_sparse_round_trip_matches_python_api(sparse_set, tmp_path, capsys):
    folder, docs, queries, doc_ids, query_ids = sparse_set
    run = tmp_path / "run.trec"
    assert (
        cli.main(
            [
                "search",
                str(folder / "index.aft"),
                str(folder / "queries.npz"),
                "-k",
                "20",
                "-o",
                str(run),
                "--doc-ids",
                str(folder / "doc_ids.txt"),
                "--query-ids",
                str(folder / "query_ids.txt"),
                "--query-cut",
                "5",
                "--num-threads",
                "1",
            ]
        )
        == 0
    )
    _check_trec_run(run, query_ids, doc_ids, 20)
    got = _eval_json(capsys, run, folder / "qrels.tsv")

    index = SparseIndex.build(docs, num_threads=1, **SPARSE_BUILD)
    assert SparseIndex.load(folder / "index.aft").to_bytes() == index.to_bytes()  # the flags reach build
    result = index.search(queries, 20, query_cut=5, num_threads=1)
    api_run = run_from_result(result, query_ids=query_ids, doc_ids=doc_ids)
    expected = evaluate(api_run, read_qrels(folder / "qrels.tsv"))
    assert {m: got[m] for m in expected} == expected
    assert got["n_queries"] == len(query_ids) - 1 and got["unjudged_in_run"] == 1
    assert 0 < expected["MRR@10"] <= 1
    assert {q: list(d) for q, d in read_run(run).items()} == {q: list(d) for q, d in api_run.items()}


def test_multivector_round_trip_matches_python_api(mv_set, tmp_path, capsys):
    folder, (vectors, offsets), (q_vectors, q_offsets), doc_ids, query_ids = mv_set
    run = tmp_path / "run.trec"
    assert (
        cli.main(
            [
                "search",
                str(folder / "index.aft"),
                str(folder / "qvectors.npy"),
                "--query-offsets",
                str(folder / "qoffsets.npy"),
                "-k",
                "5",
                "-o",
                str(run),
                "--n-candidates",
                "16",
                "--doc-ids",
                str(folder / "doc_ids.txt"),
                "--query-ids",
                str(folder / "query_ids.txt"),
            ]
        )
        == 0
    )
    _check_trec_run(run, query_ids, doc_ids, 5)
    got = _eval_json(capsys, run, folder / "qrels.tsv")
    index = MultiVectorIndex.build(vectors, offsets, num_threads=1, **MV_BUILD)
    result = index.search(q_vectors, 5, query_offsets=q_offsets, n_candidates=16)
    expected = evaluate(
        run_from_result(result, query_ids=query_ids, doc_ids=doc_ids), read_qrels(folder / "qrels.tsv")
    )
    assert {m: got[m] for m in expected} == expected


def test_search_without_ids_names_rows_and_writes_stdout(mv_set, capsys):
    folder = mv_set[0]
    capsys.readouterr()
    assert (
        cli.main(
            [
                "search",
                str(folder / "index.aft"),
                str(folder / "qvectors.npy"),
                "--query-offsets",
                str(folder / "qoffsets.npy"),
                "-k",
                "3",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 27 and lines[0].split()[0] == "0" and lines[-1].split()[0] == "8"
    assert all(0 <= int(line.split()[2]) < 60 for line in lines)


def test_eval_prints_the_three_metrics(sparse_set, tmp_path, capsys):
    folder = sparse_set[0]
    run = tmp_path / "run.trec"
    run.write_text("q0 Q0 doc-1 1 3.0 x\nq0 Q0 doc-2 2 2.0 x\n")
    capsys.readouterr()
    assert cli.main(["eval", str(run), str(folder / "qrels.tsv")]) == 0
    out = capsys.readouterr()
    assert [line.split()[0] for line in out.out.splitlines()] == [
        "MRR@10",
        "nDCG@10",
        "recall@100",
        "queries",
    ]
    assert "10 judged queries have no results in the run (counted as 0)" in out.err


def test_bench_prints_pareto_table_and_writes_png(sparse_set, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    folder = sparse_set[0]
    plot = tmp_path / "sweep.png"
    capsys.readouterr()
    assert (
        cli.main(
            [
                "bench",
                str(folder / "index.aft"),
                str(folder / "queries.npz"),
                "--docs",
                str(folder / "docs.npz"),
                "--query-cut",
                "2,8",
                "--heap-factor",
                "0.7,1.0",
                "--plot",
                str(plot),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Pareto frontier" in out and "recall@10" in out and "ms_per_query" in out
    assert plot.read_bytes()[:8] == PNG_SIGNATURE and plot.stat().st_size > 1000


def test_bench_multivector_json_lines(mv_set, capsys):
    folder = mv_set[0]
    capsys.readouterr()
    assert (
        cli.main(
            [
                "bench",
                str(folder / "index.aft"),
                str(folder / "qvectors.npy"),
                "--query-offsets",
                str(folder / "qoffsets.npy"),
                "--n-probe",
                "1,8",
                "--n-candidates",
                "4,60",
                "-k",
                "3",
                "--json",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["n_probe"], r["n_candidates"]) for r in rows] == [(1, 4), (1, 60), (8, 4), (8, 60)]
    assert rows[3]["recall@3"] == 1.0  # every document reranked: exact
    assert any(r["pareto"] for r in rows)


def test_pareto_keeps_only_undominated():
    rows = [
        {"r": 0.9, "ms_per_query": 1.0},
        {"r": 0.8, "ms_per_query": 2.0},
        {"r": 0.95, "ms_per_query": 3.0},
        {"r": 0.95, "ms_per_query": 2.5},
    ]
    assert cli.pareto(rows, "r") == [rows[0], rows[3]]


def test_tune(sparse_set, tmp_path, capsys):
    if not hasattr(SparseIndex, "tune"):
        folder = sparse_set[0]
        assert cli.main(["tune", str(folder / "index.aft"), str(folder / "queries.npz")]) == 2
        assert "has no tune()" in capsys.readouterr().err
        pytest.skip("SparseIndex.tune is not in this version")
    folder = sparse_set[0]
    tuned = tmp_path / "tuned.aft"
    assert (
        cli.main(
            [
                "tune",
                str(folder / "index.aft"),
                str(folder / "queries.npz"),
                "--target-recall",
                "0.9",
                "-k",
                "10",
                "-o",
                str(tuned),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip()
    assert SparseIndex.load(tuned).n_docs == 400


def test_info_of_an_index_and_of_the_build(mv_set, capsys):
    capsys.readouterr()
    assert cli.main(["info", str(mv_set[0] / "index.aft")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "MultiVectorIndex" and info["n_docs"] == 60
    assert cli.main(["info"]) == 0
    assert "active" in json.loads(capsys.readouterr().out)


def _bad_cases(sparse_dir: Path, mv_dir: Path, tmp: Path):
    garbage = tmp / "garbage.aft"
    garbage.write_bytes(b"AFTSHOCK" + b"\0" * 8 + b"ZZZZ" + b"\0" * 44)
    text = tmp / "text.npy"
    text.write_text("not numpy")
    bad_run = tmp / "bad.run"
    bad_run.write_text("q1 Q0 d1 1 0.5\n")
    good_run = tmp / "good.run"
    good_run.write_text("q1 Q0 d1 1 0.5 t\n")
    idx, mv_idx = str(sparse_dir / "index.aft"), str(mv_dir / "index.aft")
    q, mvq, mvo = str(sparse_dir / "queries.npz"), str(mv_dir / "qvectors.npy"), str(mv_dir / "qoffsets.npy")
    return [
        (["search", str(tmp / "missing.aft"), q], "missing.aft: No such file or directory"),
        (["search", str(sparse_dir / "docs.npz"), q], "not an aftershock index file"),
        (["search", str(garbage), q], "of kind b'ZZZZ'"),
        (["search", str(tmp), q], "is a directory"),
        (["search", idx, mvq], "must be a .npz file"),
        (["search", idx, str(tmp / "none.npz")], "none.npz: No such file or directory"),
        (["search", idx, str(text)[:-4] + ".npz"], "No such file"),
        (["search", mv_idx, mvq], "need --query-offsets"),
        (["search", mv_idx, str(text), "--query-offsets", mvo], "text.npy: not a .npy array"),
        (["search", mv_idx, mvq, "--query-offsets", str(mv_dir / "offsets.npy")], "offsets must start at 0"),
        (["search", idx, q, "--n-probe", "2"], "--n-probe: not a search parameter of a SparseIndex"),
        (["search", idx, q, "--query-cut", "0"], "query_cut"),
        (
            ["search", idx, q, "--doc-ids", str(sparse_dir / "query_ids.txt")],
            "12 ids, but the index's documents have 400",
        ),
        (["search", idx, q, "-k", "0"], "-k: expected >= 1"),
        (["search", idx, q, "-o", str(tmp / "no" / "run.trec")], "No such file or directory"),
        (["eval", str(bad_run), str(sparse_dir / "qrels.tsv")], "bad.run, line 1: expected 6 fields"),
        (["eval", str(good_run), str(sparse_dir / "docs.npz")], "docs.npz: not a UTF-8 text file"),
        (["eval", str(good_run), str(bad_run)], "bad.run, line 1: not a qrels line"),
        (["eval", str(bad_run), str(sparse_dir / "qrels.tsv"), "-m", "MAP"], "metric: expected MRR@k"),
        (["build", "sparse", str(text), "-o", str(tmp / "x.aft")], "must be a .npz file"),
        (
            ["build", "sparse", str(sparse_dir / "docs.npz"), "-o", str(tmp / "x.aft"), "--n-centroids", "3"],
            "--n-centroids: not a build parameter of sparse",
        ),
        (
            ["build", "sparse", str(sparse_dir / "docs.npz"), "-o", str(tmp / "x.aft"), "--pruning", "best"],
            "pruning",
        ),
        (["build", "multivector", str(mv_dir / "vectors.npy"), "-o", str(tmp / "x.aft")], "need --offsets"),
        (["build", "sparse", str(sparse_dir / "docs.npz"), "-o", str(tmp / "no" / "x.aft")], "No such file"),
        (["bench", idx, q], "needs --docs"),
        (
            ["bench", idx, q, "--docs", str(sparse_dir / "docs.npz"), "--query-cut", "x"],
            "comma-separated integers",
        ),
        (["demo", "--real", str(tmp / "nowhere")], "real data not found"),
        (["frobnicate"], "invalid choice"),
    ]


def test_bad_inputs_exit_2_with_one_line(sparse_set, mv_set, tmp_path, capsys):
    for argv, message in _bad_cases(sparse_set[0], mv_set[0], tmp_path):
        capsys.readouterr()
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert "Traceback" not in err
        if not err.startswith("usage:"):  # argparse's own errors print the usage first
            assert err.count("\n") == 1 and err.startswith("aftershock: error: "), err


def test_console_entry_in_a_subprocess(tmp_path):
    """``python -m aftershock`` is the console script's ``main``; its exit code reaches the
    shell, and importing aftershock loads neither tqdm nor matplotlib."""
    env = {**os.environ, "PYTHONPATH": str(Path(aftershock.__file__).parent.parent)}
    run = tmp_path / "run.trec"
    run.write_text("q0 Q0 doc-1 1 3.0 x\n")
    done = subprocess.run(
        [sys.executable, "-m", "aftershock", "eval", str(tmp_path / "none"), str(run)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().endswith("none: No such file or directory")
    code = "import sys, aftershock; print(sorted(m for m in ('tqdm', 'matplotlib') if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.stdout.strip() == "[]", done.stderr


def _jsonl(path: Path, ids) -> None:
    path.write_text("".join(json.dumps({"id": i, "row": r, "text": "..."}) + "\n" for r, i in enumerate(ids)))


def test_demo_real_on_a_tiny_data_folder(tmp_path, capsys):
    """The walk-through's layout: sparse/*.npz rows named by docs.jsonl / queries.jsonl, qrels.tsv in
    corpus ids; a token folder with its own rows, ids and qrels (and sparse encodings of them, which
    the pipeline rows use when aftershock.Pipeline exists)."""
    data, mv = tmp_path / "debian", tmp_path / "tokens"
    (data / "sparse").mkdir(parents=True)
    (mv / "sparse").mkdir(parents=True)
    docs, queries = synthetic_sparse(300, 8, seed=9)
    sp.save_npz(data / "sparse" / "docs.npz", docs)
    sp.save_npz(data / "sparse" / "queries.npz", queries)
    doc_ids = [f"deb:p{i}" for i in range(300)]
    query_ids = [f"debq:{i}" for i in range(8)]
    _jsonl(data / "queries.jsonl", query_ids)
    with gzip.open(data / "docs.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps({"id": d, "row": r}) + "\n" for r, d in enumerate(doc_ids)))
    top = aftershock.exact_search(docs, queries, 2).ids
    (data / "qrels.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join(f"{q}\t{doc_ids[top[i, i % 2]]}\t1\n" for i, q in enumerate(query_ids))
    )

    rng = np.random.default_rng(4)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(3, 9, size=80))]).astype(np.int64)
    q_offsets = np.concatenate([[0], np.cumsum(rng.integers(2, 5, size=8))]).astype(np.int64)
    np.save(mv / "doc_vectors_128.npy", rng.standard_normal((int(offsets[-1]), 16)).astype(np.float16))
    np.save(mv / "doc_offsets.npy", offsets)
    np.save(mv / "query_vectors_128.npy", rng.standard_normal((int(q_offsets[-1]), 16)).astype(np.float16))
    np.save(mv / "query_offsets.npy", q_offsets)
    _jsonl(mv / "docs.jsonl", [f"deb:t{i}" for i in range(80)])
    _jsonl(mv / "queries.jsonl", [f"debq:t{i}" for i in range(8)])
    (mv / "qrels.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"debq:t{i}\tdeb:t{3 * i}\t1\n" for i in range(8))
    )
    sp.save_npz(mv / "sparse" / "docs.npz", docs[:80])
    sp.save_npz(mv / "sparse" / "queries.npz", queries)

    capsys.readouterr()
    assert cli.main(["demo", "--real", str(data), "--mv-dir", str(mv), "--num-threads", "1"]) == 0
    out = capsys.readouterr().out
    for system in (
        "sparse exact (exact_search)",
        "SparseIndex, default search",
        "exact MaxSim (fp16 tokens)",
        "MultiVectorIndex (centroid), default search",
    ):
        assert system in out
    # the exact row's MRR@10: every query's judged document is in its exact top 2
    exact_row = next(line for line in out.splitlines() if "sparse exact" in line).split()
    expected = evaluate(
        run_from_result(aftershock.exact_search(docs, queries, 100), query_ids=query_ids, doc_ids=doc_ids),
        read_qrels(data / "qrels.tsv"),
    )
    assert float(exact_row[3]) == pytest.approx(expected["MRR@10"], abs=5e-5) and expected["MRR@10"] >= 0.5
    if hasattr(aftershock, "Pipeline"):
        assert "Pipeline: sparse -> MaxSim rerank of 100" in out
    else:
        assert "aftershock.Pipeline is not in this version" in out
