"""The one place where the Engine API server touches the simulated daemon.

Everything else in :mod:`simcontainer.faces.serve` asks this module; nothing else imports
:mod:`simcontainer.model.daemon` or the image store. It speaks the daemon's Engine API:
``Daemon.run``, ``Daemon.create`` (created, waiting for a start) and ``Daemon.api(op, iid, **kw)``
answering 204/304/400/404/409, with ``stop``'s ``t``, ``kill``'s ``signal`` and ``remove``'s
``force`` as moby takes them.
"""

from __future__ import annotations

import typing
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

import simpy

from simcontainer.engine.core import Engine, control_planes, image_table, plan_workloads
from simcontainer.model.controlplane import make_plane
from simcontainer.model.daemon import WorkloadPlan
from simcontainer.model.images import Image
from simcontainer.model.metrics import NM, M
from simcontainer.model.states import ACTIONS, State
from simcontainer.scenario.profiles import Catalogue
from simcontainer.scenario.schema import Action, Scenario, Workload

# Docker's event names for states whose entry is an event (the recorder's own action wins)
_ACTIONS = {int(s): a for s, a in ACTIONS.items()}
_UP = (State.STARTING, State.RUNNING, State.PAUSED, State.STOPPING)


def native(op: str) -> bool:
    """Whether the daemon does ``op`` itself: every operation the server serves (restart and a
    forced remove included) is one ``Daemon.api`` call."""
    return True


# What a scripted action (scenario.Action) can hold, read from the schema: today op in start,
# stop, kill, pause, unpause, remove and no grace, signal or force fields; more once it has them.
ACTION_OPS = typing.get_args(Action.model_fields["op"].annotation)
ACTION_FIELDS = set(Action.model_fields)
_DEFAULTS = {"t": None, "signal": "KILL", "force": False}


def action_fields(engine: Engine, iid: int, op: str, **kw: Any) -> dict[str, Any] | None:
    """The call as a scripted action's extra fields ({} for none), or None when no action can
    hold it: an op the schema lacks, or a grace, signal or force it has no field for (a grace
    equal to the plan's own is no change)."""
    if op not in ACTION_OPS:
        return None
    extra = {k: v for k, v in kw.items() if v != _DEFAULTS.get(k)}
    if "t" in extra and "t" not in ACTION_FIELDS and extra["t"] == engine.plans[engine.recorder.workload[iid]].grace_s:
        del extra["t"]
    return extra if set(extra) <= ACTION_FIELDS else None


def build_engine(scenario: Scenario, seed: int | None, catalogue: Catalogue | None) -> Engine:
    """The Engine of ``scenario`` (one lifecycle: an exited container stays until removed unless
    its workload says ``auto_remove``, and ``docker start`` brings it back)."""
    return Engine(scenario, seed, catalogue=catalogue)


class Planner:
    """Plans for workloads added while the host runs (one per ``docker create``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.images = image_table(engine.scenario, engine.catalogue)
        self.planes = control_planes(engine.scenario, engine.catalogue)

    def add(self, workload: Workload) -> WorkloadPlan:
        """Plan ``workload`` exactly as a scenario holding it last would (same random streams,
        its control plane appended in first-use order), and add it to the engine."""
        eng = self.engine
        scenario = eng.scenario.model_copy(update={"workloads": [*eng.scenario.workloads, workload]})
        planes = control_planes(scenario, eng.catalogue)
        for spec in planes[len(self.planes):]:
            for h in eng.hosts:
                h.planes.append(make_plane(eng.env, h, spec))
        self.planes = planes
        one = scenario.model_copy(update={"workloads": [workload]})
        name = workload.control_plane or one.runtime_table(eng.catalogue)[workload.runtime].control_plane or "direct"
        k = [p.name for p in planes].index(name)
        plan = plan_workloads(one, eng.seed, eng.catalogue, self.images, [planes[k]])[0]
        plan.index, plan.plane = len(eng.plans), k
        plan.demand = replace(plan.demand, workload=plan.index)     # what it holds is its own
        eng.scenario = scenario
        eng.plans.append(plan)
        return plan


def run(engine: Engine, plan: WorkloadPlan) -> int:
    """``docker run -d``: create and start; the instance's id."""
    return engine.daemon.run(plan, plan.lifetime()).id


def create(engine: Engine, plan: WorkloadPlan) -> tuple[int, list[str]]:
    """``docker create``: the instance's id (created, waiting for a start) and warnings (none)."""
    return engine.daemon.create(plan).id, []


def api(engine: Engine, op: str, iid: int, **kw: Any) -> int:
    """An Engine API request: 204 done, 304 nothing to do, 400 a bad argument, 404 no such
    instance, 409 conflict."""
    return int(engine.daemon.api(op, iid, **kw))


# ---- what the views read -----------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """An instance's state as the Engine API reports it."""

    state: str              # simcontainer's state label
    exists: bool            # still listed by ``docker ps -a``
    restarting: bool
    exit_code: int
    restarts: int
    host: int
    cpu: float              # cores its app asks while running
    ram_mib: float          # what it holds while running


def status(engine: Engine, iid: int) -> Status:
    rec = engine.recorder
    inst = engine.daemon.live.get(iid)
    state = State(inst.state if inst is not None else rec.final[iid])
    plan = engine.plans[rec.workload[iid]]
    restarting = bool(getattr(inst, "restarting", False)) if inst is not None else False
    return Status(state.label, inst is not None, restarting, int(rec.last_exit.get(iid, 0)),
                  int(rec.restarts.get(iid, 0)), int(rec.host[iid]), plan.demand.cpu, plan.demand.ram_mib)


