"""serve: Engine API calls per second in step mode, against the same actions run as a scenario.

A server on a unix socket (``--clock step``) on a 64 GiB host whose scenario keeps a Poisson churn
of runc containers going; a client makes N containers one after the other, each by four calls as
the docker CLI does them -- create, start (``docker run -d``), stop, remove -- over HTTP/1.1 with
keep-alive. Each call advances the simulation until its operation completes. Then the session is
written as a scenario and run by the engine alone: the same instances, the same actions at the
same simulated times (``simulate``), and the two results are checked to be identical.

Figures: calls per second through HTTP (CPU seconds of the process: server threads included, as
``bench/_common.timed``), the same calls straight on the ``SimHost`` (no HTTP: the simulation
and its bookkeeping alone), the scenario's replay, and the ratios. N: ``BENCH_SERVE_N`` (default
200 containers = 800 calls).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import tempfile
from typing import Any

from bench._common import target, timed
from simcontainer.engine.core import simulate
from simcontainer.faces.serve import Server, SimHost, session_scenario
from simcontainer.scenario.loading import parse_scenario

SCENARIO: dict[str, Any] = {
    "name": "bench-serve", "duration_s": 36000.0, "seed": 5, "host": "server-64g",
    "daemon": {"prepull": ["python:3.12-slim", "alpine:3.20"]},
    "workloads": [{"name": "churn", "runtime": "runc", "image": "python:3.12-slim", "cpu": 0.1, "mem_mib": 128,
                   "arrival": {"kind": "poisson", "rate_per_s": 0.5},
                   "lifetime": {"kind": "exponential", "mean_s": 60.0}, "auto_remove": True}],
}


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    resp = conn.getresponse()
    raw = resp.read()
    if resp.status >= 400:
        raise RuntimeError(f"{method} {path}: {resp.status} {raw[:200]!r}")
    return json.loads(raw) if raw.strip() else None


def _over_http(n: int) -> tuple[SimHost, int]:
    sim = SimHost(parse_scenario(SCENARIO))
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "d.sock")
        server = Server(sim, socket_path=sock).start()
        conn = _Unix(sock)
        try:
            for k in range(n):
                cid = _call(conn, "POST", f"/v1.45/containers/create?name=c{k}", {"Image": "alpine:3.20"})["Id"]
                _call(conn, "POST", f"/v1.45/containers/{cid}/start")
                _call(conn, "POST", f"/v1.45/containers/{cid}/stop")
                _call(conn, "DELETE", f"/v1.45/containers/{cid}")
        finally:
            conn.close()
            server.close()
    return sim, 4 * n


def _direct(n: int) -> tuple[SimHost, int]:
    sim = SimHost(parse_scenario(SCENARIO))
    for k in range(n):
        c = sim.create({"Image": "alpine:3.20"}, f"c{k}")
        sim.start(c.id)
        sim.stop(c.id)
        sim.remove(c.id)
    return sim, 4 * n


def run(repeat: int | None = None) -> dict[str, Any]:
    n = int(os.environ.get("BENCH_SERVE_N", 200))
    _over_http(5)           # warm-up: imports, pydantic's validators, the first plans
    wall_h, cpu_h, (sim, calls) = timed(lambda: _over_http(n))
    wall_d, cpu_d, (sim_d, _) = timed(lambda: _direct(n))
    # the scenario's horizon: the session's end (the churn before it is the same prefix)
    span = float(int(sim.now) + 1)
    scenario, _ = session_scenario(sim)
    scenario = scenario.model_copy(update={"duration_s": span})
    wall_r, cpu_r, replay = timed(lambda: simulate(scenario))
    sim.engine.scenario = sim.engine.scenario.model_copy(update={"duration_s": span})
    served = sim.engine.run()
    identical = (served.recorder.api_calls == replay.recorder.api_calls
                 and list(served.recorder.ev_time) == list(replay.recorder.ev_time))
    out = {
        "containers": n, "calls": calls, "simulated_s": span,
        "http_calls_per_s": round(calls / cpu_h, 1), "http_cpu_s": round(cpu_h, 3), "http_wall_s": round(wall_h, 3),
        "direct_calls_per_s": round(calls / cpu_d, 1), "direct_cpu_s": round(cpu_d, 3),
        "scenario_cpu_s": round(cpu_r, 3), "scenario_wall_s": round(wall_r, 3),
        "scenario_calls_per_s": round(calls / cpu_r, 1),
        "http_over_scenario": round(cpu_h / cpu_r, 2), "direct_over_scenario": round(cpu_d / cpu_r, 2),
        "replay_identical": identical,
    }
    out["targets"] = [target("serve: replay of the session is identical", float(identical), 1.0, ">=")]
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
