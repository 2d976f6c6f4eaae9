"""Warm strategies side by side: one workload under cold start, lazy pull, a pre-warmed pool,
snapshot restore and keep-alive, on the same arrivals (the planner's warm section, a Learn lesson)."""

from __future__ import annotations

import math
from typing import Any

from simcontainer.engine.core import simulate
from simcontainer.scenario.profiles import restore_for
from simcontainer.scenario.schema import WarmStart

STRATEGIES = ("cold", "lazy pull", "pool", "snapshot", "keep-alive")


def strategy_table(scenario: Any, workload: str | None = None, *, pool: int = 2,
                   keep_alive_s: float = 600.0, seed: int | None = None) -> Any:
    """Run one workload of ``scenario`` (a :class:`Scenario`; the first workload when
    ``workload`` is None) alone, on the same arrivals, under each strategy: ``cold`` (no warm
    path, image not prepulled), ``lazy pull`` (the registry's lazy pulling, eStargz), ``pool``
    (``pool`` pre-warmed instances, refilled at once), ``snapshot`` (snapshot/CRIU restore) and
    ``keep-alive`` (``keep_alive_s``, default AWS Lambda's 10 min at the time of Shahrad et al.,
    ATC 2020). Returns a DataFrame, a row per strategy: ``strategy``, ``requests``, ``started``,
    ``cold``, ``warm``, ``snapshot`` (starts of each kind), ``startup_p50_s``, ``startup_p95_s``,
    ``startup_mean_s``, ``startup_max_s`` (the first request pulls the image), ``idle_mib_s``, ``idle_mean_mib`` (the memory bill of idle warm
    instances), ``fault_cpu_s`` and ``fault_s_per_start`` (page-fault work after snapshot restores,
    in all and per restored start: the first run's slowdown, which ``startup`` -- request to ready --
    leaves out), and ``note`` (why a strategy was skipped). A startup figure over
    no start is NaN. A snapshot row on a runtime without restore figures is skipped with a note."""
    import pandas as pd  # noqa: PLC0415 - pandas loads in ~0.2 s: only where a table is built


    w0 = scenario.workloads[0] if workload is None else next(w for w in scenario.workloads if w.name == workload)
    rows = []
    for strat in STRATEGIES:
        warm: dict[str, Any] | None = None
        registry = scenario.registry
        if strat == "lazy pull":
            registry = registry.model_copy(update={"lazy": "estargz"})
        elif strat == "pool":
            warm = {"pool": pool}
        elif strat == "snapshot":
            warm = {"start": "snapshot"}
        elif strat == "keep-alive":
            warm = {"keep_alive_s": keep_alive_s}

        w = w0.model_copy(update={"warm": WarmStart(**warm) if warm is not None else None})
        sc = scenario.model_copy(update={"workloads": [w], "registry": registry, "actions": [], "faults": [],
                                         "daemon": scenario.daemon.model_copy(update={"prepull": []})})
        row: dict[str, Any] = {"strategy": strat}
        if strat == "snapshot" and restore_for(w0.runtime) is None:
            rows.append({**row, "note": f"no restore figures for runtime {w0.runtime!r}"})
            continue
        res = simulate(sc, seed=seed)
        s = res.summary["workloads"][w.name]
        wb = s.get("warm")
        st = s["startup_s"]
        row.update({"requests": s["requested"], "started": s["started"],
                    "cold": wb["starts"]["cold"] if wb else s["started"],
                    "warm": wb["starts"]["warm"] if wb else 0,
                    "snapshot": wb["starts"]["snapshot"] if wb else 0,
                    "startup_p50_s": _nan(st["p50"]), "startup_p95_s": _nan(st["p95"]),
                    "startup_mean_s": _nan(st["mean"]), "startup_max_s": _nan(st["max"]),
                    "idle_mib_s": wb["idle_mib_s"] if wb else 0.0,
                    "idle_mean_mib": (wb["idle_mean_mib"] if wb else 0.0),
                    "fault_cpu_s": wb["fault_cpu_s"] if wb else 0.0,
                    "fault_s_per_start": (wb["fault_cpu_s"] / wb["starts"]["snapshot"]
                                          if wb and wb["starts"]["snapshot"] else 0.0),
                    "note": ""})
        rows.append(row)
    return pd.DataFrame(rows)


def _nan(x: float | None) -> float:
    return math.nan if x is None else x
