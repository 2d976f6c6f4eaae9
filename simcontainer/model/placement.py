"""Admission and placement: which host takes an instance, and what happens when none can.

A placement policy is a plain function ``(hosts, demand, image) -> host or None`` choosing among
the hosts on which the instance fits now (:meth:`HostNode.fits`: RAM, CPU if reserved, and disk
for its missing layers and own disk, counting unused cached images as free since placing it
collects them); pass your own to :class:`Admission` to try another. Ties go to the lowest index.
When nothing fits, the ``admission`` policy decides:

- ``"queue"``: a strict FIFO queue, head-of-line: a large request that does not fit blocks every
  smaller one behind it (no real daemon or scheduler does this; kept as the M/G/c queue of
  :mod:`simcontainer.studies.theory`, and as it was);
- ``"reject"``: turned away at once (M/G/c/c, Erlang B);
- ``"backfill"``: the kube-scheduler's way. Waiting requests are scanned by workload
  ``priority`` (higher first), then arrival (its activeQ order, the PrioritySort plugin); each
  that fits starts, each that does not stays pending while the scan goes on past it. A pending
  request is tried again (``retry``) on every release of room (``"release"``: the scheduler's
  move of unschedulable pods on a cluster event, with no back-off), or (``"backoff"``) only
  after a release *and* its own back-off: 1 s doubling per failed attempt to at most 10 s
  (kube-scheduler's ``podInitialBackoffSeconds`` = 1, ``podMaxBackoffSeconds`` = 10, the
  backoffQ). With ``preemption``, a request that fits nowhere evicts lower-priority running
  instances (:class:`Preemption`);
- ``"none"``: dockerd's: no admission. Every request is placed and starts; RAM (and reserved
  CPU) may be reserved past the host's capacity -- the host is over-committed, and what happens
  then is the memory model's: the engine runs :mod:`simcontainer.model.memory` for every workload, and
  the kernel's OOM killer kills by badness once resident memory passes the host's RAM. Disk must
  still fit (dockerd would fail the pull with ENOSPC; here the request waits for room, as
  backfill).

Sources: kubernetes/kubernetes pkg/scheduler/internal/queue/scheduling_queue.go
(DefaultPodInitialBackoffDuration = 1 s, DefaultPodMaxBackoffDuration = 10 s,
DefaultPodMaxInUnschedulablePodsDuration = 5 min; MoveAllToActiveOrBackoffQueue on cluster
events), staging/src/k8s.io/kube-scheduler/config/v1/types.go (podInitialBackoffSeconds,
podMaxBackoffSeconds), pkg/scheduler/framework/preemption/preemption.go (pickOneNodeForPreemption)
and plugins/defaultpreemption (SelectVictimsOnNode), and
https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import simpy

from simcontainer.model.host import Demand, HostNode
from simcontainer.model.images import Image, Layer
from simcontainer.model.resources import Pool
from simcontainer.scenario.errors import SimcontainerError

Policy = Callable[[Sequence[HostNode], Demand, Image], HostNode | None]


def first_fit(hosts: Sequence[HostNode], d: Demand, image: Image) -> HostNode | None:
    """The lowest-indexed host that fits: fills host 0, then host 1, ..."""
    for h in hosts:
        if h.fits(d, image):
            return h
    return None


def best_fit(hosts: Sequence[HostNode], d: Demand, image: Image) -> HostNode | None:
    """The host left with the least free RAM after placing: packs tightly, keeps big holes for big
    requests."""
    best, best_free = None, 0.0
    for h in hosts:
        if h.fits(d, image):
            free = h.ram.free - d.ram_mib
            if best is None or free < best_free:
                best, best_free = h, free
    return best


def spread(hosts: Sequence[HostNode], d: Demand, image: Image) -> HostNode | None:
    """The host with the most free RAM: evens out load and blast radius."""
    best, best_free = None, 0.0
    for h in hosts:
        if h.fits(d, image):
            free = h.ram.free
            if best is None or free > best_free:
                best, best_free = h, free
    return best


def image_locality(hosts: Sequence[HostNode], d: Demand, image: Image) -> HostNode | None:
    """The host already holding most of the image's bytes — shared base layers count, and so do
    layers another pull is bringing in — so fewer bytes cross the registry link (ties: first fit)."""
    best, best_bytes = None, -1.0
    for h in hosts:
        if h.fits(d, image):
            have = h.store.present_mib(image)
            if have > best_bytes:
                best, best_bytes = h, have
    return best


POLICIES: dict[str, Policy] = {
    "first-fit": first_fit,
    "best-fit": best_fit,
    "spread": spread,
    "image-locality": image_locality,
}


def _checked(policy: Policy) -> Policy:
    """A policy of the user's own, with its answers checked: a host of this cluster on which
    the instance fits, or None -- but not None for ever while every host stands empty and one
    would take it (the run would wait for a release that never comes)."""
    name = getattr(policy, "__name__", repr(policy))

    def checked(hosts: Sequence[HostNode], d: Demand, image: Image) -> HostNode | None:
        host = policy(hosts, d, image)
        if host is None:
            if all(h.ram.used == 0 for h in hosts) and any(h.fits(d, image) for h in hosts):
                raise SimcontainerError(
                    f"placement policy {name}: returned None for an instance that fits an empty host; "
                    "with nothing running, nothing would ever be placed (allowed: a host that fits, "
                    "or None only while hosts are busy)")
            return None
        if not isinstance(host, HostNode) or not any(host is h for h in hosts):
            raise SimcontainerError(f"placement policy {name}: returned {host!r} (allowed: one of the "
                                    "hosts it was given, or None)")
        if not host.fits(d, image):
            raise SimcontainerError(f"placement policy {name}: returned host {host.index}, on which the "
                                    "instance does not fit now (allowed: a host h with h.fits(demand, "
                                    "image), or None)")
        return host

    return checked


class Ticket:
    """A request for room: its demand, and where it landed (set on admission)."""

    __slots__ = ("demand", "image", "host", "owned", "event", "priority", "seq", "tries", "ready_at",
                 "seen", "placed_at")

    def __init__(self, demand: Demand, image: Image, priority: int = 0) -> None:
        self.demand = demand
        self.image = image
        self.host: HostNode | None = None
        self.owned: Sequence[Layer] = ()   # the layers its pull fetches (set on admission)
        self.event: simpy.Event | None = None
        self.priority = priority
        # backfill only (set when it starts waiting): arrival order, failed attempts, back-off
        # expiry, and the release count at its last failed attempt
        self.seq = 0
        self.tries = 0
        self.ready_at = 0.0
        self.seen = 0
        self.placed_at = 0.0    # when it was placed: preemption's "start time" of a victim


# kube-scheduler's defaults (scheduling_queue.go): podInitialBackoffSeconds, podMaxBackoffSeconds
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 10.0


def backoff_s(tries: int) -> float:
    """The kube-scheduler's back-off after ``tries`` failed attempts: 1 s doubling, at most 10 s."""
    return min(BACKOFF_INITIAL_S * 2.0 ** max(tries - 1, 0), BACKOFF_MAX_S)


