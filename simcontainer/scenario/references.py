"""Checks across fields and files, run on a scenario before anything runs: names that point
elsewhere (runtimes, control planes and the runtime/plane pairs they make, images, host presets,
trace files, workloads), inline control planes and their bases, prepulled images larger than the
disk, scripted actions aimed at requests that never exist; and what one instance needs of a host
(``check`` refuses an instance larger than a whole host: simcontainer.engine.guard.check_scenario).

Each problem is one line ``path: what is wrong (allowed: ...)``, with "did you mean" where a name
is close to a known one. This module works on plain data and on the schema's objects by their
attributes: it imports only the errors (the schema imports it), and the catalogue, trace readers
and warm figures inside the functions that need them at run time, as the schema does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from simcontainer.scenario.errors import ScenarioError, did_you_mean, short_repr
from simcontainer.scenario.profiles import figures, resolve_images
from simcontainer.scenario.schema import resolve_path
from simcontainer.scenario.workload import TraceError, read_azure, read_trace, request_bound

if TYPE_CHECKING:
    from simcontainer.scenario.catalogue import ImageSpec, RuntimeProfile
    from simcontainer.scenario.profiles import Catalogue
    from simcontainer.scenario.schema import Host, Scenario, Workload


def expand_host_preset(data: dict[str, Any], catalogue: Catalogue) -> tuple[dict[str, Any], list[str]]:
    """``host = "name"`` or ``[host] preset = "name"`` expands a preset from models/hosts.toml."""
    host = data.get("host")
    preset = host if isinstance(host, str) else host.get("preset") if isinstance(host, dict) else None
    if preset is None:
        return data, []
    if not isinstance(preset, str) or preset not in catalogue.hosts:
        where = "host" if isinstance(host, str) else "host.preset"
        return data, [f"{where}: unknown host preset {short_repr(preset)} (allowed: {', '.join(sorted(catalogue.hosts))})"
                      f"{did_you_mean(preset, catalogue.hosts)}"]
    merged = dict(catalogue.hosts[preset])
    if isinstance(host, dict):
        merged.update(host)
    merged["preset"] = preset
    return {**data, "host": merged}, []


def _names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [it["name"] for it in items if isinstance(it, dict) and isinstance(it.get("name"), str)]


def _trace_path_problems(where: str, path: Path) -> list[str]:
    """A trace path that is no file, or that the system refuses to look at (a name over 255
    characters: ``File name too long``), as one line instead of a traceback."""
    try:
        if path.is_file():
            return []
    except OSError as exc:
        return [f"{where}: {short_repr(str(path), 80)} cannot be opened: {exc.strerror or exc} "
                "(allowed: a readable CSV file; file and folder names of at most 255 characters)"]
    return [f"{where}: trace file {str(path)!r} not found (allowed: a readable CSV file)"]


PLANE_KINDS = ("dockerd", "kubelet", "libvirt", "firecracker", "direct")


def control_plane_kinds(entries: Any, catalogue: Catalogue) -> tuple[dict[str, str], list[str]]:
    """The kind of every control plane (the catalogue's, then inline ones through their ``base``
    chains, as :func:`simcontainer.scenario.profiles.resolve_control_planes` resolves them at run time) and
    the problems with inline entries: no kind and no base, an unknown base, a base defined later,
    a base naming itself, a cycle of bases (named link by link)."""
    kinds = {name: str(cp.kind) for name, cp in catalogue.control_planes.items() if cp.kind}
    problems: list[str] = []
    items = [(k, it) for k, it in enumerate(entries if isinstance(entries, list) else [])
             if isinstance(it, dict) and isinstance(it.get("name"), str)]
    inline = {it["name"]: (k, it.get("base")) for k, it in reversed(items)}   # the first entry per name
    for k, it in items:
        name, base, kind = it["name"], it.get("base"), it.get("kind")
        where = f"control_planes[{k}]"
        if base is None:
            if kind is None:
                problems.append(f"{where}: {name!r} needs a kind or a base (allowed: kind = one of "
                                f"{', '.join(PLANE_KINDS)}, or base = a control plane to start from: "
                                f"{', '.join(sorted(kinds))})")
            elif isinstance(kind, str):
                kinds[name] = kind
            continue
        if not isinstance(base, str):
            continue                                     # a field error, reported by the schema
        if base in kinds:
            kinds[name] = kind if isinstance(kind, str) else kinds[base]
            continue
        problems.append(_base_problem(where, name, base, inline, k, kinds))
    return kinds, problems


def _base_problem(where: str, name: str, base: str, inline: dict[str, tuple[int, Any]], k: int,
                  kinds: dict[str, str]) -> str:
    known = ", ".join(sorted(kinds))
    if base == name:
        return (f"{where}.base: {name!r} names itself as its base (allowed: a control plane to start "
                f"from: {known})")
    chain, cur = [name], base
    while isinstance(cur, str) and cur in inline and cur not in chain and cur not in kinds:
        chain.append(cur)
        cur = inline[cur][1]
    if cur in chain:
        return (f"{where}.base: the bases form a cycle: {' -> '.join([*chain, cur])} (allowed: a chain "
                f"that ends in a control plane with a kind, e.g. {known})")
    if base in inline and inline[base][0] > k:
        return (f"{where}.base: {base!r} is defined later, in control_planes[{inline[base][0]}] "
                f"(allowed: a known control plane or an earlier entry: {known})")
    return f"{where}.base: unknown control plane {base!r} (allowed: {known}){did_you_mean(base, kinds)}"


def runtime_plane_table(entries: Any, catalogue: Catalogue) -> dict[str, tuple[str | None, list[str] | None]]:
    """Per runtime: its default control plane (None: it names none and is driven directly) and
    the kinds of plane that can drive it (None: any)."""
    out = {name: (rt.control_plane, rt.control_planes) for name, rt in catalogue.runtimes.items()}
    for it in entries if isinstance(entries, list) else []:
        if isinstance(it, dict) and isinstance(it.get("name"), str):
            cp, allowed = it.get("control_plane"), it.get("control_planes")
            out[it["name"]] = (cp if isinstance(cp, str) else None,
                               [a for a in allowed if isinstance(a, str)] if isinstance(allowed, list) else None)
    return out


def pair_problem(runtime: str, plane: str | None, runtime_planes: dict[str, tuple[str | None, list[str] | None]],
                 plane_kinds: dict[str, str]) -> str | None:
    """Why ``runtime`` cannot run behind ``plane`` (None: its default), or None if it can. Runtimes
    run under the planes that can drive them: a microVM does not sit behind dockerd unless the
    plane supports it (Kata and gVisor do, through their containerd shims); the pairs are each
    runtime profile's ``control_planes`` (models/runtimes/). A profile that names no plane of its
    own and is asked for none is driven directly, as it says (a runtime measured alone)."""
    default, allowed = runtime_planes.get(runtime, (None, None))
    if plane is None and default is None:
        return None
    name = plane or default or "direct"
    kind = plane_kinds.get(name)
    if allowed is None or kind is None or kind in allowed:
        return None
    what = f"{name!r}" + (f" (a {kind} plane)" if kind != name else "")
    return (f"runtime {runtime!r} does not run under control plane {what} "
            f"(allowed pairs: {', '.join(f'{runtime}@{a}' for a in allowed)})")


def runtime_entry_problems(entries: list[str], scenario: Scenario, catalogue: Catalogue,
                           flag: str = "--runtimes") -> list[str]:
    """``RUNTIME`` or ``RUNTIME@PLANE`` entries (what ``compare`` and ``density`` take): unknown
    runtimes, unknown planes and pairs that do not exist, one line each naming ``flag``."""
    known = scenario.runtime_table(catalogue)
    data = scenario.to_dict()
    kinds, _ = control_plane_kinds(data.get("control_planes"), catalogue)
    runtime_planes = runtime_plane_table(data.get("runtimes"), catalogue)
    out = []
    for entry in entries:
        rt, _, plane = str(entry).partition("@")
        if rt not in known:
            out.append(f"{flag}: unknown runtime {entry!r} (allowed: {', '.join(sorted(known))}, each "
                       f"optionally @ a control plane: {', '.join(sorted(kinds))}){did_you_mean(rt, known)}")
        elif plane and plane not in kinds:
            out.append(f"{flag}: unknown control plane {plane!r} in {entry!r} (allowed: "
                       f"{', '.join(sorted(kinds))}){did_you_mean(plane, kinds)}")
        else:
            why = pair_problem(rt, plane or None, runtime_planes, kinds)
            out += [f"{flag}: {entry!r}: {why}"] if why else []
    return out


def _pair_problems(where: str, rt: str, cp: str | None, runtime_planes: dict[str, tuple[str | None, list[str] | None]],
                   plane_kinds: dict[str, str]) -> list[str]:
    why = pair_problem(rt, cp, runtime_planes, plane_kinds)
    return [] if why is None else [f"{where}.{'control_plane' if cp else 'runtime'}: {why}"]


def _inline_runtime_plane_problems(entries: Any, planes: set[str],
                                   runtime_planes: dict[str, tuple[str | None, list[str] | None]],
                                   plane_kinds: dict[str, str]) -> list[str]:
    """An inline runtime's ``control_plane`` must exist and be one that can drive it."""
    out = []
    for k, it in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(it, dict) or not isinstance(it.get("control_plane"), str):
            continue
        cp = it["control_plane"]
        if cp not in planes:
            out.append(f"runtimes[{k}].control_plane: unknown control plane {cp!r} "
                       f"(allowed: {', '.join(sorted(planes))}){did_you_mean(cp, planes)}")
        elif isinstance(it.get("name"), str):
            why = pair_problem(it["name"], cp, runtime_planes, plane_kinds)
            out += [f"runtimes[{k}].control_plane: {why}"] if why else []
    return out


