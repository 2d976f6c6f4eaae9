"""How many hosts a mix needs, and what each host of a run held (the planner's per-host view)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from simcontainer.engine.core import image_table
from simcontainer.scenario.loading import parse_scenario
from simcontainer.scenario.profiles import Catalogue, default_catalogue
from simcontainer.scenario.schema import Scenario
from simcontainer.studies.comparison import moved
from simcontainer.studies.density import density_one


def hosts_needed(scenario: Scenario, counts: Mapping[str, int], runtimes: Iterable[str], headroom: float = 0.2,
                 catalogue: Catalogue | None = None) -> pd.DataFrame:
    """How many hosts of the scenario's kind hold ``counts[workload]`` instances of each workload,
    every host kept ``headroom`` (a fraction) below its RAM, CPU and disk; one row per runtime.

    Each workload runs on the runtime as :func:`moved` puts it (its own image kind, the mix's disk
    mode); per-instance demand is the closed-form density's. Closed form per instance type
    (:func:`pack_by_type`): each type fills whole hosts of its own, and the part-filled hosts
    that are left (one per type at most) are packed onto shared hosts; the work grows with the
    number of types, never with the count, so a million instances take milliseconds. The count
    is a real packing, never a fraction; ``lower_bound`` is the fluid bound (total demand /
    usable capacity).
    """

    cat = catalogue or default_catalogue()
    h = scenario.host
    keep = 1.0 - float(headroom)
    rows = []
    for rt in dict.fromkeys(runtimes):
        data = scenario.to_dict()
        data["workloads"] = [moved(scenario, w.name, rt, cat) for w in scenario.workloads if counts.get(w.name, 0) > 0]
        data["actions"] = []
        if not data["workloads"]:
            continue
        s = parse_scenario(data, base_dir=scenario.base_dir, catalogue=cat, source=f"hosts on {rt}")
        images = image_table(s, cat)
        image_disk = sum(images[i].disk_mib for i in {w.image for w in s.workloads})
        ram = (h.ram_mib - h.reserve_mib) * (h.memory_overcommit or 1.0)
        cap = np.array([ram * keep, h.cpu_cores * (h.cpu_overcommit or 1.0) * keep,
                        h.disk_gib * 1024.0 * keep - image_disk])
        types = []
        for w in s.workloads:
            d = density_one(s, w.name, rt, cat, images)["per_instance"]
            types.append((np.array([d["ram_mib"], d["cpu"], d["disk_mib"]]), int(counts[w.name])))
        n = pack_by_type(types, cap)
        if n is None:
            rows.append({"runtime": rt, "hosts": None, "lower_bound": None, "binding": "does not fit on one host",
                         "ram_per_host": None, "cpu_per_host": None})
            continue
        total = sum(item * k for item, k in types)
        share = total / (cap * n) if n else total * 0.0
        rows.append({"runtime": rt, "hosts": n, "lower_bound": int(np.ceil(float(np.max(total / cap)))),
                     "binding": ("RAM", "CPU", "disk")[int(np.argmax(total / cap))],
                     "ram_per_host": float(share[0] * keep), "cpu_per_host": float(share[1] * keep)})
    return pd.DataFrame(rows, columns=["runtime", "hosts", "lower_bound", "binding", "ram_per_host", "cpu_per_host"])


def pack_by_type(types: list[tuple[np.ndarray, int]], cap: np.ndarray) -> int | None:
    """Hosts of room ``cap`` for ``count`` instances of each ``(demand, count)`` type; None when
    one instance of some type does not fit an empty host.

    Each type fills ``count // per_host`` hosts of its own (``per_host``: how many fit, by the
    resource that binds first); what is left of each type (fewer than one host's worth) goes,
    largest first, onto shared hosts, as many at a time as the room allows (first fit).
    """
    eps = 1e-9
    if (cap <= 0).any() and any(k > 0 for _, k in types):
        return None
    hosts, rest = 0, []
    for item, k in types:
        if k <= 0:
            continue
        if (item > cap + eps).any():
            return None
        with np.errstate(divide="ignore"):
            per_host = int(np.min(np.where(item > 0, np.floor((cap + eps) / np.where(item > 0, item, 1)), np.inf))) \
                if (item > 0).any() else k
        full, left = divmod(k, per_host)
        hosts += full
        if left:
            rest.append((item, left))
    rest.sort(key=lambda t: -float(np.max(t[0] * t[1] / cap)))
    free: list[np.ndarray] = []
    for item, left in rest:
        for i, room in enumerate(free):
            if left <= 0:
                break
            with np.errstate(divide="ignore"):
                room_for = np.where(item > 0, np.floor((room + eps) / np.where(item > 0, item, 1)), np.inf)
            take = int(min(left, np.min(room_for)))
            if take > 0:
                free[i] = room - item * take
                left -= take
        if left > 0:
            free.append(cap - item * left)
    return hosts + len(free)


def steady_counts(scenario: Scenario) -> dict[str, int]:
    """Instances of each workload running at once in steady state: a burst's count; for arrivals
    at a rate, rate x mean lifetime (Little's law), capped by the requests; forever-running ones
    count every request."""
    out = {}
    for w in scenario.workloads:
        a, life = w.arrival, w.lifetime
        span = max(scenario.duration_s - float(getattr(a, "start_s", 0.0) or 0.0), 0.0)
        rate = {"poisson": getattr(a, "rate_per_s", 0.0),
                "interval": 1.0 / a.every_s if a.kind == "interval" and a.every_s else 0.0}.get(a.kind)
        if a.kind == "burst":
            n = float(a.count)
        elif rate is None:
            n = float(w.max_instances or 1)
        else:
            mean = {"fixed": getattr(life, "s", None), "exponential": getattr(life, "mean_s", None),
                    "lognormal": getattr(life, "median_s", None)}.get(life.kind)
            n = rate * min(mean, span) if mean is not None else rate * span
        if w.max_instances is not None:
            n = min(n, float(w.max_instances))
        out[w.name] = max(int(math.ceil(n)), 0)
    return out


def hosts_answer(table: pd.DataFrame, counts: Mapping[str, int], host_name: str, headroom: float) -> str:
    """'For 20 of api-runc, ...: 2 hosts on runc (CPU binds), 5 on qemu-kvm (RAM) ...' in one sentence."""
    what = ", ".join(f"{n:,} × {w}" for w, n in counts.items() if n)
    parts = [f"{int(r['hosts']):,} on {r['runtime']} ({r['binding']} binds)" if pd.notna(r["hosts"])
             else f"{r['runtime']}: one instance does not fit on a host" for _, r in table.iterrows()]
    return (f"For {what}, with {headroom:.0%} headroom on every {host_name} host: "
            + "; ".join(parts) + ".")


def per_host(scenario: Scenario, summary: Mapping[str, Any], instances: pd.DataFrame) -> pd.DataFrame:
    """One row per host of a run: instances placed and running at the horizon per workload, peak
    RAM and its share of the host, mean CPU busy."""
    h = scenario.host
    running = instances[instances["t_ready"].notna() & instances["t_exited"].isna()]
    placed = instances[instances["t_admitted"].notna()].groupby("host").size()
    by_wl = running.groupby(["host", running["workload"].astype(str)]).size()
    words: dict[int, list[str]] = {}
    totals: dict[int, int] = {}
    for (i, name), v in by_wl.items():      # one pass: a run may have 10,000 hosts
        words.setdefault(int(i), []).append(f"{name} {int(v)}")
        totals[int(i)] = totals.get(int(i), 0) + int(v)
    rows = []
    for s in summary.get("hosts", []):
        i = int(s["index"])
        rows.append({"host": i, "placed": int(placed.get(i, 0)), "running": totals.get(i, 0),
                     "running_by_workload": ", ".join(words.get(i, [])),
                     "peak_ram_gib": s["peak_ram_mib"] / 1024, "peak_ram_share": s["peak_ram_mib"] / h.ram_mib,
                     "mean_cpu_util": s["mean_cpu_util"]})
    return pd.DataFrame(rows, columns=["host", "placed", "running", "running_by_workload", "peak_ram_gib",
                                       "peak_ram_share", "mean_cpu_util"])


def shown_hosts(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Host": table["host"].astype(str), "Instances placed": table["placed"].astype(str),
        "Running at the end": table["running"].astype(str), "Running, by workload": table["running_by_workload"],
        "Peak RAM (GiB)": [f"{v:.1f}" for v in table["peak_ram_gib"]],
        "Peak RAM (share of host)": [f"{v:.0%}" for v in table["peak_ram_share"]],
        "Mean CPU busy": [f"{v:.0%}" for v in table["mean_cpu_util"]]})


def hosts_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Many hosts in a few rows: the least, median, p95 and most loaded host by each figure."""
    figures = {"Instances placed": ("placed", ",.0f"), "Running at the end": ("running", ",.0f"),
               "Peak RAM (share of host)": ("peak_ram_share", ".0%"), "Mean CPU busy": ("mean_cpu_util", ".0%")}
    rows = []
    for name, q in (("least", 0.0), ("median", 0.5), ("p95", 0.95), ("most", 1.0)):
        row = {"Hosts": name}
        for label, (col, spec) in figures.items():
            v = table[col].quantile(q) if len(table) else float("nan")
            row[label] = format(float(v), spec) if v == v else "—"
        rows.append(row)
    return pd.DataFrame(rows)
