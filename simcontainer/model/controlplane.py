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
from simcontainer.scenario.catalogue import ControlPlaneProfile, Phase
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
    serial_sigma: float = 0.0   # > 0: the serialized hold is lognormal around serial_s (stragglers)
    # True when the phase does nothing at all (no latency, no draw, no work): it is skipped.
    idle: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "idle", not (self.median_s > 0 or self.sigma > 0 or self.exp_mean_s > 0
                                              or self.cpu_s > 0 or self.serial_s > 0))

    @classmethod
    def of(cls, phase: Phase, cpu_speed: float = 1.0, serial_cpu_share: float = 1.0,
           serial: bool = True, serial_sigma: float = 0.0) -> PhasePlan:
        """``phase`` on a host of ``cpu_speed``: CPU work takes 1/speed as long; so does the
        CPU-bound share of the serialized part. ``serial = False`` drops the serialized part."""
        cpu = phase.cpu_s / cpu_speed
        ser = phase.serial_s * (serial_cpu_share / cpu_speed + 1.0 - serial_cpu_share) if serial else 0.0
        sig = serial_sigma if ser > 0 else 0.0
        if phase.dist == "exponential":
            return cls(0.0, 0.0, cpu, phase.cpu_cores, ser, phase.mean_s or 0.0, sig)
        return cls(phase.median_s, lognormal_sigma(phase.median_s, phase.p95_s), cpu, phase.cpu_cores, ser,
                   0.0, sig)

    def serial_hold(self, stream: Stream) -> float:
        """The serialized part's hold: ``serial_s``, or with a spread a lognormal draw whose mean
        is ``serial_s`` (median ``serial_s * exp(-sigma^2 / 2)``), so the lock's throughput --
        what the calibration fixed -- stays, and a queue gets the tail real ones show."""
        sig = self.serial_sigma
        if sig <= 0:
            return self.serial_s
        return self.serial_s * math.exp(sig * stream.normal() - 0.5 * sig * sig)

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
        yield from hold(lock, env.timeout, phase.serial_hold(stream))


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
    create_idle = (plan.api.idle and plan.create.idle and spec.api.is_zero and spec.sandbox.is_zero
                   and not spec.per_instance_cpu_s and not spec.host_serial_s)
    ports = endpoint and spec.bridge_max_ports is not None
    start_idle = (plan.boot.idle and plan.guest.idle and not plan.boot_read_mib
                  and not (ports or (endpoint and not spec.network.is_zero))
                  and not (spec.rootfs_mib or spec.rootfs_syncs or spec.relist_period_s))
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
    health_kind = "docker"      # what a workload's ``health`` is by default: Docker's HEALTHCHECK
    grace_s = 10.0      # the stop grace period by default: ``docker stop``'s 10 s (moby container.DefaultStopTimeout)
    # a workload's ``restart`` when the scenario leaves it out: Docker's "no" (``docker run``
    # restarts nothing unless asked)
    default_restart = "no"

    @classmethod
    def restart_policy(cls, spec: str | None) -> RestartPolicy:
        """A workload's ``restart`` under this plane: Docker's restart manager (moby
        ``restartmanager``), default :attr:`default_restart`."""
        mode, _, n = (spec or cls.default_restart).partition(":")
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
        sig = spec.serial_sigma
        self.api = PhasePlan.of(spec.api, speed, share, serial_sigma=sig)
        self.sandbox = PhasePlan.of(spec.sandbox, speed, share, serial_sigma=sig)
        self.network = PhasePlan.of(spec.network, speed, share, serial_sigma=sig)
        self.teardown = PhasePlan.of(spec.teardown, speed, share, serial_sigma=sig)
        self.teardown_no_endpoint = PhasePlan.of(spec.teardown, speed, share, serial=False)
        # costs that grow with the host's instances, a cached start's disk work, host-wide
        # serialized creation (see density_work, rootfs_work, observe, host_creation)
        self.per_instance_cpu_s = spec.per_instance_cpu_s / speed
        self.rootfs_mib = spec.rootfs_mib
        self.rootfs_sync_s = spec.rootfs_syncs * host.spec.disk_sync_ms / 1000.0
        self.host_serial = PhasePlan.of(Phase(serial_s=spec.host_serial_s), speed, share, serial_sigma=sig)
        self.host_lock = Slots(env, 1)
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
        if self.per_instance_cpu_s > 0:
            yield from self.density_work(inst)
        for phase in (self.sandbox, self.api, plan.api, plan.create):
            if not phase.idle:
                yield from run_phase(host, phase, stream, lock)

    # ---- costs that grow, spread or queue (issue 22) --------------------------------------------

    def density_work(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """CPU work that grows with the instances already running on the host: dockerd and runc
        parse /proc/self/mountinfo, which holds every live container's mounts (moby/moby#20851:
        "the time to run and also stop one container increases in proportion to the number of
        live containers"), and walk per-container state; the kubelet's per-pod workers and
        managers do the same per pod. ``per_instance_cpu_s`` x running instances, on one core."""
        work = self.per_instance_cpu_s * self.host.running
        if work > 0:
            ev = self.host.cpu.request(work, 1.0)
            if ev is not None:
                yield ev

    def rootfs_work(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """A start's disk work even with the image cached: the overlay mount's upper and work
        directories, the rootfs's state files (hosts, resolv.conf, hostname, config.json) and
        the metadata stores' commits -- ``rootfs_mib`` on the host's disk bandwidth, then
        ``rootfs_syncs`` synchronous writes at the host's ``disk_sync_ms`` each (a slow disk
        slows a cached start)."""
        if self.rootfs_mib > 0:
            ev = self.host.disk_bw.request(self.rootfs_mib)
            if ev is not None:
                yield ev
        if self.rootfs_sync_s > 0:
            yield self.env.timeout(self.rootfs_sync_s)

    def observe(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """When the plane sees the instance running (the base: at once; the kubelet: its PLEG)."""
        return
        yield  # pragma: no cover - makes this a generator

    def host_creation(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """Host-wide serialized creation work (``host_serial_s``), one instance at a time."""
        if self.host_serial.serial_s > 0:
            yield from hold(self.host_lock, self.env.timeout, self.host_serial.serial_hold(inst.plan.phases_stream))

    def start(self, inst: Instance) -> Generator[simpy.Event, Any, str | None]:
        """Network setup (its serialized part under the network's lock), then the runtime's
        boot. Returns why the start failed, or None."""
        host, plan = self.host, inst.plan
        stream = plan.phases_stream
        if self.rootfs_mib > 0 or self.rootfs_sync_s > 0:
            yield from self.rootfs_work(inst)
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
        if self.spec.relist_period_s > 0:
            yield from self.observe(inst)
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
    default_restart = "always"      # a pod's restartPolicy default: Always
    health_kind = "liveness"    # a workload's ``health`` is a probe (simcontainer.model.health)

    @classmethod
    def restart_policy(cls, spec: str | None) -> RestartPolicy:
        """A pod's restartPolicy: Always (the default), OnFailure, Never; "unless-stopped" has
        no pod equivalent: Always (kubelet ``MaxContainerBackOff``, pod-lifecycle docs)."""
        mode = (spec or cls.default_restart).partition(":")[0]
        return CrashLoopBackOff("always" if mode == "unless-stopped" else mode)

    # it writes each container's oom_score_adj from the pod's QoS class, and evicts pods under
    # node memory pressure (simcontainer.model.qos)
    sets_oom_score_adj = True

    def __init__(self, env: simpy.Environment, host: HostNode, spec: ControlPlaneProfile) -> None:
        super().__init__(env, host, spec)
        self.pull_retry = ImagePullBackOff()      # 10 s doubling to 300 s, per pod and image
        # each node's relists tick at their own phase (nodes are not synchronized)
        self.relist_offset = (host.index * 0.6180339887) % 1.0 * spec.relist_period_s

    def relist_seen_at(self, t: float) -> float:
        """When the PLEG sees a container that started at ``t``: at the end of the first relist
        that begins after ``t``. Relists begin every ``relist_period_s`` (pkg/kubelet
        genericPlegRelistPeriod = 1 s) and take ``relist_base_s`` plus ``relist_per_instance_s``
        per instance running on the host (it lists every container and sandbox, and inspects
        the changed ones serially: kubernetes/kubernetes#95750)."""
        period = self.spec.relist_period_s
        off = self.relist_offset
        begin = off + math.ceil((t - off) / period) * period
        if begin < t:                      # float residue
            begin += period
        return begin + self.spec.relist_base_s + self.spec.relist_per_instance_s * self.host.running

    def observe(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """A pod is running once the PLEG's relist sees its container (the pod worker then
        updates its status): until then the kubelet does not know it started."""
        wait = self.relist_seen_at(self.env.now) - self.env.now
        if wait > 0:
            yield self.env.timeout(wait)


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

    def create(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """The host-side creation work that the kernel serializes (KVM_CREATE_VM, the tap device
        under RTNL, the jailer's cgroup and mount setup: :meth:`host_creation`), then the VMM's
        own API calls, which share nothing."""
        yield from self.host_creation(inst)
        yield from super().create(inst)


CONTROL_PLANES: dict[str, type[ControlPlane]] = {
    "dockerd": Dockerd, "kubelet": Kubelet, "libvirt": Libvirt, "firecracker": Firecracker,
    "direct": ControlPlane,
}


def make_plane(env: simpy.Environment, host: HostNode, spec: ControlPlaneProfile) -> ControlPlane:
    assert spec.kind is not None, spec.name
    return CONTROL_PLANES[spec.kind](env, host, spec)


__all__ = ["CONTROL_PLANES", "ControlPlane", "Dockerd", "Firecracker", "IDLE", "Kubelet", "Libvirt",
           "PhasePlan", "Steps", "make_plane", "run_phase", "steps"]
