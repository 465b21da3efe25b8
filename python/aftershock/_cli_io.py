"""File handling of the command line: index kind detection, input arrays, query batches,
progress bars and tables. Every failure the user can cause becomes a :class:`CliError`
(a one-line message; the command exits with code 2)."""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

# The object kind stored at bytes 16..20 of an aftershock file's header (see
# cpp/include/aftershock/io/format.hpp), and the public class that loads it.
_MAGIC = b"AFTSHOCK"
KINDS = {b"SPRS": "SparseIndex", b"MVIX": "MultiVectorIndex", b"MVST": "MultiVectorStore"}


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def os_message(e: OSError, path=None) -> str:
    name = e.filename if e.filename is not None else path
    reason = e.strerror or str(e)
    return f"{os.fsdecode(name)}: {reason}" if name is not None else reason


def index_kind(path: str) -> str:
    """The class name of the object saved at ``path``, read from the file header."""
    if os.path.isdir(path):
        raise CliError(
            f"{path}: is a directory, expected an index file written by 'aftershock build' or save()"
        )
    try:
        with open(path, "rb") as f:
            header = f.read(64)
    except OSError as e:
        raise CliError(os_message(e, path)) from None
    if len(header) < 20 or header[:8] != _MAGIC:
        raise CliError(f"{path}: not an aftershock index file (no AFTSHOCK header)")
    kind = KINDS.get(header[16:20])
    if kind is None:
        raise CliError(f"{path}: holds an aftershock object of kind {header[16:20]!r}, not an index or store")
    return kind


def load_index(path: str):
    """Load the index or store saved at ``path``, whatever its kind."""
    import aftershock

    return getattr(aftershock, index_kind(path)).load(path)


