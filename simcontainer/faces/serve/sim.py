"""The simulated host behind the Engine API server: one Engine, its clock, and the containers
the API knows, all under one lock.

Time is simulated. ``clock = "step"``: each call that changes something advances the
simulation until its operation completes (``docker run -d`` returns when the container is
running), so a script runs at simulator speed and reads its timings from the answers.
``clock = "real"``: a background thread moves simulated time with wall time x ``speed``; a call
waits (in wall time) for its operation like a client of a real daemon.

Each state-changing call happens ``CLIENT_GAP_S`` after the previous one (a client's round trip
over the local socket, an estimate), strictly after every event the simulation has already
processed: a recorded session replayed as a scenario (:mod:`simcontainer.faces.serve.record`) then
meets the same events in the same order, so it gives the same result.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from simcontainer.faces.serve import host as daemon
from simcontainer.model.images import Image
from simcontainer.model.metrics import PHASE_SPANS
from simcontainer.scenario.profiles import Catalogue, default_catalogue
from simcontainer.scenario.schema import Scenario, Workload

# 2026-01-01T00:00:00Z: simulated time 0 as a Unix time (timestamps in answers are this + t)
EPOCH = 1767225600.0
CLIENT_GAP_S = 0.001
STEP_LIMIT_S = 3600.0          # a call advances the simulation at most this far (step clock)
DEFAULT_MEM_MIB = 64.0         # a container without --memory: an estimate of a small service's working set
_NAMES = ("brave", "calm", "eager", "gentle", "happy", "jolly", "keen", "lucid", "merry", "quiet")
_NOUNS = ("babbage", "curie", "dijkstra", "hopper", "knuth", "lovelace", "noether", "ritchie",
          "shannon", "turing")


# signal numbers the docker CLI may send instead of names (Linux x86-64)
_SIGNALS = {"1": "HUP", "2": "INT", "3": "QUIT", "9": "KILL", "10": "USR1", "12": "USR2", "15": "TERM",
            "18": "CONT", "19": "STOP", "28": "WINCH"}


class ApiError(Exception):
    """An answer other than success: HTTP status and Docker's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def hex_id(*parts: Any) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Container:
    """What the API knows of one instance beside the simulation's own state."""

    iid: int
    id: str
    name: str
    workload: int
    image: str                  # catalogue name
    ref: str                    # as the client named it
    created_t: float
    adhoc: bool
    labels: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    host_config: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    started_t: float = math.nan
    finished_t: float = math.nan
    exit_code: int = 0
    oom: bool = False
    log: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class SessionCall:
    """One state-changing call, as a scenario holds it: a run (``workload`` added at ``at_s``)
    or an action (``op`` on the ``instance``-th request of ``workload``)."""

    at_s: float
    op: str
    workload: str
    instance: int = 0
    replayable: bool = True
    fields: dict[str, Any] = field(default_factory=dict)    # an action's extra fields (t, signal, ...)


