"""The fidelity report: the default profiles against published measurements and queueing theory.

``simcontainer fidelity [--out docs/fidelity.md]`` (or ``make fidelity``) runs every comparison and
writes a Markdown report with PNG plots in a folder next to it (``docs/fidelity/``). The published
figures live in ``models/published.toml`` (:mod:`.figures`), the runs that reproduce them in
:mod:`.experiments` and :mod:`.queueing`, the Markdown and the README's runtime table in
:mod:`.render`, the plots in :mod:`.plots`; :mod:`.report` runs them all.

The report is deterministic (fixed seeds) except for the lines that start with
:data:`TIMING_PREFIX`, which give wall-clock times; tests/test_fidelity.py regenerates it and
compares it with the committed copy, ignoring those lines.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simcontainer.scenario.errors import ScenarioError
from simcontainer.studies.fidelity.experiments import (
    pull_measurement,
    restore_measurement,
    slacker_share,
)
from simcontainer.studies.fidelity.figures import (
    CLOSE,
    INSIDE,
    Figure,
    fitted_parameters,
    load_published,
    split,
    verdict,
)
from simcontainer.studies.fidelity.render import RED, TIMING_PREFIX, runtime_table
from simcontainer.studies.fidelity.report import Report, generate, strip_timings
from simcontainer.studies.theory import erlang_b, erlang_c


def _published() -> tuple[list[Figure], ...]:
    figs = load_published().figures
    return tuple([f for f in figs if f.experiment == kind] for kind in ("start", "memory", "pull"))


STARTUP_FIGURES, MEMORY_FIGURES, PULL_FIGURES = _published()
SOURCES = {sid: s.label for sid, s in load_published().sources.items()}


def cli_fidelity(args: argparse.Namespace) -> int:
    out = Path(getattr(args, "out", None) or "docs/fidelity.md")
    if not out.parent.is_dir():
        raise ScenarioError([f"--out: folder {str(out.parent)!r} does not exist (allowed: a path in an existing folder)"],
                            source="command line")
    report = generate(out)
    print(f"wrote {out} and {len(report.plots)} plots in {out.parent / out.stem}/")
    n = len(report.validation)
    inside = sum(r["inside"] for r in report.validation)
    print(f"validation: {inside} of {n} published figures inside {INSIDE:g}x ({report.inside_share:.0%}); "
          f"calibration: {len(report.calibration)} figures (ratios in the report)")
    return 0


__all__ = ["CLOSE", "INSIDE", "MEMORY_FIGURES", "PULL_FIGURES", "RED", "SOURCES", "STARTUP_FIGURES", "TIMING_PREFIX",
           "Figure", "Report", "cli_fidelity", "erlang_b", "erlang_c", "fitted_parameters", "generate",
           "load_published", "pull_measurement", "restore_measurement", "runtime_table", "slacker_share", "split",
           "strip_timings", "verdict"]
