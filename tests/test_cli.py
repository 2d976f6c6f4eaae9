"""The command line: contracts of each command, clean errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simcontainer.faces.cli import main
from simcontainer.faces.progress import Progress
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
    line = Progress("run x", stream=out, clock=lambda: now[0])
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


# --------------------------------------------------------------------------- plan (cli_plan)


def run_plan(capsys, *args: str) -> tuple[int, str, str]:
    """``simcontainer plan ...`` through the module's own add_parser/main (the lead wires it)."""
    import argparse

    from simcontainer.faces import cli_plan

    parser = argparse.ArgumentParser(prog="simcontainer")
    cli_plan.add_parser(parser.add_subparsers(dest="command", required=True))
    code = cli_plan.main(parser.parse_args(["plan", *args]))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_hosts_needed_is_the_apps_packing(capsys):
    from simcontainer.scenario.loading import load_scenario
    from simcontainer.studies import hosts_needed

    code, out, err = run_plan(capsys, "hosts-needed", DEFAULT, "--runtimes", "runc,qemu-kvm", "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    s = load_scenario(DEFAULT)
    assert d["counts"] == hosts_needed.steady_counts(s)
    want = hosts_needed.hosts_needed(s, d["counts"], ["runc", "qemu-kvm"], 0.2)
    assert [r["hosts"] for r in d["runtimes"]] == list(want["hosts"])
    for r in d["runtimes"]:
        assert isinstance(r["hosts"], int) and r["hosts"] >= r["lower_bound"] >= 1   # never beats the fluid bound
    # more instances, more headroom: never fewer hosts
    code, out, _ = run_plan(capsys, "hosts-needed", DEFAULT, "--runtimes", "runc,qemu-kvm", "--json",
                            "--count", "api-runc=400", "--headroom", "40%")
    more = json.loads(out)
    assert more["counts"]["api-runc"] == 400 and more["headroom"] == pytest.approx(0.4)
    assert all(b["hosts"] >= a["hosts"] for a, b in zip(d["runtimes"], more["runtimes"]))
    code, out, _ = run_plan(capsys, "hosts-needed", DEFAULT)
    assert code == 0 and "binds first" in out and "20% kept free" in out and "qemu-kvm" in out


def test_plan_oom_risk_counts_and_kills(capsys):
    from simcontainer.scenario.loading import load_scenario

    code, out, err = run_plan(capsys, "oom-risk", DEFAULT, "--workload", "api-runc", "--no-simulate", "--json",
                              "--overcommit", "2")
    assert code == 0 and err == ""
    row = json.loads(out)["runtimes"]["runc"]
    h = load_scenario(DEFAULT).host
    room = h.ram_mib - h.reserve_mib
    assert row["at_reservation"]["count"] == int(room // row["reservation_mib"])
    assert row["at_overcommit_2"]["count"] == int(room * 2 // row["reservation_mib"])
    assert "oom_kills" not in row["at_reservation"]
    # simulated: packing by reservations x 2 is the bet that fails; by reservation it cannot oversubscribe less
    code, out, _ = run_plan(capsys, "oom-risk", DEFAULT, "--workload", "api-runc", "--no-simulate",
                            "--overcommit", "2")
    assert code == 0 and "at 2x overcommit" in out and "not simulated (--no-simulate)" in out
    code, out, _ = run_plan(capsys, "oom-risk", DEFAULT, "--workload", "api-runc", "--hours", "0.05",
                            "--overcommit", "2", "--json")
    sim = json.loads(out)["runtimes"]["runc"]
    assert sim["at_overcommit_2"]["oom_kills"] > 0
    assert sim["at_overcommit_2"]["oom_kills"] >= sim["at_reservation"]["oom_kills"]


@pytest.mark.parametrize("args, expect", [
    (["oom-risk", DEFAULT, "--workload", "nope"], "--workload: unknown workload 'nope' (allowed: api-runc"),
    (["hosts-needed", DEFAULT, "--runtimes", "runc,docker9"], "--runtimes: unknown runtime 'docker9' (allowed:"),
    (["hosts-needed", DEFAULT, "--count", "zzz=3"], "--count: unknown workload 'zzz'"),
    (["oom-risk", DEFAULT, "--hours", "3"], "instance-hours to simulate (allowed: up to"),   # 835 x 3 h
])
def test_plan_bad_input_is_one_line_exit_2(capsys, args, expect):
    code, out, err = run_plan(capsys, *args)
    assert code == 2 and out == "" and expect in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_plan_bad_flags_are_refused_by_the_parser(capsys):
    for args in (["hosts-needed", DEFAULT, "--headroom", "120%"], ["hosts-needed", DEFAULT, "--count", "api-runc"],
                 ["oom-risk", DEFAULT, "--overcommit", "0.5"]):
        with pytest.raises(SystemExit) as exc:
            run_plan(capsys, *args)
        assert exc.value.code == 2
        assert "allowed:" in capsys.readouterr().err


# --------------------------------------------------------------------------- app: stopping


def _port_answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_app_stops_streamlit_on_a_stop_signal_and_frees_the_port(tmp_path, sig):
    """`simcontainer app` passes SIGTERM/SIGINT on to Streamlit and waits for it: the port is free
    again once the command has exited, so the next start does not find it taken."""
    import signal
    import socket
    import time

    pytest.importorskip("streamlit")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "simcontainer", "app", "--port", str(port),
                             "--address", "127.0.0.1"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120      # a bound on a loaded machine, not a performance claim
        while not _port_answers(port):
            assert proc.poll() is None, f"the app exited {proc.returncode}: {proc.stderr.read()}"
            if time.monotonic() > deadline:
                pytest.fail("the app did not open its port within 120 s")
            time.sleep(0.2)
        proc.send_signal(getattr(signal, sig))     # to the command only, not its process group
        assert proc.wait(timeout=60) == 0
        assert not _port_answers(port), "Streamlit still serves the port after the command exited"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_plan_hosts_needed_says_when_one_instance_fits_no_host(capsys, tmp_path):
    p = tmp_path / "small.toml"
    p.write_text('name = "small"\nduration_s = 60.0\nhost = { cpu_cores = 2, ram_mib = 1024, disk_gib = 20 }\n'
                 '[[workloads]]\nname = "web"\nruntime = "runc"\nimage = "python:3.12-slim"\nmem_mib = 512\n'
                 'arrival = { kind = "burst", count = 10 }\nlifetime = { kind = "forever" }\n')
    code, out, _ = run_plan(capsys, "hosts-needed", str(p), "--runtimes", "runc,qemu-kvm", "--json")
    rows = {r["runtime"]: r for r in json.loads(out)["runtimes"]}
    # runc: 512 MiB + overhead per instance, 80 % of 1 GiB usable: one per host
    assert rows["runc"]["hosts"] == 10 and rows["runc"]["binding"] == "RAM"
    # a QEMU VM's guest RAM + VMM is more than the usable 819 MiB of a host
    assert rows["qemu-kvm"]["hosts"] is None and rows["qemu-kvm"]["binding"] == "does not fit on one host"
    code, out, _ = run_plan(capsys, "hosts-needed", str(p), "--runtimes", "runc,qemu-kvm")
    assert code == 0 and "qemu-kvm: one instance does not fit on a host" in out


# --------------------------------------------------------------------------- what a run assumed

FC_BURST = """name = "fc-burst"
duration_s = 120
host = "server-64g"
[[workloads]]
name = "vm"
runtime = "firecracker"
image = "firecracker-rootfs"
mem_mib = 512
arrival = { kind = "burst", count = 20, at_s = 0 }
"""


def _assumption_lines(out: str) -> dict[str, str]:
    block = out[out.index("\nassumptions ("):]
    return {line.split(" = ")[0].strip(): line for line in block.splitlines()[2:] if " = " in line}


def test_run_ends_with_its_assumptions_and_measures_the_cheap_flips(capsys, tmp_path):
    path = tmp_path / "fc.toml"
    path.write_text(FC_BURST, encoding="utf-8")
    code, out, _ = run_cli(capsys, "run", str(path), "--no-progress")
    assert code == 0
    lines = _assumption_lines(out)
    disk = lines["workloads.vm.vm_disk"]
    # left to its default, and the paired rerun with overlay disks: the startup falls, nothing else moves
    assert disk.startswith("  workloads.vm.vm_disk = copy (default: firecracker's own tooling")
    assert " · flipped to overlay: p50 startup " in disk
    was, now = (float(x) for x in disk.split("p50 startup ")[1].split(" s,")[0].split(" -> "))
    assert now < was / 3 and "started 20 -> 20" in disk
    assert lines["registry.egress_mb_s"].startswith("  registry.egress_mb_s = unset (default: unlimited")
    assert "(default of its control plane (firecracker))" in lines["workloads.vm.restart"]
    assert "memory model" in lines and "flips not measured" not in out

    code, out, _ = run_cli(capsys, "run", str(path), "--json", "--no-progress")
    by = {a["key"]: a for a in json.loads(out)["assumptions"]}
    eff = by["workloads.vm.vm_disk"]["effect"]
    assert eff["flipped"]["startup_p50_s"] < eff["as_run"]["startup_p50_s"] / 3
    assert by["memory model"]["effect"] is None                 # nothing to flip: nothing rerun


def test_no_flips_and_flips_too_dear_say_the_assumptions_without_rerunning(capsys, tmp_path, monkeypatch):
    path = tmp_path / "fc.toml"
    path.write_text(FC_BURST, encoding="utf-8")
    code, out, _ = run_cli(capsys, "run", str(path), "--no-flips", "--no-progress")
    assert code == 0 and " · flipped to overlay: " not in out
    line = _assumption_lines(out)["workloads.vm.vm_disk"]
    assert line.startswith("  workloads.vm.vm_disk = copy (default: firecracker's own tooling") and ") · copy:" in line
    code, out, _ = run_cli(capsys, "run", str(path), "--no-flips", "--json", "--no-progress")
    assert all("effect" not in a for a in json.loads(out)["assumptions"])
    monkeypatch.setattr("simcontainer.studies.assumption_flips.FLIP_BUDGET_S", 0.0)
    code, out, _ = run_cli(capsys, "run", str(path), "--no-progress")
    assert " · flipped to overlay: " not in out and "flips not measured" in out and "--flips measures them" in out
    code, out, _ = run_cli(capsys, "run", str(path), "--flips", "--no-progress")     # asked: measured anyway
    assert " · flipped to overlay: p50 startup " in out and "flips not measured" not in out


# --------------------------------------------------------------------------- memory said plainly

OVERCOMMIT = """name = "overcommit"
duration_s = 600
seed = 7
[host]
cpu_cores = 8
ram_mib = 8192
disk_gib = 100
reserved_mib = 1024
memory_overcommit = 1.5
[daemon]
prepull = ["python:3.12-slim"]
[[workloads]]
name = "api"
runtime = "runc"
image = "python:3.12-slim"
mem_mib = 1024
restart = "always"
usage = { working_set_mib = 700, ramp_s = 60, cv = 0.3, interval_s = 60 }
arrival = { kind = "burst", at_s = 0.0, count = 12 }
lifetime = { kind = "forever" }
"""


def test_run_text_separates_reserved_from_resident_and_shows_kills_and_failures(capsys, tmp_path):
    path = tmp_path / "oc.toml"
    path.write_text(OVERCOMMIT, encoding="utf-8")
    code, out, _ = run_cli(capsys, "run", str(path), "--no-flips", "--no-progress")
    _, js, _ = run_cli(capsys, "run", str(path), "--no-flips", "--json", "--no-progress")
    s = json.loads(js)
    assert code == 0
    # reserved: admission's promise, against the overcommitted capacity (8192 - 1024) x 1.5
    assert (f"RAM reserved: peak {s['host']['peak_ram_mib']:,.0f} of 10,752 MiB (1.5x overcommit of 7,168; "
            "8,192 less 1,024 kept for the host)") in out
    # resident: the physical RAM used, against the host's RAM less what it keeps
    mem = s["memory"]
    assert f"RAM resident: peak {mem['hosts'][0]['peak_used_mib']:,.0f} of 7,168 MiB" in out
    kills = mem["workloads"]["api"]
    assert kills["host_kills"] > 0
    assert f"OOM kills: {mem['oom_kills']} (host OOM killer {kills['host_kills']}, over a cgroup limit 0)" in out
    lc = s["workloads"]["api"]["lifecycle"]
    assert lc["failed_starts"] > 0 and lc["availability"] < 0.95           # failed restarts stay down
    assert f"api: {lc['failed_starts']} x no room to restart it: the host's RAM is taken" in out
    row = next(line for line in out.splitlines() if line.startswith("api ") and "%" in line and "runc" not in line)
    assert f"{lc['availability']:.0%}" in row and "100%" not in row
    # the workload table: the workload's own peak reservation
    assert s["workloads"]["api"]["peak_ram_mib"] == pytest.approx(s["host"]["peak_ram_mib"])


def test_without_the_memory_model_resident_ram_is_said_to_be_unmodelled(capsys):
    code, out, _ = run_cli(capsys, "run", DEFAULT, "--no-flips", "--no-progress")
    assert code == 0 and "RAM resident: not modelled" in out and "OOM kills" not in out
    h = json.loads(run_cli(capsys, "run", DEFAULT, "--no-flips", "--json", "--no-progress")[1])["host"]
    assert f"RAM reserved: peak {h['peak_ram_mib']:,.0f} of {h['ram_mib']:,.0f} MiB" in out


def test_compare_shows_each_workload_s_own_peak_ram(capsys):
    code, out, _ = run_cli(capsys, "compare", DEFAULT, "--runtimes", "runc", "--json", "--no-progress")
    s = json.loads(out)["runc"]
    peaks = {n: w["peak_ram_mib"] for n, w in s["workloads"].items()}
    assert len(set(peaks.values())) > 1 and max(peaks.values()) < s["host"]["peak_ram_mib"]
    code, out, _ = run_cli(capsys, "compare", DEFAULT, "--runtimes", "runc", "--no-progress")
    for name, peak in peaks.items():
        row = next(line for line in out.splitlines() if line.startswith(f"runc     {name}") or
                   line.split()[:2] == ["runc", name])
        assert row.rstrip().endswith(f"{peak:,.0f}")
