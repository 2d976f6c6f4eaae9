"""Plain helpers behind the app's what-if planner: no Streamlit here, only the library.

The planner edits a scenario through a table of workloads and a few host fields, runs it, and
states the answer in a sentence. Everything a view would otherwise compute lives here so that it
is tested without a browser:

- the editable table of a scenario's workloads and the way back (:func:`workloads_table`,
  :func:`scenario_from_inputs`),
- a what-if carried in a URL (:func:`encode_scenario`, :func:`decode_scenario`),
- reading a pasted or uploaded scenario with every problem listed (:func:`read_scenario_text`),
- the per-runtime comparison, its tidy tables for charts and the plain answer
  (:func:`compare_plan`, :func:`runtime_rows`, :func:`answer`),
- a simple local sweep used until :mod:`simcontainer.sweep` exists (:func:`sweep`).
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simcontainer.errors import ScenarioError
from simcontainer.metrics import PHASE_SPANS
from simcontainer.profiles import Catalogue, default_catalogue, models_dir
from simcontainer.scenario import (
    Scenario,
    dumps_scenario,
    load_scenario,
    loads_scenario,
    parse_scenario,
)

PHASES = tuple(PHASE_SPANS)   # the startup phases, in order (defined with the result JSON)
COLUMNS = ("name", "runtime", "image", "cpu", "mem_mib", "guest_mem_mib", "arrival", "rate_per_s",
           "count", "at_s", "lifetime", "lifetime_s")
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
        })
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for c in ("guest_mem_mib", "rate_per_s", "at_s", "lifetime_s"):
        df[c] = df[c].astype("float64")
    df["count"] = df["count"].astype("Int64")
    return df


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
    return w


def scenario_from_inputs(base: Scenario, table: pd.DataFrame | Iterable[Mapping[str, Any]], *,
                         host: Mapping[str, Any] | None = None, preset: str | None = None,
                         count: int | None = None, duration_s: float | None = None,
                         seed: int | None = None, catalogue: Catalogue | None = None) -> Scenario:
    """The base scenario with the edited workload table and host; raises :class:`ScenarioError`.

    ``preset`` picks a host preset; otherwise ``host`` gives the fields by hand. Rows are matched
    to the base's workloads by name so that fields the table does not show (``ready_s``,
    ``vm_disk``, ``writable_mib``, a trace path) carry over; empty rows are skipped.
    """
    data = base.to_dict()
    rows = table.to_dict("records") if isinstance(table, pd.DataFrame) else [dict(r) for r in table]
    rows = [r for r in rows if not all(_blank(r.get(c)) for c in COLUMNS)]
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
    return parse_scenario(data, base_dir=base.base_dir, catalogue=catalogue, source="what-if")


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


# --------------------------------------------------------------------------- comparing runtimes

RUNTIME_LABELS = {
    "runc": ("runc container", "host kernel"),
    "crun": ("crun container", "host kernel"),
    "gvisor": ("gVisor container", "user-space kernel"),
    "kata": ("Kata container", "guest kernel, light VM"),
    "firecracker": ("Firecracker microVM", "guest kernel"),
    "qemu-kvm": ("QEMU VM", "guest kernel"),
    "cloud-hypervisor": ("Cloud Hypervisor VM", "guest kernel"),
}


def runtime_label(runtime: str, n: int | None = 2, kernel: bool = False) -> str:
    """'QEMU VMs', 'gVisor container (user-space kernel)': what an instance on ``runtime`` is."""
    word, which = RUNTIME_LABELS.get(runtime, (f"{runtime} instance", ""))
    if n != 1:
        word += "s"
    # a sandboxed "container" always says which kernel it runs: it is not the host's
    sandboxed = word.split()[-1].startswith("container") and which not in ("", "host kernel")
    return f"{word} ({which})" if (kernel or sandboxed) and which else word


def runtimes_in(scenario: Scenario) -> list[str]:
    """The runtimes the scenario's workloads use, in order of first use."""
    return list(dict.fromkeys(w.runtime for w in scenario.workloads))


def compatible(scenario: Scenario, workload: Any, runtime: str,
               catalogue: Catalogue | None = None) -> bool:
    """Can ``runtime`` run this workload's image as it is? (A container runtime cannot boot a VM disk.)"""
    rt = scenario.runtime_table(catalogue)[runtime]
    img = scenario.image_table(catalogue)[workload.image]
    return (rt.kind == "vm") == (img.kind == "vm")


