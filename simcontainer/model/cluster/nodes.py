"""What runs on and watches the nodes: the kubelet's pod start, node lifecycle, the autoscaler.

**Kubelet (a lean per-node part).** The full per-host lifecycle (:mod:`simcontainer.model.daemon` on a
:class:`~simcontainer.model.host.HostNode`) carries fair-share CPU, disk and network models per host;
5,000 of them under 150,000 pods is more than one core does in minutes, so a node here keeps
only what serializes a pod start on a node: image pulls one at a time (``serializeImagePulls``;
the pull time of an image on the node's link, models/images.toml sizes; with a registry egress
cap, the registry sends the cluster's pulls one after another at that rate), then the kubelet
plane's phases from models/control-planes/kubelet.toml (sandbox, CRI calls) and the runtime's
create, the CNI ADD with its ``serial_s`` under the node's IPAM lock, the runtime's start. The
CPU work of a start (the phases' ``cpu_s`` at the node's ``cpu_speed``) queues for the node's
cores, first come first served, one core per start (work-conserving like the fair share for a
burst; the running apps' own CPU use is not counted against it). Then
the PLEG notices the start (a relist every second), the kubelet writes the pod status through
its own client bucket, and watchers see it after the watch delay.

**Node lifecycle.** Each kubelet renews its lease every ``heartbeat_s``; the node lifecycle
controller checks every ``monitor_period_s`` and marks a node NotReady (and its pods not ready)
once its last heartbeat is older than ``grace_s`` (node-monitor-grace-period), and taints it
``node.kubernetes.io/unreachable:NoExecute``; pods tolerate that for ``toleration_s``, then are
evicted (deleted) and their ReplicaSets create replacements, scheduled elsewhere. Heartbeats are
computed in closed form (no event per heartbeat); their API writes are counted.

**Cluster autoscaler.** Every ``scan_interval_s``: when pods are unschedulable, add nodes to an
autoscaled pool (enough for the pending pods' requests, up to ``max_count``), Ready after the
pool's provisioning time; a node whose requested share stayed below ``utilization_threshold``
for ``unneeded_s`` (and not within ``delay_after_add_s`` of a scale-up) is drained and removed
when its pods fit on the other nodes.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING, Any

from simcontainer.model.cluster.objects import NAN, Node, Pod

# cluster-autoscaler --max-empty-bulk-delete default 10; a node with pods is drained one per scan
EMPTY_BULK_DELETE = 10

if TYPE_CHECKING:
    from simcontainer.model.cluster.sim import ClusterSim


def start_delay(sim: ClusterSim, pod: Pod, node: Node) -> tuple[float, float, float]:
    """(pull wait, latency up to the IPAM lock, latency after the lock) of a pod start."""
    tpl = pod.template
    now = sim.env.now
    if sim.prepulled:
        ready = now
    else:
        have = node.images.get(pod.image)
        if have is not None:
            ready = max(now, have)
        else:
            start = max(now, node.pull_free)
            pull = sim.params.pulls[(node.pool.name, pod.image)]
            done = start + pull.trips_s + pull.download_s
            egress = sim.params.registry_mib_s
            if egress:      # the registry sends one pull after another at its egress rate (a shared pipe)
                sent = max(start + pull.trips_s, sim.registry_free) + pull.mib / egress
                sim.registry_free = sent
                done = max(done, sent)
            ready = done + pull.extract_s
            node.pull_free = ready
            node.images[pod.image] = ready
    stream = sim.phase_stream
    speed = node.speed
    cpu_before = sum(p.cpu_s for p in tpl.phases) / speed
    cpu_after = (tpl.network.cpu_s + sum(p.cpu_s for p in tpl.after)) / speed
    free = heapq.heappop(node.cores)             # the core that frees first takes the start's work
    begin = max(ready, free)
    heapq.heappush(node.cores, begin + cpu_before + cpu_after)
    before = begin - ready + sum(p.latency(stream) for p in tpl.phases) + cpu_before
    after = tpl.network.latency(stream) + cpu_after + sum(p.latency(stream) for p in tpl.after) + tpl.ready_s
    return ready - now, before, after


class Kubelet:
    """The kubelets of every node, as one part (their state lives on the :class:`Node`)."""

    def __init__(self, sim: ClusterSim, settings: dict[str, Any]) -> None:
        self.sim = sim
        self.pleg = settings["pleg_relist_s"]
        self.status_s = settings["status_update_s"]

    def bound(self, pod: Pod) -> None:
        """The binding reached the node's kubelet."""
        sim = self.sim
        node = pod.node
        if pod.deleting or node is None or not node.alive:
            return
        pod.bound = sim.env.now
        sim.set_phase(pod, 1)
        pull, before, after = start_delay(sim, pod, node)
        pod.pull_s = pull
        sim.at(pull + before, lambda _e: self._network(pod, after))

    def _network(self, pod: Pod, after: float) -> None:
        sim = self.sim
        node = pod.node
        if pod.deleting or node is None or not node.alive:
            return
        now = sim.env.now
        serial = pod.template.network.serial_s
        start = max(now, node.ipam_free)
        node.ipam_free = start + serial
        started = start + serial + after
        pod.started = started
        seen = self.pleg * sim.pleg_stream.uniform() + self.status_s
        sim.at(started - now + seen, lambda _e: self._report(pod))

    def _report(self, pod: Pod) -> None:
        sim = self.sim
        node = pod.node
        if pod.deleting or node is None or not node.alive:
            return
        sim.api.call(node.bucket, "kubelet", "update pod status", lambda _e: sim.observed_running(pod))

    def finish(self, pod: Pod, ok: bool = True) -> None:
        """A Job pod's container exited (0, or not: ``ok``): the kubelet reports Succeeded or
        Failed."""
        sim = self.sim
        node = pod.node
        if pod.deleting or node is None or not node.alive:
            return
        sim.api.call(node.bucket, "kubelet", "update pod status", lambda _e: sim.observed_finished(pod, ok))


