"""Faults and their blast radius (issue 13): host panic, guest panic, a kernel fault, a daemon
restart with and without live_restore; no instance holds RAM once dead or removed."""

from __future__ import annotations

import pytest
from conftest import scenario_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simcontainer as sc
from simcontainer.engine.core import Engine
from simcontainer.model.states import State
from simcontainer.studies.blast_radius import blast_radius

SANDBOX = {"name": "sandbox", "kind": "container", "kernel": "guest"}     # a Kata-like runtime


def _scenario(faults, runtime="zero", hosts=1, n=6, duration=200.0, live_restore=False, **w):
    data = scenario_dict(duration_s=duration, faults=faults,
                         host={"count": hosts}, daemon={"placement": "spread", "live_restore": live_restore})
    data["runtimes"] = data["runtimes"] + [SANDBOX]
    data["workloads"][0].update({"runtime": runtime, "arrival": {"kind": "burst", "at_s": 0.0, "count": n},
                                 "lifetime": {"kind": "forever"}, **w})
    return sc.parse_scenario(data)


def _died(r, t):
    ev = r.events
    return ev[(ev.action == "die") & (ev.time_s == t)]


def test_a_host_panic_kills_every_instance_on_that_host_and_none_elsewhere():
    r = sc.simulate(_scenario([{"kind": "host_panic", "at_s": 10.0, "host": 1, "reboot_s": 30.0}], hosts=2))
    dead = _died(r, 10.0)
    assert len(dead) == 3 and set(dead.host) == {1}
    assert set(dead.exit_code) == {137}
    f, = r.summary["faults"]
    assert f["instances_lost"] == 3 and f["lost"] == {"zero": 3}
    assert f["recovery_s"] is None            # restart policy "no": never back
    r = sc.simulate(_scenario([{"kind": "host_panic", "at_s": 10.0, "host": 1, "reboot_s": 30.0}], hosts=2,
                              restart="always"))
    f, = r.summary["faults"]
    assert f["recovery_s"] == pytest.approx(30.0, abs=0.2)   # the reboot, then 100 ms back-off
    assert f["capacity_lost_instance_s"] == pytest.approx(90.0, abs=1.0)


def test_a_guest_panic_kills_one_sandbox_and_nothing_among_shared_kernel_containers():
    r = sc.simulate(_scenario([{"kind": "guest_panic", "at_s": 10.0}], runtime="sandbox"))
    assert len(_died(r, 10.0)) == 1
    r = sc.simulate(_scenario([{"kind": "guest_panic", "at_s": 10.0}]))
    assert len(_died(r, 10.0)) == 0 and r.summary["faults"][0]["instances_lost"] == 0


def test_a_kernel_fault_takes_every_container_sharing_the_host_kernel_but_one_sandbox():
    r = sc.simulate(_scenario([{"kind": "kernel", "at_s": 10.0}]))
    assert len(_died(r, 10.0)) == 6
    r = sc.simulate(_scenario([{"kind": "kernel", "at_s": 10.0}], runtime="sandbox"))
    assert len(_died(r, 10.0)) == 1


def test_live_restore_keeps_containers_through_a_daemon_restart():
    fault = [{"kind": "daemon_restart", "at_s": 10.0, "daemon_down_s": 2.0}]
    off = sc.simulate(_scenario(fault, control_plane="dockerd", restart="always"))
    assert len(_died(off, 10.0)) == 6
    assert off.summary["faults"][0]["recovery_s"] >= 2.0
    on = sc.simulate(_scenario(fault, control_plane="dockerd", restart="always", live_restore=True))
    assert len(_died(on, 10.0)) == 0
    other = sc.simulate(_scenario(fault, control_plane="kubelet"))       # containerd's shims keep them
    assert len(_died(other, 10.0)) == 0


def test_blast_radius_table():
    df = blast_radius(runtimes=("runc", "firecracker"), faults=("kernel", "guest_panic"), n=4, duration_s=200.0)
    lost = {(f, rt): n for f, rt, n in df[["fault", "runtime", "instances_lost"]].itertuples(index=False)}
    assert lost == {("kernel", "runc"): 4, ("kernel", "firecracker"): 1,
                    ("guest_panic", "runc"): 0, ("guest_panic", "firecracker"): 1}