FALLBACK_IMAGE = {"container": "python:3.12-slim", "vm": "ubuntu-24.04-cloud"}


def moved(scenario: Scenario, workload: str, runtime: str,
          catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The workload as it runs on ``runtime``: its fields with the image, disk mode and guest RAM fitted.

    Everything the workload asks for (CPU, memory, arrivals, lifetime) stays. When the runtime
    needs another kind of image (a VM boots a disk image, a container runtime a container image),
    it takes the image, disk mode and guest RAM of the mix's first workload on that runtime, else
    the first image of that kind in the mix (never a container image copied as a VM disk). A VM
    disk mode is the same for every VM runtime of one workload: the workload's own, else the mix's
    first VM workload's, else overlay.
    """
    rts, imgs = scenario.runtime_table(catalogue), scenario.image_table(catalogue)
    data = next(w for w in scenario.to_dict()["workloads"] if w["name"] == workload)
    if data["runtime"] == runtime:
        return data
    kind = "vm" if rts[runtime].kind == "vm" else "container"
    own_kind = "vm" if imgs[data["image"]].kind == "vm" else "container"
    vm_workloads = [w for w in scenario.workloads if rts[w.runtime].kind == "vm"]
    same_rt = next((w for w in scenario.workloads if w.runtime == runtime), None)
    data["runtime"] = runtime
    if kind != own_kind:
        if same_rt is not None:
            data["image"] = same_rt.image
        else:
            data["image"] = next((w.image for w in scenario.workloads
                                  if (imgs[w.image].kind == "vm") == (kind == "vm")), None) \
                or (lesson_image(runtime, catalogue) if kind == "vm" else FALLBACK_IMAGE[kind])
    if kind == "vm":
        if own_kind != "vm":
            data["vm_disk"] = vm_workloads[0].vm_disk if vm_workloads else "overlay"
            data["guest_mem_mib"] = same_rt.guest_mem_mib if same_rt is not None else None
    else:
        data["guest_mem_mib"] = None
    return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Cell:
    """One row of the like-for-like comparison: one workload of the mix, alone, on one runtime."""

    workload: str
    runtime: str
    scenario: Scenario       # the workload alone on the same host(s), moved to ``runtime``
    image: str
    vm_disk: str | None      # None for a container
    own: bool                # the runtime is the one the mix gives the workload


def like_for_like(scenario: Scenario, workloads: Iterable[str], runtimes: Iterable[str],
                  catalogue: Catalogue | None = None) -> tuple[list[Cell], list[str]]:
    """Each of ``workloads`` alone on the same host(s) on each of ``runtimes``; notes on what was left out.

    Every runtime runs the same workload with the same arrivals, lifetime, seed and host, and
    (for VMs) the same disk mode; only the runtime, and the image kind it needs, change. So a row
    compares runtimes, never a deploy with a churn.
    """
    known = scenario.runtime_table(catalogue)
    names = {w.name for w in scenario.workloads}
    notes = [f"{r}: unknown runtime (allowed: {', '.join(sorted(known))})"
             for r in dict.fromkeys(runtimes) if r not in known]
    notes += [f"{w}: no such workload in the mix" for w in dict.fromkeys(workloads) if w not in names]
    data = scenario.to_dict()
    prepulled = set(data.get("daemon", {}).get("prepull", []))
    cells = []
    for wname in (w.name for w in scenario.workloads if w.name in set(workloads)):
        own_image = next(w.image for w in scenario.workloads if w.name == wname)
        for rt in (r for r in dict.fromkeys(runtimes) if r in known):
            w = moved(scenario, wname, rt, catalogue)
            one = dict(data, workloads=[w], actions=[a for a in data.get("actions", [])
                                                    if a.get("workload") == wname])
            if own_image in prepulled:      # the same cache state as the workload has in the mix
                one["daemon"] = dict(data["daemon"], prepull=sorted(prepulled | {w["image"]}))
            s = parse_scenario(one, base_dir=scenario.base_dir, catalogue=catalogue,
                               source=f"{scenario.name}: {wname} on {rt}")
            cells.append(Cell(wname, rt, s, w["image"], w.get("vm_disk") if known[rt].kind == "vm" else None,
                              rt == next(x.runtime for x in scenario.workloads if x.name == wname)))
    return cells, notes


def _ready(instances: pd.DataFrame, workloads: Iterable[str]) -> pd.DataFrame:
    sel = instances["workload"].astype(str).isin(list(workloads)) & instances["t_ready"].notna()
    return instances.loc[sel]


def startup_samples(instances: pd.DataFrame, workloads: Iterable[str]) -> np.ndarray:
    """Startup latencies (request to ready, seconds) of the instances of ``workloads`` that got ready."""
    return _ready(instances, workloads)["startup_s"].to_numpy(dtype=float)


def phase_means(instances: pd.DataFrame, workloads: Iterable[str]) -> dict[str, float | None]:
    """Mean seconds per startup phase over the ready instances of ``workloads`` (None when none got ready)."""
    t = _ready(instances, workloads)
    if t.empty:
        return {p: None for p in PHASES}
    return {p: float((t[f"t_{end}"] - t[f"t_{start}"]).mean()) for p, (start, end) in PHASE_SPANS.items()}


STARTING_STATES = ("pulling", "created", "starting")


def workload_status(summary: Mapping[str, Any], instances: pd.DataFrame) -> pd.DataFrame:
    """Per workload: requested, started, rejected, still waiting and still starting at the horizon.

    Takes the result's own counts where it has them (``waiting_at_horizon`` ...) and counts the
    instances' states otherwise.
    """
    rows = []
    states = instances.groupby([instances["workload"].astype(str), instances["state"].astype(str)]).size()
    for name, w in summary["workloads"].items():
        st = states.get(name, pd.Series(dtype=int))
        requested = int(w.get("requested", 0))
        started = int(w.get("started", 0))
        waiting = w.get("waiting_at_horizon")
        waiting = int(st.get("waiting", 0)) if waiting is None else int(waiting)
        starting = w.get("starting_at_horizon")
        starting = int(sum(st.get(s, 0) for s in STARTING_STATES)) if starting is None else int(starting)
        rows.append({"workload": name, "runtime": w.get("runtime"), "requested": requested,
                     "started": started, "rejected": int(w.get("rejected", 0)),
                     "completed": int(w.get("completed", 0)), "waiting": waiting,
                     "starting": starting, "never_started": int(w.get("never_started", requested - started))})
    return pd.DataFrame(rows, columns=["workload", "runtime", "requested", "started", "rejected", "completed",
                                       "waiting", "starting", "never_started"])


def _pct(x: np.ndarray, q: float) -> float | None:
    return float(np.percentile(x, q)) if x.size else None


def cell_rows(cells: list[Cell], dens: Mapping[tuple[str, str], Mapping[str, Any]],
              results: Mapping[tuple[str, str], Mapping[str, Any]],
              catalogue: Catalogue | None = None) -> pd.DataFrame:
    """One row per workload x runtime: what fits, what binds, overhead, requested / started, startup.

    ``dens[(workload, runtime)]`` is the closed-form density of that cell and
    ``results[(workload, runtime)]`` its run (``summary`` and ``instances``). Startup figures are
    None when nothing started.
    """
    rows = []
    for c in cells:
        key = (c.workload, c.runtime)
        d, res = dens.get(key, {}), results[key]
        status = workload_status(res["summary"], res["instances"]).iloc[0]
        x = startup_samples(res["instances"], [c.workload])
        kind = c.scenario.runtime_table(catalogue)[c.runtime].kind
        rows.append({
            "workload": c.workload, "runtime": c.runtime, "kind": kind, "image": c.image,
            "vm_disk": c.vm_disk, "own": c.own,
            "fits": d.get("fits"), "binding": d.get("binding"),
            "ram_per_instance_mib": (d.get("per_instance") or {}).get("ram_mib"),
            "ram_overhead_share": (d.get("overhead_share") or {}).get("ram"),
            "requested": int(status["requested"]), "started": int(status["started"]),
            "waiting": int(status["waiting"]),
            "startup_p50_s": _pct(x, 50), "startup_p95_s": _pct(x, 95),
            **{f"{k}_s": v for k, v in phase_means(res["instances"], [c.workload]).items()},
        })
    out = pd.DataFrame(rows)
    for col in ("fits", "ram_per_instance_mib", "ram_overhead_share", "startup_p50_s", "startup_p95_s",
                *(f"{p}_s" for p in PHASES)):
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


def ecdf_frame(cells: list[Cell], results: Mapping[tuple[str, str], Mapping[str, Any]],
               max_points: int = 300) -> pd.DataFrame:
    """Long table (workload, runtime, startup_s, fraction) of each cell's startup ECDF, thinned for drawing.

    The fraction is of the requests, not of the starts: a runtime where half never started tops
    out at 0.5.
    """
    parts = []
    for c in cells:
        res = results[(c.workload, c.runtime)]
        x = np.sort(startup_samples(res["instances"], [c.workload]))
        requested = int(res["summary"]["workloads"][c.workload].get("requested", x.size)) or x.size
        if not x.size:
            continue
        frac = np.arange(1, x.size + 1) / max(requested, x.size)
        if x.size > max_points:
            idx = np.unique(np.linspace(0, x.size - 1, max_points).round().astype(int))
            x, frac = x[idx], frac[idx]
        parts.append(pd.DataFrame({"workload": c.workload, "runtime": c.runtime, "startup_s": x,
                                   "fraction": frac}))
    cols = ["workload", "runtime", "startup_s", "fraction"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def phases_long(rows: pd.DataFrame) -> pd.DataFrame:
    """Long table (runtime, phase, seconds) for stacked bars of the startup breakdown."""
    out = rows.melt(id_vars=["runtime"], value_vars=[f"{p}_s" for p in PHASES],
                    var_name="phase", value_name="seconds").dropna(subset=["seconds"])
    out["phase"] = out["phase"].str.removesuffix("_s")
    out["order"] = out["phase"].map({p: i for i, p in enumerate(PHASES)})
    return out


def resample_steps(ts: pd.DataFrame, horizon: float, points: int = 400) -> pd.DataFrame:
    """A step time series (value holds until the next row) sampled on a regular grid."""
    grid = np.linspace(0.0, horizon, points)
    idx = np.searchsorted(ts["time_s"].to_numpy(), grid, side="right") - 1
    idx = np.clip(idx, 0, len(ts) - 1)
    out = ts.iloc[idx].reset_index(drop=True).copy()
    out["time_s"] = grid
    return out


# --------------------------------------------------------------------------- what did not start


def short_of(scenario: Scenario, status: pd.DataFrame, workload: str,
             catalogue: Catalogue | None = None) -> list[str]:
    """The resources one more instance of ``workload`` lacks, given what runs at the horizon.

    Sums the per-instance demand of what is running (started minus ended) on the host(s) and
    adds one more of ``workload``; returns the resources (``RAM``, ``CPU``, ``disk``) it exceeds.
    """
    from simcontainer.density import density_one
    from simcontainer.engine import image_table

    cat = catalogue or default_catalogue()
    h = scenario.host
    cap = {"RAM": h.ram_mib * h.count, "CPU": h.cpu_cores * (h.cpu_overcommit or 1.0) * h.count,
           "disk": h.disk_gib * 1024.0 * h.count}
    used = dict.fromkeys(cap, 0.0)
    per: dict[str, dict[str, float]] = {}
    images: set[str] = set()
    for w in scenario.workloads:
        d = density_one(scenario, w.name, w.runtime, cat)["per_instance"]
        per[w.name] = {"RAM": d["ram_mib"], "CPU": d["cpu"], "disk": d["disk_mib"]}
        row = status[status["workload"] == w.name]
        running = int(row["started"].iloc[0] - row["completed"].iloc[0]) if len(row) else 0
        for r in used:
            used[r] += per[w.name][r] * running
        images.add(w.image)
    table = image_table(scenario, cat)
    used["disk"] += sum(table[i].disk_mib for i in images)
    return [r for r in cap if used[r] + per[workload][r] > cap[r] + 1e-9]


def not_started(scenario: Scenario, status: pd.DataFrame, catalogue: Catalogue | None = None) -> list[str]:
    """A sentence per workload that did not all start: '0 of 20 QEMU VMs started: RAM (20 still waiting)'."""
    out = []
    for _, r in status.iterrows():
        if r["never_started"] <= 0:
            continue
        lack = short_of(scenario, status, r["workload"], catalogue) if r["waiting"] else []
        if r["waiting"] and not lack:   # FIFO admission: blocked behind a request that does not fit
            ahead = [str(o["workload"]) for _, o in status.iterrows()
                     if o["waiting"] and o["workload"] != r["workload"]
                     and short_of(scenario, status, o["workload"], catalogue)]
            if ahead:
                lack = [f"queued behind {' and '.join(ahead)} (first come, first served)"]
        why = []
        if r["waiting"]:
            why.append(f"{int(r['waiting'])} still waiting at the horizon")
        if r["rejected"]:
            why.append(f"{int(r['rejected'])} rejected")
        if r["starting"]:
            why.append(f"{int(r['starting'])} still starting")
        reason = (" and ".join(lack) if lack else "") or ("no room left" if r["waiting"] else "")
        head = (f"{int(r['started'])} of {int(r['requested'])} {runtime_label(str(r['runtime']), int(r['requested']))} "
                f"of {r['workload']} started")
        out.append(head + (f": {reason}" if reason else "") + (f" ({', '.join(why)})." if why else "."))
    return out


# --------------------------------------------------------------------------- the answer


def fmt_s(x: float | None) -> str:
    """Seconds for a sentence: 0.38 s, 2.8 s, 11 s; "—" when there is no figure (nothing started)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x < 1:
        return f"{x:.2f} s"
    if x < 10:
        return f"{x:.1f} s"
    return f"{x:.0f} s"


def _binds(r: Mapping[str, Any]) -> str:
    return str(r["binding"]).upper()


def answer(rows: pd.DataFrame, hosts: int = 1) -> list[str]:
    """Plain sentences with the answer for one workload's rows: what binds where, what did not
    start, and how fast each runtime starts it."""
    if rows.empty:
        return ["Nothing to compare: pick at least one runtime."]
    where = "one host" if hosts == 1 else f"{hosts} hosts"
    wl = str(rows["workload"].iloc[0]) if "workload" in rows else "the workload"
    fit = rows.dropna(subset=["fits"]).sort_values("fits", kind="stable")
    parts = []
    if len(fit) == 1:
        r = fit.iloc[0]
        parts.append(f"On {where}, {r['runtime']} fits {int(r['fits'])} {runtime_label(r['runtime'], int(r['fits']))} "
                     f"of {wl} before {_binds(r)} binds "
                     f"({r['ram_overhead_share']:.0%} of their RAM is overhead).")
    elif len(fit) > 1:
        lo, hi = fit.iloc[0], fit.iloc[-1]
        s = (f"On {where}, {_binds(lo)} binds at {int(lo['fits'])} {runtime_label(lo['runtime'], int(lo['fits']))} "
             f"of {wl} ({lo['ram_overhead_share']:.0%} of their RAM is overhead); "
             f"{hi['runtime']} fits {int(hi['fits'])} before {_binds(hi)} binds")
        mid = fit.iloc[1:-1]
        if len(mid):
            s += "; " + ", ".join(f"{r['runtime']} {int(r['fits'])} ({_binds(r)})" for _, r in mid.iterrows())
        parts.append(s + ".")
    if "requested" in rows:
        short = rows[rows["started"] < rows["requested"]]
        for _, r in short.iterrows():
            why = _binds(r) if pd.notna(r.get("fits")) and r["fits"] < r["requested"] else "not yet at the horizon"
            parts.append(f"{int(r['started'])} of {int(r['requested'])} {runtime_label(r['runtime'], int(r['requested']))} "
                         f"started: {why}.")
    fast = rows.dropna(subset=["startup_p95_s"]).sort_values("startup_p95_s", kind="stable")
    if len(fast) == 1:
        r = fast.iloc[0]
        parts.append(f"p95 startup {fmt_s(r['startup_p95_s'])} (median {fmt_s(r['startup_p50_s'])}).")
    elif len(fast) > 1:
        parts.append("p95 startup " + " vs ".join(f"{fmt_s(r['startup_p95_s'])} ({r['runtime']})"
                                                  for _, r in fast.iterrows()) + ".")
    return parts


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
        "daemon.api_workers": d.api_workers, "daemon.max_concurrent_downloads": d.max_concurrent_downloads,
    }
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
    from simcontainer.sweep_design import apply

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
    """A grid over ``axes`` x replications in this process: ``(runs, summary)`` of :mod:`simcontainer.sweep`."""
    from simcontainer.sweep import parse_sweep, run_sweep

    spec = parse_sweep({"replications": int(replications), "mode": "grid",
                        "axes": {k: list(v) for k, v in axes.items()}}, base_scenario=scenario)
    res = run_sweep(spec, workers=1, progress=progress)
    return res.runs, res.summary


