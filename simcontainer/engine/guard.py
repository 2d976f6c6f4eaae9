"""Size guards: how big a run (or a sweep) would be, estimated before anything runs.

A scenario is a few lines of TOML, yet ``count = 10_000_000`` or a Poisson rate of 1000/s over a
day asks for millions of instances, a crash loop or a fault every millisecond never ends, and the
recorder keeps everything. :func:`estimate` works the size out in closed form (no draw, no run)
from every source of events -- requests (start and stop paths), restarts and their back-offs,
faults and what they take down, memory usage ticks, swap re-sharing, placement scans as the
chosen policy makes them -- and :func:`check_size` refuses, with a plain message and the way round
it (``--force`` on the command line, ``force=True`` in the API), what would not fit in memory or
would compute for more than an hour.

The costs per event kind are measured by ``bench/bench_costs.py`` (simpy steps per kind, seconds
per step, per host scanned, per instance re-shared); tests/test_guard.py holds the estimated
event count within 3x of the counted steps of every shipped scenario and of extreme ones.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from simcontainer.model.controlplane import CONTROL_PLANES, ControlPlane
from simcontainer.scenario.catalogue import ControlPlaneProfile
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.profiles import default_catalogue, resolve_images
from simcontainer.scenario.references import fit_problems, instance_need
from simcontainer.scenario.schema import (
    AzureArrival,
    BurstArrival,
    ExponentialLifetime,
    FixedLifetime,
    ForeverLifetime,
    IntervalArrival,
    LognormalLifetime,
    PoissonArrival,
    Scenario,
    TraceArrival,
    Workload,
)
from simcontainer.scenario.workload import request_bound

# Measured by bench/bench_costs.py on 2026-12-05, machine "vm" (x86_64, 2 shared cores, Python
# 3.11.7). Step counts are the engine's (simpy steps per event kind); times are this machine's.
STEPS_PER_START = 12.2            # a request's start path: api, create, boot, running (dockerd, runc)
STEPS_PER_STOP = 2.1              # its stop path, when its lifetime ends within the horizon
STEPS_PER_SANDBOX = 5.6           # a pod sandbox's extra steps (a plane with a sandbox phase: the kubelet)
STEPS_PER_RESTART = 9.4           # one restart: exit, back-off, start again (a crash loop)
STEPS_PER_PULL = 0.4             # one image pulled on one host, beside its layers (manifest, config)
STEPS_PER_LAYER = 12.6           # each layer of it: round trips, download, decode, extract
STEPS_PER_TICK = 1.0              # one memory usage tick of one running instance
STEPS_PER_FAULT = 1.0             # one fault with nothing to take down
STEPS_PER_LOST = 10.5              # each instance a fault takes down (exit, restart or not)
SECONDS_PER_EVENT = 7.7e-6        # one simpy step, over the kinds above (3.8-7.7 us across runs on
                                  # this shared machine: the higher kept)
SECONDS_PER_HOST_SCAN = 1.0e-6    # placement: one host tried for one request (0.5-1.0 us here; the
                                  # issue measured 1-1.7 us)
# swap: one pair (changed instance x resident instance) re-shared on one memory change; measured
# 1.7e-6 (bench, 60 instances) and 4.2e-7 (memory.toml with admission "none", swap, slowdown and 72
# containers: 12.3 s of _reshare over 3,826 changes x 88^2): their geometric middle
SECONDS_PER_RESHARE_PAIR = 1.0e-6
BYTES_PER_REQUEST = 3 * 1024      # the recorder and the result tables per request (~1.5 KiB, doubled)
BYTES_PER_RESLOW = 400           # the CPU accounting a re-slow records (memory.toml, 72 containers
                                 # swapping: +20 MiB of peak RSS over 53,672 re-slows)
BYTES_PER_EVENT = 64              # the event log per step that records (time, instance, state)
MAX_WALL_S = 3600.0               # compute beyond this is refused too: a run, not a hang
BASE_MIB = 150.0                  # the interpreter, numpy, pandas, simpy
MEMORY_SHARE = 0.5                # of the memory available now, at most
MAX_SWEEP_RUNS = 20_000           # validating a point costs ~1 ms and ~50 KiB; past this, ask
EVENTS_PER_REQUEST = STEPS_PER_START + STEPS_PER_STOP    # kept for callers of the old name


@dataclass(frozen=True)
class Estimate:
    """The expected size of one run: requests (Poisson: the mean), events, memory, wall time,
    and the events by source (requests, restarts, faults, usage) and wall time by source."""

    requests: float
    events: float
    memory_mib: float
    wall_s: float
    largest: str          # the workload that makes the most work: where to look
    largest_path: str     # its path in the scenario, e.g. workloads[0].arrival
    sources: dict[str, float] = field(default_factory=dict)
    wall_by: dict[str, float] = field(default_factory=dict)   # compute by kind: events, scans, swap

    def describe(self) -> str:
        return (f"about {_count(self.requests)} requests, {_count(self.events)} events, "
                f"{_mib(self.memory_mib)} of memory and {_duration(self.wall_s)} of compute")

    def biggest_source(self) -> str:
        """What most of the compute goes to: a source of events, placement scans or swap re-sharing."""
        if self.wall_by and max(self.wall_by, key=self.wall_by.__getitem__) != "events":
            return max(self.wall_by, key=self.wall_by.__getitem__)
        return max(self.sources, key=self.sources.__getitem__) if self.sources else "requests"


def expected_requests(workload: Any, scenario: Any) -> float:
    """Requests ``workload`` makes within the horizon: exact for burst, interval and trace, the
    mean for Poisson; never more than ``max_instances``; plus a warm pool's instances."""
    a = workload.arrival
    if isinstance(a, PoissonArrival):
        n = a.rate_per_s * max(0.0, scenario.duration_s - a.start_s)
        cap = workload.max_instances
        n = min(n, cap) if cap is not None else n
    else:
        n = float(request_bound(workload, scenario))
    return n + (workload.warm.pool if workload.warm is not None else 0)


