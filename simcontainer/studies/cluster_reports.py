"""Studies on the cluster model: the rollout table, a node failure's timeline, and the published
figures it is compared with (models/cluster-validation.toml).

- :func:`rollout_scenario` builds a one-Deployment cluster of ``nodes`` x ``pods_per_node`` pods;
- :func:`rollout_table` runs it over cluster sizes: rollout time, startup p50/p99 and what bound it;
- :func:`node_failure_timeline` -- from the node's last heartbeat to its pods running elsewhere;
- :func:`validation_table` -- each published figure rerun under its conditions, with the ratio.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from simcontainer.model.cluster.sim import ClusterSim, build, simulate_cluster
from simcontainer.scenario.cluster import Deployment
from simcontainer.scenario.loading import parse_scenario
from simcontainer.scenario.profiles import models_dir
from simcontainer.scenario.schema import Scenario

DEFAULT_SIZES = ((100, 30), (500, 30), (1000, 30), (1000, 100), (5000, 30))


def rollout_scenario(nodes: int, pods_per_node: int, *, host: str = "server-64g", image: str = "nginx:1.27",
                     prepulled: bool = False, clients: dict[str, Any] | None = None, cpu: float = 0.1,
                     mem_mib: float = 128.0, deployments: int = 1, seed: int = 0, horizon_s: float = 7200.0,
                     failures: Iterable[dict[str, Any]] = (), extra: dict[str, Any] | None = None) -> Scenario:
    """``nodes`` nodes of ``host`` and ``deployments`` Deployments of ``nodes x pods_per_node``
    pods in all, created at t = 0 (``clients`` overrides the client rate limits)."""
    total = nodes * pods_per_node
    per = [total // deployments + (1 if i < total % deployments else 0) for i in range(deployments)]
    cluster: dict[str, Any] = {
        "pools": [{"name": "nodes", "host": host, "count": nodes}],
        "deployments": [{"name": f"app-{i}", "workload": "app", "replicas": r} for i, r in enumerate(per) if r],
        "prepulled": prepulled, "sample_s": max(1.0, horizon_s / 2000), "node_failures": list(failures),
        "clients": dict(clients or {}),
        **(extra or {}),
    }
    data = {
        "name": f"rollout-{nodes}x{pods_per_node}", "duration_s": horizon_s, "seed": seed, "host": {"preset": host},
        "workloads": [{"name": "app", "runtime": "runc", "image": image, "cpu": cpu, "mem_mib": mem_mib,
                       "arrival": {"kind": "burst", "at_s": 0.0, "count": 1}}],
        "cluster": cluster,
    }
    return parse_scenario(data, source=data["name"])


SCALABILITY_CLIENTS = {"controller_qps": 100.0, "controller_burst": 100, "scheduler_qps": 100.0,
                       "scheduler_burst": 100}
LIFTED_CLIENTS = {"controller_qps": 1000.0, "controller_burst": 1000, "scheduler_qps": 1000.0,
                  "scheduler_burst": 1000}
VARIANTS = {"defaults": {}, "scalability-test": SCALABILITY_CLIENTS, "lifted": LIFTED_CLIENTS}


def rollout_row(result: dict[str, Any], nodes: int, pods_per_node: int, settings: str) -> dict[str, Any]:
    s, x = result["startup_s"] or {}, result["startup_excl_pulls_s"] or {}
    return {"nodes": nodes, "pods_per_node": pods_per_node, "pods": result["pods"], "settings": settings,
            "rollout_s": result["rollout_s"], "startup_p50_s": s.get("p50"), "startup_p99_s": s.get("p99"),
            "startup_excl_pulls_p50_s": x.get("p50"), "startup_excl_pulls_p99_s": x.get("p99"),
            "bound_by": result["bound_by"], "scheduler_pods_s": result["scheduler"]["mean_pods_s"],
            "slo_met": result["slo"]["met"], "wall_s": result["wall_s"], "events": result["events"]}


def rollout_cell(nodes: int, pods_per_node: int, name: str, clients: dict[str, Any], seed: int,
                 kw: dict[str, Any]) -> dict[str, Any]:
    """One row of the rollout table (a plain function: a Dask worker runs it). The horizon is long
    enough for the controller manager's QPS to create every pod, with room to spare."""
    qps = clients.get("controller_qps", 20.0)
    kw = {"horizon_s": max(1800.0, 1.3 * nodes * pods_per_node / qps + 600.0), **kw}
    scenario = rollout_scenario(nodes, pods_per_node, clients=clients, seed=seed, **kw)
    return rollout_row(simulate_cluster(scenario), nodes, pods_per_node, name)


