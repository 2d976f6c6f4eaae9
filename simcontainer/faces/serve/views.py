"""The simulated host in the Engine API's JSON shapes.

Shapes follow moby's API definition (``api/swagger.yaml``: ``ContainerSummary``,
``ContainerInspectResponse`` / ``ContainerState``, ``ImageSummary``, ``ImageInspect``,
``EventMessage``, ``SystemInfo``, ``SystemVersion``, ``Network``, ``ContainerStatsResponse``,
``SystemDataUsageResponse``), with the fields the ``docker`` CLI and docker-py read. Times are
simulated: ``EPOCH`` + simulated seconds, in RFC 3339 with nanoseconds as dockerd writes them.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from simcontainer.faces.serve import host as daemon
from simcontainer.faces.serve.sim import EPOCH, ApiError, Container, SimHost, hex_id, image_id

API_VERSION = "1.45"          # Docker Engine 26.1's (moby api/common.go DefaultVersion at v26.1)
MIN_API_VERSION = "1.24"      # what dockerd 26 still accepts (moby api/common.go MinSupportedAPIVersion)
ENGINE_VERSION = "26.1.0-simcontainer"
ZERO_TIME = "0001-01-01T00:00:00Z"
_DOCKER_STATE = {"requested": "created", "waiting": "created", "pulling": "created", "created": "created",
                 "starting": "created", "running": "running", "paused": "paused", "stopping": "running",
                 "exited": "exited", "failed": "exited", "oom_killed": "exited", "removed": "removing",
                 "rejected": "dead"}


def rfc3339(t: float) -> str:
    """Simulated seconds as dockerd's RFC 3339 time (nanoseconds, UTC); NaN: the zero time."""
    if t != t:
        return ZERO_TIME
    ns = int(round((EPOCH + t) * 1e9))
    base = datetime.fromtimestamp(ns // 10**9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def unix(t: float) -> int:
    return int(EPOCH + t)


def docker_state(sim: SimHost, c: Container) -> str:
    s = sim.status(c)
    if s.restarting:
        return "restarting"
    return _DOCKER_STATE.get(s.state, "dead")


def _ago(s: float) -> str:
    """Docker's human duration (go-units HumanDuration), simplified."""
    if s < 1:
        return "Less than a second"
    if s < 60:
        return f"{int(s)} second{'s' if int(s) != 1 else ''}"
    if s < 3600:
        m = int(round(s / 60))
        return "About a minute" if m == 1 else f"{m} minutes"
    h = int(round(s / 3600))
    return "About an hour" if h == 1 else f"{h} hours"


def status_line(sim: SimHost, c: Container) -> str:
    """``docker ps``'s STATUS column, from simulated time."""
    state = docker_state(sim, c)
    now = sim.now
    if state in ("running", "paused"):
        up = f"Up {_ago(now - c.started_t)}"
        return up + " (Paused)" if state == "paused" else up
    if state == "exited":
        return f"Exited ({c.exit_code}) {_ago(now - c.finished_t)} ago"
    if state == "restarting":
        return f"Restarting ({c.exit_code}) {_ago(now - c.finished_t)} ago"
    return state.capitalize()


def _network(sim: SimHost, c: Container) -> tuple[str, dict[str, Any]]:
    mode, k = daemon.network_of(sim.engine, c.iid)
    name = network_name(mode, k)
    up = docker_state(sim, c) in ("running", "paused")
    ip = f"172.{17 + k % 200}.{(c.iid // 250) % 256}.{c.iid % 250 + 2}" if up and mode == "bridge" else ""
    return name, {"NetworkID": hex_id("network", name), "EndpointID": hex_id("endpoint", c.iid) if up else "",
                  "Gateway": f"172.{17 + k % 200}.0.1" if ip else "", "IPAddress": ip,
                  "IPPrefixLen": 16 if ip else 0, "MacAddress": "", "Aliases": None, "IPAMConfig": None,
                  "Links": None, "DriverOpts": None, "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                  "IPv6Gateway": "", "DNSNames": None}


def network_name(mode: str, k: int) -> str:
    return mode if k == 0 else f"{mode}{k}"


def summary(sim: SimHost, c: Container) -> dict[str, Any]:
    """``GET /containers/json``: one ``ContainerSummary``."""
    net, ep = _network(sim, c)
    return {"Id": c.id, "Names": [f"/{c.name}"], "Image": c.ref, "ImageID": image_id(c.image),
            "Command": " ".join(c.cmd), "Created": unix(c.created_t), "Ports": [], "Labels": c.labels,
            "State": docker_state(sim, c), "Status": status_line(sim, c), "SizeRw": None,
            "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode") or "default"},
            "NetworkSettings": {"Networks": {net: ep}}, "Mounts": []}


