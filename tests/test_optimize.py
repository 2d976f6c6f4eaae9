"""SLO search: the optimizer finds an optimum known in closed form, resumes an interrupted study
without losing or repeating a trial, and gives the same study for the same seed.

The closed form: a host that fits exactly one instance, with Poisson arrivals, admission =
"queue" and exponential lifetimes, makes ``host.count`` hosts an M/M/c queue (c = hosts), whose
probability of waiting is Erlang C (see test_theory). The fewest hosts keeping P(wait) under a
bound is then the smallest c with C(c, a) <= bound.
"""

from __future__ import annotations

import argparse
import math
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.faces import cli_optimize
from simcontainer.scenario.errors import ScenarioError
from simcontainer.studies.optimize import (
    finished_trials,
    load_optimize,
    open_study,
    pareto_front,
    parse_optimize,
    run_optimize,
    suggest,
)
from simcontainer.studies.sweep_store import flatten_metrics
from simcontainer.studies.theory import erlang_c

LAM, MEAN = 1.0, 3.5            # offered load a = 3.5 Erlang
BOUND = 0.12                    # C(6, 3.5) = 0.177 > bound > C(7, 3.5) = 0.076: c* = 7
WAITED = "workloads.w.wait_s.waited_fraction"


def mmc_base(duration=3000.0, seed=11):
    return sc.parse_scenario(scenario_dict(duration_s=duration, seed=seed, host={"ram_mib": 100, "count": 1},
                                           workloads=[{"name": "w", "runtime": "zero", "image": "tiny",
                                                       "mem_mib": 100, "writable_mib": 0,
                                                       "arrival": {"kind": "poisson", "rate_per_s": LAM},
                                                       "lifetime": {"kind": "exponential", "mean_s": MEAN}}]))


def mmc_spec(trials=16, duration=3000.0, **over):
    data = {"trials": trials, "replications": 4, "seed": 5, "startup_trials": 6,
            "space": {"host.count": {"low": 1, "high": 12}},
            "objectives": {"hosts": "minimize"},
            "constraints": {WAITED: {"max": BOUND}}, **over}
    return parse_optimize(data, base_scenario=mmc_base(duration))


def test_finds_the_fewest_servers_of_erlang_c(tmp_path):
    c_star = min(c for c in range(1, 13) if erlang_c(c, LAM * MEAN) <= BOUND)
    assert c_star == 7
    res = run_optimize(mmc_spec(), out=tmp_path, workers=1)
    assert res.best is not None and res.best.host.count == c_star
    assert res.best_trial in set(res.trials["trial"])
    # every trial's verdict agrees with theory (the bound leaves a margin either side of c*)
    for row in res.trials.itertuples():
        c = int(row[3])   # host.count
        assert row.feasible == (erlang_c(c, LAM * MEAN) <= BOUND), c
    # the measured share waiting is Erlang C's, and the bound sits above the mean
    best = res.trials[res.trials["trial"] == res.best_trial].iloc[0]
    assert best[f"mean.{WAITED}"] == pytest.approx(erlang_c(c_star, LAM * MEAN), abs=0.02)
    assert best[f"bound.{WAITED}"] > best[f"mean.{WAITED}"]
    # the files: the best as a ready-to-run scenario, the front, the trials
    text = (tmp_path / "best.toml").read_text()
    again = sc.loads_scenario(text)
    assert again.host.count == c_star and again.to_dict() == res.best.to_dict()
    assert text.startswith("# Best configuration of an optimize study")
    assert tomllib.loads(text)["host"]["count"] == c_star
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 16
    front = pd.read_parquet(tmp_path / "pareto.parquet")
    assert list(front["host.count"]) == [c_star]


def study_rows(res):
    return res.trials.drop(columns=["pareto"]).reset_index(drop=True)


def test_same_seed_same_study_whatever_the_workers(tmp_path):
    spec = mmc_spec(trials=8, duration=600.0)
    a = run_optimize(spec, out=tmp_path / "a", workers=1)
    b = run_optimize(spec, out=tmp_path / "b", workers=2)
    pd.testing.assert_frame_equal(study_rows(a), study_rows(b))
    other = run_optimize(mmc_spec(trials=8, duration=600.0, seed=6), workers=1)
    assert list(other.trials["host.count"]) != list(a.trials["host.count"])


