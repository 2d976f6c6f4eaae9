"""Issue 10, input half: no input crashes, hangs, or passes `check` and then fails.

Every bad input below ends with exit status 2, ``path: problem`` lines, no traceback and no
partial output -- from `check` and from `run` alike -- or, in Python, a SimcontainerError.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tomli_w
from conftest import scenario_dict, sweep_base_toml

import simcontainer as sc
import simcontainer.engine.core as engine_mod
import simcontainer.studies.sweep_design as sweep_design
from simcontainer.engine import guard
from simcontainer.faces.cli import main
from simcontainer.scenario.errors import SimcontainerError
from simcontainer.studies.sweep import load_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_scenario(folder: Path, data: dict[str, Any], name: str = "s.toml") -> Path:
    p = folder / name
    p.write_text(tomli_w.dumps(data), encoding="utf-8")
    return p


def refused(capsys, path: Path, expect: str, *extra: str) -> str:
    """`check` and `run` both exit 2 with ``expect`` among the problems, and nothing on stdout."""
    errs = []
    for cmd in ("check", "run"):
        code, out, err = cli(capsys, cmd, str(path), *extra, *(["--no-progress"] if cmd == "run" else []))
        assert code == 2, (cmd, out, err)
        assert out == "" and "Traceback" not in err
        assert expect in err, err
        errs.append(err)
    assert errs[0] == errs[1]     # check says exactly what run says
    return errs[0]


def problems(data: dict[str, Any], **kw: Any) -> list[str]:
    with pytest.raises(sc.ScenarioError) as exc:
        sc.parse_scenario(data, **kw)
    return exc.value.problems


# --------------------------------------------------------------------------- trace files


def trace_scenario(tmp_path: Path, csv_bytes: bytes | None, **arrival: Any) -> Path:
    if csv_bytes is not None:
        (tmp_path / "trace.csv").write_bytes(csv_bytes)
    data = scenario_dict(duration_s=10.0)
    data["workloads"][0]["arrival"] = {"kind": "trace", "path": "trace.csv", **arrival}
    return write_scenario(tmp_path, data)


@pytest.mark.parametrize("content, expect", [
    (b"time_s\n1\n-2\n", "line 3: time_s = '-2' (allowed: a finite number >= 0)"),
    (b"time_s\n1\nnan\n", "line 3: time_s = 'nan' (allowed: a finite number >= 0)"),
    (b"time_s\ninf\n", "line 2: time_s = 'inf' (allowed: a finite number >= 0)"),
    (b"time_s\n1e999\n", "line 2: time_s = '1e999'"),
    (b"time_s\n1\nsoon\n", "line 3: time_s = 'soon' is not a number"),
    (b"time_s,lifetime_s\n1,-5\n", "line 2: lifetime_s = '-5'"),
    (b"time_s,lifetime_s\n1,nan\n", "line 2: lifetime_s = 'nan'"),
    (b"time_s,lifetime_s\n1,forever\n", "line 2: lifetime_s = 'forever' is not a number"),
    (b"t,lifetime_s\n1,2\n", "line 1: unknown column 't' (allowed: time_s, lifetime_s, workload)"),
    (b"lifetime_s\n1\n", "line 1: no time_s column"),
    (b"", "line 1: empty file"),
    (b"time_s,lifetime_s\n", "line 2: no rows after the header"),
    (b"time_s,lifetime_s\n1,2\n3,4,5\n", "line 3: 3 fields but the header has 2"),
    (b"time_s,lifetime_s\n1,2\n3\n", "line 3: 1 fields but the header has 2"),
    (b"time_s\n1\n\xff\xfe2\n", "line 3: not UTF-8 text, byte 0xff (invalid start byte) (allowed: a UTF-8 CSV file)"),
    (b"time_s\n\"1\n", "line 2: malformed CSV"),
])
def test_bad_trace_is_refused_by_check_and_run(tmp_path, capsys, content, expect):
    path = trace_scenario(tmp_path, content)
    err = refused(capsys, path, "workloads[0].arrival.path: ")
    assert expect in err


def test_trace_that_is_a_folder_or_missing(tmp_path, capsys):
    path = trace_scenario(tmp_path, None)
    refused(capsys, path, "workloads[0].arrival.path: trace file")
    (tmp_path / "trace.csv").mkdir()
    refused(capsys, path, "(allowed: a readable CSV file)")


@pytest.mark.skipif(IS_ROOT, reason="root reads any file")
def test_unreadable_trace(tmp_path, capsys):
    path = trace_scenario(tmp_path, b"time_s\n1\n")
    (tmp_path / "trace.csv").chmod(0)
    refused(capsys, path, "workloads[0].arrival.path: cannot read")


def test_good_trace_with_bom_blank_lines_and_workload_column_runs(tmp_path, capsys):
    path = trace_scenario(tmp_path, "\ufefftime_s,lifetime_s,workload\n1,2,w\n\n0.5,,\n3,1,other\n".encode())
    code, out, err = cli(capsys, "run", str(path), "--json", "--no-progress")
    assert code == 0, err
    assert '"requested": 2' in out


# --------------------------------------------------------------------------- static impossibilities


def test_prepull_larger_than_the_host_disk(tmp_path, capsys):
    data = scenario_dict(host={"disk_gib": 1}, daemon={"prepull": ["ubuntu-24.04-cloud"]})
    refused(capsys, write_scenario(tmp_path, data),
            "daemon.prepull: the prepulled images need 3,584 MiB of disk but the host has 1,024 MiB")


def test_prepull_string_is_one_clear_problem():
    data = scenario_dict(daemon={"prepull": "python:3.12-slim"})
    assert problems(data) == ["daemon.prepull: got 'python:3.12-slim' (allowed: a list of image names, "
                              "e.g. ['python:3.12-slim'])"]


def test_inline_image_base_cycle_and_unknown_base(tmp_path, capsys):
    data = scenario_dict()
    data["images"] += [{"name": "a", "base": "b", "layers": [{"id": "a0", "download_mib": 1, "disk_mib": 1}]},
                       {"name": "b", "base": "a", "layers": [{"id": "b0", "download_mib": 1, "disk_mib": 1}]},
                       {"name": "c", "base": "nowhere", "layers": []}]
    err = refused(capsys, write_scenario(tmp_path, data), "images[1].base: 'a' is its own base (a -> b -> a)")
    assert "images[3].base: 'nowhere' is an unknown image (allowed: a container image" in err
    assert err.count("its own base") == 1


@pytest.mark.parametrize("field, value", [
    ("runtime", ["runc"]), ("image", ["tiny"]), ("runtime", {"name": "runc"}), ("name", ["w"]),
])
def test_a_list_or_table_where_a_name_belongs(tmp_path, capsys, field, value):
    data = scenario_dict()
    data["workloads"][0][field] = value
    err = refused(capsys, write_scenario(tmp_path, data), f"workloads[0].{field}: got ")
    assert "(allowed: a string, a name)" in err


def test_prepull_and_action_names_must_be_strings():
    data = scenario_dict(daemon={"prepull": [["tiny"]]})
    assert problems(data)[0].startswith("daemon.prepull[0]: got ['tiny']")
    data = scenario_dict(actions=[{"at_s": 1, "op": "stop", "workload": ["w"]}])
    assert problems(data)[0].startswith("actions[0].workload: got ['w']")


@pytest.mark.parametrize("arrival, max_instances, instance, allowed", [
    ({"kind": "burst", "count": 3}, None, 3, "0..2"),
    ({"kind": "burst", "count": 30}, 5, 7, "0..4"),
    ({"kind": "interval", "every_s": 4.0}, None, 3, "0..2"),        # t = 0, 4, 8 in 10 s
    ({"kind": "burst", "count": 3, "at_s": 50.0}, None, 0, "none: it makes no request"),
    ({"kind": "poisson", "rate_per_s": 1.0}, 2, 2, "0..1"),
])
def test_action_instance_that_can_never_exist(tmp_path, capsys, arrival, max_instances, instance, allowed):
    data = scenario_dict(duration_s=10.0, actions=[{"at_s": 1.0, "op": "stop", "workload": "w",
                                                     "instance": instance}])
    data["workloads"][0]["arrival"] = arrival
    if max_instances is not None:
        data["workloads"][0]["max_instances"] = max_instances
    refused(capsys, write_scenario(tmp_path, data), f"actions[0].instance: {instance} can never exist")
    assert f"(allowed: {allowed})" in problems(data)[0]


def test_action_instance_within_a_trace_or_poisson_is_fine(tmp_path):
    (tmp_path / "trace.csv").write_text("time_s\n1\n2\n")
    data = scenario_dict(duration_s=10.0, actions=[{"at_s": 5.0, "op": "stop", "workload": "w", "instance": 1}])
    data["workloads"][0]["arrival"] = {"kind": "trace", "path": "trace.csv"}
    sc.parse_scenario(data, base_dir=tmp_path)
    data["actions"][0]["instance"] = 2
    assert problems(data, base_dir=tmp_path)[0].startswith("actions[0].instance: 2 can never exist")
    data = scenario_dict(actions=[{"at_s": 5.0, "op": "stop", "workload": "w", "instance": 10_000}])
    sc.parse_scenario(data)   # Poisson without max_instances: any index may exist


# --------------------------------------------------------------------------- no coercion, finite numbers


@pytest.mark.parametrize("where, value, expect", [
    (("duration_s",), "600", "duration_s: got '600' (allowed: a finite number, not text or true/false)"),
    (("duration_s",), True, "duration_s: got True (allowed: a finite number"),
    (("host", "ram_mib"), "4096", "host.ram_mib: got '4096'"),
    (("host", "count"), True, "host.count: got True (allowed: an integer)"),
    (("host", "count"), "2", "host.count: got '2' (allowed: an integer)"),
    (("host", "count"), 2.5, "host.count: got 2.5"),
    (("daemon", "api_workers"), False, "daemon.api_workers: got False (allowed: an integer)"),
    (("seed",), True, "seed: got True (allowed: an integer)"),
    (("duration_s",), float("inf"), "duration_s: got inf (allowed: a finite number; nan and inf are refused)"),
    (("duration_s",), float("nan"), "duration_s: got nan (allowed: a finite number"),
    (("host", "ram_mib"), float("inf"), "host.ram_mib: got inf"),
    (("host", "cpu_overcommit"), float("inf"), "host.cpu_overcommit: got inf"),
    (("host", "ram_mib"), 1e308, "host.ram_mib: got 1e+308 (allowed: a number less than or equal to 1e+15)"),
    (("host", "count"), 2**70, "host.count: got 1180591620717411303424 (allowed: a number less than or equal to 10000)"),
])
def test_no_coercion_and_finite_numbers_only(tmp_path, capsys, where, value, expect):
    data = scenario_dict()
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    refused(capsys, write_scenario(tmp_path, data), expect)


def test_inf_inside_nested_models_and_runtimes():
    data = scenario_dict()
    data["workloads"][0]["lifetime"] = {"kind": "exponential", "mean_s": float("inf")}
    data["runtimes"][0]["boot"] = {"median_s": float("inf")}
    ps = problems(data)
    assert any(p.startswith("workloads[0].lifetime.mean_s: got inf") for p in ps)
    assert any(p.startswith("runtimes[0].boot.median_s: got inf") for p in ps)


def test_integral_float_count_is_still_a_count():
    data = scenario_dict(host={"count": 2.0})
    assert sc.parse_scenario(data).host.count == 2


def test_names_with_control_characters_are_refused():
    data = scenario_dict()
    data["workloads"][0]["name"] = "web\x1b[31m"
    (p,) = problems(data)
    assert p.startswith("workloads[0].name: got 'web\\x1b[31m', which holds the control character")
    assert p.endswith("(allowed: printable text)")


def test_utf8_bom_is_accepted(tmp_path, capsys):
    p = write_scenario(tmp_path, scenario_dict())
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    code, out, _ = cli(capsys, "check", str(p))
    assert code == 0 and out.startswith("ok: test")


def test_utf8_bom_is_accepted_in_sweep_files(tmp_path):
    spec = small_sweep(tmp_path)
    spec.write_bytes(b"\xef\xbb\xbf" + spec.read_bytes())
    assert load_sweep(spec).n_points == 2


def test_closed_sets_say_what_is_allowed():
    data = scenario_dict(daemon={"admission": "drop", "placement": "random"})
    data["workloads"][0]["arrival"] = {"kind": "steady"}
    ps = problems(data)
    assert all("(allowed: " in p for p in ps), ps


def test_sweep_messages_have_no_doubled_braces(tmp_path):
    (tmp_path / "base.toml").write_text(sweep_base_toml("b", 1))
    with pytest.raises(sc.ScenarioError) as exc:
        sc.sweep({"base": "base.toml", "axes": {"host.ram_mib": 5, "daemon.api_workers": {"low": 1, "high": 4}}})
    text = str(exc.value)
    assert "{{" not in text and "{ low, high }" in text


# --------------------------------------------------------------------------- size guards


def no_engine(monkeypatch) -> None:
    """Fail the test if a simulation engine is built: a refusal must come before any work."""
    def refuse(*a, **kw):
        raise AssertionError("an engine was built for a run the size guard should have refused")

    monkeypatch.setattr(engine_mod.Engine, "__init__", refuse)


def burst_file(tmp_path: Path, count: int) -> Path:
    data = {"name": "huge", "duration_s": 600.0, "host": "server-64g",
            "workloads": [{"name": "b", "runtime": "runc", "image": "python:3.12-slim", "mem_mib": 1,
                           "arrival": {"kind": "burst", "count": count}}]}
    return write_scenario(tmp_path, data)


def test_ten_million_burst_is_refused_at_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(guard, "available_mib", lambda: 16 * 1024.0)
    path = burst_file(tmp_path, 10_000_000)
    no_engine(monkeypatch)        # refused before anything is built (its time: bench/bench_refusals.py)
    err = refused(capsys, path, "workloads[0].arrival: too large to run here: about 10,000,000 requests")
    assert "--force" in err and "16.0 GiB available" in err
    code, out, _ = cli(capsys, "check", str(path), "--force")     # the override
    assert code == 0 and "10,000,000 requests" in out


def test_compare_passes_the_size_guard_and_takes_force(tmp_path, capsys, monkeypatch):
    path = burst_file(tmp_path, 400)
    monkeypatch.setattr(guard, "available_mib", lambda: 0.5)      # a machine with half a MiB free
    code, out, err = cli(capsys, "compare", str(path), "--runtimes", "runc,crun", "--no-progress")
    assert code == 2 and "too large to run here" in err and "--force" in err and not out
    code, out, _ = cli(capsys, "compare", str(path), "--runtimes", "runc,crun", "--no-progress", "--force")
    assert code == 0 and "crun" in out


def test_size_guard_in_python(monkeypatch):
    s = sc.parse_scenario(scenario_dict(duration_s=1e9))          # 10^9 Poisson requests
    with monkeypatch.context() as m:
        no_engine(m)              # refused before the engine is built (its time: bench/bench_refusals.py)
        with pytest.raises(SimcontainerError, match=r"too large to run here: about 1,000,000,000 requests"):
            sc.simulate(s)
    est = guard.check_size(s, force=True)
    assert est.requests == 1e9 and est.memory_mib > 1e6
    small = sc.parse_scenario(scenario_dict(duration_s=10.0))
    with pytest.raises(SimcontainerError):
        guard.check_size(small, available=1.0)                    # a machine with 1 MiB free
    guard.check_size(small, available=1.0, force=True)


def test_hours_of_placement_over_many_hosts_is_refused(monkeypatch):
    monkeypatch.setattr(guard, "available_mib", lambda: 16 * 1024.0)
    # spread tries every host for every request (first-fit stops at the first with room: tests/test_guard.py)
    data = scenario_dict(duration_s=36_000.0, host={"count": 10_000}, daemon={"placement": "spread"})
    data["workloads"][0]["arrival"] = {"kind": "poisson", "rate_per_s": 10.0}
    with pytest.raises(SimcontainerError) as exc:
        sc.simulate(sc.parse_scenario(data))
    assert "too long to run here: about 360,000 requests" in str(exc.value)
    assert "each request placed by trying up to 10,000 hosts" in str(exc.value) and "--force" in str(exc.value)


def test_huge_sweep_grid_is_refused_before_validating_points(tmp_path, monkeypatch):
    (tmp_path / "base.toml").write_text(sweep_base_toml("b", 1))
    data = {"base": "base.toml", "mode": "grid",
            "axes": {"host.ram_mib": {"low": 1024, "high": 65536, "num": 1000},
                     "workloads.api.mem_mib": {"low": 1.0, "high": 512.0, "num": 1000}}}
    def no_points(*a, **kw):
        raise AssertionError("the points were built before the size was refused")

    monkeypatch.setattr(sweep_design, "_design", no_points)   # its time: bench/bench_refusals.py
    with pytest.raises(sc.ScenarioError) as exc:
        sc.sweep(data | {"base": str(tmp_path / "base.toml")})
    assert "1,000,000 points x 1 replications = 1,000,000 runs (allowed: up to 20,000" in str(exc.value)


def test_progress_shows_while_a_burst_sits_at_one_instant(monkeypatch):
    import simcontainer.engine.core as engine

    clock = iter(range(10**9))
    monkeypatch.setattr(engine.time, "perf_counter", lambda: float(next(clock)))
    data = scenario_dict(duration_s=1e9, workloads=[{
        "name": "w", "runtime": "zero", "image": "tiny", "mem_mib": 0.001, "writable_mib": 0,
        "arrival": {"kind": "burst", "count": 40_000}, "lifetime": {"kind": "forever"}}])
    seen: list[float] = []
    sc.simulate(sc.parse_scenario(data), progress=seen.append)
    assert len(seen) > 5 and seen[-1] == 1.0
    assert 0 < seen[0] < 1 and seen == sorted(seen)


# --------------------------------------------------------------------------- output paths


@pytest.mark.parametrize("flag", ["--events", "--timeseries"])
def test_output_paths_checked_before_the_run(tmp_path, capsys, flag):
    scen = str(write_scenario(tmp_path, scenario_dict()))
    folder = tmp_path / "out.parquet"
    folder.mkdir()
    for target, expect in [(str(folder), "is a folder"),
                           (str(tmp_path / "missing" / "e.parquet"), "does not exist"),
                           ("/proc/e.parquet", "cannot write in folder '/proc'"),
                           (str(tmp_path / "e.csv"), "does not end in .parquet")]:
        code, out, err = cli(capsys, "run", scen, flag, target, "--no-progress")
        assert code == 2 and out == "" and f"{flag}: " in err and expect in err, err
        assert "Traceback" not in err
    assert list(folder.iterdir()) == [] and not (tmp_path / "missing").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no probe left behind


def test_sweep_out_checked_before_validating_or_running(tmp_path, capsys):
    (tmp_path / "base.toml").write_text(sweep_base_toml("b", 1))
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text('base = "base.toml"\n[axes]\n"host.ram_mib" = [2048]\n')
    (tmp_path / "afile").write_text("x")
    for target, expect in [(str(tmp_path / "afile"), "is a file"), ("/proc/sweep-out", "cannot write")]:
        code, out, err = cli(capsys, "sweep", str(sweep_file), "--out", target, "--workers", "1")
        assert code == 2 and "--out: " in err and expect in err and "Traceback" not in err
    assert not Path("/proc/sweep-out").exists()


# --------------------------------------------------------------------------- the sweep store


def small_sweep(tmp_path: Path) -> Path:
    (tmp_path / "base.toml").write_text(sweep_base_toml("b", 1))
    p = tmp_path / "s.toml"
    p.write_text('base = "base.toml"\n[axes]\n"host.ram_mib" = [2048, 4096]\n')
    return p


@pytest.mark.parametrize("kind", ["unreadable", "foreign"])
def test_corrupt_or_foreign_runs_parquet_is_moved_aside(tmp_path, capsys, kind):
    spec = small_sweep(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    if kind == "unreadable":
        (out / "runs.parquet").write_bytes(b"PAR1 not really")
    else:
        pd.DataFrame({"a": [1, 2]}).to_parquet(out / "runs.parquet")
    code, _, err = cli(capsys, "sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress")
    assert code == 0, err
    assert f"moved aside to runs.parquet.{kind}-1" in err and "Traceback" not in err
    assert (out / f"runs.parquet.{kind}-1").exists()
    assert len(pd.read_parquet(out / "runs.parquet")) == 2


def test_one_bad_point_is_a_failed_row_and_the_sweep_carries_on(tmp_path, monkeypatch, capsys):
    import simcontainer.studies.sweep as sweep_mod  # noqa: F401  (the module, not sc.sweep)

    mod = sys.modules["simcontainer.studies.sweep"]
    real = mod.simulate

    def flaky(scenario, seed=None, **kw):
        if scenario.host.ram_mib == 4096:
            raise RuntimeError("boom at 4096")
        return real(scenario, seed, **kw)

    monkeypatch.setattr(mod, "simulate", flaky)
    spec = small_sweep(tmp_path)
    code, _, err = cli(capsys, "sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "1", "--no-progress")
    assert code == 0 and "warning: 1 of 2 runs failed" in err and "boom at 4096" in err
    runs = pd.read_parquet(tmp_path / "o" / "runs.parquet")
    assert runs["error"].notna().tolist() == [False, True]
    monkeypatch.setattr(mod, "simulate", real)       # fixed: a rerun tries the failed run again
    res = run_sweep(load_sweep(spec), out=tmp_path / "o", workers=1)
    assert res.computed == 1 and res.reused == 1 and len(res.failed) == 0


def test_sweep_in_a_script_without_main_guard_says_so(tmp_path):
    small_sweep(tmp_path)
    script = tmp_path / "go.py"
    script.write_text("import simcontainer as sc\n"
                      f"sc.sweep({str(tmp_path / 's.toml')!r}, workers=2)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0
    assert 'without `if __name__ == "__main__":`' in proc.stderr
    assert "died" not in proc.stderr


# --------------------------------------------------------------------------- the Python API


@pytest.fixture(scope="module")
def small() -> sc.Scenario:
    return sc.parse_scenario(scenario_dict(duration_s=20.0))


@pytest.mark.parametrize("seed", ["x", True, -1, 2**63, 1.5])
def test_simulate_refuses_bad_seeds(small, seed):
    with pytest.raises(SimcontainerError, match=r"simulate: seed: got .* \(allowed: None or an integer"):
        sc.simulate(small, seed=seed)


def test_simulate_refuses_plain_data_and_compare_a_string(small):
    with pytest.raises(SimcontainerError, match=r"simulate: scenario: got dict .*sc.parse_scenario"):
        sc.simulate(scenario_dict())
    with pytest.raises(SimcontainerError) as exc:
        sc.compare(small, "runc")
    assert str(exc.value) == "compare: runtimes: got 'runc' (allowed: a list of runtime names, e.g. ['runc'])"
    with pytest.raises(SimcontainerError, match="compare: seed"):
        sc.compare(small, ["runc"], seed="1")
    with pytest.raises(SimcontainerError, match=r"density: runtimes: got 'runc' \(allowed: a list"):
        sc.density(small, "runc")


def test_numpy_integer_seed_is_a_seed(small):
    import numpy as np

    res = sc.simulate(small, seed=np.int64(3))
    assert res.seed == 3 and type(res.summary["seed"]) is int


def two_hosts() -> sc.Scenario:
    """Two hosts that fill up after 10 instances each (nothing ever leaves)."""
    data = scenario_dict(duration_s=30.0, host={"count": 2, "ram_mib": 1000})
    data["workloads"][0]["lifetime"] = {"kind": "forever"}
    return sc.parse_scenario(data)


def test_policy_returning_none_for_ever_is_an_error():
    with pytest.raises(SimcontainerError, match="returned None for an instance that fits an empty host"):
        sc.simulate(two_hosts(), policy=lambda hosts, d, image: None)


def test_policy_returning_a_full_host_or_a_non_host_is_an_error():
    with pytest.raises(SimcontainerError, match="returned host 0, on which the instance does not fit"):
        sc.simulate(two_hosts(), policy=lambda hosts, d, image: hosts[0])
    with pytest.raises(SimcontainerError, match=r"returned 'host-1' \(allowed: one of the hosts"):
        sc.simulate(two_hosts(), policy=lambda hosts, d, image: "host-1")
    with pytest.raises(SimcontainerError, match="policy: got 'best-fit'"):
        sc.simulate(two_hosts(), policy="best-fit")


def test_custom_policy_is_asked_on_one_host_too(small):
    calls = []

    def mine(hosts, d, image):
        calls.append(len(hosts))
        return hosts[0] if hosts[0].fits(d, image) else None

    res = sc.simulate(small, policy=mine)
    assert calls and set(calls) == {1}
    assert res.summary["workloads"]["w"]["requested"] >= len(calls) > 0


# --------------------------------------------------------------------------- standing alone


def test_docs_point_only_inside_the_repository():
    docs = [ROOT / "README.md", ROOT / "models" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared DESIGN.md" not in text, doc
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue       # a web address
            assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)}: {target}"
    for name in ("scenario.md", "result-json.md", "sweep-files.md", "density-json.md"):
        assert (ROOT / "docs" / "reference" / name).is_file()


def _top_level_imports(module: str) -> set[str]:
    import ast

    tree = ast.parse((ROOT / "simcontainer" / f"{module}.py").read_text(encoding="utf-8"))
    return {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}


def test_import_order_is_errors_then_schema_then_profiles_then_loading():
    """No circle in the scenario layer: errors imports no simcontainer module, the schema only
    errors (the catalogue its tables default to is registered by profiles), profiles the schema,
    the references (checks across fields) and loading build on those."""
    assert not {m for m in _top_level_imports("scenario/errors") if m.startswith("simcontainer")}
    assert {m for m in _top_level_imports("scenario/schema") if m.startswith("simcontainer")} <= {
        "simcontainer.scenario.errors", "simcontainer.scenario.cluster", "simcontainer.scenario.defaults",
        "simcontainer.scenario.catalogue", "simcontainer.scenario.fields"}
    assert {m for m in _top_level_imports("scenario/fields") if m.startswith("simcontainer")} <= {
        "simcontainer.scenario.errors"} <= {
        "simcontainer.scenario.errors", "simcontainer.scenario.cluster", "simcontainer.scenario.defaults"}
    assert {m for m in _top_level_imports("scenario/defaults") if m.startswith("simcontainer")} == set()
    assert {m for m in _top_level_imports("scenario/cluster") if m.startswith("simcontainer")} == set()
    assert {"simcontainer.scenario.errors", "simcontainer.scenario.schema"} <= _top_level_imports("scenario/profiles")
    assert "simcontainer.scenario.loading" not in _top_level_imports("scenario/references")
    assert {"simcontainer.scenario.profiles", "simcontainer.scenario.schema"} <= _top_level_imports("scenario/loading")
