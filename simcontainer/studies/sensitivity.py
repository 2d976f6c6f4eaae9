"""Which assumption does the answer hang on? Global sensitivity of any result figure to each axis
of a sweep file, on SALib.

    from simcontainer.studies.sensitivity import run_sensitivity
    res = run_sensitivity("models/sweeps/example.toml", "sobol", samples=64, out="example.sens")
    res.indices        # one row per figure and axis: S1, ST (Sobol) or mu_star, sigma (Morris), with CIs
    print(res.text("workloads.churn-runc.startup_s.p95"))

Every axis is a factor drawn on [0, 1) and mapped onto the axis as a random sweep maps its draws
(:meth:`simcontainer.studies.sweep_design.Axis.at`: ranges linear or log, integers floored, a list of values
cut into equal strata), so a categorical axis (runtime, admission) is a factor too. The design's
points are then run as a sweep -- the sweep's runner, store and resuming, ``replications`` seeds
per point -- and a point's figure is its mean over the replications.

- **Sobol** (Saltelli sampling, ``samples`` = N base samples, a power of 2; N x (D + 2) points):
  ``S1`` the share of the figure's variance an axis explains alone, ``ST`` alone and with the
  others; each with a 95 % bootstrap half-width (``S1_conf``, ``ST_conf``).
- **Morris** (``samples`` = trajectories; N x (D + 1) points, 4 levels): ``mu_star`` the mean
  absolute elementary effect (in the figure's units per whole axis range), ``sigma`` their spread
  (non-linearity or interaction), ``mu_star_conf`` a 95 % bootstrap half-width.

:func:`analyse_function` runs the same path on a plain function instead of the simulator (the
Ishigami check in the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simcontainer.engine.guard import check_sweep_size
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.outputs import write_atomic
from simcontainer.studies.optimize import point_scenario
from simcontainer.studies.sweep import Progress, SweepResult, run_sweep
from simcontainer.studies.sweep_design import (
    Axis,
    SweepSpec,
    load_sweep,
    replication_seeds,
    run_key,
)

METHODS = ("sobol", "morris")
MORRIS_LEVELS = 4
RESAMPLES = 200          # bootstrap resamples behind each confidence interval
INDICES_FILE, TABLE_FILE = "sensitivity.parquet", "sensitivity.txt"
COLUMNS = {"sobol": ("S1", "S1_conf", "ST", "ST_conf"), "morris": ("mu_star", "mu_star_conf", "sigma", "mu")}


# --------------------------------------------------------------------------- the design


def problem(axes: Sequence[Axis]) -> dict[str, Any]:
    """SALib's problem: one factor per axis, each on the unit interval (mapped by ``Axis.at``)."""
    return {"num_vars": len(axes), "names": [a.path for a in axes], "bounds": [[0.0, 1.0]] * len(axes)}


def check_method(method: str, samples: int, n_axes: int) -> None:
    """Raise :class:`ScenarioError` naming the flag for a method, sample count or axis count that
    cannot work."""
    problems = []
    if method not in METHODS:
        problems.append(f"--method: got {method!r} (allowed: {', '.join(METHODS)})")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        problems.append(f"--samples: got {samples!r} (allowed: an integer >= 2)")
    elif method == "sobol" and samples & (samples - 1):
        problems.append(f"--samples: got {samples} with --method sobol (allowed: a power of 2, e.g. "
                        f"{1 << max(1, samples.bit_length() - 1)} or {1 << samples.bit_length()}: "
                        "Saltelli's sequence is balanced only then)")
    if n_axes < 1:
        problems.append("axes: none (allowed: at least one axis to rank)")
    if problems:
        raise ScenarioError(problems, source="command line")


def unit_design(n_axes: int, method: str, samples: int, seed: int) -> np.ndarray:
    """The design on the unit cube: rows are points, columns axes."""
    from SALib.sample import morris as morris_sample  # noqa: PLC0415 - heavy
    from SALib.sample import sobol as sobol_sample  # noqa: PLC0415 - heavy

    prob = {"num_vars": n_axes, "names": [f"x{i}" for i in range(n_axes)], "bounds": [[0.0, 1.0]] * n_axes}
    if method == "sobol":
        return sobol_sample.sample(prob, samples, calc_second_order=False, seed=seed)
    return morris_sample.sample(prob, samples, num_levels=MORRIS_LEVELS, seed=seed)


def points_of(axes: Sequence[Axis], unit: np.ndarray) -> list[dict[str, Any]]:
    """Unit-cube rows as axis values (ranges, log ranges, integers, lists of values)."""
    # Morris puts levels on 1.0 exactly; Axis.at wants [0, 1): the top stratum keeps them.
    u = np.clip(unit, 0.0, np.nextafter(1.0, 0.0))
    columns = [a.at(u[:, j]) for j, a in enumerate(axes)]
    return [{a.path: columns[j][i] for j, a in enumerate(axes)} for i in range(len(unit))]


