"""Shared helpers of the Python benchmarks: run metadata, child-process builds, timing.

Every JSON line a benchmark writes carries :func:`run_metadata` (``simd_info()``, CPU model,
thread counts, git SHA, timestamp), so no number travels without the machine it came from.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_MARKER = "@@RESULT "


# ----------------------------------------------------------------------------- imports
def import_aftershock():
    """Return the ``aftershock`` module, or ``None`` if it (or its compiled core) is missing."""
    try:
        import aftershock
    except ImportError:
        return None
    return aftershock


def import_datasets():
    """Return ``aftershock.datasets``; fall back to the repository's file if the package is not built."""
    try:
        from aftershock import datasets

        return datasets
    except ImportError:
        path = REPO_ROOT / "python" / "aftershock" / "datasets.py"
        spec = importlib.util.spec_from_file_location("_aftershock_datasets", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def import_seismic():
    """Return the ``seismic`` module of ``pyseismic-lsr``, or ``None``."""
    try:
        import seismic
    except ImportError:
        return None
    return seismic


# ----------------------------------------------------------------------------- metadata
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def git_sha() -> str:
    """HEAD of the repository, with ``-dirty`` when the work tree has uncommitted changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            check=False,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            check=False,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_version(name: str) -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def run_metadata(num_threads: int) -> dict[str, Any]:
    """Facts every result line carries: machine, build, thread count, commit, time."""
    aftershock = import_aftershock()
    simd = None
    if aftershock is not None:
        try:
            simd = aftershock.simd_info()
        except ValueError as exc:  # an invalid AFTERSHOCK_SIMD must not kill the benchmark
            simd = {"error": str(exc)}
    return {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "cpu_model": cpu_model(),
        "available_cpus": available_cpus(),
        "num_threads": num_threads,
        "simd_info": simd,
        "aftershock_simd_env": os.environ.get("AFTERSHOCK_SIMD"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "aftershock_version": getattr(aftershock, "__version__", None),
        "pyseismic_lsr_version": package_version("pyseismic-lsr"),
        "hostname": platform.node(),
        "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


# ----------------------------------------------------------------------------- memory
def _proc_status_bytes(field: str) -> int | None:
    """A ``kB`` field of Linux ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes; None where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    """Current resident set size of this process (Linux ``VmRSS``; 0 where unknown)."""
    rss = _proc_status_bytes("VmRSS")
    return 0 if rss is None else rss


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since start or the last :func:`reset_peak_rss`.

    Linux ``VmHWM``; elsewhere ``ru_maxrss``.
    """
    hwm = _proc_status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def mib(n_bytes: float | None) -> float | None:
    """Bytes as MiB (None stays None), for the printed tables."""
    return None if n_bytes is None else n_bytes / 2**20


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux ``clear_refs`` 5); False where unsupported.

    Lets a child measure the peak of its build phase alone, after loading its inputs.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def prefer_oom_kill() -> None:
    """Make this process (and the children it starts) the OOM killer's first choice.

    Benchmarks share the machine; a build that runs out of memory should die, not a
    neighbour's process. Silently does nothing where unsupported.
    """
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as f:
            f.write("1000")
    except OSError:
        pass


def emit_child_result(result: dict[str, Any]) -> None:
    """Print a child's result as the line :func:`run_child` looks for."""
    sys.stdout.flush()
    print(RESULT_MARKER + json.dumps(result), flush=True)


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    echo: bool = False,
) -> tuple[dict[str, Any], str]:
    """Run ``python argv...`` in a fresh process and return (its result dict, its stdout).

    Builds run in children so each peak RSS (``ru_maxrss`` read inside the child) belongs to
    one build alone. ``RUSAGE_CHILDREN`` cannot do that: it reports the maximum over all
    children waited for so far.

    Raises
    ------
    RuntimeError
        If the child fails or prints no result line.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, *argv], check=False, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if echo and proc.stdout:
        sys.stderr.write(proc.stdout)
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER) :])
    if proc.returncode != 0 or result is None:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        hint = " (killed by SIGKILL: out of memory?)" if proc.returncode == -9 else ""
        raise RuntimeError(f"child {argv[:2]} failed with exit code {proc.returncode}{hint}:\n{tail}")
    return result, proc.stdout


# ----------------------------------------------------------------------------- timing
def time_each(fn: Callable[[Any], Any], items: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Call ``fn`` on every item; return (milliseconds per call, results)."""
    out = []
    ms = np.empty(len(items), dtype=np.float64)
    clock = time.perf_counter_ns
    for i, item in enumerate(items):
        t0 = clock()
        out.append(fn(item))
        ms[i] = (clock() - t0) / 1e6
    return ms, out


