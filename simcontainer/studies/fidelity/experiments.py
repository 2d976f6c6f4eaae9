"""The runs that reproduce each published figure at the scope it was measured at.

A figure of ``models/published.toml`` names its experiment (``start``, ``memory``, ``burst``,
``pull``, ``rate``) and its conditions; :func:`measure` runs it and returns the model's figure in the
figure's base unit. Every run has a fixed seed: the same models give the same report.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

import simcontainer as sc
from simcontainer.model.host import MIB_PER_MB, guest_mem_mib
from simcontainer.model.images import Image
from simcontainer.scenario.profiles import Catalogue, default_catalogue, start_phases
from simcontainer.studies.comparison import natural_image
from simcontainer.studies.fidelity.figures import SCOPES, Figure, Published, load_published
from simcontainer.studies.theory import cpu_total, idle_start, serialized_total

REFERENCE_HOST = "server-64g"
CONTAINER_IMAGE = "alpine:3.20"          # what `docker run alpine /bin/true` runs
N_STARTS, START_GAP_S, START_SEED = 2000, 100.0, 11
N_FIGURE_STARTS = 1000                    # the starts behind one published figure
MEM_INSTANCES = 50                        # the density-data method: 50 idle instances
DENSITY_IMAGE = "python:3.12-slim"
DENSITY_APP = {"mem_mib": 256.0, "cpu": 0.1}
BURST_COUNT, BURST_IN_FLIGHT, BURST_SEEDS = 500, 100, (1, 2, 3, 4, 5)
MIXED_HOST = "server-64g"
MICROVM_BURST = {"host": "m5d-metal", "count": 960}

# nerdctl / ctr drive containerd with no dockerd in front; the model has no containerd profile, so
# dockerd's request handling stands for containerd's (an estimate that leans slow) and
# `--network=none` drops the network phase and the endpoint delete under the network's lock.
CONTAINERD_PLANE = {"name": "containerd", "base": "dockerd", "network": {},
                    "teardown": {"median_s": 0.05, "p95_s": 0.08, "cpu_s": 0.02}}


def catalogue() -> Catalogue:
    return default_catalogue()


def image_for(rt) -> str:
    return CONTAINER_IMAGE if rt.kind == "container" else natural_image(rt.name)


def host_spec(host: str | None) -> Any:
    """A host preset's name, or a published figure's own host table (models/published.toml)."""
    host = host or REFERENCE_HOST
    own = load_published().hosts.get(host)
    return dict(own) if own is not None else host


def scoped_runtime(rt, scope: str) -> dict[str, Any]:
    """The profile with only the phases a scope covers; below end to end, without a control plane."""
    data = rt.model_dump(mode="json")
    for phase in ("api", "create", "boot"):
        if phase not in SCOPES[scope]:
            data[phase] = {}
    data["name"] = f"{rt.name}@{scope.replace(' ', '-')}"
    if scope != "end to end":
        data["control_plane"] = None      # the runtime alone: no control plane in front
    data["sources"], data["notes"], data["fitted_to"] = {}, [], {}
    return data


def phases_of(rt, scope: str = "end to end", round_trip: bool = False) -> list[Any]:
    """The phases an idle start at ``scope`` passes through (scenario.profiles.start_phases, on
    the image the report runs it with)."""
    return start_phases(rt, catalogue(), scope, round_trip, image=image_for(rt))


def default_until(rt) -> str:
    """`docker run --rm` figures time the round trip; the others request -> running."""
    return "removed" if rt.control_plane == "dockerd" else "running"


@cache
def start_times(runtime: str, scope: str = "end to end", until: str = "running", host: str | None = None,
                plane: str | None = None, background: int = 0, n: int = N_STARTS,
                image: str | None = None) -> np.ndarray:
    """``n`` single starts of ``runtime`` one at a time (one every START_GAP_S, lifetime 0, image
    cached) after ``background`` instances started on the host; the time from request to ``until``."""
    rt = catalogue().runtimes[runtime]
    image = image or image_for(rt)
    workload: dict[str, Any] = {
        "name": "single", "runtime": f"{rt.name}@{scope.replace(' ', '-')}", "image": image,
        "mem_mib": 16.0, "cpu": 0.0, "arrival": {"kind": "interval", "every_s": START_GAP_S,
                                                 "start_s": START_GAP_S if background else 0.0},
        "lifetime": {"kind": "fixed", "s": 0.0}, "max_instances": n,
        "auto_remove": True,                 # docker run --rm: the round trip ends at the removal
    }
    images, planes = [], []
    if rt.kind == "vm":
        workload["vm_disk"] = "overlay"      # boot an existing disk: no image copy in the figure
        if "boot" not in SCOPES[scope]:
            # the guest's boot belongs to the image: a scope without boot leaves it out
            spec = catalogue().images[image].model_dump(mode="json", exclude_none=True)
            image = workload["image"] = f"{image}@no-guest-boot"
            images = [{**spec, "name": image, "guest_boot": None, "sources": {}, "fitted_to": {}}]
    if plane == "containerd":
        planes = [CONTAINERD_PLANE]
    if plane is not None:
        workload["control_plane"] = plane
    workloads = [workload]
    if background:
        workloads.append({**workload, "name": "background", "max_instances": background,
                          "arrival": {"kind": "burst", "count": background}, "lifetime": {"kind": "forever"}})
    scenario = sc.parse_scenario({
        "name": f"single-{rt.name}", "duration_s": START_GAP_S * (n + 1), "seed": START_SEED,
        "host": host_spec(host), "daemon": {"prepull": [image]}, "images": images, "control_planes": planes,
        "runtimes": [scoped_runtime(rt, scope)], "workloads": workloads,
    })
    df = sc.simulate(scenario).instances
    df = df[df.workload == "single"]
    # each start must have found the host idle: the previous one was gone before it arrived
    assert (df.t_removed.to_numpy()[:-1] <= df.t_request.to_numpy()[1:]).all(), "starts overlapped"
    return (df[f"t_{until}"] - df.t_request).to_numpy()


def statistic(x: np.ndarray, name: str) -> float:
    if name == "mean":
        return float(np.mean(x))
    if name == "median":
        return float(np.median(x))
    return float(np.percentile(x, float(name.removeprefix("p"))))


def measure(fig: Figure) -> float:
    """The model's figure for one published figure, in the figure's base unit."""
    if fig.experiment == "start":
        x = start_times(fig.runtime, fig.scope, fig.until, fig.host, fig.plane, fig.background, N_FIGURE_STARTS,
                        fig.image)
        return statistic(x, fig.statistic)
    if fig.experiment == "memory":
        return memory_overhead(fig.runtime)["overhead_mib"]
    if fig.experiment == "burst":
        return run_burst()["mean_s"]
    if fig.experiment == "pull":
        return run_pulls()[fig.key or ""]
    return microvm_burst()["rate_per_core_s"]


def measure_all(pub: Published | None = None) -> dict[str, float]:
    """Figure id -> the model's figure, for every published figure."""
    return {f.id: measure(f) for f in (pub or load_published()).figures}


