"""A workload's client: a ``docker run`` at each of its arrival times.

NOTE: for speed (one step per request) not a simpy process but its own event, as
:class:`simcontainer.model.usage.UsageRun` and ``resources.FairShare._arm``: it puts itself in
simpy's queue (``callbacks`` and ``_ok`` are all ``Environment.step`` reads of an event) at the
next arrival time -- no process to resume, no generator, no Timeout object per request. Its
queue entries are the ones the process it replaces had, in the same order (same time, priority
and place): an urgent first step where the process had its initialisation, then one per arrival
that is later than the one before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL, URGENT

# the engine's progress report is told every this many requests: a burst puts thousands of
# requests in one step, and progress should still move while it runs
TICK_EVERY = 1024
_NOT_STARTED = object()


class Arrivals:
    """Requests of one workload: at each time ``times`` gives (with a trace's own lifetime, or
    None), ``run(plan, lifetime)`` -- the lifetime from the trace, else the plan's fixed one,
    else a draw of its sampler. ``tick``, when set, is told every :data:`TICK_EVERY` requests."""

    __slots__ = ("env", "run", "plan", "times", "n", "tick", "_next", "_ok", "_value", "callbacks")

    def __init__(self, env: simpy.Environment, run: Callable[[Any, float], Any], plan: Any,
                 times: Iterator[tuple[float, float | None]]) -> None:
        self.env = env
        self.run = run
        self.plan = plan
        self.times = times
        self.n = 0                  # requests made
        self.tick: Callable[[int], None] | None = None
        # the arrival it waits for: (time, trace lifetime); _NOT_STARTED before its first step,
        # None after the last
        self._next: Any = _NOT_STARTED
        self._ok = True             # as a simpy event: triggered, never failed
        self._value = None
        self.callbacks: list[Any] | None = [self]
        heappush(env._queue, (env._now, URGENT, next(env._eid), self))   # as a process's start

    def __call__(self, _ev: Any) -> None:
        """Every arrival due now (the one it waited for first), up to the next one."""
        env, plan, run, times = self.env, self.plan, self.run, self.times
        lifetime = plan.lifetime
        fixed = lifetime._fixed     # NOTE: a fixed lifetime (no draw) without a call per request
        arrival = next(times, None) if self._next is _NOT_STARTED else self._next
        while arrival is not None:
            t, trace_life = arrival
            now = env._now
            if t > now:
                self._next = arrival
                self.callbacks = [self]
                heappush(env._queue, (now + (t - now), NORMAL, next(env._eid), self))
                return
            run(plan, trace_life if trace_life is not None else fixed if fixed is not None else lifetime())
            self.n = n = self.n + 1
            if not n % TICK_EVERY and self.tick is not None:
                self.tick(TICK_EVERY)
            arrival = next(times, None)
        self._next = None


__all__ = ["TICK_EVERY", "Arrivals"]
