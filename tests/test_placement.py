"""Placement policies on several hosts: each chooses as its docstring says (placement.py)."""

from __future__ import annotations

from typing import Any

import pytest
import simpy

import simcontainer as sc
from simcontainer.model.host import Demand, HostNode
from simcontainer.model.images import Image, Layer
from simcontainer.model.placement import POLICIES, best_fit, first_fit, image_locality, spread

BASE = Layer("base", 30.0, 100.0)
IMG_X = Image("x", "container", (BASE, Layer("x1", 5.0, 10.0)))
IMG_Z = Image("z", "container", (BASE, Layer("z1", 4.0, 20.0)))
IMG_OTHER = Image("other", "container", (Layer("o1", 50.0, 300.0),))


def hosts(n: int = 3, ram: float = 1000.0, disk_gib: float = 1.0) -> list[HostNode]:
    scen = sc.parse_scenario({
        "name": "placement", "duration_s": 10.0,
        "host": {"cpu_cores": 4, "ram_mib": ram, "disk_gib": disk_gib, "count": n, "reserved_mib": 0},
        "runtimes": [{"name": "zero", "kind": "container"}],
        "images": [{"name": "t", "layers": [{"id": "t0", "download_mib": 0.0, "disk_mib": 0.0}]}],
        "workloads": [{"name": "w", "runtime": "zero", "image": "t", "mem_mib": 1,
                       "arrival": {"kind": "burst", "count": 1}}],
    })
    env = simpy.Environment()
    return [HostNode(env, k, scen.host, scen.daemon) for k in range(n)]


def use_ram(h: HostNode, mib: float) -> None:
    h.ram.reserve(mib, 0.0)


D100 = Demand(ram_mib=100.0, disk_mib=0.0, cpu=0.0)


def test_first_fit_takes_the_lowest_index_that_fits() -> None:
    hs = hosts()
    assert first_fit(hs, D100, IMG_X) is hs[0]
    use_ram(hs[0], 950.0)
    use_ram(hs[2], 500.0)
    assert first_fit(hs, D100, IMG_X) is hs[1]


def test_best_fit_takes_the_host_left_with_least_free_ram() -> None:
    hs = hosts()
    use_ram(hs[0], 950.0)          # does not fit
    use_ram(hs[1], 300.0)
    use_ram(hs[2], 600.0)          # tightest that fits
    assert best_fit(hs, D100, IMG_X) is hs[2]
    use_ram(hs[1], 300.0)          # now 1 and 2 tie: the first wins
    assert best_fit(hs, D100, IMG_X) is hs[1]


def test_spread_takes_the_host_with_most_free_ram() -> None:
    hs = hosts()
    use_ram(hs[0], 300.0)
    use_ram(hs[1], 100.0)
    use_ram(hs[2], 200.0)
    assert spread(hs, D100, IMG_X) is hs[1]
    use_ram(hs[1], 100.0)          # 1 and 2 tie at 800 free: the first wins
    assert spread(hs, D100, IMG_X) is hs[1]


def test_image_locality_prefers_most_of_the_images_bytes() -> None:
    hs = hosts()
    hs[1].preload(IMG_OTHER)
    hs[2].preload(IMG_X)           # holds base + x1, i.e. 100 MiB of z's 120
    use_ram(hs[2], 500.0)          # and is fuller: spread and first-fit pick host 0
    assert image_locality(hs, D100, IMG_Z) is hs[2]
    assert spread(hs, D100, IMG_Z) is hs[0]
    assert first_fit(hs, D100, IMG_Z) is hs[0]
    # locality is about bytes, not RAM: empty RAM elsewhere does not beat the cached base
    use_ram(hs[1], 850.0)
    assert best_fit(hs, D100, IMG_Z) is hs[1]
    assert image_locality(hs, D100, IMG_Z) is hs[2]


def test_image_locality_skips_a_full_host_and_ties_go_first_fit() -> None:
    hs = hosts()
    hs[2].preload(IMG_X)
    use_ram(hs[2], 950.0)          # holds the image but has no room
    hs[1].preload(Image("b", "container", (BASE,)))
    assert image_locality(hs, D100, IMG_X) is hs[1]
    assert image_locality(hs, D100, IMG_OTHER) is hs[0]   # nobody has it: first fit


