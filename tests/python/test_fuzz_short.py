"""A short, deterministic pass over the fuzz targets of benchmarks/fuzz/targets.py (no atheris
needed): every seed, every saved regression in benchmarks/fuzz/regressions/, and a few
hundred fixed-seed mutations (byte flips, truncations, insertions) of the loaders' seed
files. A target raises only on a finding: an exception outside the documented types, a
loader raising something other than FormatError, or a loaded object that does not round
trip. The long runs are `python benchmarks/fuzz/run.py --target NAME --minutes M`
(docs/testing.md)."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz"
sys.path.insert(0, str(FUZZ_DIR))
import targets  # noqa: E402

REGRESSIONS = FUZZ_DIR / "regressions"

# Regressions whose fix is pending, by "<target>/<file>": the reason names the owner's file.
PENDING: dict[str, str] = {}

LOADERS = ["sparse_bytes", "store_bytes", "index_bytes"]


@contextlib.contextmanager
def _memory_cap(extra: int = 3 << 30):
    """Caps this process's address space at its current size + `extra` while fuzz inputs run,
    so an input that asks for gigabytes fails as MemoryError instead of reaching the OOM
    killer (Linux; elsewhere no cap)."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + extra if hard == resource.RLIM_INFINITY else min(size + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def tolerate_known(monkeypatch):
    """The mutation loops meet the pending findings again; the regression replays do not
    tolerate them."""
    monkeypatch.setattr(targets, "TOLERATE_KNOWN", True)
ARRAYS = ["sparse_arrays", "maxsim_arrays"]


@pytest.fixture(scope="module")
def seed_files():
    return {name: targets.seeds(name) for name in targets.TARGETS}


def _regression_params():
    params = []
    if REGRESSIONS.is_dir():
        for path in sorted(REGRESSIONS.glob("*/*")):
            key = f"{path.parent.name}/{path.name}"
            if not path.is_file() or path.parent.name not in targets.TARGETS:
                continue
            marks = [pytest.mark.xfail(reason=PENDING[key], strict=False)] if key in PENDING else []
            params.append(pytest.param(path, id=key, marks=marks))
    return params


@pytest.mark.parametrize("path", _regression_params())
def test_regression(path):
    with _memory_cap():
        targets.run_one(path.parent.name, path.read_bytes())


@pytest.mark.parametrize("name", list(targets.TARGETS))
def test_seeds(name, seed_files):
    with _memory_cap():
        for data in seed_files[name]:
            targets.run_one(name, data)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        how = rng.randrange(6)
        if how <= 2 and buf:  # flip bits of one byte, or set it
            i = rng.randrange(len(buf))
            buf[i] = buf[i] ^ (1 << rng.randrange(8)) if how < 2 else rng.randrange(256)
        elif how == 3:  # truncate
            del buf[rng.randrange(len(buf) + 1) :]
        elif how == 4:  # insert
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8, 64])))
        elif buf:  # an 8-byte field set to an edge value (counts, offsets, lengths)
            i = rng.randrange(max(len(buf) - 8, 1))
            buf[i : i + 8] = rng.choice([0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1]).to_bytes(8, "little")
    return bytes(buf)


# Loader inputs are cheap; array inputs build indexes, so fewer of them.
@pytest.mark.parametrize("name, n_inputs", [(name, 300) for name in LOADERS] + [(name, 150) for name in ARRAYS])
def test_mutated_seeds(name, n_inputs, seed_files, tolerate_known):
    rng = random.Random(f"aftershock-{name}")
    with _memory_cap():
        for _ in range(n_inputs):
            targets.run_one(name, _mutate(rng, rng.choice(seed_files[name])))


_HUGE_K = """
import resource, numpy as np, scipy.sparse as sp, aftershock
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # fail the allocation, never swap
docs = [np.ones((2, 4), np.float32)] * 3
store = aftershock.MultiVectorStore.build(docs)
index = aftershock.MultiVectorIndex.build(docs, method="centroid", n_centroids=2, num_threads=1)
sparse = aftershock.SparseIndex.build(sp.identity(3, dtype=np.float32, format="csr"))
q = [np.ones((1, 4), np.float32)]
calls = {
    "store.search": lambda: store.search(q, k=2**31),
    "store.rerank": lambda: store.rerank(q, np.array([[0, 1]]), k=2**31),
    "index.search": lambda: index.search(q, k=2**31),
    "sparse.search": lambda: sparse.search(sp.identity(3, dtype=np.float32, format="csr")[:2], k=2**31),
    "exact_search": lambda: aftershock.exact_search(sparse_docs, sparse_docs, k=2**31),
}
sparse_docs = sp.identity(3, dtype=np.float32, format="csr")
for name, call in calls.items():
    try:
        call()
        print(name, "returned")
    except Exception as exc:
        print(name, type(exc).__name__, "k:" in str(exc))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS")
def test_huge_k_on_a_tiny_index():
    """k = 2**31 on 3 documents asks for 24 GiB of [n_queries, k] results: a ValueError
    naming k before allocating, never a MemoryError or the OOM killer."""
    out = subprocess.run([sys.executable, "-c", _HUGE_K], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ))
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 5, out.stdout + out.stderr
    for line in lines:
        assert line.endswith("ValueError True"), out.stdout + out.stderr