def load_csr(path: str, what: str):
    """A scipy CSR matrix from ``scipy.sparse.save_npz``'s ``.npz``, float32, sorted term ids."""
    import scipy.sparse as sp

    if not str(path).endswith(".npz"):
        raise CliError(
            f"{path}: {what} must be a .npz file of a scipy.sparse CSR matrix (scipy.sparse.save_npz)"
        )
    try:
        matrix = sp.load_npz(path)
    except OSError as e:
        raise CliError(os_message(e, path)) from None
    except (ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise CliError(f"{path}: not a scipy.sparse .npz matrix ({e})") from None
    matrix = matrix.tocsr()
    if matrix.dtype.kind not in "fiu":
        raise CliError(f"{path}: {what} must hold real numbers, got dtype {matrix.dtype}")
    matrix = matrix.astype(np.float32, copy=False)
    if not matrix.has_sorted_indices:
        matrix.sort_indices()
    return matrix


def load_npy(path: str, what: str, *, mmap: bool = False) -> np.ndarray:
    if not str(path).endswith(".npy"):
        raise CliError(f"{path}: {what} must be a .npy file (numpy.save)")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except OSError as e:
        raise CliError(os_message(e, path)) from None
    except (ValueError, EOFError) as e:
        raise CliError(f"{path}: not a .npy array ({e})") from None


class Ragged(NamedTuple):
    """Token sets: ``vectors[offsets[i]:offsets[i + 1]]`` is set ``i``."""

    vectors: np.ndarray
    offsets: np.ndarray

    @property
    def n(self) -> int:
        return len(self.offsets) - 1

    def rows(self, lo: int, hi: int) -> Ragged:
        offs = self.offsets[lo : hi + 1]
        return Ragged(self.vectors[offs[0] : offs[-1]], offs - offs[0])

    def as_list(self) -> list:
        return [np.asarray(self.vectors[self.offsets[i] : self.offsets[i + 1]]) for i in range(self.n)]


def load_ragged(path: str, offsets_path: str | None, what: str, flag: str) -> Ragged:
    """``.npy`` token vectors ``[total, dim]`` and their ``.npy`` offsets ``[n + 1]``."""
    if offsets_path is None:
        raise CliError(
            f"{path}: {what} as a .npy array need {flag} FILE.npy (int [n + 1]: set i is rows offsets[i]:offsets[i+1])"
        )
    vectors = load_npy(path, what, mmap=True)
    offsets = load_npy(offsets_path, "offsets")
    if vectors.ndim != 2:
        raise CliError(f"{path}: {what} must be a 2-d [total_tokens, dim] array, got shape {vectors.shape}")
    if vectors.dtype.kind not in "fiu":
        raise CliError(f"{path}: {what} must hold real numbers, got dtype {vectors.dtype}")
    if offsets.ndim != 1 or offsets.dtype.kind not in "iu" or len(offsets) < 2:
        raise CliError(
            f"{offsets_path}: offsets must be a 1-d integer array [n + 1], got {offsets.dtype} {offsets.shape}"
        )
    offsets = offsets.astype(np.int64)
    if offsets[0] != 0 or offsets[-1] != vectors.shape[0] or np.any(np.diff(offsets) <= 0):
        raise CliError(
            f"{offsets_path}: offsets must start at 0, increase strictly and end at {vectors.shape[0]} "
            f"(the rows of {path}); got {offsets[0]} .. {offsets[-1]}"
        )
    return Ragged(vectors, offsets)


def load_queries(kind: str, path: str, offsets_path: str | None):
    """Queries for an index of ``kind``: a CSR matrix (sparse) or a :class:`Ragged` (multi-vector)."""
    if kind == "SparseIndex":
        if offsets_path is not None:
            raise CliError(
                "--query-offsets: only for multi-vector queries; a sparse index takes a .npz CSR matrix"
            )
        return load_csr(path, "queries")
    if str(path).endswith(".npz"):
        raise CliError(
            f"{path}: a {kind} takes .npy query token vectors with --query-offsets, not a sparse .npz"
        )
    return load_ragged(path, offsets_path, "queries", "--query-offsets")


def n_queries(queries) -> int:
    return queries.n if isinstance(queries, Ragged) else queries.shape[0]


def query_rows(queries, lo: int, hi: int):
    return queries.rows(lo, hi) if isinstance(queries, Ragged) else queries[lo:hi]


def search(index, queries, k: int, params: dict[str, Any], num_threads: int, *, exact: bool = False):
    """One search call on the whole ``queries`` (CSR or Ragged); returns ``(scores, ids)``."""
    if isinstance(queries, Ragged):
        extra = {"query_offsets": queries.offsets}
        batch = np.asarray(queries.vectors)
    else:
        extra = {}
        batch = queries
    if exact:
        call = index.search_exact
    else:
        call = index.search
    return call(batch, k, num_threads=num_threads, **extra, **params)


def search_batched(
    index,
    queries,
    k: int,
    params: dict[str, Any],
    num_threads: int,
    *,
    exact: bool = False,
    desc: str = "search",
    batch_size: int = 256,
):
    """:func:`search` over batches of queries with a progress bar; concatenated results."""
    n = n_queries(queries)
    scores, ids = [], []
    with progress_bar(total=n, desc=desc, unit="q") as bar:
        for lo in range(0, n, batch_size):
            hi = min(n, lo + batch_size)
            s, i = search(index, query_rows(queries, lo, hi), k, params, num_threads, exact=exact)
            scores.append(s)
            ids.append(i)
            bar.update(hi - lo)
    if not scores:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.concatenate(scores), np.concatenate(ids)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int = 1) -> None:
        pass


def progress_bar(*, total: int, desc: str, unit: str = "it"):
    """A tqdm bar on stderr when tqdm is installed (the ``[cli]`` extra) and stderr is a
    terminal; otherwise nothing."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit=unit, disable=None, leave=False, file=sys.stderr)


def format_table(rows: list[dict], columns: Iterable[str] | None = None) -> str:
    """Rows of dicts as an aligned text table (floats to 4 significant decimals)."""
    if not rows:
        return "(empty)"
    cols = list(columns) if columns is not None else list(dict.fromkeys(key for row in rows for key in row))

    def cell(value) -> str:
        if isinstance(value, (float, np.floating)):
            return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
        if isinstance(value, dict):
            return " ".join(f"{k}={cell(v)}" for k, v in value.items())
        return "" if value is None else str(value)

    cells = [[cell(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[j]) for r in cells)) for j, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)