def inspect(sim: SimHost, c: Container) -> dict[str, Any]:
    """``GET /containers/{id}/json``: ``ContainerInspectResponse``."""
    s = sim.status(c)
    state = docker_state(sim, c)
    net, ep = _network(sim, c)
    m = daemon.marks(sim.engine, c.iid)
    cfg = {"Hostname": c.id[:12], "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
           "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False,
           "Env": c.config.get("Env") if isinstance(c.config.get("Env"), list) else [],
           "Cmd": c.cmd or None, "Image": c.ref, "Volumes": None, "WorkingDir": "", "Entrypoint": None,
           "OnBuild": None, "Labels": c.labels}
    hc = {"NetworkMode": c.host_config.get("NetworkMode") or "bridge",
          "RestartPolicy": c.host_config.get("RestartPolicy") or {"Name": "no", "MaximumRetryCount": 0},
          "AutoRemove": bool(c.host_config.get("AutoRemove")), "Memory": int(s.ram_mib * 2**20),
          "NanoCpus": int(s.cpu * 1e9), "Runtime": sim.engine.plans[c.workload].runtime.name,
          "LogConfig": {"Type": "json-file", "Config": {}}, "PortBindings": {}, "Binds": None}
    return {
        "Id": c.id, "Created": rfc3339(c.created_t), "Path": c.cmd[0] if c.cmd else "",
        "Args": c.cmd[1:], "Image": image_id(c.image), "Name": f"/{c.name}",
        "State": {"Status": state, "Running": state in ("running", "paused"), "Paused": state == "paused",
                  "Restarting": state == "restarting", "OOMKilled": c.oom, "Dead": state == "dead",
                  "Pid": 10000 + c.iid if state in ("running", "paused") else 0, "ExitCode": c.exit_code,
                  "Error": "", "StartedAt": rfc3339(c.started_t), "FinishedAt": rfc3339(c.finished_t)},
        "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": "",
        "RestartCount": s.restarts, "Driver": "overlay2", "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None, "HostConfig": hc,
        "GraphDriver": {"Name": "overlay2", "Data": {}}, "Mounts": [], "Config": cfg,
        "NetworkSettings": {"Bridge": "", "SandboxID": "", "Ports": {}, "Networks": {net: ep},
                            "IPAddress": ep["IPAddress"], "Gateway": ep["Gateway"]},
        # simcontainer's own: the simulated lifecycle marks (seconds) and where it runs
        "Simulation": {"Host": s.host, "State": s.state, "Workload": sim.engine.scenario.workloads[c.workload].name,
                       "Marks": {k: (v if v == v else None) for k, v in m.items()}},
    }


