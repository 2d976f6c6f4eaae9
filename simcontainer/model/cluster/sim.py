"""Wiring the cluster's parts on one simpy environment, running it, and its result.

``simulate_cluster(scenario)`` resolves the ``[cluster]`` section, builds the nodes of every
pool, the API server, scheduler, controllers, kubelets, node lifecycle controller and
autoscaler, creates the Deployments and Jobs at their times, fails nodes as the scenario says,
and runs to the horizon. Same scenario and seed: the same result (every draw comes from a
stream of the scenario's seed, split by purpose).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from simcontainer.model.cluster.apiserver import ApiServer
from simcontainer.model.cluster.controllers import (
    Controllers,
    DeploymentState,
    JobState,
    ReplicaSet,
)
from simcontainer.model.cluster.nodes import Autoscaler, Kubelet, NodeLifecycle
from simcontainer.model.cluster.objects import (
    FAILED,
    GONE,
    PHASES,
    RUNNING,
    SUCCEEDED,
    TERMINATING,
    Draws,
    Node,
    Pod,
)
from simcontainer.model.cluster.params import Params, PoolSpec, resolve
from simcontainer.model.cluster.results import summarise
from simcontainer.model.cluster.scheduler import Scheduler
from simcontainer.scenario.profiles import Catalogue
from simcontainer.scenario.schema import Scenario

STOP_S = 0.2   # a deleted pod's containers stopped and its sandbox removed (kubelet teardown + runtime
#               stop, models/control-planes/kubelet.toml and the runtime's stop: ~0.1 s each)


class CountingEnvironment(simpy.Environment):
    """A simpy environment that counts the events it schedules (the events/s figure)."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def schedule(self, event: simpy.Event, priority: int = 1, delay: float = 0) -> None:
        self.scheduled += 1
        super().schedule(event, priority, delay)


