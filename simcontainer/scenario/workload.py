"""Arrival processes, lifetimes and the random streams that drive them.

Randomness: one ``numpy.random.SeedSequence`` per (scenario seed, workload name, purpose), so a
workload's draws depend on its own name only and adding a workload changes nobody else's.
Draws are taken in blocks (a numpy call per value is slow) from a :class:`Stream`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np

from simcontainer.scenario.schema import (
    ApiArrival,
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
    resolve_path,
)

Z95 = 1.6448536269514722  # standard normal 95th percentile
PURPOSES = {"arrival": 1, "lifetime": 2, "phases": 3, "failures": 4, "faults": 5, "memory": 6}
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


TRACE_COLUMNS = ("time_s", "lifetime_s", "workload")


class TraceError(ValueError):
    """A trace file that cannot be used; the message starts with ``line N:`` where it can."""


def read_trace(path: Path, workload: str) -> list[tuple[float, float | None]]:
    """Rows of a trace CSV for ``workload``: (time_s, lifetime_s or None), sorted by time.

    Rows with a ``workload`` column naming another workload are skipped. Raises
    :class:`TraceError` for a file that is unreadable, empty or malformed anywhere.
    """
    rows = _trace_rows(path)
    return list(rows.get(workload, rows[None]))


def _trace_rows(path: Path) -> dict[str | None, tuple[tuple[float, float | None], ...]]:
    try:
        st = path.stat()
    except OSError as exc:
        raise TraceError(f"cannot read {str(path)!r}: {exc.strerror or exc} (allowed: a readable CSV file)") from None
    return _parse_trace(str(path), st.st_mtime_ns, st.st_size)


R = TypeVar("R")


def _read_csv(path: str, parse: Callable[[Iterator[list[str]]], R]) -> R:
    """Read ``path`` as UTF-8 CSV and hand its rows to ``parse``; a problem with the bytes or the
    quoting is a :class:`TraceError` naming its line."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read {path!r}: {exc.strerror or exc} (allowed: a readable CSV file)") from None
    try:
        text = raw.decode("utf-8-sig")      # a byte-order mark is not content
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TraceError(f"line {line}: not UTF-8 text, byte {raw[exc.start]:#04x} ({exc.reason}) "
                         "(allowed: a UTF-8 CSV file)") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return parse(reader)
    except csv.Error as exc:
        raise TraceError(f"line {reader.line_num}: malformed CSV: {exc} (allowed: comma-separated values)") from None


@lru_cache(maxsize=32)
def _parse_trace(path: str, _mtime_ns: int, _size: int) -> dict[str | None, tuple[tuple[float, float | None], ...]]:
    """Every row of a trace by workload (None: rows for every workload), validated and sorted.

    Cached by path, modification time and size: ``check`` reads the file once, and the run or a
    sweep's many points reuse what it read (an edited file is read again).
    """
    return _read_csv(path, _parse_rows)


def _parse_rows(reader: Iterator[list[str]]) -> dict[str | None, tuple[tuple[float, float | None], ...]]:
    header = next(reader, None)
    allowed = ", ".join(TRACE_COLUMNS)
    if header is None:
        raise TraceError(f"line 1: empty file (allowed: a header with {allowed}, then a row per request)")
    cols = [c.strip() for c in header]
    unknown = [c for c in cols if c not in TRACE_COLUMNS]
    if unknown or len(set(cols)) != len(cols):
        what = f"unknown column {unknown[0]!r}" if unknown else "a column named twice"
        raise TraceError(f"line 1: {what} (allowed: {allowed})")
    if "time_s" not in cols:
        raise TraceError(f"line 1: no time_s column, found {', '.join(cols) or 'nothing'} (allowed: {allowed})")
    it, il = cols.index("time_s"), cols.index("lifetime_s") if "lifetime_s" in cols else None
    iw = cols.index("workload") if "workload" in cols else None
    rows: dict[str | None, list[tuple[float, float | None]]] = {}
    n = 0
    for row in reader:
        lineno = getattr(reader, "line_num", n + 2)
        if not row or (len(row) == 1 and not row[0].strip()):
            continue   # a blank line
        if len(row) != len(cols):
            raise TraceError(f"line {lineno}: {len(row)} fields but the header has {len(cols)} (allowed: "
                             f"one value per column: {', '.join(cols)})")
        t = _trace_number(row[it], "time_s", lineno)
        lt = _trace_number(row[il], "lifetime_s", lineno) if il is not None and row[il].strip() else None
        name = row[iw].strip() or None if iw is not None else None
        if name is not None and any(ord(c) < 32 for c in name):
            raise TraceError(f"line {lineno}: workload {name!r} holds a control character (allowed: printable text)")
        rows.setdefault(name, []).append((t, lt))
        n += 1
    if n == 0:
        raise TraceError(f"line 2: no rows after the header (allowed: a row per request: {', '.join(cols)})")
    shared = rows.get(None, [])
    out: dict[str | None, tuple[tuple[float, float | None], ...]] = {None: tuple(sorted(shared, key=lambda r: r[0]))}
    for name, rs in rows.items():
        if name is not None:
            out[name] = tuple(sorted(rs + shared, key=lambda r: r[0]))
    return out