def _json_filters(raw: str | None) -> dict[str, list[str]]:
    """``filters`` as Docker sends it: ``{"status": ["exited"]}`` or ``{"status": {"exited": true}}``."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, f"filters: not JSON: {raw[:80]!r}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "filters: a JSON object of filter name -> values is required")
    out: dict[str, list[str]] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out[str(k)] = [str(x) for x, on in v.items() if on]
        elif isinstance(v, list):
            out[str(k)] = [str(x) for x in v]
        else:
            raise ApiError(400, f"filters.{k}: a list or an object of values is required")
    return out


CONTAINER_FILTERS = ("status", "name", "label", "ancestor", "id")


def _label_ok(labels: dict[str, str], want: str) -> bool:
    k, eq, v = want.partition("=")
    return k in labels and (not eq or labels[k] == v)


def list_containers(sim: SimHost, all_: bool, filters: str | None, limit: int = -1) -> list[dict[str, Any]]:
    f = _json_filters(filters)
    bad = [k for k in f if k not in CONTAINER_FILTERS]
    if bad:
        raise ApiError(400, f"invalid filter '{bad[0]}' (supported: {', '.join(CONTAINER_FILTERS)})")
    out = []
    for c in reversed(sim.listed()):
        state = docker_state(sim, c)
        if not all_ and not f.get("status") and state not in ("running", "paused", "restarting"):
            continue
        if "status" in f and state not in f["status"]:
            continue
        if "name" in f and not any(n in c.name for n in f["name"]):
            continue
        if "id" in f and not any(c.id.startswith(i) for i in f["id"]):
            continue
        if "label" in f and not all(_label_ok(c.labels, x) for x in f["label"]):
            continue
        if "ancestor" in f and not any(sim.image_name(a) == c.image for a in f["ancestor"]):
            continue
        out.append(summary(sim, c))
    return out[:limit] if limit > 0 else out


def image_summary(sim: SimHost, name: str) -> dict[str, Any]:
    img = sim.images[name]
    tags = [name, *sorted(a for a, n in sim.tags.items() if n == name)]
    users = sum(1 for c in sim.listed() if c.image == name)
    return {"Id": image_id(name), "ParentId": "", "RepoTags": tags,
            "RepoDigests": [f"{name.partition(':')[0]}@{image_id(name + '@digest')}"],
            "Created": int(EPOCH), "Size": int(img.disk_mib * 2**20), "SharedSize": -1,
            "VirtualSize": int(img.disk_mib * 2**20), "Labels": {}, "Containers": users}


def image_inspect(sim: SimHost, name: str) -> dict[str, Any]:
    img = sim.images[name]
    s = image_summary(sim, name)
    return {"Id": s["Id"], "RepoTags": s["RepoTags"], "RepoDigests": s["RepoDigests"], "Parent": "",
            "Comment": img.source, "Created": rfc3339(0.0), "DockerVersion": "", "Author": "",
            "Config": {"Labels": {}}, "Architecture": "amd64", "Os": "linux", "Size": s["Size"],
            "GraphDriver": {"Name": "overlay2", "Data": {}},
            "RootFS": {"Type": "layers", "Layers": ["sha256:" + hex_id(la.id) for la in img.layers]},
            "Metadata": {"LastTagTime": ZERO_TIME},
            "Simulation": {"Kind": img.kind, "DownloadMiB": img.download_mib, "DiskMiB": img.disk_mib,
                           "Layers": [{"Id": la.id, "DownloadMiB": la.download_mib, "DiskMiB": la.disk_mib}
                                      for la in img.layers]}}


def list_images(sim: SimHost, filters: str | None = None) -> list[dict[str, Any]]:
    f = _json_filters(filters)
    names = sim.local_images()
    if "reference" in f:
        names = [n for n in names if any(n.startswith(r.removesuffix("*")) or sim.image_name(r) == n
                                         for r in f["reference"])]
    return [image_summary(sim, n) for n in names]


def counts(sim: SimHost) -> dict[str, int]:
    states = [docker_state(sim, c) for c in sim.listed()]
    return {"Containers": len(states), "ContainersRunning": states.count("running"),
            "ContainersPaused": states.count("paused"),
            "ContainersStopped": len(states) - states.count("running") - states.count("paused")}


def info(sim: SimHost) -> dict[str, Any]:
    """``GET /info``: ``SystemInfo`` of the simulated host (all hosts of the scenario summed)."""
    fig = daemon.host_figures(sim.engine)
    runtimes = sim.engine.scenario.runtime_table(sim.catalogue)
    return {"ID": hex_id("host", sim.base.name)[:36], **counts(sim), "Images": len(sim.local_images()),
            "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "simulated"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                        "Log": ["json-file"]},
            "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
            "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
            "Debug": False, "NFd": 0, "OomKillDisable": False, "NGoroutines": 0,
            "SystemTime": rfc3339(sim.now), "LoggingDriver": "json-file", "CgroupDriver": "systemd",
            "CgroupVersion": "2", "NEventsListener": 0, "KernelVersion": "simulated",
            "OperatingSystem": f"simcontainer simulated host ({sim.base.name}, t = {sim.now:.3f} s)",
            "OSVersion": "", "OSType": "linux", "Architecture": "x86_64", "IndexServerAddress": "",
            "RegistryConfig": None, "NCPU": int(fig["cpu_cores"]), "MemTotal": int(fig["ram_mib"] * 2**20),
            "GenericResources": None, "DockerRootDir": "/var/lib/docker", "HttpProxy": "", "HttpsProxy": "",
            "NoProxy": "", "Name": f"simcontainer-{sim.base.name}", "Labels": [], "ExperimentalBuild": False,
            "ServerVersion": ENGINE_VERSION,
            "Runtimes": {n: {"path": n} for n in sorted(runtimes)}, "DefaultRuntime": "runc",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": sim.base.daemon.live_restore, "Isolation": "", "InitBinary": "",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            "SecurityOptions": [], "Warnings": [
                "simcontainer: a simulated host; containers run no processes, times are simulated"],
            "Simulation": {"Time": sim.now, "Clock": sim.clock, "Speed": sim.speed, **fig}}


def version() -> dict[str, Any]:
    """``GET /version``: ``SystemVersion``."""
    return {"Platform": {"Name": "simcontainer (simulated Docker Engine)"},
            "Components": [{"Name": "Engine", "Version": ENGINE_VERSION,
                            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                        "Os": "linux", "Arch": "amd64"}}],
            "Version": ENGINE_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "simcontainer", "GoVersion": "n/a", "Os": "linux", "Arch": "amd64",
            "KernelVersion": "simulated", "BuildTime": rfc3339(0.0)}


def df(sim: SimHost) -> dict[str, Any]:
    """``GET /system/df``: ``SystemDataUsageResponse``."""
    fig = daemon.host_figures(sim.engine)
    return {"LayersSize": int(fig["images_mib"] * 2**20),
            "Images": [image_summary(sim, n) for n in sim.local_images()],
            "Containers": [{**summary(sim, c), "SizeRw": int(sim.engine.scenario.workloads[c.workload].writable_mib
                                                            * 2**20), "SizeRootFs": 0}
                           for c in sim.listed()],
            "Volumes": [], "BuildCache": []}


def networks(sim: SimHost) -> list[dict[str, Any]]:
    out = []
    for mode, k, used in daemon.networks(sim.engine):
        out.append(network(sim, network_name(mode, k), used))
    for name in ("host", "none"):
        if name not in {n["Name"] for n in out}:
            out.append(network(sim, name, 0))
    return out


def network(sim: SimHost, name: str, used: int | None = None) -> dict[str, Any]:
    bridge = name.startswith("bridge")
    suffix = name.removeprefix("bridge")
    k = int(suffix) if bridge and suffix.isdigit() else 0
    members = {}
    for c in sim.listed():
        net, ep = _network(sim, c)
        if net == name and ep["EndpointID"]:
            members[c.id] = {"Name": c.name, "EndpointID": ep["EndpointID"], "MacAddress": "",
                             "IPv4Address": f"{ep['IPAddress']}/16", "IPv6Address": ""}
    return {"Name": name, "Id": hex_id("network", name), "Created": rfc3339(0.0), "Scope": "local",
            "Driver": "bridge" if bridge else ("host" if name == "host" else "null"), "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None,
                     "Config": [{"Subnet": f"172.{17 + k % 200}.0.0/16", "Gateway": f"172.{17 + k % 200}.0.1"}]
                     if bridge else []},
            "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": members, "Options": {}, "Labels": {},
            "Simulation": {"PortsInUse": used if used is not None else len(members)}}


def find_network(sim: SimHost, ref: str) -> dict[str, Any]:
    for n in networks(sim):
        if ref in (n["Name"], n["Id"]) or (len(ref) >= 3 and n["Id"].startswith(ref)):
            return n
    raise ApiError(404, f"network {ref} not found")


def stats(sim: SimHost, c: Container) -> dict[str, Any]:
    """``GET /containers/{id}/stats?stream=false``: one sample from the simulation: the cores
    its app asks while running (``precpu`` one simulated second earlier), the RAM it holds."""
    s = sim.status(c)
    up = docker_state(sim, c) == "running"
    ncpu = int(daemon.host_figures(sim.engine)["cpu_cores"])
    ran = max(0.0, sim.now - c.started_t) if up and c.started_t == c.started_t else 0.0
    cores = s.cpu if up else 0.0
    total = int(cores * ran * 1e9)
    system = int(sim.now * ncpu * 1e9)
    cpu = {"cpu_usage": {"total_usage": total, "usage_in_kernelmode": 0, "usage_in_usermode": total},
           "system_cpu_usage": system, "online_cpus": ncpu,
           "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    pre = {"cpu_usage": {"total_usage": max(0, total - int(cores * 1e9) if ran >= 1 else 0),
                         "usage_in_kernelmode": 0, "usage_in_usermode": 0},
           "system_cpu_usage": max(0, system - ncpu * 10**9), "online_cpus": ncpu,
           "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    mem = int(s.ram_mib * 2**20) if up else 0
    limit = int(daemon.host_figures(sim.engine)["ram_mib"] * 2**20)
    return {"read": rfc3339(sim.now), "preread": rfc3339(sim.now - 1.0 if sim.now >= 1 else math.nan),
            "name": f"/{c.name}", "id": c.id, "num_procs": 0, "pids_stats": {"current": 1 if up else 0},
            "blkio_stats": {}, "storage_stats": {}, "cpu_stats": cpu, "precpu_stats": pre,
            "memory_stats": {"usage": mem, "limit": limit, "stats": {}} if up else {},
            "networks": {"eth0": {"rx_bytes": 0, "rx_packets": 0, "rx_errors": 0, "rx_dropped": 0,
                                  "tx_bytes": 0, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0}}}


def event_ok(e: dict[str, Any], f: dict[str, list[str]]) -> bool:
    """Docker's event filters: type, event (action), container, image, label."""
    attrs = e["Actor"]["Attributes"]
    if "type" in f and e["Type"] not in f["type"]:
        return False
    if "event" in f and e["Action"] not in f["event"] and e["Action"].split(":")[0] not in f["event"]:
        return False
    if "container" in f and not (e["Type"] == "container" and any(
            x == attrs.get("name") or e["Actor"]["ID"].startswith(x) for x in f["container"])):
        return False
    if "image" in f and not any(x in (attrs.get("image"), attrs.get("name"), e["Actor"]["ID"]) for x in f["image"]):
        return False
    return not ("label" in f and not all(_label_ok(attrs, x) for x in f["label"]))


