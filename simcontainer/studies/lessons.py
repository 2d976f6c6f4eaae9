"""The Learn pages' small live simulations: each lesson is a scenario built from a few inputs
(images vs containers, kernels, startup, bursts, layers, lifecycle, mixed deploys, packing, CPU
limits) and the closed-form tables beside them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from simcontainer.model.images import Image, graph_view, layer_graph
from simcontainer.model.memory import ksm_curve, throttle_table
from simcontainer.scenario.loading import (
    parse_scenario,
)
from simcontainer.scenario.profiles import Catalogue, default_catalogue
from simcontainer.scenario.schema import Scenario
from simcontainer.studies.comparison import natural_image
from simcontainer.studies.density import density_one


def lesson_image(runtime: str, catalogue: Catalogue | None = None) -> str:
    """A sensible image for a lesson on ``runtime``: a Python app, or a VM disk for a VM."""
    return natural_image(runtime, catalogue)


def _lesson(name: str, workloads: list[dict[str, Any]], *, duration_s: float, host: Any = "server-64g",
            prepull: Iterable[str] = (), actions: Iterable[dict[str, Any]] = (), seed: int = 1) -> Scenario:
    data: dict[str, Any] = {"name": name, "duration_s": duration_s, "seed": seed, "host": host,
                            "daemon": {"prepull": list(prepull)}, "workloads": workloads,
                            "actions": list(actions)}
    return parse_scenario(data, source=f"lesson {name}")


def lesson_image_vs_container(image: str, containers: int, writable_mib: float = 10.0) -> Scenario:
    """Start ``containers`` containers of one image on a host that does not have it yet."""
    return _lesson("image-vs-container", [{
        "name": "app", "runtime": "runc", "image": image, "mem_mib": 64, "cpu": 0.05,
        "writable_mib": float(writable_mib),
        "arrival": {"kind": "burst", "count": int(containers)}, "lifetime": {"kind": "forever"}}],
        duration_s=300.0)


def lesson_kernel(runtime: str, instances: int, mem_mib: float) -> Scenario:
    """``instances`` copies of one small app on ``runtime`` (image cached), to read the RAM it takes.

    The host has room for all of them (at least 64 GiB, more when they need it), so the RAM
    shown is what the request takes, never what happened to fit.
    """

    img = lesson_image(runtime)

    def build(host: Any) -> Scenario:
        return _lesson(f"kernel-{runtime}", [{
            "name": "app", "runtime": runtime, "image": img, "mem_mib": float(mem_mib), "cpu": 0.05,
            "vm_disk": "overlay", "arrival": {"kind": "interval", "every_s": 2.0},
            "max_instances": int(instances), "lifetime": {"kind": "forever"}}],
            duration_s=2.0 * instances + 60.0, prepull=[img], host=host)

    # nothing kept for the OS (reserved_mib = 0): the host is sized for the requests alone
    host = {"cpu_cores": 64.0, "ram_mib": 65536.0, "disk_gib": 4000.0, "disk_mb_s": 1000.0, "net_mb_s": 125.0,
            "reserved_mib": 0.0}
    per = density_one(build(host), "app", runtime)["per_instance"]["ram_mib"]
    host["ram_mib"] = max(65536.0, 1024.0 * math.ceil(per * instances * 1.05 / 1024.0))
    return build(host)


def lesson_startup(runtime: str, cached: bool) -> Scenario:
    """Five starts of one instance at a time on an idle host, with or without the image cached."""
    img = lesson_image(runtime)
    return _lesson(f"startup-{runtime}", [{
        "name": "app", "runtime": runtime, "image": img, "mem_mib": 256, "cpu": 0.1,
        "vm_disk": "overlay", "arrival": {"kind": "interval", "every_s": 60.0}, "max_instances": 5,
        "lifetime": {"kind": "fixed", "s": 30.0}}],
        duration_s=330.0, prepull=[img] if cached else [])


def lesson_burst(runtime: str, count: int, cpu_cores: float) -> Scenario:
    """``count`` starts requested at once on a host with ``cpu_cores`` cores (image cached)."""
    img = lesson_image(runtime)
    host = {"cpu_cores": float(cpu_cores), "ram_mib": 524288, "disk_gib": 2000, "disk_mb_s": 1000,
            "net_mb_s": 125}
    return _lesson(f"burst-{runtime}", [{
        "name": "app", "runtime": runtime, "image": img, "mem_mib": 128, "cpu": 0.0,
        "vm_disk": "overlay", "arrival": {"kind": "burst", "count": int(count)},
        "lifetime": {"kind": "forever"}}],
        duration_s=600.0, host=host, prepull=[img])


def lesson_layers(images: Iterable[str], gap_s: float = 60.0) -> Scenario:
    """One container of each image, a minute apart, on an empty host: later pulls reuse layers."""
    workloads = [{"name": f"{i}-{img.split(':')[0]}", "runtime": "runc", "image": img, "mem_mib": 64,
                  "arrival": {"kind": "burst", "count": 1, "at_s": i * gap_s},
                  "lifetime": {"kind": "forever"}} for i, img in enumerate(images)]
    return _lesson("layers", workloads, duration_s=max(len(workloads), 1) * gap_s + 60.0)


def lesson_lifecycle(instances: int, lifetime_s: float, host_ram_mib: float) -> Scenario:
    """A handful of containers on a small host: some wait for room, one is paused and resumed."""
    host = {"cpu_cores": 4, "ram_mib": float(host_ram_mib), "disk_gib": 64, "disk_mb_s": 200,
            "net_mb_s": 62.5}
    actions = [{"at_s": 8.0, "op": "pause", "workload": "app", "instance": 0},
               {"at_s": 14.0, "op": "unpause", "workload": "app", "instance": 0}]
    return _lesson("lifecycle", [{
        "name": "app", "runtime": "runc", "image": "python:3.12-slim", "mem_mib": 1024, "cpu": 0.5,
        "arrival": {"kind": "interval", "every_s": 2.0}, "max_instances": int(instances),
        "lifetime": {"kind": "fixed", "s": float(lifetime_s)}}],
        duration_s=2.0 * instances + float(lifetime_s) + 30.0, host=host, actions=actions)


MIXED_PARTS = ("containers", "microvms", "qemu")


def lesson_mixed(containers: int, microvms: int, *, cpu_cores: float = 16.0, qemu_copies: int = 0,
                 microvm_disk: str = "overlay", only: Iterable[str] = MIXED_PARTS) -> Scenario:
    """A mixed deploy on one host: ``containers`` runc containers under dockerd requested at once
    at 0 s, ``microvms`` Firecracker microVMs (each behind its own API socket) requested at 1 s,
    and ``qemu_copies`` QEMU VMs under libvirt whose disks are full copies, requested at 0 s.

    Every image is cached, every instance runs to the horizon; ``only`` keeps some of the three
    groups (the same group alone is the baseline: same arrivals, same host, only the neighbours
    differ). The host has 64 GiB, 500 MB/s of disk and ``cpu_cores`` cores at cpu_speed 1.0.
    """
    keep = set(only)
    host = {"cpu_cores": float(cpu_cores), "ram_mib": 65536.0, "disk_gib": 400.0, "disk_mb_s": 500.0,
            "net_mb_s": 125.0, "cpu_speed": 1.0}
    groups = {
        "containers": {"name": "containers", "runtime": "runc", "image": "alpine:3.20", "mem_mib": 16,
                       "arrival": {"kind": "burst", "count": int(containers), "at_s": 0.0}},
        "microvms": {"name": "microvms", "runtime": "firecracker", "image": "firecracker-rootfs",
                     "mem_mib": 16, "vm_disk": microvm_disk,
                     "arrival": {"kind": "burst", "count": int(microvms), "at_s": 1.0}},
        "qemu": {"name": "qemu", "runtime": "qemu-kvm", "image": "ubuntu-24.04-cloud", "mem_mib": 256,
                 "guest_mem_mib": 1024, "vm_disk": "copy",
                 "arrival": {"kind": "burst", "count": int(qemu_copies), "at_s": 0.0}},
    }
    workloads = [dict(w, lifetime={"kind": "forever"}) for k, w in groups.items()
                 if k in keep and w["arrival"]["count"] > 0]
    return _lesson("mixed-deploy", workloads, duration_s=400.0, host=host,
                   prepull=["alpine:3.20", "firecracker-rootfs", "ubuntu-24.04-cloud"])


def copy_on_write(image: str, containers: int, copied_up_mib: float, own_mib: float = 10.0,
                  catalogue: Catalogue | None = None) -> pd.DataFrame:
    """What each container sees and what the disk holds: the image's read-only layers (shared,
    stored once), and per container a writable layer with its own files and the copied-up file."""

    img = Image.from_spec((catalogue or default_catalogue()).images[image])
    rows = []
    for i in range(1, int(containers) + 1):
        who = f"container {i}"
        rows += [{"who": who, "part": "image layers (read-only, shared)", "MiB": img.disk_mib, "order": 0},
                 {"who": who, "part": "writable layer: new files", "MiB": own_mib, "order": 1},
                 {"who": who, "part": "writable layer: copied-up file", "MiB": copied_up_mib, "order": 2}]
    rows += [{"who": "host disk", "part": "image layers (read-only, shared)", "MiB": img.disk_mib, "order": 0},
             {"who": "host disk", "part": "writable layer: new files", "MiB": own_mib * containers, "order": 1},
             {"who": "host disk", "part": "writable layer: copied-up file", "MiB": copied_up_mib * containers,
              "order": 2}]
    return pd.DataFrame(rows)


def image_sizes(images: Iterable[str], catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Per image: its download and unpacked size, and how much of it is layers shared with the others."""

    cat = catalogue or default_catalogue()
    imgs = [Image.from_spec(cat.images[n]) for n in images]
    g = layer_graph(imgs)
    rows = []
    for img in imgs:
        shared = sum(layer.disk_mib for layer in img.layers if len(g.nodes[layer.id]["images"]) > 1)
        rows.append({"image": img.name, "layers": len(img.layers), "download_mib": img.download_mib,
                     "disk_mib": img.disk_mib, "shared_disk_mib": shared})
    return pd.DataFrame(rows)


