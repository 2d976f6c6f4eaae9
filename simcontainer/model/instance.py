"""What the daemon runs: a workload's plan (everything resolved when the workload is planned,
its lifecycle parts included) and a live instance (its own admission ticket)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import simpy

from simcontainer.model.controlplane import IDLE, PhasePlan, Steps
from simcontainer.model.host import Demand
from simcontainer.model.images import Image
from simcontainer.model.parts import COLD, KEEP_EXITED, Parts
from simcontainer.model.placement import Ticket
from simcontainer.model.restart import EXIT_SIGKILL
from simcontainer.model.states import State
from simcontainer.scenario.schema import RuntimeProfile, Workload
from simcontainer.scenario.workload import LifetimeSampler, Stream

NAN = math.nan
_REQUESTED = State.REQUESTED


@dataclass
class WorkloadPlan:
    """A workload with everything resolved: its runtime, image, demand, random streams and the
    lifecycle parts its instances are made of."""

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
    # its lifecycle parts (simcontainer.model.parts), chosen by engine.plan_workloads
    parts: Parts = field(default_factory=lambda: Parts(COLD, finish=KEEP_EXITED))
    fail_stream: Stream | None = field(default=None, repr=False)    # crashes, pull errors
    time_to_failure: LifetimeSampler | None = None                  # None: it never crashes
    # the running app's disk load, MiB/s: io_mb_s x the runtime's io_factor (simcontainer.model.memory)
    io_mib_s: float = 0.0
    # MiB a VM's guest boot reads from its disk on the host's disk bandwidth (host.boot_read_mib)
    boot_read_mib: float = 0.0
    warm: Any = None                # warm.WarmPlan: snapshot restore, pool, keep-alive (None: none)
    # a clean stop with nothing to wait for and a teardown that does nothing: both done in place
    quick_stop: bool = False
    boot_idle: bool = False         # a cold start whose plane start and boot do nothing
    has_ports: bool = False         # its instances take a port on a bridge with a port limit
    ready_s: float = 0.0            # the workload's ``ready_s``
    prepare: Any = None             # its bring-up's ``prepare`` (bound once)
    # per-plan constants of the hot path, set by engine.plan_workloads (``_choose_parts``):
    # created at once when placed now with the image cached (nothing to create, no VM disk copy)
    quick_create: bool = False
    loads: bool = False             # while running it puts load on the host (cores or disk IO)
    priority: int = 0               # the workload's ``priority``
    health: Any = None              # health.HealthPlan: its health check (None: none)

    @property
    def name(self) -> str:
        return self.workload.name


class Instance(Ticket):
    """A live instance, kept while it exists so that API requests can find it.

    It is its own admission ticket (demand, image, host, layers to fetch, queue event): one
    object per instance instead of two. What only some instances need lives in class defaults
    until set (an API request's arguments, a warm instance's holder, a parked wait).
    """

    __slots__ = ("id", "plan", "state", "process", "cpu_load", "span", "span_ready", "gone_at", "__dict__")

    wake: simpy.Event | None = None     # parked (created or exited): an API start/restart/remove
    pending = False                     # interrupted, not yet met (a second interrupt waits)
    restarting = False                  # in a restart's back-off
    epoch = 0                           # its host's crash count when it was placed / restarted
    stop_t: float | None = None         # ``docker stop -t``: this stop's grace (None: the plane's)
    kill_code = EXIT_SIGKILL            # ``docker kill --signal``: the exit code it causes
    force_remove = False                # ``docker rm -f``: removed after the kill
    holder: Any = None                  # a warm instance it took: that one holds the reservation
    warm_ready = False                  # taken warm: its app is ready already
    fault_cpu_s = 0.0                   # a restored microVM's page faults, done after ready

    def __init__(self, iid: int, plan: WorkloadPlan) -> None:
        # the Ticket's fields, set here (no second __init__ call on the hot path)
        self.demand = plan.demand
        self.image = plan.image
        self.host = None
        self.owned = ()
        self.event = None
        self.priority = plan.priority
        self.id = iid
        self.plan = plan
        self.state = _REQUESTED
        self.process: simpy.Process | None = None
        self.cpu_load = False
        self.span = NAN                 # its open running span's start (NaN: not running)
        self.span_ready = NAN           # ... and when its app became ready in it
        self.gone_at = math.inf         # ``docker run --rm`` ended by its client: removed then

    @property
    def ticket(self) -> Ticket:
        return self


__all__ = ["Instance", "WorkloadPlan"]
