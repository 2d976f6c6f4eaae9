"""What a sweep runs: the sweep file, its axes, the design (grid, random, Latin hypercube), and
the concrete scenario, seed and key of every run -- all validated before anything runs.

A sweep file::

    base = "../scenarios/default.toml"    # relative to this file
    replications = 5                       # seeds derived from the base scenario's seed
    mode = "grid"                          # grid | random | lhs
    samples = 0                            # points for random / lhs
    seed = 7                               # optional: draws of random / lhs (default: base seed)
    [axes]
    "host.ram_mib" = [32768, 65536]                                   # a list of values
    "workloads.api.runtime" = ["runc", "firecracker"]                 # workloads addressed by name
    "workloads.api.arrival.rate_per_s" = { low = 0.1, high = 2.0 }    # a range (random / lhs)
    "daemon.api_workers" = { low = 1, high = 16 }                     # integer ends: integers
    "workloads.api.mem_mib" = { low = 64, high = 1024, num = 5 }      # a range in a grid: num values
    "workloads.api.lifetime.mean_s" = { low = 10.0, high = 1000.0, log = true }   # log-uniform

An axis path is dotted into the scenario's plain data (``Scenario.to_dict()``); an element of a
list of named things (workloads, runtimes, images) is addressed by its name, or by its index.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simcontainer.engine.guard import check_sweep_size
from simcontainer.scenario.errors import ScenarioError, did_you_mean, short_repr
from simcontainer.scenario.loading import load_scenario, parse_scenario, read_toml_text
from simcontainer.scenario.schema import Scenario

MODES = ("grid", "random", "lhs")
SWEEP_KEYS = ("base", "replications", "mode", "samples", "seed", "axes")
RANGE_KEYS = ("low", "high", "num", "log")
MAX_LISTED = 25          # problems listed before "... and N more"
_DESIGN_TAG = 0x5EE9     # mixed into the design's seed so its draws differ from any run's


# --------------------------------------------------------------------------- axes


@dataclass(frozen=True)
class Axis:
    """One swept setting: a list of ``values``, or a range ``low``..``high``."""

    path: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    num: int | None = None          # grid mode: evenly spaced values over the range
    log: bool = False               # spacing / sampling on a log scale

    @property
    def is_range(self) -> bool:
        return self.values is None

    @property
    def integer(self) -> bool:
        """A range whose ends are both integers yields integers (workers, counts, MiB)."""
        return self.is_range and all(isinstance(v, int) and not isinstance(v, bool)
                                     for v in (self.low, self.high))

    def grid_values(self) -> list[Any]:
        if self.values is not None:
            return list(self.values)
        assert self.low is not None and self.high is not None and self.num is not None
        if self.integer and not self.log and self.num >= self.high - self.low + 1:
            return list(range(int(self.low), int(self.high) + 1))    # every integer: no array of num
        if self.log:
            xs = np.geomspace(self.low, self.high, self.num)
        else:
            xs = np.linspace(self.low, self.high, self.num)
        if self.integer:
            return list(dict.fromkeys(int(round(x)) for x in xs))  # rounding may merge neighbours
        return [float(x) for x in xs]

    def at(self, u: np.ndarray) -> list[Any]:
        """Map uniform draws in [0, 1) onto the axis (a value per draw), keeping strata intact."""
        if self.values is not None:
            k = len(self.values)
            return [self.values[min(int(x * k), k - 1)] for x in u]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.integer:
            if self.log:
                # Integer log scale: stratify over [lo, hi + 1) so the top value has its share.
                xs = np.exp(np.log(lo) + u * (np.log(hi + 1) - np.log(lo)))
            else:
                xs = lo + u * (hi - lo + 1)
            return [int(min(math.floor(x), hi)) for x in xs]
        xs = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))) if self.log else lo + u * (hi - lo)
        return [float(x) for x in xs]

    def ends(self) -> list[Any]:
        """The values that single-axis validation tries: every listed value, or both ends."""
        return list(self.values) if self.values is not None else [self.low, self.high]

    def column(self, value: Any) -> Any:
        """A value as stored in a table column: scalars as they are, anything else as JSON."""
        if isinstance(value, bool | int | float | str):
            return value if self._scalar_column else canonical_json(value)
        return canonical_json(value)

    @property
    def _scalar_column(self) -> bool:
        if self.values is None:
            return True
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values)
        return numeric or all(isinstance(v, str) for v in self.values) or \
            all(isinstance(v, bool) for v in self.values)


def _parse_axis(path: Any, spec: Any, mode: str, problems: list[str]) -> Axis | None:
    where = f"axes.{path}"
    if not isinstance(path, str) or not path or any(not p for p in path.split(".")):
        problems.append(f"axes: {path!r} is not a dotted path (allowed: e.g. 'host.ram_mib')")
        return None
    if path == "seed" or path.startswith("seed."):
        problems.append(f"{where}: the seed is set per replication (allowed: any other setting; "
                        "use replications for more seeds)")
        return None
    if isinstance(spec, list):
        if not spec:
            problems.append(f"{where}: empty list (allowed: one or more values)")
            return None
        odd = next((v for v in spec if not _plain_value(v)), None)
        if odd is not None:
            problems.append(f"{where}: value {_short(odd)} holds a TOML date or time, or an integer beyond "
                            "2**63 (allowed: numbers, text, true/false, and lists or tables of them)")
            return None
        return Axis(path, values=tuple(spec))
    if not isinstance(spec, dict):
        problems.append(f"{where}: got {spec!r} (allowed: a list of values, or a range "
                        "{ low, high } with num for grid)")
        return None
    unknown = [k for k in spec if k not in RANGE_KEYS]
    if unknown:
        problems.append(f"{where}.{unknown[0]}: unknown key (allowed: {', '.join(RANGE_KEYS)})")
        return None
    low, high, num, log = spec.get("low"), spec.get("high"), spec.get("num"), spec.get("log", False)
    ok = True
    for name, v in (("low", low), ("high", high)):
        if not _finite_number(v):
            problems.append(f"{where}.{name}: got {_short(v)} (allowed: a finite number between -1e15 and 1e15)")
            ok = False
    if not isinstance(log, bool):
        problems.append(f"{where}.log: got {log!r} (allowed: true, false)")
        ok = False
    if not ok:
        return None
    if low > high:
        problems.append(f"{where}: low ({low}) is above high ({high}) (allowed: low <= high)")
        return None
    if log and low <= 0:
        problems.append(f"{where}.low: got {low} with log = true (allowed: low > 0)")
        return None
    if mode == "grid":
        if num is None:
            problems.append(f"{where}: a range in grid mode needs num (allowed: a list of values, "
                            "or { low, high, num })")
            return None
        if not isinstance(num, int) or isinstance(num, bool) or num < 1:
            problems.append(f"{where}.num: got {_short(num)} (allowed: an integer >= 1)")
            return None
    elif num is not None:
        problems.append(f"{where}.num: only for mode = 'grid' (allowed: low, high, log)")
        return None
    return Axis(path, low=low, high=high, num=num, log=log)


# --------------------------------------------------------------------------- paths into a scenario


def apply(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``data`` with every dotted path set. Raises KeyError naming a bad path."""
    out = json.loads(json.dumps(data))  # plain JSON data: the cheapest deep copy, and no aliasing
    for path, value in overrides.items():
        set_path(out, path, value)
    return out


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[:depth]) or "(top level)"
        if isinstance(node, list):
            index = _list_index(node, part)
            if index is None:
                names = [str(x["name"]) for x in node if isinstance(x, dict) and "name" in x]
                allowed = ", ".join(names) if names else f"0..{len(node) - 1}"
                raise KeyError(f"{here}: no element named {part!r} (allowed: {allowed}){did_you_mean(part, names)}")
            if last:
                node[index] = value
                return
            node = node[index]
        elif isinstance(node, dict):
            if last:
                # A key absent from the data may still be a valid optional field (to_dict drops
                # Nones); the scenario schema decides, and names the allowed keys if it is not.
                node[part] = value
                return
            if part not in node:
                raise KeyError(f"{here}: unknown key {part!r} (allowed: {', '.join(node)}){did_you_mean(part, node)}")
            node = node[part]
        else:
            raise KeyError(f"{here}: is a value, not a table (allowed: the path up to {here})")