def test_layers_being_pulled_count_for_locality() -> None:
    hs = hosts()
    hs[1].reserve(D100, IMG_X)     # claims base + x1: on their way, not yet present
    assert not hs[1].store.is_ready(IMG_X)
    assert image_locality(hs, D100, IMG_Z) is hs[1]


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_returns_none_when_nothing_fits(name: str) -> None:
    hs = hosts()
    for h in hs:
        use_ram(h, 950.0)
    assert POLICIES[name](hs, D100, IMG_X) is None


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policies_count_unused_cached_images_as_room(name: str) -> None:
    # every host's disk (1 GiB) holds a 950 MiB image, which leaves no room for z (120 MiB);
    # host 0 holds it unused (reclaimable), hosts 1 and 2 have it in use: only host 0 can take z.
    hs = hosts()
    big = Image("big", "container", (Layer("big0", 1.0, 950.0),))
    dz = Demand(ram_mib=100.0, disk_mib=0.0, cpu=0.0)
    for h in hs:
        h.preload(big)
    for h in hs[1:]:
        h.store.claim(big)
    assert not hs[0].disk.fits(dz.disk_mib + IMG_Z.disk_mib)
    assert POLICIES[name](hs, dz, IMG_Z) is hs[0]


def _multi_host_run(policy: str) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """Three hosts of 1000 MiB RAM. A 950 MiB filler takes host 0 for 10 s; x arrives at 1 s and
    lands on host 1 (ties go to the first host); at 50 s, with host 0 empty again, two z
    instances (z shares x's base layer) arrive."""
    img = [{"name": "F", "layers": [{"id": "f0", "download_mib": 1.0, "disk_mib": 2.0}]},
           {"name": "X", "layers": [{"id": "base", "download_mib": 30.0, "disk_mib": 100.0},
                                    {"id": "x1", "download_mib": 5.0, "disk_mib": 10.0}]},
           {"name": "Z", "layers": [{"id": "base", "download_mib": 30.0, "disk_mib": 100.0},
                                    {"id": "z1", "download_mib": 4.0, "disk_mib": 20.0}]}]

    def wl(name: str, image: str, mem: float, at: float, count: int = 1, life: float | None = None) -> dict:
        return {"name": name, "runtime": "zero", "image": image, "mem_mib": mem, "writable_mib": 0,
                "arrival": {"kind": "burst", "at_s": at, "count": count},
                "lifetime": {"kind": "fixed", "s": life} if life else {"kind": "forever"}}

    scen = sc.parse_scenario({
        "name": f"placement-{policy}", "duration_s": 100.0,
        "host": {"cpu_cores": 4, "ram_mib": 1000, "disk_gib": 10, "count": 3, "reserved_mib": 0},
        "daemon": {"placement": policy},
        "runtimes": [{"name": "zero", "kind": "container"}],
        "images": img,
        "workloads": [wl("filler", "F", 950, 0.0, life=10.0), wl("x", "X", 100, 1.0),
                      wl("z", "Z", 100, 50.0, count=2)],
    })
    res = sc.simulate(scen)
    inst = res.instances.sort_values("instance")
    placed = {w: inst.loc[inst["workload"] == w, "host"].tolist() for w in ("filler", "x", "z")}
    return placed, res.summary


@pytest.mark.parametrize(("policy", "z_hosts"), [
    ("first-fit", [0, 0]),        # host 0 is empty again: lowest index
    ("best-fit", [1, 1]),         # host 1 is left with the least RAM
    ("spread", [0, 2]),           # most free RAM: host 0, then host 2 (1000 vs 900)
    ("image-locality", [1, 1]),   # host 1 holds z's base layer
])
def test_policies_on_a_multi_host_run(policy: str, z_hosts: list[int]) -> None:
    placed, summary = _multi_host_run(policy)
    assert placed == {"filler": [0], "x": [1], "z": z_hosts}
    assert summary["host"]["count"] == 3 and len(summary["hosts"]) == 3
    # the base layer comes down once per host that needs it
    base_pulls = len({1} | set(z_hosts))
    assert summary["host"]["pulled_mib"] == pytest.approx(1.0 + 5.0 + 4.0 * len(set(z_hosts)) + 30.0 * base_pulls)


def test_image_locality_pulls_less_than_first_fit() -> None:
    _, ff = _multi_host_run("first-fit")
    _, loc = _multi_host_run("image-locality")
    assert ff["host"]["pulled_mib"] - loc["host"]["pulled_mib"] == pytest.approx(30.0)
    assert loc["workloads"]["z"]["pull"]["mean_s"] < ff["workloads"]["z"]["pull"]["mean_s"]
