"""Arrival processes, lifetimes and the random streams that drive them.

Randomness: one ``numpy.random.SeedSequence`` per (scenario seed, workload name, purpose), so a
workload's draws depend on its own name only and adding a workload changes nobody else's.
Draws are taken in blocks (a numpy call per value is slow) from a :class:`Stream`.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from simcontainer.scenario import (
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
    resolve_path,
)

Z95 = 1.6448536269514722  # standard normal 95th percentile
PURPOSES = {"arrival": 1, "lifetime": 2, "phases": 3}
_BLOCK = 512


def _name_key(name: str) -> list[int]:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


def seed_sequence(seed: int, workload: str, purpose: str) -> np.random.SeedSequence:
    """The seed of one stream: the same on every machine, independent of other workloads."""
    entropy = [seed & 0xFFFFFFFF, seed >> 32, *_name_key(workload), PURPOSES[purpose]]
    return np.random.SeedSequence(entropy)


class Stream:
    """Buffered draws of standard normals and exponentials from one generator."""

    __slots__ = ("_rng", "_normal", "_ni", "_expo", "_ei")

    def __init__(self, seq: np.random.SeedSequence) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seq))
        self._normal: list[float] = []
        self._ni = 0
        self._expo: list[float] = []
        self._ei = 0

    def normal(self) -> float:
        if self._ni >= len(self._normal):
            self._normal = self._rng.standard_normal(_BLOCK).tolist()
            self._ni = 0
        v = self._normal[self._ni]
        self._ni += 1
        return v

    def exponential(self) -> float:
        if self._ei >= len(self._expo):
            self._expo = self._rng.standard_exponential(_BLOCK).tolist()
            self._ei = 0
        v = self._expo[self._ei]
        self._ei += 1
        return v


def lognormal_sigma(median: float, p95: float | None) -> float:
    """Shape of a lognormal with this median and 95th percentile (0 when the tail is absent)."""
    if not p95 or median <= 0 or p95 <= median:
        return 0.0
    return math.log(p95 / median) / Z95


class LifetimeSampler:
    def __init__(self, spec: FixedLifetime | ExponentialLifetime | LognormalLifetime | ForeverLifetime,
                 stream: Stream) -> None:
        self.spec = spec
        self.stream = stream
        # A fixed lifetime needs no draw and no type dispatch: one test per instance.
        self._fixed: float | None = spec.s if isinstance(spec, FixedLifetime) else None
        if isinstance(spec, LognormalLifetime):
            self._mu = math.log(spec.median_s)
            self._sigma = lognormal_sigma(spec.median_s, spec.p95_s)

    def __call__(self) -> float:
        if self._fixed is not None:
            return self._fixed
        spec = self.spec
        if isinstance(spec, ExponentialLifetime):
            return spec.mean_s * self.stream.exponential()
        if isinstance(spec, LognormalLifetime):
            return math.exp(self._mu + self._sigma * self.stream.normal())
        if isinstance(spec, FixedLifetime):
            return spec.s
        return math.inf

    @property
    def mean(self) -> float:
        spec = self.spec
        if isinstance(spec, ExponentialLifetime):
            return spec.mean_s
        if isinstance(spec, LognormalLifetime):
            return math.exp(self._mu + self._sigma**2 / 2)
        if isinstance(spec, FixedLifetime):
            return spec.s
        return math.inf


def read_trace(path: Path, workload: str) -> list[tuple[float, float | None]]:
    """Rows of a trace CSV for ``workload``: (time_s, lifetime_s or None), sorted by time.

    Rows with a ``workload`` column naming another workload are skipped.
    """
    rows: list[tuple[float, float | None]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "time_s" not in reader.fieldnames:
            raise ValueError(f"{path}: trace needs a time_s column (found: {reader.fieldnames})")
        for lineno, row in enumerate(reader, start=2):
            if row.get("workload") not in (None, "", workload):
                continue
            try:
                t = float(row["time_s"])
                life = row.get("lifetime_s")
                lt = float(life) if life not in (None, "") else None
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
            if t < 0 or (lt is not None and lt < 0):
                raise ValueError(f"{path}:{lineno}: times must be >= 0")
            rows.append((t, lt))
    rows.sort(key=lambda r: r[0])
    return rows


def arrival_times(workload: Workload, scenario: Scenario, stream: Stream
                  ) -> Iterator[tuple[float, float | None]]:
    """Absolute request times (with a trace's lifetime, if any), up to the horizon and the cap."""
    horizon = scenario.duration_s
    cap = workload.max_instances if workload.max_instances is not None else math.inf
    a = workload.arrival
    n = 0
    if isinstance(a, BurstArrival):
        if a.at_s <= horizon:
            for _ in range(int(min(a.count, cap))):
                yield a.at_s, None
        return
    if isinstance(a, TraceArrival):
        for t, lt in read_trace(resolve_path(a.path, scenario.base_dir), workload.name):
            if t > horizon or n >= cap:
                return
            n += 1
            yield t, lt
        return
    if isinstance(a, IntervalArrival):
        t = a.start_s
        while t <= horizon and n < cap:
            n += 1
            yield t, None
            t = a.start_s + n * a.every_s
        return
    if isinstance(a, PoissonArrival):
        scale = 1.0 / a.rate_per_s
        t = a.start_s + scale * stream.exponential()
        while t <= horizon and n < cap:
            n += 1
            yield t, None
            t += scale * stream.exponential()
        return
    raise TypeError(f"unknown arrival {a!r}")
