"""Results never hide what did not happen: hand-worked examples of the counts, the null figures,
the censored waits, CPU asked vs received, warnings, compare's skipped runtimes and sweeps."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import simpy
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.faces.cli import main
from simcontainer.faces.text import to_json
from simcontainer.model.resources import FairShare
from simcontainer.studies.sweep import rank_points, run_sweep
from simcontainer.studies.sweep_design import parse_sweep
from simcontainer.studies.sweep_store import flatten_metrics

FIGURES = ("mean", "p50", "p95", "p99", "max")


def _run(data: dict) -> sc.Result:
    return sc.simulate(sc.parse_scenario(data))


# --------------------------------------------------------------------------- nothing started


def test_nothing_starts_on_a_host_too_small_gives_null_figures_and_a_warning():
    # 100 MiB of RAM, each instance asks 200: none can ever fit, every request is rejected
    data = scenario_dict(duration_s=10, host={"ram_mib": 100})
    data["workloads"][0].update(mem_mib=200, arrival={"kind": "burst", "count": 5})
    s = _run(data).summary
    w = s["workloads"]["w"]
    assert (w["requested"], w["started"], w["rejected"], w["never_started"]) == (5, 0, 5, 5)
    assert w["waiting_at_horizon"] == 0 and w["starting_at_horizon"] == 0
    assert w["fractions"] == {"started": 0.0, "rejected": 1.0, "waiting_at_horizon": 0.0, "never_started": 1.0}
    assert w["startup_s"] == {"n": 0, **{k: None for k in FIGURES}}
    assert w["wait_s"] == {"n": 0, "mean": None, "p95": None, "waited_fraction": None}
    # rejected requests never queued: no censored wait either
    assert w["wait_censored_s"] == {"n": 0, "censored": 0, "mean": None, "p95": None}
    assert all(v is None for v in w["phases_s"].values())
    assert w["pull"]["mean_s"] is None and w["pull"]["p95_s"] is None and w["pull"]["cache_hit_rate"] is None
    assert w["cpu"]["received_fraction"] is None
    assert s["warnings"] == ["w: 5 of 5 requests (100%) never started: 5 rejected"]


def test_a_workload_with_no_requests_has_null_fractions():
    data = scenario_dict(duration_s=10)
    data["workloads"][0].update(arrival={"kind": "burst", "at_s": 50.0, "count": 3})   # after the horizon
    w = _run(data).summary["workloads"]["w"]
    assert w["requested"] == 0 and all(v is None for v in w["fractions"].values())
    assert w["startup_s"]["p95"] is None


def test_still_waiting_requests_are_counted_and_their_waits_censored_at_the_horizon():
    # Room for one instance (100 MiB); one request every 30 s, each lives 40 s, zero startup:
    #   r0 t=0:  admitted 0,  runs 0-40    wait 0
    #   r1 t=30: admitted 40, runs 40-80   wait 10
    #   r2 t=60: admitted 80, runs 80-120  wait 20
    #   r3 t=90: still waiting at the horizon (110): censored wait 110 - 90 = 20
    data = scenario_dict(duration_s=110, host={"ram_mib": 100})
    data["workloads"][0].update(arrival={"kind": "interval", "every_s": 30.0}, max_instances=4,
                                lifetime={"kind": "fixed", "s": 40.0})
    s = _run(data).summary
    w = s["workloads"]["w"]
    assert (w["requested"], w["started"], w["waiting_at_horizon"], w["never_started"]) == (4, 3, 1, 1)
    assert w["fractions"]["waiting_at_horizon"] == 0.25
    assert w["wait_s"]["n"] == 3
    assert w["wait_s"]["mean"] == pytest.approx(10.0)
    assert w["wait_s"]["p95"] == pytest.approx(19.0)            # 10 + 0.9 * (20 - 10)
    assert w["wait_s"]["waited_fraction"] == pytest.approx(2 / 3)
    c = w["wait_censored_s"]
    assert (c["n"], c["censored"]) == (4, 1)
    assert c["mean"] == pytest.approx((0 + 10 + 20 + 20) / 4)   # 12.5: a lower bound
    assert c["p95"] == pytest.approx(20.0)
    assert s["warnings"] == ["w: 1 of 4 requests (25%) never started: 1 still waiting at the horizon"]


def test_five_percent_or_less_never_started_is_no_warning():
    # 20 requests, one every 10 s, room for one that lives 11 s: r_k is admitted at 11 k, so
    # r19 (209 s) is still waiting at 200 s -- 1 in 20 = 5 % is not more than 5 %
    data = scenario_dict(duration_s=200, host={"ram_mib": 100})
    data["workloads"][0].update(arrival={"kind": "interval", "every_s": 10.0}, max_instances=20,
                                lifetime={"kind": "fixed", "s": 11.0})
    w = _run(data).summary
    assert w["workloads"]["w"]["never_started"] == 1 and w["warnings"] == []


# --------------------------------------------------------------------------- CPU asked / received


def _cpu_scenario(**host: float) -> dict:
    # apps asking 3 cores each on a 4-core host: A runs 0-30, B 10-40 (zero startup)
    data = scenario_dict(duration_s=50, host={"cpu_cores": 4, **host})
    data["workloads"][0].update(cpu=3.0, arrival={"kind": "interval", "every_s": 10.0}, max_instances=2,
                                lifetime={"kind": "fixed", "s": 30.0})
    return data


def test_cpu_received_against_asked_by_hand():
    # 0-10 A alone: gets 3 of 3; 10-30 both: 2 of 3 each (4 cores shared); 30-40 B alone: 3 of 3.
    # asked 2 x 90 = 180 core-s, received 2 x (30 + 40) = 140: 7/9 (4/6 over the overlap)
    r = _run(_cpu_scenario())
    s = r.summary
    cpu = s["workloads"]["w"]["cpu"]
    assert cpu["asked_core_s"] == pytest.approx(180.0)
    assert cpu["received_core_s"] == pytest.approx(140.0)
    assert cpu["received_fraction"] == pytest.approx(7 / 9)
    h = s["host"]
    assert h["mean_cpu_util"] == pytest.approx(140.0 / (4 * 50))
    assert h["mean_cpu_demand"] == pytest.approx(180.0 / (4 * 50))
    assert h["peak_cpu_demand"] == pytest.approx(6.0 / 4)
    assert s["hosts"][0]["peak_cpu_demand"] == pytest.approx(1.5)
    ts = r.timeseries.set_index("time_s")
    assert ts["cpu_demand"].asof(20.0) == pytest.approx(6.0) and ts["cpu_busy"].asof(20.0) == pytest.approx(4.0)
    assert ts["cpu_demand"].asof(35.0) == pytest.approx(3.0) and ts["cpu_demand"].asof(45.0) == pytest.approx(0.0)
    assert s["warnings"] == ["CPU demand exceeded capacity: peak 6.0 cores asked on 4 "
                             "(apps received 78% of what they asked)"]


def test_cpu_overcommit_reserves_cores_at_admission_so_apps_get_what_they_ask():
    # cpu_overcommit = 1: 4 cores to reserve; B (3) waits for A (3) to leave at 30, runs 30-50
    s = _run(_cpu_scenario(cpu_overcommit=1.0)).summary
    w = s["workloads"]["w"]
    assert w["wait_s"]["mean"] == pytest.approx(10.0)          # (0 + 20) / 2
    assert w["cpu"]["asked_core_s"] == pytest.approx(3 * 30 + 3 * 20)
    assert w["cpu"]["received_fraction"] == pytest.approx(1.0)
    assert s["host"]["peak_cpu_demand"] == pytest.approx(3 / 4)
    assert s["warnings"] == []


def test_a_paused_app_asks_nothing():
    # as above, but A is paused from 15 to 25: 0-10 A 3; 10-15 2 + 2; 15-25 B alone 3; 25-30 2 + 2;
    # 30-40 B 3. A asked 3 x 20 = 60, got 30 + 10 + 10 = 50; B asked 90, got 10 + 30 + 10 + 30 = 80
    data = _cpu_scenario()
    data["actions"] = [{"at_s": 15.0, "op": "pause", "workload": "w", "instance": 0},
                       {"at_s": 25.0, "op": "unpause", "workload": "w", "instance": 0}]
    cpu = _run(data).summary["workloads"]["w"]["cpu"]
    assert cpu["asked_core_s"] == pytest.approx(150.0)
    assert cpu["received_core_s"] == pytest.approx(130.0)


def test_apps_running_at_the_horizon_count_up_to_it():
    data = _cpu_scenario()
    data["workloads"][0]["lifetime"] = {"kind": "forever"}
    # A 0-50, B 10-50: 0-10 A gets 3, 10-50 each gets 2: asked 150 + 120, got 110 + 80
    cpu = _run(data).summary["workloads"]["w"]["cpu"]
    assert cpu["asked_core_s"] == pytest.approx(270.0)
    assert cpu["received_core_s"] == pytest.approx(190.0)


def test_cpu_received_on_each_host_of_several():
    # two 2-core hosts, spread placement: one app asking 3 cores on each, both get 2 of 3
    data = _cpu_scenario()
    data["host"].update(cpu_cores=2, count=2)
    data["daemon"]["placement"] = "spread"
    s = _run(data).summary
    cpu = s["workloads"]["w"]["cpu"]
    assert cpu["asked_core_s"] == pytest.approx(180.0)
    assert cpu["received_fraction"] == pytest.approx(2 / 3)
    assert [h["peak_cpu_demand"] for h in s["hosts"]] == pytest.approx([1.5, 1.5])
    assert s["host"]["peak_cpu_demand"] == pytest.approx(6 / 4)     # 6 cores asked on 4 at 10-30 s
    assert s["warnings"] == ["CPU demand exceeded capacity on 2 of 2 hosts: peak 3.0 cores asked on 2 "
                             "(apps received 67% of what they asked)"]


def test_fair_share_keeps_what_is_asked_beside_what_is_served():
    env = simpy.Environment()
    seen: list[tuple[float, float]] = []
    cpu = FairShare(env, 4.0)
    cpu.on_excess = lambda now, d: seen.append((now, d))
    cpu.add_load(3.0)
    cpu.request(8.0, 2.0)            # 2 cores asked while in service
    env.run(until=1.0)
    assert cpu.asked == pytest.approx(5.0)
    # water-filling: 2 cores each (the item's cap is the fair share), the load gets the other 2:
    # 5 asked, 4 served until the item's 8 core-s are done at 4 s; then 3 asked and served
    env.run(until=10.0)
    assert cpu.asked == pytest.approx(3.0)
    cpu.remove_load(3.0)
    cpu.settle()
    assert cpu.asked == 0.0
    assert cpu.asked_s == pytest.approx(4 * 5.0 + 6 * 3.0)
    assert cpu.served == pytest.approx(4 * 4.0 + 6 * 3.0)
    assert seen == [(0.0, pytest.approx(1.0)), (4.0, pytest.approx(-1.0))]   # 1 core asked beyond 4


# --------------------------------------------------------------------------- JSON and the CLI


def test_json_has_null_never_nan(tmp_path, capsys):
    data = scenario_dict(duration_s=10, host={"ram_mib": 100})
    data["workloads"][0].update(mem_mib=200, arrival={"kind": "burst", "count": 2})
    path = tmp_path / "s.toml"
    path.write_text(_toml(data), encoding="utf-8")
    assert main(["run", str(path), "--json", "--no-progress"]) == 0
    out, err = capsys.readouterr()

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in the JSON")

    s = json.loads(out, parse_constant=no_constants)
    assert s["workloads"]["w"]["startup_s"]["p95"] is None
    assert "warning: w: 2 of 2 requests (100%) never started: 2 rejected" in err
    assert json.loads(to_json({"a": math.nan, "b": [math.inf, 1.0], "c": np.float64("nan")})) == \
        {"a": None, "b": [None, 1.0], "c": None}


def test_run_table_shows_waiting_dashes_and_api_calls(tmp_path, capsys):
    data = scenario_dict(duration_s=110, host={"ram_mib": 100})
    data["workloads"][0].update(arrival={"kind": "interval", "every_s": 30.0}, max_instances=4,
                                lifetime={"kind": "fixed", "s": 40.0})
    data["workloads"].append({**data["workloads"][0], "name": "big", "mem_mib": 500, "max_instances": 1})
    data["actions"] = [{"at_s": 5.0, "op": "pause", "workload": "w", "instance": 0},
                       {"at_s": 6.0, "op": "start", "workload": "w", "instance": 0},
                       {"at_s": 7.0, "op": "stop", "workload": "w", "instance": 3}]   # not requested yet
    path = tmp_path / "s.toml"
    path.write_text(_toml(data), encoding="utf-8")
    assert main(["run", str(path), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    head = out.splitlines()[2]
    assert "requested" in head and "started" in head and "rejected" in head and "waiting" in head
    big = next(line for line in out.splitlines() if line.startswith("big "))
    assert big.split()[2:7] == ["1", "0", "1", "0", "0"]        # requested, started, rejected, waiting, completed
    assert " - " in big                                         # no startup figure, not 0
    assert "API calls" in out and "w[0]" in out and "409" in out and "404" in out
    assert "3 call(s), 2 error(s)" in out
    assert "warning: big: 1 of 1 requests (100%) never started: 1 rejected" in err
    assert "warning: w: 1 of 4 requests (25%) never started: 1 still waiting at the horizon" in err


def _toml(data: dict) -> str:
    import tomli_w

    return tomli_w.dumps(data)


# --------------------------------------------------------------------------- compare


VM_IMAGE = {"name": "disk", "kind": "vm", "download_mib": 10.0, "disk_mib": 100.0}


def test_compare_skips_a_runtime_that_can_run_no_workload():
    data = scenario_dict(duration_s=30, images=[VM_IMAGE], daemon={"prepull": ["disk"]},
                         runtimes=[{"name": "zero", "kind": "container"}, {"name": "zerovm", "kind": "vm"}])
    data["workloads"][0].update(runtime="zerovm", image="disk", vm_disk="copy",
                                arrival={"kind": "burst", "count": 2})
    out = sc.compare(sc.parse_scenario(data), ["zero", "zerovm"])
    assert out["zero"]["skipped"] is True and out["zero"]["skipped_workloads"] == ["w"]
    assert "container runtime" in out["zero"]["reason"]
    run = out["zerovm"]
    assert run["workloads"]["w"]["started"] == 2 and run["skipped_workloads"] == []
    assert run["workloads"]["w"]["vm_disk_copy_mib"] == pytest.approx(100.0)
    assert run["workloads"]["w"]["phases_s"]["create"] > 0      # the disk copy is in create


def test_compare_text_prints_counts_and_the_phase_split(tmp_path, capsys):
    data = scenario_dict(duration_s=30, images=[VM_IMAGE], daemon={"prepull": ["disk"]},
                         runtimes=[{"name": "zero", "kind": "container"}, {"name": "zerovm", "kind": "vm"}])
    data["workloads"][0].update(runtime="zerovm", image="disk", vm_disk="copy",
                                arrival={"kind": "burst", "count": 2})
    path = tmp_path / "s.toml"
    path.write_text(_toml(data), encoding="utf-8")
    assert main(["compare", str(path), "--runtimes", "zerovm,zero", "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    for word in ("requested", "started", "waiting", "wait", "pull", "create", "boot", "ready", "VM disk copy MiB"):
        assert word in out
    assert "zero: skipped:" in out


# --------------------------------------------------------------------------- sweeps


def test_flatten_metrics_turns_null_into_nan():
    m = flatten_metrics({"workloads": {"w": {"startup_s": {"n": 0, "p95": None}, "never_started": 3}}})
    assert m["workloads.w.startup_s.n"] == 0 and m["workloads.w.never_started"] == 3
    assert math.isnan(m["workloads.w.startup_s.p95"])


def test_a_sweep_ranking_by_p95_puts_points_where_nothing_started_last(tmp_path):
    base = scenario_dict(duration_s=20)
    base["workloads"][0].update(arrival={"kind": "burst", "count": 3}, lifetime={"kind": "forever"})
    (tmp_path / "base.toml").write_text(_toml(base), encoding="utf-8")
    # at 50 MiB nothing fits (instances ask 100): no startup at all, so no p95 -- not p95 = 0
    spec = parse_sweep({"base": "base.toml", "replications": 1, "mode": "grid",
                        "axes": {"host.ram_mib": [50, 4096]}}, base_dir=tmp_path)
    res = run_sweep(spec, workers=1)
    runs = res.runs.set_index("host.ram_mib")
    assert math.isnan(runs.loc[50, "workloads.w.startup_s.p95"])
    assert runs.loc[50, "workloads.w.never_started"] == 3 and runs.loc[4096, "workloads.w.never_started"] == 0
    for ascending in (True, False):
        ranked = rank_points(res.summary, "workloads.w.startup_s.p95", ascending=ascending)
        assert ranked["host.ram_mib"].tolist() == [4096, 50]
        assert ranked["n"].tolist() == [1, 0] and math.isnan(ranked["mean"].iloc[-1])
    assert res.ranked("workloads.w.startup_s.p95")["host.ram_mib"].iloc[0] == 4096
    assert isinstance(ranked, pd.DataFrame)


# --------------------------------------------------------------------------- what the answer assumed


def test_every_result_says_what_it_assumed_without_rerunning():
    data = scenario_dict(duration_s=10)
    data["workloads"][0].update(arrival={"kind": "burst", "count": 2})
    s = _run(data).summary
    by = {a["key"]: a for a in s["assumptions"]}
    assert {"host.reserved_mib", "daemon.admission", "registry.egress_mb_s", "memory model"} <= set(by)
    for a in s["assumptions"]:
        assert set(a) == {"key", "value", "default", "source", "why", "flip_to"}    # no effect: nothing rerun
    assert by["daemon.admission"]["value"] == "queue" and not by["daemon.admission"]["default"]   # chosen
    assert not by["host.reserved_mib"]["default"]              # the test host keeps nothing: chosen
    assert by["registry.egress_mb_s"]["default"]                                 # left to the default
    # a list: left out of the sweep tables (they average numbers), kept in the JSON
    assert not any(k.startswith("assumptions") for k in flatten_metrics(s))
    assert json.loads(to_json(s))["assumptions"] == s["assumptions"]


# --------------------------------------------------------------------------- memory said plainly


def _restart_loses_its_room() -> dict:
    """`a` (2 GiB reserved, a 300 MiB cgroup limit, its app growing to 320 MiB) is OOM-killed at
    6 s; its RAM goes back at the exit, the second `b` waiting in the queue takes it, and `a`'s
    restart finds no room: it ends failed at 6.1 s, on a 4 GiB host, and stays down."""
    data = scenario_dict(duration_s=100)
    data["workloads"][0].update(name="a", mem_mib=2048, mem_limit_mib=300, restart="always",
                                usage={"working_set_mib": 400, "ramp_s": 10, "cv": 0.0, "interval_s": 60},
                                arrival={"kind": "burst", "count": 1, "at_s": 0}, lifetime={"kind": "forever"})
    data["workloads"].append({"name": "b", "runtime": "zero", "image": "tiny", "mem_mib": 2048, "writable_mib": 0,
                              "arrival": {"kind": "burst", "count": 2, "at_s": 1}, "lifetime": {"kind": "forever"}})
    return data


def test_an_instance_that_ended_failed_is_down_until_the_horizon():
    r = _run(_restart_loses_its_room())
    a = r.summary["workloads"]["a"]
    fail = r.recorder.failures[0]
    assert a["at_horizon"] == {"failed": 1} and fail["reason"].startswith("no room to restart it")
    # ready at 0, up until its OOM kill at 6 s, meant to run to the horizon: 6 of 100 s, not 6 of 6.1
    kill = r.recorder.oom_kills[0]["time_s"]
    assert a["lifecycle"]["availability"] == pytest.approx(kill / 100.0)
    assert a["lifecycle"]["failures"] == {fail["reason"]: 1} and a["lifecycle"]["failed_starts"] == 1


def test_each_workload_has_its_own_peak_reserved_ram():
    s = _run(_restart_loses_its_room()).summary
    # a held 2 GiB until 6 s; b 2 GiB from 1 s and 4 GiB from 6 s; the host never more than 4 GiB
    assert s["workloads"]["a"]["peak_ram_mib"] == pytest.approx(2048)
    assert s["workloads"]["b"]["peak_ram_mib"] == pytest.approx(4096)
    assert s["host"]["peak_ram_mib"] == pytest.approx(4096)
    assert (s["host"]["physical_ram_mib"], s["host"]["host_reserved_mib"], s["host"]["memory_overcommit"]) == \
        (4096.0, 0.0, 1.0)


def test_admission_none_names_the_physical_ram_not_the_overcommitted_promise():
    # 8 GiB promised twice over: dockerd (admission none) starts all twelve 1 GiB instances
    data = scenario_dict(duration_s=30, host={"ram_mib": 8192, "memory_overcommit": 2.0},
                         daemon={"admission": "none", "prepull": ["tiny"]})
    data["workloads"][0].update(mem_mib=1024, arrival={"kind": "burst", "count": 20, "at_s": 0},
                                lifetime={"kind": "forever"})
    s = _run(data).summary
    warn = next(w for w in s["warnings"] if w.startswith("admission \"none\""))
    assert "20,480 MiB" in warn and "250% of its 8,192 MiB of physical RAM" in warn
    assert "2x overcommit: 16,384 MiB" in warn and "16384 MiB (" not in warn