class NodeLifecycle:
    """The node lifecycle controller and taint-based eviction, for nodes that fail."""

    def __init__(self, sim: ClusterSim, settings: dict[str, Any]) -> None:
        self.sim = sim
        self.hb = settings["heartbeat_s"]
        self.period = settings["monitor_period_s"]
        self.grace = settings["grace_s"]
        self.toleration = settings["toleration_s"]
        self.monitor_offset = sim.misc_stream.uniform() * self.period
        self.timelines: list[dict[str, Any]] = []

    def last_heartbeat(self, node: Node, t: float) -> float:
        k = math.floor((t - node.hb_offset) / self.hb)
        return max(node.added, node.hb_offset + k * self.hb)

    def heartbeats(self, node: Node, until: float) -> int:
        end = min(until, node.failed if node.failed == node.failed else until,
                  node.removed if node.removed == node.removed else until)
        return max(0, math.floor((end - node.hb_offset) / self.hb) - math.floor((node.added - node.hb_offset) / self.hb))

    def fail(self, node: Node) -> None:
        """The node dies now: its pods stop, its heartbeats stop."""
        sim = self.sim
        now = sim.env.now
        if not node.alive:
            return
        node.alive = False
        node.failed = now
        pods = [p for p in node.pods if not p.deleting]
        for p in pods:
            sim.actually_down(p)
        last = self.last_heartbeat(node, now)
        due = last + self.grace
        # the first monitor pass that finds the lease older than the grace period
        k = math.floor((due - self.monitor_offset) / self.period) + 1
        not_ready = max(now, self.monitor_offset + k * self.period)
        line = {"node": node.index, "pool": node.pool.name, "failed_s": now, "last_heartbeat_s": last,
                "not_ready_s": not_ready, "tainted_s": not_ready, "evict_due_s": not_ready + self.toleration,
                "pods": len(pods), "pod_ids": [p.id for p in pods], "owners": {id(p.owner) for p in pods}}
        self.timelines.append(line)
        sim.at(not_ready - now, lambda _e: self._not_ready(node, line))

    def _not_ready(self, node: Node, line: dict[str, Any]) -> None:
        sim = self.sim
        node.ready = False
        sim.scheduler.drop_node(node)
        for p in list(node.pods):
            if not p.deleting:     # MarkPodsNotReady: a status write each
                sim.api.cost(sim.controllers.bucket, "controller-manager", "update pod status")
                sim.controllers.set_available(p, False)
                sim.controllers.pod_changed(p)
        sim.at(self.toleration, lambda _e: self._evict(node, line))

    def _evict(self, node: Node, line: dict[str, Any]) -> None:
        sim = self.sim
        line["evicted_s"] = sim.env.now
        for p in sorted(node.pods, key=lambda q: q.id):
            if not p.deleting:
                sim.controllers.delete_pod(p, "evict pod")


def _per_node(tpl: Any, cpu: float, mem: float, pods: int) -> int:
    """How many pods of a template fit in this much room."""
    k = pods
    if tpl.cpu > 0:
        k = min(k, math.floor((cpu + 1e-9) / tpl.cpu))
    if tpl.mem_mib > 0:
        k = min(k, math.floor((mem + 1e-9) / tpl.mem_mib))
    return max(0, k)


