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
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import (
    dumps_scenario,
    load_scenario,
    loads_scenario,
    parse_scenario,
)
from simcontainer.scenario.profiles import Catalogue, models_dir
from simcontainer.scenario.schema import Scenario

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














# --------------------------------------------------------------------------- lessons (Learn pages)































# --------------------------------------------------------------------------- memory: overcommit, OOM risk, lessons
























# --------------------------------------------------------------------------- sweeps, step by step
















__all__ = ["ARRIVAL_KINDS", "COLUMNS", "LIFETIME_KINDS", "canonical", "decode_scenario", "default_scenario", "encode_scenario", "gantt_frame", "read_scenario_text", "resample_steps", "scenario_from_inputs", "workloads_table"]