class _Overcommitted(Pool):
    """A pool that takes every reservation (admission "none"): ``used`` may pass capacity."""

    __slots__ = ()

    def fits(self, amount: float) -> bool:
        return True

    def reserve(self, amount: float, now: float) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: cannot reserve a negative amount ({amount})")
        used = self.used
        self._integral += used * (now - self._t)
        self._t = now
        self.used = used + amount
        if self.used > self.peak:
            self.peak = self.used
        if amount and self.on_change is not None:
            self.on_change(now, amount)


class _Waiting:
    """Backfill's pending requests: one FIFO per (priority, demand, image) class. Requests of one
    class fit or not alike, so a scan tries each class's head and moves past a class that fails."""

    __slots__ = ("classes", "n")

    def __init__(self) -> None:
        self.classes: dict[tuple[int, int, int], deque[Ticket]] = {}
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def __bool__(self) -> bool:
        return self.n > 0

    def add(self, t: Ticket) -> None:
        key = (-t.priority, id(t.demand), id(t.image))
        q = self.classes.get(key)
        if q is None:
            q = self.classes[key] = deque()
            self.classes = dict(sorted(self.classes.items(), key=lambda kv: kv[0][0]))
        q.append(t)
        self.n += 1

    def by_priority(self) -> list[list[deque[Ticket]]]:
        """Non-empty classes grouped by priority, highest first."""
        out: list[list[deque[Ticket]]] = []
        last = None
        for (p, _, _), q in self.classes.items():
            if not q:
                continue
            if p != last:
                out.append([])
                last = p
            out[-1].append(q)
        return out

    def __iter__(self) -> Any:
        for q in self.classes.values():
            yield from q


