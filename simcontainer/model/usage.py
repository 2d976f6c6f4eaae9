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

    __slots__ = ("mm", "hm", "m", "model", "env", "levels", "level", "alive", "active", "balloon", "callbacks",
                 "_ok", "_me")

    def __init__(self, mm: Memory, hm: HostMemory, m: Member, model: Usage) -> None:
        self.mm, self.hm, self.m, self.model = mm, hm, m, model
        self.env = mm.env
        self.levels: Iterator[tuple[float, float]] | None = None    # None: not started
        self.level = 0.0            # the level it applies after the wait it is in
        self.balloon = False        # the wait it is in is a balloon's give-back (else a level's)
        self.alive = True
        self.active = False         # in one of its steps now (a kill then ends it by its own check)
        self._ok = True             # as a simpy event: triggered, never failed
        self._me: list[Any] = [self]
        self.callbacks: list[Any] | None = self._me      # simpy calls it: ``__call__``
        self(None)      # its first levels now, as the instance starts running (no queue entry)

    def _wait(self, s: float, balloon: bool) -> None:
        """What ``env.timeout(s)`` with one callback does: in the queue at now + ``s``."""
        env = self.env
        self.balloon = balloon
        self.callbacks = self._me
        heappush(env._queue, (env._now + s, NORMAL, next(env._eid), self))

    @property
    def is_alive(self) -> bool:
        return self.alive

    def stop(self) -> None:
        """It ends (its instance left the members elsewhere) unless it is the one running now."""
        if not self.active:
            self.alive = False

    def __call__(self, _ev: Any) -> None:
        """One step: the first (its levels start), or the end of a wait; then the levels without
        a wait, applied now, up to the next wait.

        NOTE: the loop over the levels and the wait (``_wait``) written out here, not called
        (a few steps per instance with a usage model)."""
        if not self.alive:
            return
        self.active = True
        if self.levels is None:
            self.levels = self.model.levels(self.mm.streams[self.m.inst.plan.name])
        elif self.balloon:
            m, hm = self.m, self.hm
            if m.inst.id not in hm.members:
                self.alive = self.active = False
                return
            hm.change(m, self.level)
            if m.inst.id not in hm.members:
                self.alive = self.active = False
                return
        elif not self._apply(self.level):
            self.active = False
            return
        for wait, level in self.levels:
            if wait > 0:
                self.level = level
                env = self.env
                self.balloon = False
                self.callbacks = self._me
                heappush(env._queue, (env._now + wait, NORMAL, next(env._eid), self))
                self.active = False
                return
            if not self._apply(level):
                self.active = False
                return
        self.alive = self.active = False

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
