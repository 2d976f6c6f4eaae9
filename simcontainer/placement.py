"""Admission and placement: which host takes an instance, and what happens when none can.

A placement policy is a plain function ``(hosts, demand, image) -> host or None`` choosing among
the hosts on which the instance fits now (:meth:`HostNode.fits`: RAM, CPU if reserved, and disk
for its missing layers and own disk, counting unused cached images as free since placing it
collects them); pass your own to :class:`Admission` to try another. Ties go to the lowest index.
When nothing fits, ``admission = "queue"`` holds the request in a FIFO queue (head-of-line: a
large request is not overtaken by smaller ones behind it) and ``"reject"`` turns it away.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import simpy

from simcontainer.host import Demand, HostNode
from simcontainer.images import Image, Layer

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
    from simcontainer.errors import SimcontainerError

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

    __slots__ = ("demand", "image", "host", "owned", "event")

    def __init__(self, demand: Demand, image: Image) -> None:
        self.demand = demand
        self.image = image
        self.host: HostNode | None = None
        self.owned: Sequence[Layer] = ()   # the layers its pull fetches (set on admission)
        self.event: simpy.Event | None = None


class Admission:
    """Places tickets on hosts; queues (FIFO) or rejects what does not fit."""

    def __init__(self, env: simpy.Environment, hosts: Sequence[HostNode], policy: Policy | str,
                 mode: str = "queue") -> None:
        self.env = env
        self.hosts = list(hosts)
        self.policy: Policy = POLICIES[policy] if isinstance(policy, str) else _checked(policy)
        self.mode = mode
        self.queue: deque[Ticket] = deque()
        # One host and a built-in policy: nothing to choose, so the fast path skips the call. A
        # policy of the user's own is always asked (it may decline, or count its calls).
        self.single = self.hosts[0] if len(self.hosts) == 1 and isinstance(policy, str) else None

    def never_fits(self, ticket: Ticket) -> bool:
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
            return True
        host = self.policy(self.hosts, ticket.demand, ticket.image)
        if host is None:
            return False
        ticket.host = host
        ticket.owned = host.reserve(ticket.demand, ticket.image)
        return True

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
