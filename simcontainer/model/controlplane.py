"""Control planes: what sits in front of a runtime, and where requests queue.

A control plane carries an instance through the steps its runtime cannot do alone, and says
where each step waits. The lifecycle (:mod:`simcontainer.model.daemon`) asks its plane for each step
-- ``pull``, ``create``, ``start``, ``stop`` -- with ``yield from plane.step(inst)`` and knows
nothing of which plane it is. One plane object per host per profile (models/control-planes/):

=============  ==============================  ==========================================
plane          request pool                    serialized
=============  ==============================  ==========================================
dockerd        none (a goroutine per request)  endpoint create/delete, per network
kubelet (CRI)  none (a pod worker per pod)     IPAM per network; image pulls (1 at a time)
libvirt        ``max_workers`` = 20            --
firecracker    none (an API socket per VMM)    --
direct         none (or ``workers`` = N)       --
=============  ==============================  ==========================================

Nothing waits inside a worker that does not need it: a pull, a VM's disk copy and a boot hold
no slot of any plane; a worker is held for the create step only (request handling, sandbox and
the runtime's create). Every wait on a slot is cancellable: a process interrupted while it
waits leaves the queue, and one interrupted while it holds a slot gives it back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from simcontainer.model.resources import Slots
from simcontainer.model.restart import (
    CrashLoopBackOff,
    DockerRestart,
    ImagePullBackOff,
    RestartPolicy,
    no_restart,
)
from simcontainer.scenario.schema import ControlPlaneProfile, Phase
from simcontainer.scenario.workload import Stream, lognormal_sigma

if TYPE_CHECKING:
    from simcontainer.model.daemon import Instance, WorkloadPlan
    from simcontainer.model.host import HostNode

# Network modes: which use an endpoint (a lock and, on a bridge, a port).
ENDPOINT_MODES = frozenset({"bridge", "tap"})


@dataclass(frozen=True)
class PhasePlan:
    """A phase, ready to sample: fixed latency (median, lognormal sigma), CPU work, serial part.

    ``cpu_s`` and the CPU-bound share of ``serial_s`` are already divided by the host's
    ``cpu_speed`` (see :meth:`of`).
    """

    median_s: float
    sigma: float
    cpu_s: float
    cpu_cores: float
    serial_s: float
    exp_mean_s: float = 0.0     # > 0: the latency is exponential with this mean
    # True when the phase does nothing at all (no latency, no draw, no work): it is skipped.
    idle: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "idle", not (self.median_s > 0 or self.sigma > 0 or self.exp_mean_s > 0
                                              or self.cpu_s > 0 or self.serial_s > 0))

    @classmethod
    def of(cls, phase: Phase, cpu_speed: float = 1.0, serial_cpu_share: float = 1.0,
           serial: bool = True) -> PhasePlan:
        """``phase`` on a host of ``cpu_speed``: CPU work takes 1/speed as long; so does the
        CPU-bound share of the serialized part. ``serial = False`` drops the serialized part."""
        cpu = phase.cpu_s / cpu_speed
        ser = phase.serial_s * (serial_cpu_share / cpu_speed + 1.0 - serial_cpu_share) if serial else 0.0
        if phase.dist == "exponential":
            return cls(0.0, 0.0, cpu, phase.cpu_cores, ser, phase.mean_s or 0.0)
        return cls(phase.median_s, lognormal_sigma(phase.median_s, phase.p95_s), cpu, phase.cpu_cores, ser)

    def latency(self, stream: Stream) -> float:
        if self.exp_mean_s > 0:
            return self.exp_mean_s * stream.exponential()
        if self.sigma > 0:
            return self.median_s * math.exp(self.sigma * stream.normal())
        return self.median_s


IDLE = PhasePlan(0.0, 0.0, 0.0, 1.0, 0.0)


def run_phase(host: HostNode, phase: PhasePlan, stream: Stream, lock: Slots
              ) -> Generator[simpy.Event, Any, None]:
    """Fixed latency, then CPU work on the host's fair share, then the serialized part under
    ``lock`` (a cancellable wait)."""
    env = host.env
    lat = phase.latency(stream)
    if lat > 0:
        yield env.timeout(lat)
    if phase.cpu_s > 0:
        ev = host.cpu.request(phase.cpu_s, phase.cpu_cores)
        if ev is not None:
            yield ev
    if phase.serial_s > 0:
        yield from hold(lock, env.timeout, phase.serial_s)


def hold(slots: Slots, timeout: Callable[[float], simpy.Event], s: float) -> Generator[simpy.Event, Any, None]:
    """Take a slot (waiting in FIFO order, cancellable), keep it ``s`` seconds, give it back."""
    ev = slots.acquire()
    if ev is not None:
        try:
            yield ev
        except BaseException:
            slots.cancel(ev)
            raise
    try:
        yield timeout(s)
    finally:
        slots.release()


@dataclass(frozen=True)
class Steps:
    """What a workload's instances cost in each step under one plane (computed once per plan):
    which steps do nothing and may be skipped, and the plane's phases on this host."""

    create_idle: bool
    start_idle: bool
    remove_idle: bool
    endpoint: bool          # the network mode has an endpoint (lock, maybe a bridge port)


