"""CPU as cgroups give it (issue 14): CFS quota limits with throttling, VM vCPU caps."""

from __future__ import annotations

import copy

import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.model.host import (
    cores_used,
    demand,
    milli_cpu_to_shares,
    share_cores,
    throttled_cores,
)
from simcontainer.model.images import Image
from simcontainer.model.qos import workload_qos
from simcontainer.scenario.catalogue import RuntimeProfile


def _one(duration: float = 100.0, **w):
    data = scenario_dict(duration_s=duration)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1},
                                lifetime={"kind": "forever"}, **w)
    return sc.simulate(sc.parse_scenario(data)).summary["workloads"]["w"]["cpu"]


def test_a_half_core_cfs_limit_on_a_one_core_hungry_app_gives_half_a_core_and_reports_throttling():
    cpu = _one(cpu=1.0, cpu_limit=0.5)
    assert cpu["received_core_s"] == pytest.approx(50.0)        # 0.5 core x 100 s
    assert cpu["throttled_core_s"] == pytest.approx(50.0)       # the other half, throttled
    assert cpu["throttled_fraction"] == pytest.approx(0.5)


def test_without_a_limit_nothing_is_throttled():
    cpu = _one(cpu=1.0)
    assert cpu["received_core_s"] == pytest.approx(100.0)
    assert cpu["throttled_core_s"] == 0.0
    assert cpu["throttled_fraction"] == 0.0


def test_a_limit_above_the_need_changes_nothing():
    cpu = _one(cpu=0.3, cpu_limit=2.0)
    assert cpu["received_core_s"] == pytest.approx(30.0)
    assert cpu["throttled_core_s"] == 0.0


def test_a_vm_cannot_use_more_cores_than_its_vcpus():
    data = scenario_dict(duration_s=100.0)
    data["runtimes"].append({"name": "vm0", "kind": "vm", "default_guest_mem_mib": 128.0})
    data["images"].append({"name": "guest", "kind": "vm", "disk_mib": 1.0, "download_mib": 1.0})
    data["daemon"]["prepull"] = ["tiny", "guest"]
    data["workloads"][0].update(runtime="vm0", image="guest", cpu=3.0, vcpus=2,
                                arrival={"kind": "burst", "at_s": 0.0, "count": 1}, lifetime={"kind": "forever"})
    s = sc.parse_scenario(data)
    cpu = sc.simulate(s).summary["workloads"]["w"]["cpu"]
    assert cpu["received_core_s"] == pytest.approx(200.0, rel=1e-3)     # less its 1 MiB disk copy
    assert cpu["throttled_core_s"] == pytest.approx(100.0, rel=1e-3)
    rt = s.runtime_table()["vm0"]
    assert cores_used(s.workloads[0], rt) == 2.0 and throttled_cores(s.workloads[0], rt) == 1.0


def test_cfs_limits_leave_room_for_neighbours_on_a_full_host():
    # 4 cores, 8 apps wanting 1 core each: uncapped they get 0.5 each; capped at 0.25, each gets
    # 0.25 and the host sits half idle
    data = scenario_dict(duration_s=100.0)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 8}, lifetime={"kind": "forever"},
                                cpu=1.0)
    free = sc.simulate(sc.parse_scenario(data)).summary["workloads"]["w"]["cpu"]
    assert free["received_core_s"] == pytest.approx(400.0)
    capped = copy.deepcopy(data)
    capped["workloads"][0]["cpu_limit"] = 0.25
    got = sc.simulate(sc.parse_scenario(capped)).summary["workloads"]["w"]["cpu"]
    assert got["received_core_s"] == pytest.approx(200.0)
    assert got["throttled_core_s"] == pytest.approx(600.0)


# ---- CPU overcommit admission counts vCPUs (VMs) and requests (containers) -----------------

def _started(vm: bool, count: int, overcommit: float | None = 1.0, **w) -> int:
    data = scenario_dict(duration_s=50.0, host={"cpu_cores": 4, "ram_mib": 65536, "cpu_overcommit": overcommit})
    if vm:
        data["runtimes"].append({"name": "vm0", "kind": "vm", "default_guest_mem_mib": 128.0})
        data["images"].append({"name": "guest", "kind": "vm", "disk_mib": 1.0, "download_mib": 1.0})
        data["daemon"]["prepull"] = ["tiny", "guest"]
        w = {"runtime": "vm0", "image": "guest", "vm_disk": "overlay", **w}
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": count},
                                lifetime={"kind": "forever"}, **w)
    return sc.simulate(sc.parse_scenario(data)).summary["workloads"]["w"]["started"]