def mean_life(spec: Any) -> float:
    """Mean of a lifetime (or time-to-failure) distribution; inf for forever / None."""
    if spec is None or isinstance(spec, ForeverLifetime):
        return math.inf
    if isinstance(spec, FixedLifetime):
        return spec.s
    if isinstance(spec, ExponentialLifetime):
        return spec.mean_s
    if isinstance(spec, LognormalLifetime):
        sigma = math.log(spec.p95_s / spec.median_s) / 1.6449 if spec.p95_s > spec.median_s else 0.0
        return spec.median_s * math.exp(min(sigma, 10.0) ** 2 / 2)
    return math.inf


def time_left(w: Workload, horizon: float) -> float:
    """Mean time an instance has from its request to the horizon."""
    a = w.arrival
    if isinstance(a, BurstArrival):
        return max(0.0, horizon - a.at_s)
    if isinstance(a, PoissonArrival | IntervalArrival):
        return max(0.0, horizon - a.start_s) / 2
    if isinstance(a, AzureArrival | TraceArrival):
        return horizon / 2
    return horizon


def plane_of(w: Workload, scenario: Scenario) -> tuple[type[ControlPlane], ControlPlaneProfile | None]:
    """The workload's control plane: its class (which owns its defaults: restart policy, grace)
    and its profile (its phases), or the plain base class and None when it names none known."""
    cat = default_catalogue()
    runtimes = scenario.runtime_table(cat)
    rt = runtimes.get(w.runtime)
    name = w.control_plane or (rt.control_plane if rt is not None else None) or "direct"
    try:
        cp = scenario.control_plane_table(cat).get(name)
    except ScenarioError:
        cp = None
    return CONTROL_PLANES.get(str(cp.kind) if cp is not None and cp.kind else name, ControlPlane), cp


def restarts_in(run_s: float, up_s: float, policy: tuple[float, float, float], limit: float) -> float:
    """Restarts of one instance that fails every ``up_s`` of running over ``run_s`` seconds, with
    a back-off doubling from ``initial`` to ``cap`` (reset after ``reset`` s of running); at most
    ``limit``. Closed form past the cap: no loop longer than the doublings to the cap."""
    initial, cap, reset = policy
    if not math.isfinite(up_s) or run_s <= 0:
        return 0.0
    if up_s >= reset:                      # every failure starts the back-off afresh
        return min(limit, run_s / (up_s + initial))
    t, n, k = 0.0, 0, 0
    while t < run_s and n < limit:
        delay = min(initial * 2.0 ** k, cap)
        if delay >= cap:
            return min(limit, n + (run_s - t) / (up_s + cap))
        t += up_s + delay
        n += 1
        k += 1
    return float(n)


def oom_up_s(w: Workload) -> float:
    """Running time until the cgroup OOM-kills an instance whose memory use passes its
    ``mem_limit_mib``: on the ramp when the working set is above the limit, else when the leak
    reaches it; inf when it never does (the draws around the working set are not counted)."""
    u, limit = w.usage, w.mem_limit_mib
    if u is None or limit is None:
        return math.inf
    ws = u.working_set_mib if u.working_set_mib is not None else w.mem_mib
    if ws >= limit:
        return u.ramp_s * limit / ws if ws > 0 else math.inf
    if u.leak_mib_per_h > 0:
        return u.ramp_s + (limit - ws) / u.leak_mib_per_h * 3600.0
    return math.inf


