"""sweep: runs per second of a parameter sweep, local process pool and Dask, at 1 and 2 workers.

Two scenarios: *small* (one Poisson service on a 4-core host for 120 s: tens of milliseconds a
run, where per-task and per-batch overheads show) and *medium* (models/scenarios/default.toml:
four workloads for 1800 s, ~3000 events, a few tenths of a second a run). Each sweep writes its
store (runs.parquet, summary.parquet) to a fresh folder, as the CLI does. Worker start-up (the
forkserver, the Dask cluster, importing simcontainer) is warmed up before timing: it is paid once
per session, not per run. Scaling efficiency at 2 workers = rate(2) / (2 x rate(1)).

``python -m bench.bench_sweep`` prints the table; ``run()`` returns it for ``python -m bench``.
Wall-clock figures: a machine shared with other jobs makes them noisy (best of ``repeat``).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

SMALL = {
    "name": "bench-sweep-small", "duration_s": 120.0, "seed": 3,
    "host": {"cpu_cores": 4, "ram_mib": 4096, "disk_gib": 50},
    "daemon": {"prepull": ["python:3.12-slim"]},
    "workloads": [{"name": "api", "runtime": "runc", "image": "python:3.12-slim", "cpu": 0.2,
                   "mem_mib": 256, "arrival": {"kind": "poisson", "rate_per_s": 0.5},
                   "lifetime": {"kind": "exponential", "mean_s": 30.0}, "auto_remove": True}],
}


def specs(small_runs: int, medium_runs: int) -> dict[str, Any]:
    from simcontainer.scenario.loading import load_scenario, parse_scenario
    from simcontainer.studies.sweep import parse_sweep

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    small = parse_sweep({"replications": max(1, small_runs // 4),
                         "axes": {"workloads.api.arrival.rate_per_s": [0.3, 0.5, 0.7, 0.9]}},
                        base_scenario=parse_scenario(SMALL))
    medium = parse_sweep({"replications": max(1, medium_runs // 2),
                          "axes": {"workloads.churn-runc.arrival.rate_per_s": [0.1, 0.2]}},
                         base_scenario=load_scenario(f"{root}/models/scenarios/default.toml"))
    return {"small": small, "medium": medium}


def _timed_sweep(go: Callable[[str], Any], repeat: int) -> tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as out:
            t = time.perf_counter()
            res = go(out)
            best = min(best, time.perf_counter() - t)
            n = res.computed
    return best, n


def run(repeat: int | None = None, small_runs: int = 120, medium_runs: int = 24) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from bench._common import target
    from simcontainer.studies.sweep import run_sweep

    repeat = repeat or int(os.environ.get("BENCH_REPEAT", 2))
    sweeps = specs(small_runs, medium_runs)
    rows: list[dict[str, Any]] = []
    # Warm the forkserver (it imports simcontainer once) before anything is timed.
    run_sweep(sweeps["small"], workers=2, batch_size=1)
    for workers in (1, 2):
        for name, spec in sweeps.items():
            wall, n = _timed_sweep(lambda out, spec=spec, w=workers: run_sweep(spec, out=out, workers=w), repeat)
            rows.append({"scenario": name, "engine": "local", "workers": workers, "runs": n,
                         "wall_s": round(wall, 3), "runs_per_s": round(n / wall, 2)})
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(__import__, "simcontainer.studies.sweep")  # imports paid before timing
            for name, spec in sweeps.items():
                wall, n = _timed_sweep(lambda out, spec=spec: run_sweep(spec, out=out, scheduler=client), repeat)
                rows.append({"scenario": name, "engine": "dask", "workers": workers, "runs": n,
                             "wall_s": round(wall, 3), "runs_per_s": round(n / wall, 2)})
    efficiency = []
    for name in sweeps:
        for engine in ("local", "dask"):
            r1, r2 = (next(r["runs_per_s"] for r in rows
                           if r["scenario"] == name and r["engine"] == engine and r["workers"] == w)
                      for w in (1, 2))
            efficiency.append({"scenario": name, "engine": engine, "efficiency_2": round(r2 / (2 * r1), 3)})
    cores = os.cpu_count() or 1
    medium_local = next(e["efficiency_2"] for e in efficiency
                        if e["scenario"] == "medium" and e["engine"] == "local")
    targets = [target("medium local scaling efficiency at 2 workers", medium_local,
                      0.7 if cores >= 2 else 0.0, op=">=")]
    return {"rows": rows, "efficiency": efficiency, "cores": cores, "targets": targets}


def table(result: dict[str, Any]) -> str:
    lines = [f"{'scenario':<8} {'engine':<6} {'workers':>7} {'runs':>5} {'wall s':>8} {'runs/s':>8}"]
    for r in result["rows"]:
        lines.append(f"{r['scenario']:<8} {r['engine']:<6} {r['workers']:>7} {r['runs']:>5} "
                     f"{r['wall_s']:>8.2f} {r['runs_per_s']:>8.2f}")
    lines.append("")
    lines.append(f"scaling efficiency at 2 workers ({result['cores']} cores on this machine):")
    for e in result["efficiency"]:
        lines.append(f"  {e['scenario']:<8} {e['engine']:<6} {e['efficiency_2']:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run()))
