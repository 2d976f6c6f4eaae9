"""Health checks as moby's and the kubelet's own tests define them, step by step, against
simcontainer.model.health (``docker_result``: moby ``handleProbeResult``; ``probe_result``: the
kubelet prober worker's ``doProbe``) and, where the step is about time, a simulated run.

Sources: moby/moby daemon/health_test.go at 04472304f617 (TestHealthStates);
kubernetes/kubernetes pkg/kubelet/prober/worker_test.go at 00bdb3fade2e (TestFailureThreshold,
TestSuccessThreshold, TestInitialDelay, TestOnHoldOnLivenessCheckFailure). Expected values are the
peers' own.

Not expressible: moby TestNoneHealthcheck (``HEALTHCHECK NONE`` turning off an image's check: a
workload here has no image-inherited check to turn off); the kubelet's TestHandleCrash (a prober
that panics) and TestCleanUp (worker goroutines); startup probes (not modelled).
"""

from __future__ import annotations

import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.model.health import docker_result, probe_result

MOBY = "moby/moby:daemon/health_test.go"
KUBE = "kubernetes/kubernetes:pkg/kubelet/prober/worker_test.go"

# ---- moby TestHealthStates: (retries, start period s, [(seconds after start, exit code)],
# expected status and failing streak after the last result) ---------------------------------------
STATES = [
    ("retries1/fail", 1, 0, [(1, 1)], "unhealthy", 1),
    ("retries1/fail-success", 1, 0, [(1, 1), (2, 0)], "healthy", 0),
    ("retries1/fail-success-fail", 1, 0, [(1, 1), (2, 0), (3, 1)], "unhealthy", 1),
    ("retries3/two-failures", 3, 0, [(20, 1), (40, 1)], "starting", 2),
    ("retries3/three-failures", 3, 0, [(20, 1), (40, 1), (60, 1)], "unhealthy", 3),
    ("retries3/then-success", 3, 0, [(20, 1), (40, 1), (60, 1), (80, 0)], "healthy", 0),
    ("start-period/in-period", 2, 30, [(20, 1)], "starting", 0),
    ("start-period/after-period", 2, 30, [(20, 1), (50, 1)], "starting", 1),
    ("start-period/success", 2, 30, [(20, 1), (50, 1), (80, 0)], "healthy", 0),
]


@pytest.mark.parametrize(("retries", "period", "results", "status", "streak"),
                         [r[1:] for r in STATES], ids=[f"{MOBY}::TestHealthStates/{r[0]}" for r in STATES])
def test_moby_health_states(retries, period, results, status, streak):
    st, k = "starting", 0
    for t, code in results:
        st, k = docker_result(st, k, code == 0, float(t), float(period), retries)
    assert (st, k) == (status, streak)


# ---- the kubelet's worker: the result in effect after each probe -------------------------------

def _effect(initial, probes, success_threshold, failure_threshold):
    result, last, run, out = initial, None, 0, []
    for ok in probes:
        last, run, now = probe_result(last, run, ok, success_threshold, failure_threshold)
        if now is not None:
            result = now
        out.append(result)
    return out


# TestFailureThreshold: readiness, SuccessThreshold 1, FailureThreshold 3; twice: 3 successes
# (Success each), 2 failures (still Success), 3 failures (Failure)
_FT_PROBES = ([True] * 3 + [False] * 5) * 2
_FT_EXPECT = ([True] * 3 + [True] * 2 + [False] * 3) * 2
# TestSuccessThreshold: SuccessThreshold 3, FailureThreshold 1, the result Failure at first;
# twice: 2 successes (Failure), 3 successes (Success), 1 failure (Failure)
_ST_PROBES = ([True] * 5 + [False]) * 2
_ST_EXPECT = ([False] * 2 + [True] * 3 + [False]) * 2


@pytest.mark.parametrize("ix", range(len(_FT_PROBES)), ids=[
    f"{KUBE}::TestFailureThreshold/{i // 8}-{'success' if p else 'failing'}-{i % 8 + 1}"
    for i, p in enumerate(_FT_PROBES)])
def test_kubelet_failure_threshold(ix):
    assert _effect(None, _FT_PROBES, 1, 3)[ix] is _FT_EXPECT[ix]


@pytest.mark.parametrize("ix", range(len(_ST_PROBES)), ids=[
    f"{KUBE}::TestSuccessThreshold/{i // 6}-{'success' if p else 'failure'}-{i % 6 + 1}"
    for i, p in enumerate(_ST_PROBES)])
def test_kubelet_success_threshold(ix):
    assert _effect(False, _ST_PROBES, 3, 1)[ix] is _ST_EXPECT[ix]


def _kubelet(duration, **health):
    data = scenario_dict(duration_s=duration)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 1},
                                lifetime={"kind": "forever"}, control_plane="kubelet", health=health)
    return sc.simulate(sc.parse_scenario(data))


def _running_at(r):
    ev = r.events
    return ev[ev.action == "start"].time_s.tolist()


# TestInitialDelay (InitialDelaySeconds 10): during the delay the result is the probe type's
# initial one -- liveness Success (the container is not killed), readiness Failure (not ready);
# after it, Success.
@pytest.mark.parametrize("kind", ["liveness", "readiness"], ids=[f"{KUBE}::TestInitialDelay/{k}" for k in
                                                                 ("liveness", "readiness")])
def test_kubelet_initial_delay(kind):
    r = _kubelet(60.0, kind=kind, start_period_s=10)
    t0 = _running_at(r)[0]
    h = r.summary["health"]["w"]
    ready = r.instances.t_ready.iloc[0]
    if kind == "liveness":
        assert h["liveness_kills"] == 0 and ready == pytest.approx(t0)      # ready at once, never killed
    else:
        assert ready == pytest.approx(t0 + 10.0)                            # not ready during the delay
    assert h["failed_checks"] == 0                                          # Success after it


# TestOnHoldOnLivenessCheckFailure (FailureThreshold 1): the first failing probe sets Failure and
# holds the worker: no probe runs on that container again; a new container lifts the hold.
@pytest.mark.parametrize("row", ["hold"], ids=[f"{KUBE}::TestOnHoldOnLivenessCheckFailure"])
def test_kubelet_on_hold_after_liveness_failure(row):
    r = _kubelet(25.0, kind="liveness", retries=1, fail_after_s=0, interval_s=1)
    h = r.summary["health"]["w"]
    starts = _running_at(r)
    # probes every second for 25 s, yet one probe per container: the failing one, then none until
    # the next container (three containers: CrashLoopBackOff 0 s, then 10 s; the next waits 20 s)
    assert len(starts) == 3
    assert h["checks"] == h["failed_checks"] == h["liveness_kills"] == 3
    assert h["liveness_restarts"] == 2