ADMISSIONS = ("queue", "reject", "backfill", "none")


class Admission:
    """Places tickets on hosts; queues, rejects, backfills or over-commits what does not fit
    (module docstring)."""

    def __init__(self, env: simpy.Environment, hosts: Sequence[HostNode], policy: Policy | str,
                 mode: str = "queue", retry: str = "release") -> None:
        if mode not in ADMISSIONS:
            raise ValueError(f"admission {mode!r} (allowed: {', '.join(ADMISSIONS)})")
        self.env = env
        self.hosts = list(hosts)
        self.policy: Policy = POLICIES[policy] if isinstance(policy, str) else _checked(policy)
        self.mode = mode
        self.retry = retry
        self.queue: Any = deque()
        # One host and a built-in policy: nothing to choose, so the fast path skips the call. A
        # policy of the user's own is always asked (it may decline, or count its calls).
        self.single = self.hosts[0] if len(self.hosts) == 1 and isinstance(policy, str) else None
        self.preemption: Preemption | None = None   # set by the engine when preemption is on
        self.releases = 0           # room-freeing events so far (backfill's cluster events)
        self._seq = 0
        self._timer_at = math.inf
        if mode in ("backfill", "none"):
            self.queue = _Waiting()
            self.admit = self._admit_backfill          # type: ignore[method-assign]
            self._drain = self._drain_backfill         # type: ignore[method-assign]
        if mode == "none":
            for h in self.hosts:        # nothing holds the door: RAM and reserved CPU over-commit
                h.ram.__class__ = _Overcommitted
                if h.cpu_pool is not None:
                    h.cpu_pool.__class__ = _Overcommitted

    def never_fits(self, ticket: Ticket) -> bool:
        if self.mode == "none":     # only the disk is checked
            d, img = ticket.demand, ticket.image
            return not any(d.disk_mib + img.disk_mib <= h.disk.capacity for h in self.hosts)
        return not any(h.could_ever_fit(ticket.demand, ticket.image) for h in self.hosts)

    def admit(self, ticket: Ticket) -> bool | simpy.Event:
        """True: placed now (``ticket.host`` is set). False: rejected. An event: queued."""
        if not self.queue and self._try_place(ticket):
            return True
        if self.mode == "reject" or self.never_fits(ticket):
            return False
        ticket.event = self.env.event()
        self.queue.append(ticket)
        return ticket.event

    def release(self, ticket: Ticket) -> None:
        assert ticket.host is not None
        ticket.host.release(ticket.demand, ticket.image)
        if self.queue:
            self._drain()

    def _try_place(self, ticket: Ticket) -> bool:
        """Place ``ticket`` on a host that fits it now, if there is one."""
        single = self.single
        if single is not None:
            # One host, no policy to consult: fits and reserve in one step.
            owned = single.take(ticket.demand, ticket.image)
            if owned is None:
                return False
            ticket.host = single
            ticket.owned = owned
            ticket.placed_at = self.env.now
            return True
        host = self.policy(self.hosts, ticket.demand, ticket.image)
        if host is None:
            return False
        ticket.host = host
        ticket.owned = host.reserve(ticket.demand, ticket.image)
        ticket.placed_at = self.env.now
        return True

    # ---- backfill (and none) -------------------------------------------------------------

    def _place(self, ticket: Ticket) -> bool:
        """``_try_place`` for backfill: room that evicted victims free is held for the request
        that preempted them (a nominated pod's resources count as used on its node for pods of
        equal or lower priority: the kube-scheduler's filters run with nominated pods)."""
        pre = self.preemption
        if pre is None or not pre.held or id(ticket) in pre.nominated:
            return self._try_place(ticket)
        d, img = ticket.demand, ticket.image
        ok = [h for h in self.hosts if h.ram.fits(d.ram_mib + pre.blocked(h, ticket.priority))]
        if len(ok) == len(self.hosts):
            return self._try_place(ticket)
        host = self.policy(ok, d, img) if ok else None
        if host is None:
            return False
        ticket.host = host
        ticket.owned = host.reserve(d, img)
        ticket.placed_at = self.env.now
        return True

    def _admit_backfill(self, ticket: Ticket) -> bool | simpy.Event:
        single, pre = self.single, self.preemption
        if single is not None and (pre is None or not pre.held):
            # NOTE: ``_place`` and ``_try_place`` for one host with nothing held for a
            # preemptor, inlined (the hot path: one call per request)
            owned = single.take(ticket.demand, ticket.image)
            if owned is not None:
                ticket.host = single
                ticket.owned = owned
                ticket.placed_at = self.env._now
                return True
        elif self._place(ticket):
            return True
        if self.never_fits(ticket):
            return False
        ticket.event = self.env.event()
        self._seq += 1
        ticket.seq = self._seq
        ticket.tries = 0
        self._failed(ticket)
        self.queue.add(ticket)
        if self.preemption is not None:
            self.preemption.try_for(ticket)
        return ticket.event

    def _failed(self, t: Ticket) -> None:
        t.tries += 1
        t.ready_at = self.env.now + backoff_s(t.tries)
        t.seen = self.releases

    def _drain_backfill(self) -> None:
        """A release (or a back-off timer): scan the pending requests by priority, then arrival;
        start each that fits; move past a class that does not (its later members fit no better)."""
        self.releases += 1
        self._scan()

    def _scan(self) -> None:
        waiting: _Waiting = self.queue
        backoff = self.retry == "backoff"
        now = self.env.now
        wake = math.inf
        for level in waiting.by_priority():
            live = list(level)
            while live:
                q = min(live, key=lambda q: q[0].seq)
                t = q[0]
                if backoff:
                    ready = [x for x in q if x.seen < self.releases]
                    due = [x for x in ready if x.ready_at <= now]
                    later = [x.ready_at for x in ready if x.ready_at > now]
                    if later:
                        wake = min(wake, min(later))
                    live.remove(q)
                    for x in due:
                        if self._place(x):
                            q.remove(x)
                            waiting.n -= 1
                            self._placed(x)
                        else:
                            self._failed(x)
                    continue
                if self._place(t):
                    q.popleft()
                    waiting.n -= 1
                    self._placed(t)
                    if not q:
                        live.remove(q)
                else:
                    live.remove(q)
                    if self.preemption is not None:
                        self.preemption.try_for(t)
        if backoff and wake < self._timer_at:
            self._timer_at = wake
            ev = self.env.timeout(wake - now)
            ev.callbacks.append(self._on_timer)

    def _placed(self, t: Ticket) -> None:
        assert t.event is not None
        t.event.succeed(t.host)
        if self.preemption is not None:
            self.preemption.release(t)

    def _on_timer(self, ev: simpy.Event) -> None:
        if self.env.now >= self._timer_at:
            self._timer_at = math.inf
        if self.queue:
            self._scan()

    def _drain(self) -> None:
        queue = self.queue
        while queue:
            ticket = queue[0]
            if not self._try_place(ticket):
                return
            queue.popleft()
            assert ticket.event is not None
            ticket.event.succeed(ticket.host)

    @property
    def waiting(self) -> int:
        return len(self.queue)


