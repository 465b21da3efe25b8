"""Run one fuzz target of targets.py under atheris for a fixed time.

    pip install atheris          # 3.0.0 has a cp311 wheel; never a dependency of aftershock
    python benchmarks/fuzz/run.py --list
    python benchmarks/fuzz/run.py --target sparse_bytes --minutes 5

The seeds (small indexes and stores built, saved, and used as bytes) are written to
``benchmarks/fuzz/corpus/<target>/`` (not committed; libFuzzer adds the inputs it finds
interesting there too). Inputs that crash the process or raise an exception outside
``targets.ALLOWED`` are saved to ``benchmarks/fuzz/regressions/<target>/``, which is committed
and replayed by ``tests/python/test_fuzz_short.py``. After a finding the fuzzer is restarted
until the time is up (at most ``--max-findings`` times).

Coverage is Python-level only (atheris instruments aftershock's Python layer and the
targets); the C++ extension is not built with ``-fsanitize=fuzzer``, so inside the core
the search is random mutation of the seeds, made productive by the loaders' resealing
(``targets._reseal``) that lets mutations past the CRC32C checks.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _ensure_corpus(target: str) -> str:
    sys.path.insert(0, HERE)
    import targets

    corpus = os.path.join(HERE, "corpus", target)
    os.makedirs(corpus, exist_ok=True)
    for data in targets.seeds(target):
        name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
        path = os.path.join(corpus, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
    return corpus


def _worker(target: str, strict: bool, libfuzzer_args: list[str]) -> None:
    """The fuzzing process: atheris on targets.TARGETS[target]."""
    # A bad input asking for terabytes must fail as an allocation, not push a shared machine
    # into swap; libFuzzer's -rss_limit_mb covers slow growth.
    limit = 4 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import atheris

    sys.path.insert(0, HERE)
    with atheris.instrument_imports(include=["aftershock", "targets"]):
        import targets
    targets.TOLERATE_KNOWN = not strict

    def test_one_input(data: bytes) -> None:
        targets.run_one(target, data)

    atheris.Setup([sys.argv[0], *libfuzzer_args], test_one_input)
    atheris.Fuzz()


def _salvage(log: str, regressions: str) -> None:
    """libFuzzer prints the failing input as hex before writing it; after heap corruption
    the write itself can fail (or hang in malloc until the timeout), so keep the printed one."""
    lines = re.findall(r"^((?:0x[0-9a-f]{1,2},)*0x[0-9a-f]{1,2},?)$", log, re.M)
    if not lines:
        return
    data = bytes(int(h, 16) for h in lines[0].rstrip(",").split(","))
    path = os.path.join(regressions, "printed-" + hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        print(f"[run.py] input as printed by libFuzzer saved to {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", help="one of --list")
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--max-findings", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=25, help="seconds per input before it counts as a hang")
    parser.add_argument("--strict", action="store_true", help="report the findings of targets.KNOWN again")
    parser.add_argument("--list", action="store_true", help="print the target names")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.worker:
        _worker(args.target, args.strict, [a for a in rest if a != "--"])
        return 0
    sys.path.insert(0, HERE)
    import targets

    if args.list or not args.target:
        print("\n".join(targets.TARGETS))
        return 0
    if args.target not in targets.TARGETS:
        parser.error(f"--target: expected one of {', '.join(targets.TARGETS)}, got {args.target!r}")
    corpus = _ensure_corpus(args.target)
    regressions = os.path.join(HERE, "regressions", args.target)
    os.makedirs(regressions, exist_ok=True)

    deadline = time.monotonic() + 60 * args.minutes
    started = time.monotonic()
    executions = findings = 0
    while findings <= args.max_findings:
        left = int(deadline - time.monotonic())
        if left < 2:
            break
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--target", args.target,
               *(["--strict"] if args.strict else []), "--",
               corpus, f"-max_total_time={left}", f"-timeout={args.timeout}", "-rss_limit_mb=2048",
               f"-artifact_prefix={regressions}{os.sep}", "-print_final_stats=1", "-print_pcs=0"]
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  errors="replace", timeout=left + 2 * args.timeout + 30)
            log, returncode = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as exc:  # hung after a finding (heap corruption: malloc deadlocks)
            out = exc.stdout or ""
            log, returncode = (out.decode(errors="replace") if isinstance(out, bytes) else out), -9
        sys.stdout.write(log[-4000:] if returncode else log[-600:])
        counts = [int(m) for m in re.findall(r"^#(\d+)\s", log, re.M)]
        counts += [int(m) for m in re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)]
        counts += [int(m) for m in re.findall(r"Done (\d+) runs", log)]
        executions += max(counts, default=0)
        if returncode == 0:
            break
        findings += 1
        _salvage(log, regressions)
        print(f"\n[run.py] finding {findings} (exit code {returncode}); restarting", flush=True)
    seconds = time.monotonic() - started
    print(
        f"[run.py] target {args.target}: {executions} executions in {seconds:.0f} s "
        f"({60 * executions / max(seconds, 1e-9):.0f}/min), {findings} finding(s) in {regressions}"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
