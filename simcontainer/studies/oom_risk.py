"""Memory overcommit and OOM risk for the planner: admission policies and overcommit as
scenario edits, OOM-kill counts by level of use, and the refusal of runs too large to answer."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from simcontainer.scenario.loading import (
    parse_scenario,
)
from simcontainer.scenario.schema import Scenario
from simcontainer.studies.density import density_risk

OVERCOMMIT_WORDS = ("Memory overcommit: admission may promise this many times the host's RAM (after "
                    "`reserved_mib`) to instances' reservations. 1.0: every instance's reservation is backed "
                    "by RAM; 1.5: reservations may add up to 150% of it, betting that instances use less than "
                    "they reserve (a VM only costs the pages its guest touched). When the bet fails the "
                    "kernel's OOM killer ends an instance.")


OOM_RISK_MAX_INSTANCE_HOURS = 1_500.0    # simulated instance-hours: ~40 s cold on this machine; more is refused


OOM_LEVELS = ("at reservation", "at p95 use", "at overcommit")


ADMISSION_WORDS = {
    "queue": "queue: first come, first served; a request that does not fit blocks everything behind it",
    "reject": "reject: a request that does not fit is turned away at once",
    "backfill": "backfill: like the Kubernetes scheduler, whatever fits starts, the rest waits and is retried",
    "none": "none: like dockerd, everything starts; memory pressure and the OOM killer decide later",
}


def with_admission(scenario: Scenario, policy: str | None) -> Scenario:
    """The scenario with ``daemon.admission`` set to ``policy`` (None: unchanged). Backfill's own
    settings (``retry``, ``preemption``) are kept under backfill and dropped under the others,
    which refuse them."""
    if policy is None or policy == scenario.daemon.admission:
        return scenario
    data = scenario.to_dict()
    d = dict(data.get("daemon") or {})
    d["admission"] = policy
    if policy != "backfill":
        d.pop("retry", None)
        d.pop("preemption", None)
    data["daemon"] = d
    return parse_scenario(data, base_dir=scenario.base_dir, source="what-if")


def with_memory_overcommit(scenario: Scenario, ratio: float | None) -> Scenario:
    """The scenario with ``host.memory_overcommit`` set; a ratio of 1 or less (or None) clears it
    (no overcommit). Raises :class:`ScenarioError` past the host's allowed 1 to 100."""
    data = scenario.to_dict()
    h = dict(data["host"])
    if ratio is None or float(ratio) <= 1.0:
        h.pop("memory_overcommit", None)
    else:
        h["memory_overcommit"] = float(ratio)
    data["host"] = h
    return parse_scenario(data, base_dir=scenario.base_dir, source="what-if")


def oom_risk_counts(cells: Iterable[tuple[Scenario, str, str]], *, overcommit: float, hours: float,
                    percentile: float = 95.0) -> dict[str, dict[str, Any]]:
    """The closed-form half of :func:`simcontainer.studies.density.density_risk` (no simulation) for each
    ``(scenario, workload, runtime)``: ``{runtime: its row}``; the counts size the simulation."""

    out: dict[str, dict[str, Any]] = {}
    for scenario, workload, runtime in cells:
        if runtime in out:
            continue
        row = density_risk(scenario, workload, [runtime], percentile=percentile, overcommit=overcommit,
                           hours=hours, simulate=False)
        out[runtime] = row[runtime]
    return out


def oom_risk_instance_hours(counts: Mapping[str, Mapping[str, Any]], hours: float) -> float:
    """The instance-hours :func:`oom_risk_frame`'s simulations would run: every count x ``hours``
    (the size guard of the OOM-risk chart, in the spirit of the planner's request guard)."""
    total = 0
    for row in counts.values():
        for key, entry in row.items():
            if key.startswith("at_") and isinstance(entry, Mapping):
                total += int(entry.get("count") or 0)
    return float(total) * float(hours)


def oom_risk_refusal(instance_hours: float, limit: float = OOM_RISK_MAX_INSTANCE_HOURS) -> str | None:
    """The message for an OOM-risk simulation past the guard, or None when it may run."""
    if instance_hours <= limit:
        return None
    return (f"Not simulated: the OOM risk would take {instance_hours:,.0f} instance-hours of simulation; the app "
            f"runs at most {limit:,.0f}. Pick fewer runtimes or fewer simulated hours, or run "
            "`density_risk` from Python on your own machine.")


def oom_risk_frame(risk: Mapping[str, Mapping[str, Any]], percentile: float = 95.0) -> pd.DataFrame:
    """``density_risk`` rows as a tidy table for the "OOM risk vs density" chart: per runtime and
    level (at reservation, at the percentile's use, at the overcommit) the instances per host and
    the OOM kills (and kills per 1,000 instance-hours); NaN where nothing was simulated (a count of
    0, or ``simulate=False``). A runtime with an ``error`` is left out."""
    rows = []
    for runtime, row in risk.items():
        if "error" in row:
            continue
        keys = [k for k in row if k.startswith("at_")]
        pkey = next((k for k in keys if k.startswith("at_p")), None)
        okey = next((k for k in keys if k.startswith("at_overcommit_")), None)
        for level, key in zip(OOM_LEVELS, ("at_reservation", pkey, okey)):
            if key is None:
                continue
            e = row[key]
            label = {"at p95 use": f"at p{percentile:g} use",
                     "at overcommit": f"at {key.removeprefix('at_overcommit_')}x overcommit"}.get(level, level)
            rows.append({"runtime": runtime, "kind": row.get("kind"), "level": label, "order": OOM_LEVELS.index(level),
                         "instances_per_host": int(e["count"]),
                         "oom_kills": float(e["oom_kills"]) if "oom_kills" in e else math.nan,
                         "oom_kills_per_1000_h": float(e["oom_kills_per_1000_h"])
                         if e.get("oom_kills_per_1000_h") is not None else math.nan})
    return pd.DataFrame(rows, columns=["runtime", "kind", "level", "order", "instances_per_host", "oom_kills",
                                       "oom_kills_per_1000_h"])
