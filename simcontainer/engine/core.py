"""Wire a scenario into a simpy environment, run it, and hand back a :class:`Result`."""

from __future__ import annotations

import gc
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import simpy
from simpy.core import StopSimulation
from simpy.events import URGENT

from simcontainer.engine.guard import check_size
from simcontainer.engine.loop import run_until
from simcontainer.engine.summary import Run as SummaryRun
from simcontainer.engine.summary import build
from simcontainer.model import faults
from simcontainer.model.arrivals import Arrivals
from simcontainer.model.controlplane import CONTROL_PLANES, PhasePlan, make_plane, steps
from simcontainer.model.daemon import Daemon, WorkloadPlan
from simcontainer.model.health import Book
from simcontainer.model.health import plan_for as health_plan
from simcontainer.model.host import MIB_PER_MB, HostNode, boot_read_mib, demand
from simcontainer.model.images import Image, resolve
from simcontainer.model.memory import Memory, active
from simcontainer.model.metrics import Recorder, events_frame, instances_frame, timeseries_frame
from simcontainer.model.parts import (
    COLD,
    KEEP_EXITED,
    REMOVE,
    GraceThenKill,
    HandBack,
    KeepAlive,
    Parts,
    PoolTake,
    SnapshotRestore,
)
from simcontainer.model.placement import Admission, Policy, Preemption
from simcontainer.model.registry import Distribution
from simcontainer.model.restart import no_restart
from simcontainer.model.warm import Warm, plan_for
from simcontainer.scenario.catalogue import ControlPlaneProfile
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.inputs import (
    check_run_args,
)
from simcontainer.scenario.profiles import Catalogue, default_catalogue, resolve_images
from simcontainer.scenario.schema import API_WORKERS_DEPRECATED, Scenario
from simcontainer.scenario.workload import LifetimeSampler, Stream, arrival_times, seed_sequence

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (the CLI starts faster without it)

Progress = Callable[[float], None]

# While a simulation runs, Python's cyclic garbage collector would keep re-scanning every live
# instance's process, generator and events (tens of thousands in a burst) although the engine
# makes almost no cyclic garbage: a full pass per few thousand allocations made a 10k-boot burst
# 40 % slower per instance than a 1k one. Runs therefore collect far less often; the thresholds
# come back afterwards (nesting- and thread-safe: the last run to finish restores them).
GC_THRESHOLDS = (100_000, 50, 100)
_gc_lock = threading.Lock()
_gc_runs = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    global _gc_runs, _gc_saved
    with _gc_lock:
        if _gc_runs == 0:
            _gc_saved = gc.get_threshold()
            if _gc_saved[0] > 0:       # threshold 0 = the user turned collection off: leave it
                gc.set_threshold(*(max(a, b) for a, b in zip(_gc_saved, GC_THRESHOLDS)))
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


@dataclass
class Result:
    """What a run produced. ``summary`` is the result JSON; the tables are built on first use."""

    scenario: Scenario
    seed: int
    summary: dict[str, Any]
    wall_s: float
    recorder: Recorder = field(repr=False)
    workload_names: list[str] = field(repr=False)

    @cached_property
    def events(self) -> pd.DataFrame:
        """Every lifecycle event: time_s, instance, workload, host, state."""
        return events_frame(self.recorder, self.workload_names)

    @cached_property
    def instances(self) -> pd.DataFrame:
        """One row per instance with its lifecycle timestamps, final state and pulled MiB."""
        return instances_frame(self.recorder, self.workload_names)

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """Cluster totals over time: RAM, disk, CPU busy/util, CPU demand, running, starting, waiting."""
        return timeseries_frame(self.recorder, self.scenario.duration_s, self.summary["host"]["cpu_cores"])

    @cached_property
    def host_timeseries(self) -> pd.DataFrame:
        return timeseries_frame(self.recorder, self.scenario.duration_s,
                                self.summary["host"]["cpu_cores"], by_host=True)

    @property
    def api_calls(self) -> pd.DataFrame:
        """One row per scripted API call (README, "Scripted actions and API calls"): time_s,
        instance (-1 - index when no such instance existed), op, ok, status (204/304/404/409), state."""
        import pandas as pd  # noqa: PLC0415 - heavy

        return pd.DataFrame(self.recorder.api_calls,
                            columns=["time_s", "instance", "op", "ok", "status", "state"])

    @property
    def failures(self) -> pd.DataFrame:
        """Failed starts with their reason (e.g. a full bridge): time_s, instance, workload, reason."""
        import pandas as pd  # noqa: PLC0415 - heavy

        df = pd.DataFrame(self.recorder.failures, columns=["time_s", "instance", "workload", "reason"])
        df["workload"] = [self.workload_names[w] for w in df["workload"]]
        return df

    @property
    def oom_kills(self) -> pd.DataFrame:
        """One row per OOM kill (simcontainer.model.memory): time_s, instance, workload, host, kind
        ("cgroup": over its mem_limit_mib; "host": the kernel's OOM killer), resident_mib, reason."""
        import pandas as pd  # noqa: PLC0415 - heavy

        df = pd.DataFrame(self.recorder.oom_kills,
                          columns=["time_s", "instance", "workload", "host", "kind", "resident_mib", "reason"])
        df["workload"] = [self.workload_names[w] for w in df["workload"]]
        return df


