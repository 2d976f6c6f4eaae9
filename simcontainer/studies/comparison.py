"""Comparing runtimes like for like, and what a planner reads off the comparison.

No Streamlit here, only the library. A comparison runs each workload of a mix alone on the same
host(s), moved to each runtime (:func:`moved`, :func:`like_for_like`): same arrivals, lifetime,
seed, VM disk mode and, on every VM runtime, the same guest (:class:`Guest`). From those runs: one
row per workload x runtime (:func:`cell_rows`: "fits" as admission counts it, :mod:`capacity`; an
entry may be ``runtime@plane``, :func:`split_entry`), the startup ECDF (:func:`ecdf_frame`), what did
not start and why, from the run (:func:`why_short`, :func:`not_started`), the answer in sentences
(:func:`answer`) and tables with human column names (:func:`shown_rows`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simcontainer.engine.core import image_table
from simcontainer.model.host import guest_mem_mib
from simcontainer.model.metrics import PHASE_SPANS
from simcontainer.scenario.loading import parse_scenario
from simcontainer.scenario.profiles import Catalogue, default_catalogue, split_runtime
from simcontainer.scenario.schema import Scenario
from simcontainer.studies import capacity, estimates

PHASES = tuple(PHASE_SPANS)   # the startup phases, in order (defined with the result JSON)
PULL_PARTS = ("registry", "download", "extract")     # a pull's split (summary ``pull_phases_s``)
PULL_PHASES = tuple(f"pull: {p}" for p in PULL_PARTS)


def pull_split(pull_s: float | None, summary_workload: Mapping[str, Any]) -> dict[str, float | None]:
    """The mean pull phase split into registry round trips, download and extraction, in the
    proportions of the workload's ``pull_phases_s`` (which add up to its mean pull); None each when
    there is no pull figure or no split."""
    parts = summary_workload.get("pull_phases_s") or {}
    vals = [parts.get(k) for k in PULL_PARTS]
    total = sum(v for v in vals if v is not None)
    if pull_s is None or pull_s != pull_s or not total or any(v is None for v in vals):
        return {k: None for k in PULL_PARTS}
    return {k: float(pull_s) * float(v) / total for k, v in zip(PULL_PARTS, vals)}


FALLBACK_IMAGE = {"container": "python:3.12-slim", "vm": "ubuntu-24.04-cloud"}


def natural_image(runtime: str, catalogue: Catalogue | None = None) -> str:
    """The image a runtime runs by default (its profile's ``default_image``): a Python app, or a
    VM disk for a VM; a profile that names none falls back by kind."""
    rt = (catalogue or default_catalogue()).runtimes[runtime]
    return rt.default_image or FALLBACK_IMAGE[rt.kind]


# --------------------------------------------------------------------------- comparing runtimes

def runtime_words(runtime: str, catalogue: Catalogue | None = None) -> tuple[str, str]:
    """(what one instance is, which kernel it runs on) from the runtime's profile:
    ("QEMU VM", "guest kernel"); a profile without labels reads as "<name> instance"."""
    rt = (catalogue or default_catalogue()).runtimes.get(split_entry(runtime)[0])
    if rt is None or not rt.label:
        return (f"{split_entry(runtime)[0]} instance", rt.kernel_label if rt is not None else "")
    return rt.label, rt.kernel_label


def split_entry(entry: str) -> tuple[str, str | None]:
    """A compared entry: ``"runc@kubelet"`` -> ``("runc", "kubelet")``; ``"runc"`` -> ``("runc", None)``
    (the runtime's default control plane)."""
    return split_runtime(str(entry))


def kernel_of(entry: str) -> str:
    """Which kernel an instance on the runtime runs: 'host kernel', 'guest kernel' ..."""
    return runtime_words(entry)[1]


def default_plane(runtime: str, catalogue: Catalogue | None = None) -> str:
    """The control plane a runtime's profile names (``"direct"`` when it names none)."""
    rt = (catalogue or default_catalogue()).runtimes.get(split_entry(runtime)[0])
    return (rt.control_plane if rt is not None else None) or "direct"


def plane_of(entry: str, catalogue: Catalogue | None = None) -> str:
    """The control plane in front of a compared entry: the one it names, else the runtime's default."""
    rt, plane = split_entry(entry)
    return plane or default_plane(rt, catalogue)


def plane_words(plane: str, catalogue: Catalogue | None = None) -> str:
    """How a control plane reads (its profile's ``label``): 'kubelet/containerd (CRI)'."""
    spec = (catalogue or default_catalogue()).control_planes.get(plane)
    return (spec.label if spec is not None else "") or plane


def entry_label(entry: str, catalogue: Catalogue | None = None) -> str:
    """How a compared entry reads: 'runc under dockerd', 'runc under kubelet/containerd (CRI)'."""
    rt = split_entry(entry)[0]
    plane = plane_of(entry, catalogue)
    return f"{rt} under {plane_words(plane, catalogue)}"


def describe(entry: str, catalogue: Catalogue | None = None) -> str:
    """A runtime, or ``runtime@plane``, as the app lists it: 'runc (host kernel; dockerd)',
    'runc under kubelet/containerd (CRI) (host kernel)'."""
    rt, plane = split_entry(entry)
    kernel = kernel_of(rt)
    if plane is None:
        words = plane_words(default_plane(rt, catalogue), catalogue)
        return f"{rt} ({kernel + '; ' if kernel else ''}{words})"
    return entry_label(entry, catalogue) + (f" ({kernel})" if kernel else "")


def plane_choices(catalogue: Catalogue | None = None) -> list[str]:
    """``runtime@plane`` entries the app offers beside the plain runtimes: each container runtime
    under the container control planes (dockerd, kubelet) other than its default."""
    cat = catalogue or default_catalogue()
    container_planes = [p for p in ("dockerd", "kubelet") if p in cat.control_planes]
    return [f"{name}@{p}" for name, rt in sorted(cat.runtimes.items()) if rt.kind == "container"
            for p in container_planes if p != default_plane(name, cat)]


def runtime_label(runtime: str, n: int | None = 2, kernel: bool = False) -> str:
    """'QEMU VMs', 'gVisor container (user-space kernel)': what an instance on ``runtime`` is
    (a ``runtime@plane`` entry reads as its runtime)."""
    word, which = runtime_words(runtime)
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


@dataclass(frozen=True)
class Guest:
    """The guest every VM runtime of a comparison boots: one VM disk image, one guest RAM."""

    image: str
    mem_mib: float

    def words(self) -> str:
        return f"{self.image} with {self.mem_mib:,.0f} MiB guest RAM"


def default_guest(scenario: Scenario, workload: str, runtimes: Iterable[str] = (),
                  catalogue: Catalogue | None = None) -> Guest:
    """The guest a workload runs as on every VM runtime: its own when it is a VM (image and guest
    RAM as it runs now); else the mix's first VM workload's; else the first compared VM runtime's
    default image, with that runtime's guest RAM for this app (the default grown to hold app and
    guest OS)."""
    rts, imgs = scenario.runtime_table(catalogue), scenario.image_table(catalogue)
    w = next(x for x in scenario.workloads if x.name == workload)
    vm = [w] if rts[w.runtime].kind == "vm" else [x for x in scenario.workloads if rts[x.runtime].kind == "vm"]
    if vm:
        src = vm[0]
        return Guest(src.image, float(guest_mem_mib(src, rts[src.runtime], imgs[src.image])))
    names = [split_entry(r)[0] for r in runtimes]
    rt_name = next((r for r in names if r in rts and rts[r].kind == "vm"),
                   next(n for n, r in sorted(rts.items()) if r.kind == "vm"))
    image = natural_image(rt_name, catalogue)
    probe = w.model_copy(update={"runtime": rt_name, "image": image, "guest_mem_mib": None})
    return Guest(image, float(guest_mem_mib(probe, rts[rt_name], imgs[image])))


def moved(scenario: Scenario, workload: str, runtime: str,
          catalogue: Catalogue | None = None, guest: Guest | None = None) -> dict[str, Any]:
    """The workload as it runs on ``runtime``: its fields with the image, disk mode and guest RAM fitted.

    ``runtime`` may name a control plane (``"runc@kubelet"``): the workload then runs behind that
    plane and nothing else changes. A plain name keeps the workload's own plane when the runtime is
    its own, else takes the runtime's default plane.

    Everything the workload asks for (CPU, memory, arrivals, lifetime) stays. On a VM runtime it
    boots ``guest`` (default :func:`default_guest`): the same image and guest RAM on every VM
    runtime, so that a row compares VMMs, not guest sizes or guest OSes. A container runtime runs
    the workload's own container image, else the mix's first container image, else the runtime's
    default. A VM disk mode is the same for every VM runtime of one workload: the workload's own,
    else the mix's first VM workload's, else overlay.
    """
    runtime, plane = split_entry(runtime)
    rts, imgs = scenario.runtime_table(catalogue), scenario.image_table(catalogue)
    data = next(w for w in scenario.to_dict()["workloads"] if w["name"] == workload)
    if plane is not None:
        data["control_plane"] = plane
    elif data["runtime"] != runtime:
        data.pop("control_plane", None)     # the new runtime's default plane
    kind = "vm" if rts[runtime].kind == "vm" else "container"
    own_kind = "vm" if imgs[data["image"]].kind == "vm" else "container"
    if data["runtime"] == runtime and (kind != "vm" or guest is None):
        return data
    vm_workloads = [w for w in scenario.workloads if rts[w.runtime].kind == "vm"]
    data["runtime"] = runtime
    if kind == "vm":
        g = guest or default_guest(scenario, workload, [runtime], catalogue)
        data["image"], data["guest_mem_mib"] = g.image, g.mem_mib
        if own_kind != "vm":
            data["vm_disk"] = vm_workloads[0].disk_mode(rts[vm_workloads[0].runtime]) if vm_workloads else "overlay"
    else:
        if own_kind == "vm":
            data["image"] = next((w.image for w in scenario.workloads if imgs[w.image].kind != "vm"), None) \
                or natural_image(runtime, catalogue)
        data["guest_mem_mib"] = None
    return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Cell:
    """One row of the like-for-like comparison: one workload of the mix, alone, on one runtime
    (behind one control plane)."""

    workload: str
    runtime: str             # the runtime's name (``runc``), never ``runc@kubelet``
    scenario: Scenario       # the workload alone on the same host(s), moved to ``runtime``
    image: str
    vm_disk: str | None      # None for a container
    own: bool                # the runtime and plane are the ones the mix gives the workload
    entry: str = ""          # what was compared: ``runc`` or ``runc@kubelet`` (the row's key)
    plane: str = field(default="")   # the control plane it ran behind
    guest_mem_mib: float | None = None   # a VM's guest RAM (None for a container)

    def __post_init__(self) -> None:
        if not self.entry:
            object.__setattr__(self, "entry", self.runtime)

    @property
    def key(self) -> tuple[str, str]:
        return (self.workload, self.entry)


def like_for_like(scenario: Scenario, workloads: Iterable[str], runtimes: Iterable[str],
                  catalogue: Catalogue | None = None,
                  guest: Guest | None = None) -> tuple[list[Cell], list[str]]:
    """Each of ``workloads`` alone on the same host(s) on each of ``runtimes``; notes on what was left out.

    Every runtime runs the same workload with the same arrivals, lifetime, seed and host, and
    (for VMs) the same disk mode; only the runtime, and the image kind it needs, change. So a row
    compares runtimes, never a deploy with a churn. An entry ``runtime@plane`` (``runc@kubelet``)
    runs the runtime behind that control plane: beside ``runc`` it is the same workload, same
    arrivals and image, and only the plane differs. Every VM runtime boots the same guest
    (``guest``, default per workload :func:`default_guest`): same image, same guest RAM.
    """
    known = scenario.runtime_table(catalogue)
    planes = scenario.control_plane_table(catalogue)
    names = {w.name for w in scenario.workloads}
    runtimes = list(dict.fromkeys(runtimes))
    bad = [r for r in runtimes if split_entry(r)[0] not in known or split_entry(r)[1] not in (None, *planes)]
    notes = [f"{r}: unknown runtime (allowed: {', '.join(sorted(known))}, each optionally @ a control plane: "
             f"{', '.join(sorted(planes))})" if split_entry(r)[0] not in known else
             f"{r}: unknown control plane {split_entry(r)[1]!r} (known: {', '.join(sorted(planes))})"
             for r in bad]
    notes += [f"{w}: no such workload in the mix" for w in dict.fromkeys(workloads) if w not in names]
    data = scenario.to_dict()
    prepulled = set(data.get("daemon", {}).get("prepull", []))
    cells = []
    for wname in (w.name for w in scenario.workloads if w.name in set(workloads)):
        mine = next(w for w in scenario.workloads if w.name == wname)
        own_image = mine.image
        own_plane = mine.control_plane or default_plane(mine.runtime, catalogue)
        ok = [r for r in runtimes if r not in bad]
        g = guest or default_guest(scenario, wname, ok, catalogue)
        for entry in ok:
            rt = split_entry(entry)[0]
            w = moved(scenario, wname, entry, catalogue, g)
            one = dict(data, workloads=[w], actions=[a for a in data.get("actions", [])
                                                    if a.get("workload") == wname])
            if own_image in prepulled:      # the same cache state as the workload has in the mix
                one["daemon"] = dict(data["daemon"], prepull=sorted(prepulled | {w["image"]}))
            s = parse_scenario(one, base_dir=scenario.base_dir, catalogue=catalogue,
                               source=f"{scenario.name}: {wname} on {entry}")
            plane = w.get("control_plane") or default_plane(rt, catalogue)
            vm = known[rt].kind == "vm"
            cells.append(Cell(wname, rt, s, w["image"], w.get("vm_disk") if vm else None,
                              rt == mine.runtime and plane == own_plane, entry=entry, plane=plane,
                              guest_mem_mib=w.get("guest_mem_mib") if vm else None))
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
                     "starting": starting, "never_started": int(w.get("never_started", requested - started)),
                     "oom_killed": capacity.oom_kills(dict(summary), name)})
    return pd.DataFrame(rows, columns=["workload", "runtime", "requested", "started", "rejected", "completed",
                                       "waiting", "starting", "never_started", "oom_killed"])