class ClusterSim:
    """One cluster on one simpy environment: its parts, its pods and nodes, what it recorded."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.env = env = CountingEnvironment()
        seqs = np.random.SeedSequence(params.seed).spawn(5)
        self.api_stream, self.phase_stream, self.pleg_stream, self.misc_stream, self.hb_stream = (Draws(s) for s in seqs)
        cluster = params.cluster
        assert cluster is not None
        self.prepulled = cluster.prepulled
        self.registry_free = 0.0     # when the registry's egress has sent what it was asked for
        self.api = ApiServer(env, params.api_server, params.watch, self.api_stream)
        cl = params.clients
        self.scheduler = Scheduler(env, self.api, params.scheduler, cl["scheduler_qps"], cl["scheduler_burst"],
                                   self._bound)
        self.controllers = Controllers(env, self.api, params.controllers, cl["controller_qps"],
                                       cl["controller_burst"], self._new_pod, self.scheduler.add, self._deleted)
        self.scheduler.evict = lambda pod: self.controllers.delete_pod(
            pod, "delete pod (preemption)", self.scheduler.bucket, "scheduler")
        self.kubelet = Kubelet(self, params.kubelet)
        self.lifecycle = NodeLifecycle(self, params.node_lifecycle)
        self.nodes: list[Node] = []
        self.by_pool: dict[str, list[Node]] = {p.name: [] for p in params.pools}
        for spec in params.pools:
            for _ in range(spec.count):
                self.add_node(spec)
        self.autoscaler = Autoscaler(self, params.autoscaler)
        self.pods: list[Pod] = []
        self.counts = [0] * len(PHASES)
        self.samples: list[tuple[float, ...]] = []
        # actual availability per Deployment, at every change: (t, deployment index, available, active)
        self.avail_log: array = array("d")
        self.actual: dict[int, int] = {}

    # ---- helpers -------------------------------------------------------------------------------

    def at(self, delay: float, fn: Callable[[Any], None]) -> None:
        ev = self.env.timeout(max(0.0, delay))
        ev.callbacks.append(fn)

    def pool_nodes(self, pool: str) -> list[Node]:
        return [n for n in self.by_pool[pool] if n.removed != n.removed and n.alive]

    def add_node(self, spec: PoolSpec) -> Node:
        cl = self.params.clients
        node = Node(len(self.nodes), spec, spec.cpu, spec.mem_mib, spec.max_pods, cl["kubelet_qps"],
                    cl["kubelet_burst"], self.env.now, spec.cpu_speed)
        node.hb_offset = self.env.now + self.hb_stream.uniform() * self.params.node_lifecycle["heartbeat_s"]
        self.nodes.append(node)
        self.by_pool[spec.name].append(node)
        self.scheduler.add_node(node)
        return node

    def remove_node(self, node: Node) -> None:
        """The autoscaler drains and deletes a node."""
        node.ready = False
        self.scheduler.drop_node(node)
        for p in sorted(node.pods, key=lambda q: q.id):
            if not p.deleting:
                self.controllers.delete_pod(p, "evict pod")
        node.removed = self.env.now

    def set_phase(self, pod: Pod, phase: int) -> None:
        self.counts[pod.phase] -= 1
        pod.phase = phase
        self.counts[phase] += 1

    # ---- pods ----------------------------------------------------------------------------------

    def _new_pod(self, owner: ReplicaSet | JobState) -> Pod:
        pod = Pod(len(self.pods), owner, owner.rev, owner.template, owner.image, owner.priority, self.env.now)
        self.pods.append(pod)
        self.counts[0] += 1
        if isinstance(owner, ReplicaSet):
            self._actual(owner, 0, 1)
        return pod

    def _bound(self, pod: Pod) -> None:
        self.scheduler.marked.pop(pod.id, None)
        self.at(self.api.watch(), lambda _e: self.kubelet.bound(pod))

    def observed_running(self, pod: Pod) -> None:
        if pod.deleting or pod.node is None or not pod.node.alive:
            return
        pod.running = self.env.now
        self.set_phase(pod, RUNNING)
        owner = pod.owner
        if isinstance(owner, JobState):
            ok = owner.spec.fail_fraction == 0 or self.misc_stream.uniform() >= owner.spec.fail_fraction
            self.at(owner.spec.run_s, lambda _e: self.kubelet.finish(pod, ok))
            return
        self.controllers.set_available(pod, True)
        self._actual(owner, +1, 0)
        self.controllers.pod_changed(pod)

    def observed_finished(self, pod: Pod, ok: bool) -> None:
        """A Job pod's Succeeded (or Failed) status reached the Job controller."""
        owner = pod.owner
        assert isinstance(owner, JobState)
        pod.ended = self.env.now
        self.set_phase(pod, SUCCEEDED if ok else FAILED)
        owner.pods.discard(pod)
        self.scheduler.forget(pod)
        if ok:
            owner.succeeded += 1
        else:
            self.controllers.job_failed_pod(owner)
        self.controllers.job_queue.add(owner)

    def actually_down(self, pod: Pod) -> None:
        """The pod's node died under it: not serving from now, whatever the API says."""
        if pod.phase == RUNNING and isinstance(pod.owner, ReplicaSet):
            self._actual(pod.owner, -1, 0)
        pod.ended = self.env.now

    def _actual(self, rs: ReplicaSet, d_avail: int, d_active: int) -> None:
        dep = rs.owner
        key = id(dep)
        self.actual[key] = self.actual.get(key, 0) + d_avail
        # active: its pods not asked to be deleted (the one being created counts already)
        self.avail_log.extend((self.env.now, float(self.controllers.deployments.index(dep)), float(self.actual[key]),
                               float(sum(len(r.pods) for r in dep.sets) + d_active)))

    def _deleted(self, pod: Pod) -> None:
        """The delete call answered: the pod is terminating; its kubelet stops it (if its node
        lives) and the scheduler's cache frees its room."""
        node = pod.node
        was_running = pod.phase == RUNNING
        self.set_phase(pod, TERMINATING)
        if was_running and isinstance(pod.owner, ReplicaSet) and (node is None or node.alive):
            self._actual(pod.owner, -1, 0)
        self.controllers.pod_changed(pod, gone=True)
        if node is not None and not node.alive:
            return       # stays Terminating: nobody confirms the stop on a dead node
        self.at(self.api.watch() + STOP_S, lambda _e: self._gone(pod))

    def _gone(self, pod: Pod) -> None:
        pod.ended = self.env.now
        self.set_phase(pod, GONE)
        self.scheduler.marked.pop(pod.id, None)
        self.scheduler.forget(pod)

    # ---- the scenario's script -----------------------------------------------------------------

    def script(self) -> None:
        cluster = self.params.cluster
        assert cluster is not None
        ctl = self.controllers
        for spec in cluster.deployments:
            dep = ctl.add_deployment(spec, self.params.templates[spec.workload])
            self.at(spec.at_s, lambda _e, d=dep: ctl.new_revision(d, d.template.image))
            if spec.update_at_s is not None:
                self.at(spec.update_at_s, lambda _e, d=dep, s=spec: ctl.new_revision(d, s.update_image or d.template.image))
            if spec.scale_to is not None:
                self.at(spec.scale_at_s, lambda _e, d=dep, s=spec: self._scale(d, s.scale_to))
        for spec in cluster.jobs:
            job = ctl.add_job(spec, self.params.templates[spec.workload])
            self.at(spec.at_s, lambda _e, j=job: self._start_job(j))
        pools = {p.name: p for p in self.params.pools}
        for f in cluster.node_failures:
            pool = f.pool or self.params.pools[0].name
            self.at(f.at_s, lambda _e, f=f, pool=pool: self._fail(pools[pool].name, f.node, f.count))
        self.env.process(self._sampler(cluster.sample_s))

    def _scale(self, dep: DeploymentState, replicas: int) -> None:
        dep.replicas = replicas
        self.controllers.begin(dep, f"scale to {replicas}")

    def _start_job(self, job: JobState) -> None:
        job.started = self.env.now
        self.controllers.job_queue.add(job)

    def _fail(self, pool: str, first: int, count: int) -> None:
        for node in self.by_pool[pool][first:first + count]:
            self.lifecycle.fail(node)

    def _sampler(self, every: float) -> Any:
        while True:
            self.samples.append((self.env.now, *self.counts))
            yield self.env.timeout(every)

    def run(self) -> dict[str, Any]:
        self.script()
        wall = time.perf_counter()
        self.env.run(until=self.params.horizon_s)
        wall = time.perf_counter() - wall
        return summarise(self, wall)


def simulate_cluster(scenario: Scenario, catalogue: Catalogue | None = None, seed: int | None = None
                     ) -> dict[str, Any]:
    """Run the scenario's ``[cluster]``: the result dict (see :func:`results.summarise`)."""
    params = resolve(scenario if seed is None else scenario.model_copy(update={"seed": seed}), catalogue)
    return ClusterSim(params).run()


def build(scenario: Scenario, catalogue: Catalogue | None = None) -> ClusterSim:
    """The wired cluster, not yet run (tests and studies look inside: :meth:`ClusterSim.run`)."""
    return ClusterSim(resolve(scenario, catalogue))


__all__ = ["ClusterSim", "CountingEnvironment", "build", "simulate_cluster"]
