"""Loading a scenario: cross-references against the catalogue, presets, trace files, warm
figures; then parse / load / dump / save. The models themselves are in
:mod:`simcontainer.scenario.schema`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from simcontainer.scenario.errors import ScenarioError, format_validation_error
from simcontainer.scenario.profiles import Catalogue, default_catalogue, figures, resolve_images
from simcontainer.scenario.schema import AzureArrival, Scenario, TraceArrival, resolve_path
from simcontainer.scenario.workload import TraceError, read_azure, read_trace, request_bound

# --------------------------------------------------------------------------- cross-references


def _expand_host_preset(data: dict[str, Any], catalogue: Catalogue) -> tuple[dict[str, Any], list[str]]:
    """``host = "name"`` or ``[host] preset = "name"`` expands a preset from models/hosts.toml."""
    host = data.get("host")
    preset = host if isinstance(host, str) else host.get("preset") if isinstance(host, dict) else None
    if preset is None:
        return data, []
    if not isinstance(preset, str) or preset not in catalogue.hosts:
        where = "host" if isinstance(host, str) else "host.preset"
        return data, [f"{where}: unknown host preset {preset!r} (allowed: {', '.join(sorted(catalogue.hosts))})"]
    merged = dict(catalogue.hosts[preset])
    if isinstance(host, dict):
        merged.update(host)
    merged["preset"] = preset
    return {**data, "host": merged}, []


def _names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [it["name"] for it in items if isinstance(it, dict) and isinstance(it.get("name"), str)]


def _warm_problems(where: str, w: dict[str, Any], warm: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """A ``warm`` table needs the plain ``docker run`` lifecycle, and a snapshot start needs restore
    figures for its runtime (models/warm.toml)."""

    out = []
    full = [k for k, plain in (("stop_grace_s", None), ("sigterm", "exit"), ("shutdown_s", 0), ("restart", None),
                               ("time_to_failure", None), ("pull_error_rate", 0))
            if w.get(k, plain) not in (plain, "no" if k == "restart" else plain)]
    full += [k for k in ("faults", "actions") if data.get(k)]
    daemon = data.get("daemon") if isinstance(data.get("daemon"), dict) else {}
    if daemon.get("preemption") is True:           # victims stop through the full lifecycle
        full.append("daemon.preemption")
    if daemon.get("admission") == "none":          # the memory model's OOM kills need it
        full.append('daemon.admission = "none"')
    if full:
        out.append(f"{where}.warm: warm paths run only with a plain docker run lifecycle, but {', '.join(full)} "
                   "asks for the full one (allowed: warm without restart policy, crashes, grace period, "
                   "SIGTERM behaviour, pull errors, faults or actions)")
    rt = w.get("runtime")
    if warm.get("start") == "snapshot" and isinstance(rt, str) and rt not in figures()[1]:
        out.append(f"{where}.warm.start: \"snapshot\" has no restore figures for runtime {rt!r} "
                   f"(allowed: {', '.join(sorted(figures()[1]))}; models/warm.toml)")
    return out


def check_references(data: dict[str, Any], catalogue: Catalogue, base_dir: str | None) -> list[str]:
    """Problems with names that point elsewhere (runtimes, images, presets, trace files).

    Works on the raw data so that these problems are listed together with field errors.
    """
    problems: list[str] = []
    workloads = data.get("workloads") if isinstance(data.get("workloads"), list) else []
    names = _names(workloads)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"workloads: name {dup!r} is used twice (allowed: unique names)")
    inline_rt = _names(data.get("runtimes"))
    for dup in sorted({n for n in inline_rt if inline_rt.count(n) > 1}):
        problems.append(f"runtimes: name {dup!r} is defined twice (allowed: unique names)")
    rt_kinds = {name: rt.kind for name, rt in catalogue.runtimes.items()}
    for it in data.get("runtimes") if isinstance(data.get("runtimes"), list) else []:
        if isinstance(it, dict) and isinstance(it.get("name"), str):
            rt_kinds[it["name"]] = it.get("kind")
    rootfs = {name: rt.rootfs_guest for name, rt in catalogue.runtimes.items()}
    for it in data.get("runtimes") or []:
        if isinstance(it, dict) and isinstance(it.get("name"), str):
            rootfs[it["name"]] = it.get("rootfs_guest")
    img_kinds = {name: img.kind for name, img in catalogue.images.items()}
    for it in data.get("images") if isinstance(data.get("images"), list) else []:
        if isinstance(it, dict) and isinstance(it.get("name"), str):
            img_kinds[it["name"]] = it.get("kind", "container")
    planes = set(catalogue.control_planes) | set(_names(data.get("control_planes")))
    for i, w in enumerate(workloads):
        if not isinstance(w, dict):
            continue
        where = f"workloads[{i}]"
        # A list or table where a name belongs is a field error (reported by the schema); here
        # it is no name at all.
        rt = w.get("runtime") if isinstance(w.get("runtime"), str) else None
        img = w.get("image") if isinstance(w.get("image"), str) else None
        if isinstance(rt, str) and rt not in rt_kinds:
            problems.append(f"{where}.runtime: unknown runtime {rt!r} (allowed: {', '.join(sorted(rt_kinds))})")
        cp = w.get("control_plane")
        if isinstance(cp, str) and cp not in planes:
            problems.append(f"{where}.control_plane: unknown control plane {cp!r} "
                            f"(allowed: {', '.join(sorted(planes))})")
        if isinstance(img, str) and img not in img_kinds:
            sample = ", ".join(sorted(img_kinds)[:8])
            problems.append(
                f"{where}.image: unknown image {img!r} (allowed: a name from models/images.toml "
                f"or an inline [[images]] entry, e.g. {sample}, ...)"
            )
        if rt_kinds.get(rt) == "vm" and img_kinds.get(img) == "container" and not rootfs.get(rt):
            problems.append(
                f"{where}.image: {img!r} is a container image but VM runtime {rt!r} states no conversion "
                "(allowed: a VM image, or a runtime with rootfs_guest naming the VM image a container "
                "image boots like once converted into a rootfs)"
            )
        if rt_kinds.get(rt) == "container" and img_kinds.get(img) == "vm":
            problems.append(
                f"{where}.image: {img!r} is a VM disk image but runtime {rt!r} runs containers "
                "(allowed: a container image)"
            )
        mem, guest = w.get("mem_mib"), w.get("guest_mem_mib")
        if (rt_kinds.get(rt) == "vm" and isinstance(mem, int | float) and isinstance(guest, int | float)
                and guest < mem):
            problems.append(
                f"{where}.guest_mem_mib: {guest} is less than mem_mib {mem} "
                "(allowed: guest_mem_mib >= mem_mib; the app lives inside the guest)"
            )
        arrival = w.get("arrival")
        if isinstance(arrival, dict) and arrival.get("kind") in ("trace", "azure") \
                and isinstance(arrival.get("path"), str):
            path = resolve_path(arrival["path"], base_dir)
            if not path.is_file():
                problems.append(
                    f"{where}.arrival.path: trace file {str(path)!r} not found (allowed: a readable CSV file)"
                )
        warm = w.get("warm")
        if isinstance(warm, dict):
            problems += _warm_problems(where, w, warm, data)
    actions = data.get("actions")
    for j, act in enumerate(actions if isinstance(actions, list) else []):
        if isinstance(act, dict) and isinstance(act.get("workload"), str) and act["workload"] not in names:
            problems.append(f"actions[{j}].workload: unknown workload {act['workload']!r} (allowed: {', '.join(names)})")
    faults = data.get("faults")
    for j, f in enumerate(faults if isinstance(faults, list) else []):
        if isinstance(f, dict) and isinstance(f.get("workload"), str) and f["workload"] not in names:
            problems.append(f"faults[{j}].workload: unknown workload {f['workload']!r} (allowed: {', '.join(names)})")
    daemon = data.get("daemon") if isinstance(data.get("daemon"), dict) else {}
    prepull = daemon.get("prepull")
    for j, name in enumerate(prepull if isinstance(prepull, list) else []):
        if isinstance(name, str) and name not in img_kinds:
            sample = ", ".join(sorted(img_kinds)[:8])
            problems.append(f"daemon.prepull[{j}]: unknown image {name!r} (allowed: a name from "
                            f"models/images.toml or an inline [[images]] entry, e.g. {sample}, ...)")
    if isinstance(prepull, str):
        problems.append(f"daemon.prepull: got {prepull!r} (allowed: a list of image names, "
                        f"e.g. [{prepull!r}])")
    # One layer id is one layer: its sizes must agree wherever it appears.
    seen: dict[str, tuple[Any, Any, str]] = {
        layer.id: (layer.download_mib, layer.disk_mib, name)
        for name, img in catalogue.images.items() for layer in img.layers
    }
    for k, it in enumerate(data.get("images") if isinstance(data.get("images"), list) else []):
        if not isinstance(it, dict) or not isinstance(it.get("layers"), list):
            continue
        for layer in it["layers"]:
            if not isinstance(layer, dict) or not isinstance(layer.get("id"), str):
                continue
            sizes = (layer.get("download_mib"), layer.get("disk_mib"))
            first = seen.setdefault(layer["id"], (*sizes, str(it.get("name"))))
            if first[:2] != sizes:
                problems.append(
                    f"images[{k}].layers: layer {layer['id']!r} has sizes {sizes} here but {first[:2]} in "
                    f"{first[2]!r} (allowed: one layer id, one size)"
                )
    return problems


def check_static(scenario: Scenario, catalogue: Catalogue) -> list[str]:
    """What a valid-looking scenario still cannot do, found before any run: trace files that do
    not parse, image bases that loop or are unknown, prepulled images larger than the host disk,
    and scripted actions aimed at a request that can never exist."""

    problems: list[str] = []
    images = dict(catalogue.images)
    if scenario.images:
        try:
            images.update(resolve_images([i.model_dump() for i in scenario.images], known=catalogue.images))
        except ScenarioError as exc:
            problems += exc.problems
    bad_trace: set[str] = set()
    for i, w in enumerate(scenario.workloads):
        if isinstance(w.arrival, TraceArrival):
            try:
                read_trace(resolve_path(w.arrival.path, scenario.base_dir), w.name)
            except TraceError as exc:
                problems.append(f"workloads[{i}].arrival.path: {exc}")
                bad_trace.add(w.name)
        elif isinstance(w.arrival, AzureArrival):
            try:
                read_azure(resolve_path(w.arrival.path, scenario.base_dir), w.arrival.function)
            except TraceError as exc:
                problems.append(f"workloads[{i}].arrival.path: {exc}")
                bad_trace.add(w.name)
    # Prepulled images occupy the disk before anything runs: every distinct layer once.
    layers: dict[str, float] = {}
    for name in scenario.daemon.prepull:
        img = images.get(name)
        if img is None:
            continue
        if img.kind == "vm":
            layers[f"vm:{name}"] = img.disk_mib or 0.0
        for layer in img.layers:
            layers[layer.id] = layer.disk_mib
    need, disk = sum(layers.values()), scenario.host.disk_gib * 1024.0
    if need > disk:
        problems.append(f"daemon.prepull: the prepulled images need {need:,.0f} MiB of disk but the host "
                        f"has {disk:,.0f} MiB (allowed: images that fit host.disk_gib)")
    by_name = {w.name: w for w in scenario.workloads}
    for j, act in enumerate(scenario.actions):
        w = by_name.get(act.workload)
        if w is None or w.name in bad_trace:
            continue
        # each scripted create before it makes one more instance of the workload
        bound = request_bound(w, scenario) + sum(1 for i, a in enumerate(scenario.actions)
                                                 if a.op == "create" and a.workload == w.name
                                                 and (a.at_s, i) < (act.at_s, j))
        if act.instance >= bound and act.op != "create":
            allowed = f"0..{int(bound) - 1}" if bound >= 1 else "none: it makes no request"
            problems.append(f"actions[{j}].instance: {act.instance} can never exist: workload {w.name!r} "
                            f"makes at most {int(bound)} request{'s' if bound != 1 else ''} "
                            f"(allowed: {allowed})")
    for j, f in enumerate(scenario.faults):
        if f.host >= scenario.host.count:
            problems.append(f"faults[{j}].host: host {f.host} does not exist "
                            f"(allowed: 0..{scenario.host.count - 1})")
    return problems




def parse_scenario(data: dict[str, Any], *, base_dir: str | Path | None = None,
                   catalogue: Catalogue | None = None, source: str = "scenario") -> Scenario:
    """Validate plain data into a :class:`Scenario`; raise :class:`ScenarioError` listing every problem."""

    catalogue = catalogue or default_catalogue()
    if not isinstance(data, dict):
        raise ScenarioError([f"expected a table of settings, got {type(data).__name__}"], source=source)
    base = str(base_dir) if base_dir is not None else data.get("base_dir")
    data, problems = _expand_host_preset(data, catalogue)
    problems += check_references(data, catalogue, base)
    scenario = None
    try:
        scenario = Scenario.model_validate({**data, "base_dir": base})
    except ValidationError as exc:
        # A field a reference check has already explained needs no second, vaguer line.
        explained = {p.split(":", 1)[0] for p in problems}
        problems = [p for p in format_validation_error(exc, Scenario) if p.split(":", 1)[0] not in explained] + problems
    if scenario is not None and not problems:
        problems = check_static(scenario, catalogue)
    if problems:
        raise ScenarioError(problems, source=source)
    assert scenario is not None
    return scenario


def loads_scenario(text: str, *, base_dir: str | Path | None = None,
                   catalogue: Catalogue | None = None, source: str = "scenario") -> Scenario:
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"malformed TOML: {exc}"], source=source) from None
    return parse_scenario(data, base_dir=base_dir, catalogue=catalogue, source=source)


def load_scenario(path: str | Path, *, catalogue: Catalogue | None = None) -> Scenario:
    """Read and validate a scenario file. Raises :class:`ScenarioError` on any problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScenarioError([f"cannot read file: {exc.strerror or exc}"], source=str(p)) from None
    try:
        text = raw.decode("utf-8-sig")   # a byte-order mark (Windows editors) is not content
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"not UTF-8 text: {exc}"], source=str(p)) from None
    return loads_scenario(text, base_dir=p.resolve().parent, catalogue=catalogue, source=str(p))


def dumps_scenario(scenario: Scenario) -> str:
    return tomli_w.dumps(_toml_ready(scenario.to_dict()))


def save_scenario(scenario: Scenario, path: str | Path) -> None:
    Path(path).write_text(dumps_scenario(scenario), encoding="utf-8")


def _toml_ready(obj: Any) -> Any:
    """TOML has no null and wants tables after values; drop Nones and empty tables of defaults."""
    if isinstance(obj, dict):
        return {k: _toml_ready(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_toml_ready(v) for v in obj]
    return obj

