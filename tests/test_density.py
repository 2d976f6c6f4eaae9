"""The closed-form density answer, checked by hand and against the simulator."""

from __future__ import annotations

import pytest
from conftest import scenario_dict

import simcontainer as sc


def test_density_by_hand():
    data = scenario_dict(host={"cpu_cores": 16, "ram_mib": 65536, "disk_gib": 200})
    data["workloads"][0].update(runtime="runc", image="python:3.12-slim", mem_mib=256, cpu=0.5)
    d = sc.density(sc.parse_scenario(data), ["qemu-kvm", "firecracker"])["w"]
    runc = d["runc"]
    assert runc["per_instance"]["ram_mib"] == pytest.approx(256 + 3.9)
    assert runc["limits"]["ram"] == int(65536 // 259.9)
    assert runc["limits"]["cpu"] == 32 and runc["binding"] == "cpu" and runc["fits"] == 32
    qemu = d["qemu-kvm"]
    # a VM reserves its whole guest (default 1024 MiB for qemu) plus the VMM
    assert qemu["per_instance"]["ram_mib"] == pytest.approx(1024 + 131)
    assert qemu["ram_breakdown_mib"]["guest_unused"] == pytest.approx(1024 - 256)
    assert qemu["overhead_share"]["ram"] == pytest.approx((1155 - 256) / 1155)
    fc = d["firecracker"]
    # guest grown to hold app + guest OS, rounded up to 128 MiB: 256 + 30 -> 384
    assert fc["guest_mem_mib"] == 384


def test_density_scales_with_host_count_and_overcommit():
    data = scenario_dict(host={"cpu_cores": 4, "ram_mib": 100000, "count": 3, "cpu_overcommit": 2.0})
    data["workloads"][0].update(cpu=1.0)
    d = sc.density(sc.parse_scenario(data))["w"]["zero"]
    assert d["fits_per_host"] == 8 and d["fits"] == 24 and d["binding"] == "cpu"


def test_density_matches_what_the_simulator_packs():
    # the simulator, asked for far more than fits (admission = reject), runs exactly `fits`
    data = scenario_dict(host={"cpu_cores": 64, "ram_mib": 8192, "disk_gib": 50}, daemon={"admission": "reject"},
                         duration_s=100)
    data["workloads"][0].update(runtime="gvisor", image="python:3.12-slim", mem_mib=200,
                                arrival={"kind": "burst", "count": 500}, lifetime={"kind": "forever"})
    data["daemon"]["prepull"] = ["python:3.12-slim"]
    s = sc.parse_scenario(data)
    fits = sc.density(s)["w"]["gvisor"]["fits"]
    summary = sc.simulate(s).summary["workloads"]["w"]
    assert summary["started"] == fits
    assert summary["rejected"] == 500 - fits


def test_unknown_runtime_in_density():
    with pytest.raises(sc.ScenarioError):
        sc.density(sc.parse_scenario(scenario_dict()), ["nope"])