# kube-scheduler pickOneNodeForPreemption adds MaxInt32 + 1 to every victim's priority before
# summing, so that all are >= 0: a host with a few victims of a negative priority is not
# preferred to one with fewer victims of that same priority.
_PRIORITY_OFFSET = 2**31


def pick_one_host(candidates: Sequence[tuple[HostNode, Sequence[Ticket]]]
                  ) -> tuple[HostNode, list[Ticket]] | None:
    """The host to preempt on, as the kube-scheduler picks it (pkg/scheduler/framework/
    preemption/preemption.go ``pickOneNodeForPreemption``), each criterion breaking the ties of
    the one before: the lowest priority of the most important victim; the lowest sum of victim
    priorities, each offset by MaxInt32 + 1; the fewest victims; the latest start among the
    most important victims (``GetEarliestPodStartTime`` over the highest-priority ones: the host
    whose earliest such start is latest wins, so long-running work survives); then the first
    candidate."""
    best: tuple[tuple[float, ...], HostNode, list[Ticket]] | None = None
    for host, victims in candidates:
        if not victims:
            continue
        top = max(v.priority for v in victims)
        earliest = min(getattr(v, "placed_at", 0.0) for v in victims if v.priority == top)
        key = (top, sum(v.priority + _PRIORITY_OFFSET for v in victims), len(victims), -earliest)
        if best is None or key < best[0]:
            best = (key, host, list(victims))
    return None if best is None else (best[1], best[2])


