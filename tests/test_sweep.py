"""Parameter sweeps (issue 5): designs, validation, local execution, the resumable store, CIs."""

from __future__ import annotations

import importlib
import io
import math
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import sweep_base_toml

import simcontainer as sc
from simcontainer.faces.cli import main
from simcontainer.faces.progress import Progress
from simcontainer.scenario.errors import ScenarioError
from simcontainer.studies.sweep import (
    SweepSpec,
    load_sweep,
    parse_sweep,
    run_sweep,
    sweep,
)
from simcontainer.studies.sweep_design import replication_seeds, run_key
from simcontainer.studies.sweep_store import Store, flatten_metrics, t_cdf, t_quantile

ROOT = Path(__file__).resolve().parents[1]
# The module itself (``simcontainer.studies.sweep`` the attribute may be the ``sweep`` function once the
# package exports it as ``sc.sweep``).
sweep_mod = importlib.import_module("simcontainer.studies.sweep")

# A small scenario: a couple of seconds of CPU for the whole file, yet real startups, queueing
# (at 2048 MiB the host fills up) and Poisson noise between seeds.
BASE_TOML = sweep_base_toml("sweep-test", seed=11)

GRID_TOML = """
base = "base.toml"
replications = 3
mode = "grid"
[axes]
"host.ram_mib" = [2048, 4096]
"workloads.api.runtime" = ["runc", "crun", "gvisor"]
"""


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    write(tmp_path, "base.toml", BASE_TOML)
    return tmp_path


@pytest.fixture(scope="module")
def grid_result(tmp_path_factory: pytest.TempPathFactory) -> sweep_mod.SweepResult:
    folder = tmp_path_factory.mktemp("grid")
    write(folder, "base.toml", BASE_TOML)
    spec = load_sweep(write(folder, "grid.toml", GRID_TOML))
    return run_sweep(spec, out=folder / "out", workers=2)


def sweep_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"replications": 1, "mode": "grid", "axes": {}}
    data.update(over)
    return data


@pytest.fixture(scope="module")
def base() -> sc.Scenario:
    return sc.loads_scenario(BASE_TOML)


# --------------------------------------------------------------------------- grid and equality


def test_grid_2x3x3_has_18_rows_each_equal_to_a_standalone_run(grid_result) -> None:
    runs = grid_result.runs
    assert len(runs) == 18
    assert grid_result.computed == 18 and grid_result.reused == 0
    assert list(runs[["point", "replication"]].itertuples(index=False, name=None)) == \
        [(p, r) for p in range(6) for r in range(3)]
    assert not runs.duplicated(["point", "replication"]).any()
    assert {"host.ram_mib", "workloads.api.runtime", "workloads.api.startup_s.p95",
            "host.peak_ram_mib", "workloads.api.requested"} <= set(runs.columns)
    assert "hosts" not in runs.columns and "scenario" not in runs.columns
    base = sc.load_scenario(grid_result.out.parent / "base.toml")
    metrics = [c for c in runs.columns
               if c not in ("point", "replication", "seed", "key", "host.ram_mib", "workloads.api.runtime")]
    for row in runs.to_dict("records"):
        # The concrete scenario is rebuilt here by hand, not by the sweep's own code.
        data = base.to_dict()
        data["host"]["ram_mib"] = row["host.ram_mib"]
        data["workloads"][0]["runtime"] = row["workloads.api.runtime"]
        alone = sc.simulate(sc.parse_scenario(data), int(row["seed"])).summary
        assert row["seed"] == grid_result.spec.seeds[row["replication"]]
        expected = flatten_metrics(alone)
        assert set(expected) - {"host.ram_mib"} <= set(metrics)  # the echo of an axis is left out
        for m in metrics:
            if m in expected:
                assert row[m] == expected[m], (row["point"], row["replication"], m)
            else:  # e.g. at_horizon.pulling: a state no instance of this run ended in
                assert math.isnan(row[m]), m
    # the points really differ: less RAM means more waiting at admission
    small = runs[runs["host.ram_mib"] == 2048]["workloads.api.wait_s.mean"].mean()
    large = runs[runs["host.ram_mib"] == 4096]["workloads.api.wait_s.mean"].mean()
    assert small > large


