"""Sweeps for the planner: which fields can move, their values, the sweep file a design writes,
and the summary of the runs (the CLI sweep's intervals, the ETA)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from simcontainer.model.placement import ADMISSIONS
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import (
    parse_scenario,
)
from simcontainer.scenario.profiles import Catalogue
from simcontainer.scenario.schema import Scenario
from simcontainer.studies.comparison import compatible
from simcontainer.studies.sweep import run_sweep
from simcontainer.studies.sweep_design import apply, parse_sweep
from simcontainer.studies.sweep_store import mean_interval, metric_ranges


def sweep_parameters(scenario: Scenario) -> dict[str, float]:
    """Numeric settings a sweep can vary, by the sweep file's path, with their current values."""
    h, d = scenario.host, scenario.daemon
    out: dict[str, float] = {
        "host.cpu_cores": h.cpu_cores, "host.ram_mib": h.ram_mib, "host.disk_gib": h.disk_gib,
        "host.disk_mb_s": h.disk_mb_s, "host.net_mb_s": h.net_mb_s, "host.count": h.count,
        "host.cpu_speed": h.cpu_speed, "daemon.max_concurrent_downloads": d.max_concurrent_downloads,
    }
    if d.api_workers is not None:       # deprecated (control planes carry their own pools)
        out["daemon.api_workers"] = d.api_workers
    for w in scenario.workloads:
        p = f"workloads.{w.name}"
        out[f"{p}.cpu"] = w.cpu
        out[f"{p}.mem_mib"] = w.mem_mib
        if w.guest_mem_mib is not None:
            out[f"{p}.guest_mem_mib"] = w.guest_mem_mib
        if w.arrival.kind == "burst":
            out[f"{p}.arrival.count"] = w.arrival.count
        elif w.arrival.kind == "poisson":
            out[f"{p}.arrival.rate_per_s"] = w.arrival.rate_per_s
        elif w.arrival.kind == "interval":
            out[f"{p}.arrival.every_s"] = w.arrival.every_s
    return {k: float(v) for k, v in out.items()}


INTEGER_PARAMS = ("host.count", "daemon.api_workers", "daemon.max_concurrent_downloads", ".arrival.count")


def is_integer_param(path: str) -> bool:
    return any(path.endswith(s) if s.startswith(".") else path == s for s in INTEGER_PARAMS)


def sweep_values(path: str, low: float, high: float, steps: int) -> list[float | int]:
    """``steps`` evenly spaced values from low to high (whole numbers where the field wants them)."""
    vals = np.linspace(float(low), float(high), max(int(steps), 1))
    if is_integer_param(path):
        return sorted({int(round(v)) for v in vals})
    # four significant digits, whole numbers kept whole: 27307 or 1.333, never 27306.666666
    return list(dict.fromkeys(float(round(v, max(0, 3 - int(math.floor(math.log10(abs(v))))) if v else 0))
                              for v in vals))


def with_values(scenario: Scenario, values: Mapping[str, Any]) -> Scenario:
    """The scenario with settings addressed by sweep paths (``workloads.<name>.field``) changed."""

    data = scenario.to_dict()
    if any(path.startswith("host.") for path in values):
        data["host"].pop("preset", None)  # a host changed by hand is no longer the preset
    try:
        data = apply(data, dict(values))
    except KeyError as exc:
        raise ScenarioError([str(exc.args[0])], source="sweep") from None
    return parse_scenario(data, base_dir=scenario.base_dir, source="sweep")


