"""The Engine API server driven by docker-py, checked against the simulation's own records."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from serve_support import raw, raw_json, replay_matches, same_summary, served, small_scenario

from simcontainer.faces.serve import Server, SimHost
from simcontainer.faces.serve.sim import EPOCH
from simcontainer.faces.serve.views import API_VERSION, rfc3339
from simcontainer.model.metrics import NM, M
from simcontainer.model.states import State

docker = pytest.importorskip("docker")


def client(sock: str):
    return docker.DockerClient(base_url=f"unix://{sock}", timeout=60)


def marks(sim: SimHost, iid: int) -> dict[str, float]:
    row = sim.engine.recorder.times[iid * NM:(iid + 1) * NM]
    return {k: row[v] for k, v in M.items()}


def test_ping_and_version_negotiation(tmp_path: Path) -> None:
    with served(tmp_path) as (_, sock):
        status, body = raw(sock, "GET", "/_ping")
        assert (status, body) == (200, b"OK")
        cl = client(sock)
        v = cl.version()
        assert v["ApiVersion"] == API_VERSION and v["MinAPIVersion"] == "1.24"
        assert cl.api.api_version == API_VERSION        # docker-py's "auto" settles on ours
        status, err = raw_json(sock, "GET", "/v1.99/info")
        assert status == 400 and "too new" in err["message"]
        assert raw_json(sock, "GET", "/v1.12/info")[0] == 400
        cl.close()


def test_run_answers_with_the_simulated_startup(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("nginx:1.27", detach=True, name="web", labels={"tier": "front"})
        c.reload()
        st = c.attrs["State"]
        assert st["Status"] == "running" and st["Running"] and not st["OOMKilled"]
        served_c = sim.containers[next(i for i, x in sim.containers.items() if x.name == "web")]
        m = marks(sim, served_c.iid)
        assert st["StartedAt"] == rfc3339(m["running"])
        assert c.attrs["Created"] == rfc3339(m["request"])
        # nginx was not on the host: the startup includes its pull, as the recorder says
        assert m["pulled"] > m["admitted"]
        assert sim.engine.recorder.pulled_mib[served_c.iid] > 0
        assert c.attrs["Simulation"]["Marks"]["running"] == m["running"]
        assert c.labels == {"tier": "front"}
        cl.close()


def test_ps_lists_the_scenario_and_filters(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        cl.containers.run("alpine:3.20", detach=True, name="a1", labels={"team": "x"})
        cl.containers.run("redis:7", detach=True, name="r1")
        cl.containers.get("r1").stop()
        live = [i for i, inst in sim.engine.daemon.live.items()]
        listed = cl.containers.list(all=True)
        assert sorted(c.id for c in listed) == sorted(sim.containers[i].id for i in live)
        running = {c.name for c in cl.containers.list()}
        up = {sim.containers[i].name for i, inst in sim.engine.daemon.live.items() if inst.state == State.RUNNING}
        assert running == up and "a1" in running and "r1" not in running
        assert [c.name for c in cl.containers.list(all=True, filters={"status": "exited"})] == ["r1"]
        assert [c.name for c in cl.containers.list(filters={"label": "team=x"})] == ["a1"]
        assert [c.name for c in cl.containers.list(all=True, filters={"ancestor": "redis"})] == ["r1"]
        assert {c.name for c in cl.containers.list(filters={"name": "api-"})} == {"api-0", "api-1", "api-2"}
        with pytest.raises(docker.errors.APIError) as e:
            cl.containers.list(filters={"bogus": "1"})
        assert e.value.status_code == 400 and "bogus" in str(e.value)
        cl.close()


def test_stop_start_restart_rm_follow_the_lifecycle(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("nginx:1.27", detach=True, name="web")
        iid = next(i for i, x in sim.containers.items() if x.name == "web")
        c.stop()
        c.reload()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 0
        assert c.attrs["State"]["FinishedAt"] == rfc3339(marks(sim, iid)["exited"])
        assert sim.engine.daemon.live[iid].state == State.EXITED
        assert raw(sock, "POST", f"/containers/{c.id}/stop")[0] == 304        # nothing to do
        c.start()
        c.reload()
        assert c.status == "running" and c.attrs["State"]["StartedAt"] > c.attrs["State"]["FinishedAt"]
        c.restart()
        c.reload()
        assert c.status == "running"
        assert raw(sock, "POST", f"/containers/{c.id}/start")[0] == 304       # running already
        status, err = raw_json(sock, "DELETE", f"/containers/{c.id}")
        assert status == 409 and "stop the container before removing" in err["message"]
        c.remove(force=True)
        assert iid not in sim.engine.daemon.live
        assert sim.engine.recorder.final[iid] == State.REMOVED
        with pytest.raises(docker.errors.NotFound):
            cl.containers.get("web")
        ops = [(a["op"], a["status"]) for a in sim.engine.recorder.api_calls if a["instance"] == iid]
        # docker run = create + start; then stop, stop again (nothing to do), start
        assert ops[:4] == [("start", 204), ("stop", 204), ("stop", 304), ("start", 204)]
        cl.close()


def test_wait_kill_and_pause(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("alpine:3.20", detach=True, name="k")
        c.pause()
        c.reload()
        assert c.status == "paused" and c.attrs["State"]["Paused"]
        assert raw(sock, "POST", f"/containers/{c.id}/pause")[0] == 409
        c.unpause()
        c.kill()
        assert c.wait()["StatusCode"] == 137
        c.reload()
        assert c.attrs["State"]["ExitCode"] == 137
        iid = next(i for i, x in sim.containers.items() if x.name == "k")
        assert sim.engine.recorder.last_exit[iid] == 137
        assert raw(sock, "POST", f"/containers/{c.id}/kill")[0] == 409        # not running
        cl.close()


def test_pull_streams_per_layer_progress_from_the_simulated_pull(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        assert "redis:7" not in sim.local_images()
        t0 = sim.now
        lines = list(cl.api.pull("redis", tag="7", stream=True, decode=True))
        layers = sim.images["redis:7"].layers
        shared = [la for la in layers if any(la in sim.images[n].layers for n in ("python:3.12-slim",))]
        done = [m for m in lines if m.get("status") in ("Pull complete", "Already exists")]
        assert len({m["id"] for m in done}) == len(layers)
        assert len([m for m in lines if m.get("status") == "Already exists"]) == len(shared)
        assert lines[-1]["status"] == "Status: Downloaded newer image for redis:7"
        assert "redis:7" in sim.local_images() and sim.now > t0      # the pull took simulated time
        assert sim.engine.hosts[0].store.pulled_mib > 0
        assert "redis:7" in [t for i in cl.images.list() for t in i.tags]
        assert cl.images.get("redis").id == cl.images.get("redis:7").id
        cl.images.get("redis:7").tag("myredis", "v1")
        assert "myredis:v1" in cl.images.get("redis:7").tags
        cl.images.remove("myredis:v1")
        cl.images.remove("redis:7")
        assert "redis:7" not in sim.local_images()
        with pytest.raises(docker.errors.NotFound):
            cl.images.pull("no-such-image", tag="1")
        cl.close()


def test_events_since_until_filters(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("alpine:3.20", detach=True, name="ev")
        c.stop()
        c.remove()
        end = sim.now
        got = list(cl.events(since=int(EPOCH), until=EPOCH + end + 0.5, decode=True,
                             filters={"container": "ev"}))
        assert [e["Action"] for e in got] == ["create", "start", "kill", "die", "stop", "destroy"]
        assert all(e["Actor"]["ID"] == c.id and e["Actor"]["Attributes"]["name"] == "ev" for e in got)
        die = got[3]
        assert die["Actor"]["Attributes"]["exitCode"] == "0"
        iid = next(i for i, x in sim.containers.items() if x.name == "ev")
        assert die["timeNano"] == round((EPOCH + marks(sim, iid)["exited"]) * 1e9)
        mid = EPOCH + marks(sim, iid)["running"] + 1e-6
        later = list(cl.events(since=mid, until=EPOCH + end + 0.5, decode=True, filters={"container": "ev"}))
        assert [e["Action"] for e in later] == ["kill", "die", "stop", "destroy"]
        starts = list(cl.events(since=int(EPOCH), until=EPOCH + end + 0.5, decode=True,
                                filters={"event": "start", "type": "container"}))
        assert len(starts) == sum(1 for e in sim.events if e["Action"] == "start" and e["sim_t"] <= end + 0.5)
        cl.close()


def test_info_df_networks_stats_logs(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("alpine:3.20", detach=True, name="s", nano_cpus=500_000_000, mem_limit="256m")
        info = cl.info()
        assert info["NCPU"] == 8 and info["MemTotal"] == 8192 * 2**20
        assert info["ContainersRunning"] == sum(1 for i in sim.engine.daemon.live.values() if i.state == State.RUNNING)
        df = cl.df()
        assert df["LayersSize"] == int(sim.engine.hosts[0].store.stored_mib * 2**20)
        nets = {n.name for n in cl.networks.list()}
        assert {"bridge", "host", "none"} <= nets
        bridge = cl.networks.get("bridge")
        assert c.id in bridge.attrs["Containers"]
        stats = c.stats(stream=False)
        assert stats["memory_stats"]["usage"] == int(sim.status(sim.find("s")).ram_mib * 2**20)
        cpu = stats["cpu_stats"]["cpu_usage"]["total_usage"] - stats["precpu_stats"]["cpu_usage"]["total_usage"]
        system = stats["cpu_stats"]["system_cpu_usage"] - stats["precpu_stats"]["system_cpu_usage"]
        assert system > 0 and cpu >= 0
        logs = c.logs().decode()
        assert "running" in logs and "pull" in logs
        cl.close()


def test_errors_are_docker_json_and_the_server_survives(tmp_path: Path) -> None:
    with served(tmp_path) as (_, sock):
        status, err = raw_json(sock, "GET", "/containers/nope/json")
        assert status == 404 and err["message"] == "No such container: nope"
        status, err = raw_json(sock, "GET", "/v1.45/teleport")
        assert status == 404 and "GET /containers/json" in err["message"]
        assert raw(sock, "POST", "/containers/create", b"{not json", {"Content-Type": "application/json"})[0] == 400
        assert raw_json(sock, "POST", "/containers/create", {"Image": 7})[0] == 400
        assert raw_json(sock, "POST", "/containers/create?name=bad%20name", {"Image": "alpine:3.20"})[0] == 400
        assert raw_json(sock, "POST", "/containers/create", {"Image": "alpine:3.20",
                                                              "HostConfig": {"Runtime": "teleport"}})[0] == 400
        assert raw_json(sock, "GET", "/containers/json?all=maybe")[0] == 400
        assert raw_json(sock, "DELETE", "/info")[0] == 405
        assert raw(sock, "GET", "/_ping")[0] == 200


def test_unix_socket_is_private_and_tcp_binds_loopback(tmp_path: Path) -> None:
    with served(tmp_path) as (_, sock):
        mode = os.stat(sock).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert not os.path.exists(sock)                 # removed at shutdown
    sim = SimHost(small_scenario())
    server = Server(sim, port=0).start()
    try:
        assert server.url.startswith("tcp://127.0.0.1:")
        cl = docker.DockerClient(base_url=server.url, timeout=30)
        assert cl.ping()
        cl.close()
    finally:
        server.close()


def test_real_clock_follows_wall_time(tmp_path: Path) -> None:
    with served(tmp_path, clock="real", speed=50.0) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("alpine:3.20", detach=True, name="rt")
        c.reload()
        assert c.status == "running"
        iid = next(i for i, x in sim.containers.items() if x.name == "rt")
        assert c.attrs["State"]["StartedAt"] == rfc3339(marks(sim, iid)["running"])
        cl.close()


def test_a_docker_py_session_replays_to_the_same_result(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        a = cl.containers.run("nginx:1.27", detach=True, name="a")
        b = cl.containers.run("alpine:3.20", detach=True, name="b", mem_limit="512m")
        a.stop()
        b.pause()
        b.unpause()
        a.start()
        b.kill()
        b.remove()
        a.restart()
        status, toml = raw(sock, "GET", "/simcontainer/session")
        assert status == 200 and b'op = "stop"' in toml
        cl.close()
        served_result, replay = replay_matches(sim)
    assert same_summary(served_result.summary, replay.summary) == []
    assert served_result.recorder.api_calls == replay.recorder.api_calls
    assert list(served_result.recorder.ev_time) == list(replay.recorder.ev_time)
    assert list(served_result.recorder.ev_code) == list(replay.recorder.ev_code)


def test_session_without_actions_still_replays(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        cl.containers.run("alpine:3.20", detach=True, name="only")
        cl.close()
        served_result, replay = replay_matches(sim)
    assert same_summary(served_result.summary, replay.summary) == []
    assert json.dumps(served_result.recorder.api_calls) == json.dumps(replay.recorder.api_calls)


def test_kill_with_a_signal(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("alpine:3.20", detach=True, name="sig")
        c.kill(signal="HUP")                      # a signal the app handles: it keeps running
        c.reload()
        assert c.status == "running"
        c.kill(signal="SIGTERM")                  # the app's SIGTERM handler: a clean exit
        c.reload()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 0
        kills = [e["Actor"]["Attributes"]["signal"] for e in sim.events
                 if e["Action"] == "kill" and e["Actor"]["ID"] == c.id]
        assert kills[:2] == ["1", "15"]
        status, toml = raw(sock, "GET", "/simcontainer/session")
        # a scripted action holds the signal: the TERM kill replays (HUP changed nothing: no action)
        assert status == 200 and b'signal = "TERM"' in toml and b"not replayed" not in toml
        cl.close()


def test_a_name_is_free_again_after_remove(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        first = cl.containers.run("alpine:3.20", detach=True, name="again")
        with pytest.raises(docker.errors.APIError) as e:
            cl.containers.run("alpine:3.20", detach=True, name="again")
        assert e.value.status_code == 409
        first.remove(force=True)
        second = cl.containers.run("alpine:3.20", detach=True, name="again")
        assert second.id != first.id and second.name == "again"
        second.stop()
        cl.close()
        served_result, replay = replay_matches(sim)
    assert [w.name for w in sim.engine.scenario.workloads][-2:] == ["again", "again.2"]
    assert same_summary(served_result.summary, replay.summary) == []


def test_stats_stream_and_logs_tail(tmp_path: Path) -> None:
    with served(tmp_path) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("alpine:3.20", detach=True, name="st", nano_cpus=1_000_000_000)
        samples = c.stats(stream=True, decode=True)
        first, second = next(samples), next(samples)
        assert first["id"] == second["id"] == c.id
        assert first["cpu_stats"]["online_cpus"] == 8
        lines = c.logs(tail=1).decode().splitlines()
        assert len(lines) == 1 and "running" in lines[0]
        assert raw_json(sock, "GET", f"/containers/{c.id}/logs?stdout=1&tail=lots")[0] == 400
        cl.close()


def test_a_real_clock_session_replays_too(tmp_path: Path) -> None:
    with served(tmp_path, clock="real", speed=40.0) as (sim, sock):
        cl = client(sock)
        c = cl.containers.run("alpine:3.20", detach=True, name="rt")
        c.stop()
        c.start()
        cl.close()
        served_result, replay = replay_matches(sim)
    assert same_summary(served_result.summary, replay.summary) == []
    assert served_result.recorder.api_calls == replay.recorder.api_calls


@pytest.mark.parametrize("host_config, field", [
    ({"Memory": "abc"}, "HostConfig.Memory"), ({"Runtime": {"a": 1}}, "HostConfig.Runtime"),
    ({"RestartPolicy": "always"}, "HostConfig.RestartPolicy"), ({"NanoCpus": -1}, "HostConfig.NanoCpus"),
    ({"RestartPolicy": {"Name": "bogus"}}, "HostConfig.RestartPolicy.Name"),
    ({"AutoRemove": "yes"}, "HostConfig.AutoRemove"),
])
def test_a_bad_create_names_the_field(tmp_path: Path, host_config: dict, field: str) -> None:
    with served(tmp_path) as (sim, sock):
        status, err = raw_json(sock, "POST", "/containers/create", {"Image": "alpine:3.20", "HostConfig": host_config})
        assert status == 400 and err["message"].startswith(field + ":")
        assert sim.session == []              # nothing was created or recorded
