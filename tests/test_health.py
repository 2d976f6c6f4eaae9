"""Health checks (issue 21): Docker's HEALTHCHECK and the kubelet's liveness and readiness probes,
on hand-worked timelines (simcontainer.model.health)."""

from __future__ import annotations

import pytest
from conftest import scenario_dict
from pydantic import ValidationError

import simcontainer as sc
from simcontainer.model.health import DOCKER_DEFAULTS, PROBE_DEFAULTS, plan_for
from simcontainer.scenario.schema import HealthCheck

HEALTHY, UNHEALTHY = "health_status: healthy", "health_status: unhealthy"


def _one(duration=200.0, cores=4, **w):
    data = scenario_dict(duration_s=duration)
    data["host"]["cpu_cores"] = cores
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1},
                                lifetime={"kind": "forever"}, **w)
    return sc.simulate(sc.parse_scenario(data))


def _timeline(r):
    ev = r.events
    ev = ev[ev.action.isin([HEALTHY, UNHEALTHY, "start", "die", "kill"])]
    return [(round(t, 6), str(a)) for t, a in zip(ev.time_s, ev.action)]


def _t0(r):
    ev = r.events
    return float(ev[ev.state == "running"].time_s.iloc[0])


# ---- Docker's HEALTHCHECK ----------------------------------------------------------------------

def test_hand_worked_docker_timeline_unhealthy_at_50_s():
    # interval 10 s, retries 3, the app failing from 25 s after its start (dockerd here starts at
    # 0 s: the test runtime's phases are instant). Checks at 10, 20 (healthy: the first success
    # at 10 s), 30, 40, 50 fail: the third failure in a row at 50 s sets unhealthy.
    r = _one(health={"interval_s": 10, "retries": 3, "fail_after_s": 25})
    assert _t0(r) == 0.0
    assert _timeline(r) == [(0.0, "start"), (10.0, HEALTHY), (50.0, UNHEALTHY)]
    h = r.summary["health"]["w"]
    assert h["kind"] == "docker"
    assert h["checks"] == 19                            # 10, 20, ... 190 s within the 200 s
    assert h["failed_checks"] == 17 and h["unhealthy_events"] == 1 and h["healthy_events"] == 1
    assert h["not_ready_s"] == pytest.approx(10.0 + 150.0)     # starting 0-10 s, unhealthy 50-200 s


def test_docker_never_restarts_an_unhealthy_container():
    # moby: an unhealthy status is reported, never acted on by the daemon (no stop, no restart),
    # whatever the restart policy
    r = _one(health={"interval_s": 10, "retries": 3, "fail_after_s": 25}, restart="always")
    assert _timeline(r) == [(0.0, "start"), (10.0, HEALTHY), (50.0, UNHEALTHY)]
    assert r.summary["health"]["w"]["liveness_kills"] == 0
    assert r.summary["workloads"]["w"]["at_horizon"]["running"] == 1


def test_docker_start_period_does_not_count_early_failures():
    # ready after 35 s; checks every 10 s. With a 40 s start period the failures at 10, 20, 30 s
    # do not count: healthy at 40 s, no unhealthy event. Without it: unhealthy at 30 s.
    r = _one(ready_s=35.0, health={"kind": "docker", "interval_s": 10, "start_period_s": 40,
                                   "start_interval_s": 10})
    assert _timeline(r) == [(0.0, "start"), (40.0, HEALTHY)]
    r = _one(ready_s=35.0, health={"interval_s": 10})
    assert _timeline(r) == [(0.0, "start"), (30.0, UNHEALTHY), (40.0, HEALTHY)]


def test_docker_start_interval_defaults_to_5_s_in_the_start_period():
    # start period 30 s, start interval 5 s (moby defaultStartInterval): checks at 5, 10, 15, 20
    # fail (not counted), 25 s succeeds; then every 30 s
    r = _one(ready_s=22.0, health={"start_period_s": 30})
    assert _timeline(r) == [(0.0, "start"), (25.0, HEALTHY)]
    assert r.summary["health"]["w"]["checks"] == 5 + 5      # 5..25 s, then 55, 85, ... 175 s