def _restart_policy(w: Workload, plane: type[ControlPlane], oom: bool = False
                    ) -> tuple[tuple[float, float, float], float] | None:
    """(back-off: initial, cap, reset-after; most restarts) of a failing instance under its
    plane's restart policy (the plane's class decides the default and the back-off), or None
    when it is not restarted (an OOM kill exits 137: on-failure restarts it whatever the app's
    own crash code)."""
    policy = plane.restart_policy(w.restart)
    mode = getattr(policy, "mode", "no")
    if mode == "no" or (mode == "on-failure" and w.crash_exit_code == 0 and not oom):
        return None
    limit = float(getattr(policy, "max_retries", 0) or math.inf)
    return (policy.initial_s, policy.cap_s, policy.reset_after_s), limit


def workload_work(w: Workload, scenario: Scenario) -> dict[str, float]:
    """Events of one workload by source: requests (start + stop), restarts, usage ticks."""
    horizon = scenario.duration_s
    n = expected_requests(w, scenario)
    plane, profile = plane_of(w, scenario)
    left = time_left(w, horizon)
    life = mean_life(w.lifetime)
    running = min(life, left)                       # mean running time of an instance
    ends = min(1.0, left / life) if math.isfinite(life) and life > 0 else (1.0 if life == 0 else 0.0)
    sandbox = profile is not None and (profile.sandbox.median_s or profile.sandbox.cpu_s or profile.sandbox.serial_s)
    start = STEPS_PER_START + (STEPS_PER_SANDBOX if sandbox else 0.0)
    out = {"requests": n * (start + ends * STEPS_PER_STOP)}
    crash, oom = mean_life(w.time_to_failure), oom_up_s(w)
    up = min(crash, oom)
    policy = _restart_policy(w, plane, oom=oom < crash)
    restarts = 0.0
    if policy is not None and math.isfinite(up):
        per = restarts_in(running, up, *policy)
        restarts = n * per
        running = min(running, (per + 1) * up)       # usage ticks only while it runs
    elif math.isfinite(up) and up < running:        # it crashes once and stays down
        running = up
    out["restarts"] = restarts * STEPS_PER_RESTART
    if w.usage is not None:
        ticks = running / w.usage.interval_s + w.usage.ramp_steps
        out["usage"] = n * ticks * STEPS_PER_TICK
    return out


def estimate(scenario: Any) -> Estimate:
    """Closed-form size of a run of ``scenario`` (instant, whatever the size)."""
    horizon = scenario.duration_s
    per = [workload_work(w, scenario) for w in scenario.workloads]
    requests = float(sum(expected_requests(w, scenario) for w in scenario.workloads))
    sources: dict[str, float] = {}
    for work in per:
        for k, v in work.items():
            sources[k] = sources.get(k, 0.0) + v
    sources["faults"] = _fault_events(scenario, requests)
    sources["pulls"] = _pull_events(scenario, requests)
    events = sum(sources.values())
    scans = _scan_work(scenario, requests)
    reslows, reshare = _reslows(scenario, requests, sources.get("usage", 0.0))
    wall_by = {"events": events * SECONDS_PER_EVENT, "placement scans": scans * SECONDS_PER_HOST_SCAN,
               "swap re-sharing": reshare * SECONDS_PER_RESHARE_PAIR}
    wall = sum(wall_by.values())
    memory = BASE_MIB + (requests * BYTES_PER_REQUEST + events * BYTES_PER_EVENT
                         + reslows * BYTES_PER_RESLOW) / 2**20
    k = max(range(len(per)), key=lambda i: sum(per[i].values()))
    src = max(per[k], key=per[k].__getitem__)
    where = {"requests": "arrival", "restarts": "time_to_failure", "usage": "usage.interval_s"}[src]
    path = f"workloads[{k}].{where}"
    if sources["faults"] > sum(per[k].values()):
        path = "faults"
    if horizon <= 0:
        path = "duration_s"
    if wall_by["swap re-sharing"] > wall_by["events"]:
        path = "host.swap_mib"
    return Estimate(requests, events, memory, wall, scenario.workloads[k].name, path, sources, wall_by)


