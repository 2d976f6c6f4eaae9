"""How many fit: a closed form per workload and runtime, no simulation.

Per instance a workload reserves RAM (app working set + runtime overhead for a container; guest RAM
+ VMM overhead for a VM), disk (writable layer or VM disk, plus overhead) and uses CPU
(``cpu / cpu_factor``). A host also holds the image once. The count that fits is the smallest of
RAM, disk and CPU (CPU at the scenario's overcommit ratio, 1.0 when it sets none — density is
about the app getting the cores it asks for), times the number of hosts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simcontainer.engine import image_table
from simcontainer.host import demand, guest_mem_mib
from simcontainer.images import Image
from simcontainer.profiles import Catalogue, default_catalogue
from simcontainer.scenario import Scenario

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
    per = np.array([d.ram_mib, d.disk_mib, d.cpu])
    room = np.array([host.ram_mib, host.disk_gib * 1024.0 - img.disk_mib,
                     host.cpu_cores * (host.cpu_overcommit or 1.0)])
    with np.errstate(divide="ignore", invalid="ignore"):
        fits_each = np.where(per > 0, np.floor(np.maximum(room, 0) / np.where(per > 0, per, 1)), np.inf)
    k = int(np.argmin(fits_each))
    per_host = fits_each[k]
    guest = guest_mem_mib(w, rt) if rt.kind == "vm" else None
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
    from simcontainer.inputs import check_runtimes_arg, check_scenario_arg

    check_scenario_arg(scenario, "density")
    if runtimes:
        runtimes = check_runtimes_arg(runtimes, "density")
    catalogue = catalogue or default_catalogue()
    known = scenario.runtime_table(catalogue)
    images = image_table(scenario, catalogue)
    unknown = [r for r in runtimes or [] if r not in known]
    if unknown:
        from simcontainer.errors import ScenarioError

        raise ScenarioError([f"--runtimes: unknown runtime {r!r} (allowed: {', '.join(sorted(known))})"
                             for r in unknown], source="density")
    out: dict[str, dict[str, Any]] = {}
    for w in scenario.workloads:
        names = [w.runtime] + [r for r in runtimes or [] if r != w.runtime]
        row = {}
        for r in names:
            if known[r].kind == "container" and images[w.image].kind == "vm":
                row[r] = {"fits": None, "binding": None,
                          "error": f"{w.image!r} is a VM disk image; {r!r} runs containers"}
                continue
            row[r] = density_one(scenario, w.name, r, catalogue, images)
        out[w.name] = row
    return out