def _list_index(items: list[Any], part: str) -> int | None:
    for i, it in enumerate(items):
        if isinstance(it, dict) and it.get("name") == part:
            return i
    if part.isdigit() and int(part) < len(items):
        return int(part)
    return None


def _by_name(problems: list[str], data: dict[str, Any]) -> list[str]:
    """Scenario problems say ``workloads[0]``; a sweep addresses workloads by name."""
    out = []
    for p in problems:
        for key in ("workloads", "runtimes", "images"):
            for i, it in enumerate(data.get(key) or []):
                if isinstance(it, dict) and isinstance(it.get("name"), str):
                    p = p.replace(f"{key}[{i}]", f"{key}.{it['name']}")
        out.append(p)
    return out


# --------------------------------------------------------------------------- seeds and keys


def replication_seeds(base_seed: int, n: int) -> list[int]:
    """Seed of replication r: a function of (base seed, r) only, so it is the same on every
    machine, worker and batch. Every point shares them (common random numbers), which makes
    differences between points less noisy than independent seeds would."""
    seeds = []
    for r in range(n):
        words = np.random.SeedSequence(base_seed, spawn_key=(r,)).generate_state(2, np.uint32)
        seeds.append(((int(words[1]) << 32) | int(words[0])) & (2**63 - 1))
    return seeds


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run_key(scenario_dict: dict[str, Any], seed: int) -> str:
    """What identifies a run in the store: the concrete scenario and the seed. Not the point
    number or the folder: the same run in an edited sweep, or another checkout, is found again."""
    text = canonical_json({"scenario": scenario_dict, "seed": int(seed)})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Run:
    """One simulation of a sweep: a point, a replication, its seed, and its store key."""

    point: int
    replication: int
    seed: int
    key: str


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the base scenario, the axes, and every concrete point."""

    base: Scenario
    axes: tuple[Axis, ...]
    mode: str
    samples: int
    replications: int
    seed: int
    points: tuple[dict[str, Any], ...]            # axis path -> value, one dict per point
    scenarios: tuple[Scenario, ...] = field(repr=False)   # validated, one per point
    seeds: tuple[int, ...]                        # one per replication
    keys: tuple[tuple[str, ...], ...] = field(repr=False)  # [point][replication]
    source: Path | None = None                    # the sweep file, when loaded from one

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def n_runs(self) -> int:
        return len(self.points) * self.replications

    def runs(self) -> Iterator[Run]:
        """Every run, by point then replication."""
        for p, keys in enumerate(self.keys):
            for r, key in enumerate(keys):
                yield Run(p, r, self.seeds[r], key)

    @property
    def design(self) -> pd.DataFrame:
        """One row per point: ``point`` and a column per axis."""
        return pd.DataFrame([{"point": p, **{a.path: a.column(pt[a.path]) for a in self.axes}}
                             for p, pt in enumerate(self.points)],
                            columns=["point", *[a.path for a in self.axes]])


def load_sweep(path: str | Path, *, force: bool = False) -> SweepSpec:
    """Read and validate a sweep file (``base`` relative to it). Raises :class:`ScenarioError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")   # a byte-order mark is not content
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"cannot read file: {getattr(exc, 'strerror', None) or exc}"],
                            source=str(p)) from None
    data = read_toml_text(text, str(p))
    return parse_sweep(data, base_dir=p.resolve().parent, source=str(p), _path=p, force=force)


def parse_sweep(data: dict[str, Any], base_dir: str | Path | None = None,
                base_scenario: Scenario | None = None, *, source: str = "sweep",
                _path: Path | None = None, force: bool = False) -> SweepSpec:
    """Validate sweep data into a :class:`SweepSpec`: every axis, every value, every point.

    ``base_scenario`` replaces the file's ``base`` (the UI passes the scenario it is editing).
    More runs than :data:`simcontainer.engine.guard.MAX_SWEEP_RUNS` are refused before the points are
    built, unless ``force``.
    """
    if not isinstance(data, dict):
        raise ScenarioError([f"expected a table of settings, got {type(data).__name__}"], source=source)
    not_sweep = scenario_file_problem(data, source)
    if not_sweep:
        raise ScenarioError([not_sweep], source=source)
    problems: list[str] = []
    for k in data:
        if k not in SWEEP_KEYS:
            problems.append(f"{k}: unknown key (allowed: {', '.join(SWEEP_KEYS)}){did_you_mean(k, SWEEP_KEYS)}")

    base = base_scenario if base_scenario is not None else _load_base(data.get("base"), base_dir, problems)
    mode, reps, samples, seed = _settings(data, problems)

    raw_axes = data.get("axes", {})
    axes: list[Axis] = []
    if not isinstance(raw_axes, dict):
        problems.append(f"axes: got {_short(raw_axes)} (allowed: a table of 'dotted.path' = values)")
    else:
        for path, spec in raw_axes.items():
            axis = _parse_axis(path, spec, mode if mode in MODES else "grid", problems)
            if axis is not None:
                axes.append(axis)
    if problems or base is None:
        raise ScenarioError(problems, source=source)

    # The size from the axes' definitions, before any value is built or validated.
    n_points = math.prod(axis_size(a, mode, samples) for a in axes) if mode == "grid" else samples
    check_sweep_size(n_points, reps, force=force, source=source)
    base_dict = base.to_dict()
    # First each axis value alone on the base: a bad path or value names its own axis.
    for axis in axes:
        for value in axis.ends():
            problems += _check_point(base, base_dict, {axis.path: value},
                                     f"axes.{axis.path}: value {_short(value)}")
    if problems:
        raise ScenarioError(_dedupe(problems), source=source)

    design_seed = base.seed if seed is None else seed
    points = _design(axes, mode, samples, design_seed)
    scenarios: list[Scenario] = []
    for p, point in enumerate(points):
        where = f"point {p} ({', '.join(f'{k}={_short(v)}' for k, v in point.items())})"
        try:
            scenarios.append(_concrete(base, base_dict, point, where))
        except ScenarioError as exc:
            problems += exc.problems
    if problems:
        raise ScenarioError(_dedupe(problems), source=source)

    seeds = replication_seeds(base.seed, reps)
    keys = []
    for sc in scenarios:
        d = sc.to_dict()
        keys.append(tuple(run_key(d, s) for s in seeds))
    return SweepSpec(base=base, axes=tuple(axes), mode=mode, samples=samples, replications=reps,
                     seed=design_seed, points=tuple(points), scenarios=tuple(scenarios),
                     seeds=tuple(seeds), keys=tuple(keys), source=_path)


def _load_base(ref: Any, base_dir: str | Path | None, problems: list[str]) -> Scenario | None:
    """The base scenario a sweep file names (relative to the sweep file), or None with problems."""
    if not isinstance(ref, str) or not ref:
        problems.append(f"base: got {_short(ref)} (allowed: the path of a scenario file, "
                        "relative to the sweep file)")
        return None
    bp = Path(ref)
    if not bp.is_absolute() and base_dir is not None:
        bp = Path(base_dir) / bp
    try:
        return load_scenario(bp)
    except ScenarioError as exc:
        problems += [f"base: {bp}: {q}" for q in exc.problems]
        return None


def _settings(data: dict[str, Any], problems: list[str]) -> tuple[Any, Any, Any, Any]:
    """mode, replications, samples and seed, each checked (problems appended)."""
    mode = data.get("mode", "grid")
    if mode not in MODES:
        problems.append(f"mode: got {_short(mode)} (allowed: {', '.join(MODES)})")
    reps = data.get("replications", 1)
    if not _is_int(reps) or not 1 <= reps < 2**63:
        problems.append(f"replications: got {_short(reps)} (allowed: an integer >= 1)")
    samples = data.get("samples", 0)
    if not _is_int(samples) or not 0 <= samples < 2**63:
        problems.append(f"samples: got {_short(samples)} (allowed: an integer >= 0)")
    elif mode in ("random", "lhs") and samples < 1:
        problems.append(f"samples: got {samples} with mode = {mode!r} (allowed: an integer >= 1)")
    elif mode == "grid" and samples:
        problems.append(f"samples: got {samples} with mode = 'grid' (allowed: 0; samples are "
                        "for random / lhs)")
    seed = data.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**63):
        problems.append(f"seed: got {_short(seed)} (allowed: an integer in [0, 2**63))")
    return mode, reps, samples, seed


def _concrete(base: Scenario, base_dict: dict[str, Any], point: dict[str, Any], where: str) -> Scenario:
    try:
        data = apply(base_dict, point)
    except KeyError as exc:
        raise ScenarioError([f"{where}: {exc.args[0]}"]) from None
    try:
        return parse_scenario(data, base_dir=base.base_dir, source=where)
    except ScenarioError as exc:
        raise ScenarioError([f"{where}: {q}" for q in _by_name(exc.problems, data)]) from None


def _check_point(base: Scenario, base_dict: dict[str, Any], point: dict[str, Any],
                 where: str) -> list[str]:
    try:
        _concrete(base, base_dict, point, where)
    except ScenarioError as exc:
        return exc.problems
    return []


def _design(axes: Sequence[Axis], mode: str, samples: int, seed: int) -> list[dict[str, Any]]:
    """The points, in a fixed order: a grid varies its last axis fastest."""
    if not axes:
        return [{}]
    if mode == "grid":
        return [dict(zip([a.path for a in axes], combo))
                for combo in itertools.product(*(a.grid_values() for a in axes))]
    rng = np.random.default_rng(np.random.SeedSequence([seed, _DESIGN_TAG]))
    columns: dict[str, list[Any]] = {}
    for axis in axes:
        if mode == "lhs":
            # Latin hypercube: each axis cut into `samples` equal strata, one draw in each,
            # strata paired across axes by independent permutations.
            u = (rng.permutation(samples) + rng.random(samples)) / samples
        else:
            u = rng.random(samples)
        columns[axis.path] = axis.at(u)
    return [{a.path: columns[a.path][i] for a in axes} for i in range(samples)]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite_number(v: Any) -> bool:
    """A number a range can end at: finite, and within the scenario's bound on numbers (a huge
    integer neither converts to a float nor prints)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    return abs(v) <= 1e15 if isinstance(v, int) else math.isfinite(v) and abs(v) <= 1e15


def _plain_value(v: Any) -> bool:
    """What an axis value may hold: JSON data (TOML's dates and times are not), integers in range."""
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain_value(x) for k, x in v.items())
    if isinstance(v, list):
        return all(_plain_value(x) for x in v)
    if isinstance(v, int) and not isinstance(v, bool):
        return -2**63 <= v < 2**63
    return v is None or isinstance(v, bool | float | str)


def axis_size(axis: Axis, mode: str, samples: int) -> int:
    """Values an axis gives, from its definition alone (a ``num = 10**8`` range is never built):
    a list's length, a grid range's ``num`` (at most the integers between its ends)."""
    if mode != "grid":
        return samples
    if axis.values is not None:
        return len(axis.values)
    assert axis.num is not None and axis.low is not None and axis.high is not None
    if axis.integer and not axis.log:
        return min(axis.num, int(axis.high) - int(axis.low) + 1)
    return axis.num


def scenario_file_problem(data: dict[str, Any], source: str = "FILE") -> str | None:
    """A scenario given to ``sweep``: one line saying so, not an unknown-key line per setting."""
    if "workloads" not in data or "axes" in data:
        return None
    return (f"(top level): this is a scenario file (it has workloads): use simcontainer run {source} or "
            "simcontainer check (allowed here: a sweep file with base, axes and optionally replications, "
            "mode, samples, seed)")


def _short(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 100:
        return short_repr(v)
    try:
        text = canonical_json(v) if isinstance(v, dict | list) else repr(v)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _dedupe(problems: list[str]) -> list[str]:
    out = list(dict.fromkeys(problems))
    if len(out) > MAX_LISTED:
        out = out[:MAX_LISTED] + [f"... and {len(out) - MAX_LISTED} more"]
    return out
