"""The ``[cluster]`` section of a scenario: node pools, Deployments, Jobs, node failures and the
control plane's settings.

Every setting left out takes its default from ``models/cluster.toml`` (each with its source), so
the schema holds ``None`` for "the default" and :func:`simcontainer.model.cluster.params.resolve` fills
it in. Deployments and Jobs name a ``[[workloads]]`` entry of the scenario for their pod template
(runtime, image, ``cpu`` and ``mem_mib`` as the pod's requests).
"""

from __future__ import annotations

import numbers
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

# The same conventions as simcontainer.scenario.schema (strict, finite numbers, no unknown keys); kept
# here rather than imported so that scenario.py can import this module without a cycle.
MAX_NUMBER = 1e15


def _whole_number(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"got {v!r} (allowed: an integer)")
    return int(v) if isinstance(v, numbers.Integral) else v


def _printable(v: str) -> str:
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in v):
        raise ValueError(f"got {v!r}, which holds a control character (allowed: printable text)")
    return v


NonNeg = Annotated[float, Field(ge=0, le=MAX_NUMBER)]
Positive = Annotated[float, Field(gt=0, le=MAX_NUMBER)]
Int = Annotated[int, BeforeValidator(_whole_number), Field(strict=False)]
Name = Annotated[str, Field(min_length=1), AfterValidator(_printable)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _surge(v: int | str) -> int | str:
    """A count (``2``) or a percentage of replicas (``"25%"``), as Kubernetes' IntOrString."""
    if isinstance(v, str) and not re.fullmatch(r"(100|[1-9]?[0-9])%", v):
        raise ValueError(f"got {v!r} (allowed: a whole number of pods, or a percentage such as \"25%\")")
    if isinstance(v, int) and v < 0:
        raise ValueError(f"got {v} (allowed: 0 or more pods)")
    return v


IntOrPercent = Annotated[int | str, AfterValidator(_surge)]
Count = Annotated[Int, Field(ge=0, le=1_000_000)]
Cloud = Literal["aws", "gcp", "azure", "generic"]


class NodePool(Model):
    """Identical nodes made from a host preset (models/hosts.toml)."""

    name: Name
    host: Name
    count: Annotated[Int, Field(ge=0, le=100_000)]
    # cluster autoscaler bounds (None: the pool is not autoscaled)
    min_count: Annotated[Int, Field(ge=0, le=100_000)] | None = None
    max_count: Annotated[Int, Field(ge=0, le=100_000)] | None = None
    cloud: Cloud = "generic"
    provision_s: NonNeg | None = None      # None: models/cluster.toml [provisioning] for its cloud
    max_pods: Annotated[Int, Field(ge=1, le=10_000)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> NodePool:
        lo = self.min_count if self.min_count is not None else 0
        hi = self.max_count if self.max_count is not None else max(self.count, lo)
        if not lo <= hi:
            raise ValueError(f"min_count ({lo}) is above max_count ({hi}) (allowed: min_count <= max_count)")
        if (self.min_count is not None or self.max_count is not None) and not lo <= self.count <= hi:
            raise ValueError(f"count ({self.count}) is outside [min_count, max_count] = [{lo}, {hi}]")
        return self


class Deployment(Model):
    """A Deployment: ``replicas`` pods of a workload; ``update_at_s`` rolls it to a new revision
    (``update_image``, or the same image: a restart) under ``max_surge`` / ``max_unavailable``."""

    name: Name
    workload: Name
    replicas: Count
    at_s: NonNeg = 0.0
    update_at_s: NonNeg | None = None
    update_image: Name | None = None
    scale_to: Count | None = None          # a scale change at ``scale_at_s``
    scale_at_s: NonNeg | None = None
    max_surge: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None
    priority: Annotated[Int, Field(ge=-2_147_483_648, le=1_000_000_000)] = 0

    @model_validator(mode="after")
    def _pairs(self) -> Deployment:
        if (self.scale_to is None) != (self.scale_at_s is None):
            raise ValueError("scale_to and scale_at_s go together (set both, or neither)")
        if self.update_at_s is not None and self.update_at_s < self.at_s:
            raise ValueError(f"update_at_s ({self.update_at_s}) is before at_s ({self.at_s})")
        return self


class Job(Model):
    """A Job: ``completions`` pods, at most ``parallelism`` at once, each running ``run_s``."""

    name: Name
    workload: Name
    completions: Annotated[Int, Field(ge=1, le=1_000_000)]
    parallelism: Annotated[Int, Field(ge=1, le=1_000_000)] = 1
    run_s: NonNeg = 10.0
    at_s: NonNeg = 0.0
    priority: Annotated[Int, Field(ge=-2_147_483_648, le=1_000_000_000)] = 0
    # the share of pods whose container exits non-zero at the end of run_s (restartPolicy Never:
    # the Job controller creates another after its back-off, up to backoff_limit failures)
    fail_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    backoff_limit: Annotated[Int, Field(ge=0, le=1_000_000)] | None = None


class NodeFailure(Model):
    """A node dies at ``at_s`` (power off, kernel panic, partition): its heartbeats stop."""

    at_s: NonNeg
    pool: Name | None = None               # None: the first pool
    node: Annotated[Int, Field(ge=0)] = 0  # index within the pool
    count: Annotated[Int, Field(ge=1, le=100_000)] = 1


class ApiServerSettings(Model):
    read_median_s: NonNeg | None = None
    read_p95_s: NonNeg | None = None
    write_median_s: NonNeg | None = None
    write_p95_s: NonNeg | None = None
    etcd_write_median_s: NonNeg | None = None
    etcd_write_p95_s: NonNeg | None = None
    max_mutating_inflight: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    max_readonly_inflight: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None


class ClientSettings(Model):
    kubelet_qps: Positive | None = None
    kubelet_burst: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    scheduler_qps: Positive | None = None
    scheduler_burst: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    controller_qps: Positive | None = None
    controller_burst: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None


class WatchSettings(Model):
    median_s: NonNeg | None = None
    p95_s: NonNeg | None = None


class SchedulerSettings(Model):
    percentage_of_nodes_to_score: Annotated[Int, Field(ge=0, le=100)] | None = None
    cycle_base_s: NonNeg | None = None
    filter_per_node_s: NonNeg | None = None
    score_per_node_s: NonNeg | None = None
    initial_backoff_s: NonNeg | None = None
    max_backoff_s: NonNeg | None = None


class ControllerSettings(Model):
    replicaset_syncs: Annotated[Int, Field(ge=1, le=10_000)] | None = None
    deployment_syncs: Annotated[Int, Field(ge=1, le=10_000)] | None = None
    job_syncs: Annotated[Int, Field(ge=1, le=10_000)] | None = None
    job_backoff_limit: Annotated[Int, Field(ge=0, le=1_000_000)] | None = None
    job_backoff_s: NonNeg | None = None
    job_max_backoff_s: NonNeg | None = None
    burst_replicas: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    max_surge: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None


class KubeletSettings(Model):
    max_pods: Annotated[Int, Field(ge=1, le=10_000)] | None = None
    status_update_s: NonNeg | None = None
    pleg_relist_s: NonNeg | None = None


class NodeLifecycleSettings(Model):
    heartbeat_s: Positive | None = None
    monitor_period_s: Positive | None = None
    grace_s: NonNeg | None = None
    toleration_s: NonNeg | None = None


class AutoscalerSettings(Model):
    scan_interval_s: Positive | None = None
    unneeded_s: NonNeg | None = None
    delay_after_add_s: NonNeg | None = None
    utilization_threshold: Annotated[float, Field(ge=0, le=1)] | None = None


class Cluster(Model):
    """A Kubernetes cluster above the hosts: pools of nodes, a control plane, Deployments and Jobs."""

    pools: Annotated[list[NodePool], Field(min_length=1)]
    deployments: list[Deployment] = []
    jobs: list[Job] = []
    node_failures: list[NodeFailure] = []
    prepulled: bool = False                # every node holds every image before the run
    horizon_s: Positive | None = None      # None: the scenario's duration_s
    sample_s: Annotated[float, Field(gt=0, le=1e6)] = 1.0   # pods by phase, sampled this often
    api_server: ApiServerSettings = ApiServerSettings()
    clients: ClientSettings = ClientSettings()
    watch: WatchSettings = WatchSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    controllers: ControllerSettings = ControllerSettings()
    kubelet: KubeletSettings = KubeletSettings()
    node_lifecycle: NodeLifecycleSettings = NodeLifecycleSettings()
    autoscaler: AutoscalerSettings = AutoscalerSettings()

    @model_validator(mode="after")
    def _unique_names(self) -> Cluster:
        for what, items in (("pools", self.pools), ("deployments", self.deployments), ("jobs", self.jobs)):
            names = [i.name for i in items]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{what}: the name {dup[0]!r} is used twice (allowed: unique names)")
        pools = {p.name: p for p in self.pools}
        for f in self.node_failures:
            pool = pools.get(f.pool) if f.pool is not None else self.pools[0]
            if pool is None:
                raise ValueError(f"node_failures: pool {f.pool!r} does not exist (allowed: {', '.join(pools)})")
            if f.node + f.count > max(pool.count, pool.max_count or 0):
                raise ValueError(f"node_failures: nodes {f.node}..{f.node + f.count - 1} of pool {pool.name!r} "
                                 f"do not exist (it has {pool.count})")
        return self


__all__ = ["ApiServerSettings", "AutoscalerSettings", "ClientSettings", "Cluster", "ControllerSettings",
           "Deployment", "Job", "KubeletSettings", "NodeFailure", "NodeLifecycleSettings", "NodePool",
           "SchedulerSettings", "WatchSettings"]
