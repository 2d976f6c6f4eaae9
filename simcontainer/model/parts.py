"""The parts of an instance's lifecycle, chosen once per workload when it is planned.

:meth:`simcontainer.model.daemon.Daemon.lifecycle` is the only instance process; what differs
between workloads is which parts it is given (``WorkloadPlan.parts``, set by
``engine.plan_workloads``), as Ciw takes a routing or a discipline -- small objects, plugged in,
not flags:

- **bring-up**: how an instance comes up. ``prepare`` takes it from requested to ``created``
  (admission, pull, create); ``boot`` from ``starting`` to just before ``running``. :class:`Cold`
  (admission, pull -- lazily when the registry says so --, create, the plane's start and the
  runtime's boot), :class:`SnapshotRestore` (admission, then a snapshot or CRIU restore: no pull,
  no create, no boot), :class:`PoolTake` (an idle warm instance of its workload if one is ready,
  else its inner part);
- **stopper**: how it stops once asked to, or once something ended it: :class:`GraceThenKill`
  (SIGTERM, the grace period, maybe SIGKILL, the runtime's stop; a clean ``docker stop`` is its
  default: an app that exits on SIGTERM at once) and :class:`HandBack` (a warm instance that
  goes idle instead of stopping);
- **restart**: the workload's policy, a plain callable of :mod:`simcontainer.model.restart` (None: it
  never restarts);
- **finish**: what happens after the last exit: :class:`Remove` (``--rm``), :class:`KeepExited`
  (``docker ps -a``: until an API start or remove), :class:`KeepAlive` (a warm instance stays
  idle for ``keep_alive_s``).

Every part changes state only through ``Daemon.enter``.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from simcontainer.model.metrics import NM
from simcontainer.model.registry import PullFailed
from simcontainer.model.restart import EXIT_SIGKILL, EXIT_SIGTERM
from simcontainer.model.states import State

if TYPE_CHECKING:
    from simcontainer.model.daemon import Daemon, Instance

_INF = math.inf
_WAITING, _PULLING, _CREATED, _STARTING = State.WAITING, State.PULLING, State.CREATED, State.STARTING
_STOPPING, _REJECTED = State.STOPPING, State.REJECTED
_M_ADMITTED, _M_PULLED, _M_CREATED = 1, 2, 3

# Signal numbers (signal(7)); an exit by a signal's default action is 128 + its number.
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ABRT": 6, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12,
           "PIPE": 13, "ALRM": 14, "TERM": 15, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "URG": 23,
           "WINCH": 28}
# signal(7): the default action of these is to ignore them (CONT resumes, which a running app is)
IGNORED_BY_DEFAULT = frozenset({"CHLD", "CONT", "URG", "WINCH"})


def parse_signal(sig: str) -> str | None:
    """``docker kill --signal``'s argument as moby parses it (pkg/signal ParseSignal: a name with
    or without SIG, or a number); None when it is no signal, which moby answers "invalid signal"
    (400; moby integration/container/kill_test.go TestKillContainerInvalidSignal: 0, SIG42)."""
    name = str(sig).upper().removeprefix("SIG")
    if name.isdigit():
        n = int(name)
        return next((k for k, v in SIGNALS.items() if v == n), None) if 0 < n < 65 else None
    return name if name in SIGNALS else None

# Interruption causes. By hand (the API): stop, kill, restart; by the client at the end of the
# lifetime: client; by the scheduler: preempt; by the kernel or the platform: oom, host, guest,
# daemon. The app itself: exit (code 0) and crash.
BY_HAND = frozenset({"stop", "kill", "client"})
GRACEFUL = frozenset({"stop", "client", "preempt", "restart", "liveness"})
SIGKILLED = frozenset({"kill", "host", "guest", "oom"})
CAUSES = frozenset({"stop", "kill", "restart", "host", "guest", "daemon", "oom", "preempt", "liveness"})


def cause_of(c: Any) -> str:
    """An interrupt's cause as the lifecycle knows it (anything else: a stop)."""
    return c if c in CAUSES else "stop"


def stop_outcome(sigterm: str, shutdown_s: float, grace: float) -> tuple[float, int]:
    """(seconds from SIGTERM to the app's exit, exit code) -- before the runtime's own stop."""
    if sigterm == "default":
        return 0.0, EXIT_SIGTERM
    if sigterm == "ignore" or shutdown_s > grace:
        return grace, EXIT_SIGKILL
    return shutdown_s, 0




