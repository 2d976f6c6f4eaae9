"""The daemon: the Engine API, and each instance's one process through its lifecycle.

One simpy process (:meth:`Daemon.lifecycle`) carries every instance from request to removal;
what differs between workloads is the parts it is given when the workload is planned
(:mod:`simcontainer.model.parts`): how it comes up, how it stops, its restart policy, what happens at
the end. The plain ``docker run --rm`` is the default parts, not a second path:

1. **wait** for room on a host (admission: RAM, disk, maybe CPU; FIFO, reject, backfill);
2. **pull** the image's missing layers; **create** (a VM's full disk copy, then the plane's
   create step, under a worker if the plane has a pool);
3. **start**: the plane's network setup, the runtime's boot;
4. **run**: ready after ``ready_s``, then until the client's stop at the end of its lifetime, or
   an interruption -- an API stop/kill/restart, a crash, an OOM kill, a fault, a preemption, a
   daemon restart -- all met in one place (:meth:`caught`);
5. **stop** (the stopper part: SIGTERM, grace, SIGKILL, the runtime's stop), **exit** (RAM,
   reserved CPU and the bridge port go back, once, in :meth:`exit`), maybe a **restart** (the
   policy's delay, then start again: no pull, no create);
6. **finish**: remove (the plane's teardown; disk and image reference go back), keep the exited
   instance for the API, or keep a warm instance alive.

Every state change goes through :meth:`Daemon.enter`: the state, Docker's event name and exit
code, and the instance's running span (running count, CPU load, the span the results read CPU
asked/received from) opened or closed there and nowhere else.

The lifecycle asks the instance's control plane (:mod:`simcontainer.model.controlplane`) for each
step and knows nothing of which plane it is.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL, Event

from simcontainer.model.api_ops import api_op
from simcontainer.model.health import serve as health_serve
from simcontainer.model.host import HostNode
from simcontainer.model.instance import Instance, WorkloadPlan
from simcontainer.model.metrics import NM, STATE_BITS, Recorder
from simcontainer.model.parts import (
    BY_HAND,
    GRACEFUL,
    cause_of,
    stop_outcome,
)
from simcontainer.model.placement import Admission
from simcontainer.model.process import InstanceProcess
from simcontainer.model.restart import EXIT_SIGKILL, Exit
from simcontainer.model.states import TRANSITIONS, State

NAN = math.nan
_new_event = object.__new__
_INF = math.inf
_M_RUNNING, _M_READY, _M_STOPPING = 4, 5, 6
# Enum attribute look-ups are slow on Python 3.11; the hot path uses these.
_REQUESTED, _WAITING, _PULLING, _CREATED = State.REQUESTED, State.WAITING, State.PULLING, State.CREATED
_STARTING, _RUNNING, _PAUSED, _STOPPING = State.STARTING, State.RUNNING, State.PAUSED, State.STOPPING
_EXITED, _REMOVED, _REJECTED = State.EXITED, State.REMOVED, State.REJECTED
_OOM_KILLED, _FAILED = State.OOM_KILLED, State.FAILED
_EDGES = TRANSITIONS
# the lifecycle mark a state sets on entry (-1: none; running and stopping: the running span)
_MARK_OF = [-1] * len(State)
_MARK_OF[_CREATED], _MARK_OF[_EXITED], _MARK_OF[_OOM_KILLED], _MARK_OF[_REMOVED] = 3, 7, 7, 8
_UP = (_RUNNING, _PAUSED)
# What each edge does besides recording its event: (the mark it sets or -1, its span step);
# None for an edge the state machine does not have. Built once from TRANSITIONS.
_OPEN, _CLOSE, _PAUSE, _UNPAUSE = 1, 2, 3, 4


def _step(old: State, new: State) -> tuple[int, int] | None:
    if new not in TRANSITIONS[old]:
        return None
    if new is _RUNNING:
        op = _UNPAUSE if old is _PAUSED else _OPEN
    elif old in _UP:
        op = _PAUSE if new is _PAUSED else _CLOSE
    else:
        op = 0
    return _MARK_OF[new], op


_STEPS = [[_step(o, n) for n in State] for o in State]




class Daemon:
    """All hosts' daemons behind one admission controller, and their fault state (which hosts
    and daemons are down)."""

    def __init__(self, env: simpy.Environment, hosts: Sequence[HostNode], admission: Admission,
                 recorder: Recorder) -> None:
        self.env = env
        self.hosts = list(hosts)
        self.admission = admission
        self.rec = recorder
        self.live: dict[int, Instance] = {}
        self.memory: Any = None           # memory.Memory when the scenario uses the memory model
        self.warm: Any = None             # warm.Warm, made when a plan has warm paths
        self.live_restore = False
        self.faults = False             # the scenario has faults: hosts and daemons may be down
        n = len(self.hosts)
        self.host_up_at = [0.0] * n         # a rebooting host is back at
        self.daemon_up_at = [0.0] * n       # a restarting daemon is back at
        self.epoch = [0] * n                # crashes of each host so far
        # The recorder's columns, bound once: ``enter`` writes an event without a call into it.
        self._ev_time = recorder.ev_time.append
        self._ev_code = recorder.ev_code.append
        self._final = recorder.final
        self._times = recorder.times
        self._span = recorder.spans_flat.extend
        self._held = recorder.held_mib

    # ---- the client side ------------------------------------------------------------------

    def _new(self, plan: WorkloadPlan) -> Instance:
        iid = self.rec.new_instance(plan.index, self.env.now)
        inst = Instance(iid, plan)
        self.live[iid] = inst
        return inst

    def run(self, plan: WorkloadPlan, lifetime: float) -> Instance:
        """``docker run``: request an instance now; it lives ``lifetime`` seconds once ready."""
        # NOTE: ``_new`` and ``Recorder.new_instance`` inlined (the hot path: one call per request)
        rec, now = self.rec, self.env._now
        iid = rec.n
        rec.n = iid + 1
        if iid >= rec._rows:        # rows come in blocks
            rec._grow()
        self._times[iid * NM] = now
        rec.workload[iid] = plan.index
        self._ev_time(now)
        self._ev_code(iid << STATE_BITS)
        inst = Instance(iid, plan)
        self.live[iid] = inst
        inst.process = proc = InstanceProcess(self.env, self.lifecycle(inst, lifetime))
        proc.start()
        return inst

    def create(self, plan: WorkloadPlan) -> Instance:
        """``docker create``: admitted, pulled and created, then it waits in ``created`` for an
        ``api("start", ...)``; it runs until stopped, killed or removed."""
        inst = self._new(plan)
        inst.process = proc = InstanceProcess(self.env, self.lifecycle(inst, None))
        proc.start()
        return inst

    def api(self, op: str, iid: int, **kw: Any) -> int:
        """An Engine API request against an instance; its HTTP status, recorded in
        ``rec.api_calls``: 204 done, 304 nothing to do, 404 no such instance, 409 conflict."""
        inst = self.live.get(iid)
        state = inst.state if inst is not None else None
        status = 404 if inst is None else api_op(self, op, inst, kw)
        self.rec.api_calls.append({"time_s": self.env.now, "instance": iid, "op": op, "ok": status < 400,
                                   "status": status,
                                   "state": state.label if state is not None else "removed-or-unknown"})
        return status

    # ---- the one transition ---------------------------------------------------------------

    def enter(self, inst: Instance, state: State, action: str | None = None, exit_code: int | None = None,
              then: State | None = None) -> None:
        """The instance enters ``state`` (and then ``then``, in the same instant): the event
        (with Docker's action and exit code when they are not the state's own), its lifecycle
        mark, and its running span opened or closed (:meth:`_span_step`).

        NOTE: the hot path of the simulator: what each edge does is looked up once
        (``_STEPS``), the recorder's columns are bound on the daemon, and two states of one
        instant (pulling and created, starting and running, stopping and exited) go in one
        call, the second written out rather than looped over."""
        step = _STEPS[inst.state][state]
        if step is None:
            raise AssertionError(f"instance {inst.id}: illegal {inst.state.label} -> {state.label}")
        now = self.env._now         # simpy's ``now`` property, read directly
        iid = inst.id
        ev_time, ev_code = self._ev_time, self._ev_code
        inst.state = state
        ev_time(now)
        ev_code(iid << STATE_BITS | state)
        if action is not None or exit_code is not None:
            self.note(action, exit_code)
        mark, op = step
        if mark >= 0:
            self._times[iid * NM + mark] = now
        if op:
            self._span_step(inst, op, now)
        if then is not None:
            step = _STEPS[state][then]
            if step is None:
                raise AssertionError(f"instance {iid}: illegal {state.label} -> {then.label}")
            inst.state = state = then
            ev_time(now)
            ev_code(iid << STATE_BITS | state)
            mark, op = step
            if mark >= 0:
                self._times[iid * NM + mark] = now
            if op:
                self._span_step(inst, op, now)
        self._final[iid] = state

    def _span_step(self, inst: Instance, op: int, now: float) -> None:
        """The running span opens (running count, CPU and IO load on, the memory model told) or
        closes -- however it ends: a stop, a kill, a crash, an OOM kill, a fault, a preemption;
        a pause or unpause only takes its load off or puts it back."""
        if op == _OPEN:
            inst.span = now
            inst.span_ready = NAN
            times, i = self._times, inst.id * NM + _M_RUNNING
            if times[i] != times[i]:
                times[i] = now
            host = inst.host
            running = host.running = host.running + 1      # NOTE: ``host.started()`` inlined
            if running > host.peak_running:
                host.peak_running = running
            if inst.plan.loads:
                self._load(inst, True)
            if self.memory is not None:
                self.memory.on_running(inst)
        elif op == _CLOSE:
            if inst.cpu_load:
                self._load(inst, False)
            inst.host.running -= 1                  # NOTE: ``host.stopped()`` inlined
            iid = inst.id
            self._span((iid, inst.span, inst.span_ready, now))
            inst.span = NAN
            self._times[iid * NM + _M_STOPPING] = now
            if self.memory is not None:
                self.memory.on_exit(inst)
        else:
            self._load(inst, op == _UNPAUSE)

    def close_spans(self) -> None:
        """At the horizon: the running spans still open go to the recorder (end NaN: open)."""
        for inst in self.live.values():
            if inst.span == inst.span:
                self._span((inst.id, inst.span, inst.span_ready, NAN))
                inst.span = NAN

    def note(self, action: str | None, exit_code: int | None = None) -> None:
        """Docker's action and exit code for the event just recorded, where not the state's own."""
        k = len(self.rec.ev_time) - 1
        if action is not None:
            self.rec.ev_action[k] = action
        if exit_code is not None:
            self.rec.ev_exit[k] = exit_code
            if exit_code >= 0:
                self.rec.last_exit[self.rec.ev_code[k] >> STATE_BITS] = exit_code

    def _event(self, inst: Instance, action: str, exit_code: int | None = None) -> None:
        """An event without a state change (Docker's ``die`` after ``oom``, a signal's ``kill``)."""
        self._ev_time(self.env.now)
        self._ev_code(inst.id << STATE_BITS | inst.state)
        self.note(action, exit_code)

    def _load(self, inst: Instance, on: bool) -> None:
        """A running app's load: its cores on the host's CPU and its disk IO (``io_mib_s``) on
        the host's disk, fair-shared with pulls, extraction and VM disk copies."""
        plan = inst.plan
        cpu = plan.demand.cpu
        host = inst.host
        if (cpu <= 0 and not plan.io_mib_s) or host is None or inst.cpu_load == on:
            return
        mem = self.memory
        if mem is not None and mem.swap_cpu and not on:
            mem.unslow(inst)        # back to its normal cap before it goes (swap slowdown)
        inst.cpu_load = on
        if on:
            if cpu > 0:
                host.cpu.add_load(cpu, 1.0, plan.demand.cpu_share)
            if plan.io_mib_s:
                host.disk_bw.add_load(plan.io_mib_s)
            if mem is not None and mem.swap_cpu:
                mem.reslow_inst(inst)
        else:
            if cpu > 0:
                host.cpu.remove_load(cpu, 1.0, plan.demand.cpu_share)
            if plan.io_mib_s:
                host.disk_bw.remove_load(plan.io_mib_s)

    # ---- the one instance process ---------------------------------------------------------

    def lifecycle(self, inst: Instance, lifetime: float | None) -> Generator[simpy.Event, Any, None]:
        """The only instance process: bring-up, then runs -- start, serve, stop, exit, maybe a
        restart by policy -- then the finish; an API start of a kept instance runs it again.
        ``lifetime`` None: ``docker create`` (it waits in created for an API start)."""
        env, plan = self.env, inst.plan
        parts = plan.parts
        if plan.fail_stream is not None and self._pull_error(inst):
            return
        got = plan.prepare(self, inst)      # True: created at once; else a generator
        if got is not True and (got is False or not (yield from got)):
            return
        how = "start"
        if lifetime is None:                         # docker create: until an API start
            how = yield from self._created(inst)
            if how is None:
                return
            lifetime = _INF
        warm, ready_s, times = plan.warm is not None, plan.ready_s, self._times
        hc = plan.health            # a health check (model/health.py) gates ready; None: none
        deadline = _INF             # the client's stop: first ready + lifetime
        first = True
        k = 0                       # the back-off step
        while True:
            cause: str | None = None
            started = _INF          # its run counts from running (moby: StartedAt to exit)
            if plan.boot_idle and how == "start":      # nothing to boot: running at once
                self.enter(inst, _STARTING, then=_RUNNING)
            else:
                self.enter(inst, _STARTING)
                try:
                    why = None if plan.boot_idle else (yield from parts.bring_up.boot(self, inst))
                except simpy.Interrupt as i:
                    why, cause = None, self.caught(inst, i)
                if why is not None:
                    self._fail(inst, why, ram_held=True)
                    return
                if cause is None:
                    self.enter(inst, _RUNNING, None if how == "start" else how)
            own_at, own_code = _INF, 0
            if cause is None:       # serve: ready, then the client's stop or the app's own exit
                started = env._now
                try:
                    if warm and inst.warm_ready:
                        inst.warm_ready = False
                    elif hc is not None:
                        yield from health_serve(self, inst, hc, ready_s)
                    elif ready_s > 0:
                        yield env.timeout(ready_s)
                    now = env._now
                    i = inst.id * NM + _M_READY      # ready: its first ready mark, its span's ready
                    if times[i] != times[i]:
                        times[i] = now
                    inst.span_ready = now
                    if warm and inst.fault_cpu_s > 0:     # a restore's lazy memory faults in while it works
                        yield from self._faults_in(inst)
                        now = env._now
                    left = lifetime if first else max(0.0, deadline - now)
                    if first:
                        deadline = now + lifetime if lifetime != _INF else _INF
                        first = False   # --rm: removed at its deadline unless something comes first
                        inst.gone_at = deadline if plan.quick_stop else _INF
                    ttf = plan.time_to_failure() if plan.time_to_failure is not None else _INF
                    if ttf != _INF:
                        own_at, own_code = now + ttf, plan.workload.crash_exit_code
                    if ttf < left:
                        yield env.timeout(ttf)
                        cause = "crash" if own_code else "exit"
                    elif 0.0 <= left < _INF:
                        # NOTE: what ``env.timeout(left)`` does, without its checks and its class
                        # (as ``resources.FairShare._arm``): a triggered event at now + left
                        ev = _new_event(Event)      # ``Event.__init__`` without its call
                        ev.env, ev.callbacks, ev._ok, ev._value = env, [], True, None
                        heappush(env._queue, (env._now + left, NORMAL, next(env._eid), ev))
                        yield ev
                        cause = "client"
                    else:
                        yield env.timeout(left) if left != _INF else env.event()
                        cause = "client"
                except simpy.Interrupt as i:
                    cause = self.caught(inst, i)
            if cause == "client" and plan.quick_stop:   # --rm, a clean stop, nothing to tear down
                self._quick_remove(inst)
                return
            how, k, fresh = yield from self._end_run(inst, cause, own_at, own_code,  # type: ignore[arg-type]
                                                     env.now - started, deadline, k)
            if how is None:
                return
            if fresh:               # an API start: it runs until stopped (no client deadline)
                deadline, first, inst.gone_at = _INF, False, _INF

    def _created(self, inst: Instance) -> Generator[simpy.Event, Any, str | None]:
        """``docker create``: it waits in created for an API start ("start"); a remove first
        removes it (None)."""
        how = yield from self.park(inst)
        if how == "remove":
            yield from self.remove(inst)
            return None
        return how

    def _quick_remove(self, inst: Instance) -> None:
        """``docker run --rm`` ended by its client with nothing to tear down: stopping, exited and
        removed in one instant.

        NOTE: ``exit`` for a clean exit, inlined (the common end of the hot path)."""
        self.enter(inst, _STOPPING, then=_EXITED)
        self._release_exit(inst)
        self._removed(inst)

    def _end_run(self, inst: Instance, cause: str, own_at: float, own_code: int, ran_s: float, deadline: float,
                 k: int) -> Generator[simpy.Event, Any, tuple[str | None, int, bool]]:
        """Stop (the stopper part), exit, then what comes next: a restart by policy or by
        ``docker restart``, or the finish part (which may hand back an API start). Returns (how it
        starts again -- "start", "restart" -- or None when it is done, the back-off step, whether
        the client's deadline is gone)."""
        parts = inst.plan.parts
        code = own_code if cause == "crash" or cause == "exit" else 0
        if cause in GRACEFUL:
            code, cut = yield from parts.stopper.stop(self, inst, own_at, own_code, inst.stop_t)
            inst.stop_t = None
            cause = cut or cause
        code = self._exit_code(inst, cause, code)
        self.exit(inst, cause, code)
        if cause not in BY_HAND:    # it was meant to run to its deadline (availability counts the gap)
            self.rec.ends[inst.id] = deadline
        if cause == "restart":      # ``docker restart``: stopped, now started again
            ok = self._reserve(inst, "no room to start it again: the host's RAM is taken")
            return ("restart" if ok else None), k, False
        delay, k = self._restart_delay(inst, parts.restart, cause, code, ran_s, deadline, k)
        if delay is not None:
            again = yield from self._back_off(inst, delay, deadline)
            if again is False:
                return None, k, False
            if again:
                self.rec.restarts[inst.id] = self.rec.restarts.get(inst.id, 0) + 1
                return "start", k + 1, False    # by policy: Docker logs ``start`` (``restart``: the API call's)
        how = yield from parts.finish.finish(self, inst)
        if how is None or not self._reserve(inst, "no room to start it again: the host's RAM is taken"):
            return None, k, False
        self.rec.ends.pop(inst.id, None)
        return how, k, True

    def _exit_code(self, inst: Instance, cause: str, code: int) -> int:
        """The exit code of an exit by ``cause`` (``code``: the app's own, or the stop's)."""
        if cause == "kill":
            code, inst.kill_code = inst.kill_code, EXIT_SIGKILL
        elif cause == "daemon":     # the daemon stops its containers as it goes down
            w = inst.plan.workload
            code = stop_outcome(w.sigterm, w.shutdown_s, 0.0)[1]
        elif cause in ("host", "guest", "oom"):
            code = EXIT_SIGKILL
        return code

    def _restart_delay(self, inst: Instance, policy: Any, cause: str, code: int, ran_s: float, deadline: float,
                       k: int) -> tuple[float | None, int]:
        """(the restart policy's delay or None, the back-off step after a reset)."""
        if policy is None or cause in BY_HAND or self.env.now >= deadline:
            return None, k
        if ran_s >= policy.reset_after_s > 0:
            k = 0
        return policy(Exit(code, cause, self.rec.restarts.get(inst.id, 0)), k), k

    def exit(self, inst: Instance, cause: str, code: int) -> None:
        """The exit: Docker's ``die`` with its code (an OOM kill: ``oom``, then ``die`` 137);
        RAM, reserved CPU and the bridge port go back unless the finish keeps it alive."""
        if cause == "oom":
            self.enter(inst, _OOM_KILLED, "oom", EXIT_SIGKILL)     # the table shows why (137) on both
            self._event(inst, "die", EXIT_SIGKILL)
        else:
            self.enter(inst, _EXITED, "die" if code else None, code if code else None)
        if cause in ("stop", "kill"):
            self.rec.ends[inst.id] = self.env.now
        if not inst.plan.parts.finish.holds:
            self._release_exit(inst)

    def _release_exit(self, inst: Instance, port: bool = True) -> None:
        """At exit: RAM, reserved CPU and the bridge port go back (its writable layer, image
        reference and name stay until removal); the admission queue moves."""
        host, dm, now = inst.host, inst.plan.demand, self.env._now
        if port and inst.plan.has_ports:
            host.planes[inst.plan.plane].free_port(inst.holder or inst)     # type: ignore[union-attr]
        host.ram.release(dm.ram_mib, now)                   # type: ignore[union-attr]
        held = self._held                                   # NOTE: ``rec.hold`` of a release, inlined
        w = inst.plan.index
        held[w] = held.get(w, 0.0) - dm.ram_mib
        if host.cpu_pool is not None:                       # type: ignore[union-attr]
            host.cpu_pool.release(dm.admit_cpu, now)        # type: ignore[union-attr]
        if self.admission.queue:
            self.admission._drain()

    def _reserve(self, inst: Instance, why: str) -> bool:
        """Take RAM and reserved CPU again for a start after an exit; else the start fails."""
        host, dm, now = inst.host, inst.plan.demand, self.env.now
        assert host is not None
        if not host.ram.fits(dm.ram_mib) or (host.cpu_pool is not None and not host.cpu_pool.fits(dm.admit_cpu)):
            self._fail(inst, why)
            return False
        host.ram.reserve(dm.ram_mib, now)
        self.rec.hold(inst.plan.index, dm.ram_mib)
        if host.cpu_pool is not None:
            host.cpu_pool.reserve(dm.admit_cpu, now)
        inst.epoch = self.epoch[host.index]
        return True

    def _back_off(self, inst: Instance, delay: float, deadline: float) -> Generator[simpy.Event, Any, bool | None]:
        """A restart's back-off (and then until its host and daemon are up): True to start again,
        False when it failed for want of room, None when it stays exited (stopped, or the
        client's deadline passed)."""
        env = self.env
        t0 = env.now
        inst.restarting = True
        got = yield from self.nap(inst, min(delay, deadline - env.now))
        while got is None and self.up_at(inst) > env.now:     # its host or daemon is down
            got = yield from self.nap(inst, self.up_at(inst) - env.now)
        inst.restarting = False
        self.rec.backoff_s[inst.id] = self.rec.backoff_s.get(inst.id, 0.0) + env.now - t0
        if got == "restart" or (got is None and env.now < deadline):
            return self._reserve(inst, "no room to restart it: the host's RAM is taken")
        self.rec.ends[inst.id] = min(env.now, deadline)    # stopped by hand, or the deadline passed
        return None

    def _faults_in(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        faults, inst.fault_cpu_s = inst.fault_cpu_s, 0.0
        self.warm.state[inst.plan.index].fault_cpu_s += faults
        ev = inst.host.cpu.request(faults, 1.0)         # type: ignore[union-attr]
        if ev is not None:
            yield ev

    def _pull_error(self, inst: Instance) -> bool:
        """An image pull the registry refuses (``pull_error_rate``): the start fails at once."""
        plan = inst.plan
        rate = plan.workload.pull_error_rate
        if rate > 0 and math.exp(-plan.fail_stream.exponential()) < rate:      # type: ignore[union-attr]
            self.enter(inst, _FAILED, "die", 1)
            self.rec.failures.append({"time_s": self.env.now, "instance": inst.id, "workload": plan.index,
                                      "reason": "image pull error (ErrImagePull: the registry refused the pull)"})
            del self.live[inst.id]
            return True
        return False

    # ---- interruptions: one place ---------------------------------------------------------

    def interrupt(self, inst: Instance, cause: str) -> bool:
        """Interrupt the instance's process with ``cause`` unless one is on its way already."""
        if inst.pending or inst.process is None or not inst.process.is_alive:
            return False
        inst.pending = True
        inst.process.interrupt(cause)
        return True

    @staticmethod
    def caught(inst: Instance, intr: simpy.Interrupt) -> str:
        """An interrupt met: its cause (stop, kill, restart, oom, host, guest, daemon, preempt)."""
        inst.pending = False
        return cause_of(intr.cause)

    def nap(self, inst: Instance, s: float) -> Generator[simpy.Event, Any, str | None]:
        """Sleep ``s`` (inf: until interrupted); the interrupt's cause, or None."""
        try:
            yield self.env.timeout(s) if s != _INF else self.env.event()
        except simpy.Interrupt as i:
            return self.caught(inst, i)
        return None

    def park(self, inst: Instance) -> Generator[simpy.Event, Any, str]:
        """Created or exited: wait for an API start, restart or remove (or a fault's nudge)."""
        while True:
            inst.wake = self.env.event()
            try:
                got = yield inst.wake
            except simpy.Interrupt as i:
                inst.pending = False
                got = i.cause
            inst.wake = None
            if got in ("start", "restart", "remove"):
                return got

    def up_at(self, inst: Instance) -> float:
        """When the instance's host (and its daemon, when a daemon restart stops its
        instances) is up again."""
        host = inst.host
        assert host is not None
        up = self.host_up_at[host.index]
        if host.planes[inst.plan.plane].stops_with_daemon:
            up = max(up, self.daemon_up_at[host.index])
        return up

    def wait_up(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """Until the instance's host (and its daemon) is up; its host's crash count noted."""
        while (up := self.up_at(inst)) > self.env.now:
            yield self.env.timeout(up - self.env.now)
        inst.epoch = self.epoch[inst.host.index]    # type: ignore[union-attr]

    def preemptible(self, host: Any) -> list[Instance]:
        """Running instances on ``host`` not already being interrupted (preemption candidates),
        in request order."""
        return [i for i in self.live.values() if i.host is host and i.state is _RUNNING and not i.pending]

    def preempt(self, inst: Instance) -> bool:
        """Evict a preemption victim: a graceful stop, after which its restart policy acts."""
        return self.interrupt(inst, "preempt")

    # ---- the end --------------------------------------------------------------------------

    def remove(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """The plane's teardown, then the instance's disk and image reference go back."""
        plan = inst.plan
        if not plan.steps.remove_idle:
            yield from inst.host.planes[plan.plane].remove(inst.holder or inst, port=False)   # type: ignore[union-attr]
        self._removed(inst)

    def _removed(self, inst: Instance) -> None:
        self._release_rest(inst)
        self.enter(inst, _REMOVED)
        del self.live[inst.id]
        if self.admission.queue:
            self.admission._drain()

    def _release_rest(self, inst: Instance) -> None:
        """At removal (or a failed start): the instance's disk and its image reference."""
        host, dm, img, now = inst.host, inst.plan.demand, inst.plan.image, self.env._now
        if dm.disk_mib:
            host.disk.release(dm.disk_mib, now)             # type: ignore[union-attr]
        host.store.release(img)                             # type: ignore[union-attr]
        host.image_mib_placed -= img.disk_mib               # type: ignore[union-attr]
        host.copy_mib_placed -= dm.copy_mib                 # type: ignore[union-attr]

    def _fail(self, inst: Instance, why: str, ram_held: bool = False) -> None:
        """A start that failed (a full bridge, no room to start again): recorded with its
        reason; everything it held goes back (its bridge port: at its exit already, or never
        taken)."""
        self.rec.failures.append({"time_s": self.env.now, "instance": inst.id,
                                  "workload": inst.plan.index, "reason": why})
        self.enter(inst, _FAILED, "die", 1)
        self.rec.ends[inst.id] = self.env.now
        if ram_held:
            self._release_exit(inst, port=False)
        self._release_rest(inst)
        del self.live[inst.id]
        if self.admission.queue:
            self.admission._drain()
