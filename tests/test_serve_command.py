"""``simcontainer serve`` as a command: its flags, bad input, and a recorded session replayed by
``simcontainer run``'s engine."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simcontainer.engine.core import simulate
from simcontainer.faces.serve import command
from simcontainer.faces.serve.views import rfc3339
from simcontainer.scenario.loading import load_scenario

docker = pytest.importorskip("docker")
ROOT = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="simcontainer")
    command.add_parser(p.add_subparsers())
    return p.parse_args(["serve", *argv])


@pytest.mark.parametrize("argv, says", [
    (["--socket", "/no/such/dir/d.sock"], "--socket"),
    (["--port", "0", "--speed", "2"], "--speed 2: only with --clock real"),
    (["--port", "0", "--host", "localhost.evil"], "--host 'localhost.evil'"),
    (["missing.toml", "--port", "0"], "missing.toml"),
    (["--port", "0", "--record", "/no/such/dir/s.toml"], "--record"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(parse(*argv)) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--port", "70000"], ["--port", "0", "--clock", "real", "--speed", "-1"],
                                  ["--port", "0", "--socket", "x"], []])
def test_argparse_refuses(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        parse(*argv)
    assert e.value.code == 2


def test_help_names_the_clocks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--help")
    out = capsys.readouterr().out
    assert "--clock" in out and "0600" in out and "--record" in out


def test_serve_records_a_session_that_run_replays(tmp_path: Path) -> None:
    sock, record = tmp_path / "d.sock", tmp_path / "session.toml"
    scenario = ROOT / "models" / "scenarios" / "default.toml"
    code = ("import argparse, sys\nfrom simcontainer.faces.serve import command\n"
            "p = argparse.ArgumentParser(); command.add_parser(p.add_subparsers())\n"
            "sys.exit(command.main(p.parse_args(sys.argv[1:])))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(scenario), "--socket", str(sock),
                             "--record", str(record), "--start-at", "5"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            if sock.exists():
                break
            time.sleep(0.05)
        cl = docker.DockerClient(base_url=f"unix://{sock}", timeout=60)
        web = cl.containers.run("nginx:1.27", detach=True, name="web")
        web.reload()
        started = web.attrs["State"]["StartedAt"]
        web.stop()
        assert web.wait()["StatusCode"] == 0
        cl.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "session written" in err
    assert os.stat(record).st_size > 0
    replay = load_scenario(record)
    assert [a.op for a in replay.actions] == ["create", "start", "stop"]     # docker run = create + start
    result = simulate(replay)
    rec = result.recorder
    iid = next(i for i in range(rec.n) if replay.workloads[rec.workload[i]].name == "web")
    inst = result.instances
    assert rfc3339(float(inst.loc[inst["instance"] == iid, "t_running"].iloc[0])) == started
    assert [c["status"] for c in rec.api_calls] == [204, 204]      # start after create, stop
