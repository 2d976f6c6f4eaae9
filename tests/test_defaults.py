"""The defaults a planner would choose (issue 24 item 1, changelog 0.3): each unset field takes its
sourced value, an explicit value wins, and every face sees the one number the schema applies."""

from __future__ import annotations

from typing import Any

import pytest

import simcontainer as sc
from simcontainer.engine.assumptions import assumptions
from simcontainer.engine.guard import check_scenario
from simcontainer.scenario.defaults import host_reserve_mib, typical_reserve_mib
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.profiles import default_catalogue
from simcontainer.studies.capacity import room
from simcontainer.studies.hosts_needed import hosts_needed

SERVER_64G_RESERVE = 1024 + 819.2 + 819.2 + 0.06 * (65536 - 16384) + 100    # 5,711.5 MiB, by hand


def _one(host: Any = "server-64g", daemon: dict[str, Any] | None = None, **w: Any) -> sc.Scenario:
    return sc.parse_scenario({
        "name": "defaults", "duration_s": 600.0, "seed": 1, "host": host, "daemon": daemon or {},
        "workloads": [{"name": "w", "runtime": "runc", "image": "python:3.12-slim", "mem_mib": 256,
                       "arrival": {"kind": "burst", "count": 1}, **w}]})


# --------------------------------------------------------------------------- host reserve


def test_an_unset_reserve_is_a_kubernetes_nodes_typical_reserve():
    s = _one()
    assert s.host.reserved_mib is None
    assert s.host.reserve_mib == pytest.approx(SERVER_64G_RESERVE, abs=0.1) == typical_reserve_mib(65536)
    # the run hands out only what is left
    assert sc.simulate(s).summary["host"]["ram_mib"] == pytest.approx(65536 - SERVER_64G_RESERVE, abs=0.1)


@pytest.mark.parametrize("kept", [0.0, 1000.0])
def test_an_explicit_reserve_is_honoured(kept):
    s = _one(host={"preset": "server-64g", "reserved_mib": kept})
    assert s.host.reserve_mib == kept == host_reserve_mib(65536, kept)
    assert sc.simulate(s).summary["host"]["ram_mib"] == 65536 - kept


def test_an_unset_reserve_stays_unset_in_the_file():
    s = _one()
    assert "reserved_mib" not in s.to_dict()["host"]
    again = sc.parse_scenario(s.to_dict())
    assert again.host.reserved_mib is None and again.host.reserve_mib == s.host.reserve_mib
    zero = _one(host={"preset": "server-64g", "reserved_mib": 0.0})
    assert zero.to_dict()["host"]["reserved_mib"] == 0.0


