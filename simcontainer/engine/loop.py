"""The event loop: ``env.run(until=at)`` with simpy's ``step`` written out.

Every event of a run passes through here, a few per instance, so the call to
``Environment.step`` and its look-ups per event are a measurable share of a large run. This
follows simpy 4.1's ``Environment.run`` and ``Environment.step`` (simpy/core.py) step for step --
the same stop event at the horizon, ahead of everything else at that instant; the same order;
a failed event that nobody defused ends the run with a copy of its exception -- and leaves out
only what the engine never uses: no callback here raises ``StopSimulation``.
"""

from __future__ import annotations

from heapq import heappop

import simpy
from simpy.events import URGENT, Event


def run_until(env: simpy.Environment, at: float) -> None:
    """Process every event before ``at`` (and those at ``at`` scheduled ahead of the stop, as
    ``env.run(until=at)`` does); the clock then reads ``at``."""
    if at <= env._now:
        raise ValueError(f"until ({at}) must be greater than the current simulation time")
    stop = Event(env)
    stop._ok, stop._value = True, None
    env.schedule(stop, URGENT, at - env._now)
    queue = env._queue
    while True:
        try:
            env._now, _, _, event = heappop(queue)
        except IndexError:      # cannot happen while the stop is queued; as simpy says it
            raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {stop}') from None
        if event is stop:
            stop.callbacks = None
            return
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc


__all__ = ["run_until"]
