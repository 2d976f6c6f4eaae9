"""The API objects the parts pass around: pods and nodes, with the times Kubernetes stamps on them.

A pod's times are simulated seconds (NaN until reached): ``asked`` (its controller decided to
create it), ``created`` (the create call answered: creationTimestamp), ``scheduled`` (the
scheduler chose its node), ``bound`` (the kubelet saw the binding), ``started`` (its containers
started on the node), ``running`` (the Running status observed through a watch: the pod-startup
SLI's end), ``ended`` (deleted or finished). ``pull_s`` is the time it waited for its image.
"""

from __future__ import annotations

import math

import numpy as np

from simcontainer.model.cluster.apiserver import TokenBucket

NAN = math.nan

# phases, as "pods by phase" counts them
PENDING, CREATING, RUNNING, TERMINATING, SUCCEEDED, GONE, FAILED = range(7)
PHASES = ("pending", "creating", "running", "terminating", "succeeded", "gone", "failed")


class Draws:
    """Buffered standard normals, exponentials and uniforms from one generator."""

    __slots__ = ("_rng", "_n", "_ni", "_e", "_ei", "_u", "_ui")

    def __init__(self, seq: np.random.SeedSequence) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seq))
        self._n: list[float] = []
        self._e: list[float] = []
        self._u: list[float] = []
        self._ni = self._ei = self._ui = 0

    def normal(self) -> float:
        if self._ni >= len(self._n):
            self._n, self._ni = self._rng.standard_normal(4096).tolist(), 0
        self._ni += 1
        return self._n[self._ni - 1]

    def exponential(self) -> float:
        if self._ei >= len(self._e):
            self._e, self._ei = self._rng.standard_exponential(4096).tolist(), 0
        self._ei += 1
        return self._e[self._ei - 1]

    def uniform(self) -> float:
        if self._ui >= len(self._u):
            self._u, self._ui = self._rng.random(4096).tolist(), 0
        self._ui += 1
        return self._u[self._ui - 1]


class Pod:
    __slots__ = ("id", "owner", "rev", "template", "image", "priority", "node", "phase", "asked", "created",
                 "queued", "scheduled", "bound", "started", "running", "ended", "pull_s", "attempts",
                 "deleting", "available", "nominated")

    def __init__(self, pid: int, owner: object, rev: int, template: object, image: str, priority: int,
                 asked: float) -> None:
        self.id = pid
        self.owner = owner
        self.rev = rev
        self.template = template
        self.image = image
        self.priority = priority
        self.node: Node | None = None
        self.phase = PENDING
        self.asked = asked
        self.created = NAN
        self.queued = NAN
        self.scheduled = NAN
        self.bound = NAN
        self.started = NAN
        self.running = NAN
        self.ended = NAN
        self.pull_s = 0.0
        self.attempts = 0
        self.deleting = False      # its controller asked for its deletion
        self.available = False     # running and observed ready, and not deleted
        self.nominated: Node | None = None   # the node its preemption is making room on


class Node:
    """A node: allocatable resources and what the scheduler has placed on it, its kubelet's
    client bucket, image cache, serialized pulls and IPAM lock, and its health."""

    __slots__ = ("index", "pool", "cpu", "mem", "max_pods", "cpu_used", "mem_used", "pods", "ready", "alive",
                 "images", "pull_free", "ipam_free", "bucket", "version", "added", "removed", "failed",
                 "hb_offset", "unneeded_since", "speed", "cores")

    def __init__(self, index: int, pool: object, cpu: float, mem: float, max_pods: int, qps: float, burst: int,
                 added: float, speed: float) -> None:
        self.index = index
        self.pool = pool
        self.cpu = cpu
        self.mem = mem
        self.max_pods = max_pods
        self.cpu_used = 0.0
        self.mem_used = 0.0
        self.pods: set[Pod] = set()
        self.ready = True
        self.alive = True
        self.images: dict[str, float] = {}   # image -> when it is (or will be) present
        self.pull_free = 0.0                 # serialized pulls: when the puller is free
        self.ipam_free = 0.0                 # host-local IPAM lock: when it is free
        self.bucket = TokenBucket(qps, burst)
        self.version = 0
        self.added = added
        self.removed = NAN
        self.failed = NAN
        self.hb_offset = 0.0
        self.unneeded_since = NAN
        self.speed = speed
        # when each core is next free of pod-start CPU work (kubelet, containerd, runc): a heap
        self.cores = [0.0] * max(1, int(cpu))

    def fits(self, cpu: float, mem: float) -> bool:
        return (len(self.pods) < self.max_pods and self.cpu_used + cpu <= self.cpu + 1e-9
                and self.mem_used + mem <= self.mem + 1e-9)

    def score(self) -> float:
        """NodeResourcesFit's LeastAllocated in reverse: the requested share (lower is better)."""
        return (self.cpu_used / self.cpu + self.mem_used / self.mem) / 2 if self.cpu and self.mem else 0.0

    def utilization(self) -> float:
        """The cluster autoscaler's: requested / allocatable, the larger of CPU and memory."""
        return max(self.cpu_used / self.cpu if self.cpu else 0.0, self.mem_used / self.mem if self.mem else 0.0)


__all__ = ["CREATING", "Draws", "FAILED", "GONE", "NAN", "PENDING", "PHASES", "RUNNING", "SUCCEEDED", "TERMINATING", "Node", "Pod"]