def layer_nodes(images: Iterable[str], catalogue: Catalogue | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The layer graph of ``images`` laid out for a chart: nodes (x = depth, y = lane) and edges."""

    cat = catalogue or default_catalogue()
    view = graph_view(Image.from_spec(cat.images[n]) for n in images)
    nodes = pd.DataFrame(view["nodes"])
    if nodes.empty:
        return nodes, pd.DataFrame(columns=["x", "y", "x2", "y2"])
    nodes["y"] = nodes.groupby("depth").cumcount()
    nodes["used_by"] = nodes["images"].map(", ".join)
    pos = nodes.set_index("id")[["depth", "y"]]
    edges = pd.DataFrame([{"x": pos.at[e["parent"], "depth"], "y": pos.at[e["parent"], "y"],
                           "x2": pos.at[e["child"], "depth"], "y2": pos.at[e["child"], "y"]}
                          for e in view["edges"]], columns=["x", "y", "x2", "y2"])
    return nodes.drop(columns=["images"]), edges


def clamp_packing(guest_mib: float, working_set_mib: float, peak_mib: float,
                  guest_os_mib: float) -> tuple[float, float, list[str]]:
    """The memory lesson's inputs made consistent, and what was changed, in sentences: an app
    inside a guest holds at most the guest RAM less the guest OS, and its peak since boot is at
    least its working set now."""
    said = []
    room = max(guest_mib - guest_os_mib, 0.0)
    ws, peak = float(working_set_mib), float(peak_mib)
    if ws > room:
        said.append(f"A {ws:,.0f} MiB working set does not fit in a {guest_mib:,.0f} MiB guest (its OS takes "
                    f"{guest_os_mib:,.0f} MiB): using {room:,.0f} MiB. Raise the guest RAM for a bigger app.")
        ws = room
    if peak < ws:
        said.append(f"The peak since boot ({peak:,.0f} MiB) cannot be below the working set now "
                    f"({ws:,.0f} MiB): using {ws:,.0f} MiB.")
        peak = ws
    if peak > room:
        said.append(f"A {peak:,.0f} MiB peak does not fit in a {guest_mib:,.0f} MiB guest (its OS takes "
                    f"{guest_os_mib:,.0f} MiB): using {room:,.0f} MiB.")
        peak = room
    return ws, peak, said


def lesson_packing(n: int, working_set_mib: float, peak_mib: float, guest_mib: float, file_pages_mib: float,
                   shared_fraction: float, ksm_s: float, vm_runtime: str = "qemu-kvm",
                   catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Host memory of ``n`` like instances of one app, six ways (the density lesson):
    - containers (runc): each its working set + runc's overhead; the image's file pages (libraries,
      binaries: ``file_pages_mib``) are one copy in the host's page cache, shared by all;
    - VMs with guest RAM reserved up front (preallocated): each its whole guest RAM + the VMM;
    - VMs as KVM gives memory (lazily): each the pages its guest touched (guest OS + the app's peak
      since boot + its own page cache of the same files, at most the guest RAM) + the VMM;
    - the same with a balloon returning idle guest pages: the app's current working set, not its peak;
    - the lazy VMs after ``ksm_s`` of KSM merging ``shared_fraction`` of their pages
      (:func:`simcontainer.model.memory.ksm_curve`), and with a balloon too.

    Per row: ``MiB`` for all ``n`` and ``per_instance_mib``."""

    cat = catalogue or default_catalogue()
    rts = {name: spec for name, spec in cat.runtimes.items()}
    runc = rts["runc"]
    vm = rts[vm_runtime]

    def field(spec: Any, name: str, default: float = 0.0) -> float:
        v = spec.get(name) if isinstance(spec, Mapping) else getattr(spec, name, None)
        return float(v) if v is not None else default

    c_over, vmm, guest_os = field(runc, "mem_overhead_mib"), field(vm, "mem_overhead_mib"), field(vm, "guest_os_mib")
    peak = max(peak_mib, working_set_mib)
    touched = min(guest_mib, guest_os + peak + file_pages_mib)
    ballooned = min(guest_mib, guest_os + working_set_mib + file_pages_mib)

    def ksm(per: float) -> float:
        return float(ksm_curve(n, per, shared_fraction, horizon_s=ksm_s, overhead_mib=vmm,
                               step_s=max(ksm_s, 1.0))["host_mib"].iloc[-1])

    rows = [("containers (runc): working set each, image files once", n * (working_set_mib + c_over) + file_pages_mib),
            ("VMs, guest RAM reserved up front", n * (guest_mib + vmm)),
            ("VMs, lazy: touched guest pages", n * (touched + vmm)),
            ("VMs, lazy + balloon", n * (ballooned + vmm)),
            (f"VMs, lazy + KSM after {ksm_s:g} s", ksm(touched)),
            (f"VMs, lazy + balloon + KSM after {ksm_s:g} s", ksm(ballooned))]
    df = pd.DataFrame(rows, columns=["how", "MiB"])
    df["per_instance_mib"] = df["MiB"] / max(n, 1)
    return df


def throttled_latency_ms(work_ms: float, busy_cores: float, limit_cores: float | None,
                         period_ms: float = 100.0) -> float:
    """Wall time of one request needing ``work_ms`` of CPU on one thread while the app keeps
    ``busy_cores`` cores busy (at least its one thread), under a CFS limit of ``limit_cores``
    (quota = limit x period; None: no limit). The cgroup spends its quota at ``busy_cores`` per ms,
    so each period the request's thread runs quota / busy ms (at most the period) and then waits,
    throttled, for the next period."""
    if work_ms <= 0:
        return 0.0
    busy = max(1.0, float(busy_cores))
    if limit_cores is None or limit_cores >= busy:
        return float(work_ms)
    run = min(period_ms, limit_cores * period_ms / busy)
    full = math.ceil(work_ms / run) - 1
    return full * period_ms + (work_ms - full * run)


def throttle_frame(cpu: float, work_ms: float, limits: Iterable[float] = (0.25, 0.5, 1.0, 2.0),
                   period_ms: float = 100.0) -> pd.DataFrame:
    """:func:`simcontainer.model.memory.throttle_table` with each limit's request latency
    (:func:`throttled_latency_ms`) and the latency without a limit beside it."""

    df = throttle_table(float(cpu), tuple(float(x) for x in limits), period_ms)
    df["latency_ms"] = [throttled_latency_ms(work_ms, cpu, lim, period_ms) for lim in df["limit_cores"]]
    df["unlimited_latency_ms"] = float(work_ms)
    df["throttled_ms"] = df["latency_ms"] - float(work_ms)
    return df
