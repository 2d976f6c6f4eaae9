"""A cluster run's result, measured as Kubernetes measures it.

- **Pod startup latency** (sig-scalability/slos/pod_startup_latency.md): from the pod's creation
  (its creationTimestamp: the create call answered) to its Running status observed through a
  watch; ``startup_s`` includes the image pull, ``startup_excl_pulls_s`` subtracts the time the
  pod waited for its image (the SLO's scope: p99 <= 5 s).
- **API call latency** per client and verb, throttling by the client's bucket included.
- **Scheduling throughput**: bind calls answered per second (the scheduler_perf
  SchedulingThroughput metric), average and peak over 1-s windows, and the bound the configured
  costs allow.
- **What bound the rollout**: the stage in which pods spent most of their time on average.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from simcontainer.model.cluster.objects import PHASES
from simcontainer.model.cluster.scheduler import nodes_to_find

if TYPE_CHECKING:
    from simcontainer.model.cluster.sim import ClusterSim

SLO_P99_S = 5.0     # sig-scalability pod startup SLO (stateless pods, image pulls excluded)

# stage -> what a rollout spending most of its time there is bound by
STAGES = {
    "create": "controller-manager API QPS (pod creates)",
    "queue": "scheduler (queue and scheduling cycles)",
    "bind": "scheduler API QPS (bind calls) and API latency",
    "pull": "image pulls",
    "kubelet": "kubelet (sandbox, CNI, runtime start)",
    "report": "kubelet status report (PLEG, kubelet API QPS, watch)",
}


def pct(a: np.ndarray) -> dict[str, float] | None:
    if a.size == 0:
        return None
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(a.max()), "mean": float(a.mean())}


def _throughput(binds: list[float]) -> dict[str, float]:
    if len(binds) < 2:
        return {"binds": len(binds), "mean_pods_s": 0.0, "peak_pods_s": float(len(binds))}
    b = np.asarray(binds)
    per_s = np.bincount(np.floor(b - b[0]).astype(int))
    busy = per_s[per_s > 0]
    # the mean over the seconds in which pods were bound (scheduler_perf samples throughput per second)
    return {"binds": int(b.size), "mean_pods_s": float(busy.mean()), "peak_pods_s": float(per_s.max())}


def summarise(sim: ClusterSim, wall_s: float) -> dict[str, Any]:
    pods = sim.pods
    n = len(pods)
    times = np.array([(p.asked, p.created, p.queued, p.scheduled, p.bound, p.started, p.running, p.pull_s)
                      for p in pods], dtype=float).reshape(n, 8)
    asked, created, queued, scheduled, bound, started, running, pull = times.T
    ok = ~np.isnan(running)
    startup = running[ok] - created[ok]
    excl = startup - pull[ok]
    stages = {
        "create": created - asked, "queue": scheduled - queued, "bind": bound - scheduled,
        "pull": pull, "kubelet": started - bound - pull, "report": running - started,
    }
    stage_means = {k: float(np.nanmean(v[ok])) if ok.any() else None for k, v in stages.items()}
    bound_by = max((k for k, v in stage_means.items() if v is not None), key=lambda k: stage_means[k] or 0.0,
                   default=None)
    deployments = {}
    for dep in sim.controllers.deployments:
        first = dep.rollouts[0] if dep.rollouts else {}
        deployments[dep.name] = {"replicas": dep.replicas, "started_s": first.get("started_s"),
                                 "done_s": first.get("done_s"), "rollout_s": first.get("rollout_s"),
                                 "rollouts": dep.rollouts}
    jobs = {j.name: {"completions": j.spec.completions, "succeeded": j.succeeded, "failed": j.failed,
                     "status": j.status, "started_s": _f(j.started),
                     "done_s": _f(j.done), "duration_s": _f(j.done - j.started)} for j in sim.controllers.jobs}
    rollouts = [d["rollout_s"] for d in deployments.values()]
    finished = [r for r in rollouts if r is not None]
    first = min((d["started_s"] for d in deployments.values() if d["started_s"] is not None), default=math.nan)
    last = max((d["done_s"] for d in deployments.values() if d["done_s"] is not None), default=math.nan)
    nodes = [nd for nd in sim.nodes if nd.removed != nd.removed]
    sched = sim.scheduler
    horizon = sim.params.horizon_s
    heartbeats = sum(sim.lifecycle.heartbeats(nd, horizon) for nd in sim.nodes)
    per_node = np.bincount([p.node.index for p in pods if p.node is not None and p.phase == 2],
                           minlength=len(sim.nodes)) if n else np.zeros(0)
    return {
        "nodes": len(nodes), "pods": n, "pods_running": int(sim.counts[2]),
        "pods_per_node_max": int(per_node.max()) if per_node.size else 0,
        "rollout_s": float(last - first) if finished and len(finished) == len(rollouts) else None,
        "deployments": deployments, "jobs": jobs,
        "startup_s": pct(startup), "startup_excl_pulls_s": pct(excl),
        "slo": {"p99_limit_s": SLO_P99_S,
                "met": bool(excl.size and np.percentile(excl, 99) <= SLO_P99_S)},
        "stages_s": stage_means, "bound_by": STAGES.get(bound_by or ""), "bound_stage": bound_by,
        "scheduler": {**_throughput(sched.binds), "cycles": sched.cycles, "failed_cycles": sched.failed_cycles,
                      "preemptions": sched.preemptions,
                      "busy_s": sched.busy_s, "bound_pods_s": sched.throughput_bound(),
                      "nodes_scored": min(nodes_to_find(len(sched.nodes), sched.pct), len(sched.nodes))},
        "api": {"writes": sim.api.writes, "reads": sim.api.reads, "heartbeat_writes": heartbeats,
                "mean_mutating_inflight": (sim.api.write_service_s / horizon) if horizon else 0.0,
                "peak_mutating_inflight": sim.api.peak_mutating_inflight(),
                "max_mutating_inflight": sim.api.max_mutating,
                "calls": sim.api.summary()},
        "node_failures": [timeline(sim, line) for line in sim.lifecycle.timelines],
        "autoscaler": {"scale_ups": sim.autoscaler.scale_ups, "scale_downs": sim.autoscaler.scale_downs},
        "phases": {"columns": ["t_s", *PHASES], "rows": [list(r) for r in sim.samples]},
        "serving": serving(sim),
        "events": sim.env.scheduled, "wall_s": wall_s,
    }


def serving(sim: ClusterSim) -> list[int]:
    """Deployment pods actually serving (Running and observed, on a live node, not deleted) at
    each sample time of ``phases``: unlike the API's Running count, it drops when a node dies."""
    log = np.frombuffer(sim.avail_log, dtype=float).reshape(-1, 4)
    times = np.array([r[0] for r in sim.samples])
    if log.size == 0 or times.size == 0:
        return [0] * len(times)
    last: dict[float, float] = {}
    delta = np.empty(len(log))
    for i, (_, dep, actual, _) in enumerate(log):
        delta[i] = actual - last.get(dep, 0.0)
        last[dep] = actual
    total = np.cumsum(delta)
    idx = np.searchsorted(log[:, 0], times, side="right") - 1
    return [int(total[i]) if i >= 0 else 0 for i in idx]


