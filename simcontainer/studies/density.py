"""How many fit: a closed form per workload and runtime, no simulation.

Per instance a workload reserves RAM (app working set + runtime overhead for a container; guest RAM
+ VMM overhead for a VM), disk (writable layer or VM disk, plus overhead) and uses CPU
(``cpu / cpu_factor``). A host also holds the image once. The count that fits is the smallest of
RAM, disk and CPU (CPU at the scenario's overcommit ratio, 1.0 when it sets none — density is
about the app getting the cores it asks for), times the number of hosts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simcontainer.engine.core import image_table, simulate
from simcontainer.model.host import demand, guest_mem_mib
from simcontainer.model.images import Image
from simcontainer.model.memory import Usage
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.inputs import check_runtimes_arg, check_scenario_arg
from simcontainer.scenario.profiles import Catalogue, default_catalogue
from simcontainer.scenario.references import runtime_entry_problems
from simcontainer.scenario.schema import MemoryUsage, Scenario
from simcontainer.scenario.workload import Stream, seed_sequence

RESOURCES = ("ram", "disk", "cpu")


def density_one(scenario: Scenario, workload_name: str, runtime_name: str,
                catalogue: Catalogue | None = None, images: dict[str, Image] | None = None) -> dict[str, Any]:
    catalogue = catalogue or default_catalogue()
    w = next(w for w in scenario.workloads if w.name == workload_name)
    if runtime_name != w.runtime:
        w = w.model_copy(update={"runtime": runtime_name, "guest_mem_mib": None})
    rt = scenario.runtime_table(catalogue)[runtime_name]
    img = (images if images is not None else image_table(scenario, catalogue))[w.image]
    d = demand(w, rt, img)
    host = scenario.host
    per = np.array([d.ram_mib, d.disk_mib, d.admit_cpu if host.cpu_overcommit is not None else d.cpu])
    room = np.array([host.ram_mib - host.reserve_mib, host.disk_gib * 1024.0 - img.disk_mib,
                     host.cpu_cores * (host.cpu_overcommit or 1.0)])
    with np.errstate(divide="ignore", invalid="ignore"):
        fits_each = np.where(per > 0, np.floor(np.maximum(room, 0) / np.where(per > 0, per, 1)), np.inf)
    k = int(np.argmin(fits_each))
    per_host = fits_each[k]
    guest = guest_mem_mib(w, rt, img) if rt.kind == "vm" else None
    app_ram = w.mem_mib
    ram_parts = {"app": app_ram, "runtime": rt.mem_overhead_mib}
    if guest is not None:
        ram_parts = {"app": app_ram, "guest_unused": guest - app_ram, "runtime": rt.mem_overhead_mib}
    own_disk = d.disk_mib - rt.disk_overhead_mib
    return {
        "fits": int(per_host * host.count) if np.isfinite(per_host) else None,
        "fits_per_host": int(per_host) if np.isfinite(per_host) else None,
        "binding": RESOURCES[k] if np.isfinite(per_host) else None,
        "kind": rt.kind,
        "per_instance": {"ram_mib": float(d.ram_mib), "disk_mib": float(d.disk_mib), "cpu": float(d.cpu)},
        "limits": {r: (int(v * host.count) if np.isfinite(v) else None) for r, v in zip(RESOURCES, fits_each)},
        "overhead_share": {
            "ram": float((d.ram_mib - app_ram) / d.ram_mib) if d.ram_mib else 0.0,
            "disk": float(rt.disk_overhead_mib / d.disk_mib) if d.disk_mib else 0.0,
            "cpu": float(1 - rt.cpu_factor) if w.cpu else 0.0,
        },
        "ram_breakdown_mib": {k2: float(v) for k2, v in ram_parts.items()},
        "guest_mem_mib": float(guest) if guest is not None else None,
        "image_disk_mib": float(img.disk_mib),
        "vm_disk_mib": float(own_disk) if rt.kind == "vm" else None,
    }


def density(scenario: Scenario, runtimes: list[str] | None = None,
            catalogue: Catalogue | None = None) -> dict[str, dict[str, Any]]:
    """``{workload: {runtime: {...}}}`` for each workload's own runtime plus ``runtimes``."""

    check_scenario_arg(scenario, "density")
    if runtimes:
        runtimes = check_runtimes_arg(runtimes, "density")
    catalogue = catalogue or default_catalogue()
    known = scenario.runtime_table(catalogue)
    images = image_table(scenario, catalogue)
    # RUNTIME or RUNTIME@PLANE, as compare takes them (the plane adds nothing to what fits: it is
    # checked to be one that can drive the runtime, and names the row)
    problems = runtime_entry_problems(runtimes or [], scenario, catalogue)
    if problems:
        raise ScenarioError(problems, source="density")
    out: dict[str, dict[str, Any]] = {}
    for w in scenario.workloads:
        names = [w.runtime] + [r for r in runtimes or [] if r != w.runtime]
        row = {}
        for entry in names:
            r = entry.partition("@")[0]
            if known[r].kind == "container" and images[w.image].kind == "vm":
                row[entry] = {"fits": None, "binding": None,
                              "error": f"{w.image!r} is a VM disk image; {r!r} runs containers"}
                continue
            row[entry] = density_one(scenario, w.name, r, catalogue, images)
        out[w.name] = row
    return out