# --------------------------------------------------------------------------- lessons (Learn pages)


def lesson_image(runtime: str, catalogue: Catalogue | None = None) -> str:
    """A sensible image for a lesson on ``runtime``: a Python app, or a VM disk for a VM."""
    rt = (catalogue or default_catalogue()).runtimes[runtime]
    if rt.kind == "container":
        return "python:3.12-slim"
    return "firecracker-rootfs" if runtime == "firecracker" else "ubuntu-24.04-cloud"


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
    from simcontainer.density import density_one

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


def copy_on_write(image: str, containers: int, copied_up_mib: float, own_mib: float = 10.0,
                  catalogue: Catalogue | None = None) -> pd.DataFrame:
    """What each container sees and what the disk holds: the image's read-only layers (shared,
    stored once), and per container a writable layer with its own files and the copied-up file."""
    from simcontainer.images import Image

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
    from simcontainer.images import Image, layer_graph

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
    from simcontainer.images import Image, graph_view

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


__all__ = [
    "COLUMNS", "PHASES", "Cell", "answer", "canonical", "cell_rows", "decode_scenario",
    "default_scenario", "ecdf_frame", "encode_scenario", "fmt_s", "gantt_frame", "like_for_like",
    "moved", "not_started", "phase_means", "phases_long", "runtime_label", "workload_status",
    "read_scenario_text", "resample_steps", "runtimes_in", "scenario_from_inputs", "startup_samples", "sweep",
    "sweep_parameters", "sweep_values", "with_values", "workloads_table", "image_sizes", "layer_nodes",
    "lesson_burst", "lesson_image", "lesson_image_vs_container", "lesson_kernel", "lesson_layers",
    "lesson_lifecycle", "lesson_startup", "copy_on_write", "shown_rows",
]