def test_cli_row_equals_simcontainer_run_json(grid_result, capsys) -> None:
    import json

    row = grid_result.runs.iloc[4]
    spec = grid_result.spec
    scen = spec.scenarios[int(row["point"])]
    path = grid_result.out / "point.toml"
    sc.save_scenario(scen, path)
    assert main(["run", str(path), "--json", "--seed", str(int(row["seed"])), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert row["workloads.api.startup_s.p95"] == summary["workloads"]["api"]["startup_s"]["p95"]
    assert row["host.peak_ram_mib"] == summary["host"]["peak_ram_mib"]


def test_store_files_match_returned_tables(grid_result) -> None:
    runs = pd.read_parquet(grid_result.out / "runs.parquet")
    summary = pd.read_parquet(grid_result.out / "summary.parquet")
    pd.testing.assert_frame_equal(runs, grid_result.runs)
    pd.testing.assert_frame_equal(summary, grid_result.summary)
    assert not list(grid_result.out.glob(".*tmp*"))  # no temporary file left behind


def test_rerun_computes_nothing_and_changes_nothing(grid_result) -> None:
    before = pd.read_parquet(grid_result.out / "runs.parquet")
    again = run_sweep(grid_result.spec, out=grid_result.out, workers=2)
    assert again.computed == 0 and again.reused == 18
    pd.testing.assert_frame_equal(again.runs, grid_result.runs)
    pd.testing.assert_frame_equal(pd.read_parquet(grid_result.out / "runs.parquet"), before)


def test_resumed_sweep_keeps_all_nan_columns(sweep_dir) -> None:
    # 200 MiB of host for 256 MiB instances: nothing ever starts, so every startup figure is NaN
    only_nan = parse_sweep(sweep_data(base="base.toml", replications=2, axes={"host.ram_mib": [200]}),
                           base_dir=sweep_dir)
    out2 = sweep_dir / "out2"
    run_sweep(only_nan, out=out2, workers=1)
    first = pd.read_parquet(out2 / "runs.parquet")
    assert first["workloads.api.startup_s.p95"].isna().all()          # a figure over nothing, kept
    again = run_sweep(only_nan, out=out2, workers=1)                  # a no-op resume
    assert again.computed == 0
    second = pd.read_parquet(out2 / "runs.parquet")
    assert list(second.columns) == list(first.columns)                # the same schema, NaN columns too
    pd.testing.assert_frame_equal(second, first)


# --------------------------------------------------------------------------- summary statistics


def test_summary_confidence_intervals_match_a_direct_computation(grid_result) -> None:
    runs, summary = grid_result.runs, grid_result.summary
    assert list(summary.columns[:3]) == ["point", "host.ram_mib", "workloads.api.runtime"]
    assert {"metric", "n", "mean", "std", "ci95_low", "ci95_high"} <= set(summary.columns)
    t2 = 4.302652729749464  # Student t, 97.5 % quantile, 2 degrees of freedom (tables)
    checked = 0
    for metric in ("workloads.api.startup_s.p95", "workloads.api.wait_s.mean", "host.mean_ram_mib"):
        for p in range(6):
            xs = runs.loc[runs["point"] == p, metric].astype(float).tolist()
            row = summary[(summary["point"] == p) & (summary["metric"] == metric)].iloc[0]
            m, s = statistics.mean(xs), statistics.stdev(xs)
            assert row["n"] == 3
            assert row["mean"] == pytest.approx(m, rel=1e-12, abs=1e-12)
            assert row["std"] == pytest.approx(s, rel=1e-9, abs=1e-12)
            # the Student-t interval, clipped at 0: none of these can be negative
            assert row["ci95_low"] == pytest.approx(max(0.0, m - t2 * s / math.sqrt(3)), rel=1e-9, abs=1e-9)
            assert row["ci95_high"] == pytest.approx(m + t2 * s / math.sqrt(3), rel=1e-9, abs=1e-9)
            checked += 1
    assert checked == 18
    # one row per point and metric
    assert not summary.duplicated(["point", "metric"]).any()


def test_intervals_never_leave_the_range_of_the_metric(grid_result) -> None:
    summary = grid_result.summary
    ok = summary.dropna(subset=["ci95_low"])
    # every figure of a summary is a count, a time, a size or a share: never below 0
    assert (ok["ci95_low"] >= 0).all()
    assert (ok["ci95_low"] <= ok["mean"]).all() and (ok["mean"] <= ok["ci95_high"]).all()
    shares = ok[ok["metric"].str.contains(r"\.fractions\.|availability$")]
    assert len(shares) and (shares["ci95_high"] <= 1.0).all()
    # the clip did bite somewhere (a count near 0 with Poisson noise), so the test says something
    half = ok["mean"] - ok["ci95_low"]
    assert ((ok["ci95_low"] == 0) & (half < ok["ci95_high"] - ok["mean"] - 1e-12)).any()


def test_one_replication_gives_nan_bounds(sweep_dir) -> None:
    spec = parse_sweep(sweep_data(base="base.toml", axes={"host.ram_mib": [4096]}), base_dir=sweep_dir)
    res = run_sweep(spec, workers=1)
    assert len(res.runs) == 1
    s = res.summary
    assert (s["n"] == 1).all()
    assert s["std"].isna().all() and s["ci95_low"].isna().all() and s["ci95_high"].isna().all()
    assert s["mean"].notna().all()


@pytest.mark.parametrize(("df", "expected"), [
    (1, 12.706204736174698), (2, 4.302652729749464), (3, 3.182446305284263),
    (4, 2.7764451051977934), (5, 2.570581835636314), (9, 2.2621571628540993),
    (10, 2.2281388519649385), (29, 2.045229642132703), (30, 2.0422724563012373),
    (100, 1.9839715184496334), (1000, 1.9623390808264078),
])
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, rel=1e-9)


def test_t_quantile_other_levels_and_limits() -> None:
    assert t_quantile(0.95, 1) == pytest.approx(6.313751514675041, rel=1e-9)
    assert t_quantile(0.995, 7) == pytest.approx(3.4994832973505026, rel=1e-9)
    assert t_quantile(0.025, 4) == pytest.approx(-t_quantile(0.975, 4), rel=1e-12)
    assert t_quantile(0.5, 3) == 0.0
    # large df: the normal quantile
    assert t_quantile(0.975, 1e7) == pytest.approx(statistics.NormalDist().inv_cdf(0.975), rel=1e-6)
    for df in (1, 2.5, 6, 50):
        for p in (0.6, 0.9, 0.975, 0.999):
            assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)
    assert math.isnan(t_quantile(0.975, 0))