# ---- bring-up ---------------------------------------------------------------------------------

class Cold:
    """A cold start: wait for room, pull what is missing, create; then the plane's start (network
    setup) and the runtime's boot. With the registry's lazy pulling the pull fetches only what the
    start needs (``ImageStore.pull``): the same part."""

    def prepare(self, d: Daemon, inst: Instance) -> bool | Generator[simpy.Event, Any, bool]:
        """Requested -> created: True when done at once (placed now, image cached, nothing to
        create: no event to wait for), False when admission rejected it (then it is gone), else
        the generator that does it."""
        got = d.admission.admit(inst)
        if got is True:
            plan = inst.plan
            if plan.quick_create and not d.faults:
                host = inst.host
                workers = host.planes[plan.plane].workers          # type: ignore[union-attr]
                if (workers is None or workers.free > 0) and host.store.is_ready(plan.image):   # type: ignore[union-attr]
                    times, i, now = d._times, inst.id * NM, d.env._now
                    times[i + _M_ADMITTED] = now
                    d.rec.host[inst.id] = host.index                # type: ignore[union-attr]
                    times[i + _M_PULLED] = now
                    d.enter(inst, _PULLING, then=_CREATED)
                    return True
        elif got is False:
            d.enter(inst, _REJECTED)
            del d.live[inst.id]
            return False
        return self._prepare(d, inst, got)

    def _prepare(self, d: Daemon, inst: Instance, got: Any) -> Generator[simpy.Event, Any, bool]:
        env, rec, plan = d.env, d.rec, inst.plan
        if got is not True:
            d.enter(inst, _WAITING)
            yield got
        host = inst.host
        iid = inst.id
        times = rec.times
        now = env.now
        times[iid * NM + _M_ADMITTED] = now
        rec.host[iid] = host.index          # type: ignore[union-attr]
        if d.faults:                        # its host (or daemon) may be down: wait till it is up
            yield from d.wait_up(inst)
        d.enter(inst, _PULLING)
        plane = host.planes[plan.plane]     # type: ignore[union-attr]
        if not host.store.is_ready(plan.image):     # type: ignore[union-attr]
            try:
                rec.pulled_mib[iid] = yield from plane.pull(inst)
            except PullFailed as err:       # dockerd does not retry a 429 (xfer.DoNotRetry)
                d._fail(inst, str(err), ram_held=True)
                return False
            now = env.now
        times[iid * NM + _M_PULLED] = now
        # a VM's full disk copy holds no control-plane slot; then the plane's create step. With
        # nothing to do and no pool to queue in (or a worker free), taking it changes nothing
        if plan.vm_copy_mib > 0:
            ev = host.disk_bw.request(plan.vm_copy_mib)     # type: ignore[union-attr]
            if ev is not None:
                yield ev
        workers = plane.workers
        if not (plan.steps.create_idle and (workers is None or workers.free > 0)):
            yield from plane.create(inst)
        if d.faults and inst.epoch != d.epoch[host.index]:    # the host went down under the create
            yield from d.wait_up(inst)                          # type: ignore[union-attr]
        d.enter(inst, _CREATED)
        return True

    def boot(self, d: Daemon, inst: Instance) -> Generator[simpy.Event, Any, str | None]:
        """The plane's start and the runtime's boot; why it failed, or None."""
        plan = inst.plan
        if plan.steps.start_idle:
            return None
        return (yield from inst.host.planes[plan.plane].start(inst))   # type: ignore[union-attr]