def _pct(x: np.ndarray, q: float) -> float | None:
    return float(np.percentile(x, q)) if x.size else None


def cell_rows(cells: list[Cell], dens: Mapping[tuple[str, str], Mapping[str, Any]],
              results: Mapping[tuple[str, str], Mapping[str, Any]],
              catalogue: Catalogue | None = None) -> pd.DataFrame:
    """One row per workload x runtime: what fits, what binds, overhead, requested / started, startup.

    ``dens[(workload, entry)]`` is the closed-form density of that cell and
    ``results[(workload, entry)]`` its run (``summary`` and ``instances``), keyed by what was
    compared (``runc`` or ``runc@kubelet``, :attr:`Cell.key`). Startup figures are None when
    nothing started. ``runtime`` is the entry; ``runtime_name`` the runtime alone,
    ``control_plane`` the plane it ran behind and ``label`` both in words. A cell without a run
    (stopped) keeps its closed-form figures (fits, binding, overhead); its run figures are None
    and ``ran`` is False.
    """
    rows = []
    for c in cells:
        key = c.key
        d, res = dens.get(key, {}), results.get(key)
        adm = capacity.admitted(c.scenario, c.workload, c.runtime, catalogue)
        if res is None:
            status = dict.fromkeys(("requested", "started", "waiting", "rejected", "starting", "oom_killed"))
            x, ph, split = np.array([]), {f"{k}_s": None for k in PHASES}, dict.fromkeys(PULL_PARTS)
        else:
            status = {k: int(v) for k, v in workload_status(res["summary"], res["instances"]).iloc[0].items()
                      if k not in ("workload", "runtime")}
            x = startup_samples(res["instances"], [c.workload])
            ph = {f"{k}_s": v for k, v in phase_means(res["instances"], [c.workload]).items()}
            split = pull_split(ph.get("pull_s"), res["summary"]["workloads"].get(c.workload, {}))
        kind = c.scenario.runtime_table(catalogue)[c.runtime].kind
        rows.append({
            "workload": c.workload, "runtime": c.entry, "runtime_name": c.runtime,
            "control_plane": c.plane or plane_of(c.entry, catalogue),
            "label": entry_label(f"{c.runtime}@{c.plane}" if c.plane else c.entry, catalogue),
            "kind": kind, "image": c.image,
            "vm_disk": c.vm_disk, "own": c.own,
            "guest_mem_mib": c.guest_mem_mib,
            "fits": adm["fits"], "binding": adm["binding"], "policy": adm["policy"],
            "cpu_counted": adm["cpu_counted"], "cpu_full_at": (d.get("limits") or {}).get("cpu"),
            "ram_per_instance_mib": (d.get("per_instance") or {}).get("ram_mib"),
            "ram_overhead_share": (d.get("overhead_share") or {}).get("ram"),
            **{k: status[k] for k in ("requested", "started", "waiting", "rejected", "starting", "oom_killed")},
            "ran": res is not None,
            "startup_p50_s": _pct(x, 50), "startup_p95_s": _pct(x, 95),
            **ph, **{f"pull_{k}_s": v for k, v in split.items()},
        })
    out = pd.DataFrame(rows)
    for col in ("fits", "ram_per_instance_mib", "ram_overhead_share", "startup_p50_s", "startup_p95_s",
                *(f"{p}_s" for p in PHASES), *(f"pull_{p}_s" for p in PULL_PARTS)):
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
        res = results.get(c.key)
        if res is None:         # a stopped cell: nothing to draw
            continue
        x = np.sort(startup_samples(res["instances"], [c.workload]))
        requested = int(res["summary"]["workloads"][c.workload].get("requested", x.size)) or x.size
        if not x.size:
            continue
        frac = np.arange(1, x.size + 1) / max(requested, x.size)
        if x.size > max_points:
            idx = np.unique(np.linspace(0, x.size - 1, max_points).round().astype(int))
            x, frac = x[idx], frac[idx]
        parts.append(pd.DataFrame({"workload": c.workload, "runtime": c.entry, "startup_s": x,
                                   "fraction": frac}))
    cols = ["workload", "runtime", "startup_s", "fraction"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def phase_names(split_pull: bool) -> list[str]:
    """The startup phases in order; with ``split_pull`` the pull as its three parts."""
    out: list[str] = []
    for p in PHASES:
        out += list(PULL_PHASES) if p == "pull" and split_pull else [p]
    return out


def phases_long(rows: pd.DataFrame) -> pd.DataFrame:
    """Long table (runtime, phase, seconds) for stacked bars of the startup breakdown; the pull
    split into registry / download / extract where every row has that split (``pull_*_s``)."""
    split_cols = [f"pull_{p}_s" for p in PULL_PARTS]
    pulled = rows["pull_s"].fillna(0) > 0 if "pull_s" in rows else pd.Series(False, index=rows.index)
    split = all(c in rows for c in split_cols) and bool(pulled.any()) and bool(
        rows[split_cols].notna().all(axis=1)[pulled].all())
    frame = rows.copy()
    if split:
        for p in PULL_PARTS:
            frame[f"pull: {p}_s"] = frame[f"pull_{p}_s"].where(frame["pull_s"].fillna(0) > 0, 0.0)
    names = phase_names(split)
    out = frame.melt(id_vars=["runtime"], value_vars=[f"{p}_s" for p in names],
                     var_name="phase", value_name="seconds").dropna(subset=["seconds"])
    out["phase"] = out["phase"].str.removesuffix("_s")
    out["order"] = out["phase"].map({p: i for i, p in enumerate(names)})
    return out


# --------------------------------------------------------------------------- what did not start


def short_of(scenario: Scenario, status: pd.DataFrame, workload: str,
             catalogue: Catalogue | None = None) -> list[str]:
    """The resources one more instance of ``workload`` lacks, as admission counts them
    (:mod:`capacity`: RAM after the OS's reserve and times the overcommit, CPU only when it is
    admitted, disk), given what runs at the horizon (started minus ended, on the host(s))."""

    cat = catalogue or default_catalogue()
    n = scenario.host.count
    room = capacity.room(scenario)
    cap = {"RAM": room["ram"] * n, "CPU": None if room["cpu"] is None else room["cpu"] * n,
           "disk": room["disk"] * n}
    used = dict.fromkeys(cap, 0.0)
    per: dict[str, dict[str, float]] = {}
    images: set[str] = set()
    for w in scenario.workloads:
        d = capacity.admitted(scenario, w.name, None, cat)["per_instance"]
        per[w.name] = {"RAM": d["ram"], "CPU": d["cpu"], "disk": d["disk"]}
        row = status[status["workload"] == w.name]
        running = int(row["started"].iloc[0] - row["completed"].iloc[0]) if len(row) else 0
        for r in used:
            used[r] += per[w.name][r] * running
        images.add(w.image)
    table = image_table(scenario, cat)
    used["disk"] += sum(table[i].disk_mib for i in images)
    return [r for r, c in cap.items() if c is not None and used[r] + per[workload][r] > c + 1e-9]


def not_started(scenario: Scenario, status: pd.DataFrame, catalogue: Catalogue | None = None) -> list[str]:
    """A sentence per workload that did not all start or lost instances to the OOM killer:
    '0 of 20 QEMU VMs of api-qemu started: RAM (20 still waiting at the horizon).'"""
    out = []
    for _, r in status.iterrows():
        oom = int(r.get("oom_killed", 0) or 0)
        if r["never_started"] <= 0 and not oom:
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
            why.append(f"{int(r['waiting']):,} still waiting at the horizon")
        if r["rejected"]:
            why.append(f"{int(r['rejected']):,} rejected")
        if r["starting"]:
            why.append(f"{int(r['starting']):,} still starting at the horizon")
        if oom:
            why.append(f"{oom:,} OOM-killed")
        reason = (" and ".join(lack) if lack else "") or ("no room left" if r["waiting"] else "")
        head = (f"{int(r['started']):,} of {int(r['requested']):,} "
                f"{runtime_label(str(r['runtime']), int(r['requested']))} of {r['workload']} started")
        out.append(head + (f": {reason}" if reason else "") + (f" ({', '.join(why)})." if why else "."))
    return out


# --------------------------------------------------------------------------- the answer


def fmt_figure(x: Any, spec: str = ".2f", unit: str = "") -> str:
    """``format(x, spec) + unit`` for a page or a table; "—" for None or NaN (no figure)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return format(x, spec) + unit


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


def _who_row(r: Mapping[str, Any], planes: bool = False) -> str:
    """A row's runtime in a sentence: 'runc', or with its control plane ('runc under dockerd',
    'runc under kubelet/containerd (CRI)') when ``planes`` (some entry names a plane) or the
    entry itself names one."""
    rt = str(r["runtime"])
    return str(r.get("label") or rt) if planes or "@" in rt else rt


def answer(rows: pd.DataFrame, hosts: int = 1) -> list[str]:
    """Plain sentences with the answer for one workload's rows: what binds where, what did not
    start, and how fast each runtime starts it."""
    if rows.empty:
        return ["Nothing to compare: pick at least one runtime."]
    where = "one host" if hosts == 1 else f"{hosts:,} hosts"
    planes = bool(rows["runtime"].astype(str).str.contains("@").any())

    def _who(r: Mapping[str, Any]) -> str:      # "runc under dockerd" beside "runc under kubelet/..."
        return _who_row(r, planes)

    wl = str(rows["workload"].iloc[0]) if "workload" in rows else "the workload"
    fit = rows.dropna(subset=["fits"]).sort_values("fits", kind="stable")
    parts = []
    if len(fit) == 1:
        r = fit.iloc[0]
        parts.append(f"On {where}, {_who(r)} fits {int(r['fits']):,} {runtime_label(r['runtime'], int(r['fits']))} "
                     f"of {wl} before {_binds(r)} binds "
                     f"({r['ram_overhead_share']:.0%} of their RAM is overhead).")
    elif len(fit) > 1:
        lo, hi = fit.iloc[0], fit.iloc[-1]
        s = (f"On {where}, {_binds(lo)} binds at {int(lo['fits']):,} {runtime_label(lo['runtime'], int(lo['fits']))} "
             f"of {wl} ({lo['ram_overhead_share']:.0%} of their RAM is overhead); "
             f"{_who(hi)} fits {int(hi['fits']):,} before {_binds(hi)} binds")
        mid = fit.iloc[1:-1]
        if len(mid):
            s += "; " + ", ".join(f"{_who(r)} {int(r['fits']):,} ({_binds(r)})" for _, r in mid.iterrows())
        parts.append(s + ".")
    if "policy" in rows and (rows["policy"] == "none").any():
        parts.append("Admission none: every request starts; fits is what the physical RAM holds, "
                     "and past it the OOM killer decides.")
    if "requested" in rows:
        parts += [why_short(r) for _, r in rows.iterrows() if why_short(r)]
    ran = ran_words(rows)
    if ran:
        parts.append(ran)
    fast = rows.dropna(subset=["startup_p95_s"]).sort_values("startup_p95_s", kind="stable")
    if len(fast) == 1:
        r = fast.iloc[0]
        parts.append(f"p95 startup {fmt_s(r['startup_p95_s'])} (median {fmt_s(r['startup_p50_s'])}).")
    elif len(fast) > 1:
        parts.append("p95 startup " + " vs ".join(f"{fmt_s(r['startup_p95_s'])} ({_who(r)})"
                                                  for _, r in fast.iterrows()) + ".")
    return parts


def why_short(r: Mapping[str, Any]) -> str:
    """Why a row's instances did not all run, from its run: rejected, still waiting (and what
    admission ran out of), still starting at the horizon, OOM-killed; "" when all started and
    none was killed."""
    if r.get("ran") is False:
        return ""
    n, started = int(r.get("requested", 0) or 0), int(r.get("started", 0) or 0)
    oom = int(r.get("oom_killed", 0) or 0)
    if started >= n and not oom:
        return ""
    what = runtime_label(str(r["runtime"]), n)
    why = []
    if int(r.get("rejected", 0) or 0):
        why.append(f"{int(r['rejected'])} rejected (admission reject: no room)")
    if int(r.get("waiting", 0) or 0):
        binds = RESOURCE_NAMES.get(str(r.get("binding")), "no room")
        why.append(f"{int(r['waiting'])} still waiting at the horizon ({binds} full)")
    if int(r.get("starting", 0) or 0):
        why.append(f"{int(r['starting'])} still starting at the horizon")
    if oom:
        why.append(f"{oom} OOM-killed")
    other = n - started - sum(int(r.get(k, 0) or 0) for k in ("rejected", "waiting", "starting"))
    if other > 0:
        why.append(f"{other} failed to start")
    return f"{started:,} of {n:,} {what} started: " + ", ".join(why) + "."


def failed(rows: pd.DataFrame) -> bool:
    """A what-if that did not do what it asked: something not started, rejected or OOM-killed."""
    if rows.empty or "requested" not in rows:
        return False
    return any(why_short(r) for _, r in rows.iterrows())


def ran_words(rows: pd.DataFrame) -> str:
    """What each runtime ran, in a sentence: 'Every VM booted firecracker-rootfs with 512 MiB
    guest RAM; containers ran python:3.12-slim.'"""
    if "image" not in rows or "kind" not in rows:
        return ""
    vm = rows[rows["kind"] == "vm"]
    ct = rows[rows["kind"] != "vm"]
    out = []
    if len(vm):
        guests = {(str(r["image"]), r.get("guest_mem_mib")) for _, r in vm.iterrows()}
        if len(guests) == 1:
            img, mem = next(iter(guests))
            who = "Every VM" if len(vm) > 1 else _who_row(vm.iloc[0])
            out.append(f"{who} booted {img}" + (f" with {mem:,.0f} MiB guest RAM" if mem == mem and mem else ""))
        else:
            out.append("; ".join(f"{_who_row(r)} booted {r['image']}" for _, r in vm.iterrows()))
    if len(ct):
        imgs = list(dict.fromkeys(ct["image"].astype(str)))
        out.append(("containers ran " if len(vm) else "Containers ran ") + " and ".join(imgs))
    return "; ".join(out) + "." if out else ""