def image_table(scenario: Scenario, catalogue: Catalogue) -> dict[str, Image]:

    inline = resolve_images([i.model_dump() for i in scenario.images], known=catalogue.images,
                            source=f"{scenario.name}: images")
    return resolve({**catalogue.images, **inline})


def control_planes(scenario: Scenario, catalogue: Catalogue) -> list[ControlPlaneProfile]:
    """The control planes the workloads use, in first-use order (``WorkloadPlan.plane``)."""
    table = scenario.control_plane_table(catalogue)
    runtimes = scenario.runtime_table(catalogue)
    names: list[str] = []
    for w in scenario.workloads:
        name = w.control_plane or runtimes[w.runtime].control_plane or "direct"
        if name not in names:
            names.append(name)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ScenarioError([f"control plane {n!r} is not defined (allowed: {', '.join(sorted(table))})"
                             for n in unknown], source=scenario.name)
    specs = [table[n] for n in names]
    n = scenario.daemon.api_workers
    if n is not None:
        warnings.warn(API_WORKERS_DEPRECATED.format(n=n), FutureWarning, stacklevel=3)
        specs = [s.model_copy(update={"workers": n}) for s in specs]
    return specs


def _guest_boot(rt: Any, img: Image, images: dict[str, Image]) -> Any:
    """A VM's guest boot: its VM image's; a container image converted into a rootfs boots like
    the runtime's ``rootfs_guest`` image. None for containers (or a VM image that gives none)."""
    if rt.kind != "vm":
        return None
    if img.kind == "vm":
        return img.guest_boot
    guest = images.get(rt.rootfs_guest) if rt.rootfs_guest else None
    return guest.guest_boot if guest is not None else None


def _choose_parts(plan: WorkloadPlan, scenario: Scenario, plane: ControlPlaneProfile, seed: int) -> None:
    """The workload's lifecycle parts (simcontainer.model.parts): bring-up, stopper, restart policy,
    finish; and its crash and pull-error stream. ``docker run --rm`` with a clean stop is the
    default parts, ``plan.quick_stop`` the note that its stop and removal do nothing."""
    w = plan.workload
    kind = CONTROL_PLANES[plane.kind or "direct"]
    grace = w.stop_grace_s if w.stop_grace_s is not None else kind.grace_s
    policy = kind.restart_policy(w.restart)
    bring_up: Any = COLD
    stopper: GraceThenKill = GraceThenKill(grace, w.sigterm, w.shutdown_s)
    finish: Any = REMOVE if w.auto_remove else KEEP_EXITED
    if w.warm is not None:
        try:
            plan.warm = plan_for(plan)
        except ValueError as e:
            raise ScenarioError([str(e)]) from None
        bring_up = PoolTake(SnapshotRestore() if plan.warm.restore is not None else COLD)
        if plan.warm.keep_alive_s > 0:
            stopper, finish = HandBack(grace, w.sigterm, w.shutdown_s), KeepAlive()
    plan.parts = Parts(bring_up, stopper, None if policy is no_restart else policy, finish)
    if w.pull_error_rate > 0 or w.time_to_failure is not None:
        plan.fail_stream = Stream(seed_sequence(seed, w.name, "failures"))
        if w.time_to_failure is not None and w.time_to_failure.kind != "forever":
            plan.time_to_failure = LifetimeSampler(w.time_to_failure, plan.fail_stream)
    plan.boot_idle = bring_up is COLD and plan.steps.start_idle
    plan.has_ports = plan.steps.endpoint and plane.bridge_max_ports is not None
    plan.ready_s = w.ready_s
    plan.prepare = bring_up.prepare
    if w.health is not None:
        plan.health = health_plan(w.health, kind.health_kind)
    plan.quick_stop = (stopper.clean and plan.stop.idle and finish is REMOVE and plan.steps.remove_idle
                       and type(stopper) is GraceThenKill)
    plan.quick_create = plan.steps.create_idle and plan.vm_copy_mib <= 0
    plan.loads = plan.demand.cpu > 0 or plan.io_mib_s > 0
    plan.priority = w.priority


