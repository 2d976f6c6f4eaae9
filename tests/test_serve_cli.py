"""The real ``docker`` CLI against the server: its output fields against the simulation.

Skipped (with the reason) when no ``docker`` binary is on PATH; no Docker engine is needed.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from serve_support import replay_matches, same_summary, served

from simcontainer.faces.serve.sim import EPOCH, SimHost
from simcontainer.faces.serve.views import rfc3339

DOCKER = shutil.which("docker")
pytestmark = pytest.mark.skipif(DOCKER is None, reason="no docker CLI on PATH: the CLI tests need the binary "
                                                       "(not an engine)")


def docker(tmp_path: Path, sock: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    assert DOCKER is not None
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker-config"),
           "DOCKER_CLI_HINTS": "false"}
    r = subprocess.run([DOCKER, "-H", f"unix://{sock}", *args], capture_output=True, text=True, timeout=60,
                       env=env)
    if ok:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def by_name(sim: SimHost, name: str):
    return next(c for c in sim.containers.values() if c.name == name)


def test_docker_cli_run_ps_stop_rm(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        v = lines(docker(tmp_path, sock, "version", "--format", "{{json .}}").stdout)[0]
        assert v["Server"]["ApiVersion"] == "1.45" and v["Client"]["ApiVersion"] == "1.45"   # negotiated
        out = docker(tmp_path, sock, "run", "-d", "--name", "web", "--label", "tier=front", "nginx:1.27").stdout
        web = by_name(sim, "web")
        assert out.strip() == web.id
        assert sim.status(web).state == "running"        # docker run -d came back once it was running
        ps = {r["Names"]: r for r in lines(docker(tmp_path, sock, "ps", "-a", "--format", "{{json .}}").stdout)}
        listed = {c.name for c in sim.listed()}
        assert set(ps) == listed
        assert ps["web"]["ID"] == web.id[:12] and ps["web"]["Image"] == "nginx:1.27"
        assert ps["web"]["State"] == "running" and ps["web"]["Status"].startswith("Up ")
        assert ps["web"]["Labels"] == "tier=front"
        started = docker(tmp_path, sock, "inspect", "--format", "{{.State.StartedAt}}", "web").stdout.strip()
        assert started == rfc3339(web.started_t)
        assert docker(tmp_path, sock, "stop", "web").stdout.strip() == "web"
        assert sim.status(web).state == "exited"
        ex = lines(docker(tmp_path, sock, "ps", "-a", "--filter", "status=exited", "--format", "{{json .}}").stdout)
        assert [r["Names"] for r in ex] == ["web"] and ex[0]["Status"].startswith("Exited (0)")
        assert docker(tmp_path, sock, "rm", "web").stdout.strip() == "web"
        assert not sim.status(web).exists
        r = docker(tmp_path, sock, "stop", "nope", ok=False)
        assert r.returncode == 1 and "No such container: nope" in r.stderr


def test_docker_cli_images_pull_events(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        imgs = lines(docker(tmp_path, sock, "images", "--format", "{{json .}}").stdout)
        assert {f"{i['Repository']}:{i['Tag']}" for i in imgs} == set(sim.local_images())
        out = docker(tmp_path, sock, "pull", "redis:7").stdout
        assert "Status: Downloaded newer image for redis:7" in out and "Pull complete" in out
        assert "redis:7" in sim.local_images()
        assert "Image is up to date" in docker(tmp_path, sock, "pull", "redis:7").stdout
        docker(tmp_path, sock, "run", "-d", "--name", "cache", "redis:7")
        docker(tmp_path, sock, "stop", "cache")
        end = EPOCH + sim.now
        ev = lines(docker(tmp_path, sock, "events", "--since", f"{EPOCH:.0f}", "--until", f"{end + 1:.3f}",
                          "--filter", "container=cache", "--format", "{{json .}}").stdout)
        assert [e["Action"] for e in ev] == ["create", "start", "kill", "die", "stop"]
        cache = by_name(sim, "cache")
        assert all(e["Actor"]["ID"] == cache.id for e in ev)
        assert ev[1]["timeNano"] == round((EPOCH + cache.started_t) * 1e9)
        pulls = lines(docker(tmp_path, sock, "events", "--since", f"{EPOCH:.0f}", "--until", f"{end + 1:.3f}",
                             "--filter", "type=image", "--format", "{{json .}}").stdout)
        assert [(e["Action"], e["Actor"]["ID"]) for e in pulls] == [("pull", "redis:7")]


def test_a_docker_cli_session_replays(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        docker(tmp_path, sock, "run", "-d", "--name", "a", "nginx:1.27")
        docker(tmp_path, sock, "run", "-d", "--name", "b", "--memory", "256m", "alpine:3.20")
        docker(tmp_path, sock, "stop", "a")
        docker(tmp_path, sock, "pause", "b")
        docker(tmp_path, sock, "unpause", "b")
        docker(tmp_path, sock, "start", "a")
        docker(tmp_path, sock, "rm", "-f", "b")
        served_result, replay = replay_matches(sim)
    assert same_summary(served_result.summary, replay.summary) == []
    assert served_result.recorder.api_calls == replay.recorder.api_calls


def test_docker_run_attached_streams_until_interrupted(tmp_path: Path) -> None:
    assert DOCKER is not None
    with served(tmp_path) as (sim, sock):
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "cfg")}
        proc = subprocess.Popen([DOCKER, "-H", f"unix://{sock}", "run", "--name", "fg", "alpine:3.20"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            for _ in range(600):          # until the CLI has started it (it attaches first)
                c = next((x for x in sim.containers.values() if x.name == "fg"), None)
                if c is not None and sim.status(c).state == "running":
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)       # the CLI passes it on: the app exits on SIGINT
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert "running" in out and "after the request" in out
        c = next(x for x in sim.containers.values() if x.name == "fg")
        assert sim.status(c).state == "exited"
