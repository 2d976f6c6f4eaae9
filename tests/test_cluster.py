"""The cluster model: its sourced defaults, parts against their documented rules, the example
scenario, the `rollout` command, the reports and the published figures."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import simpy

import simcontainer as sc
from simcontainer.faces import cli_rollout as command
from simcontainer.model.cluster import params
from simcontainer.model.cluster.apiserver import TokenBucket
from simcontainer.model.cluster.controllers import WorkQueue
from simcontainer.model.cluster.scheduler import nodes_to_find
from simcontainer.model.cluster.sim import build, simulate_cluster
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import parse_scenario
from simcontainer.studies import cluster_reports as reports

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "models" / "scenarios" / "cluster-rollout.toml"


def test_every_default_has_a_source():
    d = params.defaults()
    keys = [f"{section}.{k}" for section, table in d.items() if section != "sources" for k in table]
    assert keys and all(d["sources"].get(k) for k in keys), [k for k in keys if not d["sources"].get(k)]
    assert set(d["sources"]) == set(keys), "no source for a key that is not there"


def test_documented_defaults():
    d = params.defaults()
    assert (d["clients"]["kubelet_qps"], d["clients"]["kubelet_burst"]) == (50.0, 100)     # since 1.27
    assert (d["clients"]["scheduler_qps"], d["clients"]["scheduler_burst"]) == (50.0, 100)
    assert (d["clients"]["controller_qps"], d["clients"]["controller_burst"]) == (20.0, 30)
    assert d["node_lifecycle"]["grace_s"] == 50.0 and "126287" in params.source_of("node_lifecycle.grace_s")
    assert d["node_lifecycle"]["toleration_s"] == 300.0
    assert (d["controllers"]["max_surge"], d["controllers"]["max_unavailable"]) == ("25%", "25%")
    assert d["autoscaler"]["unneeded_s"] == 600.0


@pytest.mark.parametrize(("n", "expected"), [
    (50, 50), (99, 99), (100, 100), (200, 100), (1000, 420), (5000, 500), (6000, 300), (30000, 1500)])
def test_nodes_to_find_is_the_adaptive_percentage(n, expected):
    # max(100, n x max(5, 50 - n/125) / 100); below 100 nodes every node
    assert nodes_to_find(n, 0) == expected


def test_nodes_to_find_with_a_set_percentage():
    assert nodes_to_find(1000, 10) == 100 and nodes_to_find(1000, 50) == 500 and nodes_to_find(1000, 100) == 1000


def test_token_bucket_is_client_go_s():
    b = TokenBucket(qps=10.0, burst=3)
    waits = [b.reserve(0.0) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]          # the burst goes at once
    assert waits[3:] == pytest.approx([0.1, 0.2])  # then one token per 1/qps
    assert b.reserve(10.0) == 0.0                   # refilled (capped at the burst)


def test_surge_fractions_round_as_kubernetes():
    assert params.fraction("25%", 10, True) == 3      # maxSurge rounds up
    assert params.fraction("25%", 10, False) == 2     # maxUnavailable rounds down
    assert params.fraction(4, 10, True) == 4


def test_schema_refuses_bad_cluster_sections():
    text = EXAMPLE.read_text()
    with pytest.raises(ScenarioError) as exc:
        sc.loads_scenario(text.replace('update_image = "nginx:1.27"', 'max_surge = "120%"'))
    assert "max_surge" in str(exc.value) and "percentage" in str(exc.value)
    with pytest.raises(ScenarioError) as exc:
        sc.loads_scenario(text.replace("min_count = 2", "min_count = 9"))
    assert "count (4) is outside" in str(exc.value)
    with pytest.raises(ScenarioError) as exc:
        sc.loads_scenario(text.replace("[cluster]\n", "[cluster]\nbogus = 1\n"))
    assert "bogus" in str(exc.value)


def test_cross_references_are_checked_at_resolve():
    s = sc.loads_scenario(EXAMPLE.read_text().replace('host = "azure-d4-v2"', 'host = "no-such-host"'))
    with pytest.raises(ScenarioError) as exc:
        simulate_cluster(s)
    assert "cluster.pools.1.host: unknown host preset 'no-such-host'" in str(exc.value)


@pytest.fixture(scope="module")
def example():
    return simulate_cluster(sc.load_scenario(EXAMPLE))


def test_example_scenario_runs_its_story(example):
    r = example
    web = r["deployments"]["web"]
    assert [ro["done_s"] is not None for ro in web["rollouts"]] == [True, True]
    assert r["jobs"]["nightly"]["succeeded"] == 120
    assert r["autoscaler"]["scale_ups"], "the job overflowed the pools: nodes were added"
    assert r["autoscaler"]["scale_downs"], "and removed once unneeded"
    line = r["node_failures"][0]
    assert line["replacements"] == line["pods"] > 0
    assert line["last_heartbeat_s"] <= line["failed_s"] < line["not_ready_s"] < line["evicted_s"]
    assert line["not_ready_s"] - line["last_heartbeat_s"] >= 50.0
    assert line["evicted_s"] - line["not_ready_s"] == pytest.approx(300.0)
    assert line["running_again_s"] > line["evicted_s"]
    assert r["nodes"] >= 3 and r["events"] > 0
    assert 1 <= r["api"]["peak_mutating_inflight"] <= r["api"]["writes"]
    assert r["api"]["max_mutating_inflight"] == 200


def test_same_seed_same_result(example):
    again = simulate_cluster(sc.load_scenario(EXAMPLE))
    for k in ("startup_s", "stages_s", "node_failures", "autoscaler", "deployments", "api", "phases"):
        assert again[k] == example[k]
    other = simulate_cluster(sc.load_scenario(EXAMPLE), seed=1)
    assert other["startup_s"] != example["startup_s"]


def test_pods_by_phase_add_up(example):
    rows = example["phases"]["rows"]
    assert example["phases"]["columns"][:4] == ["t_s", "pending", "creating", "running"]
    totals = [sum(r[1:]) for r in rows]
    assert totals == sorted(totals), "pods are created, never lost from the count"
    assert totals[-1] == example["pods"]
    assert rows[-1][3] == example["pods_running"]


def test_pull_excluded_startup_is_startup_minus_pull():
    s = reports.rollout_scenario(5, 4, seed=3)
    sim = build(s)
    r = sim.run()
    pods = [p for p in sim.pods if p.running == p.running]
    assert any(p.pull_s > 0 for p in pods), "nothing pre-pulled: the first pod on a node pulls"
    assert r["startup_excl_pulls_s"]["max"] <= r["startup_s"]["max"]
    pre = simulate_cluster(reports.rollout_scenario(5, 4, seed=3, prepulled=True))
    assert pre["startup_s"] == pre["startup_excl_pulls_s"]


def test_default_client_limits_bind_a_big_rollout():
    # 3,000 pods at the controller manager's 20 QPS cannot take less than 3,000 / 20 s (minus the burst)
    r = simulate_cluster(reports.rollout_scenario(100, 30, prepulled=True))
    assert r["rollout_s"] >= (3000 - 30) / 20.0
    assert r["bound_stage"] == "create"
    # raised limits (as scalability tests run): the scheduler's 100 binds/s binds next
    fast = simulate_cluster(reports.rollout_scenario(100, 30, prepulled=True, clients=reports.SCALABILITY_CLIENTS))
    assert (3000 - 100) / 100.0 <= fast["rollout_s"] < r["rollout_s"]
    assert fast["scheduler"]["mean_pods_s"] <= 100.0 * 1.05


def test_scheduler_cost_binds_when_limits_are_lifted():
    clients = {"controller_qps": 5000.0, "controller_burst": 5000, "scheduler_qps": 5000.0, "scheduler_burst": 5000}
    r = simulate_cluster(reports.rollout_scenario(1000, 10, prepulled=True, clients=clients))
    assert r["bound_stage"] == "queue"
    assert r["scheduler"]["mean_pods_s"] <= r["scheduler"]["bound_pods_s"] * 1.05
    per_pod = 0.0008 + 2e-6 * nodes_to_find(1000, 0)
    assert r["scheduler"]["bound_pods_s"] == pytest.approx(1 / per_pod)


def test_node_failure_timeline_orders_its_steps():
    rows = reports.node_failure_timeline(6, 5, fail_at_s=40.0)
    steps = [r["step"] for r in rows]
    assert steps == ["last heartbeat", "node dies", "NotReady + taint", "evicted", "replacements created",
                     "replacements scheduled", "running again"]
    t = [r["t_s"] for r in rows]
    assert t == sorted(t)
    by = {r["step"]: r["since_failure_s"] for r in rows}
    assert 40.0 <= by["NotReady + taint"] <= 50.0 + 5.0      # grace from the last heartbeat, a monitor pass
    assert by["evicted"] - by["NotReady + taint"] == pytest.approx(300.0)
    r = simulate_cluster(reports.rollout_scenario(6, 5, prepulled=True, horizon_s=600.0,
                                                  failures=[{"at_s": 40.0, "pool": "nodes", "node": 0}]))
    t = [row[0] for row in r["phases"]["rows"]]
    lost = r["node_failures"][0]["pods"]
    serving = dict(zip(t, r["serving"]))
    # the API keeps the lost pods Running until they are evicted; they stopped serving at 40 s
    assert serving[30.0] == 30 and serving[50.0] == 30 - lost and r["serving"][-1] == 30
    short = reports.node_failure_timeline(6, 5, fail_at_s=40.0, settings={"grace_s": 20.0, "toleration_s": 30.0})
    assert short[-1]["since_failure_s"] < rows[-1]["since_failure_s"] - 250


def test_rollout_table_rows():
    rows = reports.rollout_table([(20, 10)], variants={"defaults": {}})
    (row,) = rows
    assert row["nodes"] == 20 and row["pods"] == 200 and row["bound_by"]
    assert row["startup_excl_pulls_p99_s"] <= row["startup_p99_s"]


def test_validation_table_light():
    rows = reports.validation_table(heavy=False)
    ids = {r["id"] for r in rows}
    assert {"k8s-blog-2015-full", "k8s-blog-2016-1000", "scheduler-perf-basic-500"} <= ids
    for r in rows:
        assert r["simulated"] > 0 and math.isfinite(r["ratio"]) and r["source"]
        assert r["ratio"] == pytest.approx(r["simulated"] / r["published"])
    ceiling = next(r for r in rows if r["id"] == "k8s-blog-2016-1000")
    assert ceiling["within_ceiling"] is True
    md = reports.validation_markdown(rows)
    assert md.count("\n") == len(rows) + 1 and "k8s-blog-2016-1000" in md and "a ceiling, met" in md


def _cli(*argv):
    p = argparse.ArgumentParser()
    command.add_parser(p.add_subparsers())
    args = p.parse_args(["rollout", *argv])
    return args.func(args)


def test_rollout_command_text_and_json(capsys):
    assert _cli(str(EXAMPLE)) == 0
    out = capsys.readouterr().out
    assert "what bound it:" in out and "running again" in out and "SLO p99 <= 5 s" in out
    assert _cli(str(EXAMPLE), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["deployments"]["web"]["replicas"] == 200


def test_rollout_command_bad_input_exits_2(capsys, tmp_path):
    assert _cli(str(ROOT / "models" / "scenarios" / "default.toml")) == 2
    assert "cluster: missing" in capsys.readouterr().err
    assert _cli(str(tmp_path / "nope.toml")) == 2
    assert _cli(str(EXAMPLE), "--seed", "-1") == 2
    assert "--seed" in capsys.readouterr().err


def test_scenario_without_cluster_is_unchanged():
    s = sc.load_scenario(ROOT / "models" / "scenarios" / "default.toml")
    assert s.cluster is None and "cluster" not in s.to_dict()


def test_rollout_table_on_dask_matches_a_local_run():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = reports.rollout_table([(10, 5), (20, 5)], variants={"defaults": {}}, scheduler=client)
    local = reports.rollout_table([(10, 5), (20, 5)], variants={"defaults": {}})
    drop = ("wall_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in remote] == \
        [{k: v for k, v in r.items() if k not in drop} for r in local]


def test_slow_links_make_pulls_the_bound():
    lifted = {"controller_qps": 1000.0, "controller_burst": 1000, "scheduler_qps": 1000.0, "scheduler_burst": 1000}
    r = simulate_cluster(reports.rollout_scenario(10, 20, host="laptop", image="eclipse-temurin:21-jre",
                                                  clients=lifted))
    assert r["bound_stage"] == "pull"
    # one pull per node (serialized, the same image): the pods of a node wait for the first one
    pull = simulate_cluster(reports.rollout_scenario(10, 20, host="laptop", image="eclipse-temurin:21-jre",
                                                     clients=lifted, prepulled=True))
    assert pull["bound_stage"] != "pull"
    assert r["startup_s"]["p50"] > pull["startup_s"]["p50"] + 1.0


def test_dense_small_nodes_queue_their_start_cpu():
    def p99(per):
        r = simulate_cluster(reports.rollout_scenario(2, per, host="dev-vm", prepulled=True, cpu=0.01, mem_mib=16.0,
                                                      clients=reports.LIFTED_CLIENTS))
        return r["startup_s"]["p99"]

    # ~0.17 core-s of kubelet/containerd/runc work per start on a 4-core, cpu_speed 0.7 node: 110
    # pods arriving at once wait ~110 x 0.17 / 4 = 4.7 s for the last core; 10 pods hardly wait
    assert p99(110) - p99(10) > 2.0


def test_work_queue_never_syncs_a_key_twice_at_once():
    env = simpy.Environment()
    running: set[str] = set()
    log = []

    def sync(key):
        assert key not in running
        running.add(key)
        log.append((env.now, key))
        yield env.timeout(1.0)
        running.discard(key)

    q = WorkQueue(env, 3, sync)
    q.add("a")
    q.add("b")
    env.run(until=0.5)
    q.add("a")          # both busy: queued again, synced after the running syncs end
    q.add("b")
    q.add("a")          # queued once
    env.run(until=10)
    assert [k for _, k in log] == ["a", "b", "a", "b"]
    assert [t for t, _ in log] == [0.0, 0.0, 1.0, 1.0]


def test_lean_kubelet_start_matches_the_full_lifecycle_on_an_idle_node():
    # the engine's full per-host lifecycle (kubelet plane, runc) starting one pod at a time on an
    # idle host, against the cluster's lean per-node part: the same phases, the same figures, up
    # to the container's start (the lean part's relist and status report are its "report" stage,
    # so the full plane's PLEG relist is left out here; the cost per pod already on the node -- 300
    # accumulate here -- and the cached start's disk work are the engine's alone: the lean part
    # does not model them yet)
    one_host = parse_scenario({
        "name": "one-node", "duration_s": 2000.0, "seed": 5, "host": {"preset": "server-64g"},
        "daemon": {"prepull": ["alpine:3.20"]},
        "control_planes": [{"name": "kubelet-no-relist", "base": "kubelet", "relist_period_s": 0.0, "per_instance_cpu_s": 0.0,
                            "rootfs_mib": 0.0, "rootfs_syncs": 0}],
        "workloads": [{"name": "app", "runtime": "runc", "control_plane": "kubelet-no-relist", "image": "alpine:3.20",
                       "cpu": 0.0, "mem_mib": 64, "arrival": {"kind": "interval", "every_s": 5.0},
                       "max_instances": 300}]})
    full = sc.simulate(one_host).summary["workloads"]["app"]["startup_s"]
    sim = build(reports.rollout_scenario(300, 1, image="alpine:3.20", prepulled=True, clients=reports.LIFTED_CLIENTS,
                                         seed=5))
    sim.run()
    lean = np.array([p.started - p.bound - p.pull_s for p in sim.pods])
    assert lean.mean() == pytest.approx(full["mean"], rel=0.10)
    assert np.percentile(lean, 95) == pytest.approx(full["p95"], rel=0.15)


def test_preemption_makes_room_for_higher_priority_only():
    def run(priority_new):
        scenario = reports.rollout_scenario(
            2, 0, prepulled=True, cpu=4.0, mem_mib=1024.0, horizon_s=300.0,
            extra={"deployments": [{"name": "low", "workload": "app", "replicas": 8, "priority": 0},
                                   {"name": "high", "workload": "app", "replicas": 2, "at_s": 60.0,
                                    "priority": priority_new}]})
        sim = build(scenario)
        return sim, sim.run()

    # 2 nodes x 16 cores hold 8 pods of 4 cores: the cluster is full when "high" arrives
    sim, r = run(1000)
    assert r["deployments"]["high"]["done_s"] is not None, "higher priority: room was made"
    pre = r["scheduler"]["preemptions"]
    assert pre and all(sim.pods[v].priority == 0 for e in pre for v in e["victims"])
    assert sum(len(e["victims"]) for e in pre) == 2          # one 4-core victim per 4-core pod
    same, r2 = run(0)
    assert r2["scheduler"]["preemptions"] == [] and r2["deployments"]["high"]["done_s"] is None


def test_job_failures_back_off_then_fail_the_job():
    scenario = reports.rollout_scenario(2, 0, prepulled=True, horizon_s=900.0, extra={
        "jobs": [{"name": "j", "workload": "app", "completions": 3, "parallelism": 1, "run_s": 5.0,
                  "fail_fraction": 1.0, "backoff_limit": 3}]})
    sim = build(scenario)
    r = sim.run()
    job = r["jobs"]["j"]
    assert job["status"] == "Failed" and job["failed"] == 4 and job["succeeded"] == 0
    created = sorted(p.created for p in sim.pods)
    assert len(created) == 4, "backoffLimit 3: the fourth failure fails the Job"
    gaps = np.diff(created)
    # each next pod waits for the failure (run_s after its start) and then 10 s, 20 s, 40 s
    assert all(g >= 5.0 + b for g, b in zip(gaps, (10.0, 20.0, 40.0)))
    ok = simulate_cluster(reports.rollout_scenario(2, 0, prepulled=True, horizon_s=900.0, extra={
        "jobs": [{"name": "j", "workload": "app", "completions": 20, "parallelism": 5, "run_s": 5.0,
                  "fail_fraction": 0.2}]}))
    assert ok["jobs"]["j"]["status"] in ("Complete", "Failed")
    assert ok["jobs"]["j"]["succeeded"] == 20 or ok["jobs"]["j"]["failed"] == 7


def test_a_shared_registry_egress_serializes_the_first_pulls():
    lifted = reports.LIFTED_CLIENTS
    free = simulate_cluster(reports.rollout_scenario(100, 5, image="python:3.12-slim", clients=lifted))
    capped_scenario = reports.rollout_scenario(100, 5, image="python:3.12-slim", clients=lifted)
    capped_scenario = capped_scenario.model_copy(
        update={"registry": capped_scenario.registry.model_copy(update={"egress_mb_s": 125.0})})
    sim = build(capped_scenario)
    capped = sim.run()
    image = sim.params.images["python:3.12-slim"]
    # 100 nodes each pull the image once: the registry sends 100 x its bytes at 125 MB/s at best
    floor = 100 * image.download_mib / (125.0 * 1e6 / 2**20)
    assert capped["rollout_s"] >= floor
    assert capped["bound_stage"] == "pull" and capped["rollout_s"] > 3 * free["rollout_s"]


def test_too_many_pods_are_refused_before_the_run():
    s = reports.rollout_scenario(10, 0, extra={"deployments": [{"name": "d", "workload": "app", "replicas": 600_000,
                                                                "update_at_s": 10.0}]})
    with pytest.raises(ScenarioError) as exc:
        simulate_cluster(s)
    assert "1,200,000 pods asked for" in str(exc.value) and "at most 1,000,000" in str(exc.value)


def test_rollout_command_sizes_table(capsys):
    assert _cli("--sizes", "10x3,20x3") == 0
    out = capsys.readouterr().out
    assert out.count("scalability-test") == 2 and "lifted" in out and "bound by" in out
    assert _cli("--sizes", "10x3", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert _cli("--sizes", "10by3") == 2
    assert "'10by3' is not NODESxPODS_PER_NODE" in capsys.readouterr().err
    assert _cli(str(EXAMPLE), "--sizes", "10x3") == 2
    assert _cli() == 2
    assert "SCENARIO: missing" in capsys.readouterr().err
    assert _cli(str(EXAMPLE), "--scheduler", "tcp://127.0.0.1:1") == 2
