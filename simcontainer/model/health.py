"""Health checks: Docker's ``HEALTHCHECK`` and the kubelet's liveness and readiness probes.

A workload with ``health`` (``scenario.schema.HealthCheck``) gets a :class:`HealthPlan` on its
plan; the lifecycle (``Daemon.lifecycle``) calls :func:`serve` where its app would become ready,
and nothing else: a workload without a check costs one ``is None`` test per run. :func:`serve`
starts one :class:`Checker` process for the running span and, when the check gates readiness
(Docker's, a readiness probe), returns at its first healthy check: the instance's ``ready`` mark
(startup latency = request -> ready) then includes the health gating. The checker ends by itself
at its first wake after its span closed (a stop, an exit, a kill, a restart: ``inst.hc`` is
another checker or the instance is no longer running in that span).

**Docker** (moby ``daemon/health.go``, ``monitor`` and ``handleProbeResult``): the first check
runs ``interval`` after the start (``start_interval`` while in the start period and still
``starting``), each next one ``interval`` after the previous result (the timer is reset after
the result). A success sets ``healthy`` and clears the failing streak; a failure counts unless the
container is still ``starting`` and the check began within the start period; ``retries``
consecutive counted failures set ``unhealthy``. A change of status is one event, ``docker
events``' action ``health_status: healthy`` / ``health_status: unhealthy``. Docker itself does
nothing else to an unhealthy container: no restart, no stop (docs.docker.com/reference/
dockerfile/#healthcheck: the status is reported; acting on it is an orchestrator's job, as Swarm
does -- moby's restart manager only looks at exits).

**The kubelet** (``pkg/kubelet/prober/worker.go``; kubernetes.io "Configure Liveness, Readiness
and Startup Probes"): probes every ``periodSeconds`` on a ticker, the first
``initialDelaySeconds`` after the container started (here: the ticker is aligned with the start).
A readiness result starts as Failure, a liveness result as Success; a result takes effect after
``failureThreshold`` (or ``successThreshold``) identical results in a row. A readiness failure
marks the container not ready (never a restart); a liveness failure kills the container with the
pod's grace period (``kuberuntime_container.go`` ``killContainer``: SIGTERM, the grace,
SIGKILL -- the workload's stopper) and the worker holds its probes until a new container; the
pod's restart policy then restarts it (``computePodActions`` starts it again unless
restartPolicy is Never, OnFailure included) through CrashLoopBackOff. The events use Docker's
action names for the status changes, as above.

A check's outcome: the app is healthy from ``ready_s`` after each start until ``fail_after_s``
after it; the check itself costs ``check_s`` CPU seconds on its host's fair-share CPU (one core
at most) and fails when it takes longer than ``timeout_s`` (moby: "Health check exceeded
timeout"; the kubelet: a probe timeout is a failure).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from simcontainer.model.states import HEALTH_ACTIONS, State
from simcontainer.scenario.schema import HealthCheck

if TYPE_CHECKING:
    from simcontainer.model.daemon import Daemon, Instance

_INF = math.inf
_RUNNING, _PAUSED = State.RUNNING, State.PAUSED
HEALTHY, UNHEALTHY = HEALTH_ACTIONS

# Docker's HEALTHCHECK defaults (moby daemon/health.go: defaultProbeInterval 30 s,
# defaultProbeTimeout 30 s, defaultStartPeriod 0, defaultStartInterval 5 s, defaultProbeRetries 3)
DOCKER_DEFAULTS = {"interval_s": 30.0, "timeout_s": 30.0, "retries": 3, "start_period_s": 0.0,
                   "start_interval_s": 5.0, "success_threshold": 1}
# A kubelet probe's (pkg/apis/core/v1/defaults.go SetDefaults_Probe: PeriodSeconds 10,
# TimeoutSeconds 1, FailureThreshold 3, SuccessThreshold 1; InitialDelaySeconds 0)
PROBE_DEFAULTS = {"interval_s": 10.0, "timeout_s": 1.0, "retries": 3, "start_period_s": 0.0,
                  "start_interval_s": 0.0, "success_threshold": 1}


@dataclass(frozen=True)
class HealthPlan:
    """A workload's health check, every figure resolved (``plan_for``)."""

    kind: str                   # "docker", "liveness", "readiness"
    interval_s: float
    timeout_s: float
    retries: int                # Docker's retries, a probe's failureThreshold
    start_period_s: float       # Docker's start period, a probe's initialDelaySeconds
    start_interval_s: float
    success_threshold: int
    check_s: float
    fail_after_s: float         # inf: the app never turns unhealthy

    @property
    def gates_ready(self) -> bool:
        """Docker's check and a readiness probe decide "ready"; a liveness probe does not."""
        return self.kind != "liveness"


