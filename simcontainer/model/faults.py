"""Faults and their blast radius: ``[[faults]]`` in a scenario.

A fault fires at ``at_s`` or repeatedly (exponential gaps of mean ``every_s``) and takes down
what the kernel or daemon it hits carries:

=================  =====================================================================
``host_panic``     the host's kernel panics: every container *and* VM on it dies; the host
                   reboots (``reboot_s``), then the restart policies act
``guest_panic``    one VM's or sandbox's own kernel panics (a random running instance with a
                   kernel of its own: a VM, Kata's guest, gVisor's Sentry): that one alone
``kernel``         a fault in the kernel a random running instance runs on: the host's kernel
                   for a container that shares it (a host panic), its own for a VM or sandbox
``daemon_restart`` dockerd restarts (``daemon_down_s``): with ``live_restore`` off its
                   containers stop (moby: the daemon stops them on shutdown), on they keep
                   running; VMs under libvirt or Firecracker and the kubelet's containers
                   (containerd's shims) keep running either way
=================  =====================================================================

Each fault is one row of ``Recorder.faults``: what it hit and how many instances it took down,
by runtime; the summary adds the recovery time to the running count before the fault (see
:func:`recovery`).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from simcontainer.model.metrics import _STATE_BITS
from simcontainer.model.states import State
from simcontainer.scenario.workload import Stream, seed_sequence

if TYPE_CHECKING:
    import simpy

    from simcontainer.model.daemon import Daemon, Instance
    from simcontainer.scenario.schema import Fault, Scenario

_UP = (State.STARTING, State.RUNNING, State.PAUSED, State.STOPPING)


def own_kernel(inst: Instance) -> bool:
    """Whether the instance runs on a kernel of its own (a VM's, Kata's guest, gVisor's Sentry)."""
    rt = inst.plan.runtime
    kernel = rt.kernel or ("guest" if rt.kind == "vm" else "host")
    return kernel != "host"


def start(env: simpy.Environment, daemon: Daemon, scenario: Scenario, seed: int) -> None:
    """One process per ``[[faults]]`` entry."""
    for j, f in enumerate(scenario.faults):
        env.process(_fire_times(env, daemon, f, Stream(seed_sequence(seed, f"fault{j}", "faults")),
                                scenario.duration_s))


def _fire_times(env: simpy.Environment, daemon: Daemon, f: Fault, stream: Stream, horizon: float
                ) -> Generator[simpy.Event, Any, None]:
    if f.at_s is not None:
        yield env.timeout(f.at_s)
        fire(daemon, f, stream)
        return
    assert f.every_s is not None
    while True:
        gap = f.every_s * stream.exponential()
        if env.now + gap >= horizon:
            return
        yield env.timeout(gap)
        fire(daemon, f, stream)


def _running(daemon: Daemon) -> int:
    return sum(1 for i in daemon.live.values() if i.state in (State.RUNNING, State.PAUSED))


def fire(daemon: Daemon, f: Fault, stream: Stream) -> dict[str, Any]:
    """The fault, now: interrupt what it takes down; its row in the recorder."""
    env = daemon.env
    row: dict[str, Any] = {"time_s": env.now, "kind": f.kind, "host": f.host, "target": None,
                           "running_before": _running(daemon), "lost": {}}
    victims: list[Instance] = []
    if f.kind in ("guest_panic", "kernel"):
        pool = [i for i in daemon.live.values() if i.state in _UP and (f.workload is None or i.plan.name == f.workload)
                and (f.kind == "kernel" or own_kernel(i))]
        if pool:
            target = pool[int(stream.exponential() * 1e6) % len(pool)]
            row["target"] = target.id
            assert target.host is not None
            row["host"] = target.host.index
            if own_kernel(target):
                victims = [target]
                cause = "guest"
            else:
                victims = _host_crash(daemon, target.host.index, f.reboot_s)
                cause = "host"
                row["kind_effective"] = "host_panic"
    elif f.kind == "host_panic":
        victims = _host_crash(daemon, f.host, f.reboot_s)
        cause = "host"
    else:   # daemon_restart
        daemon.daemon_up_at[f.host] = env.now + f.daemon_down_s
        # the instances a restart of this host's daemon stops (its plane says: dockerd's)
        ours = [i for i in daemon.live.values() if i.host is not None and i.host.index == f.host
                and i.host.planes[i.plan.plane].stops_with_daemon]
        if not daemon.live_restore:
            victims = [i for i in ours if i.state in _UP]
        # A stopped container with restart = "always" comes back when the daemon starts (Docker
        # docs, "Start containers automatically"); "unless-stopped" stays stopped.
        parked = [i for i in ours if i.wake is not None and getattr(i.plan.parts.restart, "mode", None) == "always"]
        if parked:
            env.process(_start_on_daemon_up(env, parked, f.daemon_down_s))
        cause = "daemon"
    lost: dict[str, int] = {}
    aborted = 0             # starts it cut short: not running yet, so not among running_before
    for inst in victims:
        was_running = inst.state in (State.RUNNING, State.PAUSED)
        if daemon.interrupt(inst, cause):
            if was_running:
                lost[inst.plan.runtime.name] = lost.get(inst.plan.runtime.name, 0) + 1
            else:
                aborted += 1
    row["lost"] = lost
    row["instances_lost"] = sum(lost.values())
    row["starts_aborted"] = aborted
    daemon.rec.faults.append(row)
    return row


def _start_on_daemon_up(env: simpy.Environment, parked: list[Instance], down_s: float
                        ) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(down_s)
    for inst in parked:
        if inst.wake is not None:       # still stopped: the daemon starts it
            inst.wake.succeed("start")
            inst.wake = None


def _host_crash(daemon: Daemon, host: int, reboot_s: float) -> list[Instance]:
    daemon.epoch[host] += 1
    daemon.host_up_at[host] = max(daemon.host_up_at[host], daemon.env.now + reboot_s)
    return [i for i in daemon.live.values() if i.host is not None and i.host.index == host and i.state in _UP]


# ---- results ------------------------------------------------------------------------------

def running_series(t: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times, running count after each) from the event log (``t``, ``code`` as recorded): an
    instance counts from entering running until it leaves running or paused."""
    state = code & ((1 << _STATE_BITS) - 1)
    inst = code >> _STATE_BITS
    up = np.isin(state, (State.RUNNING, State.PAUSED))
    order = np.lexsort((np.arange(state.size), inst))      # the previous state of the same instance
    prev_up = np.zeros(state.size, dtype=bool)
    if state.size > 1:
        same = inst[order[1:]] == inst[order[:-1]]
        prev_up[order[1:]] = same & up[order[:-1]]
    return t, np.cumsum(up.astype(np.int64) - prev_up.astype(np.int64))


def _level_before(t: np.ndarray, n: np.ndarray, t0: float) -> int:
    k = int(np.searchsorted(t, t0, "left")) - 1
    return int(n[k]) if k >= 0 else 0


def _deficit(t: np.ndarray, n: np.ndarray, t0: float, t1: float, before: int) -> float:
    """The running instances missing below ``before``, integrated over [t0, t1]."""
    sel = (t >= t0) & (t < t1)
    ts = np.concatenate(([t0], t[sel], [t1]))
    lv = np.concatenate(([before], n[sel]))
    return float(np.sum(np.maximum(0, before - lv) * np.diff(ts)))


def recovery(rec: Any, horizon: float, request_rates: Sequence[float] = ()) -> list[dict[str, Any]]:
    """Each fault's row with ``recovery_s``: from the fault until the running count is back to
    what it was just before (None: not by the horizon); ``capacity_lost_instance_s``: the running
    instances missing, integrated over that time (to the horizon when not recovered); and
    ``requests_failed``: for workloads with ``requests_per_s``, the requests sent to instances
    that were missing in that time (a load balancer without health checks spreads them evenly
    over the instances running before the fault), None when no workload says its rate."""
    if not rec.faults:
        return []
    t = np.frombuffer(rec.ev_time, dtype=np.float64) if len(rec.ev_time) else np.zeros(0)
    code = np.frombuffer(rec.ev_code, dtype=np.int64) if len(rec.ev_code) else np.zeros(0, np.int64)
    t, n = running_series(t, code)
    per_wl = {}
    if any(request_rates) and code.size:
        wl = np.frombuffer(rec.workload, dtype=np.int32)[code >> _STATE_BITS]
        per_wl = {w: running_series(t[wl == w], code[wl == w]) for w, r in enumerate(request_rates) if r > 0}
    out = []
    for row in rec.faults:
        row = dict(row)
        t0, before = row["time_s"], row["running_before"]
        after = np.flatnonzero((t > t0) & (n >= before))
        t1 = float(t[after[0]]) if after.size else horizon
        row["recovery_s"] = float(t1 - t0) if after.size else None
        lost_s = _deficit(t, n, t0, t1, before)
        failed = 0.0
        for w, (tw, nw) in per_wl.items():
            b = _level_before(tw, nw, t0)
            if b > 0:
                failed += request_rates[w] / b * _deficit(tw, nw, t0, t1, b)
        if row["instances_lost"] == 0:
            row["recovery_s"], lost_s, failed = 0.0, 0.0, 0.0
        row["capacity_lost_instance_s"] = lost_s
        row["requests_failed"] = failed if per_wl else None
        out.append(row)
    return out


# ---- for lessons and notebooks ------------------------------------------------------------



__all__ = ["fire", "own_kernel", "recovery", "running_series", "start"]