class Preemption:
    """The kube-scheduler's preemption for a pending request that fits nowhere.

    On each host, every running instance of lower priority is a candidate; if the request would
    fit with all of them gone, they are reprieved one by one from the most important (highest
    priority, then longest running) while it still fits; those left are the host's victims
    (SelectVictimsOnNode). Among hosts, :func:`pick_one_host` (pickOneNodeForPreemption;
    PodDisruptionBudgets are not modelled). The victims are evicted
    (``evict``: SIGTERM, the grace period, their restart policy acts); the request stays pending,
    nominated, and takes the room when they have exited (the scan goes by priority, so it comes
    first, and until it is placed the room is held from requests of equal or lower priority,
    as the scheduler counts nominated pods on their node). Only room that exits free counts: RAM
    and reserved CPU (a victim's disk stays until it is removed). A nominated request does not
    preempt again.

    ``running(host)`` lists the tickets of the running instances on a host; ``evict(ticket)``
    starts one's eviction and says whether it took; ``record(victim, by, host)`` is told of each.
    """

    def __init__(self, admission: Admission, running: Callable[[HostNode], Iterable[Ticket]],
                 evict: Callable[[Ticket], bool], record: Callable[[Ticket, Ticket, HostNode], None]) -> None:
        self.adm = admission
        self.running = running
        self.evict = evict
        self.record = record
        self.nominated: set[int] = set()
        # per host index: (priority, MiB) held for each nominated request until it is placed
        self.held: dict[int, dict[int, tuple[int, float]]] = {}

    def victims_on(self, host: HostNode, t: Ticket) -> list[Ticket] | None:
        d = t.demand
        disk_need = host.disk_needed(d, t.image)
        if not (host.disk.fits(disk_need) or host.disk.fits(disk_need - host.store.reclaimable_mib(t.image))):
            return None
        cands = [v for v in self.running(host) if v.priority < t.priority]
        if not cands:
            return None
        ram = host.ram.free + sum(v.demand.ram_mib for v in cands)
        cpu_pool = host.cpu_pool
        cpu = (cpu_pool.free + sum(v.demand.admit_cpu for v in cands)) if cpu_pool is not None else math.inf
        eps = 1e-9 * host.ram.capacity
        if ram + eps < d.ram_mib or cpu + 1e-9 < d.admit_cpu:
            return None
        victims = []
        # most important first (MoreImportantPod: higher priority, then earlier start)
        for v in sorted(cands, key=lambda v: (-v.priority, getattr(v, "placed_at", 0.0))):
            if ram - v.demand.ram_mib + eps >= d.ram_mib and cpu - v.demand.admit_cpu + 1e-9 >= d.admit_cpu:
                ram -= v.demand.ram_mib
                cpu -= v.demand.admit_cpu
            else:
                victims.append(v)
        return victims

    def choose(self, t: Ticket) -> tuple[HostNode, list[Ticket]] | None:
        """Where ``t`` would preempt, and whom: each host's victims, then :func:`pick_one_host`."""
        candidates = [(h, victims) for h in self.adm.hosts for victims in (self.victims_on(h, t),) if victims]
        return pick_one_host(candidates)

    def try_for(self, t: Ticket) -> bool:
        if id(t) in self.nominated:
            return False
        best = self.choose(t)
        if best is None:
            return False
        host, victims = best
        self.nominated.add(id(t))
        self.held.setdefault(host.index, {})[id(t)] = (t.priority, t.demand.ram_mib)
        for v in victims:
            if self.evict(v):
                self.record(v, t, host)
        return True

    def blocked(self, host: HostNode, priority: int) -> float:
        """RAM on ``host`` held for nominated requests of ``priority`` or higher."""
        mine = self.held.get(host.index)
        return sum(mib for p, mib in mine.values() if p >= priority) if mine else 0.0

    def release(self, t: Ticket) -> None:
        """``t`` was placed: it holds nothing any more."""
        if id(t) in self.nominated:
            self.nominated.discard(id(t))
            for k in list(self.held):
                self.held[k].pop(id(t), None)
                if not self.held[k]:
                    del self.held[k]


