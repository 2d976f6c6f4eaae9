"""Control planes (issue 12): each queues where it really queues, and nothing else.

A mixed deploy on one host -- containers behind dockerd, microVMs behind their own API sockets,
full VMs behind libvirt -- shares CPU, disk and network, but no control-plane queue.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.model.controlplane import CONTROL_PLANES, Dockerd, Firecracker, Kubelet, Libvirt
from simcontainer.model.resources import Slots

PREPULL = ["alpine:3.20", "firecracker-rootfs", "ubuntu-24.04-cloud"]


def _run(workloads, host="server-64g", duration=400.0, **extra):
    data = {"name": "mixed", "duration_s": duration, "seed": 3, "host": host,
            "daemon": {"prepull": PREPULL}, "workloads": workloads, **extra}
    return sc.simulate(sc.parse_scenario(data))


def _burst(name, runtime, image, count, at_s=0.0, **over):
    w = {"name": name, "runtime": runtime, "image": image, "mem_mib": 16 if runtime != "qemu-kvm" else 256,
         "arrival": {"kind": "burst", "count": count, "at_s": at_s}}
    return {**w, **over}


def _startup(r, name):
    df = r.instances[r.instances.workload == name]
    assert df.t_running.notna().all()
    return (df.t_running - df.t_request).to_numpy()


def test_each_shipped_plane_has_its_class_and_sources():
    cat = sc.default_catalogue()
    assert set(cat.control_planes) == {"dockerd", "kubelet", "libvirt", "firecracker", "direct"}
    assert CONTROL_PLANES["dockerd"] is Dockerd and CONTROL_PLANES["kubelet"] is Kubelet
    assert CONTROL_PLANES["libvirt"] is Libvirt and CONTROL_PLANES["firecracker"] is Firecracker
    assert cat.control_planes["libvirt"].workers == 20
    assert cat.control_planes["dockerd"].workers is None
    assert cat.control_planes["firecracker"].workers is None
    assert cat.control_planes["kubelet"].image_pulls == 1
    for cp in cat.control_planes.values():
        for phase in ("api", "sandbox", "network", "teardown"):
            for f, v in getattr(cp, phase).model_dump().items():
                if isinstance(v, float) and v > 0 and f != "cpu_cores":
                    assert f"{phase}.{f}" in cp.sources, f"{cp.name}: {phase}.{f} has no source"
    for rt in cat.runtimes.values():
        assert rt.control_plane in cat.control_planes, rt.name


def test_five_microvms_next_to_a_dockerd_burst_start_as_fast_as_alone():
    fc = _burst("fc", "firecracker", "firecracker-rootfs", 5, at_s=1.0, vm_disk="overlay")
    alone = _startup(_run([fc]), "fc")
    mixed = _run([_burst("runc", "runc", "alpine:3.20", 100), fc])
    beside = _startup(mixed, "fc")
    assert beside.mean() <= 1.10 * alone.mean(), (alone, beside)
    # and the containers did queue behind dockerd's lock meanwhile
    assert _startup(mixed, "runc").max() > 5.0


def test_twenty_full_disk_vm_copies_do_not_delay_a_containers_create():
    c1 = _burst("c1", "runc", "alpine:3.20", 1, at_s=1.0)
    alone = _run([c1]).instances
    r = _run([_burst("qemu", "qemu-kvm", "ubuntu-24.04-cloud", 20, vm_disk="copy"), c1])
    both = r.instances
    a = alone[alone.workload == "c1"].iloc[0]
    b = both[both.workload == "c1"].iloc[0]
    assert b.t_created - b.t_request == pytest.approx(a.t_created - a.t_request, rel=1e-9)
    # the copies themselves share the disk: they take far longer than the container
    q = both[both.workload == "qemu"]
    assert (q.t_created - q.t_request).min() > 10 * (b.t_created - b.t_request)


def _libvirt_burst(count: int = 45):
    rt = {"name": "slow-define", "kind": "vm", "create": {"median_s": 1.0}}
    img = {"name": "disk", "kind": "vm", "disk_mib": 1.0, "download_mib": 1.0}
    data = scenario_dict(duration_s=50, runtimes=[rt], images=[img], host={"ram_mib": 10**6})
    data["daemon"]["prepull"] = ["disk"]
    data["control_planes"] = [{"name": "lv", "base": "libvirt", "api": {}, "network": {}, "teardown": {}}]
    data["workloads"] = [{"name": "vm", "runtime": "slow-define", "image": "disk", "mem_mib": 1, "guest_mem_mib": 1,
                          "vm_disk": "overlay", "control_plane": "lv",
                          "arrival": {"kind": "burst", "count": count}, "lifetime": {"kind": "forever"}}]
    return np.sort(sc.simulate(sc.parse_scenario(data)).instances.t_created.to_numpy())


def test_libvirt_pool_bounds_define_start_to_its_max_workers(monkeypatch):
    # with requests spread over many client connections, the pool of 20 workers binds
    monkeypatch.setattr(Libvirt, "max_client_requests", 1000)
    assert _libvirt_burst().tolist() == pytest.approx([1.0] * 20 + [2.0] * 20 + [3.0] * 5)


def test_libvirt_one_connection_has_at_most_5_requests_in_flight():
    # libvirtd.conf max_client_requests = 5: one management connection per host, 5 at a time
    assert _libvirt_burst(12).tolist() == pytest.approx([1.0] * 5 + [2.0] * 5 + [3.0] * 2)


def test_dockerd_networks_have_separate_locks():
    rt = {"name": "r", "kind": "container"}
    # the lock alone: no start disk work, no lock-hold spread, no per-instance work
    cp = {"name": "d", "base": "dockerd", "api": {}, "teardown": {}, "network": {"serial_s": 0.5},
          "rootfs_syncs": 0, "rootfs_mib": 0.0, "serial_sigma": 0.0, "per_instance_cpu_s": 0.0}

    def created(networks):
        data = scenario_dict(duration_s=50, runtimes=[rt], control_planes=[cp])
        data["workloads"][0].update(runtime="r", control_plane="d", networks=networks,
                                    arrival={"kind": "burst", "count": 4}, lifetime={"kind": "forever"})
        return sorted(sc.simulate(sc.parse_scenario(data)).instances.t_running.tolist())

    assert created(1) == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert created(2) == pytest.approx([0.5, 0.5, 1.0, 1.0])
    assert created(4) == pytest.approx([0.5] * 4)


def test_kubelet_pulls_one_image_at_a_time_dockerd_several():
    imgs = [{"name": f"img{k}", "layers": [{"id": f"l{k}", "download_mib": 100.0, "disk_mib": 100.0}]}
            for k in range(3)]

    def pulled(plane):
        data = scenario_dict(duration_s=100, images=imgs, host={"net_mb_s": 1000.0, "disk_mb_s": 10_000.0})
        data["daemon"]["prepull"] = []
        data["control_planes"] = [{"name": "p", "base": plane, "api": {}, "sandbox": {}, "network": {},
                                   "teardown": {}}]
        data["workloads"] = [{"name": f"w{k}", "runtime": "zero", "image": f"img{k}", "mem_mib": 1,
                              "control_plane": "p", "network": "none",
                              "arrival": {"kind": "burst", "count": 1}} for k in range(3)]
        df = sc.simulate(sc.parse_scenario(data)).instances
        return sorted((df.t_pulled - df.t_admitted).tolist())

    serial, parallel = pulled("kubelet"), pulled("dockerd")
    assert serial[2] == pytest.approx(3 * serial[0], rel=0.05)     # one after another
    assert parallel[2] == pytest.approx(parallel[0], rel=0.05)     # together, sharing the link


def test_runc_under_kubelet_is_a_choice_of_the_workload():
    r = _run([_burst("d", "runc", "alpine:3.20", 1), _burst("k", "runc", "alpine:3.20", 1, control_plane="kubelet")])
    assert _startup(r, "d")[0] != pytest.approx(_startup(r, "k")[0])


def test_api_workers_is_a_deprecated_alias_for_a_pool_per_plane():
    rt = {"name": "a", "kind": "container", "api": {"median_s": 1.0}}
    data = scenario_dict(duration_s=50, runtimes=[rt], daemon={"api_workers": 2})
    data["workloads"][0].update(runtime="a", arrival={"kind": "burst", "count": 5}, lifetime={"kind": "forever"})
    with pytest.warns(FutureWarning, match="api_workers is deprecated.*control_planes"):
        r = sc.simulate(sc.parse_scenario(data))
    assert sorted(r.instances.t_created.tolist()) == pytest.approx([1, 1, 2, 2, 3])
    assert any("api_workers is deprecated" in w for w in r.summary["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data["daemon"].pop("api_workers")
        sc.simulate(sc.parse_scenario(data))


def test_a_cancelled_wait_leaves_the_queue_and_a_handed_slot_comes_back():
    import simpy

    env = simpy.Environment()
    slots = Slots(env, 1)
    assert slots.acquire() is None
    ev = slots.acquire()
    assert slots.queued == 1
    slots.cancel(ev)
    assert slots.queued == 0
    ev = slots.acquire()
    slots.release()             # handed over to ev
    assert ev.triggered and slots.free == 0
    slots.cancel(ev)            # its owner was interrupted in the same instant
    assert slots.free == 1


def test_unknown_control_plane_is_a_clear_error():
    data = scenario_dict()
    data["workloads"][0]["control_plane"] = "podman"
    with pytest.raises(sc.ScenarioError, match="unknown control plane 'podman'"):
        sc.parse_scenario(data)


# ---- network modes (item 4) -------------------------------------------------------------------


def _bridge_burst(count, **over):
    w = {"name": "b", "runtime": "runc", "image": "alpine:3.20", "mem_mib": 1, "writable_mib": 0,
         "arrival": {"kind": "burst", "count": count}, "lifetime": {"kind": "forever"}, **over}
    return sc.parse_scenario({"name": "bridge", "duration_s": 200.0, "seed": 1,
                              "host": {"preset": "server-64g", "ram_mib": 10**6},
                              "daemon": {"prepull": ["alpine:3.20"]}, "workloads": [w]})


def test_the_1024th_container_on_one_bridge_fails_with_its_reason():
    r = sc.simulate(_bridge_burst(1024))
    df = r.instances
    assert (df.state == "running").sum() == 1023
    failed = df[df.state == "failed"]
    assert len(failed) == 1
    assert len(r.failures) == 1
    f = r.failures.iloc[0]
    assert f.instance == failed.instance.iloc[0] and f.workload == "b"
    assert "bridge" in f.reason and "1023" in f.reason and "44973" in f.reason
    # its reservation went back
    assert r.summary["workloads"]["b"]["at_horizon"].get("failed") == 1


def test_on_network_none_the_1024th_starts():
    df = sc.simulate(_bridge_burst(1024, network="none")).instances
    assert (df.state == "running").sum() == 1024


def test_two_user_networks_hold_twice_the_ports_and_a_removal_frees_one():
    df = sc.simulate(_bridge_burst(1100, networks=2)).instances
    assert (df.state == "running").sum() == 1100
    s = _bridge_burst(1023, lifetime={"kind": "fixed", "s": 150.0})
    late = s.workloads[0].model_copy(update={"name": "late", "arrival": sc.scenario.schema.BurstArrival(
        kind="burst", count=1, at_s=190.0), "lifetime": sc.scenario.schema.ForeverLifetime(kind="forever")})
    s = s.model_copy(update={"workloads": [s.workloads[0], late], "duration_s": 300.0})
    df = sc.simulate(s).instances
    assert (df.state == "failed").sum() == 0 and df[df.workload == "late"].state.iloc[0] == "running"


def test_network_none_skips_the_endpoint_lock():
    none = sc.simulate(_bridge_burst(50, network="none")).instances
    bridge = sc.simulate(_bridge_burst(50)).instances
    assert none.t_running.max() < 0.5 * bridge.t_running.max()


# ---- hardware (item 5) ------------------------------------------------------------------------


def _burst_total(runtime: str, image: str, speed: float, count: int = 200) -> float:
    w = {"name": "b", "runtime": runtime, "image": image, "mem_mib": 1, "vm_disk": "overlay",
         "guest_mem_mib": 64, "arrival": {"kind": "burst", "count": count}, "lifetime": {"kind": "forever"}}
    s = sc.parse_scenario({"name": "speed", "duration_s": 600.0, "seed": 2,
                           "host": {"cpu_cores": 4, "ram_mib": 10**6, "disk_gib": 100, "cpu_speed": speed},
                           "daemon": {"prepull": [image]}, "workloads": [w]})
    return float(sc.simulate(s).instances.t_running.max())


def test_a_faster_cpu_shortens_a_cpu_bound_burst_proportionally():
    # 200 microVMs on 4 cores: 200 x 0.138 core-s of API, VMM start and guest boot bind
    slow = _burst_total("firecracker", "firecracker-rootfs", 1.0)
    fast = _burst_total("firecracker", "firecracker-rootfs", 2.0)
    assert slow > 5.0
    assert fast == pytest.approx(slow / 2, rel=0.05)


def test_a_faster_cpu_leaves_a_latency_bound_burst_alone():
    cat = sc.default_catalogue()
    assert cat.hosts["azure-d4-v2"]["cpu_speed"] < cat.hosts["ryzen-3950x"]["cpu_speed"] == 1.0
    rt = {"name": "waits", "kind": "container", "boot": {"median_s": 2.0}}

    def total(speed):
        data = scenario_dict(duration_s=50, runtimes=[rt], host={"cpu_speed": speed})
        data["workloads"][0].update(runtime="waits", arrival={"kind": "burst", "count": 50},
                                    lifetime={"kind": "forever"})
        return float(sc.simulate(sc.parse_scenario(data)).instances.t_running.max())

    assert total(1.0) == total(3.0) == pytest.approx(2.0)


# ---- the guest OS belongs to the VM image (item 6) --------------------------------------------


def _vm_start(runtime: str, image: str) -> float:
    w = {"name": "vm", "runtime": runtime, "image": image, "mem_mib": 64, "vm_disk": "overlay",
         "arrival": {"kind": "interval", "every_s": 60.0}, "lifetime": {"kind": "fixed", "s": 1.0},
         "max_instances": 100}
    s = sc.parse_scenario({"name": "guest", "duration_s": 6100.0, "seed": 4, "host": "server-64g",
                           "daemon": {"prepull": [image]}, "workloads": [w]})
    return float(np.median(_startup(sc.simulate(s), "vm")))


def test_the_guest_os_not_the_vmm_makes_a_full_vm_slow():
    qemu_ubuntu, qemu_alpine = _vm_start("qemu-kvm", "ubuntu-24.04-cloud"), _vm_start("qemu-kvm", "alpine-guest")
    fc_ubuntu, fc_rootfs = _vm_start("firecracker", "ubuntu-24.04-cloud"), _vm_start("firecracker", "firecracker-rootfs")
    assert 7.0 <= qemu_ubuntu <= 9.0 and 7.0 <= fc_ubuntu <= 9.0      # Ubuntu + systemd + cloud-init
    assert qemu_alpine < 1.5 and fc_rootfs < 0.2
    assert qemu_ubuntu - fc_ubuntu < 1.2     # the VMMs differ by their own share, under a second


def test_a_container_image_on_a_vm_runtime_boots_as_a_stated_rootfs_or_is_refused():
    assert sc.default_catalogue().runtimes["firecracker"].rootfs_guest == "firecracker-rootfs"
    assert _vm_start("firecracker", "alpine:3.20") == pytest.approx(_vm_start("firecracker", "firecracker-rootfs"),
                                                                    rel=0.1)
    data = scenario_dict(runtimes=[{"name": "myvmm", "kind": "vm"}])
    data["workloads"][0]["runtime"] = "myvmm"
    with pytest.raises(sc.ScenarioError, match="states no conversion"):
        sc.parse_scenario(data)


def test_compare_puts_one_runtime_behind_two_control_planes():
    s = sc.parse_scenario({"name": "cmp", "duration_s": 60.0, "seed": 1, "host": "server-64g",
                           "daemon": {"prepull": ["alpine:3.20"]},
                           "workloads": [_burst("w", "runc", "alpine:3.20", 20)]})
    out = sc.compare(s, ["runc", "runc@kubelet"])
    assert set(out) == {"runc", "runc@kubelet"}
    d, k = out["runc"]["workloads"]["w"], out["runc@kubelet"]["workloads"]["w"]
    assert d["started"] == k["started"] == 20
    # dockerd's endpoint lock (0.10 s each) serializes the burst; the kubelet's IPAM lock is short
    assert k["startup_s"]["max"] < d["startup_s"]["max"]
    with pytest.raises(sc.ScenarioError, match="unknown runtime 'runc@podman'"):
        sc.compare(s, ["runc@podman"])


def test_a_kill_skips_the_runtime_stop_but_still_removes_and_frees_the_port():
    cp = {"name": "d", "base": "dockerd", "api": {}, "network": {}, "bridge_max_ports": 1,
          "teardown": {"median_s": 0.5}}
    rt = {"name": "r", "kind": "container", "stop": {"median_s": 2.0}}
    data = scenario_dict(duration_s=50, runtimes=[rt], control_planes=[cp])
    data["workloads"][0].update(runtime="r", control_plane="d", arrival={"kind": "interval", "every_s": 10.0},
                                lifetime={"kind": "forever"}, max_instances=2, auto_remove=True)
    data["actions"] = [{"at_s": 5.0, "op": "kill", "workload": "w", "instance": 0}]
    r = sc.simulate(sc.parse_scenario(data))
    df = r.instances.sort_values("t_request")
    first, second = df.iloc[0], df.iloc[1]
    assert first.t_exited == pytest.approx(5.0)              # no 2 s runtime stop after a kill
    assert first.t_removed == pytest.approx(5.5)             # but dockerd's teardown runs
    assert second.state == "running"                          # the one port was free again
