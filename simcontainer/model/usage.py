"""Memory use over time: a workload's usage model (ramp, levels, leak, spread) and the object that
steps one running instance through it (a balloon giving back what the guest stopped touching)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from heapq import heappush
from typing import TYPE_CHECKING, Any

from simpy.events import NORMAL

from simcontainer.scenario.workload import Stream

if TYPE_CHECKING:
    from simcontainer.model.memory import HostMemory, Member, Memory
    from simcontainer.scenario.schema import Workload


# a balloon's inflate rate: an estimate (Firecracker docs/ballooning.md gives the driver's 0.2 s
# retry, no rate): 256 MiB per second returned to the host
BALLOON_MIB_S = 256.0


@dataclass(frozen=True)
class Usage:
    """A usage model: yields (wait, level) -- after ``wait`` seconds the app uses ``level`` MiB."""

    working_set_mib: float
    ramp_s: float = 30.0
    ramp_steps: int = 5
    cv: float = 0.0
    interval_s: float = 60.0
    leak_mib_per_h: float = 0.0

    def levels(self, stream: Stream | None) -> Iterator[tuple[float, float]]:
        ws, n = self.working_set_mib, self.ramp_steps
        step = self.ramp_s / n
        for k in range(1, n + 1):
            yield (step if k > 1 else 0.0), ws * k / n
        t = self.ramp_s
        leak = self.leak_mib_per_h / 3600.0
        while True:
            t += self.interval_s
            level = ws
            if self.cv > 0 and stream is not None:
                level = max(0.0, ws * (1.0 + self.cv * stream.normal()))
            yield self.interval_s, level + leak * t


def usage_of(w: Workload) -> Usage | None:
    if w.usage is None:
        return None
    u = w.usage
    return Usage(u.working_set_mib if u.working_set_mib is not None else w.mem_mib, u.ramp_s,
                 u.ramp_steps, u.cv, u.interval_s, u.leak_mib_per_h)


class UsageRun:
    """One running instance's usage model, stepping its levels (:meth:`Usage.levels`): after
    each wait its level changes (:meth:`HostMemory.change`); a VM with a balloon first gives
    back what its guest no longer touches, at the balloon's rate. It ends when its instance
    leaves the host's members (exit, kill, eviction) or when stopped (:meth:`stop`).

    NOTE: for speed (one per running instance with a usage model) not a simpy process but its
    own event: it puts itself in simpy's queue (``callbacks`` and ``_ok`` are all
    ``Environment.step`` reads of an event) once per wait, as ``resources.FairShare._arm`` does
    -- no process, no generator, no Timeout object, no interrupt at the end (:meth:`stop` only
    marks it ended; the wait it was in passes without it). Its first step runs as it is made
    (the instance starts running: its first levels apply in that instant, as a process's
    initialisation would have had them); then one queue entry per wait, where a process doing
    the same would have had its timeouts (same time, priority and place)."""

    __slots__ = ("mm", "hm", "m", "model", "env", "level", "alive", "active", "balloon", "callbacks",
                 "_ok", "_k", "_t", "_stream")

    def __init__(self, mm: Memory, hm: HostMemory, m: Member, model: Usage) -> None:
        self.mm, self.hm, self.m, self.model = mm, hm, m, model
        self.env = mm.env
        self.level = 0.0            # the level it applies after the wait it is in
        self.balloon = False        # the wait it is in is a balloon's give-back (else a level's)
        self.alive = True
        self.active = False         # in one of its steps now (a kill then ends it by its own check)
        self._ok = True             # as a simpy event: triggered, never failed
        # simpy calls it (``__call__``): a new one-item list per wait, not one kept on it -- a
        # list holding its owner is a reference cycle, left for the garbage collector to find
        self.callbacks: list[Any] | None = None
        # where it is in :meth:`Usage.levels`: the next ramp step (past ``ramp_steps``: the
        # steady levels; 0: not started), the model's clock for the leak, the stream of its draws
        self._k = 0                 # 0: not started
        self._t = model.ramp_s
        self._stream = mm.streams[m.inst.plan.index] if model.cv > 0 else None
        self(None)          # its first levels now, as the instance starts running (no queue entry)

    def _wait(self, s: float, balloon: bool) -> None:
        """What ``env.timeout(s)`` with one callback does: in the queue at now + ``s``."""
        env = self.env
        self.balloon = balloon
        self.callbacks = [self]
        heappush(env._queue, (env._now + s, NORMAL, next(env._eid), self))

    @property
    def is_alive(self) -> bool:
        return self.alive

    def stop(self) -> None:
        """It ends (its instance left the members elsewhere) unless it is the one running now."""
        if not self.active:
            self.alive = False

    def __call__(self, _ev: Any) -> None:
        """One step: its first (as it is made), or the end of a wait -- a balloon's give-back
        done, or the level it waited for -- then the levels due now, up to the next wait (then
        in the queue until it ends).

        NOTE: :meth:`Usage.levels` written out -- the ramp's steps, then a level every
        ``interval_s`` (drawn around the working set, plus the leak) -- with the same draws in
        the same order, so that the run is the generator's; without a generator and a call per
        level, and ``_apply`` for a container written out (a few steps per instance with a
        usage model)."""
        if not self.alive:
            return
        self.active = True
        if self._k:                 # the end of a wait (0: its first step)
            m, hm = self.m, self.hm
            members = hm.members
            iid = m.inst.id
            if self.balloon or not m.vm:    # a give-back done, or a container's level
                if iid not in members:
                    self.alive = self.active = False
                    return
                hm.change(m, self.level)
                if iid not in members:
                    self.alive = self.active = False
                    return
            elif not self._apply(self.level):
                self.active = False
                return
        else:
            self._k = 1
        model = self.model
        ws, n = model.working_set_mib, model.ramp_steps
        while True:
            k = self._k
            if k <= n:
                self._k = k + 1
                wait = model.ramp_s / n if k > 1 else 0.0
                level = ws * k / n
            else:
                wait = model.interval_s
                self._t = t = self._t + wait
                level = ws
                if self._stream is not None:
                    level = ws * (1.0 + model.cv * self._stream.normal())
                    level = level if level > 0.0 else 0.0     # max(0.0, level)
                level += model.leak_mib_per_h / 3600.0 * t
            if wait > 0:
                env = self.env
                at = env._now + wait
                if at > self.m.inst.gone_at:    # its instance is removed before: a wait for nothing
                    self.active = False
                    return
                self.level = level
                self.balloon = False
                self.callbacks = [self]
                heappush(env._queue, (at, NORMAL, next(env._eid), self))
                self.active = False
                return
            if not self._apply(level):
                self.active = False
                return

    def _apply(self, level: float) -> bool:
        """Go to ``level`` (maybe after a balloon's give-back); whether to go on at once."""
        m, hm = self.m, self.hm
        members = hm.members
        if m.inst.id not in members:
            self.alive = False
            return False
        if m.vm and self.mm.balloon(m):
            want = min(m.ceiling, m.guest_os + level)
            if want < m.touched:
                # the balloon inflates at its rate: the host gets back what the guest no longer
                # touches (its OS pages stay) gradually
                self.level = level
                self._wait((m.touched - want) / BALLOON_MIB_S, True)
                return False
        hm.change(m, level)
        if m.inst.id not in members:
            self.alive = False
            return False
        return True


__all__ = ["BALLOON_MIB_S", "Usage", "UsageRun", "usage_of"]
