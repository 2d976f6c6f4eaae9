"""kube-controller-manager's workload controllers: Deployment, ReplicaSet and Job.

They share one client bucket (``--kube-api-qps`` / ``--kube-api-burst``): every pod create,
pod delete and ReplicaSet scale is a write through it.

- **ReplicaSet** (pkg/controller/replicaset): a sync compares the pods it owns with its
  ``replicas`` and creates (or deletes) at most ``burst_replicas`` pods, creates in slow-start
  batches of 1, 2, 4, ... (each batch's calls in parallel; the next batch after the whole batch
  answered). Deletions pick unscheduled pods first, then not-yet-available ones, then the newest.
  ``replicaset_syncs`` workers sync ReplicaSets at once.
- **Deployment** (pkg/controller/deployment/rolling.go): a rolling update scales the new
  ReplicaSet up while the ReplicaSets' replicas sum to at most ``replicas + maxSurge``, and old
  ones down while at least ``replicas - maxUnavailable`` pods stay available
  (reconcileNewReplicaSet, reconcileOldReplicaSets with cleanupUnhealthyReplicas and
  scaleDownOldReplicaSetsForRollingUpdate).
- **Job** (pkg/controller/job): keeps ``parallelism`` pods running until ``completions`` succeeded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import simpy

from simcontainer.model.cluster.apiserver import ApiServer, TokenBucket
from simcontainer.model.cluster.objects import NAN, PENDING, Pod
from simcontainer.model.cluster.params import PodTemplate, fraction


class WorkQueue:
    """A controller's work queue with N workers: a key is queued at most once at a time, and a key
    being synced is queued again (not synced twice at once) if it changes meanwhile."""

    def __init__(self, env: simpy.Environment, workers: int, sync: Callable[[Any], Any]) -> None:
        self.env = env
        self.sync = sync
        self.queue: deque[Any] = deque()
        self.queued: set[int] = set()
        self.busy: set[int] = set()
        self.idle: list[simpy.Event] = []
        for _ in range(workers):
            env.process(self._worker())

    def add(self, key: Any) -> None:
        k = id(key)
        if k in self.queued:
            return
        self.queued.add(k)
        self.queue.append(key)
        if self.idle:
            self.idle.pop().succeed()

    def _worker(self) -> Any:
        while True:
            key = None
            for _ in range(len(self.queue)):      # the first key not being synced by another worker
                cand = self.queue.popleft()
                if id(cand) in self.busy:
                    self.queue.append(cand)      # being synced: try it after the others
                    continue
                key = cand
                break
            if key is None:
                ev = self.env.event()
                self.idle.append(ev)
                yield ev
                continue
            self.queued.discard(id(key))
            self.busy.add(id(key))
            try:
                steps = self.sync(key)       # a generator when the sync waits (creates pods), else None
                if steps is not None:
                    yield from steps
            finally:
                self.busy.discard(id(key))
                if self.queue and self.idle:
                    self.idle.pop().succeed()


class ReplicaSet:
    __slots__ = ("name", "owner", "rev", "template", "image", "priority", "replicas", "pods", "created_at",
                 "n_available", "seen", "writes", "seen_write")

    def __init__(self, name: str, owner: Any, rev: int, template: PodTemplate, image: str, priority: int,
                 now: float) -> None:
        self.name = name
        self.owner = owner
        self.rev = rev
        self.template = template
        self.image = image
        self.priority = priority
        self.replicas = 0           # spec.replicas as last written to the API
        self.seen = 0               # spec.replicas as the controllers' informers have it
        self.writes = 0             # writes issued, and the last one the informers delivered
        self.seen_write = 0
        self.pods: set[Pod] = set()  # its pods not asked to be deleted
        self.created_at = now
        self.n_available = 0        # of its pods, those available (as its status reports them)

    def available(self) -> int:
        return self.n_available


class DeploymentState:
    def __init__(self, spec: Any, template: PodTemplate, max_surge: int | str, max_unavailable: int | str) -> None:
        self.spec = spec
        self.name = spec.name
        self.template = template
        self.replicas = spec.replicas
        self.max_surge_spec = max_surge
        self.max_unavailable_spec = max_unavailable
        self.sets: list[ReplicaSet] = []
        self.new: ReplicaSet | None = None
        self.started = NAN
        self.done = NAN           # all replicas of the newest revision available, old ones gone
        self.history: list[tuple[float, int, int, int]] = []   # (t, spec sum, active pods, available)
        self.rollouts: list[dict[str, Any]] = []    # one per revision or scale change: started, done

    def bounds(self) -> tuple[int, int]:
        surge = fraction(self.max_surge_spec, self.replicas, True)
        unavailable = fraction(self.max_unavailable_spec, self.replicas, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable


class JobState:
    def __init__(self, spec: Any, template: PodTemplate) -> None:
        self.spec = spec
        self.name = spec.name
        self.template = template
        self.image = template.image
        self.priority = spec.priority
        self.rev = 0
        self.pods: set[Pod] = set()
        self.succeeded = 0
        self.failed = 0
        self.next_create = 0.0      # after a failure: no new pod before its back-off ends
        self.status = "Running"
        self.started = NAN
        self.done = NAN


class Controllers:
    """The controller manager: work queues, its client bucket and the pod create/delete calls."""

    def __init__(self, env: simpy.Environment, api: ApiServer, settings: dict[str, Any], qps: float, burst: int,
                 new_pod: Callable[..., Pod], on_created: Callable[[Pod], None],
                 on_delete: Callable[[Pod], None]) -> None:
        self.env = env
        self.api = api
        self.bucket = TokenBucket(qps, burst)
        self.burst_replicas = settings["burst_replicas"]
        self.job_backoff_limit = settings["job_backoff_limit"]
        self.job_backoff = settings["job_backoff_s"]
        self.job_max_backoff = settings["job_max_backoff_s"]
        self.default_surge = settings["max_surge"]
        self.default_unavailable = settings["max_unavailable"]
        self.new_pod = new_pod
        self.on_created = on_created
        self.on_delete = on_delete
        self.rs_queue = WorkQueue(env, settings["replicaset_syncs"], self._sync_rs)
        self.dep_queue = WorkQueue(env, settings["deployment_syncs"], self._sync_deployment)
        self.job_queue = WorkQueue(env, settings["job_syncs"], self._sync_job)
        self.deployments: list[DeploymentState] = []
        self.jobs: list[JobState] = []

    # ---- pods ----------------------------------------------------------------------------------

    def create_pods(self, owner: Any, n: int) -> Any:
        """Slow-start batches of creates through the bucket; each pod reaches the scheduler when
        its create answered and the watch delivered it."""
        env, done, size = self.env, 0, 1
        while done < n:
            batch = min(size, n - done)
            longest = 0.0
            for _ in range(batch):
                pod = self.new_pod(owner)
                owner.pods.add(pod)
                d = self.api.cost(self.bucket, "controller-manager", "create pod")
                pod.created = env.now + d
                ev = env.timeout(d + self.api.watch())
                ev.callbacks.append(lambda _e, p=pod: self.on_created(p))
                longest = max(longest, d)
            done += batch
            size *= 2
            yield env.timeout(longest)

    def delete_pod(self, pod: Pod, verb: str = "delete pod", bucket: TokenBucket | None = None,
                   client: str = "controller-manager") -> float:
        """Ask for a pod's deletion (by default through the controller manager's bucket); it
        stops being counted by its owner at once and is terminating when the call answers."""
        pod.deleting = True
        self.set_available(pod, False)
        pod.owner.pods.discard(pod)
        d = self.api.cost(bucket or self.bucket, client, verb)
        ev = self.env.timeout(d)
        ev.callbacks.append(lambda _e, p=pod: self.on_delete(p))
        return d

    # ---- ReplicaSet ----------------------------------------------------------------------------

    def _sync_rs(self, rs: ReplicaSet) -> Any:
        diff = rs.seen - len(rs.pods)
        if diff > 0:
            yield from self.create_pods(rs, min(diff, self.burst_replicas))
        elif diff < 0:
            for pod in sorted(rs.pods, key=_deletion_rank)[:min(-diff, self.burst_replicas)]:
                self.delete_pod(pod)
        if rs.seen != len(rs.pods):
            self.rs_queue.add(rs)

    def scale(self, rs: ReplicaSet, replicas: int) -> None:
        """The Deployment controller writes a ReplicaSet's replicas; both controllers' informers
        see the write after the call and the watch (in write order, as etcd's revisions)."""
        if replicas == rs.replicas:
            return
        rs.replicas = replicas
        rs.writes += 1
        n = rs.writes
        d = self.api.cost(self.bucket, "controller-manager", "update replicaset") + self.api.watch()
        ev = self.env.timeout(d)
        ev.callbacks.append(lambda _e: self._seen(rs, n, replicas))

    def _seen(self, rs: ReplicaSet, n: int, replicas: int) -> None:
        if n <= rs.seen_write:
            return
        rs.seen_write = n
        rs.seen = replicas
        self.rs_queue.add(rs)
        self.dep_queue.add(rs.owner)

    # ---- Deployment ----------------------------------------------------------------------------

    def add_deployment(self, spec: Any, template: PodTemplate) -> DeploymentState:
        dep = DeploymentState(spec, template, spec.max_surge if spec.max_surge is not None else self.default_surge,
                              spec.max_unavailable if spec.max_unavailable is not None else self.default_unavailable)
        self.deployments.append(dep)
        return dep

    def new_revision(self, dep: DeploymentState, image: str) -> None:
        rs = ReplicaSet(f"{dep.name}-{len(dep.sets) + 1}", dep, len(dep.sets) + 1, dep.template, image,
                        dep.spec.priority, self.env.now)
        dep.sets.append(rs)
        dep.new = rs
        self.begin(dep, f"revision {rs.rev}")

    def begin(self, dep: DeploymentState, what: str) -> None:
        dep.started = self.env.now
        dep.done = NAN
        dep.rollouts.append({"what": what, "replicas": dep.replicas, "started_s": dep.started, "done_s": None,
                             "rollout_s": None})
        self.dep_queue.add(dep)

    def _sync_deployment(self, dep: DeploymentState) -> None:
        self.reconcile(dep)       # no waiting: its writes go out through self.scale

    def reconcile(self, dep: DeploymentState) -> None:
        """rolloutRolling on the ReplicaSets as the informer has them (``seen``); a write in this
        sync updates the local copy, as the controller keeps the object the API returned."""
        new = dep.new
        if new is None:
            return
        surge, unavailable = dep.bounds()
        spec = {id(rs): rs.seen for rs in dep.sets}

        def set_to(rs: ReplicaSet, n: int) -> None:
            spec[id(rs)] = n
            self.scale(rs, n)

        olds = [rs for rs in dep.sets if rs is not new]
        # reconcileNewReplicaSet
        if spec[id(new)] > dep.replicas:
            set_to(new, dep.replicas)
        elif spec[id(new)] < dep.replicas:
            up = min(dep.replicas + surge - sum(spec.values()), dep.replicas - spec[id(new)])
            if up > 0:
                set_to(new, spec[id(new)] + up)
        # reconcileOldReplicaSets: maxScaledDown from the replicas as written, so a sync before an
        # old ReplicaSet's pods are gone cannot scale it down twice
        if any(spec[id(rs)] for rs in olds):
            min_available = dep.replicas - unavailable
            budget = sum(spec.values()) - min_available - (spec[id(new)] - new.available())
            for rs in sorted(olds, key=lambda r: r.created_at):       # cleanupUnhealthyReplicas
                cut = min(spec[id(rs)] - rs.available(), budget, spec[id(rs)])
                if cut > 0:
                    set_to(rs, spec[id(rs)] - cut)
                    budget -= cut
            down = min(sum(rs.available() for rs in dep.sets) - min_available, budget)
            for rs in sorted(olds, key=lambda r: r.created_at):       # scaleDownOldReplicaSetsForRollingUpdate
                cut = min(spec[id(rs)], down)
                if cut > 0:
                    set_to(rs, spec[id(rs)] - cut)
                    down -= cut
        self.note(dep)

    def note(self, dep: DeploymentState) -> None:
        """Record the Deployment's counts, and whether its rollout is complete."""
        new = dep.new
        spec = sum(rs.replicas for rs in dep.sets)
        active = sum(len(rs.pods) for rs in dep.sets)
        available = sum(rs.available() for rs in dep.sets)
        dep.history.append((self.env.now, spec, active, available))
        if (dep.done != dep.done and new is not None and new.seen == dep.replicas
                and new.available() == dep.replicas and len(new.pods) == dep.replicas
                and all(not rs.pods for rs in dep.sets if rs is not new)):
            dep.done = self.env.now
            if dep.rollouts:
                dep.rollouts[-1].update(done_s=dep.done, rollout_s=dep.done - dep.started)

    @staticmethod
    def set_available(pod: Pod, flag: bool) -> None:
        """The pod's Ready condition as its owner's status counts it."""
        if pod.available == flag:
            return
        pod.available = flag
        owner = pod.owner
        if isinstance(owner, ReplicaSet) and pod in owner.pods:
            owner.n_available += 1 if flag else -1

    def pod_changed(self, pod: Pod, gone: bool = False) -> None:
        """A pod's availability changed (or, ``gone``, it was deleted): its owner resyncs."""
        owner = pod.owner
        if isinstance(owner, ReplicaSet):
            if gone:
                self.rs_queue.add(owner)
            self.dep_queue.add(owner.owner)
        elif isinstance(owner, JobState):
            self.job_queue.add(owner)

    # ---- Job -----------------------------------------------------------------------------------

    def add_job(self, spec: Any, template: PodTemplate) -> JobState:
        job = JobState(spec, template)
        self.jobs.append(job)
        return job

    def job_failed_pod(self, job: JobState) -> None:
        """A pod of the Job failed: the next is created after the back-off (10 s doubling to
        6 min per failure); past ``backoffLimit`` failures the Job fails."""
        job.failed += 1
        limit = job.spec.backoff_limit if job.spec.backoff_limit is not None else self.job_backoff_limit
        if job.failed > limit:
            job.status = "Failed"
            job.done = self.env.now
            return
        delay = min(self.job_backoff * 2 ** (job.failed - 1), self.job_max_backoff)
        job.next_create = max(job.next_create, self.env.now + delay)
        ev = self.env.timeout(delay)
        ev.callbacks.append(lambda _e: self.job_queue.add(job))

    def _sync_job(self, job: JobState) -> Any:
        if job.status != "Running":
            return
        left = job.spec.completions - job.succeeded
        if left <= 0:
            job.status = "Complete"
            job.done = self.env.now
            return
        want = min(job.spec.parallelism, left) - len(job.pods)
        if want > 0 and self.env.now >= job.next_create:
            yield from self.create_pods(job, min(want, self.burst_replicas))


def _deletion_rank(pod: Pod) -> tuple[int, int, float]:
    """ReplicaSet victims first: unscheduled, then not available, then the newest."""
    return (0 if pod.node is None else 1, 0 if pod.phase == PENDING or not pod.available else 1,
            -(pod.created if pod.created == pod.created else 0.0))


__all__ = ["Controllers", "DeploymentState", "JobState", "ReplicaSet", "WorkQueue"]
