"""sweep: runs per second per worker of sweeps and optimize studies, local pool and Dask, at 1 and 2 workers.

Scenarios: *default* (models/scenarios/default.toml: four workloads for 1800 s, a few thousand
events, tens of milliseconds a run -- the figure of issue 28) and *small* (one Poisson service on
a 4-core host for 120 s: a few milliseconds a run, where per-task and per-batch overheads show).
Each sweep writes its store (runs.parquet, summary.parquet) to a fresh folder, as the CLI does;
each optimize study its journal and tables (TPE, 4 trials asked at a time, 3 replications each).
Worker start-up (the forkserver, the Dask cluster, importing simcontainer) is warmed up before
timing: it is paid once per session, not per run.

Figures per row: ``runs_per_s`` (wall), ``per_worker`` (that / workers), ``cpu_per_run_ms`` (CPU
seconds per run of this process, with 1 local worker only: pool workers are the forkserver's
children, out of this process's reach, and Dask's are elsewhere). Scaling efficiency at 2 workers =
rate(2) / (2 x rate(1)). On a shared machine the wall figures follow the neighbours' load (the
load average is recorded; the CPU figures much less), so the machine's own efficiency at two
processes is measured before and after (a busy loop: :func:`machine_efficiency`) and each
runner's efficiency is also given relative to it.

``python -m bench.bench_sweep`` prints the table; ``run()`` returns it for ``python -m bench``.
Sizes: ``BENCH_SWEEP_RUNS`` (runs per default-scenario sweep, default 48), ``BENCH_REPEAT``
(best of, default 2), ``BENCH_SWEEP_DASK=0`` to leave Dask out.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench._common import target
from simcontainer.scenario.loading import load_scenario, parse_scenario
from simcontainer.studies.optimize import parse_optimize, run_optimize
from simcontainer.studies.sweep import parse_sweep, run_sweep

SMALL = {
    "name": "bench-sweep-small", "duration_s": 120.0, "seed": 3,
    "host": {"cpu_cores": 4, "ram_mib": 4096, "disk_gib": 50},
    "daemon": {"prepull": ["python:3.12-slim"]},
    "workloads": [{"name": "api", "runtime": "runc", "image": "python:3.12-slim", "cpu": 0.2,
                   "mem_mib": 256, "arrival": {"kind": "poisson", "rate_per_s": 0.5},
                   "lifetime": {"kind": "exponential", "mean_s": 30.0}, "auto_remove": True}],
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPT_REPLICATIONS = 3


def _warm_import() -> None:
    """Import the sweep machinery on a Dask worker. Returns None on purpose: ``client.run``
    sends the return value back, and a module cannot be pickled (``client.run(__import__, ...)``
    failed with "cannot pickle '_Package' object")."""
    importlib.import_module("simcontainer.studies.sweep")


def specs(default_runs: int, small_runs: int) -> dict[str, Any]:
    default = load_scenario(f"{ROOT}/models/scenarios/default.toml")
    small = parse_scenario(SMALL)
    sweeps = {
        "default": parse_sweep({"replications": max(1, default_runs // 2),
                                "axes": {"workloads.churn-runc.arrival.rate_per_s": [0.1, 0.2]}},
                               base_scenario=default),
        "small": parse_sweep({"replications": max(1, small_runs // 4),
                              "axes": {"workloads.api.arrival.rate_per_s": [0.3, 0.5, 0.7, 0.9]}},
                             base_scenario=small),
    }
    # float knobs: a repeated configuration (which the study would not run again) is unlikely
    study = parse_optimize({"trials": max(1, default_runs // OPT_REPLICATIONS), "replications": OPT_REPLICATIONS,
                            "seed": 1, "parallel_trials": 4, "startup_trials": 4,
                            "space": {"workloads.churn-runc.arrival.rate_per_s": {"low": 0.05, "high": 0.4},
                                      "workloads.churn-runc.lifetime.mean_s": {"low": 30.0, "high": 300.0}},
                            "objectives": {"workloads.churn-runc.startup_s.p95": "minimize"}},
                           base_scenario=default)
    return {"sweeps": sweeps, "optimize": study}


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


def machine_efficiency(n: int = 3_000_000, repeat: int = 2) -> float:
    """What this machine gives a second process right now: the same pure-Python work done by one
    process and by two at once, efficiency = rate(2) / (2 x rate(1)) (1.0 on two idle cores; ~0.5
    when neighbours already keep both cores busy). The runners' own efficiency is read against it."""
    ctx = mp.get_context("fork")
    best = 0.0
    with ctx.Pool(2) as pool:
        pool.map(_spin, [1000, 1000])
        for _ in range(repeat):
            t = time.perf_counter()
            _spin(n)
            _spin(n)
            one = time.perf_counter() - t
            t = time.perf_counter()
            pool.map(_spin, [n, n])
            two = time.perf_counter() - t
            best = max(best, one / (2 * two))
    return best


def _timed(go: Callable[[str], int], repeat: int, in_process: bool) -> tuple[float, float, int]:
    """(best wall s, CPU s of that repeat or NaN, runs) over ``repeat`` calls, each into a fresh folder."""
    best = (float("inf"), float("nan"), 0)
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as out:
            c0 = time.process_time()
            t = time.perf_counter()
            n = go(out)
            wall = time.perf_counter() - t
            cpu = time.process_time() - c0 if in_process else float("nan")
            if wall < best[0]:
                best = (wall, cpu, n)
    return best


