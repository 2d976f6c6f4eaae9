"""moby's restart manager, layer-download retries and Engine API answers, row by row from its
own tests (moby/moby), against simcontainer.model.restart, simcontainer.model.registry and the daemon API
contract (``Daemon.api(op, iid, **kw) -> HTTP status``: ``docker stop -t``, ``kill --signal``,
the 204/304/400/404/409 answers)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.engine.core import Engine
from simcontainer.model.registry import download_retry_s
from simcontainer.model.restart import DockerRestart, Exit

RM = "moby/moby:daemon/internal/restartmanager/restartmanager_test.go"
XFER = "moby/moby:daemon/internal/distribution/xfer/download_test.go"
STOP = "moby/moby:integration/container/stop_test.go"
KILL = "moby/moby:integration/container/kill_test.go"


# ---- restartmanager: the first timeout, and its reset after 10 s of running ----------------

def _timeline_after(run_s: float, k_before: int) -> float | None:
    """The delay ShouldRestart sets: ``k_before`` restarts in a row came before, then a run of
    ``run_s`` (the supervisor's contract: k back to 0 once the run reached reset_after_s)."""
    pol = DockerRestart("always")
    k = 0 if run_s >= pol.reset_after_s else k_before
    return pol(Exit(0, "exit"), k)


RESTART = [
    ("TestRestartManagerTimeout", 1.0, 0, 0.1),           # first restart: defaultTimeout 100 ms
    ("TestRestartManagerTimeoutReset", 10.0, 5, 0.1),     # timeout was 5 s; ran 10 s: back to 100 ms
]


@pytest.mark.parametrize(("name", "run_s", "k", "delay"), RESTART, ids=[f"{RM}::{r[0]}" for r in RESTART])
def test_restart_manager(name: str, run_s: float, k: int, delay: float) -> None:
    assert _timeline_after(run_s, k) == pytest.approx(delay)


# ---- xfer: maxDownloadAttempts ---------------------------------------------------------------

ATTEMPTS = [
    ("max-attempts=5, succeed at 2nd attempt", 1, 5, None),
    ("max-attempts=5, succeed at 5th attempt", 4, 5, None),
    ("max-attempts=5, fail at 5th attempt", 5, 5, "simulating download attempt failure 5/5"),
    ("max-attempts=1, fail after 1 attempt", 1, 1, "simulating download attempt failure 1/1"),
]


@pytest.mark.parametrize(("name", "retries", "max_attempts", "err"), ATTEMPTS,
                         ids=[f"{XFER}::TestMaxDownloadAttempts/{r[0]}" for r in ATTEMPTS])
def test_max_download_attempts(name: str, retries: int, max_attempts: int, err: str | None) -> None:
    # the layer fails its first ``retries`` attempts; does the download succeed, and after which?
    attempt, failed_at = 1, None
    while attempt <= retries:           # attempt ``attempt`` fails
        if download_retry_s(attempt, max_attempts=max_attempts) is None:
            failed_at = attempt
            break
        attempt += 1
    got = None if failed_at is None else f"simulating download attempt failure {failed_at}/{max_attempts}"
    assert got == err


# ---- the Engine API (needs the one lifecycle) --------------------------------------------------

def _sleep_then_exit(t_stop: float, op: str, **kw: Any) -> tuple[int, Any]:
    """``sh -c "echo ready; sleep 10; exit 42"`` (sh as PID 1 ignores SIGTERM), run at 0 s; at 1 s
    the API call ``op``; the answer and the container's events."""
    data = scenario_dict(duration_s=60.0)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 1e6, "count": 1}, lifetime={"kind": "forever"},
                                sigterm="ignore", time_to_failure={"kind": "fixed", "s": 10.0},
                                crash_exit_code=42)
    eng = Engine(sc.parse_scenario(data))
    got: dict[str, Any] = {}

    def script():
        inst = eng.daemon.run(eng.plans[0], float("inf"))
        yield eng.env.timeout(t_stop)
        got["status"] = eng.daemon.api(op, inst.id, **kw)
    eng.env.process(script())
    res = eng.run()
    return got["status"], res.events


def _exit_code(events: Any) -> int:
    dies = events[events.action == "die"]
    return int(dies.exit_code.iloc[-1])