def plan_for(spec: HealthCheck, plane_kind: str) -> HealthPlan:
    """``spec`` resolved under a control plane whose own kind of check is ``plane_kind``."""
    kind = spec.kind or plane_kind
    base = DOCKER_DEFAULTS if kind == "docker" else PROBE_DEFAULTS
    given = {k: getattr(spec, k) for k in base if getattr(spec, k) is not None}
    fig = {**base, **given}
    return HealthPlan(kind, float(fig["interval_s"]), float(fig["timeout_s"]), int(fig["retries"]),
                      float(fig["start_period_s"]), float(fig["start_interval_s"]),
                      int(fig["success_threshold"]), spec.check_s,
                      _INF if spec.fail_after_s is None else spec.fail_after_s)


@dataclass
class Book:
    """What the checks of a run did, per workload, for the summary (``Recorder.health``)."""

    plans: dict[int, HealthPlan] = field(default_factory=dict)
    checks: dict[int, int] = field(default_factory=dict)
    failed: dict[int, int] = field(default_factory=dict)
    timed_out: dict[int, int] = field(default_factory=dict)
    healthy: dict[int, int] = field(default_factory=dict)       # health_status: healthy events
    unhealthy: dict[int, int] = field(default_factory=dict)     # health_status: unhealthy events
    kills: list[tuple[int, float]] = field(default_factory=list)    # liveness kills: (instance, time)
    wl: dict[int, int] = field(default_factory=dict)                # instance -> workload
    # one entry per checker: (workload, instance, span start, [not-ready from, to, from, ...])
    not_ready: list[tuple[int, int, float, list[float]]] = field(default_factory=list)

    def add(self, counter: dict[int, int], w: int) -> None:
        counter[w] = counter.get(w, 0) + 1

    def summary(self, names: list[str], spans: tuple[Any, ...], horizon: float) -> dict[str, Any]:
        """Per workload with a check: its kind, checks run and failed (timed out among them),
        healthy and unhealthy events, liveness kills and the restarts after them, and the time
        its instances ran not ready (not healthy) by their check."""
        sp_iid, sp_start, _, sp_end = spans
        end_of = {(int(i), float(s)): float(e) for i, s, e in zip(sp_iid, sp_start, sp_end)}
        starts: dict[int, list[float]] = {}
        for i, s in zip(sp_iid, sp_start):
            starts.setdefault(int(i), []).append(float(s))
        not_ready = dict.fromkeys(self.plans, 0.0)
        for w, iid, t0, marks in self.not_ready:
            end = end_of.get((iid, t0), math.nan)
            end = horizon if end != end else end
            for k in range(0, len(marks), 2):
                to = marks[k + 1] if k + 1 < len(marks) else end
                not_ready[w] += max(0.0, min(to, end) - marks[k])
        out: dict[str, Any] = {}
        for w, hp in self.plans.items():
            kills = [(i, t) for i, t in self.kills if self.wl[i] == w]
            out[names[w]] = {
                "kind": hp.kind, "checks": self.checks.get(w, 0), "failed_checks": self.failed.get(w, 0),
                "timed_out": self.timed_out.get(w, 0), "healthy_events": self.healthy.get(w, 0),
                "unhealthy_events": self.unhealthy.get(w, 0), "liveness_kills": len(kills),
                "liveness_restarts": sum(1 for i, t in kills if any(s > t for s in starts.get(i, ()))),
                "not_ready_s": not_ready[w]}
        return out


def docker_result(status: str, streak: int, ok: bool, since_start: float, start_period_s: float,
                  retries: int) -> tuple[str, int]:
    """moby ``handleProbeResult``: (status, failing streak) after a check begun ``since_start``
    after the container started. A success: healthy, streak 0; a failure counts unless the
    container is still starting within its start period; ``retries`` in a row: unhealthy."""
    if ok:
        return "healthy", 0
    if status == "starting" and since_start < start_period_s:
        return status, streak
    streak += 1
    return ("unhealthy" if streak >= retries else status), streak


def probe_result(last: bool | None, run: int, ok: bool, success_threshold: int, failure_threshold: int
                 ) -> tuple[bool, int, bool | None]:
    """The kubelet's prober worker (``doProbe``): (last result, identical results in a row, the
    result that takes effect now or None). A result takes effect once it came
    ``successThreshold`` / ``failureThreshold`` times in a row (and again on each further one)."""
    run = run + 1 if ok == last else 1
    if run < (success_threshold if ok else failure_threshold):
        return ok, run, None
    return ok, run, ok