# dead or gone: no RAM; every other placed instance (waiting for its host to come back, pulling,
# creating, starting, running, paused, stopping) holds its reservation
_DEAD = (State.EXITED, State.FAILED, State.OOM_KILLED, State.REMOVED, State.REJECTED)

faults = st.lists(st.fixed_dictionaries({
    "kind": st.sampled_from(["host_panic", "guest_panic", "kernel", "daemon_restart"]),
    "at_s": st.floats(0.0, 60.0), "host": st.integers(0, 1), "reboot_s": st.floats(0.0, 20.0),
    "daemon_down_s": st.floats(0.0, 5.0)}), max_size=4)


actions = st.lists(st.fixed_dictionaries({
    "at_s": st.floats(0.0, 80.0), "op": st.sampled_from(["start", "stop", "kill", "pause", "unpause", "remove"]),
    "workload": st.just("w"), "instance": st.integers(0, 4)}), max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faults=faults, actions=actions, restart=st.sampled_from(["no", "always", "on-failure:2"]),
       runtime=st.sampled_from(["zero", "sandbox"]), live_restore=st.booleans(), auto_remove=st.booleans(),
       sigterm=st.sampled_from(["exit", "ignore"]), seed=st.integers(0, 3))
def test_no_instance_holds_ram_once_dead_or_removed(faults, actions, restart, runtime, live_restore, auto_remove,
                                                    sigterm, seed):
    scen = _scenario(faults, runtime=runtime, hosts=2, n=5, duration=90.0, live_restore=live_restore,
                     restart=restart, auto_remove=auto_remove, control_plane="dockerd", sigterm=sigterm,
                     stop_grace_s=3.0, time_to_failure={"kind": "exponential", "mean_s": 15.0},
                     arrival={"kind": "poisson", "rate_per_s": 0.3, "start_s": 0.0},
                     lifetime={"kind": "exponential", "mean_s": 20.0}, max_instances=5)
    scen = scen.model_copy(update={"actions": [sc.scenario.schema.Action(**a) for a in actions]})
    eng = Engine(scen, seed)
    bad = []

    def check():
        while True:
            for h in eng.hosts:
                held = sum(i.plan.demand.ram_mib for i in eng.daemon.live.values()
                           if i.host is h and i.state not in _DEAD)
                if abs(h.ram.used - held) > 1e-6:
                    bad.append((eng.env.now, h.index, h.ram.used, held))
            yield eng.env.timeout(0.5)

    eng.env.process(check())
    eng.run()
    assert not bad


def test_the_shipped_blast_radius_scenario():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = sc.simulate(sc.load_scenario(root / "models/scenarios/blast-radius.toml"))
    host, guest, daemon = r.summary["faults"]
    assert host["lost"] == {"runc": 50, "firecracker": 50} and host["kind_effective"] == "host_panic"
    assert guest["lost"] == {"firecracker": 1}
    assert daemon["lost"] == {"runc": 50}
    assert host["recovery_s"] > 60.0 > daemon["recovery_s"] > 2.0 > guest["recovery_s"]
    # 500 requests/s over 50 instances each: 10/s per instance missing
    assert guest["requests_failed"] == pytest.approx(10 * guest["capacity_lost_instance_s"])
    assert host["requests_failed"] == pytest.approx(10 * host["capacity_lost_instance_s"])


def test_a_daemon_restart_brings_back_stopped_always_containers_but_not_unless_stopped():
    def run(restart):
        data = scenario_dict(duration_s=60, faults=[{"kind": "daemon_restart", "at_s": 20.0, "daemon_down_s": 2.0}])
        data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1}, lifetime={"kind": "forever"},
                                    restart=restart, control_plane="dockerd")
        data["actions"] = [{"at_s": 10.0, "op": "stop", "workload": "w", "instance": 0}]
        return sc.simulate(sc.parse_scenario(data)).instances.state.tolist()

    assert run("always") == ["running"]
    assert run("unless-stopped") == ["exited"]
