"""kube-scheduler: a priority queue, one scheduling cycle at a time, binding through the API.

- **Queue** (pkg/scheduler/internal/queue): the activeQ is a heap by priority, then by the time
  the pod entered (PrioritySort). A pod that fits nowhere goes to the unschedulable pods; a
  cluster event (a node added, a pod deleted) moves them to the backoffQ, from which each
  returns to the activeQ after its back-off: ``initial_backoff_s`` doubling per failed attempt up
  to ``max_backoff_s``.
- **Cycle** (schedule_one.go): one pod at a time. Filter plugins run on nodes until
  ``numFeasibleNodesToFind`` feasible ones are found (``percentageOfNodesToScore``), Score
  plugins on those; the cost is ``cycle_base_s + filter_per_node_s x examined +
  score_per_node_s x scored``. When nothing fits, every node was filtered.
- **Choice**: the feasible node with the least requested share (NodeResourcesFit
  LeastAllocated; ties: lowest index), kept in a heap so a cycle costs O(log nodes) of *our*
  time. kube-scheduler scores a sample of ``numFeasibleNodesToFind`` nodes from a rotating start
  and so may pick a node a little fuller than the emptiest; with identical pods the difference is
  one pod per node at most.
- **Bind**: the pod is assumed on its node at once (the next cycle sees it) and bound
  asynchronously with one API write through the scheduler's client bucket.

- **Preemption** (DefaultPreemption): a pod that fits nowhere may have pods of lower priority
  deleted to make room (through the scheduler's client), and waits for them to go.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

import simpy

from simcontainer.model.cluster.apiserver import ApiServer, TokenBucket
from simcontainer.model.cluster.objects import Node, Pod


def nodes_to_find(n: int, percentage: int) -> int:
    """pkg/scheduler/schedule_one.go numFeasibleNodesToFind (minFeasibleNodesToFind = 100,
    minFeasibleNodesPercentageToFind = 5; percentage 0 = adaptive 50 - n/125)."""
    if n < 100 or percentage >= 100:
        return n
    pct = percentage
    if pct == 0:
        pct = max(50 - n // 125, 5)
    return max(n * pct // 100, 100)


class Scheduler:
    def __init__(self, env: simpy.Environment, api: ApiServer, settings: dict[str, Any], qps: float, burst: int,
                 on_bound: Callable[[Pod], None]) -> None:
        self.env = env
        self.api = api
        s = settings
        self.pct = int(s["percentage_of_nodes_to_score"])
        self.base = s["cycle_base_s"]
        self.per_filter = s["filter_per_node_s"]
        self.per_score = s["score_per_node_s"]
        self.initial_backoff = s["initial_backoff_s"]
        self.max_backoff = s["max_backoff_s"]
        self.bucket = TokenBucket(qps, burst)
        self.on_bound = on_bound
        self.active: list[tuple[int, int, Pod]] = []
        self.unschedulable: dict[int, Pod] = {}
        self.marked: dict[int, Pod] = {}       # PodScheduled=False (Unschedulable): what the autoscaler reads
        self.nodes: list[Node] = []            # every Ready node
        self.heap: list[tuple[float, int, int, Node]] = []
        self._seq = 0
        self._wake: simpy.Event | None = None
        self.cycles = 0
        self.failed_cycles = 0
        self.busy_s = 0.0
        self.binds: list[float] = []           # when each bind call answered (throughput)
        self.evict: Callable[[Pod], None] | None = None   # deletes a preemption victim (set by the wiring)
        self.preemptions: list[dict[str, Any]] = []
        self.proc = env.process(self._loop())

    # ---- nodes --------------------------------------------------------------------------------

    def add_node(self, node: Node) -> None:
        self.nodes.append(node)
        self._push(node)
        self.cluster_event()

    def drop_node(self, node: Node) -> None:
        """A node turned NotReady or was removed: no longer a candidate."""
        if node in self.nodes:
            self.nodes.remove(node)
        node.version += 1

    def changed(self, node: Node) -> None:
        node.version += 1
        if node.ready:
            self._push(node)

    def _push(self, node: Node) -> None:
        heapq.heappush(self.heap, (node.score(), node.index, node.version, node))

    def choose(self, pod: Pod) -> Node | None:
        """The least-allocated Ready node on which the pod fits."""
        heap, aside, found = self.heap, [], None
        tpl = pod.template
        while heap:
            score, idx, ver, node = heap[0]
            if ver != node.version or not node.ready:
                heapq.heappop(heap)
                continue
            if node.fits(tpl.cpu, tpl.mem_mib):
                found = node
                break
            aside.append(heapq.heappop(heap))
        for e in aside:
            heapq.heappush(heap, e)
        return found

    # ---- the queue ------------------------------------------------------------------------------

    def add(self, pod: Pod) -> None:
        """The pod's creation reached the scheduler's informer."""
        if pod.deleting:
            return
        pod.queued = self.env.now
        self._activate(pod)

    def _activate(self, pod: Pod) -> None:
        self._seq += 1
        heapq.heappush(self.active, (-pod.priority, self._seq, pod))
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def cluster_event(self) -> None:
        """MoveAllToActiveOrBackoffQueue: every unschedulable pod goes back after its back-off."""
        if not self.unschedulable:
            return
        pods, self.unschedulable = list(self.unschedulable.values()), {}
        for pod in pods:
            node = pod.nominated
            if node is not None and not any(p.deleting for p in node.pods):
                pod.nominated = None         # its victims are gone: it may preempt again if it must
            wait = min(self.initial_backoff * 2 ** (pod.attempts - 1), self.max_backoff)
            ev = self.env.timeout(wait)
            ev.callbacks.append(lambda _e, p=pod: self._activate(p) if not p.deleting else None)

    def cycle_cost(self, feasible: bool) -> float:
        n = len(self.nodes)
        k = min(nodes_to_find(n, self.pct), n)
        if feasible:
            return self.base + self.per_filter * k + self.per_score * k
        return self.base + self.per_filter * n

    def _loop(self) -> Any:
        env = self.env
        while True:
            if not self.active:
                self._wake = env.event()
                yield self._wake
                self._wake = None
                continue
            _, _, pod = heapq.heappop(self.active)
            if pod.deleting or pod.node is not None:
                continue
            node = self.choose(pod)
            cost = self.cycle_cost(node is not None)
            self.cycles += 1
            self.busy_s += cost
            if node is not None:     # assume at once, so that the next cycle counts it
                self.assume(pod, node)
            yield env.timeout(cost)
            if node is None:
                pod.attempts += 1
                self.failed_cycles += 1
                self.unschedulable[pod.id] = pod
                self.marked[pod.id] = pod
                if self.evict is not None and pod.nominated is None:
                    self.preempt(pod)
                continue
            pod.scheduled = env.now
            self.api.call(self.bucket, "scheduler", "bind", lambda _e, p=pod: self._bound(p))

    def preempt(self, pod: Pod) -> None:
        """DefaultPreemption: on a node where deleting pods of lower priority makes room, delete
        the fewest and lowest (SelectVictimsOnNode); among nodes, the one whose most important
        victim matters least, then the fewest victims, then the lowest index
        (pickOneNodeForPreemption). The pod waits, nominated, until its victims are gone."""
        tpl = pod.template
        best: tuple[int, int, int] | None = None
        chosen: list[Pod] = []
        for node in self.nodes:
            lower = sorted((p for p in node.pods if p.priority < pod.priority and not p.deleting),
                           key=lambda p: (p.priority, -p.id))
            if not lower:
                continue
            cpu, mem, count, victims = node.cpu_used, node.mem_used, len(node.pods), []
            for v in lower:
                if count < node.max_pods and cpu + tpl.cpu <= node.cpu + 1e-9 and mem + tpl.mem_mib <= node.mem + 1e-9:
                    break
                victims.append(v)
                cpu, mem, count = cpu - v.template.cpu, mem - v.template.mem_mib, count - 1
            else:
                if not (count < node.max_pods and cpu + tpl.cpu <= node.cpu + 1e-9
                        and mem + tpl.mem_mib <= node.mem + 1e-9):
                    continue
            key = (max(v.priority for v in victims), len(victims), node.index) if victims else None
            if key is not None and (best is None or key < best):
                best, chosen, pod.nominated = key, victims, node
        if not chosen:
            return
        self.preemptions.append({"t_s": self.env.now, "pod": pod.id, "priority": pod.priority,
                                 "node": chosen[0].node.index if chosen[0].node else None,
                                 "victims": [v.id for v in chosen]})
        for v in chosen:
            self.evict(v)

    def assume(self, pod: Pod, node: Node) -> None:
        tpl = pod.template
        self.marked.pop(pod.id, None)
        pod.nominated = None
        pod.node = node
        node.pods.add(pod)
        node.cpu_used += tpl.cpu
        node.mem_used += tpl.mem_mib
        self.changed(node)

    def _bound(self, pod: Pod) -> None:
        self.binds.append(self.env.now)
        self.on_bound(pod)

    def forget(self, pod: Pod) -> None:
        """The pod is gone from its node (deleted and stopped): room on the node again."""
        node = pod.node
        if node is None or pod not in node.pods:
            return
        tpl = pod.template
        node.pods.discard(pod)
        node.cpu_used = max(0.0, node.cpu_used - tpl.cpu)
        node.mem_used = max(0.0, node.mem_used - tpl.mem_mib)
        self.changed(node)
        self.cluster_event()

    def throughput_bound(self) -> float:
        """The most pods per second the configured costs allow in the long run: one cycle at a
        time and one bind call per pod through the client bucket."""
        n = len(self.nodes)
        per_pod = self.cycle_cost(True) if n else math.inf
        return min(1.0 / per_pod if per_pod > 0 else math.inf, self.bucket.qps)


__all__ = ["Scheduler", "nodes_to_find"]
