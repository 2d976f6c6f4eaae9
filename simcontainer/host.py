"""A host: its resources, its daemon's slots and its image store.

It answers one question for admission — does this instance fit here now? — and keeps its
reservations: RAM (app working set + runtime overhead, or guest RAM + VMM overhead), disk (missing
image layers + the instance's own disk) and, when the scenario sets a CPU overcommit ratio, CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import simpy

from simcontainer.images import Image, ImageStore
from simcontainer.resources import FairShare, Pool, Slots
from simcontainer.scenario import Daemon, Host, RuntimeProfile, Workload

MIB_PER_MB = 1e6 / 2**20  # rates in the scenario are MB/s; sizes are MiB


@dataclass(frozen=True)
class Demand:
    """What one instance of a workload reserves on a host (apart from its image's layers)."""

    ram_mib: float
    disk_mib: float       # writable layer / VM disk copy or overlay, plus runtime overhead
    cpu: float            # cores it uses while running: cpu / cpu_factor


def demand(workload: Workload, runtime: RuntimeProfile, image: Image) -> Demand:
    """The per-instance reservation — the density story in three lines (see DESIGN.md)."""
    if runtime.kind == "vm":
        ram = guest_mem_mib(workload, runtime) + runtime.mem_overhead_mib
        own_disk = image.disk_mib if workload.vm_disk == "copy" else workload.writable_mib
    else:
        ram = workload.mem_mib + runtime.mem_overhead_mib
        own_disk = workload.writable_mib
    return Demand(ram, own_disk + runtime.disk_overhead_mib, workload.cpu / runtime.cpu_factor)


def guest_mem_mib(workload: Workload, runtime: RuntimeProfile) -> float:
    """Guest RAM of a VM: as given, else the runtime's default, grown to hold app + guest OS."""
    if workload.guest_mem_mib is not None:
        return workload.guest_mem_mib
    needed = workload.mem_mib + runtime.guest_os_mib
    step = 128.0
    rounded = -(-needed // step) * step
    return max(runtime.default_guest_mem_mib, rounded)


class HostNode:
    def __init__(self, env: simpy.Environment, index: int, spec: Host, daemon: Daemon,
                 on_change: Callable[[int, str, float, float], None] | None = None) -> None:
        self.env = env
        self.index = index
        self.spec = spec

        def hook(metric: str) -> Callable[[float, float], None] | None:
            if on_change is None:
                return None
            return lambda now, delta: on_change(index, metric, now, delta)

        self.cpu = FairShare(env, spec.cpu_cores, f"host{index}.cpu", hook("cpu"))
        self.disk_bw = FairShare(env, spec.disk_mb_s * MIB_PER_MB, f"host{index}.disk_bw")
        self.net = FairShare(env, spec.net_mb_s * MIB_PER_MB, f"host{index}.net")
        self.ram = Pool(spec.ram_mib, f"host{index}.ram", hook("ram"))
        self.disk = Pool(spec.disk_gib * 1024.0, f"host{index}.disk", hook("disk"))
        self.cpu_pool = (Pool(spec.cpu_cores * spec.cpu_overcommit, f"host{index}.cpu_reserved")
                         if spec.cpu_overcommit is not None else None)
        self.api_workers = Slots(env, daemon.api_workers)
        self.lock = Slots(env, 1)            # the daemon's serialized section
        self.download_slots = Slots(env, daemon.max_concurrent_downloads)
        self.store = ImageStore(self)
        self.running = 0
        self.peak_running = 0

    # ---- admission ------------------------------------------------------------------------

    def disk_needed(self, d: Demand, image: Image) -> float:
        return d.disk_mib + self.store.missing_disk_mib(image)

    def fits(self, d: Demand, image: Image) -> bool:
        if not self.ram.fits(d.ram_mib):
            return False
        if self.cpu_pool is not None and not self.cpu_pool.fits(d.cpu):
            return False
        return self.disk.fits(self.disk_needed(d, image))

    def could_ever_fit(self, d: Demand, image: Image) -> bool:
        """Whether an empty host of this shape could take the instance at all."""
        if d.ram_mib > self.ram.capacity:
            return False
        if self.cpu_pool is not None and d.cpu > self.cpu_pool.capacity:
            return False
        return d.disk_mib + image.disk_mib <= self.disk.capacity

    def reserve(self, d: Demand, image: Image) -> list:
        """Reserve RAM, disk and CPU; claim the image's layers. Returns the layers to fetch."""
        now = self.env.now
        self.ram.reserve(d.ram_mib, now)
        if self.cpu_pool is not None:
            self.cpu_pool.reserve(d.cpu, now)
        self.disk.reserve(self.disk_needed(d, image), now)
        return self.store.claim(image)

    def release(self, d: Demand, image: Image) -> None:
        """Give back an instance's own reservation; its image's layers stay cached."""
        now = self.env.now
        self.ram.release(d.ram_mib, now)
        if self.cpu_pool is not None:
            self.cpu_pool.release(d.cpu, now)
        self.disk.release(d.disk_mib, now)
        self.store.release(image)

    def preload(self, image: Image) -> None:
        added = self.store.preload(image)
        if added > self.disk.free:
            raise ValueError(f"prepull of {image.name!r} needs {added:.0f} MiB; host disk has {self.disk.free:.0f} MiB")
        self.disk.reserve(added, self.env.now)

    # ---- bookkeeping ----------------------------------------------------------------------

    def started(self) -> None:
        self.running += 1
        if self.running > self.peak_running:
            self.peak_running = self.running

    def stopped(self) -> None:
        self.running -= 1
