"""IO as hosts share it (issue 14): running apps' disk load beside pulls, extraction and VM
copies; a runtime's io_factor."""

from __future__ import annotations

import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.model.host import MIB_PER_MB

BIG = {"name": "big", "layers": [{"id": "big-0", "download_mib": 1.0, "disk_mib": 1000.0, "compression": "none"}]}


def _pull_s(neighbour_io_mb_s: float, runtime_io_factor: float = 1.0) -> float:
    data = scenario_dict(duration_s=200.0, host={"disk_mb_s": 500, "net_mb_s": 10_000, "cpu_cores": 64})
    data["runtimes"][0]["io_factor"] = runtime_io_factor
    data["images"].append(BIG)
    data["workloads"] = [
        {"name": "noisy", "runtime": "zero", "image": "tiny", "mem_mib": 100, "writable_mib": 0,
         "io_mb_s": neighbour_io_mb_s, "arrival": {"kind": "burst", "at_s": 0.0, "count": 1},
         "lifetime": {"kind": "forever"}},
        {"name": "cold", "runtime": "zero", "image": "big", "mem_mib": 100, "writable_mib": 0,
         "arrival": {"kind": "burst", "at_s": 10.0, "count": 1}, "lifetime": {"kind": "forever"}},
    ]
    r = sc.simulate(sc.parse_scenario(data))
    return r.summary["workloads"]["cold"]["pull"]["mean_s"]


def test_an_io_heavy_neighbour_stretches_a_cold_pulls_extraction():
    alone = _pull_s(0.0)
    noisy = _pull_s(500.0)      # asks the whole disk: the extraction gets half of it
    disk = 1000.0 / (500 * MIB_PER_MB)      # the layer's write at the whole disk rate
    assert noisy - alone == pytest.approx(disk)     # half the rate: one more disk time


def test_io_factor_caps_what_the_runtimes_io_path_puts_on_the_disk():
    # the neighbour asks 500 MB/s; a 0.2 io_factor lets 100 through: the extraction keeps 4/5
    full, low = _pull_s(500.0), _pull_s(500.0, runtime_io_factor=0.2)
    alone = _pull_s(0.0)
    disk = 1000.0 / (500 * MIB_PER_MB)
    assert low - alone == pytest.approx(0.25 * disk)     # 4/5 of the rate: 1/4 more time
    assert full - alone == pytest.approx(disk)
    assert _pull_s(100.0) == pytest.approx(low)


# ---- VM boots read their disk -------------------------------------------------------------

def _vm_boots(count: int, vm_disk: str, boot_read_mib: float | None, neighbour_io_mb_s: float = 0.0,
              disk_mib: float = 1.0) -> float:
    data = scenario_dict(duration_s=400.0, host={"disk_mb_s": 500, "cpu_cores": 64, "ram_mib": 65536,
                                                 "disk_gib": 100})
    data["runtimes"].append({"name": "vm0", "kind": "vm", "default_guest_mem_mib": 128.0})
    img = {"name": "guest", "kind": "vm", "disk_mib": disk_mib, "download_mib": 1.0}
    if boot_read_mib is not None:
        img["boot_read_mib"] = boot_read_mib
    data["images"].append(img)
    data["daemon"]["prepull"] = ["tiny", "guest"]
    data["workloads"] = [
        {"name": "noisy", "runtime": "zero", "image": "tiny", "mem_mib": 100, "writable_mib": 0,
         "io_mb_s": neighbour_io_mb_s, "arrival": {"kind": "burst", "at_s": 0.0, "count": 1},
         "lifetime": {"kind": "forever"}},
        {"name": "vm", "runtime": "vm0", "image": "guest", "mem_mib": 10, "writable_mib": 0, "vm_disk": vm_disk,
         "arrival": {"kind": "burst", "at_s": 10.0, "count": count}, "lifetime": {"kind": "forever"}},
    ]
    return sc.simulate(sc.parse_scenario(data)).summary["workloads"]["vm"]["startup_s"]["mean"]


def test_a_vm_boot_reads_its_disk_on_the_hosts_disk_bandwidth():
    rate = 500 * MIB_PER_MB
    base = _vm_boots(1, "overlay", 0.0)
    assert _vm_boots(1, "overlay", 100.0) - base == pytest.approx(100.0 / rate)
    # 20 private copies each read their own at once: a twentieth of the disk each
    copies = _vm_boots(20, "copy", 100.0, disk_mib=0.0) - _vm_boots(20, "copy", 0.0, disk_mib=0.0)
    assert copies == pytest.approx(20 * 100.0 / rate)
    # 20 overlays over one base image: read once into the host's page cache, the others wait for it
    assert _vm_boots(20, "overlay", 100.0) - _vm_boots(20, "overlay", 0.0) == pytest.approx(100.0 / rate)


def test_an_io_heavy_neighbour_stretches_a_vm_boot():
    rate = 500 * MIB_PER_MB
    alone = _vm_boots(1, "overlay", 100.0)
    noisy = _vm_boots(1, "overlay", 100.0, neighbour_io_mb_s=500.0)    # half the disk for the boot
    assert noisy - alone == pytest.approx(100.0 / rate)


def test_boot_read_defaults_to_an_estimate_of_the_disk_image_and_is_vm_only():
    from simcontainer.model.host import BOOT_READ_FRACTION

    rate = 500 * MIB_PER_MB
    assert _vm_boots(1, "overlay", None, disk_mib=1000.0) - _vm_boots(1, "overlay", 0.0, disk_mib=1000.0) \
        == pytest.approx(BOOT_READ_FRACTION * 1000.0 / rate)
    data = scenario_dict()
    data["images"][0]["boot_read_mib"] = 5.0
    with pytest.raises(sc.ScenarioError, match="boot_read_mib"):
        sc.parse_scenario(data)
