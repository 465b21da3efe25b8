"""Build progress for the long core calls: the core reports (stage, done, total) from the
calling thread; the binding checks for Ctrl-C at every report."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints build progress to stderr: a line per stage, at most one update a second.

    Progress is optional output: a stderr that cannot be written (a closed pipe, a closed
    descriptor, ``sys.stderr is None``) silences it for the rest of the build instead of
    failing the build. Only ``Exception`` is caught, so KeyboardInterrupt still stops it.
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last = 0.0
        self.stage = ""
        self.silenced = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.silenced:
            return
        now = time.perf_counter()
        if stage != self.stage or done >= total or now - self.last >= 1.0:
            self.stage, self.last = stage, now
            stream = sys.stderr
            if stream is None:
                self.silenced = True
                return
            try:
                print(f"aftershock: {stage} {done}/{total} [{now - self.start:.1f} s]", file=stream, flush=True)
            except Exception:  # noqa: BLE001 - BrokenPipeError, closed file, any broken stream
                self.silenced = True