def rollout_table(sizes: Iterable[tuple[int, int]] = DEFAULT_SIZES, *, seed: int = 0,
                  variants: dict[str, dict[str, Any]] | None = None, scheduler: Any = None,
                  **kw: Any) -> list[dict[str, Any]]:
    """One row per cluster size and client settings: ``defaults`` (upstream rate limits),
    ``scalability-test`` (controller-manager and scheduler QPS raised to 100, as the
    sig-scalability test clusters run) and ``lifted`` (1,000 QPS: what binds once the client
    buckets do not), images pulled on each node (not pre-pulled).

    ``scheduler``: a Dask ``distributed.Client`` or a scheduler address (``tcp://HOST:PORT``):
    the cells run on its workers, one cluster per task; None: here, one after another.
    """
    variants = variants if variants is not None else VARIANTS
    cells = [(nodes, per, name, clients, seed, kw) for nodes, per in sizes for name, clients in variants.items()]
    if scheduler is None:
        return [rollout_cell(*c) for c in cells]
    from distributed import Client  # noqa: PLC0415 - heavy

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler, timeout="15s", set_as_default=False)
    try:
        futures = [client.submit(rollout_cell, *c, pure=False) for c in cells]
        return client.gather(futures)
    finally:
        if client is not scheduler:
            client.close()


