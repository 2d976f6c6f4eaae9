"""The catalogue: runtime profiles, images and host presets read from ``models/``.

A :class:`Catalogue` is plain data; the default one is loaded once from the repository's
``models/`` folder (or the copy packed into a wheel, or ``$SIMCONTAINER_MODELS``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, model_validator

from simcontainer.scenario.catalogue import ControlPlaneProfile, ImageSpec, RuntimeProfile
from simcontainer.scenario.errors import ScenarioError, format_validation_error
from simcontainer.scenario.fields import Int, Model, Name, NonNeg, Positive
from simcontainer.scenario.schema import use_catalogue

M = TypeVar("M", bound=BaseModel)


def models_dir() -> Path:
    """Where the shipped models live."""
    env = os.environ.get("SIMCONTAINER_MODELS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent     # the package: simcontainer/
    for candidate in (here.parent / "models", here / "_models"):    # a checkout, a wheel
        if (candidate / "runtimes").is_dir():
            return candidate
    raise FileNotFoundError(f"no models/ folder next to {here} (set SIMCONTAINER_MODELS)")


@dataclass(frozen=True)
class Catalogue:
    runtimes: dict[str, RuntimeProfile] = field(default_factory=dict)
    control_planes: dict[str, ControlPlaneProfile] = field(default_factory=dict)
    images: dict[str, ImageSpec] = field(default_factory=dict)     # layers resolved
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"malformed TOML: {exc}"], source=str(path)) from None


def _load_profile(path: Path, model: type[M]) -> M:
    """One profile file validated as ``model``; its problems name the file."""
    data = _read_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, model), source=str(path)) from None


def load_runtime(path: Path) -> RuntimeProfile:
    return _load_profile(path, RuntimeProfile)


def load_control_plane(path: Path) -> ControlPlaneProfile:
    return _load_profile(path, ControlPlaneProfile)


def resolve_control_planes(entries: list[Any], known: dict[str, Any],
                           source: str = "control_planes") -> dict[str, Any]:
    """Known control planes plus ``entries`` (profiles), each inline ``base`` filled in: an entry
    takes every field it does not set from its base (a known or an earlier inline profile)."""
    out = dict(known)
    problems: list[str] = []
    for k, cp in enumerate(entries):
        if cp.base is not None:
            base = out.get(cp.base)
            if base is None:
                problems.append(f"control_planes[{k}].base: unknown control plane {cp.base!r} "
                                f"(allowed: {', '.join(sorted(out))})")
                continue
            update = {f: getattr(cp, f) for f in cp.model_fields_set if f not in ("base",)}
            cp = base.model_copy(update={**update, "base": None})
        if cp.kind is None:
            problems.append(f"control_planes[{k}]: {cp.name!r} needs a kind or a base "
                            "(allowed kinds: dockerd, kubelet, libvirt, firecracker, direct)")
            continue
        out[cp.name] = cp
    if problems:
        raise ScenarioError(problems, source=source)
    return out


def resolve_images(entries: list[dict[str, Any]], known: dict[str, Any] | None = None,
                   source: str = "images") -> dict[str, Any]:
    """Validate image entries and expand ``base = "..."`` into the full chain of layers.

    A base may be another entry or a ``known`` image; a chain that loops, or ends in a name that
    is neither, is a problem named by the entry's index (``images[2].base: ...``).
    """
    known = dict(known or {})
    index = {e["name"]: k for k, e in enumerate(entries)
             if isinstance(e, dict) and isinstance(e.get("name"), str)}
    out: dict[str, Any] = {}
    failed: set[str] = set()
    problems: list[str] = []

    def build(name: str, chain: tuple[str, ...]) -> Any:
        if name in out or name in failed:
            return out.get(name)
        if name in chain:
            loop = " -> ".join(chain[chain.index(name):] + (name,))
            problems.append(f"images[{index[name]}].base: {name!r} is its own base ({loop}) "
                            "(allowed: a chain of bases that ends in an image with layers)")
            failed.update(chain[chain.index(name):])
            return None
        if name not in index:
            return known.get(name)
        k = index[name]
        try:
            spec = ImageSpec.model_validate(entries[k])
        except ValidationError as exc:
            problems.extend(f"images[{k}].{line}" for line in format_validation_error(exc, ImageSpec))
            failed.add(name)
            return None
        if spec.base is not None:
            base = build(spec.base, chain + (name,))
            if name in failed:          # part of a loop, already said
                return None
            if base is None or base.kind != "container":
                if spec.base not in failed:
                    what = "a VM disk image" if base is not None else "an unknown image"
                    problems.append(f"images[{k}].base: {spec.base!r} is {what} (allowed: a container "
                                    "image from models/images.toml or an inline [[images]] entry)")
                failed.add(name)
                return None
            spec = spec.model_copy(update={"layers": list(base.layers) + list(spec.layers), "base": None})
        out[name] = spec
        return spec

    for name in index:
        build(name, ())
    if problems:
        raise ScenarioError(problems, source=source)
    return out


@lru_cache(maxsize=8)
def load_catalogue(directory: str | None = None) -> Catalogue:
    root = Path(directory) if directory else models_dir()
    runtimes = {}
    for path in sorted((root / "runtimes").glob("*.toml")):
        rt = load_runtime(path)
        runtimes[rt.name] = rt
    planes = {}
    for path in sorted((root / "control-planes").glob("*.toml")):
        cp = load_control_plane(path)
        planes[cp.name] = cp
    images_path = root / "images.toml"
    images = resolve_images(_read_toml(images_path).get("images", []), source=str(images_path)) \
        if images_path.exists() else {}
    hosts_path = root / "hosts.toml"
    hosts = _read_toml(hosts_path).get("hosts", {}) if hosts_path.exists() else {}
    return Catalogue(runtimes=runtimes, control_planes=planes, images=images, hosts=hosts)


def default_catalogue() -> Catalogue:
    return load_catalogue(None)


WARM_TOML = "warm.toml"     # in models_dir()


def _row_as_tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v     # TOML gives a row as a list


# a row of a load table: vCPUs, guest MiB, milliseconds
LoadRow = Annotated[tuple[Annotated[Int, Field(ge=1, le=4096)], Positive, Positive], BeforeValidator(_row_as_tuple)]


class RestoreFigures(Model):
    """One runtime's restore figures as ``models/warm.toml`` writes them (``[restore.NAME]``),
    validated so that a bad value is refused with the field, the value and what is allowed."""

    how: Literal["snapshot", "criu"]
    load_s: NonNeg
    # the configuration ``load_s`` was measured at (a microVM's vCPUs and guest MiB); the
    # ``ci_load_ms`` table scales it to other configurations
    load_vcpus: Annotated[Int, Field(ge=1, le=4096)] = 1
    load_mem_mib: Positive = 128.0
    mem_rate_mib_s: NonNeg = 0.0
    fault_us: NonNeg = 0.0
    app_touch_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    ci_load_ms: Annotated[list[LoadRow], Field(min_length=1)] | None = None
    fitted_to: dict[str, list[str]] = {}
    sources: Annotated[list[Name], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_factor_rows(self) -> RestoreFigures:
        """The load table varies one factor at a time from its base row (1 vCPU, its smallest
        guest memory): rows with 1 vCPU vary memory, rows at the base memory vary vCPUs."""
        if self.ci_load_ms is None:
            return self
        one = [r for r in self.ci_load_ms if r[0] == 1]
        if not one:
            raise ValueError(f"ci_load_ms: got {_rows(self.ci_load_ms)}, no row with 1 vCPU (allowed: rows "
                             "[vCPUs, guest MiB, ms] with a base row of 1 vCPU at the smallest guest MiB)")
        base = min(r[1] for r in one)
        off = [r for r in self.ci_load_ms if r[0] != 1 and r[1] != base]
        if off:
            raise ValueError(f"ci_load_ms: got {_rows(off)}, off both axes (allowed: rows that vary one "
                             f"factor: 1 vCPU at any guest MiB, or any vCPUs at {base:g} MiB)")
        base_ms = min(r[2] for r in one if r[1] == base)
        faster = [r for r in self.ci_load_ms if r[2] < base_ms]
        if faster:       # the added effects would go below zero for a large enough table
            raise ValueError(f"ci_load_ms: got {_rows(faster)}, faster than the base row [1, {base:g}, "
                             f"{base_ms:g}] (allowed: no configuration restores faster than the smallest)")
        return self


def _rows(rows: list[tuple[int, float, float]]) -> str:
    return ", ".join(f"[{v}, {m:g}, {t:g}]" for v, m, t in rows)


@dataclass(frozen=True)
class Restore:
    """One runtime's restore (:class:`RestoreFigures`, resolved): ``load_s`` at its measured
    configuration (``load_vcpus`` / ``load_mem_mib``), grown with vCPUs and memory as the
    ``ci_load_ms`` table grows (simcontainer.model.host.restore_s), plus memory read at
    ``mem_rate_mib_s`` (0: not read at load); then, for a lazy restore, page faults over
    ``app_touch_fraction`` of the app's working set at ``fault_us`` each while it runs."""

    runtime: str
    how: str                    # "snapshot" (a VM's) or "criu" (a container's)
    load_s: float
    mem_rate_mib_s: float
    fault_us: float
    sources: tuple[str, ...]
    load_vcpus: int = 1
    load_mem_mib: float = 128.0
    app_touch_fraction: float = 0.0
    ci_load_ms: tuple[tuple[int, float, float], ...] = ()