def test_cpu_overcommit_admission_counts_a_vms_vcpus():
    assert _started(True, 5, cpu=0.1) == 5               # 0.1 core each: all fit in 4
    assert _started(True, 5, cpu=0.1, vcpus=2) == 2      # 2 vCPUs each: 4 cores x 1.0 hold 2
    assert _started(True, 5, overcommit=2.0, cpu=0.1, vcpus=2) == 4     # 8 vCPUs under a 2x ratio
    assert _started(True, 5, overcommit=None, cpu=0.1, vcpus=2) == 5    # no CPU admission at all


def test_cpu_overcommit_admission_counts_a_containers_request_not_its_limit():
    assert _started(False, 8, cpu=1.0, cpu_limit=0.5) == 4     # Kubernetes-style: by request
    s = sc.parse_scenario(scenario_dict())
    rt = s.runtime_table()["zero"]
    w = s.workloads[0].model_copy(update={"cpu": 1.0, "cpu_limit": 0.5})
    from simcontainer.model.host import admitted_cores
    assert admitted_cores(w, rt) == 1.0 and cores_used(w, rt) == 0.5


# ---- CPU requests as weights (cgroup cpu.weight / cpu.shares) ------------------------------

def _two(shares: bool, big_limit: float | None = None) -> tuple[float, float]:
    data = scenario_dict(duration_s=100.0, host={"cpu_cores": 4, "cpu_shares": shares})
    base = data["workloads"][0]
    big = {**base, "name": "big", "cpu": 3.0, "arrival": {"kind": "burst", "at_s": 0.0, "count": 2},
           "lifetime": {"kind": "forever"}}
    if big_limit is not None:
        big["cpu_limit"] = big_limit
    small = {**base, "name": "small", "cpu": 1.0, "arrival": {"kind": "burst", "at_s": 0.0, "count": 2},
             "lifetime": {"kind": "forever"}}
    data["workloads"] = [big, small]
    ws = sc.simulate(sc.parse_scenario(data)).summary["workloads"]
    return ws["big"]["cpu"]["received_core_s"], ws["small"]["cpu"]["received_core_s"]


def test_cpu_requests_as_weights_share_cores_in_proportion_to_the_request():
    # 8 cores asked of 4: equally, every app gets 1 core; by weight 3:1, the big apps get 1.5
    # each and the small ones 0.5 (each app half of its request)
    assert _two(False) == pytest.approx((200.0, 200.0))
    assert _two(True) == pytest.approx((300.0, 100.0))


def test_cpu_weights_stay_capped_by_the_cfs_limit():
    # the big apps weigh 3 but their quota caps them at 1 core: the small ones get the rest
    assert _two(True, big_limit=1.0) == pytest.approx((200.0, 200.0))
    assert _two(True, big_limit=1.2) == pytest.approx((240.0, 160.0))


def test_a_limit_below_one_ms_per_period_is_the_kubelets_minimum_quota():
    # MilliCPUToQuota: 5m and 9m both become 1,000 us per 100,000 us = 0.01 core
    cpu = _one(cpu=1.0, cpu_limit=0.005)
    assert cpu["received_core_s"] == pytest.approx(1.0)          # 0.01 core x 100 s, not 0.5
    cpu = _one(cpu=1.0, cpu_limit=0.009)
    assert cpu["received_core_s"] == pytest.approx(1.0)


def test_cpu_shares_are_the_kubelets_within_2_and_262144():
    assert milli_cpu_to_shares(0) == 2 and milli_cpu_to_shares(1) == 2
    assert milli_cpu_to_shares(300_000) == 262144                 # 300 cores: capped
    assert share_cores(300.0) == pytest.approx(256.0)
    assert share_cores(0.1) == pytest.approx(102 / 1024)


def test_a_burstable_pod_requests_less_than_it_uses():
    # cpu_request (a schema field still to come: set here on a copy) weighs and admits; cpu is
    # what it uses. 250m requested: 256 shares, 0.25 core counted at admission, 1 core used
    scen = sc.parse_scenario(scenario_dict(host={"cpu_shares": True}))
    w = scen.workloads[0].model_copy(update={"cpu_request": 0.25, "cpu": 1.0})
    rt = RuntimeProfile(name="zero", kind="container")
    d = demand(w, rt, Image("tiny", "container", ()), scen.host)
    assert d.cpu == 1.0 and d.admit_cpu == 0.25 and d.cpu_share == pytest.approx(256 / 1024)
    assert workload_qos(w) == "Burstable"
