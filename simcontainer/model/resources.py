"""Host resources: fair-share rate resources, capacity pools and counting slots.

* :class:`FairShare` — CPU cores, disk bandwidth, the registry link. Work items (core-seconds,
  MiB) progress at their fair share of the capacity (processor sharing), each capped at its own
  maximum rate (water-filling). Persistent *loads* (a running app's CPU demand) take their share
  too but never finish. Next to what it serves it keeps what is *asked* (every item's and load's
  cap), so that a result can say when demand exceeded capacity and who got less than it asked.
  Items with the same cap progress at the same rate, so each cap class keeps a virtual clock and
  a heap of finish marks: an arrival or departure costs O(k + log n) with k the number of
  distinct caps (a handful: one per runtime phase and per workload), not O(n).
* :class:`Pool` — RAM and disk space: a level with reservations that never leaves [0, capacity].
* :class:`Slots` — a counting semaphore with a FIFO queue (API workers, download slots, the
  daemon's lock) that grants a free slot without creating an event.

All three avoid simpy processes of their own: they schedule plain events with callbacks, which is
what keeps the engine near bare simpy speed.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

import simpy
from simpy.core import NORMAL
from simpy.events import Event

_REL_EPS = 1e-9
_heappush = heapq.heappush
_heappop = heapq.heappop
_INF = math.inf


class _CapClass:
    """Items sharing one rate cap: same per-item rate, one virtual clock."""

    __slots__ = ("cap", "share", "level", "heap", "v", "rate", "loads", "count", "ask", "log_t", "log_v")

    def __init__(self, cap: float, capacity: float, share: float = 1.0) -> None:
        self.cap = cap
        self.share = share   # each item's weight (cgroup cpu.weight): rate = min(cap, share x level)
        self.level = cap / share   # the water level at which its items reach their cap
        self.heap: list[tuple[float, int, simpy.Event]] = []  # (finish mark, seq, event)
        self.v = 0.0         # work each item of this class has received since the class was made
        self.rate = 0.0      # current per-item rate
        self.loads = 0.0     # persistent items (weight: how many), e.g. running apps
        self.count = 0.0     # len(heap) + loads, kept up to date (read on every change)
        self.ask = capacity if cap == _INF else cap   # the rate one item asks for (uncapped: all)
        # (time, v) at every load change: what one load received between two such times is the
        # difference of v, so a run's summary can say what each app got without a per-app hook.
        self.log_t = array("d")
        self.log_v = array("d")


class FairShare:
    """Processor sharing with per-item rate caps.

    ``request(work, cap)`` returns an event that fires when ``work`` units have been served, or
    ``None`` when there is no work (so the caller can skip a yield). ``add_load(cap)`` adds a
    persistent consumer that takes up to ``cap`` units/s until ``remove_load(cap)``.
    ``on_change(now, busy_delta)`` is told whenever the allocated total changes, and
    ``on_excess(now, delta)`` whenever the asked total beyond the capacity does.

    *Asked* is what the items and loads would take on an idle resource of unbounded capacity: each
    its cap (an uncapped item: the whole capacity). ``asked`` is that total now, ``asked_s`` its
    integral over time (beside ``busy`` and ``served``); it exceeds the capacity when demand does.
    Water-filling hands out ``busy = min(asked, capacity)`` exactly, so the asked total over time
    is the busy series plus the excess series: recording only the excess costs nothing while
    demand stays within capacity (most of the time, in most runs).

    Cost per arrival or departure: O(k + log n) for n items in k cap classes (k is a handful:
    one per distinct phase cap and per workload load; it does not grow with n). At most one timer
    is armed, never later than the next completion: when arrivals push the completion later,
    the armed timer stays and re-arms itself when it fires (one event instead of one per
    change); when a change brings it earlier, a new timer is armed and the old one is muted.
    """

    def __init__(self, env: simpy.Environment, capacity: float, name: str = "",
                 on_change: Callable[[float, float], None] | None = None) -> None:
        if not capacity > 0:
            raise ValueError(f"{name}: capacity must be > 0, got {capacity}")
        self.env = env
        self.capacity = float(capacity)
        self.name = name
        self.on_change = on_change
        self.on_excess: Callable[[float, float], None] | None = None
        self._classes: dict[float, _CapClass] = {}
        self._order: list[_CapClass] = []   # by cap, ascending (water-filling order)
        self._t = env.now
        self._seq = 0
        self._timer_at = _INF
        self._timer: Event | None = None    # the armed timer, if any: fires at _armed_at
        self._armed_at = _INF               # (<= _timer_at, the next completion's time)
        self.busy = 0.0                    # units/s allocated now
        self.served = 0.0                  # integral of busy over time
        self.asked = 0.0                   # units/s asked now (see the class docstring)
        self.asked_s = 0.0                 # integral of asked over time
        self.items = 0                     # finite items in service

    # ---- public API -------------------------------------------------------------------

    def request(self, work: float, cap: float = _INF, share: float = 1.0) -> simpy.Event | None:
        if work <= 0:
            return None
        self._advance()
        key = cap if share == 1.0 else (cap, share)
        cls = self._classes.get(key) or self._class(cap, share)
        ev = Event(self.env)
        self._seq += 1
        _heappush(cls.heap, (cls.v + work, self._seq, ev))
        cls.count += 1
        self.items += 1
        self._ask(cls.ask)
        self._reshare()
        return ev

    def add_load(self, cap: float, weight: float = 1.0, share: float = 1.0) -> None:
        """``weight``: how many loads; ``share``: each one's weight in the sharing."""
        if cap <= 0:
            return
        self._advance()
        key = cap if share == 1.0 else (cap, share)
        cls = self._classes.get(key) or self._class(cap, share)
        cls.loads += weight
        cls.count = len(cls.heap) + cls.loads
        cls.log_t.append(self._t)
        cls.log_v.append(cls.v)
        self._ask(cls.ask * weight)
        self._reshare()

    def remove_load(self, cap: float, weight: float = 1.0, share: float = 1.0) -> None:
        if cap <= 0:
            return
        self._advance()
        cls = self._classes[cap if share == 1.0 else (cap, share)]
        cls.loads -= weight
        if cls.loads < 1e-9:
            cls.loads = 0.0
        cls.count = len(cls.heap) + cls.loads
        cls.log_t.append(self._t)
        cls.log_v.append(cls.v)
        self._ask(-cls.ask * weight)
        self._reshare()

    def utilisation(self) -> float:
        return self.busy / self.capacity

    def settle(self) -> None:
        """Bring ``served`` up to the current time (call before reading it)."""
        self._advance()

    def clock(self, cap: float, share: float = 1.0) -> float:
        """Work one item of cap class ``cap`` (and ``share``) has received so far (its virtual
        clock, brought up to now); 0 for a class that never existed."""
        self._advance()
        cls = self._classes.get(cap if share == 1.0 else (cap, share))
        return 0.0 if cls is None else cls.v

    def rates(self) -> dict[Any, float]:
        """Per-item rate of each cap class that has items or loads (for tests and views), by cap
        (or (cap, share) for a class of weighted items)."""
        return {(c.cap if c.share == 1.0 else (c.cap, c.share)): c.rate for c in self._order if c.count > 0}

    def load_log(self, cap: float, share: float = 1.0) -> tuple[array, array, float]:
        """``(times, clocks, clock now)`` of the loads of cap ``cap``: the class's virtual clock
        (work one load has received so far) at every time a load of that cap was added or
        removed, and now. A load on from t0 to t1 received ``clock(t1) - clock(t0)``."""
        self._advance()
        cls = self._classes.get(cap if share == 1.0 else (cap, share))
        if cls is None:
            return array("d"), array("d"), 0.0
        return cls.log_t, cls.log_v, cls.v

    # ---- internals --------------------------------------------------------------------

    def _ask(self, delta: float) -> None:
        """Change the asked total (after ``_advance``: the integral is up to date)."""
        old = self.asked
        new = old + delta
        cap = self.capacity
        if new < 1e-9 * cap:        # rounding: what is left when all have gone is 0
            new = 0.0
        self.asked = new
        if self.on_excess is not None and (new > cap or old > cap):
            self.on_excess(self._t, (new - cap if new > cap else 0.0) - (old - cap if old > cap else 0.0))

    def _class(self, cap: float, share: float = 1.0) -> _CapClass:
        key = cap if share == 1.0 else (cap, share)
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = _CapClass(cap, self.capacity, share)
            self._order.append(cls)
            self._order.sort(key=lambda c: c.level)
        return cls

    def _advance(self) -> None:
        now = self.env._now
        dt = now - self._t
        if dt > 0:
            for cls in self._order:
                if cls.rate:
                    cls.v += cls.rate * dt
            self.served += self.busy * dt
            self.asked_s += self.asked * dt
            self._t = now

    def _reshare(self) -> None:
        """Weighted water-filling: the level is capacity per unit of weight; classes whose cap
        is below their share of it (``cap / share <= level``) get their cap. With every share 1
        this is plain max-min fairness (the arithmetic is the same: x 1.0 is exact)."""
        order = self._order
        remaining = self.capacity
        n = 0.0
        for cls in order:
            n += cls.count * cls.share
        busy = 0.0
        level = _INF
        for cls in order:
            c = cls.count
            if c <= 0:
                cls.rate = 0.0
                continue
            if level == _INF:
                fair = remaining / n
                if cls.level <= fair:
                    cap = cls.cap
                    cls.rate = cap
                    remaining -= cap * c
                    n -= c * cls.share
                    busy += cap * c
                    continue
                level = fair
            rate = cls.rate = level * cls.share
            busy += rate * c
        if busy != self.busy:
            if self.on_change is not None:
                self.on_change(self.env._now, busy - self.busy)
            self.busy = busy
        # Schedule the next completion: the soonest head of any class.
        best = _INF
        for cls in order:
            if cls.heap and cls.rate > 0:
                dt = (cls.heap[0][0] - cls.v) / cls.rate
                if dt < best:
                    best = dt
        if best == _INF:
            self._timer_at = _INF      # an armed timer, if any, will find nothing to do
            return
        if best < 0.0:
            best = 0.0
        at = self.env._now + best
        if at == self._timer_at:
            return  # the pending timer is still right
        self._timer_at = at
        if self._timer is not None:
            if self._armed_at <= at:
                return  # the armed timer fires first and re-arms for ``at`` (no new event now)
            self._timer.callbacks.clear()   # it would fire too late: let it pass through silently
        self._arm(at)

    def _arm(self, at: float) -> None:
        """What ``env.timeout(at - now)`` does, without its checks and its class: a triggered
        event in simpy's queue at exactly ``at``."""
        env = self.env
        timer = Event(env)
        timer._ok = True
        timer._value = None
        timer.callbacks.append(self._on_timer)
        _heappush(env._queue, (at, NORMAL, next(env._eid), timer))
        self._timer = timer
        self._armed_at = at

    def _on_timer(self, ev: Event) -> None:
        if ev is not self._timer:
            return  # superseded by an earlier completion
        self._timer = None
        at = self._timer_at
        if at > self.env._now:
            # Armed for a completion that has since moved later (arrivals slowed everyone):
            # nothing is due; wait for the new time. One event, not one per change.
            if at != _INF:
                self._arm(at)
            return
        self._advance()
        done: list[simpy.Event] = []
        # The class whose item was due finishes it even if rounding left a sliver of work.
        soonest: _CapClass | None = None
        soonest_dt = _INF
        for cls in self._order:
            if cls.heap and cls.rate > 0:
                dt = (cls.heap[0][0] - cls.v) / cls.rate
                if dt < soonest_dt:
                    soonest, soonest_dt = cls, dt
        for cls in self._order:
            heap = cls.heap
            if not heap:
                continue
            v = cls.v
            tol = _REL_EPS * max(1.0, abs(v))
            popped = 0
            while heap and (heap[0][0] - v <= tol or cls is soonest):
                done.append(_heappop(heap)[2])
                popped += 1
                soonest = None if cls is soonest else soonest
            if popped:
                cls.count = len(heap) + cls.loads
                self._ask(-cls.ask * popped)
        self.items -= len(done)
        self._timer_at = _INF
        self._reshare()
        for ev in done:
            ev.succeed()


