"""Build progress for the long core calls: the core reports (stage, done, total) from the
calling thread; the binding checks for Ctrl-C at every report."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints build progress to stderr: a line per stage, at most one update a second."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last = 0.0
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage != self.stage or done >= total or now - self.last >= 1.0:
            self.stage, self.last = stage, now
            print(
                f"aftershock: {stage} {done}/{total} [{now - self.start:.1f} s]", file=sys.stderr, flush=True
            )
