"""What admission counts: how many instances a host takes under the policy in force.

The planner's "fits" must be the count the simulation's admission would let in, or the page
says one thing in its headline and another in its table. Admission (model/host.py,
model/placement.py) counts, per host:

- RAM: ``(ram_mib - reserved_mib) x memory_overcommit`` against each instance's reservation
  (a VM its whole guest RAM + the VMM; a container its ``mem_mib``, or its ``mem_request_mib``
  under ``memory_admission = "request"``, + the runtime's overhead);
- CPU: only when the host sets ``cpu_overcommit`` (``cpu_cores x cpu_overcommit`` against each
  instance's admitted cores); otherwise CPU is never admitted and only slows what runs;
- disk: always (each instance's writable layer or VM disk, after the image itself).

Under admission ``"none"`` nothing but the disk holds the door: every request starts, and RAM
past the physical ``ram_mib - reserved_mib`` is a bet the OOM killer settles. There "fits" is
what the physical RAM holds (more start; the excess is what the OOM killer is for).
"""

from __future__ import annotations

import math
from typing import Any

from simcontainer.engine.core import image_table
from simcontainer.model.host import demand
from simcontainer.scenario.profiles import Catalogue, default_catalogue
from simcontainer.scenario.schema import Scenario

RESOURCES = ("ram", "cpu", "disk")


def room(scenario: Scenario) -> dict[str, float | None]:
    """What admission counts on one host: RAM (after the OS's reserve, times the overcommit, or
    physical under ``none``), CPU (None when it is not admitted) and disk (MiB)."""
    h, policy = scenario.host, scenario.daemon.admission
    ram = h.ram_mib - h.reserve_mib
    if policy != "none":
        ram *= h.memory_overcommit or 1.0
    cpu = h.cpu_cores * h.cpu_overcommit if h.cpu_overcommit is not None and policy != "none" else None
    return {"ram": ram, "cpu": cpu, "disk": h.disk_gib * 1024.0}


def admitted(scenario: Scenario, workload: str, runtime: str | None = None,
             catalogue: Catalogue | None = None) -> dict[str, Any]:
    """How many instances of ``workload`` (on ``runtime``, default its own) admission lets onto
    the scenario's host(s), each alone: ``fits`` (all hosts), ``fits_per_host``, ``binding``
    (``ram``, ``cpu`` or ``disk``; None when nothing binds), ``limits`` per resource (None: not
    counted), ``cpu_counted`` and the ``policy``."""
    cat = catalogue or default_catalogue()
    w = next(x for x in scenario.workloads if x.name == workload)
    if runtime is not None and runtime != w.runtime:
        w = w.model_copy(update={"runtime": runtime})
    rt = scenario.runtime_table(cat)[w.runtime]
    img = image_table(scenario, cat)[w.image]
    d = demand(w, rt, img, scenario.host)
    r = room(scenario)
    need = {"ram": d.ram_mib, "cpu": d.admit_cpu, "disk": d.disk_mib}
    have = {"ram": r["ram"], "cpu": r["cpu"], "disk": None if r["disk"] is None else r["disk"] - img.disk_mib}
    limits: dict[str, int | None] = {}
    for k in RESOURCES:
        if have[k] is None or need[k] <= 0:
            limits[k] = None
        else:
            limits[k] = max(int(math.floor(max(have[k], 0.0) / need[k] + 1e-9)), 0)
    counted = {k: v for k, v in limits.items() if v is not None}
    binding = min(counted, key=lambda k: counted[k]) if counted else None
    per_host = counted[binding] if binding else None
    n = scenario.host.count
    return {"fits": per_host * n if per_host is not None else None, "fits_per_host": per_host,
            "binding": binding, "limits": {k: (v * n if v is not None else None) for k, v in limits.items()},
            "cpu_counted": r["cpu"] is not None, "policy": scenario.daemon.admission,
            "per_instance": need}


def physical_ram_fits(scenario: Scenario, workload: str, runtime: str | None = None,
                      catalogue: Catalogue | None = None) -> int | None:
    """Instances whose reservations the physical RAM (after the OS's reserve) holds: past this,
    an overcommitted or unadmitted host relies on instances using less than they reserve."""
    cat = catalogue or default_catalogue()
    w = next(x for x in scenario.workloads if x.name == workload)
    if runtime is not None and runtime != w.runtime:
        w = w.model_copy(update={"runtime": runtime})
    rt = scenario.runtime_table(cat)[w.runtime]
    d = demand(w, rt, image_table(scenario, cat)[w.image], scenario.host)
    h = scenario.host
    return int((h.ram_mib - h.reserve_mib) // d.ram_mib) * h.count if d.ram_mib > 0 else None


def oom_kills(summary: dict[str, Any], workload: str) -> int:
    """OOM kills of ``workload``'s instances in a run (0 when the memory model was off)."""
    mem = summary.get("memory") or {}
    return int(((mem.get("workloads") or {}).get(workload) or {}).get("oom_kills", 0) or 0)


def admission_words(scenario: Scenario) -> str:
    """What "fits" counts, in a phrase: 'RAM x 2 (overcommit), disk; CPU not admitted'."""
    h, policy = scenario.host, scenario.daemon.admission
    if policy == "none":
        return "admission none: every request starts; fits = what the physical RAM holds"
    oc = h.memory_overcommit or 1.0
    parts = [f"RAM{f' x {oc:g} (overcommit)' if oc > 1 else ''}"
             + (f" after {h.reserve_mib:,.0f} MiB kept for the OS" if h.reserve_mib else ""),
             "CPU" + (f" x {h.cpu_overcommit:g}" if h.cpu_overcommit not in (None, 1.0) else "")
             if h.cpu_overcommit is not None else "", "disk"]
    counted = ", ".join(p for p in parts if p)
    return f"admission ({policy}) counts {counted}" + ("" if h.cpu_overcommit is not None else
                                                      "; CPU is not admitted (it only slows what runs)")