def node_failure_timeline(nodes: int = 10, pods_per_node: int = 10, *, fail_at_s: float = 60.0, seed: int = 0,
                          settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One node of a small cluster dies: the steps from its last heartbeat to its pods running
    elsewhere, as (t_s, step, what) rows (``settings``: [cluster.node_lifecycle] overrides)."""
    extra = {"node_lifecycle": settings} if settings else None
    scenario = rollout_scenario(nodes, pods_per_node, prepulled=True, seed=seed, horizon_s=fail_at_s + 900.0,
                                failures=[{"at_s": fail_at_s, "pool": "nodes", "node": 0}], extra=extra)
    result = simulate_cluster(scenario)
    return timeline_rows(result["node_failures"][0])


def timeline_rows(line: dict[str, Any]) -> list[dict[str, Any]]:
    steps = [
        ("last_heartbeat_s", "last heartbeat", "the kubelet's last node-lease renewal before the failure"),
        ("failed_s", "node dies", f"{line['pods']} pods stop serving; the API still shows them Running"),
        ("not_ready_s", "NotReady + taint", "lease older than node-monitor-grace-period at a monitor pass: "
                                            "pods marked not ready, unreachable:NoExecute taint"),
        ("evicted_s", "evicted", "tolerationSeconds after the taint: the pods are deleted"),
        ("replacements_created_s", "replacements created", "the ReplicaSet creates new pods"),
        ("replacements_scheduled_s", "replacements scheduled", "on other nodes"),
        ("running_again_s", "running again", "every replacement observed Running"),
    ]
    rows = [{"t_s": line.get(k), "step": name, "what": what} for k, name, what in steps if line.get(k) is not None]
    t0 = line["failed_s"]
    for r in rows:
        r["since_failure_s"] = r["t_s"] - t0
    return rows


# --------------------------------------------------------------------------- validation


def load_validation(directory: str | Path | None = None) -> list[dict[str, Any]]:
    root = Path(directory) if directory else models_dir()
    with open(root / "cluster-validation.toml", "rb") as f:
        return tomllib.load(f)["figures"]


def _measure(fig: dict[str, Any], seed: int) -> float:
    """Rerun a figure's conditions; the measured pods' metric."""
    nodes = fig["nodes"]
    init = fig.get("init_pods", nodes * fig.get("pods_per_node", 0))
    scenario = rollout_scenario(nodes, 0, prepulled=True, clients=fig.get("settings"), seed=seed, horizon_s=1e6)
    sim = build(scenario)
    sim.script()
    ctl = sim.controllers
    template = sim.params.templates["app"]
    step = 10.0
    if init:
        sat = ctl.add_deployment(Deployment(name="saturation", workload="app", replicas=init), template)
        ctl.new_revision(sat, template.image)
        while sat.done != sat.done:
            sim.env.run(until=sim.env.now + step)
    first = len(sim.pods)
    if fig.get("latency_pods"):
        deps = []
        for i in range(fig["latency_pods"]):
            dep = ctl.add_deployment(Deployment(name=f"latency-{i}", workload="app", replicas=1), template)
            deps.append(dep)
            sim.at(i * fig["latency_every_s"], lambda _e, d=dep: ctl.new_revision(d, d.template.image))
    else:
        dep = ctl.add_deployment(Deployment(name="measured", workload="app", replicas=fig["pods"]), template)
        ctl.new_revision(dep, template.image)
        deps = [dep]
    while any(d.done != d.done for d in deps):
        sim.env.run(until=sim.env.now + step)
    return _metric(sim, first, fig["metric"])


def _metric(sim: ClusterSim, first: int, metric: str) -> float:
    pods = [p for p in sim.pods[first:] if p.running == p.running]
    if metric == "rollout_s":       # the first create asked to the last pod observed Running
        return float(max(p.running for p in pods) - min(p.asked for p in pods))
    if metric.startswith("scheduler."):
        binds = np.sort([p.scheduled for p in pods])
        return float((len(binds) - 1) / (binds[-1] - binds[0])) if len(binds) > 1 else math.nan
    startup = np.array([p.running - p.created - p.pull_s for p in pods])
    q = {"p50": 50, "p90": 90, "p99": 99}[metric.rsplit(".", 1)[1]]
    return float(np.percentile(startup, q))


def validation_table(*, seed: int = 0, heavy: bool = True, only: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Each figure of models/cluster-validation.toml: conditions, published, simulated, ratio.
    ``heavy = False`` leaves out the figures that simulate 150,000 pods or 30,000 nodes."""
    wanted = set(only) if only is not None else None
    rows = []
    for fig in load_validation():
        if (wanted is not None and fig["id"] not in wanted) or (not heavy and fig.get("heavy")):
            continue
        sim_value = _measure(fig, seed)
        ratio = sim_value / fig["published"] if fig["published"] else math.nan
        bound = fig.get("bound")
        ok = ratio <= 1.0 if bound == "upper" else None
        rows.append({"id": fig["id"], "role": fig["role"], "metric": fig["metric"],
                     "conditions": _conditions(fig), "published": fig["published"], "simulated": sim_value,
                     "ratio": ratio, "published_is": "a ceiling" if bound == "upper" else "a measurement",
                     "within_ceiling": ok, "source": fig["source"]})
    return rows


def validation_markdown(rows: list[dict[str, Any]]) -> str:
    """The validation rows as a Markdown table (for the fidelity report's "validated against"
    part): figure, conditions, published, simulated, ratio and source."""
    out = ["| figure | role | conditions | metric | published | simulated | ratio | source |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        what = r["published_is"] + ("" if r["within_ceiling"] is None else
                                    (", met" if r["within_ceiling"] else ", **not met**"))
        out.append(f"| {r['id']} | {r['role']} | {r['conditions']} | {r['metric']} | {r['published']:g} ({what}) | "
                   f"{r['simulated']:.3g} | {r['ratio']:.2f} | {r['source']} |")
    return "\n".join(out)


def _conditions(fig: dict[str, Any]) -> str:
    parts = [f"{fig['nodes']} nodes"]
    if fig.get("pods_per_node"):
        parts.append(f"{fig['pods_per_node']} saturation pods/node")
    if fig.get("init_pods"):
        parts.append(f"{fig['init_pods']} pods already running")
    if fig.get("latency_pods"):
        parts.append(f"{fig['latency_pods']} latency pods, one every {fig['latency_every_s']} s")
    if fig.get("pods"):
        parts.append(f"{fig['pods']} pods created at once")
    if fig.get("settings"):
        parts.append(", ".join(f"{k} = {v:g}" for k, v in fig["settings"].items()))
    return "; ".join(parts) + "; images pre-pulled"


__all__ = ["DEFAULT_SIZES", "LIFTED_CLIENTS", "SCALABILITY_CLIENTS", "VARIANTS", "load_validation", "node_failure_timeline", "rollout_row",
           "rollout_cell", "rollout_scenario", "rollout_table", "timeline_rows", "validation_markdown", "validation_table"]