# --------------------------------------------------------------------------- tables for people

SHOWN = {
    "workload": "Workload", "runtime": "Runtime", "kernel": "Kernel", "image": "Image",
    "vm_disk": "VM disk", "fits": "Fit", "binding": "Binds", "ram_per_instance_mib": "MiB each",
    "ram_overhead_share": "Overhead", "requested": "Asked", "started": "Started",
    "waiting": "Waiting", "startup_p50_s": "Median (s)", "startup_p95_s": "p95 startup (s)",
}


RESOURCE_NAMES = {"ram": "RAM", "cpu": "CPU", "disk": "disk"}


def _cell(v: Any, fmt: str, none: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return none
    return format(v, fmt)


def shown_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The comparison as people read it: named columns, rounded figures, blank where a field does
    not apply and "—" where a figure has no sample (nothing started)."""
    out = pd.DataFrame()
    for col, name in SHOWN.items():
        if col == "kernel":
            out[name] = [RUNTIME_LABELS.get(r, ("", ""))[1] for r in rows["runtime"]]
        elif col not in rows:
            continue
        elif col in ("workload", "runtime", "image", "binding"):
            v = rows[col].where(rows[col].notna(), "").astype(str)
            out[name] = v.map(lambda b: RESOURCE_NAMES.get(b, b)) if col == "binding" else v
        elif col == "vm_disk":      # shown with the image: "ubuntu-24.04-cloud (overlay)"
            disk = rows[col].where(rows[col].notna(), "").astype(str)
            out["Image"] = [f"{i} ({d})" if d else i for i, d in zip(out["Image"], disk)]
        elif col == "ram_overhead_share":
            out[name] = [_cell(v, ".0%") for v in rows[col]]
        elif col in ("fits", "requested", "started", "waiting", "ram_per_instance_mib"):
            out[name] = [_cell(v, ".0f") for v in rows[col]]
        else:
            out[name] = [_cell(v, ".2f", "—") for v in rows[col]]
    return out


# --------------------------------------------------------------------------- several hosts


def hosts_needed(scenario: Scenario, counts: Mapping[str, int], runtimes: Iterable[str], headroom: float = 0.2,
                 catalogue: Catalogue | None = None) -> pd.DataFrame:
    """How many hosts of the scenario's kind hold ``counts[workload]`` instances of each workload,
    every host kept ``headroom`` (a fraction) below its RAM, CPU and disk; one row per runtime.

    Each workload runs on the runtime as :func:`moved` puts it (its own image kind, the mix's disk
    mode); per-instance demand is the closed-form density's. Instances are packed first-fit
    decreasing (by their largest share of a host), so the count is a real packing, never a
    fraction; ``lower_bound`` is the fluid bound (total demand / usable capacity).
    """
    from simcontainer.density import density_one
    from simcontainer.engine import image_table

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
        cap = np.array([h.ram_mib * keep, h.cpu_cores * (h.cpu_overcommit or 1.0) * keep,
                        h.disk_gib * 1024.0 * keep - image_disk])
        items = []
        for w in s.workloads:
            d = density_one(s, w.name, rt, cat, images)["per_instance"]
            items += [np.array([d["ram_mib"], d["cpu"], d["disk_mib"]])] * int(counts[w.name])
        total = np.sum(items, axis=0)
        if (cap <= 0).any() or any((it > cap + 1e-9).any() for it in {tuple(i) for i in items}
                                   for it in [np.array(it)]):
            rows.append({"runtime": rt, "hosts": None, "lower_bound": None, "binding": "does not fit on one host",
                         "ram_per_host": None, "cpu_per_host": None})
            continue
        order = sorted(items, key=lambda it: -float(np.max(it / cap)))
        free: list[np.ndarray] = []
        for it in order:
            for i, room in enumerate(free):
                if (it <= room + 1e-9).all():
                    free[i] = room - it
                    break
            else:
                free.append(cap - it)
        n = len(free)
        share = total / (cap * n)
        rows.append({"runtime": rt, "hosts": n, "lower_bound": int(np.ceil(float(np.max(total / cap)))),
                     "binding": ("RAM", "CPU", "disk")[int(np.argmax(total / cap))],
                     "ram_per_host": float(share[0] * keep), "cpu_per_host": float(share[1] * keep)})
    return pd.DataFrame(rows, columns=["runtime", "hosts", "lower_bound", "binding", "ram_per_host", "cpu_per_host"])


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
    what = ", ".join(f"{n} × {w}" for w, n in counts.items() if n)
    parts = [f"{int(r['hosts'])} on {r['runtime']} ({r['binding']} binds)" if pd.notna(r["hosts"])
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
    rows = []
    for s in summary.get("hosts", []):
        i = int(s["index"])
        wl = by_wl.get(i, pd.Series(dtype=int)) if i in by_wl.index.get_level_values(0) else pd.Series(dtype=int)
        rows.append({"host": i, "placed": int(placed.get(i, 0)), "running": int(wl.sum()),
                     "running_by_workload": ", ".join(f"{k} {int(v)}" for k, v in wl.items()),
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


# --------------------------------------------------------------------------- sweeps, step by step


PLACEMENTS = ("first-fit", "best-fit", "spread", "image-locality")


def sweep_choices(scenario: Scenario, catalogue: Catalogue | None = None) -> dict[str, list[str]]:
    """Categorical settings a sweep can vary, by path, with the values each may take."""
    rts = scenario.runtime_table(catalogue)
    out: dict[str, list[str]] = {"daemon.placement": list(PLACEMENTS), "daemon.admission": ["queue", "reject"]}
    for w in scenario.workloads:
        out[f"workloads.{w.name}.runtime"] = sorted(r for r in rts if compatible(scenario, w, r, catalogue))
    return out


def sweep_spec(scenario: Scenario, axes: Mapping[str, list[Any]], replications: int) -> Any:
    """The validated grid (a :class:`simcontainer.sweep_design.SweepSpec`); raises ScenarioError."""
    from simcontainer.sweep_design import parse_sweep

    return parse_sweep({"replications": int(replications), "mode": "grid",
                        "axes": {k: list(v) for k, v in axes.items()}}, base_scenario=scenario)


def sweep_toml(axes: Mapping[str, list[Any]], replications: int, base_file: str) -> str:
    """A sweep file `simcontainer sweep` runs, next to the scenario saved as ``base_file``."""
    import tomli_w

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