def _warm_problems(where: str, w: dict[str, Any], warm: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """A snapshot start needs restore figures for its runtime (models/warm.toml). (A warm path is a
    lifecycle part like any other: it goes with restart policies, crashes, grace periods, faults,
    actions and the memory model.)"""
    out = []
    rt = w.get("runtime")
    restores = figures()[1]     # read for every warm path, as a run does: bad figures fail check too
    if warm.get("start") == "snapshot" and isinstance(rt, str) and rt not in restores:
        out.append(f"{where}.warm.start: \"snapshot\" has no restore figures for runtime {rt!r} "
                   f"(allowed: {', '.join(sorted(restores))}; models/warm.toml)")
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
    plane_kinds, plane_problems = control_plane_kinds(data.get("control_planes"), catalogue)
    problems += plane_problems
    runtime_planes = runtime_plane_table(data.get("runtimes"), catalogue)
    problems += _inline_runtime_plane_problems(data.get("runtimes"), planes, runtime_planes, plane_kinds)
    for i, w in enumerate(workloads):
        if not isinstance(w, dict):
            continue
        where = f"workloads[{i}]"
        # A list or table where a name belongs is a field error (reported by the schema); here
        # it is no name at all.
        rt = w.get("runtime") if isinstance(w.get("runtime"), str) else None
        img = w.get("image") if isinstance(w.get("image"), str) else None
        if isinstance(rt, str) and rt not in rt_kinds:
            problems.append(f"{where}.runtime: unknown runtime {rt!r} (allowed: {', '.join(sorted(rt_kinds))})"
                            f"{did_you_mean(rt, rt_kinds)}")
        cp = w.get("control_plane")
        if isinstance(cp, str) and cp not in planes:
            problems.append(f"{where}.control_plane: unknown control plane {cp!r} "
                            f"(allowed: {', '.join(sorted(planes))}){did_you_mean(cp, planes)}")
        elif isinstance(rt, str) and rt in rt_kinds and (cp is None or isinstance(cp, str)):
            problems += _pair_problems(where, rt, cp, runtime_planes, plane_kinds)
        if isinstance(img, str) and img not in img_kinds:
            sample = ", ".join(sorted(img_kinds)[:8])
            problems.append(
                f"{where}.image: unknown image {img!r} (allowed: a name from models/images.toml "
                f"or an inline [[images]] entry, e.g. {sample}, ...){did_you_mean(img, img_kinds)}"
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
            problems += _trace_path_problems(f"{where}.arrival.path", resolve_path(arrival["path"], base_dir))
        warm = w.get("warm")
        if isinstance(warm, dict):
            problems += _warm_problems(where, w, warm, data)
    problems += _pointer_problems(data, names, img_kinds)
    problems += _layer_problems(data, catalogue)
    return problems


def _pointer_problems(data: dict[str, Any], names: list[str], img_kinds: dict[str, Any]) -> list[str]:
    """Scripted actions and faults naming a workload, prepulled images naming an image."""
    problems: list[str] = []
    for key in ("actions", "faults"):
        items = data.get(key)
        for j, it in enumerate(items if isinstance(items, list) else []):
            if isinstance(it, dict) and isinstance(it.get("workload"), str) and it["workload"] not in names:
                problems.append(f"{key}[{j}].workload: unknown workload {it['workload']!r} (allowed: "
                                f"{', '.join(names)}){did_you_mean(it['workload'], names)}")
    daemon = data.get("daemon") if isinstance(data.get("daemon"), dict) else {}
    prepull = daemon.get("prepull")
    for j, name in enumerate(prepull if isinstance(prepull, list) else []):
        if isinstance(name, str) and name not in img_kinds:
            sample = ", ".join(sorted(img_kinds)[:8])
            problems.append(f"daemon.prepull[{j}]: unknown image {name!r} (allowed: a name from "
                            f"models/images.toml or an inline [[images]] entry, e.g. {sample}, ...)"
                            f"{did_you_mean(name, img_kinds)}")
    if isinstance(prepull, str):
        problems.append(f"daemon.prepull: got {prepull!r} (allowed: a list of image names, "
                        f"e.g. [{prepull!r}])")
    return problems


def _layer_problems(data: dict[str, Any], catalogue: Catalogue) -> list[str]:
    """One layer id is one layer: its sizes must agree wherever it appears."""
    problems: list[str] = []
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
        if w.arrival.kind == "trace":
            try:
                read_trace(resolve_path(w.arrival.path, scenario.base_dir), w.name)
            except TraceError as exc:
                problems.append(f"workloads[{i}].arrival.path: {exc}")
                bad_trace.add(w.name)
        elif w.arrival.kind == "azure":
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
    if scenario.control_planes and not problems:
        try:                                  # what the run resolves, resolved here the same way
            scenario.control_plane_table(catalogue)
        except ScenarioError as exc:
            problems += exc.problems
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


def _image_disk_mib(img: ImageSpec) -> float:
    if img.kind == "vm":
        return img.disk_mib or 0.0
    return sum({layer.id: layer.disk_mib for layer in img.layers}.values())


def instance_need(w: Workload, rt: RuntimeProfile, img: ImageSpec | None, host: Host) -> dict[str, float]:
    """What one instance reserves on an empty host, as admission counts it (simcontainer.model.host
    .demand): RAM (a VM its guest RAM + the VMM), disk (its own + the image's, when the image is
    of the runtime's kind) and, under CPU overcommit, admitted cores."""
    guest_os = img.guest_os_mib if img is not None and img.kind == "vm" and img.guest_os_mib is not None \
        else rt.guest_os_mib
    if rt.kind == "vm":
        guest = w.guest_mem_mib if w.guest_mem_mib is not None else \
            max(rt.default_guest_mem_mib, -(-(w.mem_mib + guest_os) // 128.0) * 128.0)
        ram = guest + rt.mem_overhead_mib
    else:
        mem = w.mem_request_mib if host.memory_admission == "request" and w.mem_request_mib is not None \
            else w.mem_mib
        ram = mem + rt.mem_overhead_mib
    need = {"ram": ram}
    if img is not None and img.kind == ("vm" if rt.kind == "vm" else "container"):
        own = _image_disk_mib(img) if rt.kind == "vm" and w.disk_mode(rt) == "copy" else w.writable_mib
        need["disk"] = own + rt.disk_overhead_mib + _image_disk_mib(img)
    if host.cpu_overcommit is not None:
        need["cpu"] = float(w.vcpus) if rt.kind == "vm" and w.vcpus is not None else w.cpu / rt.cpu_factor
    return need


def _amount(x: float, unit: str) -> str:
    return f"{x:,.0f} {unit}" if unit == "MiB" else f"{x:,.3g} {unit}"


def fit_problems(scenario: Scenario, images: dict[str, ImageSpec],
                 runtimes: dict[str, RuntimeProfile]) -> list[str]:
    """Instances larger than a whole empty host: the resource, the need and the host's capacity.
    ``check`` refuses them (simcontainer.engine.guard.check_scenario); a run still runs them (every
    request rejected: a sweep over host sizes wants its "nothing started" points)."""
    h = scenario.host
    capacity = {"ram": (h.ram_mib - h.reserve_mib) * (h.memory_overcommit or 1.0),
                "disk": h.disk_gib * 1024.0, "cpu": h.cpu_cores * (h.cpu_overcommit or 1.0)}
    words = {"ram": ("RAM", "MiB", "mem_mib"), "disk": ("disk", "MiB", "image"), "cpu": ("CPU", "cores", "cpu")}
    out = []
    for i, w in enumerate(scenario.workloads):
        rt = runtimes.get(w.runtime)
        if rt is None:
            continue
        need = instance_need(w, rt, images.get(w.image), h)
        if scenario.daemon.admission == "none":     # dockerd's way: only the disk is checked
            need = {k: v for k, v in need.items() if k == "disk"}
        for res, amount in need.items():
            if amount > capacity[res]:
                what, unit, field = words[res]
                if res == "ram" and rt.kind == "vm":
                    field = "guest_mem_mib"
                out.append(f"workloads[{i}].{field}: one instance of {w.name!r} needs {_amount(amount, unit)} of "
                           f"{what} but a host has {_amount(capacity[res], unit)} (allowed: instances that fit "
                           "one empty host; a larger host, or a smaller instance)")
    return out


