"""Warm paths: snapshot restore, pre-warmed pools and keep-alive (a workload's ``warm`` table).

A workload with ``warm`` has its own lifecycle parts (:mod:`simcontainer.model.parts`): ``PoolTake``
around ``Cold`` or ``SnapshotRestore`` to come up, ``HandBack`` and ``KeepAlive`` to end with a
keep-alive window; this module keeps the idle instances, the pools and what the summary reports.

A request of a warm workload:

1. takes an **idle warm instance** of its workload if one is ready (from its pool, or one kept
   alive after its work): it is running at once (``warm_start_s``); the idle instance's host
   reservation (RAM, disk, image reference, bridge port) becomes the request's. A pool refills
   (``refill = "immediate"``: a replacement starts at once, the way it would cold);
2. otherwise starts **cold** -- admission, pull, create, boot, as any instance -- or, with
   ``start = "snapshot"``, is **restored**: admission, then the runtime's restore (a microVM's
   snapshot load; a container's CRIU restore, which reads its memory eagerly) with no pull, no
   create and no boot. A restored microVM then loads its memory lazily: its first touches fault
   one page at a time, which runs as CPU work on the host's fair share before its app does its
   work (REAP, ASPLOS 2021). Figures and sources: ``models/warm.toml``;
3. runs its lifetime, then its record ends (stopping, exited, removed). With ``keep_alive_s`` the
   instance itself stays warm and idle for that long -- holding its RAM -- and serves the next
   request of its workload; at the end of the window it is stopped and removed (the runtime's
   stop and the plane's teardown, outside any request's record).

What the summary gains per warm workload (``summary["workloads"][name]["warm"]``): start counts
by kind (cold, warm, snapshot), startup figures per kind (null over nothing), idle warm memory
(MiB-seconds and the mean MiB held), pool fills and keep-alive expiries; and
``phases_s["restore"]`` (restore time, 0 for instances that did not restore; ``boot`` no longer
holds it, so the phases still add up to the startup).

:func:`strategy_table` runs one workload under each strategy (cold, lazy pull, pool, snapshot,
keep-alive) on the same arrivals and returns the startup and memory bill side by side.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from simcontainer.model.daemon import Daemon, Instance, WorkloadPlan
from simcontainer.model.host import cores_used, guest_mem_mib, restore_fault_cpu_s, restore_s
from simcontainer.model.metrics import M, _stats
from simcontainer.model.usage import usage_of
from simcontainer.scenario.profiles import Restore, figures, restore_for

KINDS = ("cold", "warm", "snapshot")








@dataclass
class WarmPlan:
    """A workload's warm settings, resolved (set on its ``WorkloadPlan.warm`` by the engine)."""

    start: str
    pool: int
    refill: str
    keep_alive_s: float
    restore: Restore | None
    restore_s: float = 0.0      # per restore, for this workload's memory
    fault_cpu_s: float = 0.0    # page-fault CPU work after a restore


def plan_for(plan: WorkloadPlan) -> WarmPlan | None:
    """The workload's :class:`WarmPlan`, or None when it has no ``warm`` table. Raises
    ValueError for a snapshot start on a runtime without restore figures."""
    w = plan.workload.warm
    if w is None:
        return None
    rs = None
    if w.start == "snapshot":
        rs = restore_for(plan.runtime.name)
        if rs is None:
            known = ", ".join(sorted(figures()[1]))
            raise ValueError(f"workload {plan.name!r}: warm.start = \"snapshot\" has no restore figures for "
                             f"runtime {plan.runtime.name!r} (allowed: {known}; models/warm.toml)")
    wp = WarmPlan(w.start, w.pool, w.refill, w.keep_alive_s, rs)
    if rs is not None:
        wp.restore_s, wp.fault_cpu_s = restore_costs(plan, rs)
    return wp