def _fault_events(scenario: Scenario, requests: float) -> float:
    """Faults (at_s: one; every_s: horizon / every_s) and the instances each takes down: a host
    panic or a daemon restart every instance alive on that host, a kernel or guest panic one. An
    instance that is not restarted is lost once; one that is, is lost again only when it is back:
    faults closer together than the back-off's reset find most instances still backing off."""
    if not scenario.faults:
        return 0.0
    horizon = max(scenario.duration_s, 1e-9)
    total = 0.0
    for f in scenario.faults:
        n = 1.0 if f.at_s is not None else horizon / f.every_s
        gap = horizon if f.every_s is None else f.every_s
        for w in scenario.workloads:
            if f.workload is not None and f.workload != w.name:
                continue
            alive = _alive(w, scenario)
            alive = alive / scenario.host.count if f.kind in ("host_panic", "daemon_restart") else min(alive, 1.0)
            policy = _restart_policy(w, plane_of(w, scenario)[0])
            if policy is None:
                lost = alive                                   # once: nothing comes back
            else:
                (initial, cap, reset), _ = policy
                back = 1.0 if gap >= reset else gap / (gap + cap)
                lost = n * alive * back
            total += lost * STEPS_PER_LOST
        total += n * STEPS_PER_FAULT
    return total


def _hosts_used(scenario: Scenario, requests: float) -> float:
    hosts = scenario.host.count
    if scenario.daemon.placement == "first-fit" and hosts > 1:
        return min(hosts, math.ceil(requests / _fit_per_host(scenario)))
    return min(hosts, max(1.0, requests))


def _pull_events(scenario: Scenario, requests: float) -> float:
    """Images not prepulled, pulled once on each host that runs them."""
    images = scenario.image_table(default_catalogue())
    names = {w.image for w in scenario.workloads} - set(scenario.daemon.prepull)
    per_host = sum(STEPS_PER_PULL + STEPS_PER_LAYER * len(images[n].layers) for n in names if n in images)
    return per_host * _hosts_used(scenario, requests)


def _fit_per_host(scenario: Scenario) -> float:
    """Instances of the most demanding workload one empty host takes (at least 1)."""
    cat = default_catalogue()
    runtimes, images = scenario.runtime_table(cat), scenario.image_table(cat)
    fit = math.inf
    cap = {"ram": scenario.host.ram_mib, "disk": scenario.host.disk_gib * 1024.0,
           "cpu": scenario.host.cpu_cores * (scenario.host.cpu_overcommit or 1.0)}
    for w in scenario.workloads:
        rt = runtimes.get(w.runtime)
        if rt is None:
            continue
        for res, need in instance_need(w, rt, images.get(w.image), scenario.host).items():
            if need > 0:
                fit = min(fit, cap[res] / need)
    return max(1.0, fit) if math.isfinite(fit) else 1e9


def _scan_work(scenario: Scenario, requests: float) -> float:
    """Hosts tried over the run: first-fit stops at the first host with room (a filling fleet:
    about the hosts already full, ~N^2 / 2 per fitting instance); every other policy tries all."""
    hosts = scenario.host.count
    if hosts <= 1:
        return 0.0
    if scenario.daemon.placement != "first-fit":
        return requests * hosts
    fit = _fit_per_host(scenario)
    return min(requests * hosts, requests + requests * requests / (2 * fit))


def _alive(w: Workload, scenario: Scenario) -> float:
    """Instances of ``w`` alive at once, about: its requests, thinned by lifetime / horizon."""
    return expected_requests(w, scenario) * min(1.0, mean_life(w.lifetime) / max(scenario.duration_s, 1e-9))


def swapping(scenario: Scenario) -> bool:
    """Whether the hosts are expected to swap: the resident memory of the instances alive at once
    (working sets, a VM's touched guest pages, overheads) beyond the RAM left after the reserve."""
    h = scenario.host
    if h.swap_mib <= 0:
        return False
    runtimes = scenario.runtime_table(default_catalogue())
    resident = 0.0
    for w in scenario.workloads:
        rt = runtimes.get(w.runtime)
        if rt is None:
            continue
        ws = w.usage.working_set_mib if w.usage is not None and w.usage.working_set_mib is not None else w.mem_mib
        if rt.kind == "vm":
            ws = min(w.guest_mem_mib or math.inf, ws + rt.guest_os_mib)
        resident += _alive(w, scenario) * (ws + rt.mem_overhead_mib)
    return resident / h.count > h.ram_mib - h.reserve_mib


def _reslows(scenario: Scenario, requests: float, ticks: float) -> tuple[float, float]:
    """(instances re-slowed, pairs re-shared) over the run while the hosts swap."""
    if not swapping(scenario):
        return 0.0, 0.0
    per_host = sum(_alive(w, scenario) for w in scenario.workloads) / scenario.host.count
    changes = ticks + 2 * requests
    if scenario.host.swap_slowdown <= 0:
        return 0.0, changes * per_host
    return changes * per_host, changes * per_host * per_host


