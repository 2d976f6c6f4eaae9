"""Docker's lifecycle: stop with a grace period, exit codes, auto_remove, the Engine API's
answers, event actions (issue 13; one lifecycle since issue 20)."""

from __future__ import annotations

import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.model.parts import stop_outcome


def _one(actions=(), duration=100.0, runtimes=None, **w):
    data = scenario_dict(duration_s=duration)
    if runtimes:
        data["runtimes"] = data["runtimes"] + runtimes
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1},
                                lifetime={"kind": "forever"}, **w)
    data["actions"] = [{"workload": "w", "instance": 0, **a} for a in actions]
    return sc.simulate(sc.parse_scenario(data))


def _die(r):
    ev = r.events
    return ev[ev.action == "die"][["time_s", "exit_code"]].itertuples(index=False, name=None)


def test_stop_outcome():
    assert stop_outcome("exit", 2.0, 10.0) == (2.0, 0)
    assert stop_outcome("exit", 12.0, 10.0) == (10.0, 137)      # too slow: SIGKILL at the grace's end
    assert stop_outcome("default", 2.0, 10.0) == (0.0, 143)
    assert stop_outcome("ignore", 0.0, 30.0) == (30.0, 137)


def test_stop_without_a_sigterm_handler_takes_the_grace_period_and_ends_137():
    r = _one([{"at_s": 5.0, "op": "stop"}], sigterm="ignore")
    assert list(_die(r)) == [(pytest.approx(15.0), 137)]               # Docker's 10 s
    r = _one([{"at_s": 5.0, "op": "stop"}], sigterm="ignore", stop_grace_s=3.0)
    assert list(_die(r)) == [(pytest.approx(8.0), 137)]
    r = _one([{"at_s": 5.0, "op": "stop"}], sigterm="exit", shutdown_s=2.0)
    assert list(_die(r)) == [(pytest.approx(7.0), 0)]
    r = _one([{"at_s": 5.0, "op": "stop"}], sigterm="default")
    assert list(_die(r)) == [(pytest.approx(5.0), 143)]
    r = _one([{"at_s": 5.0, "op": "kill"}], sigterm="ignore")
    assert list(_die(r)) == [(pytest.approx(5.0), 137)]


def test_the_kubelet_grace_period_is_30_s():
    r = _one([{"at_s": 5.0, "op": "stop"}], sigterm="ignore", control_plane="kubelet", restart="no")
    (t, code), = _die(r)
    assert code == 137 and t == pytest.approx(35.0)


def test_a_kill_during_the_grace_period_ends_it_at_once():
    r = _one([{"at_s": 5.0, "op": "stop"}, {"at_s": 6.0, "op": "kill"}], sigterm="ignore")
    assert list(_die(r)) == [(pytest.approx(6.0), 137)]


def test_auto_remove_false_keeps_the_writable_layer_until_remove():
    r = _one([{"at_s": 10.0, "op": "stop"}, {"at_s": 50.0, "op": "remove"}], writable_mib=500.0)
    ts = r.timeseries.set_index("time_s")
    disk = ts["disk_mib"]
    ram = ts["ram_mib"]
    assert disk.asof(5.0) == pytest.approx(500.0)
    assert disk.asof(30.0) == pytest.approx(500.0)        # exited: its layer stays
    assert ram.asof(30.0) == pytest.approx(0.0)           # but its memory is back
    assert disk.asof(60.0) == pytest.approx(0.0)          # removed
    assert r.instances.state.tolist() == ["removed"]
    r = _one([{"at_s": 10.0, "op": "stop"}], writable_mib=500.0, auto_remove=True)
    assert r.timeseries.set_index("time_s")["disk_mib"].asof(30.0) == pytest.approx(0.0)


def test_start_on_an_exited_container_restarts_it_without_pull_or_create():
    acts = [{"at_s": 10.0, "op": "stop"}, {"at_s": 11.0, "op": "stop"}, {"at_s": 12.0, "op": "kill"},
            {"at_s": 20.0, "op": "start"}, {"at_s": 21.0, "op": "start"}, {"at_s": 22.0, "op": "remove"},
            {"at_s": 30.0, "op": "stop"}, {"at_s": 31.0, "op": "remove"}, {"at_s": 40.0, "op": "start"}]
    r = _one(acts)
    assert r.api_calls.status.tolist() == [204, 304, 409, 204, 304, 409, 204, 204, 404]
    ev = r.events
    assert ev.action.tolist() == ["", "", "create", "", "start", "kill", "die", "", "start", "kill", "die",
                                  "destroy"]
    assert ev.state.tolist().count("pulling") == 1 and ev.state.tolist().count("created") == 1


def test_a_stop_during_the_boot_aborts_it():
    slow = {"name": "slowboot", "kind": "container", "boot": {"median_s": 5.0}}
    r = _one([{"at_s": 1.0, "op": "stop"}], runtimes=[slow], runtime="slowboot")
    ev = r.events
    assert "running" not in ev.state.tolist()
    assert list(_die(r)) == [(pytest.approx(1.0), 0)]
    assert r.timeseries.set_index("time_s")["ram_mib"].asof(2.0) == pytest.approx(0.0)


