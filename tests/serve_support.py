"""Shared by tests/test_serve*.py: a small served host, a raw HTTP client over a unix socket, and
the comparison of a served session with its replay."""

from __future__ import annotations

import http.client
import json
import math
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simcontainer.engine.core import Result, simulate
from simcontainer.faces.serve import Server, SimHost, session_scenario
from simcontainer.scenario.loading import parse_scenario
from simcontainer.scenario.schema import Scenario

SCENARIO: dict[str, Any] = {
    "name": "serve-test", "duration_s": 600.0, "seed": 3,
    "host": {"cpu_cores": 8, "ram_mib": 8192, "disk_gib": 50},
    "daemon": {"prepull": ["python:3.12-slim"]},
    "workloads": [
        {"name": "api", "runtime": "runc", "image": "python:3.12-slim", "cpu": 0.1, "mem_mib": 128,
         "arrival": {"kind": "burst", "at_s": 0.0, "count": 3}},
        {"name": "churn", "runtime": "runc", "image": "python:3.12-slim", "cpu": 0.1, "mem_mib": 64,
         "arrival": {"kind": "poisson", "rate_per_s": 0.2}, "lifetime": {"kind": "exponential", "mean_s": 20.0},
         "auto_remove": True},
    ],
}


def small_scenario(**over: Any) -> Scenario:
    return parse_scenario({**SCENARIO, **over})


@contextmanager
def served(tmp_path: Path, scenario: Scenario | None = None, **kw: Any) -> Iterator[tuple[SimHost, str]]:
    """A server on a unix socket in ``tmp_path``; always shut down."""
    sim = SimHost(scenario or small_scenario(), **kw)
    sock = str(tmp_path / "docker.sock")
    server = Server(sim, socket_path=sock).start()
    try:
        yield sim, sock
    finally:
        server.close()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def raw(sock: str, method: str, path: str, body: bytes | str | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body)."""
    conn = _UnixConnection(sock)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def raw_json(sock: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, data = raw(sock, method, path, json.dumps(body) if body is not None else None,
                       {"Content-Type": "application/json"} if body is not None else None)
    text = data.decode().strip()
    return status, json.loads(text) if text else None


def replay_matches(sim: SimHost) -> tuple[Result, Result]:
    """The served run finished to its horizon, and the recorded session replayed by ``simulate``."""
    scenario, _ = session_scenario(sim)
    with sim.lock:
        served_result = sim.engine.run()
    return served_result, simulate(scenario)


def same_summary(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two result summaries differ (the scenario's name and wall time aside)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            # assumptions say what the file chose; a recorded session writes every field out
            if k not in ("scenario", "wall_s", "assumptions"):
                out += same_summary(a.get(k), b.get(k), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same_summary(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