# The usage a workload without a ``usage`` model is given by :func:`density_risk`: its working
# set (``mem_mib``) after a 30 s ramp, then a level every minute with a 15% coefficient of
# variation. An estimate (no measured distribution of a service's working set is in the
# reference); set ``usage`` (or the workload's own ``usage``) for a real one.
DEFAULT_USAGE = {"ramp_s": 30.0, "ramp_steps": 3, "cv": 0.15, "interval_s": 60.0}


def usage_percentile_mib(scenario: Scenario, workload_name: str, runtime_name: str, percentile: float = 95.0,
                         usage: dict[str, Any] | None = None, hours: float = 6.0, samples: int = 64,
                         catalogue: Catalogue | None = None) -> dict[str, float]:
    """The host memory one instance holds (resident: app + runtime overhead; a VM its touched
    guest pages + the VMM) at ``percentile`` over ``samples`` instances' usage paths of ``hours``
    each, from the usage model alone (no host, no contention). A VM without a balloon keeps the
    pages it touched: its resident is the running maximum of its guest's use."""

    catalogue = catalogue or default_catalogue()
    w = _as_runtime(scenario, workload_name, runtime_name)
    rt = scenario.runtime_table(catalogue)[runtime_name]
    img = image_table(scenario, catalogue)[w.image]
    u = w.usage or MemoryUsage(**(usage or DEFAULT_USAGE))
    model = Usage(u.working_set_mib if u.working_set_mib is not None else w.mem_mib, u.ramp_s, u.ramp_steps,
                  u.cv, u.interval_s, u.leak_mib_per_h)
    stream = Stream(seed_sequence(scenario.seed, w.name, "memory"))
    vm = rt.kind == "vm"
    guest = guest_mem_mib(w, rt, img) if vm else math.inf
    guest_os = (img.guest_os_mib if img.guest_os_mib is not None else rt.guest_os_mib) if vm else 0.0
    ceiling = hours * 3600.0
    values: list[float] = []
    for _ in range(samples):
        t, top = 0.0, 0.0
        for wait, level in model.levels(stream):
            t += wait
            if t > ceiling:
                break
            used = min(guest, guest_os + level) if vm else level
            top = max(top, used) if vm and not w.balloon else used
            values.append(top + rt.mem_overhead_mib)
    return {"percentile": percentile, "resident_mib": float(np.percentile(values, percentile)),
            "mean_mib": float(np.mean(values)), "max_mib": float(np.max(values))}


def _as_runtime(scenario: Scenario, workload_name: str, runtime_name: str) -> Any:
    w = next(w for w in scenario.workloads if w.name == workload_name)
    if runtime_name != w.runtime:
        w = w.model_copy(update={"runtime": runtime_name, "guest_mem_mib": None})
    return w


