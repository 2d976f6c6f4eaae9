"""The published figures the fidelity report compares the model with, and which of them it is fitted to.

Every figure lives in ``models/published.toml`` with its source and the conditions it was measured
under; nothing here types a number. A parameter fitted to a figure names the figure's source in its
file's ``fitted_to`` table (runtime and control-plane profiles, ``images.toml``, ``warm.toml``) or,
for a constant in the code, in ``[fitted_in_code]`` of ``published.toml``. A figure whose source
some parameter is fitted to is *calibration*: the report shows its ratio and no verdict. The others
are *validation*: a verdict against the tolerances below, fixed before any result is seen.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from simcontainer.scenario.profiles import START_SCOPES, Catalogue, default_catalogue, models_dir

# Validation verdicts (fixed in code, never tuned to a result): the factor by which the simulated
# figure lies outside the published one (1 inside a range or bound). Within CLOSE it is "close",
# within INSIDE "inside 2x", beyond it "outside 2x".
CLOSE = 1.25
INSIDE = 2.0

UNIT_MIB = {"MiB": 1.0, "MB": 1e6 / 2**20, "KiB": 1 / 1024}
EXPERIMENTS = ("start", "memory", "burst", "pull", "rate")
SCOPES = START_SCOPES      # what a figure's clock timed (scenario.profiles)


@dataclass(frozen=True)
class Source:
    id: str
    cite: str
    url: str
    tag: str

    @property
    def label(self) -> str:
        return f"{self.cite} [{self.tag}]"


@dataclass(frozen=True)
class Figure:
    """One published figure, in base units (s, MiB, a share, or microVMs per core-second): a value
    (``low == high``), a range, or a bound (``low == 0``)."""

    id: str
    source: str
    runtime: str
    experiment: str
    what: str
    conditions: str
    low: float
    high: float
    shown: str                   # the figure as published (its own unit, before dividing by ``per``)
    unit: str = "s"
    per: float = 1.0
    scope: str = "end to end"
    until: str = "running"
    statistic: str = "median"
    host: str | None = None
    plane: str | None = None
    background: int = 0
    key: str | None = None
    image: str | None = None     # another image than the runtime's (experiments.image_for)
    primary: bool = False
    proxy: bool = False

    @property
    def is_bound(self) -> bool:
        return self.low == 0 and self.high > 0

    @property
    def reference(self) -> float:
        """What a ratio divides by: the value, a bound's limit, or a range's geometric middle."""
        if self.low == self.high or self.is_bound:
            return self.high
        return math.sqrt(self.low * self.high)

    def ratio(self, model: float) -> float:
        return model / self.reference

    def outside_by(self, model: float) -> float:
        """The factor by which ``model`` lies outside the figure (1.0: inside its range or bound)."""
        if model > self.high:
            return model / self.high
        if model < self.low:
            return self.low / model if model > 0 else math.inf
        return 1.0


def verdict(fig: Figure, model: float) -> str:
    """A validation verdict with the fixed tolerances: close, inside 2x or outside 2x."""
    off = fig.outside_by(model)
    if off <= CLOSE:
        return "close"
    return "inside 2x" if off <= INSIDE else "outside 2x"


@dataclass(frozen=True)
class Published:
    sources: dict[str, Source]
    figures: list[Figure]
    hosts: dict[str, dict[str, Any]]
    fitted_in_code: dict[str, list[str]] = field(default_factory=dict)

    def figure(self, fid: str) -> Figure:
        return next(f for f in self.figures if f.id == fid)


def published_path() -> Path:
    return models_dir() / "published.toml"


def _span(entry: dict[str, Any], values: dict[str, float]) -> tuple[float, float, str]:
    """(low, high, shown) of one entry, in its own unit before ``per``."""
    unit = entry.get("unit", "s")
    if "derived_from" in entry:
        v = sum(c * values[i] for i, c in entry["derived_from"].items())
        return v, v, f"{v:.4g} {unit} (derived)"
    if "max" in entry:
        return 0.0, float(entry["max"]), f"<= {entry['max']:g} {unit}"
    if "value" in entry:
        v = float(entry["value"])
        return v, v, f"{v:,g} {unit}"
    return float(entry["low"]), float(entry["high"]), f"{entry['low']:g}-{entry['high']:g} {unit}"


def _base(lo: float, hi: float, unit: str, per: float) -> tuple[float, float, str]:
    """The span in base units: seconds (a rate of runs is inverted), MiB, a share or a rate."""
    if unit == "iter/s":
        return 1.0 / hi, 1.0 / lo, "s"
    if unit in UNIT_MIB:
        return lo * UNIT_MIB[unit], hi * UNIT_MIB[unit], "MiB"
    return lo / per, hi / per, unit


def parse_published(data: dict[str, Any]) -> Published:
    sources = {sid: Source(sid, s["cite"], s["url"], s["tag"]) for sid, s in data["sources"].items()}
    figures: list[Figure] = []
    values: dict[str, float] = {}         # each figure's value in seconds, for derived figures
    for e in data["figures"]:
        if e["source"] not in sources:
            raise ValueError(f"published.toml: figure {e['id']!r}: unknown source {e['source']!r} "
                             f"(allowed: {', '.join(sorted(sources))})")
        if e["experiment"] not in EXPERIMENTS:
            raise ValueError(f"published.toml: figure {e['id']!r}: experiment {e['experiment']!r} "
                             f"(allowed: {', '.join(EXPERIMENTS)})")
        per = float(e.get("per", 1.0))
        lo, hi, shown = _span(e, values)
        low, high, unit = _base(lo, hi, e.get("unit", "s"), per)
        if per != 1:
            shown += f" / {per:g}"
        values[e["id"]] = high if low == high else math.sqrt(low * high)
        extra = {k: e[k] for k in ("scope", "until", "statistic", "host", "plane", "background", "key",
                                   "image", "primary", "proxy") if k in e}
        figures.append(Figure(e["id"], e["source"], e["runtime"], e["experiment"], e["what"], e["conditions"],
                              low, high, shown, unit=unit, per=per, **extra))
    return Published(sources, figures, data.get("hosts", {}), data.get("fitted_in_code", {}))


@cache
def load_published(path: str | None = None) -> Published:
    with open(path or published_path(), "rb") as fh:
        return parse_published(tomllib.load(fh))


def _warm_fitted(root: Path) -> dict[str, list[str]]:
    with open(root / "warm.toml", "rb") as fh:
        data = tomllib.load(fh)
    return {f"restore.{name}.{key}": ids for name, r in data.get("restore", {}).items()
            for key, ids in r.get("fitted_to", {}).items()}


def fitted_parameters(cat: Catalogue | None = None, pub: Published | None = None) -> dict[str, list[str]]:
    """Source id -> the parameters fitted to it (``"runtimes/kata.toml create.median_s"``)."""
    cat = cat or default_catalogue()
    pub = pub or load_published()
    out: dict[str, list[str]] = {}

    def add(where: str, fitted: dict[str, list[str]]) -> None:
        for key, ids in fitted.items():
            for sid in ids:
                out.setdefault(sid, []).append(f"{where} {key}")

    for name, rt in sorted(cat.runtimes.items()):
        add(f"runtimes/{name}.toml", rt.fitted_to)
    for name, cp in sorted(cat.control_planes.items()):
        add(f"control-planes/{name}.toml", cp.fitted_to)
    for name, im in sorted(cat.images.items()):
        add(f"images.toml {name}", im.fitted_to)
    add("warm.toml", _warm_fitted(models_dir()))
    add("code", pub.fitted_in_code)
    return out


def is_calibration(fig: Figure, fitted: dict[str, list[str]]) -> bool:
    return fig.source in fitted


def split(pub: Published, fitted: dict[str, list[str]]) -> tuple[list[Figure], list[Figure]]:
    """(calibration, validation): the figures whose source a parameter is fitted to, and the rest."""
    cal = [f for f in pub.figures if is_calibration(f, fitted)]
    val = [f for f in pub.figures if not is_calibration(f, fitted)]
    return cal, val