def restore_costs(plan: WorkloadPlan, rs: Restore) -> tuple[float, float]:
    """(seconds of one restore, CPU-seconds of page faults after it) for ``plan``'s instances.

    A microVM's snapshot load grows with its vCPUs (``vcpus``, else as many as the cores its app
    uses: it needs them to run it) and its guest memory; after a lazy restore the app faults its
    own working set back in (the usage model's ``working_set_mib``, else ``mem_mib``, at most the
    guest's memory) -- not the guest's configured RAM: the same app costs the same in a 256 MiB
    and a 4 GiB guest. A CRIU restore reads the dump (``mem_mib``, an upper bound of the RSS)
    eagerly and leaves no faults."""
    w, rt = plan.workload, plan.runtime
    if rs.how == "criu":
        return restore_s(rs, 1, w.mem_mib, w.mem_mib), 0.0
    guest = guest_mem_mib(w, rt, plan.image)
    vcpus = w.vcpus if w.vcpus is not None else max(1, math.ceil(cores_used(w, rt) - 1e-9))
    u = usage_of(w)
    working_set = min(u.working_set_mib if u is not None else w.mem_mib, guest)
    return (restore_s(rs, vcpus, guest, 0.0),
            restore_fault_cpu_s(working_set, rs.fault_us, rs.app_touch_fraction))


class Idle:
    """An idle warm instance: the ticket holding its host reservation, since when, whether a
    pool's (kept until taken) or kept alive (until its window ends)."""

    __slots__ = ("ticket", "since", "pool", "taken")

    def __init__(self, ticket: Instance, since: float, pool: bool) -> None:
        self.ticket = ticket
        self.since = since
        self.pool = pool
        self.taken = False


class WarmState:
    """Per workload: its idle instances and what the summary reports."""

    def __init__(self, plan: WorkloadPlan, wp: WarmPlan) -> None:
        self.plan = plan
        self.wp = wp
        self.idle: list[Idle] = []
        self.kind: dict[int, int] = {}          # instance id -> index in KINDS
        self.restore: dict[int, float] = {}     # instance id -> restore seconds
        self.fault_cpu_s = 0.0                  # page-fault CPU work done after restores
        self.idle_mib_s = 0.0                   # closed idle periods
        self.fills = 0                          # pool instances started
        self.fill_failed = 0
        self.expired = 0                        # keep-alive windows that ended unused
        self.fill_ids = 0


