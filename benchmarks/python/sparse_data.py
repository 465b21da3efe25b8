"""bench_sparse.py, data: the Debian SPLADE set or the synthetic generator, cached in
``--work-dir`` with exact ground truth, plus the query file Seismic's batch search reads."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import common


def _save_csr(path: Path, m: sp.csr_matrix) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    sp.save_npz(tmp, m, compressed=False)
    os.replace(tmp, path)


def write_seismic_bin(path: Path, m: sp.csr_matrix) -> None:
    """Seismic's inner binary format: u32 n_rows, then per row u32 nnz, u32 ids[nnz], f32 values[nnz]."""
    lengths = np.diff(m.indptr).astype(np.int64)
    starts = 1 + np.concatenate(([0], np.cumsum(1 + 2 * lengths)[:-1]))
    buf = np.empty(1 + int(np.sum(1 + 2 * lengths)), dtype=np.uint32)
    buf[0] = m.shape[0]
    buf[starts] = lengths
    pos = np.arange(m.nnz) - np.repeat(m.indptr[:-1].astype(np.int64), lengths)
    row_start = np.repeat(starts, lengths)
    buf[row_start + 1 + pos] = m.indices
    buf[row_start + 1 + np.repeat(lengths, lengths) + pos] = m.data.astype(np.float32).view(np.uint32)
    tmp = path.with_suffix(".tmp")
    buf.tofile(tmp)
    os.replace(tmp, path)


def exact_ground_truth(docs, queries, k: int):
    aftershock = common.import_aftershock()
    exact = getattr(aftershock, "exact_search", None) if aftershock is not None else None
    if exact is not None:
        res = exact(docs, queries, k)
        ids = res.ids if hasattr(res, "ids") else res[1]
        return np.asarray(ids, dtype=np.int64), "aftershock.exact_search"
    return common.exact_topk_scipy(docs, queries, k)[1], "scipy"


def prepare_data(args, datasets) -> dict:
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    k_gt = max(args.k, 10)
    if args.dataset == "debian":
        docs, queries, gt = datasets.load_debian_sparse(args.data_root)
        gt_source = "gt.npy"
        if args.n_queries is not None:
            queries, gt = queries[: args.n_queries], gt[: args.n_queries]
        key = "debian"
        if args.n_docs is not None and args.n_docs < docs.shape[0]:
            docs = docs[: args.n_docs]
            key = f"debian-n{args.n_docs}"
            gt = None
        folder = work / key
        folder.mkdir(exist_ok=True)
        if gt is None:
            gt_path = folder / f"gt_q{queries.shape[0]}_k{k_gt}.npy"
            if gt_path.exists():
                gt, gt_source = np.load(gt_path), "cache"
            else:
                gt, gt_source = exact_ground_truth(docs, queries, k_gt)
                np.save(gt_path, gt)
    else:
        n_docs = args.n_docs or 100_000
        n_queries = args.n_queries or 1000
        src = (common.REPO_ROOT / "python" / "aftershock" / "datasets.py").read_bytes()
        digest = hashlib.sha256(src).hexdigest()[:10]
        key = (
            f"synthetic-n{n_docs}-q{n_queries}-v{args.vocab_size}-d{args.doc_nnz}-qn{args.query_nnz}"
            f"-t{args.n_topics}-s{args.seed}-{digest}"
        )
        folder = work / key
        folder.mkdir(exist_ok=True)
        if (folder / "docs.npz").exists() and (folder / "queries.npz").exists():
            docs, queries = (
                sp.load_npz(folder / "docs.npz").tocsr(),
                sp.load_npz(folder / "queries.npz").tocsr(),
            )
            print(f"[data] cached {folder}", file=sys.stderr)
        else:
            print(f"[data] generating {n_docs} documents ...", file=sys.stderr)
            seconds, (docs, queries) = common.time_once(
                lambda: datasets.synthetic_sparse(
                    n_docs,
                    n_queries,
                    vocab_size=args.vocab_size,
                    doc_nnz=args.doc_nnz,
                    query_nnz=args.query_nnz,
                    n_topics=args.n_topics,
                    seed=args.seed,
                )
            )
            print(f"[data] generated in {seconds:.1f} s", file=sys.stderr)
            _save_csr(folder / "docs.npz", docs)
            _save_csr(folder / "queries.npz", queries)
        gt_path = folder / f"gt_k{k_gt}.npy"
        if gt_path.exists():
            gt, gt_source = np.load(gt_path), "cache"
        else:
            print("[data] exact ground truth ...", file=sys.stderr)
            seconds, (gt, gt_source) = common.time_once(lambda: exact_ground_truth(docs, queries, k_gt))
            print(f"[data] ground truth by {gt_source} in {seconds:.1f} s", file=sys.stderr)
            np.save(gt_path, gt)
    docs_path = folder / "docs.npz"
    if not docs_path.exists():
        _save_csr(docs_path, docs)
    queries_bin = folder / f"queries_q{queries.shape[0]}.seismic.bin"
    if not queries_bin.exists():
        write_seismic_bin(queries_bin, queries)
    return {
        "name": key,
        "folder": folder,
        "docs": docs,
        "queries": queries,
        "gt": gt,
        "gt_source": gt_source,
        "docs_path": docs_path,
        "queries_bin": queries_bin,
        "info": {
            "dataset": args.dataset,
            "data_key": key,
            "n_docs": int(docs.shape[0]),
            "n_queries": int(queries.shape[0]),
            "vocab_size": int(docs.shape[1]),
            "doc_nnz_mean": float(docs.nnz / max(docs.shape[0], 1)),
            "query_nnz_mean": float(queries.nnz / max(queries.shape[0], 1)),
            "gt_source": gt_source,
        },
    }