# --------------------------------------------------------------------------- single starts


def run_starts() -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Every default profile's idle single start at full scope: the simulated median and p95 and
    what its phases add up to (theory.idle_start)."""
    cat = catalogue()
    order = sorted(cat.runtimes, key=lambda r: (cat.runtimes[r].kind,
                                                idle_start(phases_of(cat.runtimes[r]))))
    rows, samples = [], {}
    for name in order:
        rt = cat.runtimes[name]
        until = default_until(rt)
        x = start_times(name, "end to end", until)
        samples[name] = x
        rows.append({"runtime": name, "kind": rt.kind, "until": until, "median": float(np.median(x)),
                     "p95": float(np.percentile(x, 95)),
                     "phase_sum": idle_start(phases_of(rt, round_trip=until == "removed"))})
    return rows, samples


# --------------------------------------------------------------------------- memory and density


@cache
def memory_overhead(runtime: str) -> dict[str, Any]:
    """Per-instance overhead the density-data way: RAM in use with 50 idle instances, over 50; a
    VM's guest RAM, which it holds whole, is subtracted to leave the VMM's share."""
    cat = catalogue()
    rt = cat.runtimes[runtime]
    image = image_for(rt)
    w: dict[str, Any] = {"name": "idle", "runtime": runtime, "image": image, "mem_mib": 0.0,
                         "arrival": {"kind": "burst", "count": MEM_INSTANCES}, "lifetime": {"kind": "forever"}}
    if rt.kind == "vm":
        w["vm_disk"] = "overlay"
    s = sc.parse_scenario({"name": f"mem-{runtime}", "duration_s": 120.0, "seed": 1, "host": REFERENCE_HOST,
                           "daemon": {"prepull": [image]}, "workloads": [w]})
    r = sc.simulate(s)
    assert r.summary["workloads"]["idle"]["requested"] == MEM_INSTANCES
    per = r.summary["host"]["peak_ram_mib"] / MEM_INSTANCES
    guest = guest_mem_mib(s.workloads[0], rt, Image.from_spec(cat.images[image])) if rt.kind == "vm" else 0.0
    return {"runtime": runtime, "kind": rt.kind, "per_instance_mib": per, "guest_mib": guest,
            "overhead_mib": per - guest}


def run_memory() -> list[dict[str, Any]]:
    cat = catalogue()
    order = sorted(cat.runtimes, key=lambda r: (cat.runtimes[r].kind, cat.runtimes[r].mem_overhead_mib))
    return [memory_overhead(name) for name in order]


def run_density() -> tuple[dict[str, Any], Any]:
    cat = catalogue()
    workloads = []
    for name in sorted(cat.runtimes, key=lambda r: (cat.runtimes[r].kind, cat.runtimes[r].mem_overhead_mib)):
        rt = cat.runtimes[name]
        w = {"name": name, "runtime": name, "image": DENSITY_IMAGE if rt.kind == "container" else image_for(rt),
             **DENSITY_APP, "arrival": {"kind": "burst", "count": 1}}
        if rt.kind == "vm":
            w["vm_disk"] = "overlay"
        workloads.append(w)
    # the whole host, no reserve kept: the runtimes' own overheads against its RAM
    s = sc.parse_scenario({"name": "density-reference", "duration_s": 1.0,
                           "host": {"preset": REFERENCE_HOST, "reserved_mib": 0.0}, "workloads": workloads})
    d = sc.density(s)
    return {name: per[name] for name, per in d.items()}, s


# --------------------------------------------------------------------------- concurrency


@cache
def run_burst(host: str = "azure-d4-v2", runtime: str = "runc") -> dict[str, Any]:
    """500 containers requested at once, 100 in flight (a client's limit: a pool of 100 in front of
    dockerd, which has none), image cached: the time until the last runs, over BURST_SEEDS."""
    runs = []
    for seed in BURST_SEEDS:
        s = sc.parse_scenario({
            "name": "burst-calibration", "duration_s": 225.0, "seed": seed, "host": host,
            "daemon": {"prepull": [CONTAINER_IMAGE]},
            "control_planes": [{"name": "dockerd-client", "base": "dockerd", "workers": BURST_IN_FLIGHT}],
            "workloads": [{"name": "burst", "runtime": runtime, "image": CONTAINER_IMAGE,
                           "control_plane": "dockerd-client", "mem_mib": 16.0,
                           "arrival": {"kind": "burst", "count": BURST_COUNT}, "lifetime": {"kind": "forever"}}],
        })
        r = sc.simulate(s)
        df = r.instances
        assert df.t_running.notna().all(), "the burst did not finish within the horizon"
        runs.append({"seed": seed, "total_s": float(df.t_running.max()), "running": np.sort(df.t_running.to_numpy()),
                     "cpu_util": r.summary["host"]["mean_cpu_util"]})
    totals = np.array([r["total_s"] for r in runs])
    cat = catalogue()
    rt = cat.runtimes[runtime]
    plane = cat.control_planes[rt.control_plane or "dockerd"]
    speed, cores = s.host.cpu_speed, s.host.cpu_cores
    cpu = sum(p.cpu_s for p in (plane.api, plane.sandbox, plane.network, rt.api, rt.create, rt.boot))
    return {"runs": runs, "mean_s": float(totals.mean()), "min_s": float(totals.min()), "max_s": float(totals.max()),
            "lock_bound_s": serialized_total(BURST_COUNT, plane.network.serial_s, plane.serial_cpu_share, speed),
            "cpu_bound_s": cpu_total(BURST_COUNT, cpu, cores, speed), "cores": cores, "host": host,
            "count": BURST_COUNT, "in_flight": BURST_IN_FLIGHT}


def _start_mixed(workloads: list[dict[str, Any]], host: str = MIXED_HOST) -> dict[str, Any]:
    s = sc.parse_scenario({"name": "mixed", "duration_s": 600.0, "seed": 3, "host": host,
                           "daemon": {"prepull": [CONTAINER_IMAGE, "firecracker-rootfs", "ubuntu-24.04-cloud"]},
                           "workloads": workloads})
    df = sc.simulate(s).instances
    return {name: g for name, g in df.groupby("workload")}


def _burst(name: str, runtime: str, image: str, count: int, at_s: float = 0.0, **over: Any) -> dict[str, Any]:
    return {"name": name, "runtime": runtime, "image": image, "mem_mib": 16.0,
            "arrival": {"kind": "burst", "count": count, "at_s": at_s}, **over}


@cache
def microvm_burst() -> dict[str, Any]:
    """960 Firecracker microVMs requested at once on m5d.metal: the creation rate per core."""
    n, host = MICROVM_BURST["count"], MICROVM_BURST["host"]
    fcb = _start_mixed([_burst("fcb", "firecracker", "firecracker-rootfs", n, vm_disk="overlay", mem_mib=1.0,
                               guest_mem_mib=128.0)], host=host)["fcb"]
    t = (fcb.t_running - fcb.t_request).to_numpy()
    cores = catalogue().hosts[host]["cpu_cores"]
    return {"count": n, "host": host, "cores": cores, "p50": float(np.median(t)), "p95": float(np.percentile(t, 95)),
            "max": float(t.max()), "rate_per_core_s": n / float(fcb.t_running.max()) / cores}


def run_planes() -> dict[str, Any]:
    """Control planes: what queues where, a mixed deploy, and a parallel microVM burst."""
    fc = _burst("fc", "firecracker", "firecracker-rootfs", 5, 1.0, vm_disk="overlay")
    c1 = _burst("c1", "runc", CONTAINER_IMAGE, 1, 1.0)
    fc_alone = _start_mixed([fc])["fc"]
    mixed = _start_mixed([_burst("runc", "runc", CONTAINER_IMAGE, 100), fc])
    c1_alone = _start_mixed([c1])["c1"]
    copies = _start_mixed([_burst("qemu", "qemu-kvm", "ubuntu-24.04-cloud", 20, vm_disk="copy", mem_mib=256.0), c1])

    def mean(df, a, b):
        return float((df[b] - df[a]).mean())

    mixed_rows = [
        {"what": "5 Firecracker microVMs, start (request -> running)", "alone": mean(fc_alone, "t_request", "t_running"),
         "beside": mean(mixed["fc"], "t_request", "t_running"),
         "beside_what": "100 runc containers requested 1 s earlier (dockerd)"},
        {"what": "1 runc container, create (request -> created)", "alone": mean(c1_alone, "t_request", "t_created"),
         "beside": mean(copies["c1"], "t_request", "t_created"),
         "beside_what": "20 QEMU VMs copying a 3.5 GiB disk each (libvirt)"},
        {"what": "the 100 runc containers, last start", "alone": None,
         "beside": float((mixed["runc"].t_running - mixed["runc"].t_request).max()),
         "beside_what": "queued behind dockerd's endpoint lock"},
    ]
    planes = [{"name": name, "kind": cp.kind, "workers": cp.workers, "network_lock": cp.network_lock,
               "image_pulls": cp.image_pulls, "bridge_max_ports": cp.bridge_max_ports,
               "source": cp.sources.get("workers", ""), "lock_source": cp.sources.get("network_lock", "")}
              for name, cp in sorted(catalogue().control_planes.items())]
    return {"planes": planes, "mixed": mixed_rows, "microvm": microvm_burst()}


# --------------------------------------------------------------------------- image pulls and warm starts

PULL_HOST = {"cpu_cores": 16, "ram_mib": 65536, "disk_gib": 200, "disk_mb_s": 1500, "net_mb_s": 3000}
PULL_REGISTRY = {"rtt_ms": 0.1, "per_stream_mb_s": 3000.0}
PULL_IMAGE_MB = 2000.0                   # the measured image: 2.0 GB, one gzip layer of incompressible data
LAZY_STARTUP_MB = 0.009                  # what the lazy pull fetched before the start (~9 KB)
SLACKER_IMAGE = "python:3.12-slim"
RESTORE_HOST = "m5d-metal"
RESTORE_MIB = 512                        # the documented restore's microVM: 2 vCPU / 512 MiB of guest memory
RESTORE_VCPUS = 2
RESTORE_APP_MIB = 256                    # the app inside it (its working set: what faults back in)
CRIU_MIB = 256


def pull_measurement(lazy: str = "none") -> dict[str, Any]:
    """The vertexcover.io measurement re-run in the model: a 2.0 GB image from a local registry,
    cold, on a 16-core host with a 3 GB/s loopback link, a 1.5 GB/s disk and 0.1 ms round trips
    (their host is not described). ``lazy="estargz"`` fetches the ~9 KB it fetched before the
    start. Returns the workload's summary."""
    mib = PULL_IMAGE_MB * MIB_PER_MB
    image: dict[str, Any] = {"name": "llm", "layers": [{"id": "w", "download_mib": mib, "disk_mib": mib,
                                                        "compression": "gzip"}]}
    if lazy != "none":
        image["startup_fraction"] = LAZY_STARTUP_MB / PULL_IMAGE_MB
    scen = sc.parse_scenario({
        "name": "vertexcover", "duration_s": 100.0, "seed": 1, "host": dict(PULL_HOST), "images": [image],
        "workloads": [{"name": "w", "runtime": "runc", "image": "llm", "mem_mib": 64,
                       "arrival": {"kind": "burst", "count": 1}}],
        "registry": {**PULL_REGISTRY, "lazy": lazy},
    })
    return sc.simulate(scen).summary["workloads"]["w"]