class SimHost:
    """A simulated Docker host: the scenario's workloads run in the background."""

    def __init__(self, scenario: Scenario, *, clock: str = "step", speed: float = 1.0,
                 seed: int | None = None, step_limit_s: float = STEP_LIMIT_S,
                 catalogue: Catalogue | None = None) -> None:
        self.base = scenario
        self.clock, self.speed, self.step_limit_s = clock, speed, step_limit_s
        self.catalogue = catalogue or default_catalogue()
        self.engine = daemon.build_engine(scenario, seed, self.catalogue)
        self.env = self.engine.env
        self.planner = daemon.Planner(self.engine)
        self.images: dict[str, Image] = dict(self.planner.images)
        self.tags: dict[str, str] = {}            # docker tag: alias -> catalogue name
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.containers: dict[int, Container] = {}
        self.names: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []
        self.session: list[SessionCall] = []
        self.calls = 0
        self._ev_next = 0
        self._last_action_t = 0.0
        self._last_call_t = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._wall0 = time.monotonic()
        self._sim0 = 0.0
        with self.lock:
            self._sync()

    # ---- the clock ------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.env.now

    def start_clock(self) -> None:
        """Start the real clock's thread (a step clock has none)."""
        if self.clock == "real" and self._ticker is None:
            self._wall0, self._sim0 = time.monotonic(), self.env.now
            self._ticker = threading.Thread(target=self._tick, name="simclock", daemon=True)
            self._ticker.start()

    def close(self) -> None:
        self._stop.set()
        with self.changed:
            self.changed.notify_all()
        if self._ticker is not None:
            self._ticker.join(timeout=5)

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def _tick(self) -> None:
        while not self._stop.wait(0.02):
            with self.changed:
                target = self._sim0 + (time.monotonic() - self._wall0) * self.speed
                if target > self.env.now:
                    self.env.run(until=target)
                    self._sync()
                self.changed.notify_all()

    def advance_to(self, t: float) -> None:
        """Move simulated time to ``t`` (``--start-at``; never backwards)."""
        with self.lock:
            if t > self.env.now:
                self.env.run(until=t)
                self._sync()
                self._sim0, self._wall0 = self.env.now, time.monotonic()

    def _call_time(self, action: bool) -> float:
        """Advance to the time of a state-changing call and return it: ``CLIENT_GAP_S`` after
        the previous call, strictly after what the simulation has processed, and a time the
        replay's action chain (``prev + (t - prev)``) reaches exactly."""
        target = max(self.env.now, self._last_call_t) + CLIENT_GAP_S
        prev, t = self._last_action_t, target
        for _ in range(16):
            t2 = prev + (t - prev)
            if t2 == t:
                break
            t = t2
        self.env.run(until=t)
        self._sync()
        self._last_call_t = t
        if action:
            self._last_action_t = t
        return t

    def until(self, done: Callable[[], bool], limit_s: float | None = None) -> bool:
        """Wait (step clock: advance) until ``done()``; False if the limit came first."""
        limit = self.step_limit_s if limit_s is None else limit_s
        if self.clock == "step":
            env, end = self.env, self.env.now + limit
            while not done():
                t = env.peek()
                if t == math.inf or t > end:
                    return False
                env.step()
                if len(self.engine.recorder.ev_time) != self._ev_next:
                    self._sync()
            self._sync()
            return True
        deadline = time.monotonic() + limit / self.speed
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return False
            self.changed.wait(min(left, 0.1))
        return True

    # ---- events: the recorder's, in Docker's words ----------------------------------------

    def _sync(self) -> None:
        events, self._ev_next = daemon.events_since(self.engine, self._ev_next)
        for t, iid, state, action, code in events:
            c = self.containers.get(iid) or self._adopt(iid, t)
            if state == "running":
                again = c.started_t == c.started_t
                c.started_t = t
                c.log.append((t, "running again" if again else self._startup_line(c)))
            elif state in ("exited", "oom_killed", "failed"):
                c.finished_t, c.exit_code, c.oom = t, int(code or 0), state == "oom_killed"
                c.log.append((t, f"exited with code {c.exit_code}" + (" (OOM killed)" if c.oom else "")))
            elif state in ("waiting", "pulling", "stopping", "rejected"):
                c.log.append((t, {"waiting": "waiting for room on the host (RAM/disk admission)",
                                  "pulling": "admitted; pulling missing image layers",
                                  "stopping": "SIGTERM sent; stopping",
                                  "rejected": "rejected: the host has no room"}[state]))
            if action:
                attrs = {"exitCode": str(int(code or 0))} if action == "die" else (
                    {"signal": "15"} if action == "kill" else {})
                self.emit(c, action, t, attrs)
            if state == "removed":
                self.names.pop(c.name, None)

    def _adopt(self, iid: int, t: float) -> Container:
        """A background instance (one of the scenario's workloads) seen for the first time."""
        k = self.engine.recorder.workload[iid]
        wl = self.engine.scenario.workloads[k]
        ids = daemon.instances_of(self.engine, k)
        nth = ids.index(iid) if iid in ids else iid
        name = f"{wl.name}-{nth}"
        c = Container(iid, hex_id("simcontainer", iid), name, k, wl.image, wl.image, t, False,
                      labels={"simcontainer.scenario.workload": wl.name})
        self.containers[iid] = c
        self.names.setdefault(name, iid)
        return c

    def emit(self, c: Container | None, action: str, t: float, attrs: dict[str, str] | None = None,
             kind: str = "container", actor: str = "", image: str = "") -> None:
        if c is not None:
            actor = c.id
            attrs = {"image": c.ref, "name": c.name, **c.labels, **(attrs or {})}
        ns = int(round((EPOCH + t) * 1e9))
        msg: dict[str, Any] = {"Type": kind, "Action": action,
                               "Actor": {"ID": actor, "Attributes": attrs or {}},
                               "scope": "local", "time": ns // 10**9, "timeNano": ns, "sim_t": t}
        if kind == "container":
            msg.update(status=action, id=actor, **({"from": c.ref} if c is not None else {}))
        elif image:
            msg.update(status=action, id=image)
        self.events.append(msg)
        self.changed.notify_all()

    def _startup_line(self, c: Container) -> str:
        m = daemon.marks(self.engine, c.iid)
        parts = [f"{name} {m[b] - m[a]:.3f} s" for name, (a, b) in PHASE_SPANS.items()
                 if name != "ready" and m[b] == m[b] and m[a] == m[a]]
        total = m["running"] - m["request"] if m["running"] == m["running"] else math.nan
        return f"running {total:.3f} s after the request ({', '.join(parts)})"

    # ---- looking things up ----------------------------------------------------------------

    def find(self, ref: str) -> Container:
        """A container by name, full id or unique id prefix (404 otherwise)."""
        ref = ref.lstrip("/")
        iid = self.names.get(ref)
        if iid is not None and daemon.status(self.engine, iid).exists:
            return self.containers[iid]
        found = [c for c in self.listed() if c.id.startswith(ref)] if ref else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ApiError(400, f"multiple IDs found with provided prefix: {ref}")
        raise ApiError(404, f"No such container: {ref}")

    def listed(self) -> list[Container]:
        """Containers ``docker ps -a`` lists (created and not removed), oldest first."""
        self.engine_sync()
        return [self.containers[i] for i in daemon.live_ids(self.engine) if i in self.containers]

    def engine_sync(self) -> None:
        with self.lock:
            self._sync()

    def image(self, ref: str) -> Image:
        """A catalogue image by reference: ``nginx:1.27``, ``docker.io/library/nginx``, ``nginx``
        (``latest`` or no tag: the catalogue's image of that repository), a tag or an image id."""
        name = self.image_name(ref)
        if name is None:
            raise ApiError(404, f"No such image: {ref}")
        return self.images[name]

    def image_name(self, ref: str) -> str | None:
        ref = ref.strip()
        for prefix in ("docker.io/library/", "docker.io/", "library/"):
            ref = ref.removeprefix(prefix)
        if ref in self.tags:
            return self.tags[ref]
        if ref in self.images:
            return ref
        if ref.startswith("sha256:") or len(ref) >= 12:
            for name in self.images:
                if image_id(name).removeprefix("sha256:").startswith(ref.removeprefix("sha256:")):
                    return name
        repo, _, tag = ref.partition(":")
        if tag in ("", "latest"):
            for name in self.images:
                if name.partition(":")[0] == repo:
                    return name
        return None

    def local_images(self) -> list[str]:
        return [n for n, img in self.images.items() if daemon.image_ready(self.engine, img)]

    def status(self, c: Container) -> daemon.Status:
        return daemon.status(self.engine, c.iid)

    # ---- containers -----------------------------------------------------------------------

    def _new_name(self) -> str:
        n = len(self.containers)
        while True:
            name = f"{_NAMES[n % len(_NAMES)]}_{_NOUNS[(n // len(_NAMES)) % len(_NOUNS)]}"
            name += f"{n // 100}" if n >= 100 else ""
            if name not in self.names and name not in {w.name for w in self.engine.scenario.workloads}:
                return name
            n += 1

    def create(self, body: dict[str, Any], name: str | None) -> Container:
        """``POST /containers/create``: a workload of one instance, created now."""
        ref = body.get("Image")
        if not isinstance(ref, str) or not ref:
            raise ApiError(400, "config.Image: a string naming an image is required")
        hc = body.get("HostConfig") or {}
        if not isinstance(hc, dict):
            raise ApiError(400, "HostConfig: an object is required")
        with self.changed:
            if name is not None and name in self.names:
                raise ApiError(409, f'Conflict. The container name "/{name}" is already in use')
            img = self.image(ref)
            cname = name or self._new_name()
            # its workload's name: the container's, or with ".N" when a workload has it already
            # (a name used again after a remove, or a workload of the scenario)
            taken = {w.name for w in self.engine.scenario.workloads}
            wname, k = cname, 1
            while wname in taken:
                k += 1
                wname = f"{cname}.{k}"
            workload = self._workload(wname, img.name, hc, body)
            plan = self.planner.add(workload)
            t = self._call_time(action=True)      # a scripted create in the session
            iid, warnings = daemon.create(self.engine, plan)
            labels = body.get("Labels") or {}
            c = Container(iid, hex_id("simcontainer", iid), cname, plan.index, img.name, ref, t, True,
                          labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
                          cmd=[str(x) for x in (body.get("Cmd") or [])] if isinstance(body.get("Cmd"), list) else [],
                          config=body, host_config=hc, warnings=warnings)
            self.containers[iid] = c
            self.names[c.name] = iid
            self.session.append(SessionCall(t, "create", workload.name))
            self.calls += 1
            self._sync()
            self.until(lambda: self.status(c).state not in ("requested", "waiting", "pulling"))
            if self.status(c).state in ("rejected", "failed"):
                why = [f["reason"] for f in self.engine.recorder.failures if f["instance"] == iid]
                raise ApiError(409, f"the simulated host refused the container: "
                                    f"{why[0] if why else 'it does not fit (RAM, disk or CPU) and admission rejects'}")
            return c

    def _workload(self, name: str, image: str, hc: dict[str, Any], body: dict[str, Any]) -> Workload:
        rp = _typed(hc, "RestartPolicy", dict, "HostConfig") or {}
        restart = _typed(rp, "Name", str, "HostConfig.RestartPolicy") or "no"
        retries = _number(rp, "MaximumRetryCount", 0, 1_000_000, "HostConfig.RestartPolicy") or 0
        if restart == "on-failure" and retries > 0:
            restart = f"on-failure:{int(retries)}"
        mem = _number(hc, "Memory", 0, 2**60, "HostConfig") or 0
        cpu = (_number(hc, "NanoCpus", 0, 10**15, "HostConfig") or 0) / 1e9
        data: dict[str, Any] = {
            "name": name, "runtime": _typed(hc, "Runtime", str, "HostConfig") or "runc", "image": image,
            "cpu": cpu, "mem_mib": mem / 2**20 if mem else DEFAULT_MEM_MIB, "restart": restart,
            "auto_remove": bool(_typed(hc, "AutoRemove", bool, "HostConfig")),
            "arrival": {"kind": "api"}, "lifetime": {"kind": "forever"}}
        grace = _number(body, "StopTimeout", 0, 10**9, "config")
        if grace is not None:
            data["stop_grace_s"] = float(grace)
        runtimes = self.engine.scenario.runtime_table(self.catalogue)
        if data["runtime"] in runtimes and runtimes[data["runtime"]].kind == "container" \
                and self.images[image].kind == "vm":
            raise ApiError(400, f"Image: {image!r} is a VM disk image; a container runtime "
                                f"({data['runtime']}) cannot boot it (give HostConfig.Runtime, e.g. qemu-kvm)")
        if data["runtime"] not in runtimes:
            raise ApiError(400, f"HostConfig.Runtime: unknown runtime {data['runtime']!r} (allowed: "
                                f"{', '.join(sorted(self.engine.scenario.runtime_table(self.catalogue)))})")
        try:
            return Workload.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            field_name = {"restart": "HostConfig.RestartPolicy.Name", "mem_mib": "HostConfig.Memory",
                          "cpu": "HostConfig.NanoCpus", "stop_grace_s": "StopTimeout"}.get(str(err["loc"][0]), "config")
            raise ApiError(400, f"{field_name}: {err['msg']}") from None

    def _action(self, c: Container, op: str, **kw: Any) -> int:
        t = self._call_time(action=True)
        status = daemon.api(self.engine, op, c.iid, **kw)
        wl = self.engine.scenario.workloads[c.workload].name
        nth = daemon.instances_of(self.engine, c.workload).index(c.iid)
        extra = daemon.action_fields(self.engine, c.iid, op, **kw)
        self.session.append(SessionCall(t, op, wl, nth, replayable=extra is not None, fields=extra or {}))
        self.calls += 1
        self._sync()
        return status

    def _started(self, c: Container, mark: int) -> Callable[[], bool]:
        """Running, or ended (died, failed, removed) since event ``mark``: a start has settled."""
        def done() -> bool:
            if self.status(c).state in ("running", "paused"):
                return True
            return any(e["Actor"]["ID"] == c.id and e["Action"] in ("die", "oom", "destroy")
                       for e in self.events[mark:])
        return done

    def _down(self, c: Container) -> Callable[[], bool]:
        return lambda: not daemon.is_up(self.engine, c.iid)

    def start(self, ref: str) -> int:
        with self.changed:
            c = self.find(ref)
            st = self._action(c, "start")
            if st == 409 and self.status(c).state == "paused":
                raise ApiError(409, "cannot start a paused container, try unpause instead")
            if st in (204, 304):
                self.until(self._started(c, len(self.events)))
            return self._answer(st, c, "start")

    def stop(self, ref: str, t: float | None = None, signal: str | None = None) -> int:
        with self.changed:
            c = self.find(ref)
            st = self._action(c, "stop", t=t)
            if st == 204:
                self.until(self._down(c))
                self.emit(c, "stop", self.now)
            return self._answer(st, c, "stop")

    def kill(self, ref: str, signal: str = "KILL") -> int:
        """``docker kill -s``: KILL ends it (137); TERM, INT and QUIT go to the app as ``docker
        stop`` with no grace would; other signals (HUP, USR1, CONT, WINCH, ...) reach a process
        the simulation does not model: no state change."""
        sig = _SIGNALS.get(signal.upper().removeprefix("SIG"), signal.upper().removeprefix("SIG"))
        with self.changed:
            c = self.find(ref)
            if not daemon.is_up(self.engine, c.iid):
                raise ApiError(409, f"Cannot kill container: {c.id}: container {c.id} is not running")
            number = {v: k for k, v in _SIGNALS.items()}.get(sig, sig)
            if sig not in ("KILL", "TERM", "INT", "QUIT"):
                self.emit(c, "kill", self.now, {"signal": number})
                return 204
            st = self._action(c, "kill", signal=sig)
            if st == 204:
                self.emit(c, "kill", self.now, {"signal": number})
                self.until(self._down(c))
            return self._answer(st, c, "kill")

    def restart(self, ref: str, t: float | None = None) -> int:
        with self.changed:
            c = self.find(ref)
            mark = len(self.events)
            if daemon.native("restart"):
                st = self._action(c, "restart", t=t)
            else:
                if daemon.is_up(self.engine, c.iid) and self._action(c, "stop", t=t) == 204:
                    self.until(self._down(c))
                    self.emit(c, "stop", self.now)
                mark = len(self.events)
                st = self._action(c, "start")
            if st in (204, 304):
                self.until(self._started(c, mark))
                self.emit(c, "restart", self.now)
                return 204
            return self._answer(st, c, "restart")

    def pause(self, ref: str, op: str = "pause") -> int:
        with self.changed:
            c = self.find(ref)
            st = self._action(c, op)
            if st == 409:
                what = "is not running" if op == "pause" else "is not paused"
                raise ApiError(409, f"Container {c.id} {what}")
            return st

    def remove(self, ref: str, force: bool = False) -> int:
        with self.changed:
            c = self.find(ref)
            if daemon.is_up(self.engine, c.iid):
                if not force:
                    raise ApiError(409, f'cannot remove container "/{c.name}": container is running: '
                                        "stop the container before removing or force remove")
                if daemon.native("remove-force"):
                    st = self._action(c, "remove", force=True)
                    self.until(lambda: not self.status(c).exists)
                    return self._answer(st, c, "remove")
                self._action(c, "kill")
                self.until(self._down(c))
            st = self._action(c, "remove")
            if st == 204:
                self.until(lambda: not self.status(c).exists)
            return self._answer(st, c, "remove")

    def _answer(self, status: int, c: Container, op: str) -> int:
        if status == 404:
            raise ApiError(404, f"No such container: {c.name}")
        if status == 409:
            raise ApiError(409, f"cannot {op} container {c.id}: container is {self.status(c).state}")
        return status

    def wait(self, ref: str, condition: str = "not-running",
             gone: Callable[[], bool] = lambda: False) -> dict[str, Any]:
        """``POST /containers/{id}/wait``: until the condition holds. ``not-running`` (``docker
        wait``) advances a step clock; ``next-exit`` and ``removed`` (what ``docker run`` asks
        before it starts the container) only watch, while other calls move the simulation."""
        with self.changed:
            c = self.find(ref)
            exits = self.exits(c)

            def done() -> bool:
                if condition == "removed":
                    return not self.status(c).exists
                if condition == "next-exit":
                    return self.exits(c) > exits
                return not daemon.is_up(self.engine, c.iid)

            if condition == "not-running" and self.clock == "step":
                self.until(done)
            while not done():
                if self.closed or gone():
                    raise ApiError(503, "the server is shutting down" if self.closed else "client gone")
                self.changed.wait(0.1)
            return {"StatusCode": self.status(c).exit_code, "Error": None}

    def exits(self, c: Container) -> int:
        return sum(1 for e in self.events if e["Action"] in ("die", "destroy") and e["Actor"]["ID"] == c.id)

    # ---- images ---------------------------------------------------------------------------

    def pull(self, ref: str, tag: str | None = None) -> Iterator[dict[str, Any]]:
        """``POST /images/create``: Docker's progress messages, per layer, from the simulated
        pull. A missing image raises (404) before the first message."""
        full = f"{ref}:{tag}" if tag and ":" not in ref.rpartition("/")[2] else ref
        with self.changed:
            name = self.image_name(full)
            if name is None:
                known = ", ".join(sorted(self.images))
                raise ApiError(404, f"pull access denied for {ref}, repository does not exist in the simulated "
                                    f"registry (images there: {known})")
            img = self.images[name]
            proc = None
            if not daemon.image_ready(self.engine, img):
                t = self._call_time(action=False)
                proc = daemon.pull(self.engine, img)
                if isinstance(proc, str):
                    raise ApiError(500, proc)
                self.session.append(SessionCall(t, "pull", name, replayable=False))
                self.calls += 1
        return self._pull_progress(name, img, proc)

    def _pull_moved(self, img: Image, proc: Any) -> Callable[[], bool]:
        """Whether the pull ended or one of its layers changed state since now."""
        before = [s for _, s, _ in daemon.layer_states(self.engine, img)]
        return lambda: proc.triggered or [s for _, s, _ in daemon.layer_states(self.engine, img)] != before

    def _pull_progress(self, name: str, img: Image, proc: Any) -> Iterator[dict[str, Any]]:
        repo, _, tg = name.partition(":")
        yield {"status": f"Pulling from library/{repo}", "id": tg or "latest"}
        if proc is None:
            yield {"status": f"Status: Image is up to date for {name}"}
            return
        seen: dict[str, str] = {}
        with self.changed:
            seen = {lid: st for lid, st, _ in daemon.layer_states(self.engine, img) if st in ("cached", "in_use")}
        for lid in seen:
            yield {"status": "Already exists", "progressDetail": {}, "id": hex_id(lid)[:12]}
        while True:
            with self.changed:
                self.until(self._pull_moved(img, proc))
                states = daemon.layer_states(self.engine, img)
                finished = proc.triggered
            for lid, state, mib in states:
                if seen.get(lid) == state:
                    continue
                seen[lid] = state
                yield from _layer_progress(hex_id(lid)[:12], state, int(mib * 2**20))
            if finished or self.closed:
                break
        with self.changed:
            self.emit(None, "pull", self.now, {"name": name}, kind="image", actor=name, image=name)
        yield {"status": f"Digest: {image_id(name + '@digest')}"}
        yield {"status": f"Status: Downloaded newer image for {name}"}

    def remove_image(self, ref: str, force: bool = False) -> list[dict[str, str]]:
        with self.changed:
            alias = ref if ref in self.tags else None
            img = self.image(ref)
            if alias is not None:
                del self.tags[alias]
                self.emit(None, "untag", self.now, {"name": alias}, kind="image", actor=img.name, image=alias)
                return [{"Untagged": alias}]
            if img.name not in self.local_images():
                raise ApiError(404, f"No such image: {ref}")
            if daemon.image_in_use(self.engine, img) and not force:
                raise ApiError(409, f"conflict: unable to remove repository reference \"{ref}\" "
                                    "(must force) - container is using its referenced image")
            keep = [self.images[n] for n in self.local_images() if n != img.name]
            daemon.remove_image(self.engine, img, keep)
            self.session.append(SessionCall(self.now, "rmi", img.name, replayable=False))
            self.emit(None, "delete", self.now, {"name": img.name}, kind="image", actor=image_id(img.name))
            return [{"Untagged": img.name}, {"Deleted": image_id(img.name)}]

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        if not repo:
            raise ApiError(400, "repo: a repository name is required")
        with self.changed:
            img = self.image(ref)
            alias = f"{repo}:{tag or 'latest'}"
            self.tags[alias] = img.name
            self.emit(None, "tag", self.now, {"name": alias}, kind="image", actor=image_id(img.name))


def _typed(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """``obj[key]`` if it is of ``kind`` or absent (None); a 400 naming it otherwise."""
    v = obj.get(key)
    if v is None or (isinstance(v, kind) and not (kind is not bool and isinstance(v, bool))):
        return v
    what = {dict: "an object", str: "a string", bool: "true or false"}.get(kind, kind.__name__)
    raise ApiError(400, f"{where}.{key}: {what} is required, got {json.dumps(v)[:60]}")


def _number(obj: dict[str, Any], key: str, lo: float, hi: float, where: str) -> float | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not (lo <= v <= hi):
        raise ApiError(400, f"{where}.{key}: a number in {lo:g}..{hi:g} is required, got {json.dumps(v)[:60]}")
    return float(v)


def _layer_progress(short: str, state: str, size: int) -> Iterator[dict[str, Any]]:
    """Docker's per-layer pull messages for a layer entering ``state``."""
    if state == "pulling":
        yield {"status": "Pulling fs layer", "progressDetail": {}, "id": short}
        yield {"status": "Downloading", "progressDetail": {"current": 0, "total": size}, "id": short}
    elif state == "downloaded":
        yield {"status": "Download complete", "progressDetail": {}, "id": short}
        yield {"status": "Extracting", "progressDetail": {"current": size, "total": size}, "id": short}
    elif state in ("cached", "in_use"):
        yield {"status": "Pull complete", "progressDetail": {}, "id": short}
    elif state == "absent":
        yield {"status": "Waiting", "progressDetail": {}, "id": short}


def image_id(name: str) -> str:
    return "sha256:" + hex_id("image", name)


__all__ = ["CLIENT_GAP_S", "EPOCH", "ApiError", "Container", "SessionCall", "SimHost", "hex_id", "image_id"]
