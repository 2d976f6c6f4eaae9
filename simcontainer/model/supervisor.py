"""The whole lifecycle of one instance: stop with a grace period, crashes, restart policies, faults.

:meth:`simcontainer.model.daemon.Daemon._lifecycle` is the fast path for ``docker run --rm`` with a
clean stop and nothing else. A workload that asks for more (``auto_remove = false``, a restart
policy, crashes, a SIGTERM behaviour, pull errors), and every workload of a scenario with faults
or scripted actions, runs :func:`lifecycle` instead:

- **exit**: the instance's RAM (and reserved CPU) go back at once; its writable layer, its image
  reference and its bridge port's name stay until it is removed (``auto_remove``, or a
  ``remove``), as ``docker ps -a`` shows it;
- **stop** (an API ``stop``, or the client's at the end of the lifetime): SIGTERM, then up to
  ``stop_grace_s`` for the app (``sigterm``: "exit" shuts down in ``shutdown_s`` and exits 0;
  "default" dies at once, 143; "ignore" -- PID 1 without a handler -- is SIGKILLed at the end of
  the grace period, 137), then the runtime's own stop; **kill**: SIGKILL, 137, at once. Either
  aborts a boot in progress;
- **restart**: the workload's policy (:mod:`simcontainer.model.restart`) says after how long; the
  restart needs no pull and no create; the back-off step resets once the instance has run
  ``reset_after_s``;
- **faults** (:mod:`simcontainer.model.faults`) interrupt a starting or running instance with their
  cause; it dies with 137 and its restart policy acts once its host (or daemon) is back.

Per instance, a :class:`Life` keeps what the summary needs: restarts, time in back-off, time
running and ready, the span it was expected to run (first ready to the client's stop).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from simcontainer.model.metrics import M
from simcontainer.model.restart import EXIT_SIGKILL, EXIT_SIGTERM, Exit, RestartPolicy
from simcontainer.model.states import State

if TYPE_CHECKING:
    from simcontainer.model.daemon import Daemon, Instance

_INF = math.inf
NM = len(M)


class Life:
    """One instance's lifecycle bookkeeping (full path only)."""

    __slots__ = ("policy", "restarts", "k", "backoff_s", "up_s", "up_since", "first_ready",
                 "deadline", "end", "wake", "port", "epoch", "grace", "exit_code", "started_at",
                 "restarting", "pending")

    def __init__(self, policy: RestartPolicy, grace: float) -> None:
        self.policy = policy
        self.grace = grace
        self.restarts = 0
        self.k = 0                  # back-off step
        self.backoff_s = 0.0
        self.up_s = 0.0
        self.up_since = math.nan    # running and ready since (NaN: not up)
        self.first_ready = math.nan
        self.deadline = _INF        # when the client stops it (first ready + lifetime)
        self.end = math.nan         # when it was stopped for good by hand or by the client
        self.wake: simpy.Event | None = None
        self.port = False           # holds a bridge port
        self.epoch = 0              # its host's crash count when it was placed / restarted
        self.exit_code: int | None = None
        self.started_at = 0.0
        self.restarting = False     # in a restart's back-off
        self.pending = False        # interrupted, not yet handled (a second interrupt waits)


def stop_outcome(sigterm: str, shutdown_s: float, grace: float) -> tuple[float, int]:
    """(seconds from SIGTERM to the app's exit, exit code) -- before the runtime's own stop."""
    if sigterm == "default":
        return 0.0, EXIT_SIGTERM
    if sigterm == "ignore" or shutdown_s > grace:
        return grace, EXIT_SIGKILL
    return shutdown_s, 0




def _nap(env: simpy.Environment, s: float) -> Generator[simpy.Event, Any, Any]:
    """Sleep ``s`` (inf: until interrupted); the interrupt's cause, or None."""
    try:
        yield env.timeout(s) if s != _INF else env.event()
    except simpy.Interrupt as i:
        return i.cause
    return None


def _napi(inst: Instance, env: simpy.Environment, s: float) -> Generator[simpy.Event, Any, Any]:
    got = yield from _nap(env, s)
    return None if got is None else _caught(inst, got)


def _caught(inst: Instance, c: Any) -> str:
    inst.life.pending = False
    return _cause(c)


def _cause(c: Any) -> str:
    return c if c in ("stop", "kill", "host", "guest", "daemon", "oom", "preempt") else "stop"


