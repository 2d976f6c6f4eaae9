"""Property tests of the cluster parts (hypothesis, modest example counts): rolling updates keep
to maxSurge / maxUnavailable, failed nodes' pods come back elsewhere only after grace +
toleration, scheduling never outruns its configured costs, the autoscaler adds and removes
nodes only when its rules allow."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcontainer.model.cluster.scheduler import nodes_to_find
from simcontainer.model.cluster.sim import build
from simcontainer.studies.cluster_reports import rollout_scenario

FEW = settings(max_examples=int(__import__("os").environ.get("CLUSTER_EXAMPLES", "12")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(scenario):
    sim = build(scenario)
    return sim, sim.run()


surge_st = st.one_of(st.integers(0, 4), st.sampled_from(["0%", "10%", "25%", "50%"]))


@FEW
@given(replicas=st.integers(2, 40), surge=surge_st, unavailable=surge_st, nodes=st.integers(2, 6),
       seed=st.integers(0, 2**32 - 1), qps=st.sampled_from([5.0, 20.0, 200.0]))
def test_rolling_update_keeps_surge_and_availability(replicas, surge, unavailable, nodes, seed, qps):
    scenario = rollout_scenario(nodes, 0, prepulled=True, seed=seed, horizon_s=400.0,
                                clients={"controller_qps": qps, "controller_burst": int(qps)},
                                extra={"deployments": [{"name": "web", "workload": "app", "replicas": replicas,
                                                        "update_at_s": 150.0, "max_surge": surge,
                                                        "max_unavailable": unavailable}]})
    sim, result = run(scenario)
    dep = sim.controllers.deployments[0]
    first, second = dep.rollouts
    assert first["done_s"] is not None and first["done_s"] < 150.0
    assert second["done_s"] is not None, "the rolling update finished"
    max_surge, max_unavailable = dep.bounds()
    # the ReplicaSets' replicas (what the Deployment controller writes) at every sync
    for t, spec_sum, _active, _ in dep.history:
        if t >= 150.0:
            assert spec_sum <= replicas + max_surge
    log = np.frombuffer(sim.avail_log, dtype=float).reshape(-1, 4)
    during = log[log[:, 0] >= 150.0]
    # pods not asked to be deleted never exceed replicas + maxSurge; available pods (Running and
    # observed, not deleted) never drop below replicas - maxUnavailable, at any change
    assert during[:, 3].max() <= replicas + max_surge
    assert during[:, 2].min() >= replicas - max_unavailable
    assert during[-1, 2] == replicas


@FEW
@given(nodes=st.integers(3, 6), per=st.integers(1, 6), victim=st.integers(0, 5), fail_at=st.floats(30.0, 90.0),
       grace=st.sampled_from([20.0, 40.0, 50.0]), toleration=st.sampled_from([0.0, 30.0, 120.0]),
       seed=st.integers(0, 2**32 - 1))
def test_failed_node_pods_recreated_elsewhere_after_grace_and_toleration(nodes, per, victim, fail_at, grace,
                                                                         toleration, seed):
    victim %= nodes
    scenario = rollout_scenario(nodes, per, prepulled=True, seed=seed, horizon_s=fail_at + grace + toleration + 120,
                                failures=[{"at_s": fail_at, "pool": "nodes", "node": victim}],
                                extra={"node_lifecycle": {"grace_s": grace, "toleration_s": toleration}})
    sim, result = run(scenario)
    node = sim.nodes[victim]
    hb = sim.params.node_lifecycle["heartbeat_s"]
    last_hb = node.hb_offset + math.floor((fail_at - node.hb_offset) / hb) * hb
    assert fail_at - hb < last_hb <= fail_at
    lost = [p for p in sim.pods if p.node is node and p.created < fail_at and p.phase != 5]
    later = [p for p in sim.pods if p.created == p.created and p.created > fail_at]
    assert lost, "the node held pods"
    assert len(later) == len(lost), "one replacement per lost pod"
    earliest = last_hb + grace + toleration
    for p in later:
        assert p.created >= earliest, (p.created, earliest)
        assert p.node is not None and p.node is not node
        assert p.running == p.running, "replacement running by the horizon"
    assert result["node_failures"][0]["replacements"] == len(lost)


@FEW
@given(nodes=st.integers(1, 300), pods=st.integers(20, 300), qps=st.sampled_from([10.0, 50.0, 1000.0]),
       burst=st.sampled_from([1, 10, 100]), base=st.sampled_from([0.0005, 0.002, 0.01]),
       per_node=st.sampled_from([0.0, 1e-6, 1e-5]), seed=st.integers(0, 2**32 - 1))
def test_scheduling_throughput_within_its_costs(nodes, pods, qps, burst, base, per_node, seed):
    scenario = rollout_scenario(nodes, 0, prepulled=True, seed=seed, horizon_s=600.0, cpu=0.001, mem_mib=1.0,
                                clients={"scheduler_qps": qps, "scheduler_burst": burst, "controller_qps": 5000.0,
                                         "controller_burst": 5000},
                                extra={"deployments": [{"name": "d", "workload": "app", "replicas": pods}],
                                       "scheduler": {"cycle_base_s": base, "filter_per_node_s": per_node,
                                                     "score_per_node_s": per_node}})
    sim = build(scenario)
    sim.scheduler.bucket.log = sent = []
    sim.run()
    cycle = sim.scheduler.cycle_cost(True)
    assert math.isclose(cycle, base + 2 * per_node * nodes_to_find(nodes, 0))
    done = np.sort([p.scheduled for p in sim.pods if p.scheduled == p.scheduled])
    assert done.size == min(pods, 110 * nodes)      # maxPods = 110 per node
    # one cycle at a time: consecutive scheduling decisions are at least one cycle apart
    assert np.all(np.diff(done) >= cycle * (1 - 1e-9))
    # binds leave the scheduler's client no faster than its token bucket allows, in any window
    d = np.asarray(sent)
    for i in range(d.size):
        n = np.arange(1, d.size - i + 1)
        assert np.all(n <= burst + qps * (d[i:] - d[i]) + 1e-6)
    # hence the long-run rate stays under the textbook bound min(1 / cycle, qps)
    span = done[-1] - done[0]
    if span > 0:
        assert (done.size - 1) / span <= 1 / cycle * (1 + 1e-9)
    assert (d.size - burst) / max(d[-1] - d[0], 1e-12) <= qps * (1 + 1e-9) or d.size <= burst


@FEW
@given(start=st.integers(1, 3), extra_pods=st.integers(0, 40), run_s=st.sampled_from([30.0, 200.0, 900.0]),
       unneeded=st.sampled_from([120.0, 600.0]), seed=st.integers(0, 2**32 - 1))
def test_autoscaler_adds_only_when_unschedulable_and_removes_after_unneeded_time(start, extra_pods, run_s, unneeded,
                                                                                 seed):
    scenario = rollout_scenario(start, 0, prepulled=True, seed=seed, horizon_s=2400.0, cpu=4.0, mem_mib=1024.0,
                                extra={"pools": [{"name": "nodes", "host": "server-64g", "count": start,
                                                  "min_count": 1, "max_count": 8, "provision_s": 60.0}],
                                       "jobs": [{"name": "j", "workload": "app", "completions": 4 * start + extra_pods,
                                                 "parallelism": 4 * start + extra_pods, "run_s": run_s}],
                                       "autoscaler": {"unneeded_s": unneeded, "delay_after_add_s": unneeded}})
    sim, result = run(scenario)
    a = result["autoscaler"]
    fits = extra_pods == 0
    if fits:
        assert a["scale_ups"] == [], "every pod fit: nothing to add"
    for e in a["scale_ups"]:
        assert e["unschedulable_pods"] > 0
        # pods really were waiting: some pod created before the scan was still unscheduled then
        assert any(p.created < e["t_s"] and not (p.scheduled <= e["t_s"]) for p in sim.pods)
    scans = np.array(sim.autoscaler.scans) if sim.autoscaler.scans else np.zeros((0, 3))
    threshold = sim.params.autoscaler["utilization_threshold"]
    for e in a["scale_downs"]:
        t, n = e["t_s"], e["node"]
        mine = scans[(scans[:, 1] == n) & (scans[:, 0] <= t)]
        above = mine[mine[:, 2] >= threshold, 0]
        last_above = above.max() if above.size else -math.inf
        run_start = mine[mine[:, 0] > last_above, 0].min()
        # every scan since run_start found it under the threshold, for at least the unneeded time
        assert t - run_start >= unneeded
        # and no scale-up within delay_after_add (set to the same time here)
        assert t - max((u["t_s"] for u in a["scale_ups"] if u["t_s"] <= t), default=-math.inf) >= unneeded
    # removed nodes are gone from the scheduler and the autoscaled pool stays within its bounds
    alive = [nd for nd in sim.nodes if nd.removed != nd.removed]
    assert 1 <= len(alive) <= 8


@FEW
@given(completions=st.integers(1, 60), parallelism=st.integers(1, 20), run_s=st.sampled_from([0.0, 5.0, 30.0]),
       nodes=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_job_runs_at_most_parallelism_pods_until_completions(completions, parallelism, run_s, nodes, seed):
    scenario = rollout_scenario(nodes, 0, prepulled=True, seed=seed, horizon_s=2000.0,
                                extra={"jobs": [{"name": "j", "workload": "app", "completions": completions,
                                                 "parallelism": parallelism, "run_s": run_s}]})
    sim, result = run(scenario)
    job = result["jobs"]["j"]
    assert job["succeeded"] == completions and job["done_s"] is not None
    assert len(sim.pods) == completions, "no pod more than needed (none failed)"
    # pods alive (created, not yet observed Succeeded) at once never exceed parallelism
    marks = sorted([(p.created, 1) for p in sim.pods] + [(p.ended, -1) for p in sim.pods], key=lambda m: (m[0], m[1]))
    alive = np.cumsum([d for _, d in marks])
    assert alive.max() <= parallelism