class SnapshotRestore(Cold):
    """A restore (``warm.start = "snapshot"``): the snapshot or checkpoint is on the host's disk,
    so no pull, no create and no boot; a microVM's memory then faults in while its app works
    (``Instance.fault_cpu_s``, done by the lifecycle after ready). Figures: models/warm.toml."""

    def prepare(self, d: Daemon, inst: Instance) -> Generator[simpy.Event, Any, bool]:
        got = d.admission.admit(inst)
        if got is False:
            d.enter(inst, _REJECTED)
            del d.live[inst.id]
            return False
        if got is not True:
            d.enter(inst, _WAITING)
            yield got
        iid, now = inst.id, d.env.now
        d.rec.times[iid * NM + _M_ADMITTED] = now
        d.rec.host[iid] = inst.host.index               # type: ignore[union-attr]
        d.enter(inst, _PULLING)
        d.rec.times[iid * NM + _M_PULLED] = now
        d.enter(inst, _CREATED)
        return True

    def boot(self, d: Daemon, inst: Instance) -> Generator[simpy.Event, Any, str | None]:
        plan = inst.plan
        wp = plan.warm
        why = inst.host.planes[plan.plane].take_port(inst)     # type: ignore[union-attr]
        if why is not None:
            return why
        if wp.restore_s > 0:
            yield d.env.timeout(wp.restore_s)
        st = d.warm.state[plan.index]
        st.restore[inst.id] = wp.restore_s
        st.kind[inst.id] = 2
        inst.fault_cpu_s = wp.fault_cpu_s
        return None


class PoolTake:
    """Take an idle warm instance of the workload (from its pool, or one kept alive) if one is
    ready: it is running at once (``warm_start_s``), its app ready, its host reservation (RAM,
    disk, image reference, bridge port) the request's; else ``inner`` (cold or restore)."""

    def __init__(self, inner: Cold) -> None:
        self.inner = inner

    def prepare(self, d: Daemon, inst: Instance) -> Generator[simpy.Event, Any, bool]:
        warm = d.warm
        st = warm.state[inst.plan.index]
        idle = warm.take(st)
        if idle is None:
            got = self.inner.prepare(d, inst)      # True / False at once, or a generator
            ok = got if isinstance(got, bool) else (yield from got)
            if ok and st.wp.restore is None:
                st.kind[inst.id] = 0
            return ok
        holder = idle.ticket
        inst.host, inst.owned, inst.holder = holder.host, holder.owned, holder
        iid = inst.id
        d.rec.times[iid * NM + _M_ADMITTED] = d.env.now
        d.rec.host[iid] = inst.host.index               # type: ignore[union-attr]
        if warm.warm_start_s > 0:
            yield d.env.timeout(warm.warm_start_s)
        d.enter(inst, _PULLING)
        now = d.env.now
        d.rec.times[iid * NM + _M_PULLED] = now
        d.enter(inst, _CREATED)
        st.kind[iid] = 1
        inst.warm_ready = True
        return True

    def boot(self, d: Daemon, inst: Instance) -> Generator[simpy.Event, Any, str | None]:
        if inst.warm_ready:         # taken warm: running already
            return None
        return (yield from self.inner.boot(d, inst))


# ---- stoppers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GraceThenKill:
    """``docker stop`` / a pod deletion: SIGTERM, then up to ``grace_s`` for the app
    (``sigterm``: "exit" shuts down in ``shutdown_s`` and exits 0; "default" dies at once, 143;
    "ignore" -- PID 1 without a handler -- is SIGKILLed at the grace's end, 137), then the
    runtime's own stop. An app that exits by itself during the grace period exits then, with its
    own code (``docker stop -t 20`` on ``sh -c "sleep 10; exit 42"``: 42 at 10 s; moby
    ``daemon/stop.go``: the SIGKILL comes only if the container has not exited by the timeout).
    A grace of ``inf`` (``docker stop -t -1``) waits for the app however long."""

    grace_s: float = 10.0
    sigterm: str = "exit"
    shutdown_s: float = 0.0

    @property
    def clean(self) -> bool:
        """A clean stop: the app exits on SIGTERM at once (nothing to wait for)."""
        return self.sigterm == "exit" and self.shutdown_s == 0

    def stop(self, d: Daemon, inst: Instance, own_at: float, own_code: int, grace: float | None = None
             ) -> Generator[simpy.Event, Any, tuple[int, str | None]]:
        """STOPPING, the grace period, the runtime's stop: (exit code, a cause that cut it short
        or None). ``own_at``: when the app would exit by itself (code ``own_code``)."""
        env, plan = d.env, inst.plan
        d.enter(inst, _STOPPING)
        wait, code = stop_outcome(self.sigterm, self.shutdown_s, self.grace_s if grace is None else grace)
        if own_at - env.now < wait:     # the app's own exit comes first: that is its exit
            wait, code = max(0.0, own_at - env.now), own_code
            got = yield from d.nap(inst, wait)
            if got is not None and got != "stop":
                return EXIT_SIGKILL, got
            return code, None
        if wait > 0:
            got = yield from d.nap(inst, wait)
            if got is not None and got != "stop":
                return EXIT_SIGKILL, got
        if not plan.stop.idle:
            try:
                yield from inst.host.planes[plan.plane].stop(inst)      # type: ignore[union-attr]
            except simpy.Interrupt as i:
                got = d.caught(inst, i)
                if got != "stop":
                    return EXIT_SIGKILL, got
        return code, None

    def signal(self, sig: str) -> tuple[bool, int]:
        """``docker kill --signal``: (whether the app stops as on ``docker stop``, else the exit
        code at once). SIGTERM to an app with a handler shuts it down as a stop would; other
        signals take their default action: 128 + the signal."""
        n = SIGNALS.get(sig, 9)
        if n == 15 and self.sigterm == "exit":
            return True, 0
        return False, 128 + n

    def keeps_running(self, sig: str) -> bool:
        """The app goes on: PID 1 without a handler gets no signal but SIGKILL, and a signal
        whose default action is to ignore it (SIGWINCH: moby's TestKillContainer "non killing
        signal") does nothing."""
        return self.ignores(sig) or sig in IGNORED_BY_DEFAULT

    def ignores(self, sig: str) -> bool:
        """PID 1 without a handler: the kernel delivers it no signal but SIGKILL."""
        return self.sigterm == "ignore" and SIGNALS.get(sig, 9) != 9


