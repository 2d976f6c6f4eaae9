"""Invariants of every run, determinism, the lifecycle API, and the shape of the answer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import scenario_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simcontainer as sc
from simcontainer.model.states import TRANSITIONS, State

RUNTIMES = ["runc", "crun", "gvisor", "kata", "firecracker", "qemu-kvm", "zero"]
IMAGES = {"container": ["tiny", "alpine:3.20", "python:3.12-slim", "nginx:1.27", "shop-api:1.4"],
          "vm": ["firecracker-rootfs", "alpine-guest"]}


@st.composite
def scenarios(draw) -> sc.Scenario:
    n = draw(st.integers(1, 3))
    workloads = []
    for i in range(n):
        rt = draw(st.sampled_from(RUNTIMES))
        vm = rt in ("firecracker", "qemu-kvm")
        image = draw(st.sampled_from(IMAGES["container"] + (IMAGES["vm"] if vm else [])))
        arrival = draw(st.sampled_from([
            {"kind": "poisson", "rate_per_s": draw(st.floats(0.05, 3.0))},
            {"kind": "burst", "at_s": draw(st.floats(0, 20)), "count": draw(st.integers(1, 40))},
            {"kind": "interval", "every_s": draw(st.floats(0.5, 10.0))},
        ]))
        lifetime = draw(st.sampled_from([
            {"kind": "fixed", "s": draw(st.floats(0, 30))},
            {"kind": "exponential", "mean_s": draw(st.floats(0.5, 30))},
            {"kind": "lognormal", "median_s": 5.0, "p95_s": 20.0},
            {"kind": "forever"},
        ]))
        mem = draw(st.sampled_from([64, 256, 700]))
        profile = sc.default_catalogue().runtimes.get(rt)   # only pairs that exist (issue 23)
        planes = [p for p in ("dockerd", "kubelet", "libvirt", "firecracker")
                  if profile is None or profile.control_planes is None or p in profile.control_planes]
        w = {"name": f"w{i}", "runtime": rt, "image": image, "mem_mib": mem,
             "cpu": draw(st.sampled_from([0.0, 0.25, 1.0])), "arrival": arrival, "lifetime": lifetime,
             "ready_s": draw(st.sampled_from([0.0, 0.5])), "writable_mib": draw(st.sampled_from([0, 10])),
             "control_plane": draw(st.sampled_from([None, *planes])),
             "network": draw(st.sampled_from([None, "bridge", "none", "host"])),
             "networks": draw(st.integers(1, 3))}
        if vm:
            w["guest_mem_mib"] = draw(st.sampled_from([mem, 1024]))
            w["vm_disk"] = draw(st.sampled_from(["copy", "overlay"]))
        workloads.append(w)
    data = scenario_dict(
        duration_s=draw(st.floats(10, 120)), seed=draw(st.integers(0, 2**32)),
        host={"cpu_cores": draw(st.sampled_from([1, 2, 8])), "ram_mib": draw(st.sampled_from([2048, 8192])),
              "disk_gib": draw(st.sampled_from([2, 50])), "count": draw(st.integers(1, 3))},
        daemon={"admission": draw(st.sampled_from(["queue", "reject"])),
                "placement": draw(st.sampled_from(["first-fit", "best-fit", "spread", "image-locality"])),
                "prepull": draw(st.sampled_from([[], ["tiny"]]))},
        workloads=workloads,
    )
    return sc.parse_scenario(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_invariants_hold_on_random_scenarios(scenario):
    r = sc.simulate(scenario)
    s = r.summary
    # every request is accounted for: rejected, removed, or still on its way at the horizon
    for w in s["workloads"].values():
        assert w["requested"] == w["rejected"] + w["completed"] + sum(w["at_horizon"].values())
        assert w["started"] <= w["requested"]
        # what did not happen is counted, and figures over nothing are None, never 0
        assert w["never_started"] == w["requested"] - w["started"]
        assert w["rejected"] + w["waiting_at_horizon"] + w["starting_at_horizon"] <= w["never_started"]
        assert (w["startup_s"]["p95"] is None) == (w["startup_s"]["n"] == 0)
        assert w["wait_censored_s"]["n"] == w["wait_s"]["n"] + w["waiting_at_horizon"]
        cpu = w["cpu"]
        assert cpu["received_core_s"] <= cpu["asked_core_s"] + 1e-9
        assert (cpu["received_fraction"] is None) == (cpu["asked_core_s"] == 0)
    json.dumps(s, allow_nan=False)
    # pools stay within [0, capacity], at every change point
    ts = r.timeseries
    host = s["host"]
    assert (ts["ram_mib"] >= -1e-6).all() and (ts["ram_mib"] <= host["ram_mib"] + 1e-6).all()
    assert (ts["disk_mib"] >= -1e-6).all() and (ts["disk_mib"] <= host["disk_mib"] + 1e-6).all()
    assert (ts["cpu_busy"] >= -1e-6).all() and (ts["cpu_busy"] <= host["cpu_cores"] + 1e-6).all()
    assert 0 <= host["mean_cpu_util"] <= 1 + 1e-9
    hs = r.host_timeseries
    per_host_ram = scenario.host.ram_mib
    assert (hs["ram_mib"] <= per_host_ram + 1e-6).all()
    # on each host the fair share hands out min(cores asked, cores): demand is busy + the excess
    np.testing.assert_allclose(hs["cpu_busy"], np.minimum(hs["cpu_demand"], scenario.host.cpu_cores), atol=1e-6)
    # event times never decrease, and each instance only takes legal steps
    ev = r.events
    assert (np.diff(ev["time_s"].to_numpy()) >= 0).all()
    for _, g in ev.groupby("instance", observed=True):
        states = [State[x.upper()] for x in g["state"]]
        assert states[0] == State.REQUESTED
        for a, b in zip(states, states[1:]):
            assert b in TRANSITIONS[a], (a, b)
    # lifecycle marks are in order for every instance
    inst = r.instances
    marks = inst[[c for c in inst.columns if c.startswith("t_")]].to_numpy()
    for row in marks:
        seen = row[~np.isnan(row)]
        assert (np.diff(seen) >= -1e-9).all()
    # a rejected request never held anything
    assert (inst.loc[inst["state"] == "rejected", "t_admitted"].isna()).all()


def test_same_seed_same_result(default_scenario):
    a = sc.simulate(default_scenario).summary
    b = sc.simulate(default_scenario).summary
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = sc.simulate(default_scenario, seed=default_scenario.seed + 1).summary
    assert json.dumps(a, sort_keys=True) != json.dumps(c, sort_keys=True)


def test_adding_a_workload_leaves_other_draws_unchanged():
    base = scenario_dict(duration_s=200, host={"ram_mib": 10**6, "cpu_cores": 64})
    one = sc.parse_scenario(base)
    extra = dict(base["workloads"][0], name="other", arrival={"kind": "poisson", "rate_per_s": 2.0})
    two = sc.parse_scenario({**base, "workloads": [extra, *base["workloads"]]})
    i1 = sc.simulate(one).instances
    i2 = sc.simulate(two).instances
    w1 = i1[i1["workload"] == "w"].reset_index(drop=True)
    w2 = i2[i2["workload"] == "w"].reset_index(drop=True)
    assert len(w1) == len(w2) > 100
    np.testing.assert_array_equal(w1["t_request"], w2["t_request"])
    np.testing.assert_array_equal((w1["t_stopping"] - w1["t_ready"]).fillna(-1),
                                  (w2["t_stopping"] - w2["t_ready"]).fillna(-1))


def test_trace_arrivals_with_lifetimes_and_workload_column(tmp_path):
    (tmp_path / "trace.csv").write_text(
        "time_s,lifetime_s,workload\n0.5,2,w\n1.0,,w\n1.5,3,other\n4.0,1,w\n")
    data = scenario_dict(duration_s=20)
    data["workloads"][0]["arrival"] = {"kind": "trace", "path": "trace.csv"}
    s = sc.parse_scenario(data, base_dir=tmp_path)
    inst = sc.simulate(s).instances
    assert inst["t_request"].tolist() == [0.5, 1.0, 4.0]
    assert inst["t_stopping"].iloc[0] - inst["t_ready"].iloc[0] == pytest.approx(2.0)
    assert inst["t_stopping"].iloc[2] - inst["t_ready"].iloc[2] == pytest.approx(1.0)


def test_max_instances_and_interval():
    data = scenario_dict(duration_s=100)
    data["workloads"][0].update(arrival={"kind": "interval", "every_s": 2.0}, max_instances=7)
    inst = sc.simulate(sc.parse_scenario(data)).instances
    assert inst["t_request"].tolist() == [0, 2, 4, 6, 8, 10, 12]


def test_api_actions_pause_unpause_stop_and_conflicts():
    data = scenario_dict(duration_s=100)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0, "count": 2}, lifetime={"kind": "forever"},
                                cpu=1.0, auto_remove=True)     # docker run --rm: gone after the stop
    data["actions"] = [
        {"at_s": 10, "op": "pause", "workload": "w", "instance": 0},
        {"at_s": 11, "op": "pause", "workload": "w", "instance": 0},     # already paused: 409
        {"at_s": 20, "op": "unpause", "workload": "w", "instance": 0},
        {"at_s": 30, "op": "stop", "workload": "w", "instance": 1},
        {"at_s": 40, "op": "unpause", "workload": "w", "instance": 1},   # removed: 404
        {"at_s": 50, "op": "kill", "workload": "w", "instance": 0},
    ]
    r = sc.simulate(sc.parse_scenario(data))
    calls = r.api_calls
    assert calls["status"].tolist() == [204, 409, 204, 204, 404, 204]
    assert r.summary["api"] == {"calls": 6, "errors": 2}
    ev = r.events
    states0 = ev[ev["instance"] == 0]["state"].tolist()
    assert states0[-5:] == ["running", "paused", "running", "exited", "removed"]  # kill skips stopping
    states1 = ev[ev["instance"] == 1]["state"].tolist()
    assert states1[-4:] == ["running", "stopping", "exited", "removed"]
    # a paused instance uses no CPU: between 10 s and 20 s only instance 1's core is busy
    ts = r.timeseries.set_index("time_s")["cpu_busy"]
    assert ts.asof(15.0) == pytest.approx(1.0)
    assert ts.asof(25.0) == pytest.approx(2.0)
    assert ts.asof(35.0) == pytest.approx(1.0)
    assert ts.asof(60.0) == pytest.approx(0.0)


def test_reject_when_it_can_never_fit_even_in_queue_mode():
    data = scenario_dict(duration_s=10)
    data["workloads"][0].update(mem_mib=10**6, arrival={"kind": "burst", "count": 3})
    w = sc.simulate(sc.parse_scenario(data)).summary["workloads"]["w"]
    assert w["rejected"] == 3 and w["started"] == 0


def test_queue_is_fifo_and_waits_are_exact():
    # room for 1; three arrive at 0 and each lives 10 s: they start at 0, 10, 20
    data = scenario_dict(duration_s=100, host={"ram_mib": 100})
    data["workloads"][0].update(arrival={"kind": "burst", "count": 3}, lifetime={"kind": "fixed", "s": 10})
    r = sc.simulate(sc.parse_scenario(data))
    assert r.instances["t_admitted"].tolist() == [0.0, 10.0, 20.0]
    w = r.summary["workloads"]["w"]
    assert w["wait_s"]["mean"] == pytest.approx(10.0)
    assert w["wait_s"]["waited_fraction"] == pytest.approx(2 / 3)
    assert w["mean_running"] == pytest.approx(30 / 100)


def test_cpu_contention_stretches_only_the_cpu_part():
    # each boot: 1 s fixed latency + 1 core-s of CPU on a 1-core host; 4 at once -> the CPU parts
    # share the core: all finish their CPU work at 1 + 4 = 5 s
    rt = {"name": "b", "kind": "container", "boot": {"median_s": 1.0, "cpu_s": 1.0}}
    data = scenario_dict(duration_s=50, host={"cpu_cores": 1}, runtimes=[rt])
    data["workloads"][0].update(runtime="b", arrival={"kind": "burst", "count": 4}, lifetime={"kind": "forever"})
    inst = sc.simulate(sc.parse_scenario(data)).instances
    assert inst["t_running"].tolist() == pytest.approx([5.0] * 4)
    data["workloads"][0]["arrival"] = {"kind": "burst", "count": 1}
    inst = sc.simulate(sc.parse_scenario(data)).instances
    assert inst["t_running"].tolist() == pytest.approx([2.0])


def test_serialized_daemon_section_queues_creates():
    rt = {"name": "s", "kind": "container", "api": {"serial_s": 0.5}}
    data = scenario_dict(duration_s=50, runtimes=[rt])
    data["workloads"][0].update(runtime="s", arrival={"kind": "burst", "count": 4}, lifetime={"kind": "forever"})
    inst = sc.simulate(sc.parse_scenario(data)).instances
    assert inst["t_created"].tolist() == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_a_control_plane_pool_bounds_concurrency():
    rt = {"name": "a", "kind": "container", "api": {"median_s": 1.0}}
    data = scenario_dict(duration_s=50, runtimes=[rt],
                         control_planes=[{"name": "two", "base": "direct", "workers": 2}])
    data["workloads"][0].update(runtime="a", control_plane="two", arrival={"kind": "burst", "count": 5},
                                lifetime={"kind": "forever"})
    inst = sc.simulate(sc.parse_scenario(data)).instances
    assert sorted(inst["t_created"].tolist()) == pytest.approx([1, 1, 2, 2, 3])


# ---- the shape of the answer, on the default host ---------------------------------------------


def _single_start(scenario: sc.Scenario, runtime: str, n: int = 200) -> np.ndarray:
    """n starts far apart (no contention), warm cache: the runtime's own startup distribution."""
    data = scenario.to_dict()
    w = dict(data["workloads"][0], runtime=runtime, arrival={"kind": "interval", "every_s": 60.0},
             lifetime={"kind": "fixed", "s": 1.0}, max_instances=n)
    w.pop("guest_mem_mib", None)
    if runtime in ("firecracker", "qemu-kvm"):
        w["image"] = "firecracker-rootfs" if runtime == "firecracker" else "ubuntu-24.04-cloud"
        w["vm_disk"] = "overlay"
    data.update(workloads=[w], duration_s=60.0 * n + 60)
    r = sc.simulate(sc.parse_scenario(data, base_dir=scenario.base_dir))
    return r.instances["startup_s"].dropna().to_numpy()