class Checker:
    """One running span's health checks (module docstring)."""

    def __init__(self, d: Daemon, inst: Instance, hp: HealthPlan, book: Book) -> None:
        self.d, self.inst, self.hp, self.book = d, inst, hp, book
        self.t0 = d.env.now
        self.w = inst.plan.index
        # Docker: starting; a readiness probe: Failure (not ready); a liveness probe: Success
        self.status = "healthy" if hp.kind == "liveness" else "starting"
        self.streak = 0             # Docker: the failing streak; a probe: identical results in a row
        self.last: bool | None = None
        self.ready = d.env.event()
        self.marks: list[float] = [] if hp.kind == "liveness" else [self.t0]
        book.not_ready.append((self.w, inst.id, self.t0, self.marks))
        book.wl[inst.id] = self.w

    def alive(self) -> bool:
        inst = self.inst
        return inst.hc is self and inst.span == self.t0 and inst.state in (_RUNNING, _PAUSED)

    def run(self) -> Generator[simpy.Event, Any, None]:
        env, hp = self.d.env, self.hp
        if hp.kind == "docker":
            nxt = self.t0 + self._docker_interval()
        else:
            nxt = self.t0 + hp.start_period_s
        while True:
            if nxt > env.now:
                yield env.timeout(nxt - env.now)
            if not self.alive():
                return
            if self.inst.state is _PAUSED:      # no check runs in a frozen container
                ok = None
            else:
                ts = env.now
                ok = yield from self._check(ts)
                if not self.alive():
                    return
            if ok is not None and not self._result(ok, ts):
                return                          # a liveness kill: probes held until a new container
            if hp.kind == "docker":             # the timer is reset after the result
                nxt = env.now + self._docker_interval()
            else:                               # a ticker: the next tick (one tick kept if late)
                nxt = max(nxt + hp.interval_s, env.now)

    def _docker_interval(self) -> float:
        hp = self.hp
        if self.d.env.now - self.t0 >= hp.start_period_s or self.status != "starting":
            return hp.interval_s
        return hp.start_interval_s

    def _check(self, ts: float) -> Generator[simpy.Event, Any, bool]:
        """One check begun at ``ts``: whether it succeeded."""
        hp, book, w = self.hp, self.book, self.w
        book.add(book.checks, w)
        if hp.check_s > 0:
            ev = self.inst.host.cpu.request(hp.check_s, 1.0)   # type: ignore[union-attr]
            if ev is not None:
                limit = self.d.env.timeout(hp.timeout_s)
                yield ev | limit
                if not ev.triggered:
                    book.add(book.timed_out, w)
                    book.add(book.failed, w)
                    return False
        since = ts - self.t0
        ok = self.inst.plan.ready_s <= since < hp.fail_after_s
        if not ok:
            book.add(book.failed, w)
        return ok

    def _result(self, ok: bool, ts: float) -> bool:
        """A check's result taken; False when it killed the container (liveness)."""
        hp = self.hp
        if hp.kind == "docker":
            status, self.streak = docker_result(self.status, self.streak, ok, ts - self.t0,
                                                hp.start_period_s, hp.retries)
            self._set(status)
            return True
        self.last, self.streak, now = probe_result(self.last, self.streak, ok, hp.success_threshold, hp.retries)
        if now is None:
            return True
        self._set("healthy" if ok else "unhealthy")
        if not ok and hp.kind == "liveness":
            if self.d.interrupt(self.inst, "liveness"):    # (not when a stop is on its way already)
                self.book.kills.append((self.inst.id, self.d.env.now))
            return False
        return True

    def _set(self, status: str) -> None:
        if status == self.status:
            return
        was, self.status = self.status, status
        now, book = self.d.env.now, self.book
        if status == "healthy":
            if was != "healthy" and len(self.marks) % 2:
                self.marks.append(now)
            book.add(book.healthy, self.w)
            self.d._event(self.inst, HEALTHY)
            if not self.ready.triggered:
                self.ready.succeed()
        else:
            if was == "healthy":
                self.marks.append(now)
            if status == "unhealthy":
                book.add(book.unhealthy, self.w)
                self.d._event(self.inst, UNHEALTHY)


def serve(d: Daemon, inst: Instance, hp: HealthPlan, ready_s: float) -> Generator[simpy.Event, Any, None]:
    """The lifecycle's hook where its app becomes ready: start the span's checker, then wait for
    its first healthy check (Docker's check, a readiness probe) or ``ready_s`` (a liveness
    probe, which does not decide readiness)."""
    book = d.rec.health
    chk = Checker(d, inst, hp, book)
    inst.hc = chk
    d.env.process(chk.run())
    if hp.gates_ready:
        yield chk.ready
    elif ready_s > 0:
        yield d.env.timeout(ready_s)


__all__ = ["Book", "Checker", "docker_result", "probe_result", "DOCKER_DEFAULTS", "HEALTHY", "HealthPlan", "PROBE_DEFAULTS", "UNHEALTHY",
           "plan_for", "serve"]