STOP_ROWS = [
    ("zero timeout: expect forceful container kill", 0, 137),
    ("too small timeout: expect forceful container kill", 2, 137),
    ("big enough timeout: expect graceful container stop", 20, 42),
    ("unlimited timeout: expect graceful container stop", -1, 42),
]


@pytest.mark.parametrize(("doc", "timeout", "code"), STOP_ROWS,
                         ids=[f"{STOP}::TestStopContainerWithTimeout/{r[0]}" for r in STOP_ROWS])
def test_stop_container_with_timeout(doc: str, timeout: int, code: int) -> None:
    status, events = _sleep_then_exit(1.0, "stop", t=timeout)
    assert status == 204
    assert _exit_code(events) == code


def _api_on(state: str, op: str, iid_offset: int = 0, **kw: Any) -> int:
    """The answer to ``op`` on a container that is ``state`` ("running": docker run; "created":
    docker create) or on no container at all (``iid_offset``: an id that does not exist)."""
    data = scenario_dict(duration_s=30.0)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 1e6, "count": 1}, lifetime={"kind": "forever"})
    eng = Engine(sc.parse_scenario(data))
    got: dict[str, int] = {}

    def script():
        d = eng.daemon
        inst = d.run(eng.plans[0], float("inf")) if state == "running" else d.create(eng.plans[0])
        yield eng.env.timeout(1.0)
        got["status"] = d.api(op, inst.id + iid_offset, **kw)
    eng.env.process(script())
    eng.run()
    return got["status"]


API_STOP = [("no error", "running", 0, 204), ("container already stopped", "created", 0, 304),
            ("no such container", "running", 1000, 404)]


@pytest.mark.parametrize(("name", "state", "offset", "status"), API_STOP,
                         ids=[f"{STOP}::TestContainerAPIPostContainerStop/{r[0]}" for r in API_STOP])
def test_container_api_post_container_stop(name: str, state: str, offset: int, status: int) -> None:
    assert _api_on(state, "stop", offset) == status


@pytest.mark.parametrize("row", ["always"], ids=[f"{STOP}::TestStopContainerWithRestartPolicyAlways"])
def test_stop_container_with_restart_policy_always(row: str) -> None:
    # ``false`` under --restart always, restarting in a loop; docker stop: it stays stopped
    data = scenario_dict(duration_s=60.0)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 1e6, "count": 1}, lifetime={"kind": "forever"},
                                restart="always", time_to_failure={"kind": "fixed", "s": 0.0})
    eng = Engine(sc.parse_scenario(data))
    got: dict[str, Any] = {}

    def script():
        inst = eng.daemon.run(eng.plans[0], float("inf"))
        yield eng.env.timeout(5.0)
        got["status"] = eng.daemon.api("stop", inst.id)
        yield eng.env.timeout(30.0)
        got["state"] = inst.state.label
    eng.env.process(script())
    eng.run()
    assert got["status"] == 204 and got["state"] == "exited"


KILL_ROWS = [("no signal", "", "exited"), ("non killing signal", "WINCH", "running"),
             ("killing signal", "TERM", "exited")]


@pytest.mark.parametrize(("doc", "signal", "state"), KILL_ROWS, ids=[f"{KILL}::TestKillContainer/{r[0]}" for r in KILL_ROWS])
def test_kill_container(doc: str, signal: str, state: str) -> None:
    # busybox "top" as PID 1: SIGTERM's default action ends it, SIGWINCH's is to ignore it
    data = scenario_dict(duration_s=30.0)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 1e6, "count": 1}, lifetime={"kind": "forever"},
                                sigterm="default")
    eng = Engine(sc.parse_scenario(data))
    got: dict[str, Any] = {}

    def script():
        inst = eng.daemon.run(eng.plans[0], float("inf"))
        yield eng.env.timeout(1.0)
        got["status"] = eng.daemon.api("kill", inst.id, **({"signal": signal} if signal else {}))
        yield eng.env.timeout(1.0)
        got["state"] = inst.state.label
    eng.env.process(script())
    eng.run()
    assert got["status"] == 204
    assert got["state"] == state


INVALID = [("0",), ("SIG42",)]


@pytest.mark.parametrize(("signal",), INVALID, ids=[f"{KILL}::TestKillContainerInvalidSignal/{r[0]}" for r in INVALID])
def test_kill_container_invalid_signal(signal: str) -> None:
    # "Error response from daemon: invalid signal": a 400, and the container keeps running
    assert _api_on("running", "kill", signal=signal) == 400
