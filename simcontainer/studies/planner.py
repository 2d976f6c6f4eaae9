"""Plain helpers behind the app: no Streamlit here, only the library.

The planner edits a scenario through a table of workloads and a few host fields, runs it, and
states the answer (the comparison itself is :mod:`simcontainer.studies.comparison`). Everything a view
would otherwise compute lives here so that it is tested without a browser:

- the editable table of a scenario's workloads and the way back (:func:`workloads_table`,
  :func:`scenario_from_inputs`),
- a what-if carried in a URL (:func:`encode_scenario`, :func:`decode_scenario`),
- reading a pasted or uploaded scenario with every problem listed (:func:`read_scenario_text`),
- the scenarios and tables of the Learn pages (``lesson_*``, :func:`gantt_frame`,
  :func:`copy_on_write`, :func:`layer_nodes`),
- sweeps run step by step from the app (:func:`sweep_spec`, :func:`sweep_summary`,
  :func:`sweep_toml`).
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from simcontainer.model.images import Image, graph_view, layer_graph
from simcontainer.model.memory import ksm_curve, throttle_table
from simcontainer.model.placement import ADMISSIONS
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import (
    dumps_scenario,
    load_scenario,
    loads_scenario,
    parse_scenario,
)
from simcontainer.scenario.profiles import Catalogue, default_catalogue, models_dir
from simcontainer.scenario.schema import Scenario
from simcontainer.studies.comparison import compatible, natural_image
from simcontainer.studies.density import density_one, density_risk
from simcontainer.studies.sweep import run_sweep
from simcontainer.studies.sweep_design import apply, parse_sweep

COLUMNS = ("name", "runtime", "image", "cpu", "mem_mib", "guest_mem_mib", "arrival", "rate_per_s",
           "count", "at_s", "lifetime", "lifetime_s", "restart", "auto_remove")
# columns that say something even in an empty row (a checkbox is False, not blank)
_FLAGS = ("auto_remove",)
# ``restart`` in the mix editor: blank is the control plane's default (Docker's "no"; a pod's "always")
RESTART_CHOICES = ("no", "on-failure", "always", "unless-stopped")
ARRIVAL_KINDS = ("burst", "poisson", "interval", "trace")
LIFETIME_KINDS = ("forever", "fixed", "exponential", "lognormal")
HOST_FIELDS = ("cpu_cores", "ram_mib", "disk_gib", "disk_mb_s", "net_mb_s")


def default_scenario() -> Scenario:
    """The scenario the app opens on (models/scenarios/default.toml)."""
    return load_scenario(models_dir() / "scenarios" / "default.toml")


def canonical(scenario: Scenario) -> str:
    """The scenario as TOML that `simcontainer run` accepts; equal scenarios give equal text."""
    return dumps_scenario(scenario)


# --------------------------------------------------------------------------- the workload table


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def workloads_table(scenario: Scenario) -> pd.DataFrame:
    """One row per workload with the fields the planner lets a user edit."""
    rows = []
    for w in scenario.workloads:
        a, life = w.arrival, w.lifetime
        rate = count = at = None
        if a.kind == "poisson":
            rate, count, at = a.rate_per_s, w.max_instances, a.start_s
        elif a.kind == "burst":
            count, at = a.count, a.at_s
        elif a.kind == "interval":
            rate, count, at = 1.0 / a.every_s, w.max_instances, a.start_s
        else:
            count = w.max_instances
        life_s = {"fixed": "s", "exponential": "mean_s", "lognormal": "median_s"}.get(life.kind)
        rows.append({
            "name": w.name, "runtime": w.runtime, "image": w.image, "cpu": float(w.cpu),
            "mem_mib": float(w.mem_mib), "guest_mem_mib": w.guest_mem_mib, "arrival": a.kind,
            "rate_per_s": rate, "count": count, "at_s": at, "lifetime": life.kind,
            "lifetime_s": getattr(life, life_s) if life_s else None,
            "restart": w.restart, "auto_remove": bool(w.auto_remove),
        })
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for c in ("guest_mem_mib", "rate_per_s", "at_s", "lifetime_s"):
        df[c] = df[c].astype("float64")
    df["count"] = df["count"].astype("Int64")
    df["restart"] = df["restart"].astype("object")
    df["auto_remove"] = df["auto_remove"].astype("bool")
    return df


def has_lifecycle(scenario: Scenario, summary: Mapping[str, Any]) -> bool:
    """Whether the run has restarts, failures or faults to show: a workload with a restart
    policy, crashes or pull errors, a fault in the scenario, or any restart or failure counted."""
    if scenario.faults or any(w.uses_lifecycle() for w in scenario.workloads):
        return True
    for w in summary.get("workloads", {}).values():
        life = w.get("lifecycle") or {}
        if life.get("restarts") or life.get("failed_starts") or any(
                str(c) != "0" and n for c, n in (life.get("exit_codes") or {}).items()):
            return True
    return False


def lifecycle_rows(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Per workload: restarts, time in back-off, non-zero exits (by code), failed starts and
    availability (share of its instances' time running and ready), from the summary's
    ``lifecycle``; None where the run has no figure."""
    rows = []
    for name, w in summary.get("workloads", {}).items():
        life = w.get("lifecycle") or {}
        codes = {str(c): int(n) for c, n in (life.get("exit_codes") or {}).items() if str(c) != "0" and n}
        rows.append({"workload": name, "restarts": life.get("restarts"), "backoff_s": life.get("backoff_s"),
                     "nonzero_exits": sum(codes.values()) if life else None,
                     "exit_codes": ", ".join(f"{n}× {c}" for c, n in sorted(codes.items())),
                     "failed_starts": life.get("failed_starts"), "availability": life.get("availability")})
    return pd.DataFrame(rows, columns=["workload", "restarts", "backoff_s", "nonzero_exits", "exit_codes",
                                       "failed_starts", "availability"])