class Warm:
    """The warm paths of one daemon (made when a plan has a ``WarmPlan``)."""

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.env = daemon.env
        self.rec = daemon.rec
        self.state: dict[int, WarmState] = {}
        self.warm_start_s = figures()[0]
        daemon.rec.warm = self

    def add(self, plan: WorkloadPlan) -> None:
        """Register a warm workload; start its pool."""
        wp = plan.warm
        st = self.state[plan.index] = WarmState(plan, wp)
        for _ in range(wp.pool):
            self.env.process(self._fill(st))

    # ---- small steps ----------------------------------------------------------------------

    def take(self, st: WarmState) -> Idle | None:
        """An idle warm instance for a request (the last one to go idle), or None; a pool's
        refills at once with ``refill = "immediate"``."""
        if not st.idle:
            return None
        idle = st.idle.pop()
        idle.taken = True
        self._close_idle(st, idle)
        if idle.pool and st.wp.refill == "immediate":
            self.env.process(self._fill(st))
        return idle

    def _close_idle(self, st: WarmState, idle: Idle) -> None:
        st.idle_mib_s += st.plan.demand.ram_mib * (self.env.now - idle.since)

    def go_idle(self, st: WarmState, ticket: Instance, pool: bool) -> None:
        idle = Idle(ticket, self.env.now, pool)
        st.idle.append(idle)
        if not pool:
            self.env.process(self._expire(st, idle))

    def _expire(self, st: WarmState, idle: Idle) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(st.wp.keep_alive_s)
        if idle.taken:
            return
        idle.taken = True
        st.idle.remove(idle)
        self._close_idle(st, idle)
        st.expired += 1
        yield from self._teardown(idle.ticket)

    def _teardown(self, ticket: Instance) -> Generator[simpy.Event, Any, None]:
        """Stop and remove an instance no request holds any more: its reservation goes back."""
        host = ticket.host
        assert host is not None
        plan = ticket.plan
        plane = host.planes[plan.plane]
        if not plan.stop.idle:
            yield from plane.stop(ticket)
        if not plan.steps.remove_idle:
            yield from plane.remove(ticket)
        else:
            plane.free_port(ticket)
        self.d.admission.release(ticket)

    def _boot(self, st: WarmState, t: Instance) -> Generator[simpy.Event, Any, str | None]:
        """A pool instance, after admission: a cold start (pull, create, boot) or a restore.
        Returns why it failed, or None. (Not a request: it has no record of its own.)"""
        env, plan, wp = self.env, t.plan, st.wp
        host = t.host
        assert host is not None
        plane = host.planes[plan.plane]
        if wp.restore is not None:      # the snapshot or checkpoint is on the host's disk
            why = plane.take_port(t)
            if why is not None:
                return why
            if wp.restore_s > 0:
                yield env.timeout(wp.restore_s)
            return None
        if not host.store.is_ready(plan.image):
            yield from plane.pull(t)
        if plan.vm_copy_mib > 0:
            ev = host.disk_bw.request(plan.vm_copy_mib)
            if ev is not None:
                yield ev
        yield from plane.create(t)
        return (yield from plane.start(t))

    def _fill(self, st: WarmState) -> Generator[simpy.Event, Any, None]:
        """Start one pool instance (cold, or restored) and keep it idle."""
        st.fill_ids += 1
        st.fills += 1
        t = Instance(-st.fill_ids, st.plan)     # not a request: no record of its own
        adm = self.d.admission
        # A pool instance never queues for room (it would hold requests up behind it): one that
        # does not fit now is not started (pool_fill_failed); the next take tries again.
        if adm.queue or not adm._try_place(t):
            st.fill_failed += 1
            return
        why = yield from self._boot(st, t)
        if why is not None:
            st.fill_failed += 1
            self.d.admission.release(t)
            return
        ready_s = st.plan.workload.ready_s
        if ready_s > 0:
            yield self.env.timeout(ready_s)
        if st.wp.fault_cpu_s > 0:           # touched while it warmed up: no faults left
            ev = t.host.cpu.request(st.wp.fault_cpu_s, 1.0)     # type: ignore[union-attr]
            if ev is not None:
                yield ev
        self.go_idle(st, t, pool=True)

    # ---- results --------------------------------------------------------------------------

    def summary(self, index: int, tm: np.ndarray, ids: np.ndarray, horizon: float) -> dict[str, Any]:
        """The ``warm`` block of one workload (``tm``: its rows of the times matrix, ``ids``
        their instance ids)."""
        st = self.state[index]
        ram = st.plan.demand.ram_mib
        open_mib_s = sum(ram * (horizon - i.since) for i in st.idle if i.since < horizon)
        idle_mib_s = st.idle_mib_s + open_mib_s
        kinds = np.array([st.kind.get(int(i), -1) for i in ids], dtype=np.int8)
        ready = ~np.isnan(tm[:, M["ready"]])
        startup = tm[:, M["ready"]] - tm[:, M["request"]]
        by_kind = {}
        for k, name in enumerate(KINDS):
            sel = ready & (kinds == k)
            by_kind[name] = {"n": int(sel.sum()), **_stats(startup[sel], ("mean", "p50", "p95", "max"))}
        rs = st.wp.restore
        return {
            "start": st.wp.start, "pool": st.wp.pool, "refill": st.wp.refill,
            "keep_alive_s": st.wp.keep_alive_s,
            "starts": {name: by_kind[name]["n"] for name in KINDS},
            "startup_s": by_kind,
            "restore_s": st.wp.restore_s if rs is not None else None,
            "restore_how": rs.how if rs is not None else None,
            "fault_cpu_s": st.fault_cpu_s,
            "idle_mib_s": idle_mib_s,
            "idle_mean_mib": idle_mib_s / horizon if horizon > 0 else None,
            "idle_at_horizon": len(st.idle),
            "pool_fills": st.fills, "pool_fill_failed": st.fill_failed,
            "keep_alive_expired": st.expired,
        }

    def restore_column(self, n: int) -> np.ndarray:
        col = np.zeros(n)
        for st in self.state.values():
            for iid, s in st.restore.items():
                col[iid] = s
        return col




# ---- the strategies side by side (planner, Learn lesson) ---------------------------------







__all__ = ["KINDS", "Warm", "WarmPlan", "plan_for", "restore_costs"]