class WarmFigures(Model):
    """``models/warm.toml``."""

    warm_start_s: NonNeg
    restore: dict[Name, RestoreFigures]


@cache
def figures() -> tuple[float, dict[str, Restore]]:
    """(warm start seconds, restore figures per runtime name) from ``models/warm.toml``; a bad
    value is a ScenarioError naming the file, the field, the value and what is allowed."""
    path = models_dir() / WARM_TOML
    data = _read_toml(path)
    try:
        warm = WarmFigures.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, WarmFigures), source=str(path)) from None
    table = {name: Restore(name, r.how, r.load_s, r.mem_rate_mib_s, r.fault_us, tuple(r.sources),
                           r.load_vcpus, r.load_mem_mib, r.app_touch_fraction,
                           tuple(tuple(row) for row in r.ci_load_ms or ()))
             for name, r in warm.restore.items()}
    return warm.warm_start_s, table


def restore_for(runtime: str) -> Restore | None:
    return figures()[1].get(runtime)


def split_runtime(name: str) -> tuple[str, str | None]:
    """``"runc@kubelet"`` -> ``("runc", "kubelet")``: a runtime behind a chosen control plane
    (``compare`` can put the same runtime behind two); a plain name keeps its default plane."""
    rt, _, plane = name.partition("@")
    return rt, plane or None