def test_check_room_density_and_hosts_needed_see_the_same_reserve():
    # 62,000 MiB fits the whole 64 GiB but not what the typical reserve leaves (59,824.5 MiB)
    big = {"mem_mib": 62_000}
    with pytest.raises(ScenarioError, match="59,824 MiB"):
        check_scenario(_one(**big))
    check_scenario(_one(host={"preset": "server-64g", "reserved_mib": 0.0}, **big))
    assert room(_one())["ram"] == pytest.approx(65536 - SERVER_64G_RESERVE, abs=0.1)
    # 256 MiB + runc's overhead per instance, no headroom: hosts for 500 of them
    dens = sc.density(_one())["w"]["runc"]
    per = dens["per_instance"]["ram_mib"]
    assert dens["limits"]["ram"] == int((65536 - SERVER_64G_RESERVE) // per)
    assert sc.density(_one(host={"preset": "server-64g", "reserved_mib": 0.0}))["w"]["runc"]["limits"]["ram"] == int(
        65536 // per)
    need = hosts_needed(_one(), {"w": 500}, ["runc"], headroom=0.0)
    bare = hosts_needed(_one(host={"preset": "server-64g", "reserved_mib": 0.0}), {"w": 500}, ["runc"], headroom=0.0)
    assert int(need.hosts[0]) == -(-500 // int((65536 - SERVER_64G_RESERVE) // per))
    assert int(bare.hosts[0]) == -(-500 // int(65536 // per))
    assert int(need.hosts[0]) > int(bare.hosts[0])


def test_a_host_too_small_for_the_typical_reserve_says_to_set_it():
    with pytest.raises(ScenarioError, match="typical host reserve .*set reserved_mib"):
        _one(host={"cpu_cores": 1, "ram_mib": 200, "disk_gib": 10})
    assert _one(host={"cpu_cores": 1, "ram_mib": 200, "disk_gib": 10, "reserved_mib": 0}).host.reserve_mib == 0


def test_the_reserve_assumption_says_its_source_and_flips_to_zero():
    by = {a["key"]: a for a in assumptions(_one())}
    r = by["host.reserved_mib"]
    assert r["default"] and r["value"] == pytest.approx(SERVER_64G_RESERVE, abs=0.1)
    assert "GKE" in r["source"] and "100Mi" in r["source"] and r["flip_to"] == 0.0
    by = {a["key"]: a for a in assumptions(_one(host={"preset": "server-64g", "reserved_mib": 0.0}))}
    assert not by["host.reserved_mib"]["default"] and by["host.reserved_mib"]["flip_to"] == pytest.approx(
        SERVER_64G_RESERVE, abs=0.1)


# --------------------------------------------------------------------------- VM disks


def test_each_vm_runtime_says_its_tooling_default_disk_and_why():
    cat = default_catalogue()
    vms = {name: rt for name, rt in cat.runtimes.items() if rt.kind == "vm"}
    assert {name: rt.vm_disk_default for name, rt in vms.items()} == {
        "qemu-kvm": "overlay", "cloud-hypervisor": "copy", "firecracker": "copy"}
    for rt in vms.values():
        assert rt.sources.get("vm_disk_default"), rt.name
    assert "use_cow_images" in vms["qemu-kvm"].sources["vm_disk_default"]
    assert "backing_files=off" in vms["cloud-hypervisor"].sources["vm_disk_default"]
    assert "getting-started" in vms["firecracker"].sources["vm_disk_default"]


def _vm(runtime: str, image: str, **w: Any) -> sc.Scenario:
    return _one(daemon={"prepull": [image]}, runtime=runtime, image=image, guest_mem_mib=512,
                arrival={"kind": "burst", "count": 3}, **w)


@pytest.mark.parametrize(("runtime", "image", "default"), [
    ("qemu-kvm", "ubuntu-24.04-cloud", "overlay"),
    ("cloud-hypervisor", "ubuntu-24.04-cloud", "copy"),
    ("firecracker", "firecracker-rootfs", "copy"),
])
def test_an_unset_vm_disk_is_the_runtimes_default_and_an_explicit_one_wins(runtime, image, default):
    cat = default_catalogue()
    rt, disk = cat.runtimes[runtime], cat.images[image]
    unset = _vm(runtime, image)
    assert unset.workloads[0].vm_disk is None and unset.workloads[0].disk_mode(rt) == default
    assert "vm_disk" not in unset.to_dict()["workloads"][0]
    copied = sc.simulate(unset).summary["workloads"]["w"]["vm_disk_copy_mib"]
    layers = sum(layer.disk_mib for layer in disk.layers) if disk.layers else None
    assert (copied > 0) == (default == "copy"), (copied, layers)
    other = "copy" if default == "overlay" else "overlay"
    chosen = _vm(runtime, image, vm_disk=other)
    assert chosen.workloads[0].disk_mode(rt) == other
    assert (sc.simulate(chosen).summary["workloads"]["w"]["vm_disk_copy_mib"] > 0) == (other == "copy")
    by = {a["key"]: a for a in assumptions(unset)}
    assert by["workloads.w.vm_disk"]["value"] == default and by["workloads.w.vm_disk"]["default"]
    assert f"models/runtimes/{runtime}.toml" in by["workloads.w.vm_disk"]["source"]


# --------------------------------------------------------------------------- admission


def _hol(**daemon: Any) -> sc.Scenario:
    """One host of 1,000 MiB (nothing kept): a big request that cannot fit yet, then small ones."""
    return sc.parse_scenario({
        "name": "hol", "duration_s": 60.0, "host": {"cpu_cores": 4, "ram_mib": 1000, "disk_gib": 10, "reserved_mib": 0},
        "daemon": daemon, "runtimes": [{"name": "zero", "kind": "container"}],
        "images": [{"name": "t", "layers": [{"id": "t0", "download_mib": 0.0, "disk_mib": 0.0}]}],
        "workloads": [
            {"name": "first", "runtime": "zero", "image": "t", "mem_mib": 600, "writable_mib": 0.0,
             "arrival": {"kind": "burst", "count": 1, "at_s": 0.0}},
            {"name": "big", "runtime": "zero", "image": "t", "mem_mib": 600, "writable_mib": 0.0,
             "arrival": {"kind": "burst", "count": 1, "at_s": 1.0}},
            {"name": "small", "runtime": "zero", "image": "t", "mem_mib": 100, "writable_mib": 0.0,
             "arrival": {"kind": "burst", "count": 4, "at_s": 2.0}}]})


def test_admission_defaults_to_backfill_the_kube_schedulers_way():
    s = _hol()
    assert s.daemon.admission == "backfill"
    w = sc.simulate(s).summary["workloads"]
    # the big one waits; the small ones behind it start in the room that is left
    assert w["small"]["started"] == 4 and w["big"]["started"] == 0


def test_explicit_queue_keeps_strict_fifo():
    w = sc.simulate(_hol(admission="queue")).summary["workloads"]
    # head of line: the big one blocks every small one behind it
    assert w["small"]["started"] == 0 and w["big"]["started"] == 0
