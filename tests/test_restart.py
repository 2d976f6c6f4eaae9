"""Restart policies: the callables alone, then their timelines in a run (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.model.controlplane import CONTROL_PLANES
from simcontainer.model.restart import CrashLoopBackOff, DockerRestart, Exit, no_restart
from simcontainer.studies.restart_timelines import timeline


def test_docker_back_off_doubles_from_100_ms_to_one_minute():
    always = DockerRestart("always")
    assert [always(Exit(1), k) for k in range(12)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 60.0, 60.0])


def test_crash_loop_back_off_is_immediate_first_then_caps_at_300_s():
    # client-go flowcontrol via the kubelet's doBackOff: no window before the first restart
    assert [CrashLoopBackOff()(Exit(1), k) for k in range(9)] == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_a_crash_loop_past_1024_restarts_does_not_overflow():
    assert DockerRestart("always")(Exit(1), 5000) == 60.0
    assert CrashLoopBackOff()(Exit(1), 5000) == 300.0


def test_who_restarts_what():
    crash, clean, stop = Exit(1, "crash"), Exit(0, "exit"), Exit(143, "stop")
    assert DockerRestart("on-failure")(clean, 0) is None
    assert DockerRestart("on-failure")(crash, 0) == pytest.approx(0.1)
    assert DockerRestart("on-failure", 3)(Exit(1, "crash", restarts=3), 0) is None
    assert DockerRestart("always")(clean, 0) == pytest.approx(0.1)
    for mode in ("always", "unless-stopped", "on-failure"):
        assert DockerRestart(mode)(stop, 0) is None           # docker stop: no restart
    assert no_restart(crash, 0) is None
    assert CrashLoopBackOff("on-failure")(clean, 0) is None
    assert CrashLoopBackOff("no")(crash, 0) is None
    # each plane class carries its default (the engine and the result's assumptions both read it)
    assert isinstance(CONTROL_PLANES["kubelet"].restart_policy(None), CrashLoopBackOff)   # a pod's: Always
    assert CONTROL_PLANES["dockerd"].restart_policy(None) is no_restart
    assert CONTROL_PLANES["dockerd"].restart_policy("on-failure:5") == DockerRestart("on-failure", 5)
    assert [CONTROL_PLANES[k].default_restart for k in ("kubelet", "dockerd", "firecracker", "direct")] == \
        ["always", "no", "no", "no"]


def test_timeline_resets_after_a_long_enough_run():
    assert timeline(DockerRestart("always"), 4) == pytest.approx([0.1, 0.3, 0.7, 1.5])
    assert timeline(DockerRestart("always"), 3, run_s=10.0) == pytest.approx([10.1, 20.2, 30.3])
    # a run past 2 x 300 s expires the kubelet's back-off: every restart is immediate again
    assert timeline(CrashLoopBackOff(), 3, run_s=600.0) == pytest.approx([600, 1200, 1800])


def _crash_loop(ttf_s: float, duration: float = 200.0, **w):
    data = scenario_dict(duration_s=duration)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1}, lifetime={"kind": "forever"},
                                time_to_failure={"kind": "fixed", "s": ttf_s}, **w)
    return sc.simulate(sc.parse_scenario(data))


def _starts(r) -> np.ndarray:
    ev = r.events
    return ev[ev.state == "starting"].time_s.to_numpy()


def test_a_crashing_container_under_always_restarts_at_doubling_intervals():
    r = _crash_loop(0.0, restart="always", duration=400.0)
    gaps = np.diff(_starts(r))
    assert gaps[:10] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2])
    assert gaps[10:13] == pytest.approx([60.0, 60.0, 60.0])        # capped at 1 min
    ev = r.events
    assert set(ev[ev.action == "die"].exit_code) == {1}
    assert ev[ev.state == "running"].action.tolist()[:3] == ["start", "start", "start"]    # moby logs start
    life = r.summary["workloads"]["w"]["lifecycle"]
    assert life["restarts"] == len(gaps)
    assert life["backoff_s"] == pytest.approx(sum(gaps), abs=1e-9)


def test_the_delay_resets_after_10_s_of_running():
    gaps = np.diff(_starts(_crash_loop(10.0, restart="always")))
    assert gaps[:5] == pytest.approx([10.1] * 5)                   # 10 s run + 100 ms each time
    gaps = np.diff(_starts(_crash_loop(9.9, restart="always")))
    assert gaps[:4] == pytest.approx([10.0, 10.1, 10.3, 10.7])     # 9.9 s + 0.1, 0.2, 0.4, 0.8


def test_crash_loop_back_off_under_the_kubelet_caps_at_300_s():
    r = _crash_loop(0.0, duration=3000.0, control_plane="kubelet")      # restart: Always by default
    ev = r.events
    dies = ev[ev.action == "die"].time_s.to_numpy()
    starts = _starts(r)[1:]
    delays = starts - dies[: len(starts)]
    assert delays[:9] == pytest.approx([0, 10, 20, 40, 80, 160, 300, 300, 300])


def test_no_policy_no_restart_and_on_failure_max():
    assert len(_starts(_crash_loop(1.0))) == 1                               # "no": the default
    assert len(_starts(_crash_loop(1.0, restart="on-failure:3"))) == 4       # first start + 3
    r = _crash_loop(1.0, restart="on-failure", crash_exit_code=0)            # exit 0: not a failure
    assert len(_starts(r)) == 1


def test_availability_is_the_share_of_time_up():
    r = _crash_loop(10.0, restart="always", duration=101.0)
    a = r.summary["workloads"]["w"]["lifecycle"]["availability"]
    assert a == pytest.approx(100 / 101, abs=0.002)                 # 100 ms down every 10.1 s
    assert _crash_loop(1e9, duration=50.0).summary["workloads"]["w"]["lifecycle"]["availability"] == 1.0


def test_lesson_helpers():
    from simcontainer.studies.restart_timelines import backoff_table, crash_loop
    from simcontainer.studies.stopping import stop_table

    t = backoff_table(6)
    assert t[t.policy == "kubelet CrashLoopBackOff"].delay_s.tolist() == pytest.approx([0, 10, 20, 40, 80, 160])
    st = stop_table().set_index(["sigterm", "plane"])
    assert st.loc[("ignore", "kubelet")].stop_s == 30.0 and st.loc[("ignore", "dockerd")].exit_code == 137
    ev = crash_loop(duration_s=30.0)
    assert ev.action.tolist()[:4] == ["create", "start", "die", "start"]


def test_the_run_that_resets_the_delay_counts_from_running_not_from_the_boot():
    data = scenario_dict(duration_s=60.0)
    data["runtimes"] = data["runtimes"] + [{"name": "boot05", "kind": "container", "boot": {"median_s": 0.5}}]
    data["workloads"][0].update(runtime="boot05", arrival={"kind": "burst", "at_s": 0.0, "count": 1},
                                lifetime={"kind": "forever"}, restart="always",
                                time_to_failure={"kind": "fixed", "s": 9.9})
    ev = sc.simulate(sc.parse_scenario(data)).events
    dies = ev[ev.action == "die"].time_s.to_numpy()
    starts = ev[ev.state == "starting"].time_s.to_numpy()[1:]
    assert (starts - dies[: len(starts)])[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])    # 9.9 s < 10 s: no reset