def test_startup_latency_includes_the_health_gate():
    # Docker's default interval is 30 s: the first check, and so "ready", at 30 s
    plain = _one(duration=100.0)
    gated = _one(duration=100.0, health={})
    assert plain.summary["workloads"]["w"]["startup_s"]["p50"] == pytest.approx(0.0)
    assert gated.summary["workloads"]["w"]["startup_s"]["p50"] == pytest.approx(30.0)
    assert gated.instances.t_ready.iloc[0] == pytest.approx(30.0)


def test_a_check_slower_than_its_timeout_fails():
    # 2 CPU seconds of check on a 1-core host whose core a 1-core app shares: the check gets half
    # a core and would need 4 s, more than its 3 s timeout: it fails at 3 s, every time
    r = _one(duration=100.0, cores=1, cpu=1.0, health={"interval_s": 10, "timeout_s": 3, "check_s": 2.0})
    h = r.summary["health"]["w"]
    assert h["checks"] == h["timed_out"] == h["failed_checks"] > 0
    # checks begin at 10, 23, 36 (each result 3 s later, the next 10 s after it): unhealthy at 39
    assert _timeline(r) == [(0.0, "start"), (39.0, UNHEALTHY)]
    assert r.instances.t_ready.isna().all()             # never healthy: never ready
    # alone on its core the same check takes 2 s: healthy at 12 s (the next 10 s after the result)
    fast = _one(duration=100.0, cores=1, health={"interval_s": 10, "timeout_s": 3, "check_s": 2.0})
    assert fast.summary["health"]["w"]["timed_out"] == 0
    assert _timeline(fast) == [(0.0, "start"), (12.0, HEALTHY)]


# ---- the kubelet's probes ----------------------------------------------------------------------

def test_kubelet_liveness_restarts_with_crash_loop_back_off():
    # liveness probe (the kubelet's default kind), period 10 s, failureThreshold 3, the app
    # failing 25 s after each start. Probes at t0 + 0, 10, 20 pass, 30, 40, 50 fail: the kill at
    # t0 + 50 s, with the pod's grace (5 s here; the app ignores SIGTERM: 137). Then
    # CrashLoopBackOff: the first restart at once, then 10 s, 20 s, 40 s.
    r = _one(duration=300.0, control_plane="kubelet", sigterm="ignore", stop_grace_s=5.0,
             health={"fail_after_s": 25})
    ev = r.events
    starts = ev[(ev.state == "starting")].time_s.tolist()
    exits = ev[ev.action == "die"]
    kills = ev[ev.action == UNHEALTHY].time_s.tolist()
    runs = ev[ev.action == "start"].time_s.tolist()
    boot = runs[0] - starts[0]
    assert kills == pytest.approx([t + 50.0 for t in runs[:len(kills)]])
    assert set(exits.exit_code) == {137}
    assert exits.time_s.tolist() == pytest.approx([k + 5.0 for k in kills])
    delays = [s - e for s, e in zip(starts[1:], exits.time_s)]
    assert delays == pytest.approx([0.0, 10.0, 20.0, 40.0])
    assert boot >= 0
    h = r.summary["health"]["w"]
    assert h["kind"] == "liveness" and h["liveness_kills"] == 4 and h["liveness_restarts"] == 4


def test_kubelet_liveness_restarts_under_on_failure_even_after_a_clean_exit():
    # the app exits 0 on SIGTERM: restartPolicy OnFailure still restarts a liveness kill
    r = _one(duration=200.0, control_plane="kubelet", restart="on-failure",
             health={"fail_after_s": 25})
    ev = r.events
    assert set(ev[ev.action == "die"].exit_code) <= {0, -1}
    assert r.summary["health"]["w"]["liveness_restarts"] >= 1
    never = _one(duration=200.0, control_plane="kubelet", restart="no", health={"fail_after_s": 25})
    h = never.summary["health"]["w"]
    assert h["liveness_kills"] == 1 and h["liveness_restarts"] == 0