def test_runc_starts_well_under_a_second_and_qemu_takes_seconds(default_scenario):
    runc = _single_start(default_scenario, "runc")
    qemu = _single_start(default_scenario, "qemu-kvm")
    assert np.median(runc) < 0.8
    assert np.median(qemu) > 5.0
    assert np.median(qemu) / np.median(runc) > 8


def test_density_of_small_apps_is_several_times_higher_as_containers(default_scenario):
    d = sc.density(default_scenario, ["qemu-kvm"])
    runc, qemu = d["api-runc"]["runc"], d["api-runc"]["qemu-kvm"]
    assert qemu["binding"] == "ram"
    assert runc["limits"]["ram"] / qemu["limits"]["ram"] > 4


def test_a_burst_has_a_slower_tail_than_a_single_start(default_scenario):
    single = _single_start(default_scenario, "runc", n=100)
    data = default_scenario.to_dict()
    w = dict(data["workloads"][0], arrival={"kind": "burst", "at_s": 0.0, "count": 200})
    data.update(workloads=[w], duration_s=300)
    r = sc.simulate(sc.parse_scenario(data, base_dir=default_scenario.base_dir))
    burst = r.summary["workloads"][w["name"]]["startup_s"]
    assert r.summary["workloads"][w["name"]]["started"] == 200
    assert burst["p95"] > 3 * np.percentile(single, 95)
