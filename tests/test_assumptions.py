"""A result's assumptions: what the scenario left to defaults, and how far flipping each moves it."""

from __future__ import annotations

import pytest

import simcontainer as sc
from simcontainer.engine.assumptions import assumptions, typical_reserve_mib
from simcontainer.studies.assumption_flips import flip_effects, flipped, headline


def _burst(**w) -> sc.Scenario:
    return sc.parse_scenario({
        "name": "fc-burst", "duration_s": 300, "host": "server-64g",
        "workloads": [{"name": "vm", "runtime": "firecracker", "image": "firecracker-rootfs", "mem_mib": 256,
                       "guest_mem_mib": 512, "arrival": {"kind": "burst", "count": 100, "at_s": 0}, **w}]})


def test_typical_reserve_by_hand():
    # GKE's tiers: 25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next 8, 6 % up to 128 GiB
    assert typical_reserve_mib(8192) == pytest.approx(0.25 * 4096 + 0.20 * 4096 + 100, abs=0.1)
    assert typical_reserve_mib(65536) == pytest.approx(1024 + 819.2 + 819.2 + 0.06 * 49152 + 100, abs=0.1)
    assert typical_reserve_mib(256 * 1024) == pytest.approx(1024 + 819.2 + 819.2 + 0.06 * 114688
                                                             + 0.02 * (262144 - 131072) + 100, abs=0.1)
    assert typical_reserve_mib(512) == 255.0


def test_defaults_are_marked_and_choices_are_not():
    by = {a["key"]: a for a in assumptions(_burst())}
    assert by["workloads.vm.vm_disk"]["default"] and by["workloads.vm.vm_disk"]["flip_to"] == "overlay"
    by = {a["key"]: a for a in assumptions(_burst(vm_disk="copy"))}
    assert not by["workloads.vm.vm_disk"]["default"]          # the same value, chosen
    assert by["workloads.vm.restart"]["value"] == "no"         # the Firecracker plane restarts nothing
    assert "daemon.placement" not in by                          # one host: nothing to place


def test_the_vm_disk_flip_is_measured_not_guessed():
    s = _burst()
    res = sc.simulate(s)
    effects = {a["key"]: a["effect"] for a in flip_effects(s, res.summary)}
    disk = effects["workloads.vm.vm_disk"]
    assert disk["as_run"] == headline(res.summary)
    # 100 rootfs copies on one disk before the boots vs one shared base: an order of magnitude
    assert disk["flipped"]["startup_p50_s"] < disk["as_run"]["startup_p50_s"] / 10
    assert disk["flipped"]["started"] == disk["as_run"]["started"] == 100
    assert effects["memory model"] is None                     # no flip: nothing rerun


def test_flipping_admission_away_from_backfill_drops_its_settings():
    s = sc.parse_scenario({"name": "b", "duration_s": 10, "host": "server-64g",
                           "daemon": {"admission": "backfill", "preemption": True},
                           "workloads": [{"name": "a", "runtime": "runc", "image": "python:3.12-slim", "mem_mib": 64,
                                          "arrival": {"kind": "burst", "count": 1, "at_s": 0}}]})
    q = flipped(s, "daemon.admission", "queue")
    assert q.daemon.admission == "queue" and not q.daemon.preemption


def test_the_default_restart_policy_is_the_plane_class_s():
    # a pod under the kubelet restarts Always unless told; a container under dockerd restarts nothing
    s = sc.parse_scenario({"name": "k", "duration_s": 10, "host": "server-64g",
                           "workloads": [{"name": "pod", "runtime": "runc", "control_plane": "kubelet",
                                          "image": "python:3.12-slim", "mem_mib": 64,
                                          "arrival": {"kind": "burst", "count": 1, "at_s": 0}},
                                         {"name": "ctr", "runtime": "runc", "control_plane": "dockerd",
                                          "image": "python:3.12-slim", "mem_mib": 64,
                                          "arrival": {"kind": "burst", "count": 1, "at_s": 0}}]})
    by = {a["key"]: a for a in assumptions(s)}
    assert by["workloads.pod.restart"]["value"] == "always"
    assert by["workloads.ctr.restart"]["value"] == "no"


def test_no_typical_reserve_is_offered_where_it_would_fill_the_host():
    s = sc.parse_scenario({"name": "tiny", "duration_s": 10,
                           "host": {"cpu_cores": 1, "ram_mib": 200, "disk_gib": 1, "reserved_mib": 0},
                           "workloads": [{"name": "a", "runtime": "runc", "image": "alpine:3.20", "mem_mib": 16,
                                          "arrival": {"kind": "burst", "count": 1, "at_s": 0}}]})
    by = {a["key"]: a for a in assumptions(s)}
    assert by["host.reserved_mib"]["flip_to"] is None          # 255 MiB kept of 200: nothing to run
    effects = {a["key"]: a for a in flip_effects(s, sc.simulate(s).summary)}
    assert effects["host.reserved_mib"]["effect"] is None and "flip_error" not in effects["host.reserved_mib"]


def test_an_overcommit_flips_to_none_and_its_kills_and_failures_are_in_the_headline():
    s = sc.parse_scenario({
        "name": "oc", "duration_s": 600, "seed": 7,
        "host": {"cpu_cores": 8, "ram_mib": 8192, "disk_gib": 100, "reserved_mib": 1024, "memory_overcommit": 1.5},
        "daemon": {"prepull": ["python:3.12-slim"]},
        "workloads": [{"name": "api", "runtime": "runc", "image": "python:3.12-slim", "mem_mib": 1024,
                       "restart": "always", "lifetime": {"kind": "forever"},
                       "usage": {"working_set_mib": 700, "ramp_s": 60, "cv": 0.3, "interval_s": 60},
                       "arrival": {"kind": "burst", "count": 12, "at_s": 0}}]})
    res = sc.simulate(s)
    by = {a["key"]: a for a in flip_effects(s, res.summary)}
    oc = by["host.memory_overcommit"]
    assert oc["flip_to"] == 1.0
    was, now = oc["effect"]["as_run"], oc["effect"]["flipped"]
    assert was["oom_kills"] == res.summary["memory"]["oom_kills"] > 0 and was["failed_starts"] > 0
    # promising no more than the RAM: fewer start, none is killed, no restart lacks room
    assert now["started"] < was["started"] and now["oom_kills"] == 0 and now["failed_starts"] == 0
    assert headline(res.summary, "api")["availability"] == res.summary["workloads"]["api"]["lifecycle"]["availability"]
    assert {a["key"]: a for a in assumptions(_burst())}["host.memory_overcommit"]["flip_to"] is None
