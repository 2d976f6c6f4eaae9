"""Resolved cluster settings: the ``[cluster]`` section over models/cluster.toml's defaults, and
each workload's pod template (requests, image, the kubelet's start phases on each pool's host).

Everything here is plain numbers, ready for the parts in :mod:`simcontainer.model.cluster`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from simcontainer.model.controlplane import PhasePlan
from simcontainer.model.images import Image
from simcontainer.model.images import resolve as resolve_image_specs
from simcontainer.model.registry import DECODE_MB_S
from simcontainer.scenario.cluster import Cluster
from simcontainer.scenario.defaults import host_reserve_mib
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.profiles import Catalogue, default_catalogue, models_dir, resolve_images
from simcontainer.scenario.schema import Scenario

SECTIONS = ("api_server", "clients", "watch", "scheduler", "controllers", "kubelet", "node_lifecycle",
            "autoscaler")
MIB_PER_MB = 1e6 / 2**20


@lru_cache(maxsize=4)
def _defaults_at(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def defaults(directory: str | Path | None = None) -> dict[str, Any]:
    """models/cluster.toml as a dict (its ``sources`` table included)."""
    root = Path(directory) if directory else models_dir()
    return _defaults_at(str(root / "cluster.toml"))


def source_of(key: str) -> str:
    """Where a default comes from (``"scheduler.max_backoff_s"``)."""
    return defaults()["sources"].get(key, "")


def fraction(v: int | str, replicas: int, round_up: bool) -> int:
    """Kubernetes' IntOrString: a count, or a percentage of ``replicas`` rounded up (maxSurge) or
    down (maxUnavailable)."""
    if isinstance(v, int):
        return v
    pct = int(v.rstrip("%"))
    return math.ceil(replicas * pct / 100) if round_up else math.floor(replicas * pct / 100)


@dataclass(frozen=True)
class PodTemplate:
    """What the pods of one workload ask for and how long their start takes on a node."""

    workload: str
    cpu: float
    mem_mib: float
    image: str
    ready_s: float
    phases: tuple[PhasePlan, ...]      # before the serialized network setup (sandbox, CRI calls, create)
    network: PhasePlan                 # CNI ADD: latency, then ``serial_s`` under the node's IPAM lock
    after: tuple[PhasePlan, ...]       # after it (the runtime's start)


@dataclass(frozen=True)
class PoolSpec:
    name: str
    count: int
    min_count: int
    max_count: int
    autoscaled: bool
    cpu: float
    mem_mib: float
    max_pods: int
    net_mb_s: float
    disk_mb_s: float
    cpu_speed: float
    provision_s: float


@dataclass
class Params:
    """Every setting of one cluster run."""

    sections: dict[str, dict[str, Any]]
    pools: list[PoolSpec]
    templates: dict[str, PodTemplate]
    images: dict[str, Image]
    pulls: dict[tuple[str, str], Pull] = field(default_factory=dict)    # (pool, image) -> its pull
    registry_mib_s: float | None = None     # the registry's egress shared by every node (None: no cap)
    cluster: Cluster | None = None
    horizon_s: float = 0.0
    seed: int = 0

    def __getattr__(self, name: str) -> dict[str, Any]:
        try:
            return self.__dict__["sections"][name]
        except KeyError:
            raise AttributeError(name) from None


def _sections(cluster: Cluster) -> dict[str, dict[str, Any]]:
    base = defaults()
    return {s: {**base[s], **getattr(cluster, s).model_dump(exclude_none=True)} for s in SECTIONS}


def _template(scenario: Scenario, catalogue: Catalogue, workload: str, speed: float) -> PodTemplate:
    w = next(x for x in scenario.workloads if x.name == workload)
    runtime = scenario.runtime_table(catalogue)[w.runtime]
    plane = scenario.control_plane_table(catalogue)["kubelet"]
    share = plane.serial_cpu_share

    def of(phase: Any) -> PhasePlan:
        return PhasePlan.of(phase, speed, share)

    before = tuple(p for p in (of(plane.sandbox), of(plane.api), of(runtime.api), of(runtime.create)) if not p.idle)
    after = tuple(p for p in (of(runtime.boot),) if not p.idle)
    return PodTemplate(w.name, w.cpu, w.mem_request_mib if w.mem_request_mib is not None else w.mem_mib,
                       w.image, w.ready_s, before, of(plane.network), after)


@dataclass(frozen=True)
class Pull:
    """An image pulled on a node of a pool: round trips, download at the node's own rate,
    extraction (seconds), and the bytes the registry sends."""

    trips_s: float
    download_s: float
    extract_s: float
    mib: float

    @property
    def total_s(self) -> float:
        return self.trips_s + self.download_s + self.extract_s


def pull_of(image: Image, net_mb_s: float, disk_mb_s: float, scenario: Scenario) -> Pull:
    """One image pulled on an idle node: registry round trips, the layers' download at the node's
    link (each stream capped at the registry's per-stream rate, three layers at once), then
    decompression and extraction (the slower of the decoder and the disk)."""
    reg = scenario.registry
    rtt = reg.rtt_ms / 1000.0
    trips = reg.auth_round_trips + reg.manifest_round_trips + reg.config_round_trips
    layers = image.layers
    streams = max(1, min(3, len(layers)))
    rate = min(net_mb_s, reg.per_stream_mb_s * streams) * MIB_PER_MB
    download = image.download_mib / rate if rate > 0 else 0.0
    extract = sum(la.download_mib / (DECODE_MB_S.get(la.compression, 400.0) * MIB_PER_MB) for la in layers)
    extract = max(extract, image.disk_mib / (disk_mb_s * MIB_PER_MB))
    return Pull(rtt * (trips + reg.blob_round_trips * len(layers)), download, extract, image.download_mib)


def pull_seconds(image: Image, net_mb_s: float, disk_mb_s: float, scenario: Scenario) -> float:
    """:func:`pull_of`'s total on an idle node and an idle registry."""
    return pull_of(image, net_mb_s, disk_mb_s, scenario).total_s


def resolve(scenario: Scenario, catalogue: Catalogue | None = None) -> Params:
    """The scenario's ``[cluster]`` resolved against models/cluster.toml and the catalogue."""
    cat = catalogue or default_catalogue()
    cluster = scenario.cluster
    if cluster is None:
        raise ScenarioError(["cluster: this scenario has no [cluster] section (allowed: a scenario with "
                             "[[cluster.pools]] and [[cluster.deployments]] or [[cluster.jobs]])"])
    problems = check(scenario, cat)
    if problems:
        raise ScenarioError(problems, source=scenario.name)
    sections = _sections(cluster)
    base = defaults()
    pools = []
    for p in cluster.pools:
        host = cat.hosts[p.host]
        provision = p.provision_s if p.provision_s is not None else base["provisioning"][p.cloud]
        autoscaled = p.min_count is not None or p.max_count is not None
        pools.append(PoolSpec(p.name, p.count, p.min_count if p.min_count is not None else p.count,
                              p.max_count if p.max_count is not None else p.count, autoscaled,
                              float(host["cpu_cores"]), float(host["ram_mib"]) - host_reserve_mib(float(host["ram_mib"]), host.get("reserved_mib")),
                              p.max_pods or sections["kubelet"]["max_pods"], float(host.get("net_mb_s", 125.0)),
                              float(host.get("disk_mb_s", 500.0)), float(host.get("cpu_speed", 1.0)), provision))
    inline = resolve_images([i.model_dump() for i in scenario.images], known=cat.images, source=scenario.name)
    images = resolve_image_specs({**cat.images, **inline})
    runtimes = scenario.runtime_table(cat)
    # one template per container workload, at the calibration machine's speed (a node divides
    # the CPU work by its own cpu_speed)
    templates = {w.name: _template(scenario, cat, w.name, 1.0) for w in scenario.workloads
                 if runtimes[w.runtime].kind == "container"}
    names = {t.image for t in templates.values()} | {d.update_image for d in cluster.deployments if d.update_image}
    pulls = {(p.name, n): pull_of(images[n], p.net_mb_s, p.disk_mb_s, scenario) for p in pools for n in names}
    egress = scenario.registry.egress_mb_s
    return Params(sections, pools, templates, images, pulls, egress * MIB_PER_MB if egress else None, cluster,
                  cluster.horizon_s or scenario.duration_s, scenario.seed)


# a bound on one run: 150,000 pods take ~10 CPU-s and 270 MiB here, so this many ~1 CPU-min and
# ~2 GiB (scaled linearly, not measured)
MAX_PODS = 1_000_000


def check(scenario: Scenario, catalogue: Catalogue) -> list[str]:
    """Cross-references of ``[cluster]``: host presets, workloads and images that exist, and a
    size a run can hold."""
    cluster = scenario.cluster
    if cluster is None:
        return []
    out: list[str] = []
    pods = sum(max(d.replicas, d.scale_to or 0) * (2 if d.update_at_s is not None else 1) for d in cluster.deployments)
    pods += sum(j.completions for j in cluster.jobs)
    if pods > MAX_PODS:
        out.append(f"cluster: {pods:,} pods asked for (deployments' replicas, twice when rolled, and jobs' "
                   f"completions) (allowed: at most {MAX_PODS:,} in one run)")
    workloads = {w.name for w in scenario.workloads}
    images = set(scenario.image_table(catalogue))
    for i, p in enumerate(cluster.pools):
        if p.host not in catalogue.hosts:
            out.append(f"cluster.pools.{i}.host: unknown host preset {p.host!r} (allowed: "
                       f"{', '.join(sorted(catalogue.hosts))})")
    for what, items in (("deployments", cluster.deployments), ("jobs", cluster.jobs)):
        for i, d in enumerate(items):
            if d.workload not in workloads:
                out.append(f"cluster.{what}.{i}.workload: unknown workload {d.workload!r} (allowed: "
                           f"{', '.join(sorted(workloads))})")
    for i, d in enumerate(cluster.deployments):
        if d.update_image is not None and d.update_image not in images:
            out.append(f"cluster.deployments.{i}.update_image: unknown image {d.update_image!r}")
    for i, w in enumerate(scenario.workloads):
        if w.name in {d.workload for d in (*cluster.deployments, *cluster.jobs)}:
            kind = scenario.runtime_table(catalogue)[w.runtime].kind
            if kind != "container":
                out.append(f"workloads.{i}.runtime: a pod's runtime must be a container runtime "
                           f"(got {w.runtime!r}, a {kind})")
    return out


__all__ = ["MAX_PODS", "Params", "PodTemplate", "PoolSpec", "Pull", "check", "defaults", "fraction", "pull_of", "pull_seconds", "resolve",
           "source_of"]