def test_pause_unpause_events_and_a_paused_start_conflicts():
    r = _one([{"at_s": 1.0, "op": "pause"}, {"at_s": 2.0, "op": "start"}, {"at_s": 3.0, "op": "unpause"}])
    assert r.api_calls.status.tolist() == [204, 409, 204]
    assert [a for a in r.events.action if a][-2:] == ["pause", "unpause"]


def test_pull_errors_fail_the_start():
    data = scenario_dict(duration_s=50)
    data["workloads"][0].update(pull_error_rate=0.5, auto_remove=True)
    r = sc.simulate(sc.parse_scenario(data))
    n_failed = (r.instances.state == "failed").sum()
    assert 0.3 < n_failed / len(r.instances) < 0.7
    assert r.failures.reason.str.contains("ErrImagePull").all()


def test_new_fields_are_validated():
    for bad in ({"restart": "sometimes"}, {"restart": "on-failure:x"}, {"stop_grace_s": -1.0},
                {"sigterm": "trap"}, {"pull_error_rate": 1.5}, {"crash_exit_code": 256},
                {"auto_remove": "yes"}, {"shutdown_s": float("nan")}):
        data = scenario_dict()
        data["workloads"][0].update(bad)
        with pytest.raises(sc.ScenarioError, match="allowed"):
            sc.parse_scenario(data)
    data = scenario_dict(faults=[{"kind": "host_panic"}])
    with pytest.raises(sc.ScenarioError, match="at_s"):
        sc.parse_scenario(data)
    data = scenario_dict(faults=[{"kind": "host_panic", "at_s": 1.0, "host": 3}])
    with pytest.raises(sc.ScenarioError, match="host 3 does not exist"):
        sc.parse_scenario(data)


def test_same_scenario_and_seed_same_events():
    data = scenario_dict(duration_s=200, faults=[{"kind": "kernel", "every_s": 30.0, "reboot_s": 5.0}])
    data["workloads"][0].update(restart="always", time_to_failure={"kind": "exponential", "mean_s": 20.0})
    a = sc.simulate(sc.parse_scenario(data)).events
    b = sc.simulate(sc.parse_scenario(data)).events
    assert a.equals(b)


def test_a_stop_while_waiting_for_the_host_to_come_back_ends_the_restarts():
    data = scenario_dict(duration_s=100, faults=[{"kind": "host_panic", "at_s": 5.0, "reboot_s": 30.0}])
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1}, lifetime={"kind": "forever"},
                                restart="always")
    data["actions"] = [{"at_s": 10.0, "op": "stop", "workload": "w", "instance": 0}]
    r = sc.simulate(sc.parse_scenario(data))
    assert r.api_calls.status.tolist() == [204]
    assert r.events.action.tolist().count("restart") == 0
    assert r.instances.state.tolist() == ["exited"]


def test_an_oom_kill_logs_oom_then_die_137_and_its_policy_restarts_it_with_start():
    """Docker's events for an OOM kill: ``oom``, then ``die`` with 137; a restart by policy
    logs ``start`` (moby daemon/monitor.go: restarts emit start; ``restart`` is the API call's)."""
    from simcontainer.engine.core import Engine

    data = scenario_dict(duration_s=30)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1}, lifetime={"kind": "forever"},
                                restart="on-failure")
    data["actions"] = [{"at_s": 25.0, "op": "pause", "workload": "w"}]
    eng = Engine(sc.parse_scenario(data))

    def oom():
        yield eng.env.timeout(5.0)
        inst = next(iter(eng.daemon.live.values()))
        eng.daemon.interrupt(inst, "oom")

    eng.env.process(oom())
    r = eng.run()
    ev = r.events
    assert ev[ev.action == "oom"].time_s.tolist() == [5.0]
    acts = [a for a in ev.action.tolist() if a]
    k = acts.index("oom")
    assert acts[k:k + 3] == ["oom", "die", "start"]             # on-failure: 137 is a failure
    assert ev[ev.action == "die"].exit_code.tolist() == [137]
    assert ev.action.tolist().count("restart") == 0
    assert r.summary["workloads"]["w"]["lifecycle"]["exit_codes"] == {"137": 1}     # one exit, not two


def test_kept_exited_instances_are_the_same_with_or_without_scripted_actions():
    data = scenario_dict(duration_s=60)
    data["workloads"][0].update(writable_mib=100.0, lifetime={"kind": "fixed", "s": 5.0},
                                arrival={"kind": "interval", "every_s": 10.0})
    fast = sc.simulate(sc.parse_scenario(data))
    data["actions"] = [{"at_s": 60.0, "op": "pause", "workload": "w", "instance": 0}]    # (once: the full path)
    full = sc.simulate(sc.parse_scenario(data))
    for r in (fast, full):
        w = r.summary["workloads"]["w"]
        assert w["exited_kept"] == 6 and w["completed"] == 0
        assert r.summary["host"]["peak_disk_mib"] == pytest.approx(600.0)
        assert r.timeseries.set_index("time_s")["ram_mib"].asof(59.0) == pytest.approx(0.0)
    assert fast.events.drop(columns="action").equals(full.events.drop(columns="action"))