EVENT_FILTERS = ("type", "event", "container", "image", "label")


def event_filters(raw: str | None) -> dict[str, list[str]]:
    f = _json_filters(raw)
    bad = [k for k in f if k not in EVENT_FILTERS]
    if bad:
        raise ApiError(400, f"invalid filter '{bad[0]}' (supported: {', '.join(EVENT_FILTERS)})")
    return f


def docker_time(raw: str | None, name: str) -> float | None:
    """``since`` / ``until`` as Unix seconds (``1767225600`` or ``1767225600.000000001``) ->
    simulated seconds."""
    if raw is None or raw == "":
        return None
    try:
        v = float(raw)
    except ValueError:
        raise ApiError(400, f"{name}: a Unix time in seconds is required, got {raw[:40]!r}") from None
    if not math.isfinite(v):
        raise ApiError(400, f"{name}: a finite Unix time is required, got {raw[:40]!r}")
    return v - EPOCH


def public_event(e: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in e.items() if k != "sim_t"}


__all__ = ["API_VERSION", "MIN_API_VERSION", "df", "docker_state", "docker_time", "event_filters", "event_ok",
           "find_network", "image_inspect", "info", "inspect", "list_containers", "list_images", "networks",
           "public_event", "rfc3339", "stats", "summary", "version"]