def available_mib() -> float | None:
    """Memory available to a new allocation now (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError, AttributeError):
        return None


def check_size(scenario: Any, *, force: bool = False, available: float | None = None,
               source: str | None = None) -> Estimate:
    """The estimate of a run; raises :class:`ScenarioError` if it would not fit in memory
    (unless ``force``). ``available`` (MiB) replaces what the machine reports (tests)."""
    est = estimate(scenario)
    avail = available if available is not None else available_mib()
    limit = MEMORY_SHARE * avail if avail is not None else math.inf
    if force or (est.memory_mib <= limit and est.wall_s <= MAX_WALL_S):
        return est
    if est.memory_mib <= limit:
        raise ScenarioError([
            f"{est.largest_path}: too long to run here: {est.describe()} "
            f"(most of it {est.biggest_source()}; {est.largest!r} makes the most work"
            f"{f', each request placed by trying up to {scenario.host.count:,} hosts' if scenario.host.count > 1 else ''}) "
            f"(allowed: up to {_duration(MAX_WALL_S)} of compute; lower the count, rate, duration_s, "
            "host.count, fault every_s or usage interval_s rates, or set max_instances, or pass --force "
            "(force=True in Python) to run anyway)"
        ], source=source or scenario.name)
    raise ScenarioError([
        f"{est.largest_path}: too large to run here: {est.describe()} "
        f"(most of it {est.biggest_source()}; {est.largest!r} makes the most work); this machine has {_mib(avail or 0)} available "
        f"(allowed: runs up to {_mib(limit)}, half of it; lower the count, rate, duration_s or set "
        "max_instances, or pass --force (force=True in Python) to run anyway)"
    ], source=source or scenario.name)


def check_fits(scenario: Scenario, *, source: str | None = None) -> None:
    """Raise :class:`ScenarioError` naming each workload whose one instance is larger than a whole
    empty host (RAM, disk or, under CPU overcommit, cores: the need and the host's capacity)."""
    cat = default_catalogue()
    images = dict(cat.images)
    if scenario.images:
        images.update(resolve_images([i.model_dump() for i in scenario.images], known=cat.images))
    problems = fit_problems(scenario, images, scenario.runtime_table(cat))
    if problems:
        raise ScenarioError(problems, source=source or scenario.name)


def check_scenario(scenario: Scenario, *, force: bool = False, available: float | None = None,
                   source: str | None = None) -> Estimate:
    """What ``simcontainer check`` refuses beyond the schema: instances that fit no host, then
    runs too large to do here (:func:`check_size`). A run itself runs an instance that fits no
    host (every request rejected), so that a sweep over host sizes keeps its empty points."""
    check_fits(scenario, source=source)
    return check_size(scenario, force=force, available=available, source=source)


def check_sweep_size(n_points: int, replications: int, *, force: bool = False,
                     source: str = "sweep") -> None:
    """Refuse a sweep with more than :data:`MAX_SWEEP_RUNS` runs before its points are built and
    validated one by one (a 10^6-point grid would take minutes and gigabytes just for that)."""
    runs = n_points * replications
    if force or runs <= MAX_SWEEP_RUNS:
        return
    raise ScenarioError([
        f"axes: {_count(n_points)} points x {replications} replications = {_count(runs)} runs "
        f"(allowed: up to {MAX_SWEEP_RUNS:,}; fewer values per axis, mode = 'lhs' with samples, or "
        "--force (force=True in Python) to validate and run them all)"
    ], source=source)


def _count(n: float) -> str:
    if n == math.inf:
        return "more than 1e308"
    if isinstance(n, int) and n.bit_length() > 1000:        # past the float range: its size
        return f"about 10^{int(n.bit_length() * 0.30103)}"
    if n >= 1e15:
        return f"{n:.1e}"
    return f"{n:,.0f}"


def _mib(m: float) -> str:
    if m == math.inf:
        return "more than 1e308 MiB"
    if m >= 1024 * 1024 * 1024:
        return f"{m / 2**30:.1e} TiB"
    if m >= 1024:
        return f"{m / 1024:,.1f} GiB"
    return f"{m:,.0f} MiB"


def _duration(s: float) -> str:
    if s == math.inf:
        return "more than 1e300 years"
    if s >= 365 * 86400:
        return f"{s / (365 * 86400):,.0f} years"
    if s >= 86400:
        return f"{s / 86400:,.1f} days"
    if s >= 3600:
        return f"{s / 3600:,.1f} h"
    if s >= 60:
        return f"{s / 60:,.1f} min"
    return f"{s:,.1f} s"