def oom_risk(scenario: Scenario, workload_name: str, runtime_name: str, count: int, *, hours: float = 6.0,
             usage: dict[str, Any] | None = None, seed: int | None = None,
             catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Simulate ``count`` instances of the workload on one host of the scenario's shape for
    ``hours``, admitted whatever their reservations (the host's ``memory_overcommit`` raised so
    they all fit), each using memory by its usage model (``usage`` or :data:`DEFAULT_USAGE`)
    under ``restart = "always"``: the OOM kills (cgroup and host), kills per 1,000
    instance-hours, and the host's peak resident memory."""

    catalogue = catalogue or default_catalogue()
    w = _as_runtime(scenario, workload_name, runtime_name)
    rt = scenario.runtime_table(catalogue)[runtime_name]
    img = image_table(scenario, catalogue)[w.image]
    d = demand(w, rt, img, scenario.host)
    host = scenario.host
    room = host.ram_mib - host.reserve_mib
    ratio = max(1.0, count * d.ram_mib / room * 1.0001)
    u = w.usage.model_dump() if w.usage is not None else dict(usage or DEFAULT_USAGE)
    wl = w.model_dump() | {
        "usage": u, "restart": "always", "max_instances": None, "time_to_failure": None,
        "pull_error_rate": 0.0, "arrival": {"kind": "burst", "at_s": 0.0, "count": count},
        "lifetime": {"kind": "forever"}}
    data = scenario.model_dump() | {
        "name": f"{scenario.name}-oom-risk", "duration_s": hours * 3600.0, "faults": [], "actions": [],
        "workloads": [wl], "base_dir": scenario.base_dir}
    data["host"] |= {"count": 1, "memory_overcommit": ratio, "cpu_overcommit": None,
                     "disk_gib": max(host.disk_gib, 1e6)}
    data["daemon"] |= {"admission": "queue"}
    s = type(scenario).model_validate(data)
    r = simulate(s, seed=seed if seed is not None else scenario.seed, catalogue=catalogue, force=True)
    mem = r.summary["memory"]
    wm = mem["workloads"][w.name]
    return {"count": count, "started": r.summary["workloads"][w.name]["started"],
            "oom_kills": wm["oom_kills"], "cgroup_kills": wm["cgroup_kills"], "host_kills": wm["host_kills"],
            "instance_hours": wm["instance_hours"], "oom_kills_per_1000_h": wm["oom_kills_per_1000_h"],
            "peak_used_mib": mem["hosts"][0]["peak_used_mib"], "capacity_mib": mem["hosts"][0]["capacity_mib"]}


def density_risk(scenario: Scenario, workload_name: str, runtimes: list[str] | None = None, *,
                 percentile: float = 95.0, overcommit: float = 1.5, hours: float = 6.0,
                 usage: dict[str, Any] | None = None, simulate: bool = True,
                 catalogue: Catalogue | None = None) -> dict[str, dict[str, Any]]:
    """Density answered honestly (issue 14): per runtime, how many instances of the workload one
    host's RAM takes (after ``reserved_mib``)

    - ``at_reservation``: by its reservation (working set + overhead; a VM's whole guest RAM),
    - ``at_percentile``: by the ``percentile`` of its resident use (:func:`usage_percentile_mib`),
    - ``at_overcommit``: by its reservation times ``overcommit``,

    each with its OOM risk from simulation (:func:`oom_risk`: OOM kills per 1,000 instance-hours
    over ``hours``; ``simulate=False`` leaves it out). Counts are RAM-bound; ``cpu_fits`` and
    ``disk_fits`` say whether CPU or disk would bind first (:func:`density_one`)."""
    catalogue = catalogue or default_catalogue()
    w = next(w for w in scenario.workloads if w.name == workload_name)
    names = [w.runtime] + [r for r in runtimes or [] if r != w.runtime]
    images = image_table(scenario, catalogue)
    out: dict[str, dict[str, Any]] = {}
    room = scenario.host.ram_mib - scenario.host.reserve_mib
    for r in names:
        wr = _as_runtime(scenario, workload_name, r)
        rt = scenario.runtime_table(catalogue)[r]
        img = images[wr.image]
        if rt.kind == "container" and img.kind == "vm":
            out[r] = {"error": f"{wr.image!r} is a VM disk image; {r!r} runs containers"}
            continue
        d = demand(wr, rt, img, scenario.host)
        p = usage_percentile_mib(scenario, workload_name, r, percentile, usage, hours, catalogue=catalogue)
        one = density_one(scenario, workload_name, r, catalogue, images)
        counts = {"at_reservation": int(room // d.ram_mib),
                  f"at_p{percentile:g}": int(room // p["resident_mib"]),
                  f"at_overcommit_{overcommit:g}": int(room * overcommit // d.ram_mib)}
        row: dict[str, Any] = {"kind": rt.kind, "reservation_mib": d.ram_mib,
                               f"p{percentile:g}_resident_mib": p["resident_mib"],
                               "cpu_fits": one["limits"]["cpu"], "disk_fits": one["limits"]["disk"]}
        for key, n in counts.items():
            entry: dict[str, Any] = {"count": n}
            if simulate and n > 0:
                risk = oom_risk(scenario, workload_name, r, n, hours=hours, usage=usage, catalogue=catalogue)
                entry.update(oom_kills=risk["oom_kills"], oom_kills_per_1000_h=risk["oom_kills_per_1000_h"],
                             peak_used_mib=risk["peak_used_mib"])
            row[key] = entry
        out[r] = row
    return out