def steps(spec: ControlPlaneProfile, plan: WorkloadPlan, mode: str) -> Steps:
    endpoint = mode in ENDPOINT_MODES
    create_idle = (plan.api.idle and plan.create.idle and spec.api.is_zero and spec.sandbox.is_zero)
    ports = endpoint and spec.bridge_max_ports is not None
    start_idle = plan.boot.idle and plan.guest.idle and not plan.boot_read_mib and not (ports or (endpoint and not spec.network.is_zero))
    teardown_idle = spec.teardown.is_zero or (not endpoint and spec.teardown.model_copy(
        update={"serial_s": 0.0}).is_zero)
    return Steps(create_idle, start_idle, teardown_idle and not ports, endpoint)


class ControlPlane:
    """The base: no pool unless the profile sets ``workers``, one plane-wide lock for the
    serialized parts of the runtime's own phases, no network lock, no pull limit."""

    # What a restart of this daemon does to its instances: dockerd stops its containers on
    # shutdown unless live-restore is on (moby ``daemon/daemon.go`` Shutdown); the kubelet's
    # containers run under containerd's shims, VMs under their own VMM processes: they keep
    # running. An instance of a plane that stops also waits for the daemon to restart it.
    stops_with_daemon = False
    grace_s = 10.0      # the stop grace period by default: ``docker stop``'s 10 s (moby container.DefaultStopTimeout)

    @classmethod
    def restart_policy(cls, spec: str | None) -> RestartPolicy:
        """A workload's ``restart`` under this plane: Docker's restart manager (moby
        ``restartmanager``), default "no"."""
        mode, _, n = (spec or "no").partition(":")
        return no_restart if mode == "no" else DockerRestart(mode, int(n) if n else 0)

    def __init__(self, env: simpy.Environment, host: HostNode, spec: ControlPlaneProfile) -> None:
        self.env = env
        self.host = host
        self.spec = spec
        self.name = spec.name
        speed = host.spec.cpu_speed
        share = spec.serial_cpu_share
        self.workers = Slots(env, spec.workers) if spec.workers else None
        self.lock = Slots(env, 1)
        self.pulls = Slots(env, spec.image_pulls) if spec.image_pulls else None
        self.api = PhasePlan.of(spec.api, speed, share)
        self.sandbox = PhasePlan.of(spec.sandbox, speed, share)
        self.network = PhasePlan.of(spec.network, speed, share)
        self.teardown = PhasePlan.of(spec.teardown, speed, share)
        self.teardown_no_endpoint = PhasePlan.of(spec.teardown, speed, share, serial=False)
        self.max_ports = spec.bridge_max_ports
        self.ports: dict[tuple[str, int], int] = {}     # bridge ports in use, per network
        self.net_locks: dict[tuple[str, int], Slots] = {}    # per-network locks (``network_lock``)
        self.failed = 0
        # what a refused pull (429) does: None -- it fails (dockerd: xfer.DoNotRetry); the
        # kubelet tries again after its ImagePullBackOff
        self.pull_retry: ImagePullBackOff | None = None

    # ---- where serialized sections queue ----------------------------------------------------

    def lock_for(self, inst: Instance) -> Slots:
        """The lock an instance's serialized parts are held under: its network's with the
        profile's ``network_lock`` (and a network endpoint), else the plane-wide one."""
        if not (self.spec.network_lock and inst.plan.steps.endpoint):
            return self.lock
        net = self.network_of(inst)
        lock = self.net_locks.get(net)
        if lock is None:
            lock = self.net_locks[net] = Slots(self.env, 1)
        return lock

    @staticmethod
    def network_of(inst: Instance) -> tuple[str, int]:
        plan = inst.plan
        return plan.network, inst.id % plan.networks

    # ---- the steps --------------------------------------------------------------------------

    def pull(self, inst: Instance) -> Generator[simpy.Event, Any, float]:
        """Fetch the instance's missing layers (under the plane's image-pull limit, if any)."""
        store = self.host.store
        if self.pulls is None:
            return (yield from store.pull(inst.image, inst.owned, inst.id, self.pull_retry))
        ev = self.pulls.acquire()
        if ev is not None:
            try:
                yield ev
            except BaseException:
                self.pulls.cancel(ev)
                raise
        try:
            return (yield from store.pull(inst.image, inst.owned, inst.id, self.pull_retry))
        finally:
            self.pulls.release()

    def create(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """Request handling, sandbox and the runtime's create; under a worker if there is a pool."""
        workers = self.workers
        if workers is None:
            yield from self._create(inst)
            return
        ev = workers.acquire()
        if ev is not None:
            try:
                yield ev
            except BaseException:
                workers.cancel(ev)
                raise
        try:
            yield from self._create(inst)
        finally:
            workers.release()

    def _create(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        host, plan = self.host, inst.plan
        stream, lock = plan.phases_stream, self.lock_for(inst)
        for phase in (self.sandbox, self.api, plan.api, plan.create):
            if not phase.idle:
                yield from run_phase(host, phase, stream, lock)

    def start(self, inst: Instance) -> Generator[simpy.Event, Any, str | None]:
        """Network setup (its serialized part under the network's lock), then the runtime's
        boot. Returns why the start failed, or None."""
        host, plan = self.host, inst.plan
        stream = plan.phases_stream
        if plan.steps.endpoint:
            why = self.take_port(inst)
            if why is not None:
                return why
            if not self.network.idle:
                yield from run_phase(host, self.network, stream, self.lock_for(inst))
        if not plan.boot.idle:
            yield from run_phase(host, plan.boot, stream, self.lock_for(inst))
        if plan.boot_read_mib > 0:
            yield from host.boot_read(plan)
        if not plan.guest.idle:
            yield from run_phase(host, plan.guest, stream, self.lock_for(inst))
        return None

    def stop(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """The runtime's stop (an app that exits on SIGTERM, the runtime's cleanup)."""
        plan = inst.plan
        yield from run_phase(self.host, plan.stop, plan.phases_stream, self.lock_for(inst))

    def remove(self, inst: Instance, port: bool = True) -> Generator[simpy.Event, Any, None]:
        """The plane's teardown after the exit (endpoint delete under the network's lock,
        rootfs removal); the bridge port is free again (``port = False``: it was freed at the
        exit already, see :meth:`free_port`)."""
        plan = inst.plan
        endpoint = plan.steps.endpoint
        teardown = self.teardown if endpoint else self.teardown_no_endpoint
        if not teardown.idle:
            yield from run_phase(self.host, teardown, plan.phases_stream, self.lock_for(inst))
        if port:
            self.free_port(inst)

    def take_port(self, inst: Instance) -> str | None:
        """The instance's bridge port, where its network has a port limit: why there is none
        (the bridge is full), or None. Given back by :meth:`free_port` at its exit."""
        if not (inst.plan.steps.endpoint and self.max_ports is not None):
            return None
        net = self.network_of(inst)
        used = self.ports.get(net, 0)
        if used >= self.max_ports:
            self.failed += 1
            return (f"network {net[0]}{net[1] or ''} on host {self.host.index} is full: a Linux bridge "
                    f"holds at most {self.max_ports} container ports (BR_MAX_PORTS; "
                    f"'exchange full', moby/moby#44973)")
        self.ports[net] = used + 1
        return None

    def free_port(self, inst: Instance) -> None:
        """Give back the instance's bridge port (at its exit on the full lifecycle: a stopped
        container keeps no endpoint; a restart takes one again)."""
        if inst.plan.steps.endpoint and self.max_ports is not None:
            self.ports[self.network_of(inst)] -= 1


class Dockerd(ControlPlane):
    """dockerd: no worker pool; an instance's serialized parts (endpoint create and delete) are
    held under its network's lock (``network_lock``: libnetwork's per-network locker, moby PR
    44887), so separate networks do not queue behind each other. A restart of dockerd stops its
    containers unless live-restore is on."""

    stops_with_daemon = True


class Kubelet(ControlPlane):
    """kubelet + containerd (CRI): a pod sandbox before the container, CNI's IPAM lock per
    network (``network_lock``, as dockerd's, shorter), and image pulls one at a time
    (``image_pulls`` = 1, serializeImagePulls) -- all from the profile's data. Its own: a pod's
    30 s grace period and its restart policy, CrashLoopBackOff (default Always)."""

    grace_s = 30.0      # a pod's terminationGracePeriodSeconds default (Kubernetes API reference)

    @classmethod
    def restart_policy(cls, spec: str | None) -> RestartPolicy:
        """A pod's restartPolicy: Always (the default), OnFailure, Never; "unless-stopped" has
        no pod equivalent: Always (kubelet ``MaxContainerBackOff``, pod-lifecycle docs)."""
        mode = (spec or "always").partition(":")[0]
        return CrashLoopBackOff("always" if mode == "unless-stopped" else mode)

    # it writes each container's oom_score_adj from the pod's QoS class, and evicts pods under
    # node memory pressure (simcontainer.model.qos)
    sets_oom_score_adj = True

    def __init__(self, env: simpy.Environment, host: HostNode, spec: ControlPlaneProfile) -> None:
        super().__init__(env, host, spec)
        self.pull_retry = ImagePullBackOff()      # 10 s doubling to 300 s, per pod and image


class Libvirt(ControlPlane):
    """libvirtd: a pool of ``max_workers`` threads holds define + start (the base's pool), and
    one client connection has at most ``max_client_requests`` requests in flight (libvirtd.conf:
    "Limit on concurrent requests from a single client connection", default 5; further requests
    wait unread on the socket). A host's instances come through one management connection (the
    provisioning tool's), so at most 5 define + start requests run at once, beside the pool."""

    max_client_requests = 5

    def __init__(self, env: simpy.Environment, host: HostNode, spec: ControlPlaneProfile) -> None:
        super().__init__(env, host, spec)
        self.connection = Slots(env, self.max_client_requests)

    def create(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        conn = self.connection
        ev = conn.acquire()
        if ev is not None:
            try:
                yield ev
            except BaseException:
                conn.cancel(ev)
                raise
        try:
            yield from super().create(inst)
        finally:
            conn.release()


class Firecracker(ControlPlane):
    """One API socket per microVM: no shared pool and no lock shared between microVMs (the
    serialized part of a phase, if a custom profile has one, is held per VMM: never contended)."""

    def lock_for(self, inst: Instance) -> Slots:
        return Slots(self.env, 1)


CONTROL_PLANES: dict[str, type[ControlPlane]] = {
    "dockerd": Dockerd, "kubelet": Kubelet, "libvirt": Libvirt, "firecracker": Firecracker,
    "direct": ControlPlane,
}


def make_plane(env: simpy.Environment, host: HostNode, spec: ControlPlaneProfile) -> ControlPlane:
    assert spec.kind is not None, spec.name
    return CONTROL_PLANES[spec.kind](env, host, spec)


__all__ = ["CONTROL_PLANES", "ControlPlane", "Dockerd", "Firecracker", "IDLE", "Kubelet", "Libvirt",
           "PhasePlan", "Steps", "make_plane", "run_phase", "steps"]