@dataclass(frozen=True)
class HandBack(GraceThenKill):
    """A warm instance kept alive after its request: the request's record stops, the instance
    does not (no SIGTERM, no runtime stop): it goes idle holding its reservation."""

    def stop(self, d: Daemon, inst: Instance, own_at: float, own_code: int, grace: float | None = None
             ) -> Generator[simpy.Event, Any, tuple[int, str | None]]:
        d.enter(inst, _STOPPING)
        return 0, None
        yield  # a generator


# ---- finish -----------------------------------------------------------------------------------

class Remove:
    """``--rm``: the plane's teardown, then its disk and image reference go back."""

    holds = False       # the exit gives back RAM, reserved CPU and the bridge port

    def finish(self, d: Daemon, inst: Instance) -> Generator[simpy.Event, Any, None]:
        yield from d.remove(inst)


class KeepExited:
    """No ``--rm``: the exited instance stays (``docker ps -a``), its writable layer and image
    reference on disk, until an API ``start`` (it runs again), ``restart`` or ``remove``."""

    holds = False

    def finish(self, d: Daemon, inst: Instance) -> Generator[simpy.Event, Any, str | None]:
        """Parked until an API request: "start"/"restart" (the lifecycle runs it again) or None
        once removed."""
        while inst.state is not State.REMOVED:
            how = "remove" if inst.force_remove else (yield from d.park(inst))
            if how in ("start", "restart"):
                return how
            if how == "remove":
                yield from d.remove(inst)
        return None


class KeepAlive:
    """A warm workload's ``keep_alive_s``: after its request the instance stays idle, holding its
    RAM, and serves the next request of its workload; the request's record ends (removed)."""

    holds = True        # nothing goes back at the request's exit: the instance lives on

    def finish(self, d: Daemon, inst: Instance) -> Generator[simpy.Event, Any, None]:
        d.warm.go_idle(d.warm.state[inst.plan.index], inst.holder or inst, pool=False)
        d.enter(inst, State.REMOVED)
        del d.live[inst.id]
        return
        yield  # a generator


@dataclass
class Parts:
    """The parts one workload's instances are made of (``WorkloadPlan.parts``)."""

    bring_up: Any = None
    stopper: GraceThenKill = GraceThenKill()
    restart: Any = None             # restart policy (simcontainer.model.restart); None: never restarts
    finish: Any = None


COLD = Cold()
REMOVE = Remove()
KEEP_EXITED = KeepExited()


__all__ = ["BY_HAND", "COLD", "Cold", "GraceThenKill", "HandBack", "KEEP_EXITED", "KeepAlive", "KeepExited", "Parts", "PoolTake", "REMOVE", "Remove", "SIGNALS", "SnapshotRestore", "cause_of", "stop_outcome"]