def restart_options(scenario: Scenario) -> list[str]:
    """The restart policies the mix editor offers: Docker's four and any ``on-failure:N`` the
    scenario already uses."""
    return list(dict.fromkeys([*RESTART_CHOICES, *(w.restart for w in scenario.workloads if w.restart)]))


def _num(v: Any) -> Any:
    """A table cell as a plain number (ints stay ints), or None when blank."""
    if _blank(v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return v
    return v


def _workload_from_row(row: Mapping[str, Any], base: Mapping[str, Any] | None) -> dict[str, Any]:
    """A workload table from an edited row, keeping fields the table does not show from ``base``."""
    w: dict[str, Any] = dict(base or {})
    for key in ("name", "runtime", "image"):
        v = row.get(key)
        if _blank(v):
            w.pop(key, None)
        else:
            w[key] = str(v).strip()
    for key in ("cpu", "mem_mib", "guest_mem_mib"):
        v = _num(row.get(key))
        if v is None:
            w.pop(key, None)
        else:
            w[key] = v
    kind = row.get("arrival")
    kind = None if _blank(kind) else str(kind)
    rate, count, at = _num(row.get("rate_per_s")), _num(row.get("count")), _num(row.get("at_s"))
    count = int(count) if isinstance(count, int | float) and float(count).is_integer() else count
    old_arrival = (base or {}).get("arrival") or {}
    w.pop("max_instances", None)
    if kind == "burst":
        w["arrival"] = {"kind": "burst", "count": count, "at_s": at or 0.0}
        w["arrival"] = {k: v for k, v in w["arrival"].items() if v is not None}
    elif kind == "poisson":
        w["arrival"] = {"kind": "poisson", "start_s": at or 0.0}
        if rate is not None:
            w["arrival"]["rate_per_s"] = rate
    elif kind == "interval":
        w["arrival"] = {"kind": "interval", "start_s": at or 0.0}
        if rate is not None:
            w["arrival"]["every_s"] = 1.0 / rate if rate else 0.0
    elif kind == "trace":
        w["arrival"] = {"kind": "trace"}
        if old_arrival.get("kind") == "trace" and "path" in old_arrival:
            w["arrival"]["path"] = old_arrival["path"]
    elif kind is None:
        w.pop("arrival", None)
    else:
        w["arrival"] = {"kind": kind}
    if kind in ("poisson", "interval", "trace") and count is not None:
        w["max_instances"] = count
    lkind = row.get("lifetime")
    lkind = "forever" if _blank(lkind) else str(lkind)
    ls = _num(row.get("lifetime_s"))
    old_life = (base or {}).get("lifetime") or {}
    if lkind == "forever":
        w["lifetime"] = {"kind": "forever"}
    elif lkind == "fixed":
        w["lifetime"] = {"kind": "fixed", "s": ls}
    elif lkind == "exponential":
        w["lifetime"] = {"kind": "exponential", "mean_s": ls}
    elif lkind == "lognormal":
        p95 = old_life.get("p95_s") if old_life.get("kind") == "lognormal" else None
        if ls is not None and (p95 is None or p95 < ls):
            p95 = 3.0 * ls   # the tail the table does not show: three times the median
        w["lifetime"] = {"kind": "lognormal", "median_s": ls, "p95_s": p95}
    else:
        w["lifetime"] = {"kind": lkind}
    w["lifetime"] = {k: v for k, v in w["lifetime"].items() if v is not None}
    if "restart" in row:            # blank: the control plane's default
        r = row.get("restart")
        if _blank(r):
            w.pop("restart", None)
        else:
            w["restart"] = str(r).strip()
    if "auto_remove" in row:        # blank (a new row): Docker's default, off
        a = row.get("auto_remove")
        if _blank(a):
            w.pop("auto_remove", None)
        else:
            w["auto_remove"] = bool(a)
    return w


def scenario_from_inputs(base: Scenario, table: pd.DataFrame | Iterable[Mapping[str, Any]], *,
                         host: Mapping[str, Any] | None = None, preset: str | None = None,
                         count: int | None = None, duration_s: float | None = None,
                         seed: int | None = None, registry: Mapping[str, Any] | None = None,
                         catalogue: Catalogue | None = None) -> Scenario:
    """The base scenario with the edited workload table and host; raises :class:`ScenarioError`.

    ``preset`` picks a host preset; otherwise ``host`` gives the fields by hand. Rows are matched
    to the base's workloads by name so that fields the table does not show (``ready_s``,
    ``vm_disk``, ``writable_mib``, a trace path) carry over; empty rows are skipped.
    """
    data = base.to_dict()
    rows = table.to_dict("records") if isinstance(table, pd.DataFrame) else [dict(r) for r in table]
    rows = [r for r in rows if not all(_blank(r.get(c)) for c in COLUMNS if c not in _FLAGS)]
    old = {w["name"]: w for w in data["workloads"]}
    data["workloads"] = [_workload_from_row(r, old.get(str(r.get("name", "")).strip())) for r in rows]
    names = {w.get("name") for w in data["workloads"]}
    data["actions"] = [a for a in data.get("actions", []) if a.get("workload") in names]
    h = dict(data["host"])
    if preset is not None:
        h = {"preset": preset}
        for key in ("cpu_overcommit",):
            if key in data["host"]:
                h[key] = data["host"][key]
    elif host is not None:
        h.pop("preset", None)
        h.update({k: _num(v) for k, v in host.items() if k in HOST_FIELDS and not _blank(v)})
    h["count"] = int(count) if count is not None else int(data["host"].get("count", 1))
    data["host"] = h
    if duration_s is not None:
        data["duration_s"] = duration_s
    if seed is not None:
        data["seed"] = int(seed)
    if registry is not None:
        data["registry"] = registry_fields(data.get("registry") or {}, registry)
    return parse_scenario(data, base_dir=base.base_dir, catalogue=catalogue, source="what-if")


LAZY_FORMATS = ("none", "estargz", "soci", "nydus")


def registry_fields(current: Mapping[str, Any], edits: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[registry]`` table with the planner's three controls applied: ``egress_mb_s`` (the
    shared registry's egress; None or 0: unlimited, each host pulls at its own link), ``mirror``
    (a per-site pull-through cache on or off; on keeps the mirror's own figures if it had one)
    and ``lazy`` (the lazy-pull format, "none" for whole-image pulls). Other fields carry over."""
    r = dict(current)
    if "egress_mb_s" in edits:
        e = edits["egress_mb_s"]
        if e is None or (isinstance(e, float) and math.isnan(e)) or e <= 0:
            r.pop("egress_mb_s", None)
        else:
            r["egress_mb_s"] = float(e)
    if "mirror" in edits:
        if edits["mirror"]:
            r["mirror"] = dict(r.get("mirror") or {})
        else:
            r.pop("mirror", None)
    if "lazy" in edits:
        r["lazy"] = str(edits["lazy"])
    return r


# --------------------------------------------------------------------------- scenario in and out


def encode_scenario(scenario: Scenario) -> str:
    """A compact, URL-safe token of the scenario (zlib-compressed TOML)."""
    raw = zlib.compress(canonical(scenario).encode("utf-8"), 9)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_scenario(token: str) -> Scenario:
    """The scenario of :func:`encode_scenario`; a damaged token is a :class:`ScenarioError`."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        text = zlib.decompress(raw).decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError):
        raise ScenarioError(["s: the link's scenario is damaged (allowed: a link made by the app)"],
                            source="link") from None
    return loads_scenario(text, base_dir=str(models_dir() / "scenarios"), source="link")


def read_scenario_text(text: str | bytes, source: str = "upload") -> tuple[Scenario | None, list[str]]:
    """Read an uploaded or pasted scenario: ``(scenario, [])`` or ``(None, problems by field)``.

    The one code path for the upload widget and the paste box. Relative trace paths resolve
    from the shipped scenarios folder.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [f"not UTF-8 text: {exc}"]
    if not text.strip():
        return None, ["(top level): the file is empty (allowed: a scenario TOML)"]
    try:
        return loads_scenario(text, base_dir=str(models_dir() / "scenarios"), source=source), []
    except ScenarioError as exc:
        return None, list(exc.problems)


# --------------------------------------------------------------------------- time series


def resample_steps(ts: pd.DataFrame, horizon: float, points: int = 400) -> pd.DataFrame:
    """A step time series (value holds until the next row) sampled on a regular grid."""
    grid = np.linspace(0.0, horizon, points)
    idx = np.searchsorted(ts["time_s"].to_numpy(), grid, side="right") - 1
    idx = np.clip(idx, 0, len(ts) - 1)
    out = ts.iloc[idx].reset_index(drop=True).copy()
    out["time_s"] = grid
    return out


# --------------------------------------------------------------------------- lifecycle timeline


def gantt_frame(events: pd.DataFrame, horizon: float, max_instances: int = 40,
                instances: pd.DataFrame | None = None) -> pd.DataFrame:
    """Intervals (instance, workload, state, start_s, end_s) of each instance's lifecycle states.

    A state lasts until the instance's next event; the last one to the horizon, unless it is an
    end (removed, rejected), which is drawn as nothing. The recorder logs ``pulling`` from
    admission until the container is created; with ``instances``, that span is split into
    ``pulling`` (only while an image was fetched) and ``creating``.
    """
    ev = events[events["instance"] < max_instances].sort_values(["instance", "time_s"], kind="stable")
    pulled = instances.set_index("instance")["t_pulled"] if instances is not None else None
    parts = []
    for iid, g in ev.groupby("instance", sort=True):
        t = g["time_s"].to_numpy()
        ends = np.append(t[1:], horizon)
        states = g["state"].astype(str).to_numpy()
        keep = (~np.isin(states, ["removed", "rejected"])) & (ends >= t)
        part = pd.DataFrame({"instance": int(iid), "workload": str(g["workload"].iloc[0]), "state": states[keep],
                             "start_s": t[keep], "end_s": ends[keep]})
        if pulled is not None and iid in pulled.index and (part["state"] == "pulling").any():
            tp = pulled.loc[iid]
            i = part.index[part["state"] == "pulling"][0]
            row = part.loc[i]
            split = float(tp) if pd.notna(tp) else float(row["end_s"])
            split = min(max(split, float(row["start_s"])), float(row["end_s"]))
            pieces = [("pulling", row["start_s"], split), ("creating", split, row["end_s"])]
            new = pd.DataFrame([{"instance": int(iid), "workload": row["workload"], "state": s, "start_s": a,
                                 "end_s": b} for s, a, b in pieces if b > a])
            part = pd.concat([part.loc[:i - 1], new, part.loc[i + 1:]], ignore_index=True)
        parts.append(part)
    cols = ["instance", "workload", "state", "start_s", "end_s"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


# --------------------------------------------------------------------------- sweeps


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


# --------------------------------------------------------------------------- lessons (Learn pages)


def lesson_image(runtime: str, catalogue: Catalogue | None = None) -> str:
    """A sensible image for a lesson on ``runtime``: a Python app, or a VM disk for a VM."""
    return natural_image(runtime, catalogue)


def _lesson(name: str, workloads: list[dict[str, Any]], *, duration_s: float, host: Any = "server-64g",
            prepull: Iterable[str] = (), actions: Iterable[dict[str, Any]] = (), seed: int = 1) -> Scenario:
    data: dict[str, Any] = {"name": name, "duration_s": duration_s, "seed": seed, "host": host,
                            "daemon": {"prepull": list(prepull)}, "workloads": workloads,
                            "actions": list(actions)}
    return parse_scenario(data, source=f"lesson {name}")


def lesson_image_vs_container(image: str, containers: int, writable_mib: float = 10.0) -> Scenario:
    """Start ``containers`` containers of one image on a host that does not have it yet."""
    return _lesson("image-vs-container", [{
        "name": "app", "runtime": "runc", "image": image, "mem_mib": 64, "cpu": 0.05,
        "writable_mib": float(writable_mib),
        "arrival": {"kind": "burst", "count": int(containers)}, "lifetime": {"kind": "forever"}}],
        duration_s=300.0)


def lesson_kernel(runtime: str, instances: int, mem_mib: float) -> Scenario:
    """``instances`` copies of one small app on ``runtime`` (image cached), to read the RAM it takes.

    The host has room for all of them (at least 64 GiB, more when they need it), so the RAM
    shown is what the request takes, never what happened to fit.
    """

    img = lesson_image(runtime)

    def build(host: Any) -> Scenario:
        return _lesson(f"kernel-{runtime}", [{
            "name": "app", "runtime": runtime, "image": img, "mem_mib": float(mem_mib), "cpu": 0.05,
            "vm_disk": "overlay", "arrival": {"kind": "interval", "every_s": 2.0},
            "max_instances": int(instances), "lifetime": {"kind": "forever"}}],
            duration_s=2.0 * instances + 60.0, prepull=[img], host=host)

    host = {"cpu_cores": 64.0, "ram_mib": 65536.0, "disk_gib": 4000.0, "disk_mb_s": 1000.0, "net_mb_s": 125.0}
    per = density_one(build(host), "app", runtime)["per_instance"]["ram_mib"]
    host["ram_mib"] = max(65536.0, 1024.0 * math.ceil(per * instances * 1.05 / 1024.0))
    return build(host)


def lesson_startup(runtime: str, cached: bool) -> Scenario:
    """Five starts of one instance at a time on an idle host, with or without the image cached."""
    img = lesson_image(runtime)
    return _lesson(f"startup-{runtime}", [{
        "name": "app", "runtime": runtime, "image": img, "mem_mib": 256, "cpu": 0.1,
        "vm_disk": "overlay", "arrival": {"kind": "interval", "every_s": 60.0}, "max_instances": 5,
        "lifetime": {"kind": "fixed", "s": 30.0}}],
        duration_s=330.0, prepull=[img] if cached else [])


def lesson_burst(runtime: str, count: int, cpu_cores: float) -> Scenario:
    """``count`` starts requested at once on a host with ``cpu_cores`` cores (image cached)."""
    img = lesson_image(runtime)
    host = {"cpu_cores": float(cpu_cores), "ram_mib": 524288, "disk_gib": 2000, "disk_mb_s": 1000,
            "net_mb_s": 125}
    return _lesson(f"burst-{runtime}", [{
        "name": "app", "runtime": runtime, "image": img, "mem_mib": 128, "cpu": 0.0,
        "vm_disk": "overlay", "arrival": {"kind": "burst", "count": int(count)},
        "lifetime": {"kind": "forever"}}],
        duration_s=600.0, host=host, prepull=[img])


def lesson_layers(images: Iterable[str], gap_s: float = 60.0) -> Scenario:
    """One container of each image, a minute apart, on an empty host: later pulls reuse layers."""
    workloads = [{"name": f"{i}-{img.split(':')[0]}", "runtime": "runc", "image": img, "mem_mib": 64,
                  "arrival": {"kind": "burst", "count": 1, "at_s": i * gap_s},
                  "lifetime": {"kind": "forever"}} for i, img in enumerate(images)]
    return _lesson("layers", workloads, duration_s=max(len(workloads), 1) * gap_s + 60.0)


def lesson_lifecycle(instances: int, lifetime_s: float, host_ram_mib: float) -> Scenario:
    """A handful of containers on a small host: some wait for room, one is paused and resumed."""
    host = {"cpu_cores": 4, "ram_mib": float(host_ram_mib), "disk_gib": 64, "disk_mb_s": 200,
            "net_mb_s": 62.5}
    actions = [{"at_s": 8.0, "op": "pause", "workload": "app", "instance": 0},
               {"at_s": 14.0, "op": "unpause", "workload": "app", "instance": 0}]
    return _lesson("lifecycle", [{
        "name": "app", "runtime": "runc", "image": "python:3.12-slim", "mem_mib": 1024, "cpu": 0.5,
        "arrival": {"kind": "interval", "every_s": 2.0}, "max_instances": int(instances),
        "lifetime": {"kind": "fixed", "s": float(lifetime_s)}}],
        duration_s=2.0 * instances + float(lifetime_s) + 30.0, host=host, actions=actions)


MIXED_PARTS = ("containers", "microvms", "qemu")


def lesson_mixed(containers: int, microvms: int, *, cpu_cores: float = 16.0, qemu_copies: int = 0,
                 microvm_disk: str = "overlay", only: Iterable[str] = MIXED_PARTS) -> Scenario:
    """A mixed deploy on one host: ``containers`` runc containers under dockerd requested at once
    at 0 s, ``microvms`` Firecracker microVMs (each behind its own API socket) requested at 1 s,
    and ``qemu_copies`` QEMU VMs under libvirt whose disks are full copies, requested at 0 s.

    Every image is cached, every instance runs to the horizon; ``only`` keeps some of the three
    groups (the same group alone is the baseline: same arrivals, same host, only the neighbours
    differ). The host has 64 GiB, 500 MB/s of disk and ``cpu_cores`` cores at cpu_speed 1.0.
    """
    keep = set(only)
    host = {"cpu_cores": float(cpu_cores), "ram_mib": 65536.0, "disk_gib": 400.0, "disk_mb_s": 500.0,
            "net_mb_s": 125.0, "cpu_speed": 1.0}
    groups = {
        "containers": {"name": "containers", "runtime": "runc", "image": "alpine:3.20", "mem_mib": 16,
                       "arrival": {"kind": "burst", "count": int(containers), "at_s": 0.0}},
        "microvms": {"name": "microvms", "runtime": "firecracker", "image": "firecracker-rootfs",
                     "mem_mib": 16, "vm_disk": microvm_disk,
                     "arrival": {"kind": "burst", "count": int(microvms), "at_s": 1.0}},
        "qemu": {"name": "qemu", "runtime": "qemu-kvm", "image": "ubuntu-24.04-cloud", "mem_mib": 256,
                 "guest_mem_mib": 1024, "vm_disk": "copy",
                 "arrival": {"kind": "burst", "count": int(qemu_copies), "at_s": 0.0}},
    }
    workloads = [dict(w, lifetime={"kind": "forever"}) for k, w in groups.items()
                 if k in keep and w["arrival"]["count"] > 0]
    return _lesson("mixed-deploy", workloads, duration_s=400.0, host=host,
                   prepull=["alpine:3.20", "firecracker-rootfs", "ubuntu-24.04-cloud"])


def copy_on_write(image: str, containers: int, copied_up_mib: float, own_mib: float = 10.0,
                  catalogue: Catalogue | None = None) -> pd.DataFrame:
    """What each container sees and what the disk holds: the image's read-only layers (shared,
    stored once), and per container a writable layer with its own files and the copied-up file."""

    img = Image.from_spec((catalogue or default_catalogue()).images[image])
    rows = []
    for i in range(1, int(containers) + 1):
        who = f"container {i}"
        rows += [{"who": who, "part": "image layers (read-only, shared)", "MiB": img.disk_mib, "order": 0},
                 {"who": who, "part": "writable layer: new files", "MiB": own_mib, "order": 1},
                 {"who": who, "part": "writable layer: copied-up file", "MiB": copied_up_mib, "order": 2}]
    rows += [{"who": "host disk", "part": "image layers (read-only, shared)", "MiB": img.disk_mib, "order": 0},
             {"who": "host disk", "part": "writable layer: new files", "MiB": own_mib * containers, "order": 1},
             {"who": "host disk", "part": "writable layer: copied-up file", "MiB": copied_up_mib * containers,
              "order": 2}]
    return pd.DataFrame(rows)


def image_sizes(images: Iterable[str], catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Per image: its download and unpacked size, and how much of it is layers shared with the others."""

    cat = catalogue or default_catalogue()
    imgs = [Image.from_spec(cat.images[n]) for n in images]
    g = layer_graph(imgs)
    rows = []
    for img in imgs:
        shared = sum(layer.disk_mib for layer in img.layers if len(g.nodes[layer.id]["images"]) > 1)
        rows.append({"image": img.name, "layers": len(img.layers), "download_mib": img.download_mib,
                     "disk_mib": img.disk_mib, "shared_disk_mib": shared})
    return pd.DataFrame(rows)


def layer_nodes(images: Iterable[str], catalogue: Catalogue | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The layer graph of ``images`` laid out for a chart: nodes (x = depth, y = lane) and edges."""

    cat = catalogue or default_catalogue()
    view = graph_view(Image.from_spec(cat.images[n]) for n in images)
    nodes = pd.DataFrame(view["nodes"])
    if nodes.empty:
        return nodes, pd.DataFrame(columns=["x", "y", "x2", "y2"])
    nodes["y"] = nodes.groupby("depth").cumcount()
    nodes["used_by"] = nodes["images"].map(", ".join)
    pos = nodes.set_index("id")[["depth", "y"]]
    edges = pd.DataFrame([{"x": pos.at[e["parent"], "depth"], "y": pos.at[e["parent"], "y"],
                           "x2": pos.at[e["child"], "depth"], "y2": pos.at[e["child"], "y"]}
                          for e in view["edges"]], columns=["x", "y", "x2", "y2"])
    return nodes.drop(columns=["images"]), edges





# --------------------------------------------------------------------------- memory: overcommit, OOM risk, lessons


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


def lesson_packing(n: int, working_set_mib: float, peak_mib: float, guest_mib: float, file_pages_mib: float,
                   shared_fraction: float, ksm_s: float, vm_runtime: str = "qemu-kvm",
                   catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Host memory of ``n`` like instances of one app, six ways (the density lesson):
    - containers (runc): each its working set + runc's overhead; the image's file pages (libraries,
      binaries: ``file_pages_mib``) are one copy in the host's page cache, shared by all;
    - VMs with guest RAM reserved up front (preallocated): each its whole guest RAM + the VMM;
    - VMs as KVM gives memory (lazily): each the pages its guest touched (guest OS + the app's peak
      since boot + its own page cache of the same files, at most the guest RAM) + the VMM;
    - the same with a balloon returning idle guest pages: the app's current working set, not its peak;
    - the lazy VMs after ``ksm_s`` of KSM merging ``shared_fraction`` of their pages
      (:func:`simcontainer.model.memory.ksm_curve`), and with a balloon too.

    Per row: ``MiB`` for all ``n`` and ``per_instance_mib``."""

    cat = catalogue or default_catalogue()
    rts = {name: spec for name, spec in cat.runtimes.items()}
    runc = rts["runc"]
    vm = rts[vm_runtime]

    def field(spec: Any, name: str, default: float = 0.0) -> float:
        v = spec.get(name) if isinstance(spec, Mapping) else getattr(spec, name, None)
        return float(v) if v is not None else default

    c_over, vmm, guest_os = field(runc, "mem_overhead_mib"), field(vm, "mem_overhead_mib"), field(vm, "guest_os_mib")
    peak = max(peak_mib, working_set_mib)
    touched = min(guest_mib, guest_os + peak + file_pages_mib)
    ballooned = min(guest_mib, guest_os + working_set_mib + file_pages_mib)

    def ksm(per: float) -> float:
        return float(ksm_curve(n, per, shared_fraction, horizon_s=ksm_s, overhead_mib=vmm,
                               step_s=max(ksm_s, 1.0))["host_mib"].iloc[-1])

    rows = [("containers (runc): working set each, image files once", n * (working_set_mib + c_over) + file_pages_mib),
            ("VMs, guest RAM reserved up front", n * (guest_mib + vmm)),
            ("VMs, lazy: touched guest pages", n * (touched + vmm)),
            ("VMs, lazy + balloon", n * (ballooned + vmm)),
            (f"VMs, lazy + KSM after {ksm_s:g} s", ksm(touched)),
            (f"VMs, lazy + balloon + KSM after {ksm_s:g} s", ksm(ballooned))]
    df = pd.DataFrame(rows, columns=["how", "MiB"])
    df["per_instance_mib"] = df["MiB"] / max(n, 1)
    return df


def throttled_latency_ms(work_ms: float, busy_cores: float, limit_cores: float | None,
                         period_ms: float = 100.0) -> float:
    """Wall time of one request needing ``work_ms`` of CPU on one thread while the app keeps
    ``busy_cores`` cores busy (at least its one thread), under a CFS limit of ``limit_cores``
    (quota = limit x period; None: no limit). The cgroup spends its quota at ``busy_cores`` per ms,
    so each period the request's thread runs quota / busy ms (at most the period) and then waits,
    throttled, for the next period."""
    if work_ms <= 0:
        return 0.0
    busy = max(1.0, float(busy_cores))
    if limit_cores is None or limit_cores >= busy:
        return float(work_ms)
    run = min(period_ms, limit_cores * period_ms / busy)
    full = math.ceil(work_ms / run) - 1
    return full * period_ms + (work_ms - full * run)


def throttle_frame(cpu: float, work_ms: float, limits: Iterable[float] = (0.25, 0.5, 1.0, 2.0),
                   period_ms: float = 100.0) -> pd.DataFrame:
    """:func:`simcontainer.model.memory.throttle_table` with each limit's request latency
    (:func:`throttled_latency_ms`) and the latency without a limit beside it."""

    df = throttle_table(float(cpu), tuple(float(x) for x in limits), period_ms)
    df["latency_ms"] = [throttled_latency_ms(work_ms, cpu, lim, period_ms) for lim in df["limit_cores"]]
    df["unlimited_latency_ms"] = float(work_ms)
    df["throttled_ms"] = df["latency_ms"] - float(work_ms)
    return df


# --------------------------------------------------------------------------- sweeps, step by step


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


def bootstrap_ci(values: np.ndarray, level: float = 0.95, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: always inside the values' range, so a latency's
    interval never crosses zero (a t interval on three replications can). NaN for n < 2."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(draws, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def sweep_summary(runs: pd.DataFrame, axes: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per point and metric: runs, runs with a value (a latency has none when nothing started),
    mean, and a 95 % percentile-bootstrap interval of the mean."""
    rows = []
    for point, g in runs.groupby("point", sort=True):
        first = g.iloc[0]
        for m in metrics:
            if m not in g:
                continue
            v = pd.to_numeric(g[m], errors="coerce").to_numpy(dtype=float)
            ok = v[np.isfinite(v)]
            lo, hi = bootstrap_ci(ok, seed=int(point))
            rows.append({"point": int(point), **{a: first[a] for a in axes}, "metric": m, "runs": len(v),
                         "n": int(ok.size), "mean": float(ok.mean()) if ok.size else math.nan,
                         "ci95_low": lo, "ci95_high": hi})
    return pd.DataFrame(rows, columns=["point", *axes, "metric", "runs", "n", "mean", "ci95_low", "ci95_high"])


def eta_s(done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the pace so far; None before the first run finishes."""
    if done <= 0 or elapsed_s <= 0:
        return None
    return elapsed_s / done * (total - done)


__all__ = [
    "ARRIVAL_KINDS", "COLUMNS", "LIFETIME_KINDS", "MIXED_PARTS", "bootstrap_ci", "canonical", "copy_on_write",
    "decode_scenario", "default_scenario", "encode_scenario", "eta_s", "gantt_frame", "image_sizes",
    "layer_nodes", "lesson_burst", "lesson_packing", "oom_risk_counts", "oom_risk_frame",
    "oom_risk_instance_hours", "oom_risk_refusal", "with_admission", "ADMISSION_WORDS", "throttle_frame", "throttled_latency_ms", "with_memory_overcommit", "lesson_image", "lesson_image_vs_container", "lesson_kernel",
    "lesson_layers", "lesson_lifecycle", "lesson_mixed", "lesson_startup", "read_scenario_text", "resample_steps",
    "scenario_from_inputs", "sweep", "sweep_choices", "sweep_parameters", "sweep_spec", "sweep_summary",
    "sweep_toml", "sweep_values", "with_values", "workloads_table",
]
