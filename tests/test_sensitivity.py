"""Sensitivity: SALib's indices through simcontainer's path (design, axis mapping, analysis).

On the Ishigami function (a = 7, b = 0.1) the Sobol indices are known in closed form (Ishigami &
Homma 1990; Saltelli et al. 2008, Global Sensitivity Analysis: The Primer, p. 179):
S1 = (0.3139, 0.4424, 0), ST = (0.5576, 0.4424, 0.2437). On a scenario where only one axis can
move the figure, that axis must carry the whole total-order index.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.engine.guard import MAX_SWEEP_RUNS
from simcontainer.scenario.errors import ScenarioError
from simcontainer.studies.sensitivity import (
    analyse_function,
    points_of,
    run_sensitivity,
    unit_design,
)
from simcontainer.studies.sweep_design import Axis, parse_sweep

A, B = 7.0, 0.1
V = A**2 / 8 + B * math.pi**4 / 5 + B**2 * math.pi**8 / 18 + 0.5
V1 = 0.5 * (1 + B * math.pi**4 / 5) ** 2
V2 = A**2 / 8
V13 = B**2 * math.pi**8 * (1 / 18 - 1 / 50)
S1_EXACT = [V1 / V, V2 / V, 0.0]
ST_EXACT = [(V1 + V13) / V, V2 / V, V13 / V]
AXES = [Axis(f"x{i}", low=-math.pi, high=math.pi) for i in (1, 2, 3)]


def ishigami(p):
    return math.sin(p["x1"]) + A * math.sin(p["x2"]) ** 2 + B * p["x3"] ** 4 * math.sin(p["x1"])


def test_analytic_values_are_the_published_ones():
    assert [round(x, 4) for x in S1_EXACT] == [0.3139, 0.4424, 0.0]
    assert [round(x, 4) for x in ST_EXACT] == [0.5576, 0.4424, 0.2437]


def test_sobol_on_ishigami_matches_the_closed_form():
    idx = analyse_function(ishigami, AXES, "sobol", 4096, seed=1)
    assert list(idx["axis"]) == ["x1", "x2", "x3"]
    assert idx["S1"].to_numpy() == pytest.approx(S1_EXACT, abs=0.04)
    assert idx["ST"].to_numpy() == pytest.approx(ST_EXACT, abs=0.04)
    # the intervals are real intervals, and mostly cover the truth
    assert (idx["S1_conf"] > 0).all() and (idx["ST_conf"] > 0).all()
    covered = np.abs(idx["ST"] - ST_EXACT) <= 2 * idx["ST_conf"]
    assert covered.sum() >= 2


def test_morris_on_ishigami_ranks_x3_above_zero_and_x2_linear_free():
    idx = analyse_function(ishigami, AXES, "morris", 60, seed=2).set_index("axis")
    # every factor matters (x3 only through its interaction with x1): mu* well above zero
    assert (idx["mu_star"] > 1.0).all()
    # x3 acts only with x1, in both directions: its signed mean effect is far below mu*
    assert abs(idx.loc["x3", "mu"]) < 0.5 * idx.loc["x3", "mu_star"]


def test_axis_mapping_covers_ranges_logs_integers_and_lists():
    axes = [Axis("a", low=10.0, high=1000.0, log=True), Axis("b", low=1, high=4),
            Axis("c", values=("runc", "kata"))]
    pts = points_of(axes, unit_design(3, "morris", 20, seed=3))
    a = np.array([p["a"] for p in pts])
    assert a.min() >= 10.0 and a.max() <= 1000.0
    assert {p["b"] for p in pts} <= {1, 2, 3, 4} and all(isinstance(p["b"], int) for p in pts)
    assert {p["c"] for p in pts} == {"runc", "kata"}   # Morris's top level (1.0) is kept in range


def one_axis_sweep(replications=1):
    base = sc.parse_scenario(scenario_dict(duration_s=300.0, seed=4, host={"ram_mib": 100_000}))
    return parse_sweep({"replications": replications, "mode": "random", "samples": 1, "axes": {
        "workloads.w.lifetime.mean_s": {"low": 2.0, "high": 20.0},   # moves mean_running (= rate x mean)
        "host.disk_mb_s": {"low": 100.0, "high": 1000.0},            # the image is empty: nothing to read
        "host.net_mb_s": {"low": 10.0, "high": 1000.0},              # prepulled: nothing to download
    }}, base_scenario=base)


@pytest.mark.parametrize("method,samples", [("sobol", 16), ("morris", 8)])
def test_only_the_moving_axis_carries_the_index(tmp_path, method, samples):
    res = run_sensitivity(one_axis_sweep(), method, samples=samples, out=tmp_path,
                          metrics=["workloads.w.mean_running"], workers=1)
    idx = res.of("workloads.w.mean_running").set_index("axis")
    key = "ST" if method == "sobol" else "mu_star"
    assert idx.loc["workloads.w.lifetime.mean_s", key] > 0.9 * (1.0 if method == "sobol" else 1e-9)
    assert idx.loc["host.disk_mb_s", key] == pytest.approx(0.0, abs=1e-9)
    assert idx.loc["host.net_mb_s", key] == pytest.approx(0.0, abs=1e-9)
    if method == "morris":   # mean_running ~ rate x mean lifetime: about 1 x 18 over the range
        assert 10 < idx.loc["workloads.w.lifetime.mean_s", "mu_star"] < 30
    saved = pd.read_parquet(tmp_path / "sensitivity.parquet")
    assert set(saved["axis"]) == {a.path for a in res.axes} and set(saved["method"]) == {method}
    text = (tmp_path / "sensitivity.txt").read_text()
    assert text.splitlines()[1].split()[0] == "axis"
    assert text.splitlines()[2].startswith("workloads.w.lifetime.mean_s")   # the largest first
    assert (tmp_path / "runs.parquet").exists()


def test_a_rerun_reuses_the_runs(tmp_path):
    first = run_sensitivity(one_axis_sweep(), "morris", samples=4, out=tmp_path, workers=1)
    again = run_sensitivity(one_axis_sweep(), "morris", samples=4, out=tmp_path, workers=1)
    assert first.sweep.computed == 16 and again.sweep.computed == 0 and again.sweep.reused == 16
    pd.testing.assert_frame_equal(first.indices, again.indices)


@pytest.mark.parametrize("method,samples,words", [
    ("fast", 8, "--method: got 'fast' (allowed: sobol, morris)"),
    ("sobol", 12, "--samples: got 12 with --method sobol (allowed: a power of 2"),
    ("morris", 1, "--samples: got 1 (allowed: an integer >= 2)"),
])
def test_bad_method_or_samples_name_the_flag(method, samples, words):
    with pytest.raises(ScenarioError) as exc:
        run_sensitivity(one_axis_sweep(), method, samples=samples)
    assert words in str(exc.value)


def test_unknown_metric_names_the_flag(tmp_path):
    with pytest.raises(ScenarioError, match=r"--metric: got 'nope' \(allowed: a figure of runs.parquet"):
        run_sensitivity(one_axis_sweep(), "morris", samples=2, metrics=["nope"], out=tmp_path, workers=1)


def test_a_design_past_the_size_guard_is_refused_before_it_is_built():
    samples = 1 << (MAX_SWEEP_RUNS // 5).bit_length()    # N x (3 axes + 2) points > the guard
    with pytest.raises(ScenarioError, match=r"runs \(allowed: up to"):
        run_sensitivity(one_axis_sweep(), "sobol", samples=samples)