def analyse(axes: Sequence[Axis], unit: np.ndarray, y: np.ndarray, method: str, seed: int) -> pd.DataFrame:
    """The indices of one figure, one row per axis (SALib's analysis with 95 % intervals)."""
    from SALib.analyze import morris as morris_analyze  # noqa: PLC0415 - heavy
    from SALib.analyze import sobol as sobol_analyze  # noqa: PLC0415 - heavy

    prob = problem(axes)
    y = np.asarray(y, dtype="float64")
    if method == "sobol":
        r = sobol_analyze.analyze(prob, y, calc_second_order=False, num_resamples=RESAMPLES,
                                  conf_level=0.95, seed=seed)
    else:
        r = morris_analyze.analyze(prob, unit, y, num_resamples=RESAMPLES, conf_level=0.95,
                                   num_levels=MORRIS_LEVELS, seed=seed)
    out = pd.DataFrame({"axis": prob["names"], **{c: np.asarray(r[c], dtype="float64") for c in COLUMNS[method]}})
    return out


def analyse_function(fn: Callable[[dict[str, Any]], float], axes: Sequence[Axis], method: str,
                     samples: int, seed: int = 0) -> pd.DataFrame:
    """The indices of a plain function of the axis values, through the same design, mapping and
    analysis as :func:`run_sensitivity` (which evaluates the simulator instead)."""
    check_method(method, samples, len(axes))
    unit = unit_design(len(axes), method, samples, seed)
    y = np.array([fn(p) for p in points_of(axes, unit)], dtype="float64")
    return analyse(axes, unit, y, method, seed)


# --------------------------------------------------------------------------- on a sweep file


@dataclass
class SensitivityResult:
    """The indices per figure and axis, the runs behind them, and what could not be analysed."""

    method: str
    samples: int
    axes: tuple[Axis, ...]
    indices: pd.DataFrame             # metric, axis, method, then the method's columns
    sweep: SweepResult                # the design's runs (runs.parquet, summary.parquet)
    skipped: dict[str, str]           # figure -> why it was left out (a point without a value)
    out: Path | None

    def metrics(self) -> list[str]:
        return list(dict.fromkeys(self.indices["metric"]))

    def of(self, metric: str) -> pd.DataFrame:
        return self.indices[self.indices["metric"] == metric].reset_index(drop=True)

    def text(self, metric: str) -> str:
        """The indices of one figure as a text table, the most influential axis first."""
        return table_text(self.of(metric), metric, self.method, self.samples, self.sweep.spec)


def design_spec(base: SweepSpec, method: str, samples: int, seed: int,
                force: bool = False) -> tuple[SweepSpec, np.ndarray]:
    """The sensitivity design of a sweep's axes as a sweep of its own (validated, keyed, seeded).
    A design past the sweep size guard is refused before its points are built, unless ``force``."""
    check_method(method, samples, len(base.axes))
    d = len(base.axes)
    check_sweep_size(samples * (d + (2 if method == "sobol" else 1)), base.replications, force=force,
                     source=str(base.source or "sweep"))
    unit = unit_design(len(base.axes), method, samples, seed)
    points = points_of(base.axes, unit)
    scenarios, problems = [], []
    for p, point in enumerate(points):
        try:
            scenarios.append(point_scenario(base.base, point, f"point {p}"))
        except ScenarioError as exc:
            problems += exc.problems
    if problems:
        raise ScenarioError(problems[:25], source=str(base.source or "sweep"))
    seeds = replication_seeds(base.base.seed, base.replications)
    keys = tuple(tuple(run_key(sc.to_dict(), s) for s in seeds) for sc in scenarios)
    spec = SweepSpec(base=base.base, axes=base.axes, mode=method, samples=samples,
                     replications=base.replications, seed=seed, points=tuple(points),
                     scenarios=tuple(scenarios), seeds=tuple(seeds), keys=keys, source=base.source)
    return spec, unit