def sweep(scenario: Scenario, axes: Mapping[str, list[Any]], replications: int = 1,
          progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A grid over ``axes`` x replications in this process: ``(runs, summary)`` of :mod:`simcontainer.studies.sweep`."""

    spec = parse_sweep({"replications": int(replications), "mode": "grid",
                        "axes": {k: list(v) for k, v in axes.items()}}, base_scenario=scenario)
    res = run_sweep(spec, workers=1, progress=progress)
    return res.runs, res.summary


PLACEMENTS = ("first-fit", "best-fit", "spread", "image-locality")


def sweep_choices(scenario: Scenario, catalogue: Catalogue | None = None) -> dict[str, list[str]]:
    """Categorical settings a sweep can vary, by path, with the values each may take."""
    rts = scenario.runtime_table(catalogue)
    out: dict[str, list[str]] = {"daemon.placement": list(PLACEMENTS), "daemon.admission": list(ADMISSIONS)}
    for w in scenario.workloads:
        out[f"workloads.{w.name}.runtime"] = sorted(r for r in rts if compatible(scenario, w, r, catalogue))
    return out


def sweep_spec(scenario: Scenario, axes: Mapping[str, list[Any]], replications: int) -> Any:
    """The validated grid (a :class:`simcontainer.studies.sweep_design.SweepSpec`); raises ScenarioError."""

    return parse_sweep({"replications": int(replications), "mode": "grid",
                        "axes": {k: list(v) for k, v in axes.items()}}, base_scenario=scenario)


def sweep_toml(axes: Mapping[str, list[Any]], replications: int, base_file: str) -> str:
    """A sweep file `simcontainer sweep` runs, next to the scenario saved as ``base_file``."""

    doc = {"base": base_file, "replications": int(replications), "mode": "grid",
           "axes": {k: [v.item() if isinstance(v, np.generic) else v for v in vals] for k, vals in axes.items()}}
    head = (f"# Save next to {base_file} (the planner's 'Download this what-if'), then:\n"
            f"#   simcontainer sweep THIS_FILE.toml\n")
    return head + tomli_w.dumps(doc)


def sweep_summary(runs: pd.DataFrame, axes: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per point and metric: runs, runs with a value (a latency has none when nothing started),
    mean, and the 95 % interval of the mean (sweep_store.mean_interval: the CLI sweep's own, clipped
    to the metric's range: a latency's or a count's never goes below 0, a share's never above 1)."""
    rows = []
    present = [m for m in metrics if m in runs]
    low, high = metric_ranges(runs[present].apply(pd.to_numeric, errors="coerce").astype("float64"))
    for point, g in runs.groupby("point", sort=True):
        first = g.iloc[0]
        for m in metrics:
            if m not in g:
                continue
            v = pd.to_numeric(g[m], errors="coerce").to_numpy(dtype=float)
            ok = v[np.isfinite(v)]
            lo, hi = mean_interval(ok, low[m], high[m])
            rows.append({"point": int(point), **{a: first[a] for a in axes}, "metric": m, "runs": len(v),
                         "n": int(ok.size), "mean": float(ok.mean()) if ok.size else math.nan,
                         "ci95_low": lo, "ci95_high": hi})
    return pd.DataFrame(rows, columns=["point", *axes, "metric", "runs", "n", "mean", "ci95_low", "ci95_high"])


def eta_s(done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the pace so far; None before the first run finishes."""
    if done <= 0 or elapsed_s <= 0:
        return None
    return elapsed_s / done * (total - done)


# --------------------------------------------------------------------------- metric names for people

# bookkeeping a sweep records but nobody plots: sample sizes, censoring counts, the inputs themselves
HIDDEN_METRICS = (".n", ".censored", ".priority")
HIDDEN_EXACT = {"duration_s", "events", "host.count", "host.cpu_cores", "host.ram_mib"}
STATS = {"p50": "median", "p95": "p95", "p99": "p99", "mean": "mean", "max": "max", "min": "min"}
GROUPS = {"startup_s": "startup (request to ready)", "wait_s": "wait for admission",
          "wait_censored_s": "wait for admission, still-waiting counted", "pending_s": "pending time",
          "phases_s": "phase", "pull_phases_s": "pull phase"}
WORDS = {"mib": "MiB", "cpu": "CPU", "ram": "RAM", "api": "Engine API", "gc": "GC", "vm": "VM", "oom": "OOM",
         "p95": "p95", "s": "s", "util": "busy", "horizon": "the horizon"}
UNITS = (("_core_s", "core-s"), ("_mib_s", "MiB·s"), ("_mib", "MiB"), ("_s", "s"), ("_fraction", "share"),
         ("_rate", "share"), ("_per_1000_h", "per 1,000 instance-h"))


def _words(part: str) -> tuple[str, str]:
    """'peak_ram_mib' -> ('peak RAM', 'MiB'): a key's words and its unit."""
    unit = ""
    for suffix, name in UNITS:
        if part.endswith(suffix) and part != suffix.lstrip("_"):
            part, unit = part[: -len(suffix)], name
            break
    if part in ("availability",) or part.endswith("util"):
        unit = "share"
    return " ".join(WORDS.get(w, w) for w in part.split("_")), unit


def metric_shown(path: str) -> bool:
    """A metric a planner would plot (not a sample size, a censoring count or an input)."""
    return path not in HIDDEN_EXACT and not path.endswith(HIDDEN_METRICS) and "guest_unused" not in path


def metric_label(path: str) -> str:
    """A sweep metric's path in words with its unit: 'workloads.api-runc.startup_s.p95' ->
    'api-runc: p95 startup (request to ready) (s)'; 'host.peak_ram_mib' -> 'host: peak RAM (MiB)'."""
    parts = path.split(".")
    if parts[0] == "workloads" and len(parts) >= 3:
        who, rest = parts[1], parts[2:]
    else:
        who, rest = WORDS.get(parts[0], parts[0]), parts[1:]
    if not rest:
        text, unit = _words(who)
        return f"{text} ({unit})" if unit else text
    if rest[0] in GROUPS and len(rest) == 2:
        group = GROUPS[rest[0]]
        if rest[0] in ("phases_s", "pull_phases_s"):
            return f"{who}: mean {rest[1]} {group} (s)"
        stat = STATS.get(rest[1])
        if stat:
            return f"{who}: {stat} {group} (s)"
        text, unit = _words(rest[1])
        return f"{who}: {group}, {text}" + (f" ({unit})" if unit else "")
    prefix = {"fractions": "share", "at_horizon": "at the horizon,"}.get(rest[0])
    words = [_words(p) for p in rest[1:]] if prefix else [_words(p) for p in rest]
    unit = "" if prefix == "share" else words[-1][1]
    text = " ".join(w for w, _ in words)
    text = f"{prefix} {text}" if prefix else text
    return f"{who}: {text}" + (f" ({unit})" if unit else "")
