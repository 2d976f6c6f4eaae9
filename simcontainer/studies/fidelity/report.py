"""One run of the fidelity report: every experiment, the calibration / validation split, plots and Markdown."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simcontainer.studies.fidelity import experiments as ex
from simcontainer.studies.fidelity import plots
from simcontainer.studies.fidelity.figures import (
    INSIDE,
    Figure,
    Published,
    fitted_parameters,
    load_published,
    split,
    verdict,
)
from simcontainer.studies.fidelity.queueing import run_queueing
from simcontainer.studies.fidelity.render import TIMING_PREFIX, render


@dataclass
class Report:
    """Everything one run computed; ``markdown`` is the report written to disk."""

    calibration: list[dict[str, Any]] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[str, Any] = field(default_factory=dict)     # runtime -> its simulated single starts
    memory: list[dict[str, Any]] = field(default_factory=list)
    density: dict[str, Any] = field(default_factory=dict)
    density_scenario: Any = None
    burst: dict[str, Any] = field(default_factory=dict)
    burst_figure: Any = None
    burst_source: Any = None
    planes: dict[str, Any] = field(default_factory=dict)
    pulls: dict[str, Any] = field(default_factory=dict)
    queueing: list[dict[str, Any]] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    plot_paths: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    markdown: str = ""

    @property
    def inside_share(self) -> float:
        """The share of validation figures the model meets within 2x (the summary's figure)."""
        return sum(r["inside"] for r in self.validation) / len(self.validation) if self.validation else 0.0


def compare(pub: Published, fitted: dict[str, list[str]], models: dict[str, float]) -> tuple[list[dict], list[dict]]:
    """(calibration rows, validation rows): each figure with the model's figure and ratio; a
    validation row also has its verdict (figures.verdict, fixed tolerances)."""

    def row(f: Figure) -> dict[str, Any]:
        m = models[f.id]
        return {"id": f.id, "figure": f, "source": pub.sources[f.source], "model": m, "ratio": f.ratio(m),
                "outside_by": f.outside_by(m)}

    cal_figs, val_figs = split(pub, fitted)
    cal = [{**row(f), "fitted": fitted[f.source]} for f in cal_figs]
    val = []
    for f in val_figs:
        r = row(f)
        r["verdict"] = verdict(f, r["model"])
        r["inside"] = r["outside_by"] <= INSIDE
        val.append(r)
    return cal, val


def _marks(rows: list[dict[str, Any]], experiment: str) -> dict[str, list[tuple[float, bool]]]:
    """Published figures to mark on a plot, per runtime: (value, is validation)."""
    out: dict[str, list[tuple[float, bool]]] = {}
    for r in rows:
        f = r["figure"]
        if f.experiment == experiment and (experiment != "start" or f.scope == "end to end"):
            out.setdefault(f.runtime, []).append((f.reference, "verdict" in r))
    return out


def run(rep: Report) -> None:
    """Fill ``rep`` with every experiment's results (no plots, no Markdown)."""
    t0 = time.perf_counter()
    pub = load_published()
    rep.starts, rep.samples = ex.run_starts()
    rep.timings["single starts"] = time.perf_counter() - t0
    t = time.perf_counter()
    models = ex.measure_all(pub)
    rep.calibration, rep.validation = compare(pub, fitted_parameters(pub=pub), models)
    rep.timings["published figures"] = time.perf_counter() - t
    t = time.perf_counter()
    rep.memory = ex.run_memory()
    rep.density, rep.density_scenario = ex.run_density()
    rep.burst = ex.run_burst()
    rep.burst_figure = next(f for f in pub.figures if f.experiment == "burst")
    rep.burst_source = pub.sources[rep.burst_figure.source]
    rep.planes = ex.run_planes()
    rep.pulls = ex.run_pulls()
    rep.timings["memory, density, burst, planes, pulls"] = time.perf_counter() - t
    t = time.perf_counter()
    rep.queueing = run_queueing()
    rep.timings["queueing"] = time.perf_counter() - t


def generate(out: str | Path = "docs/fidelity.md") -> Report:
    """Run everything, write ``out`` and its plots (in ``out``'s folder, ``<stem>/``)."""
    out = Path(out)
    plot_dir = out.parent / out.stem
    plot_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rep = Report()
    run(rep)
    t = time.perf_counter()
    both = rep.calibration + rep.validation
    paths = {
        "validation": plots.plot_validation(rep.validation, plot_dir / "validation.png"),
        "starts": plots.plot_starts(rep.starts, rep.samples, _marks(both, "start"), plot_dir / "single-starts.png"),
        "memory": plots.plot_memory(rep.memory, _marks(both, "memory"), plot_dir / "memory-overhead.png"),
        "density": plots.plot_density(rep.density, plot_dir / "density.png"),
        "burst": plots.plot_burst(rep.burst, rep.burst_figure.low, rep.burst_figure.high, plot_dir / "burst.png"),
        "queueing": plots.plot_queueing(rep.queueing, plot_dir / "queueing.png"),
    }
    rep.timings["plots"] = time.perf_counter() - t
    rep.timings["total"] = time.perf_counter() - t0
    rep.plots = list(paths.values())
    rep.plot_paths = {k: f"{plot_dir.name}/{p.name}" for k, p in paths.items()}
    rep.markdown = render(rep)
    out.write_text(rep.markdown, encoding="utf-8")
    return rep


def strip_timings(markdown: str) -> str:
    """The report without its wall-clock lines (what must match between regenerations)."""
    return "\n".join(line for line in markdown.splitlines() if not line.startswith(TIMING_PREFIX))