def run_sensitivity(sweep: str | Path | SweepSpec, method: str, samples: int = 64,
                    metrics: Sequence[str] | None = None, out: str | Path | None = None,
                    seed: int | None = None, workers: int | None = None, scheduler: Any = None,
                    progress: Progress | None = None, force: bool = False) -> SensitivityResult:
    """Rank the axes of ``sweep`` by their effect on each figure (``metrics``; default: every
    figure that has a value at every point and is not constant).

    The runs go through :func:`simcontainer.studies.sweep.run_sweep` (``out`` resumes them); the indices
    are written to ``out/sensitivity.parquet`` and, for ``metrics``, ``out/sensitivity.txt``.
    ``force`` takes a design past the sweep size guard (:mod:`simcontainer.engine.guard`).
    """
    base = sweep if isinstance(sweep, SweepSpec) else load_sweep(sweep, force=True)
    spec, unit = design_spec(base, method, samples, base.seed if seed is None else seed, force=force)
    res = run_sweep(spec, out=out, workers=workers, scheduler=scheduler, progress=progress)
    means = point_means(spec, res.runs)
    wanted = list(metrics) if metrics else list(means.columns)
    unknown = [m for m in wanted if m not in means.columns]
    if unknown:
        raise ScenarioError([f"--metric: got {unknown[0]!r} (allowed: a figure of runs.parquet, e.g. "
                             f"{', '.join(_examples(means.columns))})"], source="command line")
    frames, skipped = [], {}
    for m in wanted:
        y = means[m].to_numpy(dtype="float64")
        if np.isnan(y).any():
            skipped[m] = f"{int(np.isnan(y).sum())} of {len(y)} points have no value"
            continue
        if np.ptp(y) == 0:
            if metrics:   # asked for: all zero, honestly (no axis moves it)
                frames.append(_flat(spec.axes, m, method))
            continue
        frames.append(analyse(spec.axes, unit, y, method, spec.seed).assign(metric=m))
    cols = ["metric", "axis", "method", *COLUMNS[method]]
    indices = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)).assign(method=method)
    indices = indices[cols]
    result = SensitivityResult(method, samples, spec.axes, indices, res, skipped, Path(out) if out is not None else None)
    if out is not None:
        write_atomic(Path(out) / INDICES_FILE, lambda tmp: indices.to_parquet(tmp, index=False))
        shown = list(metrics) if metrics else default_metrics(spec, indices)
        text = "\n\n".join(result.text(m) for m in shown if m in set(indices["metric"]))
        write_atomic(Path(out) / TABLE_FILE, text + "\n")
    return result


def point_means(spec: SweepSpec, runs: pd.DataFrame) -> pd.DataFrame:
    """Each figure's mean over the replications, one row per design point (NaN where a point has
    no value in some replication, or a run failed)."""
    skip = {"point", "replication", "seed", "key", "error", *[a.path for a in spec.axes]}
    cols = [c for c in runs.columns if c not in skip]
    values = runs[cols].apply(pd.to_numeric, errors="coerce").astype("float64")
    means = values.groupby(runs["point"].to_numpy()).mean()
    missing = values.isna().groupby(runs["point"].to_numpy()).any()
    means = means.mask(missing)
    return means.reindex(range(spec.n_points))


def default_metrics(spec: SweepSpec, indices: pd.DataFrame) -> list[str]:
    """What the text table shows when no figure was named: each workload's p95 startup."""
    names = [f"workloads.{w.name}.startup_s.p95" for w in spec.base.workloads]
    have = set(indices["metric"])
    return [m for m in names if m in have] or list(dict.fromkeys(indices["metric"]))[:1]


def table_text(rows: pd.DataFrame, metric: str, method: str, samples: int, spec: SweepSpec) -> str:
    """``sensitivity of FIGURE (sobol, N base samples: P points x R replications)`` and a row per axis."""
    head = (f"sensitivity of {metric} ({method}, {samples} {'base samples' if method == 'sobol' else 'trajectories'}: "
            f"{spec.n_points} points x {spec.replications} replications)")
    key = "ST" if method == "sobol" else "mu_star"
    rows = rows.sort_values(key, ascending=False, kind="stable")
    width = max([len("axis"), *(len(a) for a in rows["axis"])])
    if method == "sobol":
        lines = [f"{'axis':<{width}}  {'S1':>7} {'±95%':>7}  {'ST':>7} {'±95%':>7}"]
        lines += [f"{r.axis:<{width}}  {r.S1:>7.3f} {r.S1_conf:>7.3f}  {r.ST:>7.3f} {r.ST_conf:>7.3f}"
                  for r in rows.itertuples()]
    else:
        lines = [f"{'axis':<{width}}  {'mu*':>10} {'±95%':>10}  {'sigma':>10}"]
        lines += [f"{r.axis:<{width}}  {r.mu_star:>10.4g} {r.mu_star_conf:>10.4g}  {r.sigma:>10.4g}"
                  for r in rows.itertuples()]
    return "\n".join([head, *lines])


def _flat(axes: Sequence[Axis], metric: str, method: str) -> pd.DataFrame:
    return pd.DataFrame({"metric": metric, "axis": [a.path for a in axes],
                         **{c: 0.0 for c in COLUMNS[method]}})


def _examples(columns: Sequence[str]) -> list[str]:
    startup = [c for c in columns if c.endswith("startup_s.p95")]
    return (startup or list(columns))[:3] or ["workloads.NAME.startup_s.p95"]


__all__ = ["METHODS", "SensitivityResult", "analyse", "analyse_function", "design_spec", "point_means",
           "points_of", "problem", "run_sensitivity", "table_text", "unit_design"]
