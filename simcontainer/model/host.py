"""A host: its resources, its daemon's slots and its image store.

It answers one question for admission — does this instance fit here now? — and keeps its
reservations: RAM (app working set + runtime overhead, or guest RAM + VMM overhead), disk (missing
image layers + the instance's own disk) and, when the scenario sets a CPU overcommit ratio, CPU.
Disk held by unused cached images counts as free for admission: the image store's collector
removes them when the instance is placed (see :mod:`simcontainer.model.images`).

Disk use on a host is therefore always: every stored layer once (``store.stored_mib``) plus, per
instance placed, its own disk (``Demand.disk_mib``: writable layer or VM disk, plus the runtime's
per-instance files).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from simcontainer.model.images import Image, ImageStore, Layer
from simcontainer.model.resources import FairShare, Pool, Slots
from simcontainer.scenario.catalogue import RuntimeProfile
from simcontainer.scenario.profiles import Restore
from simcontainer.scenario.schema import Daemon, Host, Workload

if TYPE_CHECKING:
    from simcontainer.model.controlplane import ControlPlane
    from simcontainer.model.daemon import WorkloadPlan

MIB_PER_MB = 1e6 / 2**20  # rates in the scenario are MB/s; sizes are MiB

# What a VM's guest boot reads from its disk when its image does not say (``boot_read_mib``): an
# estimate, 4 % of the disk image (Ubuntu cloud 3.5 GiB -> ~143 MiB: kernel, initramfs, systemd,
# cloud-init's Python; a 256 MiB Firecracker rootfs -> ~10 MiB). See models/memory.md.
BOOT_READ_FRACTION = 0.04

# The kubelet's CPU conversions (kubernetes pkg/kubelet/cm/helpers_linux.go, with the kernel's
# bounds it cites: kernel/sched/sched.h MIN_SHARES / MAX_SHARES, and the 1 ms minimum CFS quota
# of kernel/sched/core.c): cpu.shares = milliCPU x 1024 / 1000 within [2, 262144]; the CFS quota
# = milliCPU x period / 1000 us, at least 1,000 us. Docker's --cpu-shares is written as given
# (weights relative to 1024); --cpus is a quota over a 100 ms period like the kubelet's.
MIN_SHARES = 2
MAX_SHARES = 262144
SHARES_PER_CPU = 1024
MIN_QUOTA_US = 1000
QUOTA_PERIOD_US = 100000


def milli_cpu_to_shares(milli_cpu: int) -> int:
    """``MilliCPUToShares``: a CPU request in milliCPU as cgroup cpu.shares."""
    if milli_cpu <= 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli_cpu * SHARES_PER_CPU // 1000))


def shares_to_milli_cpu(shares: int) -> int:
    """``SharesToMilliCPU``: the inverse, rounded up; 0 below the minimum (no request)."""
    if shares < MIN_SHARES:
        return 0
    return -(-shares * 1000 // SHARES_PER_CPU)


def milli_cpu_to_quota(milli_cpu: int, period_us: int = QUOTA_PERIOD_US) -> int:
    """``MilliCPUToQuota``: a CPU limit in milliCPU as the CFS quota in microseconds per
    ``period_us``; 0 (no limit) for 0; never below 1 ms."""
    if milli_cpu == 0:
        return 0
    return max(milli_cpu * period_us // 1000, MIN_QUOTA_US)


def quota_to_milli_cpu(quota_us: int, period_us: int) -> int:
    """``QuotaToMilliCPU``: a CFS quota back in milliCPU (-1 or 0: no limit, 0)."""
    if quota_us <= 0 or period_us <= 0:
        return 0
    return quota_us * 1000 // period_us


def milli(cores: float) -> int:
    """Cores as whole milliCPU, rounded up (a Kubernetes quantity's ``MilliValue``)."""
    return math.ceil(cores * 1000.0 - 1e-9)


def cfs_limit_cores(limit_cores: float) -> float:
    """The cores a CPU limit really allows: its quota over the default 100 ms period."""
    return milli_cpu_to_quota(milli(limit_cores)) / QUOTA_PERIOD_US


def share_cores(request_cores: float) -> float:
    """The weight a CPU request gives on a host with ``cpu_shares``, in cores (shares / 1024)."""
    return milli_cpu_to_shares(milli(request_cores)) / SHARES_PER_CPU


def cpu_request(workload: Workload, runtime: RuntimeProfile) -> float:
    """The cores a workload requests: its ``cpu_request`` when it has one (a Burstable pod
    that asks for less than it uses), else what it uses, ``cpu / cpu_factor``."""
    req = getattr(workload, "cpu_request", None)
    return float(req) if req is not None else workload.cpu / runtime.cpu_factor


# ``on_change(host index, series)`` -> the callback told ``(now, delta)`` of every change of that
# series on that host (``Recorder.series_hook``): one call per change, no dispatch on the name.
SeriesHook = Callable[[int, str], Callable[[float, float], None]]


@dataclass(frozen=True)
class Demand:
    """What one instance of a workload reserves on a host (apart from its image's layers)."""

    ram_mib: float
    disk_mib: float       # writable layer / VM disk copy or overlay, plus runtime overhead
    cpu: float            # cores it uses while running: cpu / cpu_factor
    copy_mib: float = 0.0  # the part of disk_mib that is a private full copy of a VM disk image
    throttled: float = 0.0  # cores the app wants beyond its CFS quota / vCPUs (see cores_used)
    # cores CPU-overcommit admission counts (``host.cpu_overcommit``): a VM its vCPUs, a container
    # its request ``cpu / cpu_factor``; None: ``cpu`` (see admit_cpu)
    admit_cpu_cores: float | None = None
    # the running app's weight on the host's CPU (host.cpu_shares: its cpu request; else 1)
    cpu_share: float = 1.0
    # the workload's index in its scenario (set by the engine's plan; -1: none), so that what a
    # workload holds is counted as its own (``HostNode.on_hold``)
    workload: int = field(default=-1, compare=False)

    @property
    def admit_cpu(self) -> float:
        """The cores this instance counts against ``cpu_cores x cpu_overcommit`` at admission."""
        return self.cpu if self.admit_cpu_cores is None else self.admit_cpu_cores


def demand(workload: Workload, runtime: RuntimeProfile, image: Image, host: Host | None = None) -> Demand:
    """The per-instance reservation — the density story in three lines (see DESIGN.md).

    With ``host.memory_admission = "request"`` a container reserves its ``mem_request_mib`` (when
    set) instead of ``mem_mib``. The cores it uses are capped by its CFS quota (``cpu_limit``)
    and a VM's by its vCPUs."""
    copy = 0.0
    if runtime.kind == "vm":
        ram = guest_mem_mib(workload, runtime, image) + runtime.mem_overhead_mib
        # copy: the VM writes to its own full copy of the disk image (the cached image is only the
        # template); overlay: a copy-on-write file over the shared cached image, sized like a
        # container's writable layer.
        if workload.disk_mode(runtime) == "copy":
            own_disk = copy = image.disk_mib
        else:
            own_disk = workload.writable_mib
    else:
        mem = workload.mem_mib
        if host is not None and host.memory_admission == "request" and workload.mem_request_mib is not None:
            mem = workload.mem_request_mib
        ram = mem + runtime.mem_overhead_mib
        own_disk = workload.writable_mib
    share = 1.0
    if host is not None and host.cpu_shares and workload.cpu > 0:
        # cpu.shares from the request as the kubelet writes it (milli_cpu_to_shares)
        req = getattr(workload, "cpu_request", None)
        share = share_cores(workload.cpu if req is None else float(req))
    return Demand(ram, own_disk + runtime.disk_overhead_mib, cores_used(workload, runtime), copy,
                  throttled_cores(workload, runtime), admitted_cores(workload, runtime), share)


def admitted_cores(workload: Workload, runtime: RuntimeProfile) -> float:
    """Cores an instance counts against CPU-overcommit admission: a VM with ``vcpus`` its vCPUs
    (what the hypervisor promises it, as OpenStack's ``cpu_allocation_ratio`` counts vCPUs), else
    its request ``cpu / cpu_factor`` -- not capped by ``cpu_limit`` (Kubernetes schedules by
    request)."""
    if runtime.kind == "vm" and workload.vcpus is not None:
        return float(workload.vcpus)
    return cpu_request(workload, runtime)


def cores_used(workload: Workload, runtime: RuntimeProfile) -> float:
    """Cores a running instance takes at most: ``cpu / cpu_factor``, capped by its CFS quota
    (``cpu_limit`` as the quota it becomes: :func:`cfs_limit_cores`) and, for a VM, its vCPUs."""
    cpu = workload.cpu / runtime.cpu_factor
    if workload.cpu_limit is not None:
        cpu = min(cpu, cfs_limit_cores(workload.cpu_limit))
    if runtime.kind == "vm" and workload.vcpus is not None:
        cpu = min(cpu, float(workload.vcpus))
    return cpu


def throttled_cores(workload: Workload, runtime: RuntimeProfile) -> float:
    """Cores the app wants beyond its CFS quota / vCPUs (0 when not capped): CFS throttles it
    in every period it asks for them (``nr_throttled`` = ``nr_periods``)."""
    return workload.cpu / runtime.cpu_factor - cores_used(workload, runtime)


def boot_read_mib(runtime: RuntimeProfile, image: Image) -> float:
    """MiB a VM's boot reads from its disk image: the image's ``boot_read_mib``, else the
    estimate ``BOOT_READ_FRACTION`` of its disk. 0 for containers and for container images a VM
    runtime boots as a rootfs (shared from the host's page cache like a container's)."""
    if runtime.kind != "vm" or image.kind != "vm":
        return 0.0
    if image.boot_read_mib is not None:
        return image.boot_read_mib
    return BOOT_READ_FRACTION * image.disk_mib


def _between(points: list[tuple[float, float]], x: float) -> float:
    """Linear between the measured points (sorted by x), flat beyond the first and the last."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def snapshot_load_s(ci_load_ms: Sequence[Sequence[float]], vcpus: float, mem_mib: float) -> float:
    """A microVM's snapshot load time at the level of per-configuration measurements
    (``ci_load_ms``: rows of vCPUs, guest MiB, ms, one factor varied at a time from a base row
    of 1 vCPU at the smallest guest memory; models/warm.toml ``restore.firecracker.ci_load_ms``).
    The two effects add: the memory rows' time at ``mem_mib`` plus what the vCPU rows add at
    ``vcpus`` over one vCPU -- each linear between measured rows, flat beyond the table. More
    vCPUs and memory take longer: each vCPU's state is restored and each region of guest memory
    is mapped and registered with KVM again (the memory itself is not read)."""
    one = sorted((float(r[1]), float(r[2])) for r in ci_load_ms if int(r[0]) == 1)
    base_mib, base_ms = one[0]
    by_vcpus = sorted((float(r[0]), float(r[2])) for r in ci_load_ms if float(r[1]) == base_mib)
    return (_between(one, mem_mib) + _between(by_vcpus, vcpus) - base_ms) / 1000.0


def restore_s(rs: Restore, vcpus: float, guest_mib: float, dump_mib: float) -> float:
    """One restore of ``rs``'s runtime: a microVM's snapshot load -- ``load_s`` at the
    configuration it was measured at, times the growth the ``ci_load_ms`` table shows from there
    to ``vcpus`` / ``guest_mib`` (the table sets the shape, ``load_s`` the level) -- or a CRIU
    restore's ``load_s`` plus the dump (``dump_mib``) read back at ``mem_rate_mib_s``."""
    load = rs.load_s
    if rs.ci_load_ms:
        load *= (snapshot_load_s(rs.ci_load_ms, vcpus, guest_mib)
                 / snapshot_load_s(rs.ci_load_ms, rs.load_vcpus, rs.load_mem_mib))
    return load + (dump_mib / rs.mem_rate_mib_s if rs.mem_rate_mib_s > 0 else 0.0)


def restore_fault_cpu_s(working_set_mib: float, fault_us: float, touch_fraction: float = 1.0) -> float:
    """CPU-seconds of first-touch page faults after a lazy snapshot restore: the app's working
    set (not the guest's configured RAM) times the share it touches, 256 pages of 4 KiB per MiB,
    ``fault_us`` each."""
    return working_set_mib * touch_fraction * 256 * fault_us * 1e-6


def guest_mem_mib(workload: Workload, runtime: RuntimeProfile, image: Image | None = None) -> float:
    """Guest RAM of a VM: as given, else the runtime's default, grown to hold app + guest OS
    (the VM image's guest OS when it says, else the runtime's figure)."""
    if workload.guest_mem_mib is not None:
        return workload.guest_mem_mib
    guest_os = image.guest_os_mib if image is not None and image.guest_os_mib is not None else runtime.guest_os_mib
    needed = workload.mem_mib + guest_os
    step = 128.0
    rounded = -(-needed // step) * step
    return max(runtime.default_guest_mem_mib, rounded)


class HostNode:
    def __init__(self, env: simpy.Environment, index: int, spec: Host, daemon: Daemon,
                 on_change: SeriesHook | None = None) -> None:
        self.env = env
        self.index = index
        self.spec = spec

        def hook(metric: str) -> Callable[[float, float], None] | None:
            return None if on_change is None else on_change(index, metric)

        self.cpu = FairShare(env, spec.cpu_cores, f"host{index}.cpu", hook("cpu"))
        self.disk_bw = FairShare(env, spec.disk_mb_s * MIB_PER_MB, f"host{index}.disk_bw")
        self.net = FairShare(env, spec.net_mb_s * MIB_PER_MB, f"host{index}.net")
        # admission's RAM: the host's less what the OS and daemons keep, times the overcommit ratio
        self.ram = Pool((spec.ram_mib - spec.reserve_mib) * (spec.memory_overcommit or 1.0),
                        f"host{index}.ram", hook("ram"))
        self.disk = Pool(spec.disk_gib * 1024.0, f"host{index}.disk", hook("disk"))
        self.cpu_pool = (Pool(spec.cpu_cores * spec.cpu_overcommit, f"host{index}.cpu_reserved")
                         if spec.cpu_overcommit is not None else None)
        # One control plane per profile the workloads use (controlplane.make_plane; the engine
        # fills it in): their pools, locks and network ports live there, not on the host.
        self.planes: list[ControlPlane] = []
        self.download_slots = Slots(env, daemon.max_concurrent_downloads)
        self.store = ImageStore(env, disk=self.disk, net=self.net, disk_bw=self.disk_bw, cpu=self.cpu,
                                download_slots=self.download_slots, cpu_speed=spec.cpu_speed,
                                gc_high=daemon.gc_high, gc_low=daemon.gc_low)
        self.running = 0
        self.peak_running = 0
        # told ``(workload, delta MiB)`` of every change of the RAM a workload's instances reserve
        # (``Recorder.hold``); None: nobody counts
        self.on_hold: Callable[[int, float], None] | None = None
        # overlay VMs' boot reads of a base image: in the host's page cache once read (True), or
        # being read (the event the read fires); see boot_read
        self.boot_cache: dict[str, Any] = {}
        # Sharing accounting (see saved_by_sharing_mib): image bytes the placed instances would
        # hold with a private copy each, and the private VM disk copies they do hold.
        self.image_mib_placed = 0.0
        self.copy_mib_placed = 0.0
        self.peak_saved_mib = 0.0

    # ---- admission ------------------------------------------------------------------------

    def disk_needed(self, d: Demand, image: Image) -> float:
        return d.disk_mib + self.store.missing_disk_mib(image)

    def fits(self, d: Demand, image: Image) -> bool:
        """Whether the instance fits now, counting unused cached layers (other than its own
        image's) as free: placing it would garbage-collect them."""
        return self._fits(d, image, self.disk_needed(d, image))

    def _fits(self, d: Demand, image: Image, need: float) -> bool:
        """``fits`` with the disk the instance needs here (``disk_needed``) already known."""
        if not self.ram.fits(d.ram_mib):
            return False
        if self.cpu_pool is not None and not self.cpu_pool.fits(d.admit_cpu):
            return False
        if self.disk.fits(need):
            return True
        return self.disk.fits(need - self.store.reclaimable_mib(image))

    def could_ever_fit(self, d: Demand, image: Image) -> bool:
        """Whether an empty host of this shape could take the instance at all."""
        if d.ram_mib > self.ram.capacity:
            return False
        if self.cpu_pool is not None and d.admit_cpu > self.cpu_pool.capacity:
            return False
        return d.disk_mib + image.disk_mib <= self.disk.capacity

    def take(self, d: Demand, image: Image) -> list[Layer] | None:
        """``fits`` then ``reserve`` in one step (the single-host admission path): the image's
        missing disk is computed once. None if the instance does not fit; else what ``reserve``
        returns.

        NOTE: ``disk_needed``, ``_fits``, ``reserve`` and ``make_room``'s test inlined, in their
        order (the hot path: one call per admission on one host)."""
        store = self.store
        need = d.disk_mib + store.missing_disk_mib(image)
        ram, pool, disk = self.ram, self.cpu_pool, self.disk
        if not ram.fits(d.ram_mib):
            return None
        if pool is not None and not pool.fits(d.admit_cpu):
            return None
        if not disk.fits(need) and not disk.fits(need - store.reclaimable_mib(image)):
            return None
        now = self.env._now
        ram.reserve(d.ram_mib, now)
        if self.on_hold is not None:
            self.on_hold(d.workload, d.ram_mib)
        if pool is not None:
            pool.reserve(d.admit_cpu, now)
        if not disk.used + need <= store.gc_high * disk.capacity:    # ``store.make_room``'s test
            store.make_room(need, image)
        if need:
            disk.reserve(need, now)
        owned = store.claim(image)
        placed = self.image_mib_placed = self.image_mib_placed + image.disk_mib
        copies = self.copy_mib_placed = self.copy_mib_placed + d.copy_mib
        saved = placed - store.in_use_mib - copies      # ``saved_by_sharing_mib`` (a peak >= 0)
        if saved > self.peak_saved_mib:
            self.peak_saved_mib = saved
        return owned

    def reserve(self, d: Demand, image: Image, need: float | None = None) -> list[Layer]:
        """Reserve RAM, disk and CPU; claim the image's layers. Returns the layers to fetch.

        ``need`` is ``disk_needed(d, image)`` if the caller has it already. If the new disk use
        would pass the high watermark, unused images are collected first.
        """
        now = self.env.now
        self.ram.reserve(d.ram_mib, now)
        if self.on_hold is not None:
            self.on_hold(d.workload, d.ram_mib)
        if self.cpu_pool is not None:
            self.cpu_pool.reserve(d.admit_cpu, now)
        if need is None:
            need = self.disk_needed(d, image)
        store = self.store
        store.make_room(need, image)
        if need:    # nothing to reserve (a cached image, no own disk): the disk pool is untouched
            self.disk.reserve(need, now)
        owned = store.claim(image)
        self.image_mib_placed += image.disk_mib
        self.copy_mib_placed += d.copy_mib
        saved = self.saved_by_sharing_mib()
        if saved > self.peak_saved_mib:
            self.peak_saved_mib = saved
        return owned

    def release(self, d: Demand, image: Image) -> None:
        """Give back an instance's own reservation; its image's layers stay cached."""
        now = self.env.now
        self.ram.release(d.ram_mib, now)
        if self.on_hold is not None:
            self.on_hold(d.workload, -d.ram_mib)
        if self.cpu_pool is not None:
            self.cpu_pool.release(d.admit_cpu, now)
        if d.disk_mib:
            self.disk.release(d.disk_mib, now)
        self.store.release(image)
        self.image_mib_placed -= image.disk_mib
        self.copy_mib_placed -= d.copy_mib

    def preload(self, image: Image) -> None:
        added = self.store.preload(image)
        if added > self.disk.free:
            raise ValueError(f"prepull of {image.name!r} needs {added:.0f} MiB; host disk has {self.disk.free:.0f} MiB")
        self.disk.reserve(added, self.env.now)

    # ---- boots ----------------------------------------------------------------------------

    def boot_read(self, plan: WorkloadPlan) -> Generator[simpy.Event, Any, None]:
        """A VM's guest boot reads ``plan.boot_read_mib`` from its disk on the host's fair-shared
        disk bandwidth (beside pulls, extraction, VM disk copies and running apps' IO). An overlay
        VM reads through its shared base image, which the host's page cache keeps (QEMU's and
        Firecracker's default buffered IO): the first boot of an image on a host reads it, later
        ones find it cached, concurrent ones wait for that read. A ``vm_disk = "copy"`` VM reads
        its own private copy: every boot reads. Cache eviction is not modelled."""
        mib = plan.boot_read_mib
        if plan.workload.disk_mode(plan.runtime) == "copy":
            ev = self.disk_bw.request(mib)
            if ev is not None:
                yield ev
            return
        key = plan.image.name
        got = self.boot_cache.get(key)
        if got is True:
            return
        if got is not None:
            yield got
            return
        done = self.env.event()
        self.boot_cache[key] = done
        ok = False
        try:
            ev = self.disk_bw.request(mib)
            if ev is not None:
                yield ev
            ok = True
        finally:
            # an aborted read caches nothing; whoever waited on it goes on (a rare approximation)
            if ok:
                self.boot_cache[key] = True
            else:
                self.boot_cache.pop(key, None)
            done.succeed()

    # ---- bookkeeping ----------------------------------------------------------------------

    def saved_by_sharing_mib(self) -> float:
        """Disk that sharing image layers saves on this host now.

        ``unshared`` = Σ over instances placed here (admitted, not yet removed) of their image's
        full ``disk_mib`` — what they would hold if each kept a private copy of its image (a
        container its whole layer chain, a VM its whole disk image, copy or overlay).
        ``held`` = the unique layers those instances reference (``store.in_use_mib``; in flight
        included) + the private disk copies of ``vm_disk = "copy"`` VMs.
        Saved = ``unshared - held``. Writable layers, overlays and runtime files are left out of
        both sides (each instance has its own either way), and so are cached layers no instance
        uses (``store.idle_mib``: a cache, not sharing). Copy VMs share nothing, so each image
        they use keeps its template besides their copies: that template is the image cache, not
        sharing lost, so the figure is never below 0 (one QEMU VM with a disk copy saves 0 MiB).
        """
        return max(0.0, self.image_mib_placed - self.store.in_use_mib - self.copy_mib_placed)

    def started(self) -> None:
        self.running += 1
        if self.running > self.peak_running:
            self.peak_running = self.running

    def stopped(self) -> None:
        self.running -= 1
