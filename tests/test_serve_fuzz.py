"""Robustness: fuzzed paths, query strings and bodies never crash the server or corrupt the
simulation; 50 clients at once get consistent answers."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_support import _UnixConnection, raw, replay_matches, same_summary, served

from simcontainer.faces.serve.sim import SimHost
from simcontainer.model.states import State

docker = pytest.importorskip("docker")

SEGMENTS = ["containers", "images", "json", "create", "start", "stop", "kill", "restart", "pause",
            "unpause", "wait", "logs", "stats", "events", "networks", "_ping", "version", "info", "system",
            "df", "v1.45", "v1.99", "v0.1", "tag", "web", "api-0", "bridge", "alpine:3.20", "..", "%00",
            "%ff", "%2F", "simcontainer", "session", "x" * 300, ""]
PARAMS = ["all", "filters", "name", "t", "signal", "force", "condition", "since", "until", "fromImage",
          "tag", "repo", "stdout", "stderr", "follow", "timestamps", "limit", "stream"]
VALUES = st.one_of(st.sampled_from(["1", "0", "true", "no", "-1", "1e999", "nan", "TERM", "KILL", "9",
                                    '{"status":["exited"]}', '{"status":{"running":true}}', "{", "[]",
                                    '{"bogus":["x"]}', "next-exit", "web", "alpine:3.20", "1767225600"]),
                   st.text(max_size=30))
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
                    | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
                    max_leaves=12)
BODIES = st.one_of(
    st.none(), st.binary(max_size=200),
    st.fixed_dictionaries({"Image": st.sampled_from(["alpine:3.20", "nginx:1.27", "nope", ""])},
                          optional={"HostConfig": JSON | st.fixed_dictionaries({}, optional={
                              k: JSON for k in ("Memory", "NanoCpus", "Runtime", "AutoRemove", "RestartPolicy")}),
                              "Labels": JSON, "Cmd": JSON, "StopTimeout": JSON}),
    JSON)
ROUTES = ["/_ping", "/version", "/info", "/system/df", "/containers/json", "/containers/create",
          "/containers/{}/json", "/containers/{}/start", "/containers/{}/stop", "/containers/{}/kill",
          "/containers/{}/restart", "/containers/{}/pause", "/containers/{}/unpause", "/containers/{}",
          "/containers/{}/logs", "/containers/{}/stats", "/images/json", "/images/{}/json", "/images/{}/tag",
          "/networks", "/networks/{}", "/simcontainer/session"]
REFS = st.sampled_from(["web", "api-0", "api-1", "nope", "bridge", "alpine:3.20", "python:3.12-slim", "a" * 64, ""])
KNOWN = st.builds(lambda v, r, ref: v + r.format(quote(ref, safe=":")),
                  st.sampled_from(["", "/v1.45", "/v1.24", "/v1.99", "/v2"]), st.sampled_from(ROUTES), REFS)
RANDOM = st.lists(st.sampled_from(SEGMENTS) | st.text(max_size=12), min_size=1, max_size=5).map(
    lambda segs: "/" + "/".join(quote(x, safe="%:") for x in segs))
# endpoints that may wait for the simulation (a container that never exits): a short timeout is an answer
WAITING = ("wait", "events", "logs", "restart", "stop", "stats", "attach")


def request(sock: str, method: str, path: str, body: bytes | None) -> int | None:
    conn = _UnixConnection(sock, timeout=1.0)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status >= 400 and data.strip():
            assert "message" in json.loads(data), data[:200]
        return resp.status
    except TimeoutError:
        assert any(w in path for w in WAITING), path
        return None
    finally:
        conn.close()


def ram_held_matches(sim: SimHost) -> None:
    """The host's RAM in use is what the instances holding RAM reserved (none lost or doubled)."""
    holding = (State.PULLING, State.CREATED, State.STARTING, State.RUNNING, State.PAUSED, State.STOPPING)
    with sim.lock:
        held = sum(i.plan.demand.ram_mib for i in sim.engine.daemon.live.values() if i.state in holding)
        used = sim.engine.hosts[0].ram.used
    assert math.isclose(used, held, rel_tol=1e-9, abs_tol=1e-6), (used, held)


def test_fuzzed_requests_never_crash_or_corrupt(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        # containers for the fuzz to hit by name
        assert raw(sock, "POST", "/containers/create?name=web", b'{"Image": "alpine:3.20"}')[0] == 201
        statuses: list[int | None] = []

        @settings(max_examples=200, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(method=st.sampled_from(["GET", "POST", "DELETE", "HEAD", "PUT"]),
               path=KNOWN | RANDOM,
               query=st.dictionaries(st.sampled_from(PARAMS) | st.text(max_size=8), VALUES, max_size=4),
               body=BODIES)
        def one(method: str, path: str, query: dict[str, str], body: object) -> None:
            if query:
                path += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
            raw_body = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
            status = request(sock, method, path, raw_body)
            assert status is None or status < 500 or status == 503, (method, path, body, status)
            statuses.append(status)

        one()
        assert raw(sock, "GET", "/_ping") == (200, b"OK")          # still serving
        assert {200, 400, 404} <= set(statuses) and len(statuses) >= 200     # it reached real answers
        ram_held_matches(sim)
        cl = docker.DockerClient(base_url=f"unix://{sock}", timeout=60)
        for c in cl.containers.list(all=True):                      # every container still answers
            assert c.attrs["State"]["Status"] in ("created", "running", "paused", "exited", "restarting")
        cl.close()
        replayable = all(call.replayable for call in sim.session)
        if replayable:
            served_result, replay = replay_matches(sim)
            assert same_summary(served_result.summary, replay.summary) == []


def test_fifty_clients_at_once_get_consistent_answers(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        def client_session(k: int) -> tuple[str, str, str]:
            cl = docker.DockerClient(base_url=f"unix://{sock}", timeout=120)
            try:
                c = cl.containers.run("alpine:3.20", detach=True, name=f"c{k}", labels={"k": str(k)})
                if k % 2:
                    c.stop()
                c.reload()
                # one listing call (containers.list would inspect each one after it: a churn
                # container may be removed in between by another client's call, as on a real host)
                seen = {n.lstrip("/") for x in cl.api.containers(all=True) for n in x["Names"]}
                assert f"c{k}" in seen
                return c.id, c.name, c.status
            finally:
                cl.close()

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(client_session, range(50)))
        ids = [a[0] for a in answers]
        assert len(set(ids)) == 50
        for (cid, name, status), k in zip(answers, range(50)):
            c = next(x for x in sim.containers.values() if x.id == cid)
            assert c.name == name == f"c{k}"
            assert status == ("exited" if k % 2 else "running")
            assert sim.status(c).state == status
        # one create per client, recorded once each
        creates = [call for call in sim.session if call.op == "create"]
        assert sorted(call.workload for call in creates) == sorted(f"c{k}" for k in range(50))
        ram_held_matches(sim)
        served_result, replay = replay_matches(sim)
    assert same_summary(served_result.summary, replay.summary) == []
    assert served_result.recorder.api_calls == replay.recorder.api_calls