def _row(kind: str, scenario: str, engine: str, workers: int, timing: tuple[float, float, int]) -> dict[str, Any]:
    wall, cpu, n = timing
    return {"kind": kind, "scenario": scenario, "engine": engine, "workers": workers, "runs": n,
            "wall_s": round(wall, 3), "runs_per_s": round(n / wall, 2), "per_worker": round(n / wall / workers, 2),
            "cpu_per_run_ms": round(1000 * cpu / n, 2) if n and cpu == cpu and cpu > 0 else None}


def _measure(engine: str, workers: int, setup: dict[str, Any], repeat: int, client: Any = None) -> list[dict[str, Any]]:
    where: dict[str, Any] = {"scheduler": client} if client is not None else {"workers": workers}
    in_process = engine == "local" and workers == 1
    rows = []
    for name, spec in setup["sweeps"].items():
        t = _timed(lambda out, spec=spec: run_sweep(spec, out=out, **where).computed, repeat, in_process)
        rows.append(_row("sweep", name, engine, workers, t))
    t = _timed(lambda out: run_optimize(setup["optimize"], out=out, **where).runs, repeat, in_process)
    rows.append(_row("optimize", "default", engine, workers, t))
    return rows


def run(repeat: int | None = None, default_runs: int | None = None, small_runs: int = 120) -> dict[str, Any]:
    repeat = repeat or int(os.environ.get("BENCH_REPEAT", 2))
    default_runs = default_runs or int(os.environ.get("BENCH_SWEEP_RUNS", 48))
    use_dask = os.environ.get("BENCH_SWEEP_DASK", "1") != "0"
    setup = specs(default_runs, small_runs)
    rows: list[dict[str, Any]] = []
    # Warm the forkserver (it imports simcontainer once) and import Optuna before anything is timed.
    run_sweep(setup["sweeps"]["small"], workers=2, batch_size=1)
    importlib.import_module("optuna")
    load = os.getloadavg()[0]
    machine = [machine_efficiency()]
    for workers in (1, 2):
        rows += _measure("local", workers, setup, repeat)
        if use_dask:
            from distributed import Client, LocalCluster  # noqa: PLC0415 - heavy, and optional here

            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                client.run(_warm_import)  # imports paid before timing
                rows += _measure("dask", workers, setup, repeat, client)
    machine.append(machine_efficiency())
    ceiling = sum(machine) / len(machine)
    efficiency = []
    for kind, name, engine in dict.fromkeys((r["kind"], r["scenario"], r["engine"]) for r in rows):
        r1, r2 = (next(r["runs_per_s"] for r in rows if (r["kind"], r["scenario"], r["engine"], r["workers"])
                       == (kind, name, engine, w)) for w in (1, 2))
        efficiency.append({"kind": kind, "scenario": name, "engine": engine, "efficiency_2": round(r2 / (2 * r1), 3),
                           "relative_to_machine": round(r2 / (2 * r1) / ceiling, 3)})
    cores = os.cpu_count() or 1

    def pick(kind: str, key: str, workers: int = 1) -> float:
        return next(r[key] for r in rows if (r["kind"], r["scenario"], r["engine"], r["workers"])
                    == (kind, "default", "local", workers))

    def eff(kind: str) -> float:
        return next(e["efficiency_2"] for e in efficiency if (e["kind"], e["scenario"], e["engine"])
                    == (kind, "default", "local"))

    targets = [target("default sweep runs/s per worker (local, 1 worker)", pick("sweep", "per_worker"), 40, op=">="),
               target("default optimize runs/s per worker (local, 1 worker)", pick("optimize", "per_worker"), 40,
                      op=">="),
               target("default sweep scaling efficiency at 2 workers", eff("sweep"), 0.9 if cores >= 2 else 0.0,
                      op=">="),
               target("default optimize scaling efficiency at 2 workers", eff("optimize"), 0.9 if cores >= 2 else 0.0,
                      op=">=")]
    return {"rows": rows, "efficiency": efficiency, "cores": cores, "load_average_1m": round(load, 2),
            "machine_efficiency_2": round(ceiling, 3),
            "targets": targets}


def table(result: dict[str, Any]) -> str:
    lines = [f"{'kind':<9}{'scenario':<9}{'engine':<7}{'workers':>7}{'runs':>6}{'wall s':>8}{'runs/s':>8}"
             f"{'/worker':>9}{'CPU ms/run':>11}"]
    for r in result["rows"]:
        cpu = f"{r['cpu_per_run_ms']:.1f}" if r["cpu_per_run_ms"] is not None else "-"
        lines.append(f"{r['kind']:<9}{r['scenario']:<9}{r['engine']:<7}{r['workers']:>7}{r['runs']:>6}"
                     f"{r['wall_s']:>8.2f}{r['runs_per_s']:>8.2f}{r['per_worker']:>9.2f}{cpu:>11}")
    lines.append("")
    lines.append(f"scaling efficiency at 2 workers ({result['cores']} cores; load average "
                 f"{result['load_average_1m']} when it started; the machine itself gave a second process "
                 f"{result['machine_efficiency_2']:.2f}):")
    lines.append(f"  {'kind':<9}{'scenario':<9}{'engine':<7}{'measured':>9}{'/ machine':>10}")
    for e in result["efficiency"]:
        lines.append(f"  {e['kind']:<9}{e['scenario']:<9}{e['engine']:<7}{e['efficiency_2']:>9.2f}"
                     f"{e['relative_to_machine']:>10.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run()))
