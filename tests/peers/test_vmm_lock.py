"""One API socket per Firecracker VMM (firecracker docs/design.md): a serialized part of a phase
is held per microVM, never shared between microVMs (a mutant sharing one lock survived)."""

from __future__ import annotations

import pytest

import simcontainer as sc


def _last_up(base: str, serial_s: float, n: int = 10) -> float:
    scen = sc.parse_scenario({
        "name": "vmm-lock", "duration_s": 60.0, "seed": 1,
        "host": {"cpu_cores": 64, "ram_mib": 65536, "disk_gib": 50},
        "daemon": {"prepull": ["firecracker-rootfs"]},
        "control_planes": [{"name": "serial", "base": base, "api": {"median_s": 0.0, "serial_s": serial_s}}],
        "workloads": [{"name": "vm", "runtime": "firecracker", "image": "firecracker-rootfs", "mem_mib": 64,
                       "control_plane": "serial", "arrival": {"kind": "burst", "at_s": 0.0, "count": n},
                       "lifetime": {"kind": "forever"}}],
    })
    return sc.simulate(scen).summary["workloads"]["vm"]["startup_s"]["max"]


def test_ten_microvms_each_hold_their_own_api_lock():
    # 1 s serialized in each microVM's API call: per VMM it delays the last of ten by 1 s; one
    # lock shared by all ten would delay it by ~10 s
    extra = _last_up("firecracker", 1.0) - _last_up("firecracker", 0.0)
    assert extra == pytest.approx(1.0, abs=0.05)
