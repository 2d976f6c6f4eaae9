"""Scenarios that reduce to textbook queues, simulated and set beside the formulas of simcontainer.studies.theory.

Zero-overhead custom runtimes with the image cached: a host that fits exactly c instances (Erlang B
under ``admission = "reject"``, Erlang C under ``"queue"``), a 1-core fair-share CPU (M/G/1
processor sharing) and a control plane with one worker (M/M/1). Each is replicated over QUEUE_SEEDS.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import simcontainer as sc
from simcontainer.studies.theory import (
    erlang_b,
    erlang_c,
    mm1_mean_wait,
    mmc_mean_wait,
    ps_response,
)

QUEUE_SEEDS = tuple(range(8))
IMAGE = "alpine:3.20"


def _runs(make) -> list[Any]:
    """The instances tables of one scenario replicated over QUEUE_SEEDS."""
    return [sc.simulate(make(seed)).instances for seed in QUEUE_SEEDS]


def _mean_se(vals: list[float]) -> tuple[float, float]:
    x = np.asarray(vals, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def _steady(df, lo: float, hi: float):
    """Requests in [lo, hi]: no empty start, no requests still in flight at the horizon."""
    return df[(df.t_request > lo) & (df.t_request < hi)]


WARM_S = 200.0                          # requests before this are left out (an empty start)


def _row(model: str, setup: str, quantity: str, theory: float, vals: list[float], label: str) -> dict[str, Any]:
    m, se = _mean_se(vals)
    return {"model": model, "setup": setup, "quantity": quantity, "theory": theory, "sim": m, "se": se,
            "label": label, "rel_err": (m - theory) / theory, "z": (m - theory) / se if se > 0 else 0.0}


def _workload(name: str, runtime: str, rate: float, lifetime: dict[str, Any], mem: float = 1.0) -> dict[str, Any]:
    return {"name": name, "runtime": runtime, "image": IMAGE, "mem_mib": mem, "writable_mib": 0.0,
            "arrival": {"kind": "poisson", "rate_per_s": rate}, "lifetime": lifetime, "auto_remove": True}


def erlang_rows(c: int = 10, lam: float = 0.8, mean_t: float = 10.0, horizon: float = 4000.0) -> list[dict[str, Any]]:
    """Erlang B and C: a host that fits exactly c zero-overhead instances."""
    load = lam * mean_t

    def host_of_c(seed, admission, lifetime):
        return sc.parse_scenario({
            "name": f"erlang-{admission}", "duration_s": horizon, "seed": seed,
            "host": {"cpu_cores": 4, "ram_mib": c * 100.0, "disk_gib": 1000, "reserved_mib": 0.0},   # exactly c slots
            "daemon": {"admission": admission, "prepull": [IMAGE]},
            "runtimes": [{"name": "zero", "kind": "container"}],
            "workloads": [_workload("w", "zero", lam, lifetime, mem=100.0)]})

    rows = []
    setup = f"c = {c}, load {load:g} Erlang, admission = reject, lifetimes with mean {mean_t:g} s:"
    for kind, lifetime in (("fixed", {"kind": "fixed", "s": mean_t}),
                           ("exponential", {"kind": "exponential", "mean_s": mean_t})):
        runs = _runs(lambda s, lt=lifetime: host_of_c(s, "reject", lt))
        rows.append(_row("Erlang B (M/G/c/c)", f"{setup} {kind}", "blocking fraction", erlang_b(c, load),
                         [float((_steady(d, WARM_S, horizon).state == "rejected").mean()) for d in runs],
                         f"Erlang B, {kind} lifetimes: blocking"))
        setup = "as above:"
    runs = [_steady(d, WARM_S, horizon - 2 * WARM_S)
            for d in _runs(lambda s: host_of_c(s, "queue", {"kind": "exponential", "mean_s": mean_t}))]
    waits = [d.t_admitted - d.t_request for d in runs]
    setup = f"c = {c}, load {load:g} Erlang, exponential lifetimes, admission = queue"
    rows.append(_row("Erlang C (M/M/c)", setup, "P(wait > 0)", erlang_c(c, load),
                     [float((w > 0).mean()) for w in waits], "Erlang C: P(wait > 0)"))
    rows.append(_row("Erlang C (M/M/c)", "as above", "mean wait (s)", mmc_mean_wait(c, lam, mean_t),
                     [float(w.mean()) for w in waits], "Erlang C: mean wait"))
    return rows


def ps_rows(horizon: float = 3000.0) -> list[dict[str, Any]]:
    """M/G/1 processor sharing: the fair-share CPU of a 1-core host, two classes of start."""
    xs, rates = {"small": 0.5, "large": 3.0}, {"small": 0.6, "large": 0.1}
    rho = sum(rates[k] * xs[k] for k in xs)

    def ps(seed):
        return sc.parse_scenario({
            "name": "mg1-ps", "duration_s": horizon, "seed": seed,
            "host": {"cpu_cores": 1, "ram_mib": 1e7, "disk_gib": 1000},
            "daemon": {"prepull": [IMAGE]},
            "runtimes": [{"name": f"ps-{k}", "kind": "container", "boot": {"cpu_s": x}} for k, x in xs.items()],
            "workloads": [_workload(k, f"ps-{k}", rates[k], {"kind": "fixed", "s": 0.0}) for k in xs]})

    runs = [_steady(d, WARM_S, horizon - WARM_S) for d in _runs(ps)]
    return [_row("M/G/1-PS (fair-share CPU)",
                 f"1 core, two classes: {rates['small']}/s x {xs['small']} core-s and "
                 f"{rates['large']}/s x {xs['large']} core-s (rho = {rho:.2f}); class of {x} core-s",
                 "mean response x/(1-rho) (s)", ps_response(x, rho),
                 [float((d.t_running - d.t_request)[d.workload == k].mean()) for d in runs],
                 f"M/G/1-PS: response of a {x} core-s start") for k, x in xs.items()]


def mm1_rows(mu: float = 1.0, lam: float = 0.5, horizon: float = 3000.0) -> list[dict[str, Any]]:
    """M/M/1: a control plane with one worker (an inline `direct` plane, workers = 1) and an
    exponential API phase."""
    def mm1(seed):
        return sc.parse_scenario({
            "name": "mm1-daemon", "duration_s": horizon, "seed": seed,
            "host": {"cpu_cores": 4, "ram_mib": 1e7, "disk_gib": 1000},
            "daemon": {"prepull": [IMAGE]},
            "control_planes": [{"name": "one-worker", "base": "direct", "workers": 1}],
            "runtimes": [{"name": "api-only", "kind": "container", "api": {"dist": "exponential", "mean_s": 1 / mu}}],
            "workloads": [{**_workload("w", "api-only", lam, {"kind": "fixed", "s": 0.0}),
                           "control_plane": "one-worker"}]})

    runs = [_steady(d, WARM_S, horizon - WARM_S) for d in _runs(mm1)]
    return [_row("M/M/1 (a plane with one worker)", f"lambda = {lam}/s, exponential API phase, mu = {mu}/s",
                 "mean wait in queue rho/(mu-lambda) (s)", mm1_mean_wait(lam, mu),
                 [float((d.t_created - d.t_request).mean()) - 1 / mu for d in runs],
                 "M/M/1 daemon: wait in queue")]


def run_queueing() -> list[dict[str, Any]]:
    return [*erlang_rows(), *ps_rows(), *mm1_rows()]