def test_kubelet_readiness_marks_not_ready_and_never_restarts():
    # readiness: probes at t0 + 0, 10, 20 ...; the app ready 12 s after its start: ready at
    # t0 + 20 (the first success); failing from 45 s: 50, 60, 70 fail -> not ready at t0 + 70
    r = _one(duration=200.0, control_plane="kubelet", ready_s=12.0,
             health={"kind": "readiness", "fail_after_s": 45})
    t0 = _t0(r)
    assert _timeline(r) == [(round(t0, 6), "start"), (round(t0 + 20, 6), HEALTHY), (round(t0 + 70, 6), UNHEALTHY)]
    assert r.instances.t_ready.iloc[0] == pytest.approx(t0 + 20.0)
    h = r.summary["health"]["w"]
    assert h["liveness_kills"] == 0
    assert h["not_ready_s"] == pytest.approx(20.0 + (200.0 - (t0 + 70.0)))
    assert r.summary["workloads"]["w"]["at_horizon"]["running"] == 1


def test_probe_initial_delay_holds_the_first_probe():
    # initialDelaySeconds 15 (start_period_s for a probe): the first probe at t0 + 15
    r = _one(duration=60.0, control_plane="kubelet", health={"kind": "readiness", "start_period_s": 15})
    t0 = _t0(r)
    assert _timeline(r) == [(round(t0, 6), "start"), (round(t0 + 15, 6), HEALTHY)]


# ---- defaults, validation, no cost without a check ---------------------------------------------

def test_defaults_by_kind_and_plane():
    d = plan_for(HealthCheck(), "docker")
    assert (d.kind, d.interval_s, d.timeout_s, d.retries, d.start_period_s, d.start_interval_s) == \
        ("docker", 30.0, 30.0, 3, 0.0, 5.0)
    p = plan_for(HealthCheck(), "liveness")
    assert (p.kind, p.interval_s, p.timeout_s, p.retries, p.success_threshold, p.start_period_s) == \
        ("liveness", 10.0, 1.0, 3, 1, 0.0)
    assert plan_for(HealthCheck(kind="readiness"), "docker").interval_s == PROBE_DEFAULTS["interval_s"]
    assert DOCKER_DEFAULTS["retries"] == PROBE_DEFAULTS["retries"] == 3


@pytest.mark.parametrize(("spec", "words"), [
    ({"interval_s": 0}, "greater than 0"),
    ({"retries": 0}, "greater than or equal to 1"),
    ({"start_interval_s": 5}, "start_interval_s is Docker's"),
    ({"kind": "liveness", "start_interval_s": 5}, "start_interval_s is Docker's"),
    ({"success_threshold": 2}, "success_threshold is a kubelet probe's"),
    ({"kind": "liveness", "success_threshold": 2}, "must be 1"),
    ({"kind": "startup"}, "kind"),
    ({"every_s": 3}, "every_s"),
])
def test_validation_messages(spec, words):
    data = scenario_dict()
    data["workloads"][0]["health"] = spec
    with pytest.raises((ValidationError, sc.ScenarioError)) as e:
        sc.parse_scenario(data)
    assert words in str(e.value)


def test_health_and_warm_are_refused_together():
    data = scenario_dict()
    data["workloads"][0].update(health={}, warm={"pool": 1})
    with pytest.raises(Exception, match="health or warm"):
        sc.parse_scenario(data)


def test_a_workload_without_health_has_no_health_section():
    r = _one(duration=50.0)
    assert "health" not in r.summary
    assert not any(str(a).startswith("health_status") for a in r.events.action)