def _trace_number(text: str, column: str, lineno: int) -> float:
    try:
        v = float(text)
    except ValueError:
        raise TraceError(f"line {lineno}: {column} = {text.strip()!r} is not a number "
                         "(allowed: a finite number >= 0)") from None
    if not math.isfinite(v) or v < 0:
        raise TraceError(f"line {lineno}: {column} = {text.strip()!r} (allowed: a finite number >= 0)")
    return v


# ---- Azure Functions 2019 invocation files (Shahrad et al., ATC 2020; Azure/AzurePublicDataset)

AZURE_KEYS = ("HashOwner", "HashApp", "HashFunction", "Trigger")
AZURE_MINUTES = 1440
# The trigger groups of the published files (AzureFunctionsDataset2019.md).
AZURE_TRIGGERS = ("http", "timer", "queue", "event", "storage", "orchestration", "others")


def read_azure(path: Path, function: str | None = None) -> tuple[int, ...]:
    """Per-minute invocation counts (1,440) of one function (its ``HashFunction``) of an Azure
    Functions 2019 file ``invocations_per_function_md.anon.dNN.csv``, or of all its rows summed
    (``function`` None). Raises :class:`TraceError` (``line N: ...``) for a malformed file."""
    try:
        st = path.stat()
    except OSError as exc:
        raise TraceError(f"cannot read {str(path)!r}: {exc.strerror or exc} (allowed: a readable CSV file)") from None
    rows = _parse_azure(str(path), st.st_mtime_ns, st.st_size)
    if function is None:
        return rows[None]
    if function not in rows:
        some = ", ".join(repr(k) for k in list(k for k in rows if k is not None)[:3])
        raise TraceError(f"HashFunction {function!r} is in no row of the file (allowed: one of its "
                         f"{len(rows) - 1} functions, e.g. {some})")
    return rows[function]


@lru_cache(maxsize=8)
def _parse_azure(path: str, _mtime_ns: int, _size: int) -> dict[str | None, tuple[int, ...]]:
    """Every row of an Azure file by HashFunction (None: all rows summed), validated; cached by
    path, modification time and size like :func:`_parse_trace`, and read the same way (a problem
    with the bytes or the quoting names its line)."""
    return _read_csv(path, _parse_azure_rows)