class Pool:
    """A capacity pool (RAM, disk space): reservations keep ``used`` within [0, capacity].

    Tracks its own peak and time integral so that means cost nothing at the end of a run.
    """

    __slots__ = ("capacity", "used", "name", "peak", "_integral", "_t", "on_change")

    def __init__(self, capacity: float, name: str = "",
                 on_change: Callable[[float, float], None] | None = None) -> None:
        if not capacity > 0:
            raise ValueError(f"{name}: capacity must be > 0, got {capacity}")
        self.capacity = float(capacity)
        self.used = 0.0
        self.name = name
        self.peak = 0.0
        self._integral = 0.0
        self._t = 0.0
        self.on_change = on_change

    @property
    def free(self) -> float:
        return self.capacity - self.used

    def fits(self, amount: float) -> bool:
        return self.used + amount <= self.capacity * (1 + _REL_EPS)

    def reserve(self, amount: float, now: float) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: cannot reserve a negative amount ({amount})")
        used = self.used
        cap = self.capacity
        if not used + amount <= cap * (1 + _REL_EPS):     # ``fits``, inlined
            raise RuntimeError(f"{self.name}: reserving {amount} over {used} exceeds capacity {cap}")
        # update the integral, level and peak in place (this runs twice per admission)
        value = used + amount
        delta = value - used
        self._integral += used * (now - self._t)
        self._t = now
        used = self.used = cap if cap < value else value   # min(value, cap)
        if used > self.peak:
            self.peak = used
        if delta and self.on_change is not None:
            self.on_change(now, delta)

    def release(self, amount: float, now: float) -> None:
        used = self.used
        if amount < 0 or amount > used * (1 + _REL_EPS) + 1e-6:
            raise RuntimeError(f"{self.name}: releasing {amount} but only {used} is reserved")
        value = used - amount
        if value < 0.0:     # max(value, 0.0)
            value = 0.0
        # value <= used <= capacity: no clamp to capacity, no new peak (this runs on every removal)
        self._integral += used * (now - self._t)
        self._t = now
        self.used = value
        delta = value - used
        if delta and self.on_change is not None:
            self.on_change(now, delta)

    def mean(self, until: float) -> float:
        """Time-average of ``used`` over [0, until]."""
        if until <= 0:
            return self.used
        return (self._integral + self.used * (until - self._t)) / until


