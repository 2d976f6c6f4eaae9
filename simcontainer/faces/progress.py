"""The one progress display of the command line: a line on stderr, redrawn in place.

``progress(fraction)`` for a run or a comparison (shown once it has taken more than a second:
a short run prints nothing), ``progress.count(done, total)`` for sweeps, studies and trials
(with their rate and ETA). Only the faces print; the library reports progress through callables.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO


def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``run x [#####       ]  40%  2.1s elapsed, ~3.2s left`` or
    ``sweep x [#####.....] 120/500 runs  34.1 runs/s  ETA 0:11`` on stderr."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool = True,
                 after_s: float | None = None, unit: str = "runs", min_interval: float = 0.1,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.label, self.unit = label, unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        # SIMCONTAINER_PROGRESS_AFTER_S lets tests (and impatient users) see it sooner
        self.after_s = after_s if after_s is not None else float(os.environ.get("SIMCONTAINER_PROGRESS_AFTER_S", "1.0"))
        self.min_interval = min_interval
        self.clock = clock
        self.start = clock()
        self.first_done: int | None = None
        self.last = -math.inf
        self.shown = False

    def __call__(self, fraction: float) -> None:
        """A fraction done (a run, a comparison): shown once past ``after_s``."""
        if not self.enabled:
            return
        elapsed = self.clock() - self.start
        if elapsed < self.after_s and not self.shown:
            return
        eta = elapsed / fraction * (1 - fraction) if fraction > 0 else 0.0
        self._write(f"[{'#' * int(fraction * 30):<30}] {fraction:4.0%}  {elapsed:5.1f}s elapsed, ~{eta:4.1f}s left")

    def count(self, done: int, total: int) -> None:
        """``done`` of ``total`` (runs, trials): the rate counts only what this call made (what
        a resumed store had already says nothing about speed)."""
        if not self.enabled:
            return
        now = self.clock()
        if self.first_done is None:
            self.start, self.first_done = now, done
        if done < total and now - self.last < self.min_interval:
            return
        self.last = now
        elapsed = now - self.start
        new = done - self.first_done
        rate = new / elapsed if elapsed > 0 and new > 0 else 0.0
        eta = clock((total - done) / rate) if rate > 0 else "--:--"
        frac = done / total if total else 1.0
        self._write(f"[{'#' * int(frac * 30):.<30}] {done}/{total} {self.unit}  {rate:6.1f} {self.unit}/s  ETA {eta}  ")

    def _write(self, text: str) -> None:
        self.stream.write(f"\r{self.label} {text}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def progress_flags(sp: argparse.ArgumentParser) -> None:
    """A command's ``--progress`` / ``--no-progress`` (default: when stderr is a terminal)."""
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show progress on stderr (default: when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false")


__all__ = ["Progress", "clock", "progress_flags"]
