"""How far the headline moves when one assumption flips: a paired rerun per assumption.

:func:`simcontainer.engine.assumptions.assumptions` lists what a result assumed and the value each
assumption would flip to; :func:`flip_effects` reruns the scenario once per flip, same seed and
arrivals, and reports the headline of both runs: startup p50 and p95 over every instance that
became ready, instances started of those requested, the peak running, OOM kills and failed
starts. Computed, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from simcontainer.engine.assumptions import assumptions
from simcontainer.engine.core import simulate
from simcontainer.engine.guard import estimate
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import parse_scenario
from simcontainer.scenario.profiles import Catalogue
from simcontainer.scenario.schema import Scenario

# flips are measured only while their reruns are this cheap (seconds of compute, by the guard)
FLIP_BUDGET_S = 20.0


def headline(summary: dict[str, Any], workload: str | None = None) -> dict[str, float | int | None]:
    """A run's headline: requests-weighted startup p50/p95 over the workloads that started any,
    started and requested counts, peak running, OOM kills (0 without the memory model) and failed
    starts; of one ``workload`` alone when named (with its availability)."""
    mem = summary.get("memory")
    if workload is not None:
        w = summary["workloads"][workload]
        return {"startup_p50_s": w["startup_s"]["p50"], "startup_p95_s": w["startup_s"]["p95"],
                "started": int(w["started"]), "requested": int(w["requested"]), "peak_running": w["peak_running"],
                "oom_kills": mem["workloads"][workload]["oom_kills"] if mem else 0,
                "failed_starts": int(w["lifecycle"]["failed_starts"]),
                "availability": w["lifecycle"]["availability"]}
    ws = summary["workloads"].values()
    started = sum(int(w["started"]) for w in ws)
    requested = sum(int(w["requested"]) for w in ws)

    def weighted(stat: str) -> float | None:
        pairs = [(w["startup_s"][stat], w["started"]) for w in ws if w["startup_s"] and w["started"]]
        if not pairs:
            return None
        return float(np.average([v for v, _ in pairs], weights=[n for _, n in pairs]))

    return {"startup_p50_s": weighted("p50"), "startup_p95_s": weighted("p95"), "started": started,
            "requested": requested, "peak_running": summary["host"]["peak_running"],
            "oom_kills": mem["oom_kills"] if mem else 0,
            "failed_starts": sum(int(w["lifecycle"]["failed_starts"]) for w in ws)}


def flipped(scenario: Scenario, key: str, value: Any, catalogue: Catalogue | None = None) -> Scenario:
    """The scenario with the setting ``key`` (an assumption's key) set to ``value``."""
    data = scenario.to_dict()
    if key.startswith("workloads."):
        _, name, field = key.split(".", 2)
        for w in data["workloads"]:
            if w["name"] == name:
                w[field] = value
    else:
        table, field = key.split(".", 1)
        data.setdefault(table, {})
        data[table][field] = value
        if key == "daemon.admission" and value != "backfill":
            data["daemon"].pop("preemption", None)
            data["daemon"].pop("retry", None)
    return parse_scenario(data, base_dir=scenario.base_dir, catalogue=catalogue,
                          source=f"{scenario.name} with {key} = {value}")


def flip_cost_s(scenario: Scenario) -> float:
    """Compute the flips would take: one rerun per flippable assumption, by the size guard."""
    n = sum(1 for a in assumptions(scenario) if a["flip_to"] is not None)
    return n * estimate(scenario).wall_s


def flip_effects(scenario: Scenario, base_summary: dict[str, Any], seed: int | None = None, *,
                 catalogue: Catalogue | None = None,
                 progress: Callable[[float], None] | None = None) -> list[dict[str, Any]]:
    """The result's assumptions, each with ``effect``: the headline as run and with that one
    assumption flipped (and, for a workload's own setting, ``workload``: that workload's headline
    as run and flipped) (None where the assumption has no flip, or where the flipped scenario is
    not valid: then ``flip_error`` says why). ``base_summary`` is the run's own summary (not rerun)."""
    out = []
    items = assumptions(scenario, catalogue)
    base = headline(base_summary)
    flips = [a for a in items if a["flip_to"] is not None]
    for k, a in enumerate(items):
        a = dict(a)
        if a["flip_to"] is not None:
            try:
                other = simulate(flipped(scenario, a["key"], a["flip_to"], catalogue), seed, catalogue=catalogue,
                                 force=True).summary
                a["effect"] = {"as_run": base, "flipped": headline(other)}
                if a["key"].startswith("workloads."):     # a workload's own setting: its own headline too
                    name = a["key"].split(".", 2)[1]
                    a["effect"]["workload"] = {"name": name, "as_run": headline(base_summary, name),
                                               "flipped": headline(other, name)}
            except ScenarioError as exc:        # a flip this scenario cannot take: said, not run
                a["effect"], a["flip_error"] = None, str(exc)
            if progress is not None:
                progress((flips.index(items[k]) + 1) / len(flips))
        else:
            a["effect"] = None
        out.append(a)
    return out


__all__ = ["FLIP_BUDGET_S", "flip_cost_s", "flip_effects", "flipped", "headline"]
