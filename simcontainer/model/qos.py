"""Kubernetes QoS on a node: the QoS class of a pod, the ``oom_score_adj`` the kubelet writes for
its containers, and the kubelet's node-pressure eviction, which usually acts before the kernel's
OOM killer (:mod:`simcontainer.model.memory` runs both).

Sources: kubernetes pkg/apis/core/v1/helper/qos (``GetPodQOS``), pkg/kubelet/qos/policy.go
(``GetContainerOOMScoreAdjust``), pkg/kubelet/eviction (defaults_linux.go: the hard threshold
``memory.available<100Mi``; helpers.go ``rankMemoryPressure``; eviction_manager.go: one pod per
monitoring pass, every 10 s) and https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from simcontainer.model.daemon import Instance
    from simcontainer.model.memory import HostMemory, Memory
    from simcontainer.scenario.schema import Workload

# pkg/kubelet/qos/policy.go
GUARANTEED_OOM_SCORE_ADJ = -997
BESTEFFORT_OOM_SCORE_ADJ = 1000


Container = tuple["float | None", "float | None", "float | None", "float | None"]   # cpu req, cpu lim, mem req, mem lim


def pod_qos(containers: list[Container]) -> str:
    """A pod's QoS class (pkg/apis/core/v1/helper/qos ``GetPodQOS``), from each container's
    (cpu request, cpu limit, memory request, memory limit); only CPU and memory count, and only
    quantities above zero. ``BestEffort``: no request and no limit at all; ``Guaranteed``:
    every container limits both CPU and memory and the summed requests equal the summed limits
    for each resource requested (as the API server's defaulting writes requests from limits);
    else ``Burstable``."""
    req: dict[str, float] = {}
    lim: dict[str, float] = {}
    guaranteed = True
    for cpu_req, cpu_lim, mem_req, mem_lim in containers:
        for name, q in (("cpu", cpu_req), ("memory", mem_req)):
            if q:
                req[name] = req.get(name, 0.0) + q
        found = set()
        for name, q in (("cpu", cpu_lim), ("memory", mem_lim)):
            if q:
                found.add(name)
                lim[name] = lim.get(name, 0.0) + q
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not req and not lim:
        return "BestEffort"
    if guaranteed and all(lim.get(k) == v for k, v in req.items()) and len(req) == len(lim):
        return "Guaranteed"
    return "Burstable"


def qos_class(cpu_request: float | None, cpu_limit: float | None, mem_request: float | None,
              mem_limit: float | None) -> str:
    """The QoS class of a one-container pod (:func:`pod_qos`)."""
    return pod_qos([(cpu_request, cpu_limit, mem_request, mem_limit)])


def container_oom_score_adj(qos: str, mem_request: float, mem_capacity: float, critical: bool = False) -> int:
    """``GetContainerOOMScoreAdjust``: Guaranteed (and node-critical) -997, BestEffort 1000;
    Burstable 1000 - 1000 x request / capacity (integer division, as the kubelet's int64),
    kept within 1000 + (-997) = 3 and 999."""
    if critical or qos == "Guaranteed":
        return GUARANTEED_OOM_SCORE_ADJ
    if qos == "BestEffort":
        return BESTEFFORT_OOM_SCORE_ADJ
    adj = 1000 - (1000 * int(mem_request)) // int(mem_capacity)
    if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ:
        return 1000 + GUARANTEED_OOM_SCORE_ADJ
    if adj == BESTEFFORT_OOM_SCORE_ADJ:
        return adj - 1
    return adj


def workload_qos(w: Workload) -> str:
    """A workload's QoS class as a pod: its memory request is ``mem_request_mib`` (else
    ``mem_mib``, what it reserves), its CPU request ``cpu_request`` (else ``cpu``); limits
    ``mem_limit_mib`` and ``cpu_limit``."""
    cpu_req = getattr(w, "cpu_request", None)
    return qos_class(w.cpu if cpu_req is None else cpu_req, w.cpu_limit,
                     w.mem_request_mib if w.mem_request_mib is not None else w.mem_mib, w.mem_limit_mib)


def mem_request_mib(w: Workload) -> float:
    return w.mem_request_mib if w.mem_request_mib is not None else w.mem_mib


@dataclass(frozen=True)
class EvictionThresholds:
    """The kubelet's node-pressure eviction on ``memory.available`` (node RAM not in use):
    hard (evict at once, no grace) by default 100 MiB (pkg/kubelet/eviction/defaults_linux.go
    ``memory.available<100Mi``); soft (none by default) evicts once the signal stayed below it
    for ``soft_grace_s``. Checked every ``monitor_s`` (the eviction manager's 10 s monitoring
    period)."""

    hard_mib: float = 100.0
    soft_mib: float | None = None
    soft_grace_s: float = 0.0
    monitor_s: float = 10.0


EVICTION_KEYS = ("exceeds", "priority", "memory")


def eviction_order(pods: list[tuple[Any, float, float, int]], by: tuple[str, ...] = EVICTION_KEYS) -> list[Any]:
    """Who the kubelet evicts first under memory pressure (pkg/kubelet/eviction/helpers.go
    ``rankMemoryPressure`` = ``orderedBy(exceedMemoryRequests, priority, memory)``): pods whose
    usage exceeds their request first; then lower priority first; then the larger usage above
    request. ``pods``: (pod, usage MiB, request MiB, priority); ``by``: the comparators, in
    order (a subset, as the kubelet's own tests sort); a stable sort."""
    keys = {"exceeds": lambda p: not p[1] > p[2], "priority": lambda p: p[3], "memory": lambda p: -(p[1] - p[2])}
    return [p[0] for p in sorted(pods, key=lambda p: tuple(keys[k](p) for k in by))]


def is_pod(inst: Instance) -> bool:
    """Whether the instance's plane is one that manages pods as the kubelet does (its class says
    so with ``sets_oom_score_adj``): QoS-derived oom_score_adj and node-pressure eviction."""
    host = inst.host
    if host is None or not host.planes:
        return False
    return bool(getattr(host.planes[inst.plan.plane], "sets_oom_score_adj", False))


def oom_score_adj_of(inst: Instance) -> int:
    """The instance's oom_score_adj: the one its plane writes (the kubelet's from the pod's QoS
    class and the node's RAM; a plane class says so with ``sets_oom_score_adj``), else the
    workload's own."""
    w = inst.plan.workload
    if not is_pod(inst):
        return w.oom_score_adj
    assert inst.host is not None
    return container_oom_score_adj(workload_qos(w), mem_request_mib(w), inst.host.spec.ram_mib)



def eviction_monitor(mm: Memory, hm: HostMemory) -> Generator[simpy.Event, Any, None]:
    """The kubelet's eviction manager on one host, while pods run there: every ``monitor_s`` it
    reads ``memory.available`` (the host's RAM less reserved, less what is in use); below the
    hard threshold, or below the soft one for its grace period, it evicts one pod, the first in
    :func:`eviction_order`, and waits for the next pass."""
    th: EvictionThresholds = mm.eviction
    env = mm.env
    below_since: float | None = None
    while True:
        yield env.timeout(th.monitor_s)
        pods = [m for m in hm.members.values() if m.pod and m.inst.id not in mm.evicting]
        if not any(m.pod for m in hm.members.values()):
            hm.evict_proc = None
            return
        available = hm.capacity - hm.used()
        hard = available < th.hard_mib
        soft = False
        if th.soft_mib is not None and available < th.soft_mib:
            below_since = env.now if below_since is None else below_since
            soft = env.now - below_since >= th.soft_grace_s
        else:
            below_since = None
        if not (hard or soft) or not pods:
            continue
        ranked = eviction_order([(m, m.resident(), mem_request_mib(m.inst.plan.workload) + m.fixed,
                                  m.inst.plan.workload.priority) for m in pods])
        mm.evict_member(hm, ranked[0], "hard" if hard else "soft", available)


__all__ = ["BESTEFFORT_OOM_SCORE_ADJ", "EVICTION_KEYS", "pod_qos", "EvictionThresholds", "GUARANTEED_OOM_SCORE_ADJ", "container_oom_score_adj",
           "eviction_monitor", "eviction_order", "is_pod", "mem_request_mib", "oom_score_adj_of", "qos_class", "workload_qos"]