# The phases a start passes through, by what a published figure's clock timed: "end to end"
# (request to running: the runtime's API, create and boot, its control plane's API, sandbox and
# network setup, a VM image's guest boot), "runtime" (create and boot), "create", "boot".
START_SCOPES = {"end to end": ("api", "create", "boot"), "runtime": ("create", "boot"),
                "runtime+stop": ("create", "boot"), "create": ("create",), "boot": ("boot",)}


def start_phases(rt: RuntimeProfile, catalogue: Catalogue, scope: str = "end to end", round_trip: bool = False,
                 image: str | None = None) -> list[Any]:
    """The phases an idle start at ``scope`` passes through (with the stop and the plane's
    teardown for a round trip), the VM image's guest boot included: one list for `simcontainer
    profiles` and the fidelity report alike (sum them with studies.theory.idle_start)."""
    phases = [getattr(rt, name) for name in START_SCOPES[scope]]
    plane = catalogue.control_planes.get(rt.control_plane or "") if scope == "end to end" else None
    if plane is not None:
        phases += [plane.api, plane.sandbox, plane.network]
    if round_trip or scope == "runtime+stop":
        phases.append(rt.stop)
        if plane is not None:
            phases.append(plane.teardown)
    img = catalogue.images.get(image or rt.default_image or "") if rt.kind == "vm" else None
    guest = img.guest_boot if img is not None else None
    if guest is not None and "boot" in START_SCOPES[scope]:
        phases.append(guest)
    return phases


use_catalogue(default_catalogue, resolve_control_planes)