def _f(x: float) -> float | None:
    return None if x != x else float(x)


def timeline(sim: ClusterSim, line: dict[str, Any]) -> dict[str, Any]:
    """A failed node's story: last heartbeat, NotReady, eviction, its pods' replacements
    created, scheduled and running elsewhere."""
    owners = line["owners"]
    t_evict = line.get("evicted_s", math.nan)
    repl = [p for p in sim.pods if id(p.owner) in owners and p.created == p.created and p.created >= t_evict]
    repl.sort(key=lambda p: p.created)
    repl = repl[: line["pods"]]
    running = [p.running for p in repl if p.running == p.running]
    out = {k: v for k, v in line.items() if k not in ("owners", "pod_ids")}
    out.update({
        "evicted_s": _f(t_evict),
        "replacements": len(repl),
        "replacements_created_s": _f(min((p.created for p in repl), default=math.nan)),
        "replacements_scheduled_s": _f(max((p.scheduled for p in repl), default=math.nan)),
        "running_again_s": _f(max(running)) if len(running) == line["pods"] and running else None,
        "replacement_nodes": sorted({p.node.index for p in repl if p.node is not None}),
    })
    if out["running_again_s"] is not None:
        out["down_s"] = out["running_again_s"] - line["failed_s"]
    return out


__all__ = ["SLO_P99_S", "STAGES", "pct", "summarise", "timeline"]
