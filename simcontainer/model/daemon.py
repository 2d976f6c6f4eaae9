"""The daemon: API requests, its workers, and each instance's way through the lifecycle.

One simpy process carries an instance from request to removal (``docker run --rm``):

1. **wait** for room on a host (admission: RAM, disk, maybe CPU; FIFO or reject);
2. **pull** the image's missing layers;
3. **create**: a VM's full disk copy (no control-plane slot held), then the control plane's
   create step (request handling, sandbox, the runtime's create; under a worker if the plane
   has a pool);
4. **start**: the control plane's network setup (a serialized part under the network's lock),
   then the runtime's boot: the container process starts, or the guest kernel boots;
5. **ready**: the app becomes ready (``ready_s``); it is running for its lifetime;
6. **stop** (the runtime's), exit, then removal (the plane's teardown): the reservation goes
   back and the queue moves.

This is the fast path: ``docker run`` (with ``--rm``, or keeping the exited instance when
``auto_remove`` is false) with a clean stop and nothing else. Grace periods, crashes, restart
policies, faults and scripted API requests take the full lifecycle in
:mod:`simcontainer.model.supervisor` (``WorkloadPlan.full``).

The lifecycle asks the instance's control plane (:mod:`simcontainer.model.controlplane`) for each
step and knows nothing of which plane it is.

Fixed latencies are drawn per instance; CPU work goes through the host's fair-share CPU, so a
burst of boots, or busy neighbours, stretch exactly that part. API operations from outside
(``stop``, ``kill``, ``pause``, ``unpause``, ``start``, ``remove``) are checked against the state
machine in :mod:`simcontainer.model.states`; an illegal one is recorded as a 409 error.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from simcontainer.model.controlplane import IDLE, PhasePlan, Steps
from simcontainer.model.host import Demand, HostNode
from simcontainer.model.images import Image
from simcontainer.model.metrics import NM, STATE_BITS, Recorder
from simcontainer.model.placement import Admission, Ticket
from simcontainer.model.states import TRANSITIONS, State, can
from simcontainer.model.supervisor import Life, Supervisor
from simcontainer.scenario.schema import RuntimeProfile, Workload
from simcontainer.scenario.workload import LifetimeSampler, Stream

NAN = math.nan
_M_ADMITTED, _M_PULLED, _M_CREATED, _M_RUNNING, _M_READY, _M_STOPPING, _M_EXITED, _M_REMOVED = range(1, NM)
# Enum attribute look-ups are slow on Python 3.11; the hot path uses these.
_REQUESTED = State.REQUESTED
_WAITING, _PULLING, _CREATED, _STARTING, _RUNNING = (State.WAITING, State.PULLING, State.CREATED,
                                                     State.STARTING, State.RUNNING)
_STOPPING, _EXITED, _REMOVED, _REJECTED = State.STOPPING, State.EXITED, State.REMOVED, State.REJECTED
_INF = math.inf
_EDGES = TRANSITIONS


@dataclass
class WorkloadPlan:
    """A workload with everything resolved: its runtime, image, demand and random streams."""

    index: int
    workload: Workload
    runtime: RuntimeProfile
    image: Image
    demand: Demand
    api: PhasePlan
    create: PhasePlan
    boot: PhasePlan
    stop: PhasePlan
    vm_copy_mib: float          # disk written when a VM's disk is a full copy
    lifetime: LifetimeSampler
    phases_stream: Stream
    arrival_stream: Stream
    guest: PhasePlan = IDLE     # a VM's guest boot (the VM image's), after the runtime's boot
    plane: int = 0              # index of its control plane in ``HostNode.planes``
    network: str = "bridge"     # network mode
    networks: int = 1           # networks of that mode the instances are spread over
    # which steps do nothing under its plane (set by the engine: controlplane.steps)
    steps: Steps = field(default=Steps(True, True, True, False), repr=False)
    # the full lifecycle (simcontainer.model.supervisor) instead of the fast ``docker run --rm`` path
    full: bool = False
    keep: bool = False              # fast path: an exited instance stays (auto_remove = false)
    policy: Any = None              # its restart policy (simcontainer.model.restart), full path only
    grace_s: float = 10.0           # its stop grace period
    fail_stream: Stream | None = field(default=None, repr=False)    # crashes, pull errors
    time_to_failure: LifetimeSampler | None = None                  # None: it never crashes
    # the running app's disk load, MiB/s: io_mb_s x the runtime's io_factor (simcontainer.model.memory)
    io_mib_s: float = 0.0
    # MiB a VM's guest boot reads from its disk on the host's disk bandwidth (host.boot_read_mib)
    boot_read_mib: float = 0.0
    warm: Any = None                # warm.WarmPlan: snapshot restore, pool, keep-alive (None: none)

    @property
    def name(self) -> str:
        return self.workload.name


class Instance(Ticket):
    """A live instance, kept while it exists so that API requests can find it.

    It is its own admission ticket (demand, image, host, layers to fetch, queue event): one
    object per instance instead of two.
    """

    __slots__ = ("id", "plan", "state", "process", "cpu_load", "life")

    def __init__(self, iid: int, plan: WorkloadPlan) -> None:
        # the Ticket's fields, set here (no second __init__ call on the hot path)
        self.demand = plan.demand
        self.image = plan.image
        self.host = None
        self.owned = ()
        self.event = None
        self.priority = plan.workload.priority
        self.id = iid
        self.plan = plan
        self.state = _REQUESTED
        self.process: simpy.Process | None = None
        self.cpu_load = False
        self.life: Any = None           # supervisor.Life on the full path

    @property
    def ticket(self) -> Ticket:
        return self


class Daemon:
    """All hosts' daemons behind one admission controller (one per host: workers, lock, slots)."""

    def __init__(self, env: simpy.Environment, hosts: Sequence[HostNode], admission: Admission,
                 recorder: Recorder) -> None:
        self.env = env
        self.hosts = list(hosts)
        self.admission = admission
        self.rec = recorder
        self.live: dict[int, Instance] = {}
        self.supervisor: Any = None       # supervisor.Supervisor, made when a plan needs it
        self.memory: Any = None           # memory.Memory when the scenario uses the memory model
        self.warm: Any = None             # warm.Warm, made when a plan has warm paths
        self.live_restore = False
        self.by_workload: dict[int, array[int]] = {}   # instance ids per workload (8 B each)
        # The recorder's columns, bound once: ``_mark`` writes an event without a call into it.
        self._ev_time = recorder.ev_time.append
        self._ev_code = recorder.ev_code.append
        self._final = recorder.final
        self._times = recorder.times

    def full_lifecycle(self) -> Any:
        """The supervisor of the full lifecycle (:mod:`simcontainer.model.supervisor`), made on first
        need: by a plan that needs it, preemption, faults or the memory model."""
        if self.supervisor is None:
            self.supervisor = Supervisor(self)
        return self.supervisor

    # ---- the client side ------------------------------------------------------------------

    def run(self, plan: WorkloadPlan, lifetime: float) -> Instance:
        """``docker run --rm``: request an instance now; it lives ``lifetime`` seconds once ready."""
        iid = self.rec.new_instance(plan.index, self.env.now)
        inst = Instance(iid, plan)
        self.live[iid] = inst
        ids = self.by_workload.get(plan.index)
        if ids is None:
            ids = self.by_workload[plan.index] = array("q")
        ids.append(iid)
        if plan.full:
            inst.life = Life(plan.policy, plan.grace_s)
            self.rec.lives[iid] = inst.life
            inst.process = self.env.process(self.full_lifecycle().lifecycle(inst, lifetime))
        elif plan.warm is None:
            inst.process = self.env.process(self._lifecycle(inst, lifetime))
        else:
            inst.process = self.env.process(self.warm.run(inst, lifetime))
        return inst

    def api(self, op: str, iid: int) -> bool:
        """An API request against a live instance; False (and a recorded 409/404) if refused."""
        now = self.env.now
        inst = self.live.get(iid)
        if inst is None:
            self.rec.api_calls.append({"time_s": now, "instance": iid, "op": op, "ok": False,
                                       "status": 404, "state": "removed-or-unknown"})
            return False
        if inst.life is not None:
            return self._api_full(op, inst)
        target = can(op, inst.state)
        ok = target is not None
        self.rec.api_calls.append({"time_s": now, "instance": iid, "op": op, "ok": ok,
                                   "status": 200 if ok else 409, "state": inst.state.label})
        if not ok:
            return False
        if op == "pause":
            self._to(inst, State.PAUSED)
            self._cpu_load(inst, False)
        elif op == "unpause":
            self._to(inst, State.RUNNING)
            self._cpu_load(inst, True)
        elif op in ("stop", "kill"):
            assert inst.process is not None
            inst.process.interrupt(op)
        # start / remove of a created or exited instance: the daemon is doing it already
        return True

    def _api_full(self, op: str, inst: Instance) -> bool:
        """The Engine API's answers on the full path: 200 done, 304 nothing to do (start on a
        running container, stop on a stopped one), 409 conflict (kill of a stopped container,
        remove of a running one)."""
        life, state, sv = inst.life, inst.state, self.supervisor
        up = state in (State.STARTING, State.RUNNING, State.PAUSED)
        down = state in (State.CREATED, State.EXITED, State.OOM_KILLED, State.FAILED)
        status = 409
        if op == "stop":
            status = 200 if up or life.restarting else (304 if down or state == State.STOPPING else 409)
            if up or life.restarting:
                sv.interrupt(inst, "stop")
        elif op == "kill":
            if up or state == State.STOPPING:
                status = 200
                sv.interrupt(inst, "kill")
        elif op == "start":         # a paused container: 409 ("try unpause instead")
            if state in (State.STARTING, State.RUNNING):
                status = 304
            elif down and life.wake is not None:
                status = 200
                life.wake.succeed("start")
                life.wake = None        # taken: a second request in the same instant conflicts
        elif op == "remove":
            if down and life.wake is not None:
                status = 200
                life.wake.succeed("remove")
                life.wake = None
        elif op == "pause" and state == State.RUNNING:
            status = 200
            self._to(inst, State.PAUSED)
            self._cpu_load(inst, False)
        elif op == "unpause" and state == State.PAUSED:
            status = 200
            self._to(inst, State.RUNNING)
            self.rec.ev_action[len(self.rec.ev_time) - 1] = "unpause"
            self._cpu_load(inst, True)
        self.rec.api_calls.append({"time_s": self.env.now, "instance": inst.id, "op": op,
                                   "ok": status < 400, "status": status, "state": state.label})
        return status < 400

    # ---- the lifecycle --------------------------------------------------------------------

    def _to(self, inst: Instance, state: State) -> None:
        if state not in TRANSITIONS[inst.state]:
            raise AssertionError(f"instance {inst.id}: illegal {inst.state.label} -> {state.label}")
        inst.state = state
        self.rec.event(inst.id, state, self.env.now)

    def admit(self, inst: Instance) -> Generator[simpy.Event, Any, bool]:
        """Wait for room for ``inst`` (``yield from``); False when admission rejected it, which
        then is gone. The fast path inlines the same steps (see ``_lifecycle``)."""
        got = self.admission.admit(inst)
        if got is False:
            self._to(inst, _REJECTED)
            del self.live[inst.id]
            return False
        if got is not True:
            self._to(inst, _WAITING)
            yield got
        return True

    def _cpu_load(self, inst: Instance, on: bool) -> None:
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

    def _keep(self, inst: Instance, plane: Any) -> None:
        """An exited instance without ``auto_remove`` and no API to remove it (the fast path has
        no scripted actions): its RAM, reserved CPU and bridge port go back; its writable layer
        and image reference stay to the horizon (as the full path's, see supervisor)."""
        host, dm, now = inst.host, inst.plan.demand, self.env.now
        assert host is not None
        self._final[inst.id] = _EXITED
        plane.free_port(inst)
        host.ram.release(dm.ram_mib, now)
        if host.cpu_pool is not None:
            host.cpu_pool.release(dm.admit_cpu, now)
        inst.state = _EXITED                # it stays in ``live``, as in ``docker ps -a``
        if self.admission.queue:
            self.admission._drain()

    def _fail(self, inst: Instance, why: str) -> None:
        """A start that failed (e.g. a full bridge): recorded with its reason; the instance's
        reservation goes back (``docker run --rm``: the container is removed)."""
        self._to(inst, State.FAILED)
        self.rec.failures.append({"time_s": self.env.now, "instance": inst.id,
                                  "workload": inst.plan.index, "reason": why})
        del self.live[inst.id]
        self.admission.release(inst)

    def _lifecycle(self, inst: Instance, lifetime: float) -> Generator[simpy.Event, Any, None]:
        # The hot path of the whole simulator. Each state change is written inline (check the
        # edge, set the state, append the event, update ``final``, stamp the lifecycle mark);
        # ``_to`` and ``_mark`` do the same for the rarer paths. ``env.now`` is read once after
        # each yield (time cannot move in between).
        env, rec, plan = self.env, self.rec, inst.plan
        ev_time, ev_code, final, times = self._ev_time, self._ev_code, self._final, self._times
        iid = inst.id
        base = iid * NM
        code = iid << STATE_BITS

        # 1. wait for room (the instance is its own admission ticket)
        got = self.admission.admit(inst)
        if got is False:
            self._to(inst, _REJECTED)
            del self.live[iid]
            return
        if got is not True:
            self._to(inst, _WAITING)
            yield got
        host = inst.host
        assert host is not None
        now = env.now
        times[base + _M_ADMITTED] = now
        rec.host[iid] = host.index

        # 2. pull what is missing
        if _PULLING not in _EDGES[inst.state]:
            self._to(inst, _PULLING)              # raises: illegal
        inst.state = _PULLING
        ev_time(now)
        ev_code(code | _PULLING)
        final[iid] = _PULLING
        plane = host.planes[plan.plane]
        if not host.store.is_ready(plan.image):
            rec.pulled_mib[iid] = yield from plane.pull(inst)
            now = env.now
        times[base + _M_PULLED] = now

        # 3. create: a VM's full disk copy holds no control-plane slot; then the plane's create
        # step. With nothing to do and no pool to queue in (or a worker free, so nobody queued
        # for one), taking the step would change nothing: skip it.
        if plan.vm_copy_mib > 0:
            ev = host.disk_bw.request(plan.vm_copy_mib)
            if ev is not None:
                yield ev
            now = env.now
        steps = plan.steps
        workers = plane.workers
        if not (steps.create_idle and (workers is None or workers.free > 0)):
            yield from plane.create(inst)
            now = env.now
        if _CREATED not in _EDGES[inst.state]:
            self._to(inst, _CREATED)              # raises: illegal
        inst.state = _CREATED
        ev_time(now)
        ev_code(code | _CREATED)
        times[base + _M_CREATED] = now

        # 4. start: the plane's network setup, the runtime's boot (created -> starting is always
        # legal, and nothing comes in between)
        inst.state = _STARTING
        ev_time(now)
        ev_code(code | _STARTING)
        final[iid] = _STARTING
        if not steps.start_idle:
            why = yield from plane.start(inst)
            if why is not None:
                self._fail(inst, why)
                return
            now = env.now
        if _RUNNING not in _EDGES[inst.state]:
            self._to(inst, _RUNNING)              # raises: illegal
        inst.state = _RUNNING
        ev_time(now)
        ev_code(code | _RUNNING)
        final[iid] = _RUNNING
        times[base + _M_RUNNING] = now
        host.started()
        cpu = plan.demand.cpu > 0 or plan.io_mib_s > 0     # a running load: cores or disk IO
        if cpu:
            self._cpu_load(inst, True)

        # 5. ready, then the lifetime (an API stop/kill interrupts either)
        how = "stop"
        try:
            ready_s = plan.workload.ready_s
            if ready_s > 0:
                yield env.timeout(ready_s)
                now = env.now
            times[base + _M_READY] = now
            yield env.timeout(lifetime) if lifetime != _INF else env.event()
        except simpy.Interrupt as intr:
            how = intr.cause if intr.cause in ("stop", "kill") else "stop"

        # 6. stop (the runtime's; a kill skips it), exit, removal (the plane's teardown)
        if cpu:
            self._cpu_load(inst, False)
        host.stopped()
        now = env.now
        times[base + _M_STOPPING] = now
        if how == "stop":
            if _STOPPING not in _EDGES[inst.state]:
                self._to(inst, _STOPPING)         # raises: illegal
            inst.state = _STOPPING
            ev_time(now)
            ev_code(code | _STOPPING)
            final[iid] = _STOPPING
            if not plan.stop.idle:
                yield from plane.stop(inst)
                now = env.now
        if _EXITED not in _EDGES[inst.state]:
            self._to(inst, _EXITED)               # raises: illegal
        inst.state = _EXITED
        ev_time(now)
        ev_code(code | _EXITED)
        times[base + _M_EXITED] = now
        if plan.keep:
            self._keep(inst, plane)
            return
        if not steps.remove_idle:
            final[iid] = _EXITED
            yield from plane.remove(inst)
            now = env.now
        inst.state = _REMOVED                     # exited -> removed: always legal
        ev_time(now)
        ev_code(code | _REMOVED)
        final[iid] = _REMOVED
        times[base + _M_REMOVED] = now
        del self.live[iid]
        self.admission.release(inst)