def live_ids(engine: Engine) -> list[int]:
    """Instances that exist (not removed, rejected or failed-and-gone), oldest first."""
    return sorted(engine.daemon.live)


def is_up(engine: Engine, iid: int) -> bool:
    inst = engine.daemon.live.get(iid)
    return inst is not None and inst.state in _UP


def marks(engine: Engine, iid: int) -> dict[str, float]:
    """The instance's lifecycle marks (request, admitted, pulled, created, running, ready, ...)."""
    row = engine.recorder.times[iid * NM:(iid + 1) * NM]
    return {name: row[k] for name, k in M.items()}


def instances_of(engine: Engine, workload: int) -> list[int]:
    return engine.recorder.instances_of(workload).tolist()


def events_since(engine: Engine, start: int) -> tuple[list[tuple[float, int, str, str, int | None]], int]:
    """Lifecycle events from index ``start``: (time, instance, state, Docker action or "",
    exit code or None), and the index to read from next time."""
    rec = engine.recorder
    n = len(rec.ev_time)
    out = []
    for k in range(start, n):
        code = rec.ev_code[k]
        iid, st = code >> 4, code & 15
        action = rec.ev_action.get(k) or _ACTIONS.get(st, "")
        out.append((rec.ev_time[k], iid, State(st).label, action, rec.ev_exit.get(k)))
    return out, n


# ---- images --------------------------------------------------------------------------------


def image_ready(engine: Engine, image: Image) -> bool:
    return any(h.store.is_ready(image) for h in engine.hosts)


def layer_states(engine: Engine, image: Image, host: int = 0) -> list[tuple[str, str, float]]:
    """Per layer of ``image`` on one host: (id, absent/pulling/downloaded/cached/in_use, MiB)."""
    store = engine.hosts[host].store
    out = []
    for layer in image.layers:
        state, _ = store.layer_state(layer.id)
        e = store.entries.get(layer.id)
        if state == "pulling" and e is not None and e.bytes_at > 0:
            state = "downloaded"
        out.append((layer.id, state, layer.download_mib))
    return out


def pull(engine: Engine, image: Image, host: int = 0) -> simpy.Process | str:
    """``docker pull``: fetch the image's missing layers into one host's store (through the
    registry, the host's download slots and link, then extraction), leaving them cached. The
    pull's process, or why it cannot start (no disk room)."""
    h = engine.hosts[host]
    store = h.store
    need = store.missing_disk_mib(image)
    if not h.disk.fits(need - store.reclaimable_mib(image)):
        return f"no space left on device: {need:.0f} MiB needed, {h.disk.free:.0f} MiB free on host {host}"
    store.make_room(need, image)
    if need:
        h.disk.reserve(need, engine.env.now)
    owned = store.claim(image)

    def fetch() -> Generator[simpy.Event, Any, float]:
        try:
            return (yield from store.pull(image, owned, -1))
        finally:
            store.release(image)

    return engine.env.process(fetch())


def remove_image(engine: Engine, image: Image, keep: list[Image]) -> float:
    """``docker rmi``: drop the image's idle layers that no image in ``keep`` uses; MiB freed."""
    shared = {layer.id for other in keep for layer in other.layers}
    freed = 0.0
    now = engine.env.now
    for h in engine.hosts:
        store = h.store
        for layer in image.layers:
            e = store.entries.get(layer.id)
            if e is None or e.refs or not e.present or e.fetching or layer.id in shared:
                continue
            del store.entries[layer.id]
            store.stored_mib -= layer.disk_mib
            store.idle_mib -= layer.disk_mib
            h.disk.release(layer.disk_mib, now)
            freed += layer.disk_mib
    return freed


def image_in_use(engine: Engine, image: Image) -> bool:
    return any(inst.plan.image.name == image.name for inst in engine.daemon.live.values())


def host_figures(engine: Engine) -> dict[str, float]:
    """Capacity and use summed over the hosts: cores, RAM, disk (MiB), CPU busy."""
    hs = engine.hosts
    return {"cpu_cores": sum(h.spec.cpu_cores for h in hs),
            "ram_mib": sum(h.spec.ram_mib for h in hs),
            "ram_used_mib": sum(h.ram.used for h in hs),
            "disk_mib": sum(h.disk.capacity for h in hs),
            "disk_used_mib": sum(h.disk.used for h in hs),
            "images_mib": sum(h.store.stored_mib for h in hs),
            "cpu_busy": sum(getattr(h.cpu, "busy", 0.0) for h in hs)}


def networks(engine: Engine) -> list[tuple[str, int, int]]:
    """Networks the control planes hold ports on: (mode, index, ports in use)."""
    seen: dict[tuple[str, int], int] = {("bridge", 0): 0}
    for h in engine.hosts:
        for plane in h.planes:
            for key, used in plane.ports.items():
                seen[key] = seen.get(key, 0) + used
    return [(m, k, n) for (m, k), n in sorted(seen.items())]


def network_of(engine: Engine, iid: int) -> tuple[str, int]:
    plan = engine.plans[engine.recorder.workload[iid]]
    return plan.network, iid % plan.networks


__all__ = ["Planner", "Status", "api", "build_engine", "create",
           "events_since", "host_figures", "image_in_use", "image_ready", "instances_of", "is_up",
           "action_fields", "layer_states", "live_ids", "marks", "native", "network_of", "networks", "pull", "remove_image", "run",
           "status"]
