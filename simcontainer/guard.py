"""Size guards: how big a run (or a sweep) would be, estimated before anything runs.

A scenario is a few lines of TOML, yet ``count = 10_000_000`` or a Poisson rate of 1000/s over a
day asks for millions of instances, and the recorder keeps every one of them: such a run grows
until the machine runs out of memory. :func:`estimate` works the size out in closed form (no
draw, no run), and :func:`check_size` refuses, with a plain message and the way round it
(``--force`` on the command line, ``force=True`` in the API), what would not fit in memory or
would compute for more than an hour.

The per-request figures were measured on bursts of 20k and 100k requests and a 20k-request
churn (see docs/reference/guards.md): a request costs ~1.5 KiB of the recorder and the
simulation whether it waits, runs or completes, and a request's whole lifecycle is ~8 events of
~5-7 µs each.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from simcontainer.errors import ScenarioError

BYTES_PER_REQUEST = 3 * 1024      # measured ~1.5 KiB; doubled for the result tables built after
EVENTS_PER_REQUEST = 8            # request, api, pull, create, boot, running, stop, exit
SECONDS_PER_EVENT = 7e-6          # on the development machine (2 cores, Python 3.11)
SECONDS_PER_HOST_SCAN = 8e-6      # placement tries every host per request (10k hosts: 80 ms)
MAX_WALL_S = 3600.0               # compute beyond this is refused too: a run, not a hang
BASE_MIB = 150.0                  # the interpreter, numpy, pandas, simpy
MEMORY_SHARE = 0.5                # of the memory available now, at most
MAX_SWEEP_RUNS = 20_000           # validating a point costs ~1 ms and ~50 KiB; past this, ask


@dataclass(frozen=True)
class Estimate:
    """The expected size of one run: requests (Poisson: the mean), events, memory, wall time."""

    requests: float
    events: float
    memory_mib: float
    wall_s: float
    largest: str          # the workload that makes the most requests: where to look
    largest_path: str     # its path in the scenario, e.g. workloads[0].arrival

    def describe(self) -> str:
        return (f"about {_count(self.requests)} requests, {_count(self.events)} events, "
                f"{_mib(self.memory_mib)} of memory and {_duration(self.wall_s)} of compute")


def expected_requests(workload: Any, scenario: Any) -> float:
    """Requests ``workload`` makes within the horizon: exact for burst, interval and trace, the
    mean for Poisson; never more than ``max_instances``."""
    from simcontainer.scenario import PoissonArrival
    from simcontainer.workload import request_bound

    a = workload.arrival
    if isinstance(a, PoissonArrival):
        n = a.rate_per_s * max(0.0, scenario.duration_s - a.start_s)
        cap = workload.max_instances
        return min(n, cap) if cap is not None else n
    return float(request_bound(workload, scenario))


def estimate(scenario: Any) -> Estimate:
    """Closed-form size of a run of ``scenario`` (instant, whatever the size)."""
    per = [expected_requests(w, scenario) for w in scenario.workloads]
    requests = float(sum(per))
    k = max(range(len(per)), key=per.__getitem__)
    events = requests * EVENTS_PER_REQUEST
    memory = BASE_MIB + requests * BYTES_PER_REQUEST / 2**20
    hosts = scenario.host.count
    wall = events * SECONDS_PER_EVENT + (requests * hosts * SECONDS_PER_HOST_SCAN if hosts > 1 else 0.0)
    return Estimate(requests, events, memory, wall, scenario.workloads[k].name, f"workloads[{k}].arrival")


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
            f"({est.largest!r} makes the most requests"
            f"{f', each placed by trying {scenario.host.count:,} hosts' if scenario.host.count > 1 else ''}) "
            f"(allowed: up to {_duration(MAX_WALL_S)} of compute; lower the count, rate, duration_s, "
            "host.count or set max_instances, or pass --force (force=True in Python) to run anyway)"
        ], source=source or scenario.name)
    raise ScenarioError([
        f"{est.largest_path}: too large to run here: {est.describe()} "
        f"({est.largest!r} makes the most requests); this machine has {_mib(avail or 0)} available "
        f"(allowed: runs up to {_mib(limit)}, half of it; lower the count, rate, duration_s or set "
        "max_instances, or pass --force (force=True in Python) to run anyway)"
    ], source=source or scenario.name)


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
    if isinstance(n, int) and n.bit_length() > 1000:        # past the float range: its size
        return f"about 10^{int(n.bit_length() * 0.30103)}"
    if n >= 1e15:
        return f"{n:.1e}"
    return f"{n:,.0f}"


def _mib(m: float) -> str:
    if m >= 1024 * 1024 * 1024:
        return f"{m / 2**30:.1e} TiB"
    if m >= 1024:
        return f"{m / 1024:,.1f} GiB"
    return f"{m:,.0f} MiB"


def _duration(s: float) -> str:
    if s >= 365 * 86400:
        return f"{s / (365 * 86400):,.0f} years"
    if s >= 86400:
        return f"{s / 86400:,.1f} days"
    if s >= 3600:
        return f"{s / 3600:,.1f} h"
    if s >= 60:
        return f"{s / 60:,.1f} min"
    return f"{s:,.1f} s"
