"""Where the model reduces to a textbook queue, it must give the textbook answer.

A host that fits exactly c instances (zero-overhead runtime, RAM binds) with Poisson arrivals is
an M/G/c/c loss system under ``admission = "reject"`` (Erlang B, insensitive to the lifetime
distribution) and an M/M/c queue under ``"queue"`` with exponential lifetimes (Erlang C).
Tolerances: each check pools several seeds and allows about three standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import erlang_scenario

import simcontainer as sc
from simcontainer.studies.theory import erlang_b, erlang_c, mmc_mean_wait


def test_erlang_formulas_against_known_values():
    assert erlang_b(5, 4.0) == pytest.approx(0.1991, abs=1e-4)
    assert erlang_c(5, 3.5) == pytest.approx(0.3778, abs=1e-3)
    assert erlang_b(1, 1.0) == pytest.approx(0.5)


@pytest.mark.parametrize("lifetime", [
    {"kind": "exponential", "mean_s": 4.0},
    # same mean, very different shape: median * exp(sigma^2 / 2) = 4 with sigma = 1.0
    {"kind": "lognormal", "median_s": 4.0 / math.exp(0.5), "p95_s": 4.0 / math.exp(0.5) * math.exp(1.6448536)},
], ids=["exponential", "lognormal"])
def test_erlang_b_blocking(lifetime):
    c, lam, mean = 5, 1.0, 4.0
    fractions = []
    for seed in range(4):
        s = erlang_scenario(c, lam, mean, "reject", 12_000, lifetime=lifetime, seed=seed)
        w = sc.simulate(s).summary["workloads"]["w"]
        fractions.append(w["rejected"] / w["requested"])
    expected = erlang_b(c, lam * mean)
    mean_frac = float(np.mean(fractions))
    se = float(np.std(fractions, ddof=1) / math.sqrt(len(fractions)))
    assert abs(mean_frac - expected) < max(3 * se, 0.012), (mean_frac, expected, se)


def test_erlang_c_wait():
    c, lam, mean = 5, 1.0, 3.5
    waits, fractions = [], []
    for seed in range(4):
        s = erlang_scenario(c, lam, mean, "queue", 15_000, seed=seed)
        w = sc.simulate(s).summary["workloads"]["w"]
        waits.append(w["wait_s"]["mean"])
        fractions.append(w["wait_s"]["waited_fraction"])
    a = lam * mean
    pw = erlang_c(c, a)
    wq = mmc_mean_wait(c, lam, mean)
    assert np.mean(fractions) == pytest.approx(pw, abs=0.03)
    assert np.mean(waits) == pytest.approx(wq, rel=0.12)


def test_littles_law_on_mean_running():
    c, lam, mean = 8, 1.0, 4.0
    s = erlang_scenario(c, lam, mean, "reject", 20_000, seed=5)
    r = sc.simulate(s)
    w = r.summary["workloads"]["w"]
    inst = r.instances
    ran = inst[inst["t_running"].notna()]
    end = ran["t_stopping"].fillna(s.duration_s).clip(upper=s.duration_s)
    # L = lambda * W with both sides measured independently: the time-average of the count,
    # and the admitted rate times the mean time each instance spent running.
    lam_eff = len(ran) / s.duration_s
    w_mean = float((end - ran["t_running"]).mean())
    assert w["mean_running"] == pytest.approx(lam_eff * w_mean, rel=0.01)
    # and against theory: carried load a(1 - B)
    assert w["mean_running"] == pytest.approx(lam * mean * (1 - erlang_b(c, lam * mean)), rel=0.05)
