"""cluster: a 5,000-node x 30-pod rollout (150,000 pods) in one run (issue 26).

50 Deployments of 3,000 pods each (as the sig-scalability density test's 50 ReplicationControllers
of 3,000) on 5,000 server-64g nodes, images pre-pulled, controller-manager and scheduler client
limits raised to 1,000 QPS (so the scheduler's cycles, not a client bucket, bind the rollout).
Each size runs in a fresh process: wall and CPU time, simulated events and events/s, peak RSS
(``resource.getrusage``, ru_maxrss). Targets: the 150k-pod run within 10 minutes of one core
and under 4 GiB.

    python -m bench cluster                       # 500 x 30 and 5,000 x 30
    BENCH_CLUSTER_N=5000 python -m bench.bench_cluster
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

from bench._common import env_list, in_child, target, timed
from simcontainer.model.cluster.sim import simulate_cluster
from simcontainer.studies.cluster_reports import LIFTED_CLIENTS, rollout_scenario

DEFAULT_N = [500, 5_000]
PODS_PER_NODE = 30
CLIENTS = LIFTED_CLIENTS


def child(nodes: int) -> dict[str, Any]:
    scenario = rollout_scenario(nodes, PODS_PER_NODE, image="alpine:3.20", prepulled=True, clients=CLIENTS,
                                deployments=50, horizon_s=3600.0, seed=1)
    wall, cpu, r = timed(lambda: simulate_cluster(scenario))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux
    x = r["startup_excl_pulls_s"]
    return {"nodes": nodes, "pods": r["pods"], "pods_running": r["pods_running"], "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "run_wall_s": round(r["wall_s"], 2), "events": r["events"],
            "events_per_s": round(r["events"] / r["wall_s"]), "events_per_cpu_s": round(r["events"] / cpu),
            "peak_rss_mib": round(rss, 1),
            "rollout_s": round(r["rollout_s"], 1) if r["rollout_s"] is not None else None,
            "startup_p50_s": round(x["p50"], 2), "startup_p99_s": round(x["p99"], 2), "bound_by": r["bound_by"],
            "scheduler_pods_s": round(r["scheduler"]["mean_pods_s"], 1)}


def run(ns: list[int] | None = None) -> dict[str, Any]:
    ns = ns or env_list("BENCH_CLUSTER_N", DEFAULT_N)
    rows = []
    for n in ns:
        rows.append(in_child("bench.bench_cluster", n, "nodes"))
        if "error" in rows[-1]:
            continue
        print(f"  cluster {n} nodes: {rows[-1]['wall_s']} s, {rows[-1]['events_per_s']} events/s, "
              f"{rows[-1]['peak_rss_mib']} MiB", file=sys.stderr, flush=True)
    targets = []
    big = next((r for r in rows if r.get("nodes") == 5_000 and "error" not in r), None)
    if big:
        targets.append(target("cluster: 150k-pod rollout, CPU time", big["cpu_s"], 600.0, unit=" s"))
        targets.append(target("cluster: 150k-pod rollout, peak RSS", big["peak_rss_mib"], 4096.0, unit=" MiB"))
    return {"rows": rows, "targets": targets}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]))))
    else:
        print(json.dumps(run(), indent=2))