# --------------------------------------------------------------------------- seeds and keys


def test_seeds_depend_only_on_base_seed_and_replication(grid_result) -> None:
    spec = grid_result.spec
    assert list(spec.seeds) == replication_seeds(11, 3)
    assert replication_seeds(11, 5)[:3] == replication_seeds(11, 3)  # more replications: same first seeds
    assert len(set(replication_seeds(11, 100))) == 100
    assert replication_seeds(12, 3) != replication_seeds(11, 3)
    assert all(0 <= s < 2**63 for s in spec.seeds)
    # every point uses the same seeds (common random numbers)
    by_point = grid_result.runs.groupby("point")["seed"].apply(list)
    assert all(v == list(spec.seeds) for v in by_point)


def test_run_key_is_scenario_and_seed(grid_result) -> None:
    spec = grid_result.spec
    key = spec.keys[2][1]
    assert key == run_key(spec.scenarios[2].to_dict(), spec.seeds[1])
    assert key != run_key(spec.scenarios[2].to_dict(), spec.seeds[0])
    assert len({k for ks in spec.keys for k in ks}) == 18
    # a reordered dict is the same run
    d = spec.scenarios[2].to_dict()
    assert run_key(dict(reversed(list(d.items()))), spec.seeds[1]) == key


def test_repeated_points_run_once_but_give_every_row(sweep_dir) -> None:
    spec = parse_sweep(sweep_data(base="base.toml", replications=2,
                                  axes={"daemon.max_concurrent_downloads": [2, 2, 3]}), base_dir=sweep_dir)
    res = run_sweep(spec, workers=1)
    assert len(res.runs) == 6 and res.computed == 4
    a = res.runs[res.runs["point"] == 0].drop(columns=["point"]).reset_index(drop=True)
    b = res.runs[res.runs["point"] == 1].drop(columns=["point"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------------------- resume


def _counting_simulate(monkeypatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    real = sweep_mod.simulate

    def counted(scenario, seed=None, **kw):
        calls.append((run_key(scenario.to_dict(), seed), seed))
        return real(scenario, seed, **kw)

    monkeypatch.setattr(sweep_mod, "simulate", counted)
    return calls


def test_resume_runs_only_what_is_missing(grid_result, tmp_path, monkeypatch) -> None:
    spec = grid_result.spec
    out = tmp_path / "out"
    # A store with 7 of the 18 runs, as an interrupted sweep would leave it.
    kept = grid_result.runs.iloc[[0, 2, 3, 8, 11, 12, 17]]
    store = Store(out)
    store.prepare()
    store.write_runs(kept.reset_index(drop=True), spec)
    calls = _counting_simulate(monkeypatch)
    res = run_sweep(spec, out=out, workers=1)
    assert res.reused == 7 and res.computed == 11
    assert len(calls) == 11
    assert not {k for k, _ in calls} & set(kept["key"])
    pd.testing.assert_frame_equal(res.runs, grid_result.runs)
    on_disk = pd.read_parquet(out / "runs.parquet")
    assert len(on_disk) == 18 and not on_disk.duplicated(["point", "replication"]).any()


def test_runs_of_another_sweep_are_dropped_not_mixed_in(grid_result, sweep_dir) -> None:
    out = sweep_dir / "out"
    Store(out).prepare()
    Store(out).write_runs(grid_result.runs, grid_result.spec)
    other = parse_sweep(sweep_data(base="base.toml", replications=2, axes={"host.ram_mib": [2048, 3072]}),
                        base_dir=sweep_dir)
    res = run_sweep(other, out=out, workers=1)
    # host.ram_mib = 2048 with runc: the same scenario as grid point 0, so found, not recomputed
    # (same seeds: both sweeps derive them from the base seed)
    assert res.reused == 2 and res.computed == 2
    assert res.dropped == 16
    assert len(res.runs) == 4
    assert sorted(res.runs["host.ram_mib"].unique()) == [2048, 3072]
    assert "workloads.api.runtime" not in pd.read_parquet(out / "runs.parquet").columns


def _wait_for_rows(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            n = len(pd.read_parquet(path))
            if n:
                return n
        if proc.poll() is not None:
            raise AssertionError(f"sweep ended before it could be interrupted: {proc.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("no rows written in time")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_cli_sweep_then_rerun_completes_without_recomputing(sweep_dir, monkeypatch, sig) -> None:
    # 20 points x 3 seeds, run in the CLI process itself (--workers 1) so it can be interrupted
    # between batches; the small scenario takes tens of milliseconds a run.
    path = write(sweep_dir, "long.toml", """
base = "base.toml"
replications = 3
[axes]
"workloads.api.arrival.rate_per_s" = { low = 0.2, high = 1.0, num = 20 }
""")
    out = sweep_dir / "out"
    proc = subprocess.Popen([sys.executable, "-m", "simcontainer.faces.cli", "sweep", str(path), "--out", str(out),
                             "--workers", "1", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        _wait_for_rows(out / "runs.parquet", proc)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        err = proc.stderr.read()
        assert proc.returncode == 130, err
        # it says what it kept and how to go on
        assert "interrupted: " in err and "finished and are kept in" in err and "run the same command again" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    before = pd.read_parquet(out / "runs.parquet")
    assert 0 < len(before) < 60, "the sweep was not interrupted partway"
    assert not before.duplicated(["point", "replication"]).any()

    calls = _counting_simulate(monkeypatch)
    res = run_sweep(load_sweep(path), out=out, workers=1)
    assert res.reused == len(before) and res.computed == 60 - len(before)
    assert len(calls) == 60 - len(before)
    assert not {k for k, _ in calls} & set(before["key"])
    after = pd.read_parquet(out / "runs.parquet")
    assert len(after) == 60 and not after.duplicated(["point", "replication"]).any()
    assert not after.duplicated("key").any()
    # the finished runs kept their numbers
    kept = after.set_index("key").loc[before["key"], before.columns.drop("key")]
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), before.drop(columns="key"), check_dtype=False)


def test_local_pool_survives_a_killed_worker_process(sweep_dir) -> None:
    spec = parse_sweep(sweep_data(base="base.toml", replications=4,
                                  axes={"workloads.api.arrival.rate_per_s": [0.3, 0.5, 0.7, 0.9, 1.1, 1.3]}),
                       base_dir=sweep_dir)
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if 0 < done < total and not killed:
            workers = [p for p in mp.active_children() if p.is_alive()]
            assert workers, "no pool worker to kill"
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    res = run_sweep(spec, workers=2, batch_size=1, progress=progress)
    assert killed
    assert len(res.runs) == 24 and not res.runs.duplicated(["point", "replication"]).any()
    reference = run_sweep(spec, workers=1)
    pd.testing.assert_frame_equal(res.runs, reference.runs)


# --------------------------------------------------------------------------- random and LHS designs


def _range_sweep(sweep_dir: Path, mode: str, samples: int, seed: int | None = None) -> SweepSpec:
    data = sweep_data(base="base.toml", mode=mode, samples=samples, axes={
        "workloads.api.arrival.rate_per_s": {"low": 0.1, "high": 2.0},
        "daemon.api_workers": {"low": 1, "high": 16},
        "workloads.api.lifetime.mean_s": {"low": 5.0, "high": 500.0, "log": True},
        "workloads.api.runtime": ["runc", "crun", "gvisor"],
    })
    if seed is not None:
        data["seed"] = seed
    return parse_sweep(data, base_dir=sweep_dir)


@pytest.mark.parametrize("mode", ["random", "lhs"])
def test_sampled_designs_respect_counts_bounds_and_types(sweep_dir, mode) -> None:
    spec = _range_sweep(sweep_dir, mode, 40)
    d = spec.design
    assert spec.n_points == 40 and len(d) == 40 and spec.n_runs == 40
    rate = d["workloads.api.arrival.rate_per_s"]
    assert ((rate >= 0.1) & (rate <= 2.0)).all()
    workers = d["daemon.api_workers"]
    assert all(isinstance(v, int) for v in (p["daemon.api_workers"] for p in spec.points))
    assert ((workers >= 1) & (workers <= 16)).all()
    assert workers.nunique() > 8  # integers spread over the range, ends included in reach
    life = d["workloads.api.lifetime.mean_s"]
    assert ((life >= 5.0) & (life <= 500.0)).all()
    assert (np.log(life) < np.log(50.0)).mean() == pytest.approx(0.5, abs=0.2)  # log-uniform: half below the geometric middle
    assert set(d["workloads.api.runtime"]) == {"runc", "crun", "gvisor"}
    # the concrete scenarios carry the sampled values
    for p, s in zip(spec.points, spec.scenarios):
        assert s.workloads[0].arrival.rate_per_s == p["workloads.api.arrival.rate_per_s"]
        assert s.daemon.api_workers == p["daemon.api_workers"]
        assert s.workloads[0].runtime == p["workloads.api.runtime"]


def test_lhs_puts_one_sample_in_every_stratum(sweep_dir) -> None:
    n = 25
    spec = _range_sweep(sweep_dir, "lhs", n)
    d = spec.design
    rate = d["workloads.api.arrival.rate_per_s"].to_numpy()
    strata = np.floor((rate - 0.1) / (2.0 - 0.1) * n).astype(int)
    assert sorted(strata) == list(range(n))
    life = np.log(d["workloads.api.lifetime.mean_s"].to_numpy())
    strata = np.floor((life - np.log(5.0)) / (np.log(500.0) - np.log(5.0)) * n).astype(int)
    assert sorted(strata) == list(range(n))
    # a categorical axis is balanced: 25 over 3 values -> 8 or 9 each
    counts = d["workloads.api.runtime"].value_counts()
    assert counts.min() >= 8 and counts.max() <= 9
    # random sampling, for contrast, does not stratify (with overwhelming probability)
    rnd = _range_sweep(sweep_dir, "random", n).design["workloads.api.arrival.rate_per_s"].to_numpy()
    assert len(set(np.floor((rnd - 0.1) / 1.9 * n).astype(int))) < n


def test_sampled_designs_are_deterministic(sweep_dir) -> None:
    for mode in ("random", "lhs"):
        a, b = _range_sweep(sweep_dir, mode, 12), _range_sweep(sweep_dir, mode, 12)
        assert a.points == b.points and a.keys == b.keys
        c = _range_sweep(sweep_dir, mode, 12, seed=99)
        assert c.points != a.points
        assert c.seeds == a.seeds  # the design seed does not change the run seeds


def test_grid_ranges_with_num(sweep_dir) -> None:
    spec = parse_sweep(sweep_data(base="base.toml", axes={
        "workloads.api.mem_mib": {"low": 64, "high": 1024, "num": 4},
        "workloads.api.lifetime.mean_s": {"low": 1.0, "high": 100.0, "num": 3, "log": True},
    }), base_dir=sweep_dir)
    assert spec.n_points == 12
    assert sorted({p["workloads.api.mem_mib"] for p in spec.points}) == [64, 384, 704, 1024]
    assert sorted({p["workloads.api.lifetime.mean_s"] for p in spec.points}) == pytest.approx([1.0, 10.0, 100.0])
    # the last axis varies fastest
    assert [p["workloads.api.lifetime.mean_s"] for p in spec.points[:3]] == pytest.approx([1.0, 10.0, 100.0])


def test_no_axes_is_one_point(sweep_dir) -> None:
    spec = parse_sweep(sweep_data(base="base.toml", replications=2), base_dir=sweep_dir)
    res = run_sweep(spec, workers=1)
    assert list(res.runs.columns[:4]) == ["point", "replication", "seed", "key"]
    assert len(res.runs) == 2 and (res.runs["point"] == 0).all()


def test_base_scenario_replaces_base(base) -> None:
    data = base.to_dict()
    data["duration_s"] = 30.0
    scen = sc.parse_scenario(data)
    spec = parse_sweep(sweep_data(axes={"host.cpu_cores": [2, 8]}), base_scenario=scen)
    assert spec.base is scen and spec.n_points == 2
    assert all(s.duration_s == 30.0 for s in spec.scenarios)
    res = sweep(spec, workers=1)
    assert len(res.runs) == 2


def test_sweep_convenience_takes_a_path(sweep_dir) -> None:
    path = write(sweep_dir, "one.toml", 'base = "base.toml"\n[axes]\n"host.cpu_cores" = [2]\n')
    res = sweep(path, workers=1)
    assert len(res.runs) == 1 and res.out is None


# --------------------------------------------------------------------------- validation


def _problems(sweep_dir: Path, **data: Any) -> str:
    with pytest.raises(ScenarioError) as exc:
        parse_sweep(sweep_data(base="base.toml", **data), base_dir=sweep_dir)
    return "\n".join(exc.value.problems)


def test_bad_axes_name_themselves(sweep_dir) -> None:
    text = _problems(sweep_dir, axes={"workloads.nope.runtime": ["runc"]})
    assert "axes.workloads.nope.runtime" in text and "'nope'" in text and "allowed: api" in text
    text = _problems(sweep_dir, axes={"host.rammib": [1024]})
    assert "axes.host.rammib" in text and "unknown key" in text and "ram_mib" in text
    text = _problems(sweep_dir, axes={"host.ram_mib": [4096, -5]})
    assert "axes.host.ram_mib: value -5" in text and "greater than 0" in text
    assert "4096" not in text
    text = _problems(sweep_dir, axes={"workloads.api.runtime": ["runc", "nosuch"]})
    assert "workloads.api.runtime: unknown runtime 'nosuch'" in text and "allowed:" in text
    text = _problems(sweep_dir, axes={"daemon.admission": ["queue", "drop"]})
    assert "axes.daemon.admission: value 'drop'" in text and "'queue'" in text
    text = _problems(sweep_dir, axes={"seed": [1, 2]})
    assert "axes.seed" in text


def test_every_problem_is_listed_at_once(sweep_dir) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_sweep({"base": "base.toml", "mode": "sobol", "replications": 0, "colour": 1,
                     "axes": {"host.ram_mib": {"low": 1}}}, base_dir=sweep_dir)
    text = "\n".join(exc.value.problems)
    assert "mode: got 'sobol' (allowed: grid, random, lhs)" in text
    assert "replications: got 0" in text
    assert "colour: unknown key" in text
    assert "axes.host.ram_mib.high" in text


def test_range_problems(sweep_dir) -> None:
    assert "needs num" in _problems(sweep_dir, axes={"host.ram_mib": {"low": 1024, "high": 4096}})
    assert "low (4096) is above high (1024)" in _problems(
        sweep_dir, mode="lhs", samples=4, axes={"host.ram_mib": {"low": 4096, "high": 1024}})
    assert "axes.host.ram_mib.low" in _problems(
        sweep_dir, mode="random", samples=4, axes={"host.ram_mib": {"low": 0, "high": 10, "log": True}})
    assert "samples: got 0 with mode = 'lhs'" in _problems(sweep_dir, mode="lhs", axes={})
    # a range end outside what the scenario allows is caught before sampling
    assert "axes.workloads.api.arrival.rate_per_s: value 0.0" in _problems(
        sweep_dir, mode="random", samples=3, axes={"workloads.api.arrival.rate_per_s": {"low": 0.0, "high": 1.0}})


def test_a_bad_combination_names_its_point(sweep_dir) -> None:
    write(sweep_dir, "vm.toml", BASE_TOML.replace('runtime = "runc"', 'runtime = "firecracker"')
          .replace('image = "python:3.12-slim"', 'image = "firecracker-rootfs"\nguest_mem_mib = 512')
          .replace('prepull = ["python:3.12-slim"]', 'prepull = ["firecracker-rootfs"]'))
    with pytest.raises(ScenarioError) as exc:
        parse_sweep(sweep_data(base="vm.toml", axes={"workloads.api.mem_mib": [128, 384],
                                                     "workloads.api.guest_mem_mib": [256, 1024]}),
                    base_dir=sweep_dir)
    text = "\n".join(exc.value.problems)
    assert "point 2" in text and "workloads.api.guest_mem_mib" in text and "mem_mib 384" in text


def test_missing_base_file(sweep_dir) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_sweep({"base": "nope.toml", "axes": {}}, base_dir=sweep_dir)
    assert "base:" in str(exc.value) and "nope.toml" in str(exc.value)


def test_cli_bad_sweep_exits_2_before_running(sweep_dir, capsys) -> None:
    path = write(sweep_dir, "bad.toml", 'base = "base.toml"\nmode = "grid"\n[axes]\n"host.ram_mib" = [2048, "lots"]\n')
    out = sweep_dir / "never"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "axes.host.ram_mib: value 'lots'" in err
    assert not out.exists()
    path = write(sweep_dir, "mode.toml", 'base = "base.toml"\nmode = "sobol"\n')
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    assert "mode: got 'sobol'" in capsys.readouterr().err
    path = write(sweep_dir, "path.toml", 'base = "base.toml"\n[axes]\n"workloads.web.cpu" = [1]\n')
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    assert "axes.workloads.web.cpu" in capsys.readouterr().err
    assert main(["sweep", str(path), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_cli_sweep_writes_both_tables_next_to_the_file(sweep_dir, capsys) -> None:
    path = write(sweep_dir, "cli.toml", 'base = "base.toml"\nreplications = 2\n[axes]\n"host.ram_mib" = [1024, 4096]\n')
    assert main(["sweep", str(path), "--workers", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "4 runs" in printed and "4 computed" in printed
    # the report: best and worst point with the interval of each mean, as in the summary table
    summary = pd.read_parquet(sweep_dir / "cli.out" / "summary.parquet")
    p95 = summary[summary["metric"] == "workloads.api.startup_s.p95"].sort_values("mean")
    assert "best and worst points by p95 startup" in printed
    best = next(line for line in printed.splitlines() if line.startswith("api ") and " best " in line)
    cells = best.split()
    assert cells[2] == str(int(p95["point"].iloc[0]))
    low, high = float(cells[5]), float(cells[7])         # "point ram mean low - high never"
    assert low == pytest.approx(p95["ci95_low"].iloc[0], rel=0.01, abs=0.001)
    assert high == pytest.approx(p95["ci95_high"].iloc[0], rel=0.01)
    # and the pandas line it prints opens the table
    line = next(ln.strip() for ln in printed.splitlines() if "pd.read_parquet" in ln)
    code = line.removeprefix('python -c "').removesuffix('"')
    buf = io.StringIO()
    exec(compile(code, "<printed>", "exec"), {"print": lambda *a: buf.write(" ".join(map(str, a)))})
    assert "workloads.api.startup_s.p95" in buf.getvalue()
    assert len(pd.read_parquet(sweep_dir / "cli.out" / "runs.parquet")) == 4
    assert len(pd.read_parquet(sweep_dir / "cli.out" / "summary.parquet")) > 0
    assert main(["sweep", str(path), "--workers", "1", "--no-progress"]) == 0
    assert "0 computed" in capsys.readouterr().out


def test_unreachable_scheduler_fails_at_once_and_leaves_nothing(sweep_dir, capsys) -> None:
    import socket

    with socket.socket() as sock:        # a port nothing listens on (bound, never listening)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        path = write(sweep_dir, "s.toml", 'base = "base.toml"\n[axes]\n"host.cpu_cores" = [2, 4]\n')
        out = sweep_dir / "never"
        assert main(["sweep", str(path), "--out", str(out), "--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert f"--scheduler: cannot reach 'tcp://127.0.0.1:{port}' within 3 s" in err and "Traceback" not in err
    assert not out.exists()               # no empty output folder left behind
    assert sweep_mod.CONNECT_TIMEOUT_S <= 5.0
    with pytest.raises(ScenarioError, match="--scheduler: cannot reach 'nonsense:x'"):
        run_sweep(load_sweep(path), out=out, scheduler="nonsense:x")
    assert not out.exists()


def test_example_sweep_file_is_valid() -> None:
    spec = load_sweep(ROOT / "models" / "sweeps" / "example.toml")
    assert spec.n_runs == spec.n_points * spec.replications > 1
    assert spec.base.name == "default"


# --------------------------------------------------------------------------- metrics and progress


def test_flatten_metrics_keeps_numeric_leaves_only() -> None:
    m = flatten_metrics({"scenario": "x", "seed": 3, "events": 10, "ok": True,
                         "workloads": {"api": {"runtime": "runc", "startup_s": {"p95": 1.5}}},
                         "hosts": [{"index": 0}], "host": {"peak_ram_mib": np.float64(2.0)}})
    assert m == {"events": 10, "workloads.api.startup_s.p95": 1.5, "host.peak_ram_mib": 2.0}
    assert type(m["host.peak_ram_mib"]) is float


def test_progress_callback_counts_up_to_total(sweep_dir) -> None:
    spec = parse_sweep(sweep_data(base="base.toml", replications=3, axes={"host.cpu_cores": [2, 4]}),
                       base_dir=sweep_dir)
    seen: list[tuple[int, int]] = []
    run_sweep(spec, workers=1, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) == 4  # the start, then one per batch of 2


def test_progress_bar_shows_runs_rate_and_eta() -> None:
    buf = io.StringIO()
    bar = Progress("sweep x", stream=buf, min_interval=0.0, after_s=0.0)
    bar.count(0, 10)
    time.sleep(0.05)
    bar.count(5, 10)
    bar.count(10, 10)
    bar.close()
    text = buf.getvalue()
    assert "5/10 runs" in text and "10/10 runs" in text and "runs/s" in text and "ETA 0:0" in text
    assert text.endswith("\n")


def test_table_valued_axis_is_stored_as_json(sweep_dir) -> None:
    spec = parse_sweep(sweep_data(base="base.toml", axes={"workloads.api.lifetime": [
        {"kind": "fixed", "s": 10.0}, {"kind": "exponential", "mean_s": 20.0}]}), base_dir=sweep_dir)
    assert spec.scenarios[0].workloads[0].lifetime.kind == "fixed"
    res = run_sweep(spec, out=sweep_dir / "out", workers=1)
    col = pd.read_parquet(sweep_dir / "out" / "runs.parquet")["workloads.api.lifetime"]
    assert list(col) == ['{"kind":"fixed","s":10.0}', '{"kind":"exponential","mean_s":20.0}']
    assert len(res.summary[res.summary["metric"] == "workloads.api.requested"]) == 2


def _writes_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of rows of every runs.parquet written."""
    rows: list[int] = []
    write_runs = Store.write_runs

    def counted(self: Store, runs: pd.DataFrame, spec: SweepSpec) -> None:
        rows.append(len(runs))
        write_runs(self, runs, spec)

    monkeypatch.setattr(Store, "write_runs", counted)
    return rows


def test_runs_are_written_after_every_batch_while_rewriting_is_cheap(sweep_dir, monkeypatch) -> None:
    spec = load_sweep(write(sweep_dir, "grid.toml", GRID_TOML))
    rows = _writes_counted(monkeypatch)
    monkeypatch.setattr(sweep_mod, "RUNS_COST_SHARE", math.inf)    # a rewrite "costs" nothing
    run_sweep(spec, out=sweep_dir / "out", workers=1, batch_size=4)
    # 18 runs in batches of 4: a rewrite after each (the last one's is the final table)
    assert rows == [4, 8, 12, 16, 18]


def test_a_costly_rewrite_waits_but_nothing_finished_is_lost(sweep_dir, monkeypatch) -> None:
    """A rewrite that costs more than a tenth of the time since the last one waits for a later
    batch; whatever is unsaved when the sweep stops (Ctrl-C here) is written before it stops."""
    spec = load_sweep(write(sweep_dir, "grid.toml", GRID_TOML))
    rows = _writes_counted(monkeypatch)
    monkeypatch.setattr(sweep_mod, "RUNS_COST_SHARE", 1e-9)    # every rewrite "costs" forever
    batches = 0
    run_batch = sweep_mod.run_batch

    def interrupted(items: Any) -> Any:
        nonlocal batches
        batches += 1
        if batches == 4:
            raise KeyboardInterrupt
        return run_batch(items)

    monkeypatch.setattr(sweep_mod, "run_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out=sweep_dir / "out", workers=1, batch_size=4)
    assert rows == [4, 12]      # the first batch, then the two unsaved ones as it stopped
    on_disk = pd.read_parquet(sweep_dir / "out" / "runs.parquet")
    assert len(on_disk) == 12 and not on_disk.duplicated(["point", "replication"]).any()
    monkeypatch.setattr(sweep_mod, "run_batch", run_batch)
    calls = _counting_simulate(monkeypatch)
    res = run_sweep(spec, out=sweep_dir / "out", workers=1, batch_size=4)
    assert res.reused == 12 and res.computed == 6 and len(calls) == 6
