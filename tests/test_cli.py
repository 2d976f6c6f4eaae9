"""The command line: contracts of each command, clean errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simcontainer.faces.cli import ProgressLine, main
from simcontainer.scenario.profiles import models_dir

DEFAULT = str(models_dir() / "scenarios" / "default.toml")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_has_the_contract_keys(capsys):
    code, out, err = run_cli(capsys, "run", DEFAULT, "--json", "--no-progress")
    assert code == 0 and err == ""
    s = json.loads(out)
    assert {"scenario", "seed", "duration_s", "workloads", "host", "events"} <= set(s)
    w = s["workloads"]["api-runc"]
    assert {"requested", "started", "rejected", "completed", "startup_s", "wait_s", "phases_s",
            "peak_running", "mean_running"} <= set(w)
    assert set(w["startup_s"]) == {"n", "mean", "p50", "p95", "p99", "max"}
    assert set(w["wait_s"]) == {"n", "mean", "p95", "waited_fraction"}
    assert set(w["wait_censored_s"]) == {"n", "censored", "mean", "p95"}
    assert set(w["cpu"]) == {"asked_core_s", "received_core_s", "received_fraction", "throttled_core_s",
                             "throttled_fraction"}
    assert {"waiting_at_horizon", "starting_at_horizon", "never_started", "fractions"} <= set(w)
    assert s["warnings"] == []
    assert set(w["phases_s"]) == {"wait", "pull", "create", "boot", "ready"}
    assert {"peak_ram_mib", "mean_ram_mib", "peak_disk_mib", "mean_cpu_util", "mean_cpu_demand",
            "peak_cpu_demand", "pulled_mib", "peak_running"} <= set(s["host"])
    # the phases add up to the startup
    assert sum(w["phases_s"].values()) == pytest.approx(w["startup_s"]["mean"])


def test_run_table_and_parquet_outputs(capsys, tmp_path):
    ev, ts = tmp_path / "ev.parquet", tmp_path / "ts.parquet"
    code, out, _ = run_cli(capsys, "run", DEFAULT, "--events", str(ev), "--timeseries", str(ts))
    assert code == 0
    assert "api-runc" in out and "startup p50 s" in out
    events = pd.read_parquet(ev)
    assert {"time_s", "instance", "workload", "host", "state"} <= set(events.columns)
    series = pd.read_parquet(ts)
    assert {"time_s", "ram_mib", "disk_mib", "cpu_util", "running", "waiting"} <= set(series.columns)
    assert not list(tmp_path.glob(".*tmp*"))


def test_seed_override_changes_the_result(capsys):
    _, a, _ = run_cli(capsys, "run", DEFAULT, "--json", "--seed", "1")
    _, b, _ = run_cli(capsys, "run", DEFAULT, "--json", "--seed", "2")
    assert json.loads(a)["seed"] == 1 and json.loads(a) != json.loads(b)


def test_compare_and_density(capsys):
    code, out, _ = run_cli(capsys, "compare", DEFAULT, "--runtimes", "runc,gvisor", "--json")
    assert code == 0
    res = json.loads(out)
    assert set(res) == {"runc", "gvisor"}
    assert all(w["runtime"] == "gvisor" for w in res["gvisor"]["workloads"].values())
    # the VM workloads boot VM disk images (a rootfs, an Ubuntu cloud image): runc cannot run them
    assert res["runc"]["skipped_workloads"] == ["api-firecracker", "api-qemu"]
    assert "api-qemu" not in res["runc"]["workloads"] and "api-runc" in res["runc"]["workloads"]
    code, out, _ = run_cli(capsys, "compare", DEFAULT, "--runtimes", "firecracker")
    assert code == 0 and "api-qemu" in out
    code, out, _ = run_cli(capsys, "density", DEFAULT, "--runtimes", "qemu-kvm", "--json")
    d = json.loads(out)
    assert d["api-runc"]["runc"]["binding"] in ("ram", "disk", "cpu")
    assert d["api-runc"]["qemu-kvm"]["fits"] < d["api-runc"]["runc"]["fits"]
    code, out, _ = run_cli(capsys, "density", DEFAULT)
    assert code == 0 and "binding" in out


def test_profiles_and_check(capsys):
    code, out, _ = run_cli(capsys, "profiles")
    assert code == 0 and "firecracker" in out and "qemu-kvm" in out
    code, out, _ = run_cli(capsys, "profiles", "--sources")
    assert "moby/moby issue 42096" in out
    code, out, _ = run_cli(capsys, "profiles", "--json")
    assert json.loads(out)["runc"]["sources"]
    code, out, _ = run_cli(capsys, "check", DEFAULT)
    assert code == 0 and out.startswith("ok: default")


@pytest.mark.parametrize("content, expect", [
    ("name='x'\nduration_s=", "malformed TOML"),
    ("name='x'\nduration_s=10\nhost={cpu_cores=1, ram_mib=-1, disk_gib=1}\n"
     "[[workloads]]\nname='a'\nruntime='runc'\nimage='alpine:3.20'\nmem_mib=1\narrival={kind='burst',count=1}\n",
     "host.ram_mib: got -1"),
    ("name='x'\nduration_s=10\nhost={cpu_cores=1, ram_mib=1, disk_gib=1}\n"
     "[[workloads]]\nname='a'\nruntime='nope'\nimage='alpine:3.20'\nmem_mib=1\narrival={kind='burst',count=1}\n",
     "workloads[0].runtime: unknown runtime 'nope'"),
])
def test_bad_scenarios_exit_2_without_traceback(capsys, tmp_path, content, expect):
    p = tmp_path / "s.toml"
    p.write_text(content)
    for cmd in (["run", str(p)], ["check", str(p)], ["density", str(p)]):
        code, out, err = run_cli(capsys, *cmd)
        assert code == 2 and out == ""
        assert expect in err and "Traceback" not in err


def test_bad_arguments_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", str(tmp_path / "missing.toml"))
    assert code == 2 and "cannot read file" in err
    code, _, err = run_cli(capsys, "compare", DEFAULT, "--runtimes", "runc,docker9")
    assert code == 2 and "--runtimes: unknown runtime 'docker9'" in err
    code, _, err = run_cli(capsys, "run", DEFAULT, "--events", str(tmp_path / "no" / "dir.parquet"))
    assert code == 2 and "--events" in err
    assert not (tmp_path / "no").exists()
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["run", DEFAULT, "--seed", "-3"])
    assert exc.value.code == 2


def test_progress_line_waits_a_second_then_reports():
    import io

    now = [0.0]
    out = io.StringIO()
    line = ProgressLine("run x", stream=out, clock=lambda: now[0])
    now[0] = 0.5
    line(0.3)
    assert out.getvalue() == ""            # a short run shows nothing
    now[0] = 1.5
    line(0.6)
    now[0] = 2.5
    line(1.0)
    line.close()
    text = out.getvalue()
    assert "60%" in text and "100%" in text and text.endswith("\n")


def test_progress_goes_to_stderr_never_stdout():
    env = {**os.environ, "SIMCONTAINER_PROGRESS_AFTER_S": "0"}
    proc = subprocess.run([sys.executable, "-m", "simcontainer.faces.cli", "run", DEFAULT, "--json", "--progress"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)  # stdout is pure JSON
    assert "100%" in proc.stderr
    quiet = subprocess.run([sys.executable, "-m", "simcontainer.faces.cli", "run", DEFAULT, "--json"],
                           capture_output=True, text=True, timeout=120)
    assert quiet.stderr == ""  # not a terminal: no progress unless asked


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "simcontainer"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "density" in proc.stdout