class Slots:
    """A counting semaphore with FIFO waiters.

    ``acquire()`` returns ``None`` when a slot is free (no event is made), else an event that
    fires when one is handed over. ``release()`` hands the slot to the longest waiter.
    """

    __slots__ = ("env", "capacity", "free", "waiters")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self.env = env
        self.capacity = capacity
        self.free = capacity
        self.waiters: deque[simpy.Event] = deque()

    def acquire(self) -> simpy.Event | None:
        if self.free > 0:
            self.free -= 1
            return None
        ev = self.env.event()
        self.waiters.append(ev)
        return ev

    def release(self) -> None:
        if self.waiters:
            self.waiters.popleft().succeed()
        else:
            self.free += 1

    def cancel(self, ev: simpy.Event) -> None:
        """Withdraw a wait (the waiter was interrupted): leave the queue, or hand back the slot
        if it was handed over in the same instant."""
        try:
            self.waiters.remove(ev)
        except ValueError:
            if ev.triggered:
                self.release()

    @property
    def in_use(self) -> int:
        return self.capacity - self.free

    @property
    def queued(self) -> int:
        return len(self.waiters)


def rate_share(capacity: float, caps: list[float], shares: list[float] | None = None) -> list[float]:
    """Reference (weighted) water-filling allocation (for tests and the closed-form views)."""
    w = shares if shares is not None else [1.0] * len(caps)
    order = sorted(range(len(caps)), key=lambda i: caps[i] / w[i])
    out = [0.0] * len(caps)
    remaining, n = capacity, float(sum(w))
    for i in order:
        share = remaining / n * w[i] if n > 0 else 0.0
        out[i] = min(caps[i], share)
        remaining -= out[i]
        n -= w[i]
    return out


__all__: list[Any] = ["FairShare", "Pool", "Slots", "rate_share"]