def plan_workloads(scenario: Scenario, seed: int, catalogue: Catalogue,
                   images: dict[str, Image] | None = None,
                   planes: list[ControlPlaneProfile] | None = None) -> list[WorkloadPlan]:
    runtimes = scenario.runtime_table(catalogue)
    images = images if images is not None else image_table(scenario, catalogue)
    planes = planes if planes is not None else control_planes(scenario, catalogue)
    index = {p.name: k for k, p in enumerate(planes)}
    speed = scenario.host.cpu_speed
    plans = []
    for i, w in enumerate(scenario.workloads):
        rt = runtimes[w.runtime]
        img = images[w.image]
        copy = img.disk_mib if rt.kind == "vm" and w.disk_mode(rt) == "copy" else 0.0
        k = index[w.control_plane or rt.control_plane or "direct"]
        share = planes[k].serial_cpu_share
        plan = WorkloadPlan(
            index=i, workload=w, runtime=rt, image=img, demand=replace(demand(w, rt, img, scenario.host), workload=i),
            api=PhasePlan.of(rt.api, speed, share), create=PhasePlan.of(rt.create, speed, share),
            boot=PhasePlan.of(rt.boot, speed, share), stop=PhasePlan.of(rt.stop, speed, share),
            vm_copy_mib=copy,
            lifetime=LifetimeSampler(w.lifetime, Stream(seed_sequence(seed, w.name, "lifetime"))),
            phases_stream=Stream(seed_sequence(seed, w.name, "phases")),
            arrival_stream=Stream(seed_sequence(seed, w.name, "arrival")),
            plane=k, network=w.network or ("tap" if rt.kind == "vm" else "bridge"), networks=w.networks,
        )
        guest = _guest_boot(rt, img, images)
        if guest is not None:
            plan.guest = PhasePlan.of(guest, speed, share)
        plan.boot_read_mib = boot_read_mib(rt, img)
        plan.steps = steps(planes[k], plan, plan.network)
        # what the runtime's IO path lets through (io_factor: its fio throughput vs native)
        plan.io_mib_s = w.io_mb_s * rt.io_factor * MIB_PER_MB
        _choose_parts(plan, scenario, planes[k], seed)
        plans.append(plan)
    return plans