class Supervisor:
    """The full-path lifecycle for one daemon (its fault state: which hosts and daemons are down)."""

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.env = daemon.env
        self.rec = daemon.rec
        n = len(daemon.hosts)
        self.host_up_at = [0.0] * n         # a rebooting host is back at
        self.daemon_up_at = [0.0] * n       # a restarting dockerd is back at
        self.epoch = [0] * n                # crashes of each host so far

    def interrupt(self, inst: Instance, cause: str) -> bool:
        """Interrupt the instance's process with ``cause`` unless one is on its way already."""
        life: Life = inst.life
        if life.pending or inst.process is None or not inst.process.is_alive:
            return False
        life.pending = True
        inst.process.interrupt(cause)
        return True

    def preemptible(self, host: Any) -> list[Instance]:
        """Running instances on ``host`` not already being interrupted (preemption candidates),
        in request order."""
        return [i for i in self.d.live.values()
                if i.host is host and i.state == State.RUNNING and not i.life.pending]

    def preempt(self, inst: Instance) -> bool:
        """Evict a preemption victim: a graceful stop, after which its restart policy acts."""
        return self.interrupt(inst, "preempt")

    # ---- small steps ----------------------------------------------------------------------

    def _to(self, inst: Instance, state: State, action: str | None = None, code: int | None = None) -> None:
        self.d._to(inst, state)
        k = len(self.rec.ev_time) - 1
        if action is not None:
            self.rec.ev_action[k] = action
        if code is not None:
            self.rec.ev_exit[k] = code

    def _mark(self, inst: Instance, mark: str, first: bool = False) -> None:
        i = inst.id * NM + M[mark]
        t = self.rec.times
        if not (first and t[i] == t[i]):
            t[i] = self.env.now

    def _up_at(self, inst: Instance) -> float:
        """When the instance's host (and its dockerd, for a dockerd instance) is up again."""
        host = inst.host
        assert host is not None
        up = self.host_up_at[host.index]
        if self._dockerd(inst):
            up = max(up, self.daemon_up_at[host.index])
        return up

    def _wait_up(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """Until the instance's host (and its dockerd) is up (before its first start: no API
        request and no fault reaches an instance in this state)."""
        while (up := self._up_at(inst)) > self.env.now:
            yield self.env.timeout(up - self.env.now)

    def _dockerd(self, inst: Instance) -> bool:
        host = inst.host
        return host is not None and host.planes[inst.plan.plane].spec.kind == "dockerd"

    def _release_running(self, inst: Instance) -> None:
        """At exit: RAM and reserved CPU go back (the writable layer stays)."""
        host, dm, now = inst.host, inst.plan.demand, self.env.now
        assert host is not None
        host.ram.release(dm.ram_mib, now)
        if host.cpu_pool is not None:
            host.cpu_pool.release(dm.admit_cpu, now)
        adm = self.d.admission
        if adm.queue:
            adm._drain()

    def _reserve_running(self, inst: Instance) -> bool:
        host, dm, now = inst.host, inst.plan.demand, self.env.now
        assert host is not None
        if not host.ram.fits(dm.ram_mib) or (host.cpu_pool is not None and not host.cpu_pool.fits(dm.admit_cpu)):
            return False
        host.ram.reserve(dm.ram_mib, now)
        if host.cpu_pool is not None:
            host.cpu_pool.reserve(dm.admit_cpu, now)
        return True

    def _release_rest(self, inst: Instance) -> None:
        """At removal: the instance's own disk and its image reference."""
        host, dm, img, now = inst.host, inst.plan.demand, inst.plan.image, self.env.now
        assert host is not None
        if dm.disk_mib:
            host.disk.release(dm.disk_mib, now)
        host.store.release(img)
        host.image_mib_placed -= img.disk_mib
        host.copy_mib_placed -= dm.copy_mib
        adm = self.d.admission
        if adm.queue:
            adm._drain()

    def _up(self, life: Life, up: bool) -> None:
        now = self.env.now
        if up:
            life.up_since = now
        elif life.up_since == life.up_since:
            life.up_s += now - life.up_since
            life.up_since = math.nan

    # ---- the lifecycle --------------------------------------------------------------------

    def lifecycle(self, inst: Instance, lifetime: float) -> Generator[simpy.Event, Any, None]:
        d, env, plan = self.d, self.env, inst.plan
        life: Life = inst.life
        iid = inst.id
        w = plan.workload
        if w.pull_error_rate > 0 and math.exp(-plan.fail_stream.exponential()) < w.pull_error_rate:
            self._to(inst, State.FAILED, "die", 1)
            self.rec.failures.append({"time_s": env.now, "instance": iid, "workload": plan.index,
                                      "reason": "image pull error (ErrImagePull: the registry refused the pull)"})
            del d.live[iid]
            return
        if not (yield from d.admit(inst)):
            return
        host = inst.host
        assert host is not None
        self._mark(inst, "admitted")
        self.rec.host[iid] = host.index
        yield from self._wait_up(inst)
        life.epoch = self.epoch[host.index]
        d._to(inst, State.PULLING)
        plane = host.planes[plan.plane]
        if not host.store.is_ready(plan.image):
            self.rec.pulled_mib[iid] = yield from plane.pull(inst)
        self._mark(inst, "pulled")
        if plan.vm_copy_mib > 0:
            ev = host.disk_bw.request(plan.vm_copy_mib)
            if ev is not None:
                yield ev
        yield from plane.create(inst)
        self._to(inst, State.CREATED, "create")
        self._mark(inst, "created")
        if life.epoch != self.epoch[host.index]:    # the host went down under the create
            yield from self._wait_up(inst)
            life.epoch = self.epoch[host.index]
        first_life = lifetime
        action = "start"
        while True:
            cause = yield from self._run(inst, first_life, action)
            first_life = None
            if cause == "removed":
                return
            if cause == "start":        # an API start: it runs until stopped (no client deadline)
                life.deadline, life.end = _INF, math.nan
                if not self._reserve_running(inst):
                    self._fail(inst, "no room to start it again: the host's RAM is taken")
                    return
                action = "start"
                continue
            action = "restart"

    def _fail(self, inst: Instance, why: str, ram_held: bool = False) -> None:
        """A start that failed: recorded with its reason; everything it held goes back."""
        self.rec.failures.append({"time_s": self.env.now, "instance": inst.id,
                                  "workload": inst.plan.index, "reason": why})
        self._to(inst, State.FAILED, "die", 1)
        inst.life.end = self.env.now
        life: Life = inst.life
        if life.port:
            inst.host.planes[inst.plan.plane].free_port(inst)   # type: ignore[union-attr]
            life.port = False
        if ram_held:
            self._release_running(inst)
        self._release_rest(inst)
        del self.d.live[inst.id]

    def _remove_now(self, inst: Instance) -> None:
        life: Life = inst.life
        if life.port:
            inst.host.planes[inst.plan.plane].free_port(inst)   # type: ignore[union-attr]
            life.port = False
        self._release_rest(inst)
        self._to(inst, State.REMOVED, "destroy")
        self._mark(inst, "removed")
        del self.d.live[inst.id]

    def _run(self, inst: Instance, lifetime: float | None, action: str
             ) -> Generator[simpy.Event, Any, str]:
        """One start to one exit (and a restart's back-off, or the wait for an API request).
        Returns "restart", "start" (by API) or "removed"."""
        d, env, plan = self.d, self.env, inst.plan
        life: Life = inst.life
        host = inst.host
        assert host is not None
        plane = host.planes[plan.plane]
        self._to(inst, State.STARTING)
        life.started_at = _INF          # its run counts from running (moby: StartedAt to exit)
        cause: str | None = None
        life.port = plan.steps.endpoint and plane.max_ports is not None
        try:
            why = yield from plane.start(inst)
        except simpy.Interrupt as i:
            why, cause = None, _caught(inst, i.cause)
        if why is not None:
            life.port = False
            self._fail(inst, why, ram_held=True)
            return "removed"
        ready_first = lifetime is not None
        code = 0
        if cause is None:
            self._to(inst, State.RUNNING, action)
            life.started_at = env.now
            self._mark(inst, "running", first=True)
            host.started()
            d._cpu_load(inst, True)
            if d.memory is not None:
                d.memory.on_running(inst)
            w = plan.workload
            if w.ready_s > 0:
                cause = yield from _napi(inst, env, w.ready_s)
            if cause is None:
                self._mark(inst, "ready", first=True)
                if ready_first:
                    life.first_ready = env.now
                    life.deadline = env.now + lifetime if lifetime != _INF else _INF
                self._up(life, True)
                ttf = plan.time_to_failure() if plan.time_to_failure is not None else _INF
                left = max(0.0, life.deadline - env.now)
                if ttf < left:
                    cause = yield from _napi(inst, env, ttf)
                    if cause is None:
                        code = w.crash_exit_code
                        cause = "crash" if code else "exit"
                else:
                    cause = yield from _napi(inst, env, left)
                    if cause is None:
                        cause = "client"
                self._up(life, False)
            d._cpu_load(inst, False)
            host.stopped()
            if d.memory is not None:
                d.memory.on_exit(inst)
        # the exit (a preemption victim is deleted gracefully, then its restart policy acts)
        if cause in ("stop", "client", "preempt"):
            code, killed = yield from self._stop(inst)
            if killed is not None:
                cause = killed
        if cause in ("kill", "host", "guest", "daemon", "oom"):   # SIGKILL or the kernel gone
            code = EXIT_SIGKILL
            if cause == "daemon":
                code = stop_outcome(plan.workload.sigterm, plan.workload.shutdown_s, 0.0)[1]
        if cause in ("stop", "kill", "client"):
            life.end = env.now
        if life.port:
            plane.free_port(inst)
            life.port = False
        self._mark(inst, "exited")
        if cause == "oom":
            self._to(inst, State.OOM_KILLED, "oom", EXIT_SIGKILL)
        else:
            self._to(inst, State.EXITED, "die", code)
        life.exit_code = code
        self._release_running(inst)
        # restart?
        if env.now - life.started_at >= getattr(life.policy, "reset_after_s", 0.0) > 0:
            life.k = 0
        delay = None
        if cause not in ("stop", "kill", "client") and env.now < life.deadline:
            delay = life.policy(Exit(code, cause, life.restarts), life.k)
        if delay is not None and inst.state in (State.EXITED, State.OOM_KILLED):
            t0 = env.now
            life.restarting = True
            got = yield from _napi(inst, env, min(delay, life.deadline - env.now))
            while got is None and self._up_at(inst) > env.now:     # its host or daemon is down
                got = yield from _napi(inst, env, self._up_at(inst) - env.now)
            life.restarting = False
            life.backoff_s += env.now - t0
            if got is None and env.now < life.deadline and self._reserve_running(inst):
                life.k += 1
                life.restarts += 1
                life.epoch = self.epoch[host.index]
                return "restart"
            if got is None and env.now < life.deadline:
                self._fail(inst, "no room to restart it: the host's RAM is taken")
                return "removed"
            life.end = min(env.now, life.deadline)     # stopped by hand, or the client's deadline passed
        # exited for good (until an API request)
        if plan.workload.auto_remove:
            yield from self._teardown(inst)
            return "removed"
        while True:
            life.wake = env.event()
            got = yield from _nap_on(inst, life.wake)
            life.wake = None
            if got == "start":
                return "start"
            if got == "remove":
                yield from self._teardown(inst)
                return "removed"

    def _stop(self, inst: Instance) -> Generator[simpy.Event, Any, tuple[int, str | None]]:
        """SIGTERM, the grace period, maybe SIGKILL, then the runtime's stop. (code, a cause
        that cut it short or None)."""
        env, plan = self.env, inst.plan
        life: Life = inst.life
        w = plan.workload
        self._mark(inst, "stopping")
        self._to(inst, State.STOPPING, "kill")
        wait, code = stop_outcome(w.sigterm, w.shutdown_s, life.grace)
        if wait > 0:
            got = yield from _napi(inst, env, wait)
            if got is not None and _cause(got) != "stop":
                return EXIT_SIGKILL, _cause(got)
        if not plan.stop.idle:
            host = inst.host
            assert host is not None
            try:
                yield from host.planes[plan.plane].stop(inst)
            except simpy.Interrupt as i:
                if _caught(inst, i.cause) != "stop":
                    return EXIT_SIGKILL, _cause(i.cause)
        return code, None

    def _teardown(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        host = inst.host
        assert host is not None
        plane = host.planes[inst.plan.plane]
        yield from plane.remove(inst, port=False)
        self._remove_now(inst)


def _nap_on(inst: Instance, ev: simpy.Event) -> Generator[simpy.Event, Any, Any]:
    """Wait for ``ev`` (an API request: its value); an interrupt's cause comes back instead."""
    try:
        return (yield ev)
    except simpy.Interrupt as i:
        inst.life.pending = False
        return i.cause


__all__ = ["Life", "Supervisor", "stop_outcome"]
