"""The Engine API's operations on an instance, and their answers as moby gives them.

``Daemon.api(op, iid, **kw)`` records every call; this module decides what an operation does to
an existing instance and its HTTP status: 204 done, 304 nothing to do, 400 a bad argument (an
invalid signal), 409 conflict (404, no such instance, is the daemon's). moby's ``api/server/router/container/container_routes.go`` maps the
daemon's errors: a "not modified" to 304, a conflict to 409; success of start, stop, kill,
pause, unpause, remove and restart is 204 No Content (Docker Engine API reference).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from simcontainer.model.parts import parse_signal
from simcontainer.model.states import State

if TYPE_CHECKING:
    from simcontainer.model.daemon import Daemon, Instance

_INF = math.inf
_STARTING, _RUNNING, _PAUSED, _STOPPING = State.STARTING, State.RUNNING, State.PAUSED, State.STOPPING
_LIVE = frozenset({_STARTING, _RUNNING, _PAUSED})
_DOWN = frozenset({State.CREATED, State.EXITED, State.OOM_KILLED, State.FAILED})


def api_op(d: Daemon, op: str, inst: Instance, kw: dict[str, Any]) -> int:
    """One Engine API operation on an existing instance; its status, as moby answers
    (``api/server/router/container/container_routes.go`` maps the daemon's errors: a
    "not modified" to 304, a conflict to 409; success of start/stop/kill/pause/unpause/remove/
    restart is 204 No Content, Docker Engine API reference)."""
    state = inst.state
    live = state in _LIVE
    parked = inst.wake is not None
    if op == "start":
        # daemon/start.go: paused -> conflict ("try unpause instead"); running -> not modified
        if state is _PAUSED:
            return 409
        if live or state is _STOPPING or inst.restarting:
            return 304
        return _wake(inst, "start") if parked else 409
    if op in ("stop", "restart"):
        # daemon/stop.go: a container that is not running -> not modified; restart starts it
        if live or inst.restarting or (op == "restart" and state is _STOPPING):
            inst.stop_t = _grace(kw.get("t"))
            d.interrupt(inst, op)
            return 204
        if op == "restart":
            return _wake(inst, "restart") if parked else 409
        return 304 if state in _DOWN or state is _STOPPING else 409
    if op == "kill":
        # daemon/kill.go: not running -> errNotRunning, a conflict
        if not (live or state is _STOPPING or inst.restarting):
            return 409
        sig = parse_signal(kw.get("signal") or "KILL")
        return 400 if sig is None else _kill(d, inst, sig)
    if op == "pause":           # daemon/pause.go: not running, or paused already -> conflict
        if state is not _RUNNING:
            return 409
        d.enter(inst, _PAUSED)
        return 204
    if op == "unpause":         # daemon/unpause.go: not paused -> conflict
        if state is not _PAUSED:
            return 409
        d.enter(inst, _RUNNING, "unpause")
        return 204
    if op == "remove":
        # daemon/delete.go: a running container without force -> conflict; force kills it first
        if parked:
            return _wake(inst, "remove")
        if (live or inst.restarting) and kw.get("force"):
            inst.force_remove = True
            d.interrupt(inst, "kill")
            return 204
        return 409
    raise ValueError(f"API op {op!r} (allowed: start, stop, kill, restart, pause, unpause, remove)")


def _wake(inst: Instance, how: str) -> int:
    inst.wake.succeed(how)          # type: ignore[union-attr]
    inst.wake = None                # taken: a second request in the same instant conflicts
    return 204


def _grace(t: Any) -> float | None:
    """``docker stop -t``: seconds, None for the plane's default, a negative number (-1) for no
    limit (moby: wait for the container to exit however long)."""
    if t is None:
        return None
    return _INF if t < 0 else float(t)


def _kill(d: Daemon, inst: Instance, sig: str) -> int:
    """``docker kill --signal``: SIGKILL ends it (137); SIGTERM to an app with a handler shuts it
    down as a stop would (no SIGKILL follows); another signal's default action ends it with
    128 + the signal; PID 1 without a handler gets no signal but SIGKILL (it keeps running)."""
    stopper = inst.plan.parts.stopper
    if stopper.keeps_running(sig):
        d._event(inst, "kill")
        return 204
    as_stop, code = stopper.signal(sig)
    if as_stop:
        inst.stop_t = _INF
        d.interrupt(inst, "stop")
    else:
        inst.kill_code = code
        d.interrupt(inst, "kill")
    return 204


__all__ = ["api_op"]