def test_an_interrupted_study_resumes_with_no_trial_lost_or_repeated(tmp_path):
    spec = mmc_spec(trials=12, duration=600.0, parallel_trials=2)
    first = run_optimize(spec, out=tmp_path / "s", trials=6, workers=1)
    assert first.computed == 6 and len(first.trials) == 6
    done = run_optimize(spec, out=tmp_path / "s", trials=12, workers=1)
    assert done.reused == 6 and done.computed == 6
    assert list(done.trials["trial"]) == list(range(12))
    assert (done.trials["state"] == "complete").all()
    pd.testing.assert_frame_equal(study_rows(done).iloc[:6], study_rows(first))
    # and it is the study an uninterrupted run makes
    whole = run_optimize(spec, out=tmp_path / "w", trials=12, workers=1)
    pd.testing.assert_frame_equal(study_rows(done), study_rows(whole))
    # a rerun with nothing left to do runs nothing
    assert run_optimize(spec, out=tmp_path / "s", trials=12, workers=1).computed == 0


def test_a_trial_cut_off_mid_run_is_run_again_not_counted_twice(tmp_path):
    spec = mmc_spec(trials=4, duration=600.0, parallel_trials=2)
    run_optimize(spec, out=tmp_path, trials=2, workers=1)
    # Ctrl-C after asking: a trial left running in the journal
    study = open_study(spec, tmp_path)
    cut = study.ask()
    cut_params = {a.path: suggest(cut, a) for a in spec.knobs}
    res = run_optimize(spec, out=tmp_path, trials=4, workers=1)
    assert len(res.trials) == 4 and res.computed == 2
    assert cut.number not in set(res.trials["trial"])        # the cut-off trial is not a result
    assert res.trials["host.count"].iloc[2] == cut_params["host.count"]   # its configuration ran first
    assert len(finished_trials(open_study(spec, tmp_path))) == 4


def test_a_folder_of_another_study_is_refused(tmp_path):
    run_optimize(mmc_spec(trials=2, duration=300.0), out=tmp_path, workers=1)
    with pytest.raises(ScenarioError, match="--out: .* holds a study of another optimize file"):
        run_optimize(mmc_spec(trials=2, duration=300.0, constraints={WAITED: {"max": 0.2}}), out=tmp_path)


def test_two_objectives_give_a_pareto_front():
    base = mmc_base(600.0)
    spec = parse_optimize({
        "trials": 16, "replications": 2, "seed": 1, "sampler": "nsga2", "population": 8,
        "space": {"host.count": {"low": 2, "high": 10}, "host.ram_mib": [100, 200]},
        "objectives": {"cost_per_hour": "minimize", "workloads.w.wait_s.mean": "minimize"},
        "cost": {"per_host_hour": 0.5, "per_gib_hour": 0.01}}, base_scenario=base)
    res = run_optimize(spec, workers=1)
    front = res.pareto
    assert len(front) >= 2
    cost, wait = front["objective.cost_per_hour"].to_numpy(), front["objective.workloads.w.wait_s.mean"].to_numpy()
    assert (cost[1:] >= cost[:-1]).all() and (wait[1:] <= wait[:-1]).all()   # a trade-off, cheapest first
    for row in front.itertuples():   # built-in cost: hosts x (per host + GiB x per GiB)
        hosts, ram = row[3], row[4]
        assert row[5] == pytest.approx(hosts * (0.5 + ram / 1024 * 0.01))
    # every feasible trial off the front is matched or beaten on both objectives by a front member
    ok = res.trials[res.trials["feasible"] & ~res.trials["pareto"]]
    for _, t in ok.iterrows():
        assert ((cost <= t["objective.cost_per_hour"]) & (wait <= t["objective.workloads.w.wait_s.mean"])).any()


