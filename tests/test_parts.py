"""One lifecycle made of parts (issue 20): the seams that used to give wrong answers, the Engine
Engine API contract (Daemon.api; moby's answers), and the stop/kill behaviours of issue 21 items 2-3."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.engine.core import Engine
from simcontainer.model.parts import (
    COLD,
    KEEP_EXITED,
    REMOVE,
    GraceThenKill,
    HandBack,
    KeepAlive,
    PoolTake,
    SnapshotRestore,
    stop_outcome,
)
from simcontainer.model.states import State


def _one(actions=(), duration=100.0, **w):
    """One instance that runs until told (scripted actions on instance 0)."""
    data = scenario_dict(duration_s=duration)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1},
                                lifetime={"kind": "forever"}, **w)
    data["actions"] = [{"workload": "w", "instance": 0, **a} for a in actions]
    return sc.simulate(sc.parse_scenario(data))


def _dies(r):
    ev = r.events
    return [(t, c) for t, c in ev[ev.action == "die"][["time_s", "exit_code"]].itertuples(index=False, name=None)]


# ---- parts chosen when the workload is planned ------------------------------------------------

def test_the_plain_docker_run_is_the_default_parts_and_warm_workloads_get_theirs():
    data = scenario_dict()
    data["workloads"] = [
        {**data["workloads"][0], "name": "plain", "auto_remove": True},
        {**data["workloads"][0], "name": "kept"},
        {**data["workloads"][0], "name": "pool", "auto_remove": True, "warm": {"pool": 1}},
        {**data["workloads"][0], "name": "keepalive", "auto_remove": True, "warm": {"keep_alive_s": 30.0}},
        {**data["workloads"][0], "name": "graceful", "sigterm": "ignore", "stop_grace_s": 3.0, "restart": "always"},
    ]
    plans = {p.name: p for p in Engine(sc.parse_scenario(data)).plans}
    plain = plans["plain"].parts
    assert plain.bring_up is COLD and plain.finish is REMOVE and plain.restart is None
    assert plain.stopper.clean and plans["plain"].quick_stop
    assert plans["kept"].parts.finish is KEEP_EXITED and not plans["kept"].quick_stop
    assert isinstance(plans["pool"].parts.bring_up, PoolTake) and plans["pool"].parts.bring_up.inner is COLD
    ka = plans["keepalive"].parts
    assert isinstance(ka.finish, KeepAlive) and isinstance(ka.stopper, HandBack)
    g = plans["graceful"].parts
    assert g.stopper == GraceThenKill(3.0, "ignore", 0.0) and g.restart is not None and not g.stopper.clean


def test_a_snapshot_start_restores():
    data = scenario_dict()
    data["workloads"][0].update(runtime="firecracker", image="python:3.12-slim", warm={"start": "snapshot"})
    data["daemon"]["prepull"] = ["python:3.12-slim"]
    plan = Engine(sc.parse_scenario(data)).plans[0]
    assert isinstance(plan.parts.bring_up.inner, SnapshotRestore)


def test_every_transition_is_checked_against_the_state_machine():
    eng = Engine(sc.parse_scenario(scenario_dict(duration_s=5)))
    inst = eng.daemon.create(eng.plans[0])      # its process starts at once: created, waiting
    assert inst.state is State.CREATED
    with pytest.raises(AssertionError, match="illegal created -> running"):
        eng.daemon.enter(inst, State.RUNNING)


# ---- the seam defects ---------------------------------------------------------------------------

def test_warm_with_a_memory_limit_runs_as_check_promises():
    """`check` accepted warm = { pool = 1 } with mem_limit_mib; `run` refused it (two rules for
    "needs the full lifecycle"). Now there is one lifecycle and no such rule."""
    data = scenario_dict(duration_s=60)
    data["workloads"][0].update(warm={"pool": 1}, mem_limit_mib=512, auto_remove=True)
    s = sc.parse_scenario(data)                     # check: no problem
    r = sc.simulate(s)                              # run: no ScenarioError either
    w = r.summary["workloads"]["w"]
    assert w["started"] > 0 and w["warm"]["starts"]["warm"] >= 1


def test_a_killed_container_stops_counting_as_running_the_moment_it_dies():
    """One container killed at 100 s of 900 s: mean_running ~ 100/900, not ~1 (issue 23)."""
    r = _one([{"at_s": 100.0, "op": "kill"}], duration=900.0, cpu=1.0)
    w = r.summary["workloads"]["w"]
    assert w["mean_running"] == pytest.approx(100.0 / 900.0, abs=1e-9)
    assert w["cpu"]["asked_core_s"] == pytest.approx(100.0)
    assert w["cpu"]["received_fraction"] == pytest.approx(1.0)     # an idle host gives all it asks
    ts = r.timeseries.set_index("time_s")["running"]
    assert ts.asof(50.0) == 1 and ts.asof(500.0) == 0


def test_a_crash_loop_asks_and_receives_no_more_cpu_than_the_host_has():
    """A crashing workload on a 4-core host reported 5,981 core-s asked and 4,039 received while
    the host served 443 (spans closed only at a stop): every span now closes however it ends."""
    data = scenario_dict(duration_s=900.0)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 8},
                                lifetime={"kind": "forever"}, cpu=1.0, restart="always",
                                time_to_failure={"kind": "exponential", "mean_s": 5.0})
    r = sc.simulate(sc.parse_scenario(data))
    cpu = r.summary["workloads"]["w"]["cpu"]
    served = r.summary["host"]["mean_cpu_util"] * 4 * 900.0
    assert cpu["received_core_s"] <= cpu["asked_core_s"] + 1e-9
    assert cpu["received_core_s"] <= 4 * 900.0
    assert cpu["received_core_s"] == pytest.approx(served, rel=1e-6)     # what the host served, exactly
    assert r.summary["workloads"]["w"]["lifecycle"]["restarts"] > 50
    # the running count reported is the event log's at every instant
    ev = r.events
    up = ev.state.isin(["running", "paused"]).astype(int).to_numpy()
    prev = ev.groupby("instance").state.shift().isin(["running", "paused"]).astype(int).to_numpy()
    count = pd_series = np.cumsum(up - prev)
    ts = r.timeseries.set_index("time_s")["running"]
    last = {t: c for t, c in zip(ev.time_s, count)}
    for t, c in list(last.items())[::7]:
        assert ts.asof(t) == c
    assert pd_series.max() <= 8


def test_an_oom_killed_instance_closes_its_span_and_restarts_with_start():
    data = scenario_dict(duration_s=120.0)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1}, lifetime={"kind": "forever"},
                                cpu=1.0, mem_limit_mib=150, restart="always",
                                usage={"working_set_mib": 200.0, "ramp_s": 10.0, "ramp_steps": 2, "cv": 0.0,
                                       "interval_s": 1000.0})
    r = sc.simulate(sc.parse_scenario(data))
    ev = r.events
    acts = [a for a in ev.action.tolist() if a]
    assert "oom" in acts
    k = acts.index("oom")
    assert acts[k:k + 3] == ["oom", "die", "start"]
    assert "restart" not in acts                        # ``restart`` is the API call's event
    cpu = r.summary["workloads"]["w"]["cpu"]
    running = (ev.state == "running").sum()
    assert cpu["asked_core_s"] < 120.0 - running * 0.1 + 1e-9    # spans close at each kill (back-offs not asked)
    assert r.summary["workloads"]["w"]["mean_running"] < 1.0


def test_a_kept_container_gives_back_its_reserved_cpu_under_cpu_overcommit():
    """A container that exits without --rm keeps its writable layer but not its reserved CPU: a
    second one that needs the same cores starts once the first has exited (mutation survivor)."""
    data = scenario_dict(duration_s=100.0)
    data["host"].update(cpu_overcommit=1.0)
    data["workloads"][0].update(arrival={"kind": "interval", "every_s": 10.0}, lifetime={"kind": "fixed", "s": 15.0},
                                cpu=4.0, max_instances=2, auto_remove=False)
    r = sc.simulate(sc.parse_scenario(data))
    w = r.summary["workloads"]["w"]
    assert w["started"] == 2 and w["exited_kept"] == 2
    inst = r.instances.set_index("instance")
    assert inst.loc[1, "t_admitted"] == pytest.approx(inst.loc[0, "t_exited"])    # waited for the cores


# ---- the Engine API (Daemon.api; moby's answers) ---------------------------------------

def test_api_answers_as_moby_from_scripted_actions():
    acts = [{"at_s": 5.0, "op": "start"},                      # running: 304
            {"at_s": 6.0, "op": "pause"}, {"at_s": 7.0, "op": "pause"},      # 204, then 409
            {"at_s": 8.0, "op": "start"},                      # paused: 409
            {"at_s": 9.0, "op": "unpause"}, {"at_s": 9.5, "op": "unpause"},  # 204, 409
            {"at_s": 10.0, "op": "remove"},                    # running, no force: 409
            {"at_s": 11.0, "op": "stop"}, {"at_s": 12.0, "op": "stop"},      # 204, 304
            {"at_s": 13.0, "op": "kill"},                      # not running: 409
            {"at_s": 14.0, "op": "restart"},                   # exited: started again, 204
            {"at_s": 20.0, "op": "remove", "force": True},     # running, force: 204
            {"at_s": 30.0, "op": "stop"}]                      # gone: 404
    r = _one(acts)
    assert r.api_calls.status.tolist() == [304, 204, 409, 409, 204, 409, 409, 204, 304, 409, 204, 204, 404]
    assert r.summary["api"] == {"calls": 13, "errors": 6}
    ev = r.events
    assert ev[ev.state == "running"].action.tolist() == ["start", "unpause", "restart"]
    assert r.instances.state.tolist() == ["removed"]
    assert _dies(r) == [(11.0, 0), (20.0, 137)]


def test_docker_create_then_start():
    data = scenario_dict(duration_s=50.0)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1}, lifetime={"kind": "fixed", "s": 1.0})
    data["actions"] = [{"at_s": 5.0, "op": "create", "workload": "w"},
                       {"at_s": 10.0, "op": "start", "workload": "w", "instance": 1},
                       {"at_s": 20.0, "op": "stop", "workload": "w", "instance": 1}]
    r = sc.simulate(sc.parse_scenario(data))
    ev = r.events
    mine = ev[ev.instance == 1]
    assert mine.state.tolist()[:3] == ["requested", "pulling", "created"]
    assert mine[mine.state == "running"].time_s.tolist() == [10.0]     # waited in created for the start
    assert r.api_calls.status.tolist() == [204, 204]
    assert _dies(r)[-1] == (20.0, 0)


def test_api_on_the_daemon_directly_returns_the_status():
    eng = Engine(sc.parse_scenario(scenario_dict(duration_s=20.0)))
    d = eng.daemon
    inst = d.create(eng.plans[0])
    eng.env.run(until=1.0)
    assert inst.state == State.CREATED
    assert d.api("stop", inst.id) == 304 and d.api("kill", inst.id) == 409
    assert d.api("start", inst.id) == 204
    eng.env.run(until=2.0)
    assert inst.state == State.RUNNING and d.api("start", inst.id) == 304
    assert d.api("stop", 10_000) == 404
    assert [c["status"] for c in eng.recorder.api_calls] == [304, 409, 204, 304, 404]


def test_an_unknown_op_is_refused_with_the_allowed_ones():
    eng = Engine(sc.parse_scenario(scenario_dict(duration_s=20.0)))
    inst = eng.daemon.run(eng.plans[0], 10.0)
    with pytest.raises(ValueError, match="allowed: start, stop"):
        eng.daemon.api("frobnicate", inst.id)


# ---- stop and kill as moby does them (issue 21 items 2-3) ------------------------------------

def test_an_app_exiting_by_itself_during_the_grace_period_exits_with_its_own_code_then():
    """docker stop -t 20 on sh -c "sleep 10; exit 42": 42 at 10 s (moby daemon/stop.go: SIGKILL
    only if the container has not exited by the timeout)."""
    own = {"time_to_failure": {"kind": "fixed", "s": 10.0}, "crash_exit_code": 42, "sigterm": "ignore"}
    r = _one([{"at_s": 2.0, "op": "stop", "t": 20.0}], **own)
    assert _dies(r) == [(10.0, 42)]
    r = _one([{"at_s": 2.0, "op": "stop", "t": -1.0}], **own)          # no limit: still exits, at 10 s
    assert _dies(r) == [(10.0, 42)]
    r = _one([{"at_s": 2.0, "op": "stop", "t": 3.0}], **own)           # the grace ends first: SIGKILL
    assert _dies(r) == [(5.0, 137)]
    r = _one([{"at_s": 2.0, "op": "stop"}], **own)                     # the plane's 10 s: 10 < 12
    assert _dies(r) == [(10.0, 42)]


def test_kill_with_a_signal():
    r = _one([{"at_s": 5.0, "op": "kill", "signal": "INT"}])
    assert _dies(r) == [(5.0, 130)]                                     # 128 + SIGINT
    r = _one([{"at_s": 5.0, "op": "kill", "signal": "TERM"}], shutdown_s=2.0)
    assert _dies(r) == [(7.0, 0)]                                       # a handler: shuts down as on stop
    r = _one([{"at_s": 5.0, "op": "kill", "signal": "TERM"}], sigterm="default")
    assert _dies(r) == [(5.0, 143)]
    r = _one([{"at_s": 5.0, "op": "kill", "signal": "TERM"}, {"at_s": 8.0, "op": "kill"}], sigterm="ignore")
    assert _dies(r) == [(8.0, 137)]                                     # PID 1 ignores TERM; KILL ends it
    assert r.api_calls.status.tolist() == [204, 204]


def test_stop_outcome_table():
    assert stop_outcome("exit", 2.0, 10.0) == (2.0, 0)
    assert stop_outcome("exit", 12.0, 10.0) == (10.0, 137)
    assert stop_outcome("default", 2.0, 10.0) == (0.0, 143)
    assert stop_outcome("ignore", 0.0, float("inf")) == (float("inf"), 137)


# ---- knowledge with its owner: the control plane classes ------------------------------------

def test_a_planes_defaults_live_on_its_class():
    from simcontainer.model.controlplane import CONTROL_PLANES
    from simcontainer.model.restart import CrashLoopBackOff, DockerRestart, no_restart

    dockerd, kubelet = CONTROL_PLANES["dockerd"], CONTROL_PLANES["kubelet"]
    assert (dockerd.grace_s, kubelet.grace_s) == (10.0, 30.0)
    assert dockerd.stops_with_daemon and not kubelet.stops_with_daemon
    assert not CONTROL_PLANES["libvirt"].stops_with_daemon
    assert dockerd.restart_policy(None) is no_restart
    assert dockerd.restart_policy("on-failure:3") == DockerRestart("on-failure", 3)
    assert kubelet.restart_policy(None) == CrashLoopBackOff("always")
    assert kubelet.restart_policy("unless-stopped") == CrashLoopBackOff("always")


def test_the_network_lock_is_the_profiles():
    """``network_lock`` decides whether endpoint setup queues per network or plane-wide: two
    networks halve the queue only with it (it used to be read only for a table)."""
    def run(lock: bool) -> float:
        cp = {"name": "d", "base": "dockerd", "api": {}, "teardown": {}, "network": {"serial_s": 0.5},
              "network_lock": lock, "serial_sigma": 0.0, "per_instance_cpu_s": 0.0, "rootfs_mib": 0.0,
              "rootfs_syncs": 0}     # the lock's arithmetic alone: no stragglers, no per-instance cost
        data = scenario_dict(duration_s=60, control_planes=[cp])
        data["workloads"][0].update(control_plane="d", networks=2, arrival={"kind": "burst", "at_s": 0.0, "count": 8},
                                    lifetime={"kind": "forever"})
        return sc.simulate(sc.parse_scenario(data)).summary["workloads"]["w"]["startup_s"]["max"]
    assert run(True) == pytest.approx(2.0)          # 4 per network, 0.5 s each
    assert run(False) == pytest.approx(4.0)         # 8 behind one lock


def _log_mean_running(r, horizon):
    """The time-average running count from the event log alone (running or paused)."""
    from simcontainer.model.faults import running_series

    rec = r.recorder
    t, n = running_series(np.frombuffer(rec.ev_time, dtype=np.float64), np.frombuffer(rec.ev_code, dtype=np.int64))
    ends = np.append(t[1:], horizon)
    return float(np.sum(n * (np.minimum(ends, horizon) - t)) / horizon)


def test_instances_lost_in_a_host_panic_stop_counting_at_once():
    """40 containers lost in a host panic reported mean_running 39.9 where the event log gives
    4.3 (issue 23): the summary's running count is the event log's."""
    data = scenario_dict(duration_s=900.0, faults=[{"kind": "host_panic", "at_s": 100.0, "reboot_s": 60.0}])
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 40}, lifetime={"kind": "forever"},
                                mem_mib=50)
    r = sc.simulate(sc.parse_scenario(data))
    w = r.summary["workloads"]["w"]
    assert w["mean_running"] == pytest.approx(_log_mean_running(r, 900.0), rel=1e-9)
    assert w["mean_running"] == pytest.approx(40 * 100.0 / 900.0, rel=1e-6)
    assert r.summary["faults"][0]["instances_lost"] == 40


def test_the_shipped_blast_radius_running_count_is_the_event_logs():
    from pathlib import Path

    s = sc.load_scenario(Path(__file__).resolve().parent.parent / "models" / "scenarios" / "blast-radius.toml")
    r = sc.simulate(s)
    total = sum(w["mean_running"] for w in r.summary["workloads"].values())
    assert total == pytest.approx(_log_mean_running(r, s.duration_s), rel=1e-9)


def test_the_tables_can_be_read_in_the_middle_of_a_run():
    """The recorder's per-instance rows come in blocks; a table read mid-run has one row each."""
    from simcontainer.model.metrics import instances_frame, timeseries_frame

    eng = Engine(sc.parse_scenario(scenario_dict(duration_s=50.0)))
    eng.env.run(until=20.0)
    df = instances_frame(eng.recorder, ["w"])
    assert len(df) == eng.recorder.n > 0
    assert timeseries_frame(eng.recorder, 20.0, 4.0)["running"].max() >= 1
    r = eng.run()
    assert len(r.instances) == r.summary["workloads"]["w"]["requested"]