class Engine:
    """One run of one scenario. Build, then :meth:`run`."""

    def __init__(self, scenario: Scenario, seed: int | None = None, *,
                 catalogue: Catalogue | None = None, policy: Policy | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.expected_events = 0.0        # from the size guard: scales progress in event-bound runs
        self.catalogue = catalogue or default_catalogue()
        self.env = simpy.Environment()
        self.recorder = Recorder(scenario.host.count)
        rec = self.recorder
        self.hosts = [HostNode(self.env, k, scenario.host, scenario.daemon, rec.series_hook)
                      for k in range(scenario.host.count)]
        self.registry = Distribution(self.env, scenario.registry, seed=self.seed)   # shared by every host
        for h in self.hosts:    # cores asked beyond the cores there are, beside the cores served
            h.cpu.on_excess = rec.series_hook(h.index, "cpu_excess")
            h.on_hold = rec.hold        # each workload's own reserved RAM
            h.store.registry = self.registry
            h.store.host_index = h.index
            h.store.on_pull = rec.pull_split
        images = image_table(scenario, self.catalogue)
        planes = control_planes(scenario, self.catalogue)
        for h in self.hosts:
            h.planes = [make_plane(self.env, h, spec) for spec in planes]
        self.plans = plan_workloads(scenario, self.seed, self.catalogue, images, planes)
        for name in scenario.daemon.prepull:
            for h in self.hosts:
                h.preload(images[name])
        self.admission = Admission(self.env, self.hosts, policy or scenario.daemon.placement,
                                   scenario.daemon.admission, scenario.daemon.retry)
        self.daemon = Daemon(self.env, self.hosts, self.admission, rec)
        if any(p.health is not None for p in self.plans):
            rec.health = Book({p.index: p.health for p in self.plans if p.health is not None})
        self.daemon.live_restore = scenario.daemon.live_restore
        if scenario.daemon.preemption:
            self._preemption()
        if active(scenario):
            self.daemon.memory = Memory(self.env, self.daemon, scenario, self.seed)
        if scenario.faults:
            self.daemon.faults = True
            faults.start(self.env, self.daemon, scenario, self.seed)
        self.arrivals = [Arrivals(self.env, self.daemon.run, plan,
                                  arrival_times(plan.workload, self.scenario, plan.arrival_stream))
                         for plan in self.plans]
        if any(p.warm is not None for p in self.plans):
            self.daemon.warm = Warm(self.daemon)
            for plan in self.plans:
                if plan.warm is not None:
                    self.daemon.warm.add(plan)
        if scenario.actions:
            self.env.process(self._actions())

    def _preemption(self) -> None:
        """Preemption (admission "backfill"): victims through the lifecycle's graceful stop, each
        recorded in ``Recorder.preemptions``."""
        sv = self.daemon
        rec, env = self.recorder, self.env

        def record(victim: Any, by: Any, host: Any) -> None:
            rec.preemptions.append({"time_s": env.now, "host": host.index, "victim": victim.id,
                                    "victim_workload": victim.plan.index, "victim_priority": victim.priority,
                                    "by": by.id, "by_workload": by.plan.index, "by_priority": by.priority})

        self.admission.preemption = Preemption(self.admission, sv.preemptible, sv.preempt, record)

    def _actions(self):
        env = self.env
        index = {w.name: i for i, w in enumerate(self.scenario.workloads)}
        for act in sorted(self.scenario.actions, key=lambda a: a.at_s):
            if act.at_s > env.now:
                yield env.timeout(act.at_s - env.now)
            w = index[act.workload]
            if act.op == "create":      # docker create: a new instance of the workload, not started
                self.daemon.create(self.plans[w])
                continue
            ids = self.recorder.instances_of(w)
            iid = int(ids[act.instance]) if act.instance < len(ids) else -1 - act.instance
            kw: dict[str, Any] = {}
            if act.op == "kill":
                kw["signal"] = act.signal
            elif act.op in ("stop", "restart"):
                kw["t"] = act.t
            elif act.op == "remove":
                kw["force"] = act.force
            self.daemon.api(act.op, iid, **kw)

    def _run_reporting(self, horizon: float, progress: Progress) -> None:
        """``env.run(until=horizon)`` in blocks of events, telling ``progress`` ~10 times a
        second how far it got: by simulated time, or by events done of those expected when a
        burst puts them all at one instant (the arrivals report too: ``model.arrivals``)."""
        env = self.env
        step, clock = env.step, time.perf_counter
        expected = max(1.0, self.expected_events)
        done, last = 0, clock()

        def tick(n: int = 0) -> None:
            nonlocal done, last
            done += n
            now = clock()
            if now - last >= 0.1:
                last = now
                progress(min(0.99, max(env.now / horizon, done / expected)))

        # What env.run(until=horizon) does -- an urgent event at the horizon that stops the
        # loop -- with a look at the clock every 8 events: an event may take long (placement
        # scanning thousands of hosts), and progress should still move ~10 times a second.
        stop = simpy.Event(env)
        stop._ok, stop._value = True, None
        env.schedule(stop, URGENT, horizon - env.now)
        stop.callbacks.append(StopSimulation.callback)
        for a in self.arrivals:      # a burst is one step: its requests report from inside
            a.tick = tick
        try:
            while True:
                step(); step(); step(); step(); step(); step(); step(); step()  # noqa: E702
                tick(8)
        except StopSimulation:
            pass
        finally:
            for a in self.arrivals:
                a.tick = None
        progress(1.0)

    def run(self, progress: Progress | None = None) -> Result:
        start = time.perf_counter()
        horizon = self.scenario.duration_s
        with fewer_gc_passes():
            if progress is None:
                run_until(self.env, horizon)
            else:
                self._run_reporting(horizon, progress)
        wall = time.perf_counter() - start
        self.daemon.close_spans()
        self.recorder.trim()
        sc, names = self.scenario, [w.name for w in self.scenario.workloads]
        notices = ([API_WORKERS_DEPRECATED.format(n=sc.daemon.api_workers)]
                   if sc.daemon.api_workers is not None else [])
        summary = build(SummaryRun(
            self.recorder, self.hosts, horizon, sc.name, self.seed, names, [w.runtime for w in sc.workloads],
            demands=[p.demand for p in self.plans], priorities=[w.priority for w in sc.workloads],
            request_rates=[w.requests_per_s for w in sc.workloads], daemon=sc.daemon, notices=notices,
            scenario=sc, catalogue=self.catalogue))
        return Result(self.scenario, self.seed, summary, wall, self.recorder,
                      [w.name for w in self.scenario.workloads])


def simulate(scenario: Scenario, seed: int | None = None, *, catalogue: Catalogue | None = None,
             progress: Progress | None = None, policy: Policy | None = None,
             force: bool = False) -> Result:
    """Run ``scenario`` (with its own seed unless ``seed`` is given) and return the result.

    A run the size guard expects not to fit in memory is refused (:mod:`simcontainer.engine.guard`);
    ``force=True`` runs it anyway.
    """

    check_run_args(scenario, seed, policy=policy, progress=progress)
    est = check_size(scenario, force=force)
    seed = None if seed is None else int(seed)     # a numpy integer becomes a plain one (JSON)
    engine = Engine(scenario, seed, catalogue=catalogue, policy=policy)
    engine.expected_events = est.events
    return engine.run(progress)










__all__ = ["Engine", "Result", "math", "simulate"]