def slacker_share() -> float:
    """The share of a cold ``python:3.12-slim`` start with runc on the laptop preset (25 MB/s to
    the registry) spent pulling -- Slacker's HelloBench question asked of the model."""
    scen = sc.parse_scenario({
        "name": "slacker", "duration_s": 100.0, "seed": 1, "host": "laptop",
        "workloads": [{"name": "w", "runtime": "runc", "image": SLACKER_IMAGE, "mem_mib": 64,
                       "arrival": {"kind": "burst", "count": 1}}],
    })
    w = sc.simulate(scen).summary["workloads"]["w"]
    return w["phases_s"]["pull"] / w["startup_s"]["mean"]


def restore_measurement(runtime: str = "firecracker", mem_mib: float = RESTORE_APP_MIB,
                        snapshot: bool = True) -> dict[str, Any]:
    """One start of ``runtime`` on the restore figure's host class, restored from a snapshot
    (``snapshot``) or cold with its image cached; a VM at the documented restore's configuration
    (``RESTORE_VCPUS`` / ``RESTORE_MIB``). Returns the workload's summary."""
    rt = catalogue().runtimes[runtime]
    w: dict[str, Any] = {"name": "w", "runtime": runtime, "image": image_for(rt),
                         "mem_mib": mem_mib, "arrival": {"kind": "burst", "count": 1}}
    if rt.kind == "vm":
        w.update(vm_disk="overlay", vcpus=RESTORE_VCPUS, guest_mem_mib=RESTORE_MIB)
    if snapshot:
        w["warm"] = {"start": "snapshot"}
    scen = sc.parse_scenario({"name": "restore", "duration_s": 100.0, "seed": 1, "host": RESTORE_HOST,
                              "daemon": {"prepull": [w["image"]]}, "workloads": [w]})
    return sc.simulate(scen).summary["workloads"]["w"]


@cache
def run_pulls() -> dict[str, Any]:
    """Every model figure the pull and warm-start section compares, keyed like the figures' ``key``."""
    eager, lazy = pull_measurement("none"), pull_measurement("estargz")
    fc_snap = restore_measurement("firecracker")
    fc_cold = restore_measurement("firecracker", snapshot=False)
    criu = restore_measurement("runc", CRIU_MIB)
    runc_cold = restore_measurement("runc", CRIU_MIB, snapshot=False)
    return {
        "eager_pull_s": eager["phases_s"]["pull"], "eager_start_s": eager["startup_s"]["mean"],
        "eager_phases": dict(eager["pull_phases_s"]),
        "lazy_pull_s": lazy["phases_s"]["pull"], "lazy_start_s": lazy["startup_s"]["mean"],
        "pull_share": slacker_share(),
        "restore_s": fc_snap["phases_s"]["restore"], "restore_start_s": fc_snap["startup_s"]["mean"],
        "fault_cpu_s": fc_snap["warm"]["fault_cpu_s"], "fc_cold_s": fc_cold["startup_s"]["mean"],
        "criu_restore_s": criu["phases_s"]["restore"], "runc_cold_s": runc_cold["startup_s"]["mean"],
    }