# --------------------------------------------------------------------------- tables for people

SHOWN = {
    "workload": "Workload", "runtime": "Runtime", "control_plane": "Control plane", "kernel": "Kernel",
    "image": "Image",
    "vm_disk": "VM disk", "guest_mem_mib": "Guest RAM (MiB)", "fits": "Fit", "binding": "Binds",
    "ram_per_instance_mib": "MiB each", "ram_overhead_share": "Overhead", "requested": "Asked",
    "started": "Started", "rejected": "Rejected", "waiting": "Waiting", "oom_killed": "OOM-killed",
    "startup_p50_s": "Median (s)", "startup_p95_s": "p95 startup (s)",
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
            out[name] = [kernel_of(r) for r in rows["runtime"]]
        elif col == "runtime" and "runtime_name" in rows:     # runc@kubelet: runtime and plane apart
            out[name] = rows["runtime_name"].astype(str)
        elif col == "control_plane" and col in rows:
            names = rows["runtime_name"] if "runtime_name" in rows else rows["runtime"]
            out[name] = [plane_words(p) + (" (default)" if p == default_plane(str(n)) else "")
                         for p, n in zip(rows[col], names)]
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
        elif col in ("fits", "requested", "started", "waiting", "ram_per_instance_mib", "guest_mem_mib",
                     "rejected", "oom_killed"):
            marks = [estimates.mark(e, "fits") if col == "fits" else "" for e in rows["runtime"]]
            out[name] = [_cell(v, ",.0f") + (f" {m}" if m and _cell(v, ",.0f") else "")
                         for v, m in zip(rows[col], marks)]
        else:
            marks = [estimates.mark(e, "startup") for e in rows["runtime"]] if col.startswith("startup_") \
                else [""] * len(rows)
            out[name] = [_cell(v, ",.2f", "—") + (f" {m}" if m and _cell(v, ".2f") else "")
                         for v, m in zip(rows[col], marks)]
    return out


__all__ = ["Cell", "Guest", "PHASES", "RESOURCE_NAMES", "answer", "cell_rows", "compatible", "default_guest", "default_plane", "describe", "ecdf_frame", "entry_label", "failed", "fmt_s", "kernel_of", "like_for_like", "moved", "natural_image", "not_started", "phase_means", "phase_names", "phases_long", "plane_choices", "plane_of", "plane_words", "pull_split", "ran_words", "runtime_label", "runtime_words", "runtimes_in", "short_of", "shown_rows", "split_entry", "startup_samples", "why_short", "workload_status"]