def _parse_azure_rows(reader: Iterator[list[str]]) -> dict[str | None, tuple[int, ...]]:
    want = [*AZURE_KEYS, *(str(m) for m in range(1, AZURE_MINUTES + 1))]
    header = next(reader, None)
    allowed = f"{', '.join(AZURE_KEYS)}, then the minutes 1 to {AZURE_MINUTES}"
    if header is None:
        raise TraceError(f"line 1: empty file (allowed: a header {allowed})")
    cols = [c.strip() for c in header]
    if cols != want:
        k = next((i for i, (a, b) in enumerate(zip(cols, want)) if a != b), min(len(cols), len(want)))
        found = repr(cols[k]) if k < len(cols) else "the end of the line"
        expected = repr(want[k]) if k < len(want) else "nothing more"
        raise TraceError(f"line 1: column {k + 1} is {found}, expected {expected} "
                         f"(allowed: a header {allowed})")
    total = [0] * AZURE_MINUTES
    out: dict[str | None, tuple[int, ...]] = {}
    n = 0
    for row in reader:
        lineno = getattr(reader, "line_num", n + 2)
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(want):
            raise TraceError(f"line {lineno}: {len(row)} fields but the header has {len(want)} (allowed: "
                             f"four keys and {AZURE_MINUTES} counts)")
        for key, v in zip(AZURE_KEYS[:3], row):
            if not v.strip():
                raise TraceError(f"line {lineno}: {key} is empty (allowed: a hash)")
        trigger = row[3].strip()
        if trigger not in AZURE_TRIGGERS:
            raise TraceError(f"line {lineno}: Trigger = {trigger!r} (allowed: {', '.join(AZURE_TRIGGERS)})")
        counts = []
        for m, text in enumerate(row[4:], 1):
            t = text.strip()
            if not t.isdigit():
                raise TraceError(f"line {lineno}: minute {m} = {t!r} (allowed: a whole number of "
                                 "invocations >= 0)")
            counts.append(int(t))
        fn = row[2].strip()
        if fn in out:
            raise TraceError(f"line {lineno}: HashFunction {fn!r} has a row already (allowed: one row "
                             "per function)")
        out[fn] = tuple(counts)
        for m, c in enumerate(counts):
            total[m] += c
        n += 1
    if n == 0:
        raise TraceError(f"line 2: no rows after the header (allowed: a row per function: {allowed})")
    out[None] = tuple(total)
    return out


def _azure_counts(a: AzureArrival, scenario: Scenario) -> tuple[int, ...]:
    return read_azure(resolve_path(a.path, scenario.base_dir), a.function)


def azure_times(a: AzureArrival, counts: Sequence[int], horizon: float, stream: Stream) -> Iterator[float]:
    """Request times from per-minute counts: minute ``start_minute`` is [0, 60); each count is
    thinned by ``scale`` (its whole part, plus one more with the chance of its fraction) and its
    requests fall at uniform random moments of their minute."""
    for m in range(a.start_minute, AZURE_MINUTES):
        t0 = (m - a.start_minute) * 60.0
        if t0 > horizon:
            return
        x = counts[m] * a.scale
        k = int(x)
        if x - k > 0 and math.exp(-stream.exponential()) < x - k:
            k += 1
        if k:
            for u in sorted(math.exp(-stream.exponential()) for _ in range(k)):
                yield t0 + 60.0 * u


def trace_requests(workload: Workload, scenario: Scenario) -> int:
    """How many requests a trace workload makes within the horizon (before max_instances)."""
    assert isinstance(workload.arrival, TraceArrival)
    rows = read_trace(resolve_path(workload.arrival.path, scenario.base_dir), workload.name)
    return sum(1 for t, _ in rows if t <= scenario.duration_s)


def request_bound(workload: Workload, scenario: Scenario) -> float:
    """The most requests ``workload`` can make in ``scenario`` (``math.inf``: no bound, Poisson)."""
    a, horizon = workload.arrival, scenario.duration_s
    cap = workload.max_instances if workload.max_instances is not None else math.inf
    if isinstance(a, ApiArrival):
        n: float = 0
    elif isinstance(a, BurstArrival):
        n = a.count if a.at_s <= horizon else 0
    elif isinstance(a, IntervalArrival):
        q = (horizon - a.start_s) / a.every_s       # may overflow to inf: every_s = 1e-300
        n = (math.floor(q) + 1 if math.isfinite(q) else math.inf) if a.start_s <= horizon else 0
    elif isinstance(a, TraceArrival):
        n = trace_requests(workload, scenario)
    elif isinstance(a, AzureArrival):
        counts = _azure_counts(a, scenario)
        last = min(AZURE_MINUTES, a.start_minute + int(horizon // 60.0) + 1)
        n = sum(math.ceil(c * a.scale) for c in counts[a.start_minute:last])
    else:
        n = math.inf
    return min(n, cap)


def arrival_times(workload: Workload, scenario: Scenario, stream: Stream
                  ) -> Iterator[tuple[float, float | None]]:
    """Absolute request times (with a trace's lifetime, if any), up to the horizon and the cap."""
    horizon = scenario.duration_s
    cap = workload.max_instances if workload.max_instances is not None else math.inf
    a = workload.arrival
    n = 0
    if isinstance(a, ApiArrival):       # only scripted creates make its instances
        return
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
    if isinstance(a, AzureArrival):
        for t in azure_times(a, _azure_counts(a, scenario), horizon, stream):
            if t > horizon or n >= cap:
                return
            n += 1
            yield t, None
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