def time_best(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """Call ``fn`` ``reps`` times; return (the fastest call's seconds, the last result)."""
    best = float("inf")
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def time_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Call ``fn`` once; return (seconds, result)."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


@contextlib.contextmanager
def one_cpu():
    """Pin every thread of this process (and threads they start) to one CPU.

    Single-thread timings must not depend on a library honouring ``num_threads``:
    pyseismic-lsr's ``batch_search(num_threads=1)`` still ran on two threads here (CPU time
    = 2x wall time), so batch timings run under this pin for every system.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    saved = {}
    cpu = min(os.sched_getaffinity(0))
    for tid in tids:
        try:
            saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, {cpu})
        except OSError:  # the thread ended meanwhile
            pass
    try:
        yield
    finally:
        for tid, cpus in saved.items():
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                pass


def latency_summary(ms: np.ndarray) -> dict[str, float]:
    """Mean and percentiles of per-query milliseconds."""
    if ms.size == 0:
        return {
            "mean_ms": float("nan"),
            "p50_ms": float("nan"),
            "p90_ms": float("nan"),
            "p99_ms": float("nan"),
        }
    return {
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


# ----------------------------------------------------------------------------- ground truth
def exact_topk_scipy(docs, queries, k: int, *, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product with scipy, as a fallback when ``aftershock.exact_search`` is absent.

    float32 accumulation; ties go to the smaller id; ``-1`` / ``-inf`` pad rows with fewer than
    k documents sharing a term with the query. Returns (scores float32, ids int64).
    """
    docs_t = docs.T.tocsr()  # [vocab, n_docs]: one copy, reused by every chunk
    n_queries, n_docs = queries.shape[0], docs.shape[0]
    ids = np.full((n_queries, k), -1, dtype=np.int64)
    scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
    for start in range(0, n_queries, chunk):
        block = (queries[start : start + chunk] @ docs_t).tocsr()
        for r in range(block.shape[0]):
            lo, hi = block.indptr[r], block.indptr[r + 1]
            cols, vals = block.indices[lo:hi], block.data[lo:hi].astype(np.float32)
            keep = vals > 0
            cols, vals = cols[keep], vals[keep]
            if cols.size > k:
                part = np.argpartition(-vals, k - 1)[:k]
                kth = vals[part].min()
                cand = np.flatnonzero(vals >= kth)  # include every tie of the k-th score
                cols, vals = cols[cand], vals[cand]
            order = np.lexsort((cols, -vals))[:k]
            ids[start + r, : order.size] = cols[order]
            scores[start + r, : order.size] = vals[order]
    del n_docs
    return scores, ids


# ----------------------------------------------------------------------------- command line
def parse_list(text: str, typ):
    """A comma list from the command line (``"3,5,10"``) as a list of ``typ``."""
    return [typ(x) for x in str(text).split(",") if x.strip()]


# ----------------------------------------------------------------------------- output
def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Append records as JSON lines."""
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(rec, default=_json_default) + "\n" for rec in records)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def format_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Plain-text table; ``columns`` holds (key, header, format spec)."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        line = []
        for key, _, spec in columns:
            v = row.get(key)
            if v is None or (isinstance(v, float) and np.isnan(v)):
                line.append("-")
            else:
                line.append(format(v, spec) if spec else str(v))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    out = []
    for j, c in enumerate(cells):
        out.append("  ".join(s.rjust(w) for s, w in zip(c, widths)))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