class Autoscaler:
    """cluster-autoscaler over the pools that have bounds."""

    def __init__(self, sim: ClusterSim, settings: dict[str, Any]) -> None:
        self.sim = sim
        self.scan = settings["scan_interval_s"]
        self.unneeded = settings["unneeded_s"]
        self.delay_after_add = settings["delay_after_add_s"]
        self.threshold = settings["utilization_threshold"]
        self.pools = [p for p in sim.params.pools if p.autoscaled]
        self.upcoming: dict[str, int] = {p.name: 0 for p in self.pools}
        self.last_up = -math.inf
        self.scale_ups: list[dict[str, Any]] = []
        self.scale_downs: list[dict[str, Any]] = []
        self.scans: list[tuple[float, int, float]] = []    # (t, node, utilization) of autoscaled nodes
        if self.pools:
            sim.env.process(self._loop())

    def _loop(self) -> Any:
        env = self.sim.env
        while True:
            yield env.timeout(self.scan)
            self.scale_up()
            self.scale_down()

    def scale_up(self) -> None:
        """Pods that fit on no Ready node (each node's free room packed with them, per pod
        template) need new nodes of an autoscaled pool (the first with room: packed onto fresh
        nodes of it); nodes already on their way count."""
        sim = self.sim
        waiting = [p for p in sim.scheduler.marked.values() if not p.deleting and p.node is None]
        if not waiting:
            return
        left = self._left_over(waiting, [n for n in sim.scheduler.nodes if n.ready])
        for spec in self.pools:
            need = 0
            for tpl, n in left.items():
                per = _per_node(tpl, spec.cpu, spec.mem_mib, spec.max_pods)
                if per > 0:     # a pod a node of this pool could never hold is not its business
                    need += math.ceil(n / per)
            room = spec.max_count - len(sim.pool_nodes(spec.name)) - self.upcoming[spec.name]
            add = min(room, need - self.upcoming[spec.name])
            if need == 0 or room <= 0:
                continue
            if add <= 0:
                return
            now = sim.env.now
            self.upcoming[spec.name] += add
            self.last_up = now
            self.scale_ups.append({"t_s": now, "pool": spec.name, "nodes": add, "unschedulable_pods": len(waiting),
                                   "ready_s": now + spec.provision_s})
            for _ in range(add):
                sim.at(spec.provision_s, lambda _e, s=spec: self._ready(s))
            return

    @staticmethod
    def _left_over(pods: list[Pod], nodes: list[Node]) -> dict[Any, int]:
        """Per pod template, how many of ``pods`` the nodes' free room cannot hold."""
        free = [[n.cpu - n.cpu_used, n.mem - n.mem_used, n.max_pods - len(n.pods)] for n in nodes]
        counts: dict[Any, int] = {}
        for p in pods:
            counts[p.template] = counts.get(p.template, 0) + 1
        left = {}
        for tpl, n in counts.items():
            for room in free:
                if n == 0:
                    break
                k = min(n, _per_node(tpl, room[0], room[1], room[2]))
                if k > 0:
                    room[0] -= k * tpl.cpu
                    room[1] -= k * tpl.mem_mib
                    room[2] -= k
                    n -= k
            if n:
                left[tpl] = n
        return left

    def _ready(self, spec: Any) -> None:
        self.upcoming[spec.name] -= 1
        self.sim.add_node(spec)

    def scale_down(self) -> None:
        sim = self.sim
        now = sim.env.now
        cool = now - self.last_up >= self.delay_after_add
        for spec in self.pools:
            nodes = [n for n in sim.pool_nodes(spec.name) if n.ready]
            left = len(nodes) - spec.min_count
            empty_left, busy_left = EMPTY_BULK_DELETE, 1
            for node in nodes:
                u = node.utilization()
                self.scans.append((now, node.index, u))
                if u >= self.threshold:
                    node.unneeded_since = NAN
                    continue
                if node.unneeded_since != node.unneeded_since:
                    node.unneeded_since = now
                quota = empty_left if not node.pods else busy_left
                if (cool and left > 0 and quota > 0 and now - node.unneeded_since >= self.unneeded
                        and self._fits_elsewhere(node)):
                    if node.pods:
                        busy_left -= 1
                    else:
                        empty_left -= 1
                    self.scale_downs.append({"t_s": now, "pool": spec.name, "node": node.index,
                                             "unneeded_since_s": node.unneeded_since, "pods": len(node.pods)})
                    sim.remove_node(node)
                    left -= 1

    def _fits_elsewhere(self, node: Node) -> bool:
        """Its pods fit in the free room of the other Ready nodes (node by node, as scale-up packs)."""
        others = [n for n in self.sim.scheduler.nodes if n is not node and n.ready]
        return not self._left_over(list(node.pods), others)


__all__ = ["Autoscaler", "Kubelet", "NodeLifecycle", "start_delay"]
