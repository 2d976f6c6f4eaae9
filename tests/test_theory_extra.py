"""Queueing theory beyond the core Erlang B/C and Little's-law checks (those are in test_theory.py).

Each test builds a scenario that reduces to a textbook queue, replicates it over 16-24 seeds, and
compares the mean of the replicate estimates with the closed form within three standard errors
(the replicates are independent runs, so their spread is an honest measure of the run length's
statistical error; with fewer than ~15 replicates the spread itself is too noisy to trust -- the
first few seeds of a workload named "w" happen to share somewhat regular arrivals, which is
exactly the kind of luck a short replication would mistake for a model error). A second assertion keeps the tests sharp: the standard error itself must be a
few percent of the target at most, so a loose tolerance cannot hide a wrong model.

* Fair-share CPU as M/G/1 processor sharing: a job of size x has mean response x / (1 - rho),
  whatever the size distribution (insensitivity), so two workloads with different fixed CPU work
  each see their own x / (1 - rho), with rho the total load; the overall mean is E[S] / (1 - rho),
  which is 1 / (mu - lambda) of M/M/1-PS.
* A control plane with one worker (an inline ``direct`` plane with ``workers = 1``; no shipped
  plane has a single shared worker) and an exponential API phase is M/M/1: mean wait in queue
  rho / (mu - lambda).
* A host that fits exactly c instances, Poisson arrivals and admission = "reject" is M/G/c/c: the
  blocking fraction is Erlang B(c, lambda E[T]) for fixed, exponential and lognormal lifetimes of
  the same mean.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simcontainer as sc
from simcontainer.studies.theory import erlang_b

IMAGE = "alpine:3.20"
Z95 = 1.6448536269514722



def _workload(name: str, runtime: str, rate: float, lifetime: dict, mem_mib: float = 1.0) -> dict:
    return {"name": name, "runtime": runtime, "image": IMAGE, "mem_mib": mem_mib, "writable_mib": 0.0,
            "arrival": {"kind": "poisson", "rate_per_s": rate}, "lifetime": lifetime}


def _replicate_means(estimates: list[float]) -> tuple[float, float]:
    x = np.asarray(estimates, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def _close(mean: float, se: float, target: float, max_rel_se: float) -> None:
    assert se <= max_rel_se * target, f"run too short: standard error {se:.4g} vs target {target:.4g}"
    assert abs(mean - target) <= 3 * se, (
        f"simulated {mean:.4f} ± {se:.4f} (1 SE) vs theory {target:.4f}: "
        f"{abs(mean - target) / se:.1f} standard errors apart")


# --------------------------------------------------------------------------- M/G/1-PS


PS_X = {"small": 0.5, "large": 3.0}        # CPU-seconds per start (fixed per runtime)
PS_RATE = {"small": 0.6, "large": 0.1}     # Poisson arrivals per second
PS_HORIZON, PS_WARMUP, PS_SEEDS = 4000.0, 300.0, 16


def _ps_scenario(seed: int) -> sc.Scenario:
    runtimes = [{"name": f"ps-{k}", "kind": "container", "boot": {"cpu_s": x, "cpu_cores": 1.0}}
                for k, x in PS_X.items()]
    return sc.parse_scenario({
        "name": "mg1-ps", "duration_s": PS_HORIZON, "seed": seed,
        "host": {"cpu_cores": 1, "ram_mib": 1e7, "disk_gib": 1000},
        "daemon": {"prepull": [IMAGE]},
        "runtimes": runtimes,
        "workloads": [_workload(k, f"ps-{k}", PS_RATE[k], {"kind": "fixed", "s": 0.0}) for k in PS_X],
    })


def test_fair_share_cpu_is_mg1_processor_sharing():
    rho = sum(PS_RATE[k] * PS_X[k] for k in PS_X)
    assert rho == pytest.approx(0.6)
    per_class: dict[str, list[float]] = {k: [] for k in PS_X}
    overall: list[float] = []
    for seed in range(PS_SEEDS):
        df = sc.simulate(_ps_scenario(seed)).instances
        # steady state only: drop the empty start and the requests still in flight at the horizon
        df = df[(df.t_request > PS_WARMUP) & (df.t_request < PS_HORIZON - PS_WARMUP)]
        assert df.t_running.notna().all()
        response = df.t_running - df.t_request
        for k in PS_X:
            per_class[k].append(float(response[df.workload == k].mean()))
        overall.append(float(response.mean()))
    for k, x in PS_X.items():
        mean, se = _replicate_means(per_class[k])
        _close(mean, se, x / (1 - rho), max_rel_se=0.04)
    lam = sum(PS_RATE.values())
    mean_size = rho / lam
    mu = 1 / mean_size
    mean, se = _replicate_means(overall)
    _close(mean, se, 1 / (mu - lam), max_rel_se=0.04)   # = E[S] / (1 - rho), insensitive


def test_processor_sharing_alone_is_the_job_size():
    """rho -> 0: one job alone on the core takes exactly its CPU work."""
    s = _ps_scenario(0).model_copy(deep=True)
    data = s.to_dict()
    for w in data["workloads"]:
        w["arrival"] = {"kind": "interval", "every_s": 100.0}
    data["duration_s"] = 1000.0
    df = sc.simulate(sc.parse_scenario(data)).instances
    for k, x in PS_X.items():
        got = (df.t_running - df.t_request)[df.workload == k]
        # the two classes arrive together at t = 0, 100, ...: both share the core at first
        assert got.iloc[1:].min() >= x - 1e-9
    # a start alone (interleave so they never overlap)
    data["workloads"][1]["arrival"] = {"kind": "interval", "every_s": 100.0, "start_s": 50.0}
    df = sc.simulate(sc.parse_scenario(data)).instances
    for k, x in PS_X.items():
        got = (df.t_running - df.t_request)[df.workload == k].to_numpy()
        np.testing.assert_allclose(got, x, rtol=1e-9)


# --------------------------------------------------------------------------- M/M/1 daemon


MM1_MU, MM1_LAMBDA, MM1_HORIZON, MM1_WARMUP, MM1_SEEDS = 1.0, 0.5, 4000.0, 200.0, 24


def _mm1_scenario(seed: int) -> sc.Scenario:
    runtime = {"name": "api-only", "kind": "container",
               "api": {"dist": "exponential", "mean_s": 1 / MM1_MU}}
    return sc.parse_scenario({
        "name": "mm1-daemon", "duration_s": MM1_HORIZON, "seed": seed,
        "host": {"cpu_cores": 4, "ram_mib": 1e7, "disk_gib": 1000},
        "daemon": {"prepull": [IMAGE]},
        # the M/M/1 server: an explicit pool of one worker in front of the runtime
        "control_planes": [{"name": "one-worker", "base": "direct", "workers": 1}],
        "runtimes": [runtime],
        "workloads": [dict(_workload("w", "api-only", MM1_LAMBDA, {"kind": "fixed", "s": 0.0}),
                           control_plane="one-worker")],
    })


def test_control_plane_with_one_worker_is_mm1():
    rho = MM1_LAMBDA / MM1_MU
    waits, sojourns = [], []
    for seed in range(MM1_SEEDS):
        df = sc.simulate(_mm1_scenario(seed)).instances
        df = df[(df.t_request > MM1_WARMUP) & (df.t_request < MM1_HORIZON - MM1_WARMUP)]
        assert df.t_created.notna().all()
        sojourn = df.t_created - df.t_request          # queue for the worker + API service
        sojourns.append(float(sojourn.mean()))
        waits.append(float(sojourn.mean()) - 1 / MM1_MU)   # minus the mean service time
    mean, se = _replicate_means(waits)
    _close(mean, se, rho / (MM1_MU - MM1_LAMBDA), max_rel_se=0.05)
    mean, se = _replicate_means(sojourns)
    _close(mean, se, 1 / (MM1_MU - MM1_LAMBDA), max_rel_se=0.03)


def test_mm1_sojourn_is_exponential():
    """The M/M/1 sojourn time is exponential with rate mu - lambda: check its median."""
    df = sc.simulate(_mm1_scenario(100).model_copy(update={"duration_s": 40_000.0})).instances
    df = df[(df.t_request > MM1_WARMUP) & (df.t_request < 40_000.0 - MM1_WARMUP)]
    sojourn = (df.t_created - df.t_request).to_numpy()
    median = math.log(2) / (MM1_MU - MM1_LAMBDA)
    # the fraction below the theoretical median is 1/2; its SE for n correlated draws is
    # inflated, so allow 4 binomial SEs of a sample a tenth as large
    frac = float(np.mean(sojourn < median))
    assert abs(frac - 0.5) < 4 * math.sqrt(0.25 / (sojourn.size / 10))


# --------------------------------------------------------------------------- M/G/c/c


C, MEAN_T, LOSS_RATE, LOSS_HORIZON, LOSS_WARMUP, LOSS_SEEDS = 10, 10.0, 0.8, 3000.0, 100.0, 24
SIGMA = 1.0
LIFETIMES = {
    "fixed": {"kind": "fixed", "s": MEAN_T},
    "exponential": {"kind": "exponential", "mean_s": MEAN_T},
    # a lognormal with sigma = 1 whose mean is MEAN_T: median = mean / exp(sigma^2 / 2)
    "lognormal": {"kind": "lognormal", "median_s": MEAN_T / math.exp(SIGMA**2 / 2),
                  "p95_s": MEAN_T / math.exp(SIGMA**2 / 2) * math.exp(Z95 * SIGMA)},
}


def _loss_scenario(lifetime: dict, seed: int) -> sc.Scenario:
    mem = 100.0
    return sc.parse_scenario({
        "name": "mgcc", "duration_s": LOSS_HORIZON, "seed": seed,
        "host": {"cpu_cores": 4, "ram_mib": C * mem, "disk_gib": 1000, "reserved_mib": 0},   # exactly C
        "daemon": {"admission": "reject", "prepull": [IMAGE]},
        "runtimes": [{"name": "zero", "kind": "container"}],
        "workloads": [_workload("w", "zero", LOSS_RATE, lifetime, mem_mib=mem)],
    })


@pytest.mark.parametrize("kind", list(LIFETIMES))
def test_mgcc_blocking_is_insensitive_to_the_lifetime_distribution(kind):
    target = erlang_b(C, LOSS_RATE * MEAN_T)
    fractions = []
    for seed in range(LOSS_SEEDS):
        r = sc.simulate(_loss_scenario(LIFETIMES[kind], seed))
        df = r.instances[r.instances.t_request > LOSS_WARMUP]
        assert (df.t_running.notna() | (df.state == "rejected")).all()
        assert r.summary["workloads"]["w"]["peak_running"] <= C
        fractions.append(float((df.state == "rejected").mean()))
    mean, se = _replicate_means(fractions)
    _close(mean, se, target, max_rel_se=0.05)


def test_lognormal_lifetime_has_the_intended_mean():
    """Guard for the insensitivity test: the three lifetimes really share one mean."""
    from simcontainer.scenario.schema import LognormalLifetime
    from simcontainer.scenario.workload import LifetimeSampler, Stream, seed_sequence

    spec = LognormalLifetime(**LIFETIMES["lognormal"])
    sampler = LifetimeSampler(spec, Stream(seed_sequence(0, "w", "lifetime")))
    assert sampler.mean == pytest.approx(MEAN_T, rel=1e-9)