def test_a_dask_cluster_gives_the_same_study():
    distributed = pytest.importorskip("distributed")
    spec = mmc_spec(trials=4, duration=300.0)
    here = run_optimize(spec, workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        there = run_optimize(spec, scheduler=client)
    pd.testing.assert_frame_equal(study_rows(here), study_rows(there))


@pytest.mark.parametrize("over,words", [
    ({"sampler": "cmaes"}, "sampler: got 'cmaes' (allowed: tpe, nsga2, random)"),
    ({"objectives": {"hosts": "least"}}, "objectives.hosts: got 'least' (allowed: minimize, maximize)"),
    ({"constraints": {WAITED: {"below": 1}}}, f"constraints.{WAITED}: got {{'below': 1}} (allowed: {{ max = N }}"),
    ({"replications": 1}, "replications: got 1 (allowed: an integer >= 2 when there are constraints"),
    ({"space": {"host.nope": [1, 2]}}, "space.host.nope: value 1"),
    ({"space": {"host.count": {"low": 1, "high": 4, "num": 3}}}, "space.host.count.num: not for a search space"),
    ({"objectives": {"cost_per_hour": "minimize"}}, "objectives.cost_per_hour: no prices"),
    ({"budget": 3}, "budget: unknown key (allowed: base, trials,"),
    ({"confidence": 1.5}, "confidence: got 1.5 (allowed: a number in [0.5, 1)"),
])
def test_bad_input_names_the_field(over, words):
    with pytest.raises(ScenarioError) as exc:
        mmc_spec(**over)
    assert any(words in p for p in exc.value.problems), exc.value.problems


def test_a_figure_missing_fails_its_constraint():
    # nothing can start on a host too small for one instance: no p95 startup, so the constraint fails
    spec = parse_optimize({"trials": 2, "replications": 2, "seed": 1, "sampler": "random",
                           "space": {"host.count": {"low": 1, "high": 2}},
                           "objectives": {"hosts": "minimize"},
                           "constraints": {"workloads.w.startup_s.p95": {"max": 10.0}}},
                          base_scenario=sc.parse_scenario(scenario_dict(duration_s=50.0, host={"ram_mib": 50},
                                                                         daemon={"admission": "reject"})))
    res = run_optimize(spec, workers=1)
    assert not res.trials["feasible"].any() and res.best is None and res.pareto.empty
    assert res.trials["bound.workloads.w.startup_s.p95"].isna().all()
    assert not math.isnan(res.trials["objective.hosts"].iloc[0])


def test_a_knob_of_whole_tables_round_trips(tmp_path):
    # a categorical knob whose values are tables (a lifetime here; a warm strategy likewise)
    spec = parse_optimize({"trials": 4, "replications": 2, "seed": 3, "sampler": "random",
                           "space": {"workloads.w.lifetime": [{"kind": "exponential", "mean_s": 2.0},
                                                              {"kind": "fixed", "s": 3.0}]},
                           "objectives": {"workloads.w.mean_running": "minimize"}},
                          base_scenario=mmc_base(300.0))
    res = run_optimize(spec, out=tmp_path, workers=1)
    assert set(res.trials["workloads.w.lifetime"]) <= {'{"kind":"exponential","mean_s":2.0}', '{"kind":"fixed","s":3.0}'}
    assert res.best.workloads[0].lifetime.kind == "exponential"   # mean running ~ 1/s x 2 s < 1/s x 3 s
    assert sc.loads_scenario((tmp_path / "best.toml").read_text()).workloads[0].lifetime.kind == "exponential"


# --------------------------------------------------------------------------- the commands


def cli(argv):
    parser = argparse.ArgumentParser(prog="simcontainer")
    cli_optimize.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def write_files(tmp_path, **over):
    (tmp_path / "base.toml").write_text(sc.dumps_scenario(mmc_base(300.0)))
    lines = ['base = "base.toml"', "trials = 4", "replications = 2", "seed = 1",
             '[space]', '"host.count" = { low = 4, high = 12 }',
             '[objectives]', 'hosts = "minimize"',
             '[constraints]', f'"{WAITED}" = {{ max = {over.get("bound", 0.5)} }}']
    (tmp_path / "opt.toml").write_text("\n".join(lines) + "\n")
    (tmp_path / "sweep.toml").write_text('base = "base.toml"\nreplications = 1\n[axes]\n'
                                          '"workloads.w.lifetime.mean_s" = { low = 1.0, high = 5.0, num = 2 }\n'
                                          '"host.net_mb_s" = [10.0, 100.0]\n')


def test_optimize_command_runs_and_continues(tmp_path, capsys):
    write_files(tmp_path)
    assert cli(["optimize", str(tmp_path / "opt.toml"), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "4 trials (4 run now, 0 already in the study)" in out and "best: trial" in out
    for name in ("best.toml", "pareto.parquet", "trials.parquet", "study.journal"):
        assert (tmp_path / "opt.out" / name).exists()
    assert cli(["optimize", str(tmp_path / "opt.toml"), "--workers", "1", "--trials", "6", "--no-progress"]) == 0
    assert "6 trials (2 run now, 4 already in the study)" in capsys.readouterr().out


def test_optimize_command_says_when_nothing_is_feasible(tmp_path, capsys):
    write_files(tmp_path, bound=0.0001)
    assert cli(["optimize", str(tmp_path / "opt.toml"), "--workers", "1", "--out", str(tmp_path / "o")]) == 1
    assert "no configuration met every constraint" in capsys.readouterr().err
    assert not (tmp_path / "o" / "best.toml").exists()


@pytest.mark.parametrize("argv,words", [
    (["optimize", "{d}/missing.toml"], "cannot read file"),
    (["optimize", "{d}/opt.toml", "--trials", "0"], "--trials: got 0 (allowed: an integer >= 1)"),
    (["optimize", "{d}/opt.toml", "--out", "{d}/base.toml"], "--out: '{d}/base.toml' is a file (allowed: a folder)"),
    (["sensitivity", "{d}/sweep.toml", "--method", "sobol", "--samples", "6"], "--samples: got 6 with --method sobol"),
    (["sensitivity", "{d}/sweep.toml", "--method", "morris", "--metric", "x.y", "--workers", "1"],
     "--metric: got 'x.y' (allowed: a figure of runs.parquet"),
])
def test_commands_refuse_bad_input_with_one_line_each(tmp_path, capsys, argv, words):
    write_files(tmp_path)
    assert cli([a.format(d=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert words.format(d=tmp_path) in err and "Traceback" not in err
    assert all(line.startswith("simcontainer ") for line in err.strip().splitlines())


def test_sensitivity_command_prints_the_table(tmp_path, capsys):
    write_files(tmp_path)
    assert cli(["sensitivity", str(tmp_path / "sweep.toml"), "--method", "morris", "--samples", "4",
                "--metric", "workloads.w.mean_running", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "sensitivity of workloads.w.mean_running (morris, 4 trajectories: 12 points x 1 replications)" in out
    rows = out.split("sensitivity of")[1].splitlines()[2:4]
    assert rows[0].startswith("workloads.w.lifetime.mean_s") and rows[1].startswith("host.net_mb_s")
    assert (tmp_path / "sweep.morris" / "sensitivity.parquet").exists()


def test_the_journal_is_optunas_own_format(tmp_path):
    optuna = pytest.importorskip("optuna")
    run_optimize(mmc_spec(trials=3, duration=300.0), out=tmp_path, workers=1)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.journal")))
    study = optuna.load_study(study_name="simcontainer-optimize", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert all(t.constraints for t in study.trials)   # the samplers see each constraint's violation


def test_the_example_file_is_valid_and_its_figures_exist():
    root = Path(__file__).resolve().parents[1]
    spec = load_optimize(root / "models" / "sweeps" / "optimize-example.toml")
    assert [a.path for a in spec.knobs] == ["host.count", "host.ram_mib", "daemon.placement"]
    assert spec.per_host_hour > 0 and spec.objectives[0].name == "cost_per_hour"
    # every constrained figure is one the base scenario's result has (a short run of it)
    short = sc.parse_scenario({**spec.base.to_dict(), "duration_s": 60.0}, base_dir=spec.base.base_dir)
    figures = flatten_metrics(sc.simulate(short).summary)
    assert all(c.metric in figures for c in spec.constraints), [c.metric for c in spec.constraints]


def test_ctrl_c_then_a_rerun_loses_and_repeats_no_trial(tmp_path):
    """A real Ctrl-C (SIGINT) in the middle of `simcontainer optimize`, then the same command again."""
    optuna = pytest.importorskip("optuna")
    (tmp_path / "base.toml").write_text(sc.dumps_scenario(mmc_base(1000.0)))
    (tmp_path / "opt.toml").write_text('base = "base.toml"\ntrials = 200\nreplications = 2\nseed = 3\n'
                                       'parallel_trials = 2\n[space]\n"host.count" = { low = 1, high = 30 }\n'
                                       '[objectives]\nhosts = "minimize"\n'
                                       f'[constraints]\n"{WAITED}" = {{ max = {BOUND} }}\n')
    code = ("import argparse, sys\nfrom simcontainer.faces import cli_optimize\n"
            "p = argparse.ArgumentParser(); cli_optimize.add_parser(p.add_subparsers())\n"
            "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n")
    argv = [sys.executable, "-c", code, "optimize", str(tmp_path / "opt.toml"), "--workers", "1", "--no-progress"]
    journal = tmp_path / "opt.out" / "study.journal"

    def complete() -> list:
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        try:
            study = optuna.load_study(study_name="simcontainer-optimize", storage=storage)
        except KeyError:        # the journal is there, the study not yet written to it
            return []
        return [t for t in study.trials if t.state.name == "COMPLETE"]

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180      # a bound on the wait on a loaded machine, not a timing
        while time.monotonic() < deadline and not (journal.exists() and len(complete()) >= 3):
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "finished trials are kept" in err, err[-3000:]
    before = {t.number: t.params for t in complete()}
    assert len(before) >= 3
    again = subprocess.run([*argv[:5], "--trials", str(len(before) + 4), *argv[5:]], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode in (0, 1), again.stderr
    assert f"({4} run now, {len(before)} already in the study)" in again.stdout
    trials = pd.read_parquet(tmp_path / "opt.out" / "trials.parquet")
    assert len(trials) == len(before) + 4 and trials["trial"].is_unique
    for number, params in before.items():    # every trial finished before the Ctrl-C is there, unchanged
        assert trials.loc[trials["trial"] == number, "host.count"].item() == params["host.count"]


def test_finds_the_smallest_host_ram_that_fits_a_mix():
    """Closed form: with every instance admitted (memory_overcommit) and resident at its working set
    (no spread), the host's OOM killer stays idle exactly when RAM >= the sum of working sets."""
    mix = {"a": (300, 10), "b": (500, 5)}                       # working set MiB, instances
    need = sum(ws * n for ws, n in mix.values())               # 5,500 MiB
    sizes = [4096, 4608, 5120, 5376, 5500, 5632, 6144, 8192]
    base = sc.parse_scenario(scenario_dict(
        duration_s=600.0, seed=1, host={"ram_mib": 8192, "memory_overcommit": 2.0},
        workloads=[{"name": name, "runtime": "zero", "image": "tiny", "mem_mib": ws, "writable_mib": 0,
                    "usage": {"working_set_mib": ws, "ramp_s": 10, "cv": 0.0},
                    "arrival": {"kind": "burst", "count": n}, "lifetime": {"kind": "forever"}}
                   for name, (ws, n) in mix.items()]))
    spec = parse_optimize({"trials": 12, "replications": 2, "seed": 2, "startup_trials": 4,
                           "space": {"host.ram_mib": sizes}, "objectives": {"reserved_gib": "minimize"},
                           "constraints": {f"memory.workloads.{w}.oom_kills_per_1000_h": {"max": 1.0} for w in mix}},
                          base_scenario=base)
    res = run_optimize(spec, workers=1)
    assert res.best is not None and res.best.host.ram_mib == min(s for s in sizes if s >= need)
    for row in res.trials.itertuples():     # every verdict is the closed form's
        assert row.feasible == (row[3] >= need), row


def test_pareto_front_minimises_and_maximises_as_told():
    spec = parse_optimize({"trials": 1, "replications": 2, "space": {"host.count": {"low": 1, "high": 9}},
                           "objectives": {"hosts": "minimize", "workloads.w.mean_running": "maximize"}},
                          base_scenario=mmc_base(100.0))
    rows = [(0, 1, 1.0, 0.5, True), (1, 2, 2.0, 0.9, True), (2, 3, 3.0, 0.8, True),   # 2 dominates 3
            (3, 4, 4.0, 0.95, True), (4, 5, 1.0, 0.99, False),                          # 4: infeasible
            (5, 6, 2.0, 0.9, True)]                                                      # 5: same figures as 1
    trials = pd.DataFrame(rows, columns=["trial", "host.count", "objective.hosts",
                                         "objective.workloads.w.mean_running", "feasible"])
    front = pareto_front(spec, trials)
    assert list(front["trial"]) == [0, 1, 5, 3]   # cheapest first; equal figures both kept (other knobs)


def test_a_library_failing_while_ctrl_c_unwinds_it_still_reads_as_interrupted(monkeypatch, capsys):
    """Optuna's journal lock, interrupted between its rename and its unlink, unlinks again while
    handling the KeyboardInterrupt and raises FileNotFoundError: still the user's Ctrl-C (130,
    finished trials kept), while the same error without an interrupt behind it is not hidden."""
    def interrupted_in_release(args):
        try:
            raise KeyboardInterrupt
        except BaseException:
            raise FileNotFoundError("lock.rename")      # noqa: B904 - as Optuna's release() does

    args = argparse.Namespace(optimize="x.toml", trials=None, workers=None, seed=None, opt_command="optimize")
    monkeypatch.setattr(cli_optimize, "_optimize", interrupted_in_release)
    assert cli_optimize.main(args) == 130
    assert "finished trials are kept" in capsys.readouterr().err

    def plain_failure(args):
        raise FileNotFoundError("not an interrupt")

    monkeypatch.setattr(cli_optimize, "_optimize", plain_failure)
    with pytest.raises(FileNotFoundError, match="not an interrupt"):
        cli_optimize.main(args)
