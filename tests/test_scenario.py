"""Scenario validation: every problem named by field, with the value and what is allowed."""

from __future__ import annotations

import pytest
from conftest import scenario_dict

import simcontainer as sc


def problems_of(data) -> list[str]:
    with pytest.raises(sc.ScenarioError) as exc:
        sc.parse_scenario(data)
    return exc.value.problems


def test_valid_scenario_round_trips_through_toml(default_scenario):
    text = sc.dumps_scenario(default_scenario)
    again = sc.loads_scenario(text, base_dir=default_scenario.base_dir)
    assert again.model_dump() == default_scenario.model_dump()


def test_unknown_runtime_lists_allowed():
    data = scenario_dict()
    data["workloads"][0]["runtime"] = "rnuc"
    (p,) = problems_of(data)
    assert p.startswith("workloads[0].runtime: unknown runtime 'rnuc'")
    assert "runc" in p and "qemu-kvm" in p


def test_negative_ram():
    (p,) = problems_of(scenario_dict(host={"ram_mib": -5}))
    assert p.startswith("host.ram_mib: got -5") and "greater than 0" in p


def test_wrong_type():
    (p,) = problems_of(scenario_dict(host={"cpu_cores": "sixteen"}))
    assert p.startswith("host.cpu_cores: got 'sixteen'") and "number" in p


def test_missing_field():
    data = scenario_dict()
    del data["workloads"][0]["mem_mib"]
    (p,) = problems_of(data)
    assert p == "workloads[0].mem_mib: missing (required)"


def test_unknown_key_lists_allowed_keys():
    (p,) = problems_of(scenario_dict(host={"ramm_mib": 5}))
    assert p.startswith("host.ramm_mib: unknown key (allowed: cpu_cores, ram_mib")


def test_unknown_key_inside_a_union_member():
    data = scenario_dict()
    data["workloads"][0]["arrival"] = {"kind": "poisson", "rate": 1.0}
    probs = problems_of(data)
    assert "workloads[0].arrival.rate: unknown key (allowed: kind, rate_per_s, start_s)" in probs
    assert "workloads[0].arrival.rate_per_s: missing (required)" in probs


def test_bad_union_tag():
    data = scenario_dict()
    data["workloads"][0]["arrival"] = {"kind": "weibull"}
    (p,) = problems_of(data)
    assert p.startswith("workloads[0].arrival.kind: got 'weibull' (allowed:") and "'poisson'" in p


def test_every_problem_at_once():
    data = scenario_dict(host={"ram_mib": -1, "cpu_cores": 0})
    data["workloads"][0]["runtime"] = "nope"
    data["daemon"]["admission"] = "wait"
    probs = problems_of(data)
    fields = {p.split(":")[0] for p in probs}
    assert {"host.ram_mib", "host.cpu_cores", "daemon.admission", "workloads[0].runtime"} <= fields


def test_literal_names_allowed_values():
    (p,) = problems_of(scenario_dict(daemon={"admission": "wait"}))
    assert p == "daemon.admission: got 'wait' (allowed: 'queue', 'reject', 'backfill' or 'none')"


def test_duplicate_workload_names_and_vm_guest_too_small():
    data = scenario_dict()
    data["workloads"].append(dict(data["workloads"][0]))
    data["workloads"].append({**data["workloads"][0], "name": "vm", "runtime": "firecracker",
                              "image": "firecracker-rootfs", "mem_mib": 512, "guest_mem_mib": 256})
    probs = problems_of(data)
    assert any("name 'w' is used twice" in p for p in probs)
    assert any(p.startswith("workloads[2].guest_mem_mib: 256") for p in probs)


def test_container_runtime_cannot_run_a_vm_disk_image():
    data = scenario_dict()
    data["workloads"][0]["runtime"] = "runc"
    data["workloads"][0]["image"] = "ubuntu-24.04-cloud"
    (p,) = problems_of(data)
    assert p.startswith("workloads[0].image: 'ubuntu-24.04-cloud' is a VM disk image")


def test_layer_with_two_sizes_is_refused():
    data = scenario_dict(images=[
        {"name": "a", "layers": [{"id": "L", "download_mib": 1, "disk_mib": 2}]},
        {"name": "b", "layers": [{"id": "L", "download_mib": 1, "disk_mib": 3}]},
    ])
    data["daemon"]["prepull"] = []
    data["workloads"][0]["image"] = "a"
    probs = problems_of(data)
    assert any("layer 'L' has sizes" in p for p in probs)


def test_host_preset_and_unknown_preset():
    s = sc.parse_scenario(scenario_dict(host="server-64g"))
    assert s.host.cpu_cores == 16 and s.host.preset == "server-64g"
    data = scenario_dict()
    data["host"] = {"preset": "server-64g", "count": 3, "ram_mib": 32768}  # keys given win
    s = sc.parse_scenario(data)
    assert s.host.count == 3 and s.host.ram_mib == 32768 and s.host.cpu_cores == 16
    (p,) = problems_of(scenario_dict(host="mainframe"))
    assert p.startswith("host: unknown host preset 'mainframe' (allowed:")


def test_custom_runtime_accepts_zero_everywhere():
    rt = {"name": "z", "kind": "vm", "mem_overhead_mib": 0, "disk_overhead_mib": 0,
          "api": {"median_s": 0, "cpu_s": 0, "serial_s": 0}, "boot": {"median_s": 0},
          "default_guest_mem_mib": 0, "guest_os_mib": 0}
    # a VM runtime boots a VM image (a container image would need a stated rootfs conversion)
    data = scenario_dict(runtimes=[rt], images=[{"name": "zdisk", "kind": "vm", "disk_mib": 0, "download_mib": 0}])
    data["workloads"][0].update(runtime="z", image="zdisk")
    data["daemon"]["prepull"] = ["zdisk"]
    s = sc.parse_scenario(data)
    assert s.runtimes[0].api.is_zero


def test_phase_tail_and_exponential_rules():
    rt = {"name": "z", "kind": "container", "api": {"median_s": 1.0, "p95_s": 0.5}}
    data = scenario_dict(runtimes=[rt])
    probs = problems_of(data)
    assert any(p.startswith("runtimes[0].api: p95_s (0.5) is below median_s (1.0)") for p in probs)
    data = scenario_dict(runtimes=[{"name": "z", "kind": "container", "api": {"dist": "exponential"}}])
    assert any("takes mean_s" in p for p in problems_of(data))


def test_unreadable_file(tmp_path):
    with pytest.raises(sc.ScenarioError) as exc:
        sc.load_scenario(tmp_path / "nope.toml")
    assert "cannot read file" in exc.value.problems[0]


def test_malformed_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = 'x'\nduration_s = \n")
    with pytest.raises(sc.ScenarioError) as exc:
        sc.load_scenario(p)
    assert exc.value.problems[0].startswith("malformed TOML:") and "line 2" in exc.value.problems[0]


def test_trace_path_must_exist(tmp_path):
    data = scenario_dict()
    data["workloads"][0]["arrival"] = {"kind": "trace", "path": "arrivals.csv"}
    with pytest.raises(sc.ScenarioError) as exc:
        sc.parse_scenario(data, base_dir=tmp_path)
    assert exc.value.problems[0].startswith("workloads[0].arrival.path: trace file")


def test_example_scenarios_are_valid():
    folder = sc.scenario.profiles.models_dir() / "scenarios"
    names = sorted(p.name for p in folder.glob("*.toml"))
    assert {"default.toml", "deploy-burst.toml", "service-mix.toml"} <= set(names)
    for p in folder.glob("*.toml"):
        sc.load_scenario(p)


# ---- issue 23/24: check catches what run refuses, messages in the promised form -------------

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import tomli_w  # noqa: E402

from simcontainer.faces.cli import main as cli_main  # noqa: E402

BASE = {"name": "t", "duration_s": 60.0, "host": "server-64g",
        "workloads": [{"name": "w", "runtime": "runc", "image": "python:3.12-slim", "mem_mib": 256,
                       "arrival": {"kind": "burst", "count": 2}}]}


def _check_and_run(tmp_path, data, capsys):
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    codes = []
    for cmd in (["check"], ["run", "--json", "--no-progress"]):
        codes.append(cli_main([cmd[0], str(path), *cmd[1:]]))
        codes.append(capsys.readouterr().err)
    return codes


def _with(**over):
    import copy

    data = copy.deepcopy(BASE)
    for k, v in over.items():
        if k.startswith("w_"):
            data["workloads"][0][k[2:]] = v
        else:
            data[k] = v
    return data


@pytest.mark.parametrize("data, expect", [
    (_with(control_planes=[{"name": "x"}], w_control_plane="x"), "needs a kind or a base"),
    (_with(control_planes=[{"name": "x", "base": "dockerdd"}], w_control_plane="x"), "did you mean 'dockerd'"),
    (_with(control_planes=[{"name": "x", "base": "x"}], w_control_plane="x"), "names itself"),
    (_with(control_planes=[{"name": "a", "base": "b"}, {"name": "b", "base": "a"}], w_control_plane="a"),
     "cycle: a -> b -> a"),
    (_with(runtimes=[{"name": "r", "kind": "container", "control_plane": "nope"}], w_runtime="r"),
     "runtimes[0].control_plane: unknown control plane 'nope'"),
    (_with(w_control_plane="firecracker"), "allowed pairs: runc@dockerd, runc@kubelet, runc@direct"),
    (_with(w_mem_mb=3), "did you mean 'mem_mib'"),
    (_with(w_restart="on-failure:" + "9" * 5000), "workloads[0].restart: got 'on-failure:999"),
    (_with(w_time_to_failure={"kind": "fixed", "s": 1.0, "x": 1}), "time_to_failure.x: unknown key (allowed: kind, s)"),
    (_with(w_usage={"bogus": 1}), "usage.bogus: unknown key (allowed: working_set_mib"),
    (_with(workloads=[]), "workloads: got [] (allowed: a list of at least 1 entry)"),
    (_with(w_arrival={"kind": "burst", "count": 2**1024}), "arrival.count: got an integer of about 309 digits"),
    (_with(w_arrival={"kind": "trace", "path": "a" * 300 + ".csv"}), "File name too long"),
])
def test_check_refuses_what_run_refuses_with_one_clear_line(tmp_path, capsys, data, expect):
    check, check_err, run, run_err = _check_and_run(tmp_path, data, capsys)
    assert check == run == 2, (check_err, run_err)
    assert expect in check_err and check_err == run_err
    assert "Traceback" not in check_err and "(allowed: )" not in check_err


@pytest.mark.parametrize("extra", [{"w_usage": {"cv": 0.1}}, {"w_mem_limit_mib": 512.0},
                                   {"host": {"preset": "server-64g", "ksm": True}}])
def test_warm_with_the_memory_model_check_agrees_with_run(tmp_path, capsys, extra):
    check, _, run, _ = _check_and_run(tmp_path, _with(w_warm={"pool": 1}, **extra), capsys)
    assert check == run


def test_a_sweep_file_is_not_a_scenario_and_back(tmp_path):
    from simcontainer.studies.sweep_design import load_sweep

    (tmp_path / "base.toml").write_text(tomli_w.dumps(BASE), encoding="utf-8")
    (tmp_path / "sw.toml").write_text('base = "base.toml"\n[axes]\n"host.ram_mib" = [32768]\n', encoding="utf-8")
    with pytest.raises(sc.ScenarioError, match="this is a sweep file.*use simcontainer sweep"):
        sc.load_scenario(tmp_path / "sw.toml")
    with pytest.raises(sc.ScenarioError, match="this is a scenario file.*use simcontainer run"):
        load_sweep(tmp_path / "base.toml")


@pytest.mark.parametrize("axes, expect", [
    ('"workloads.w.mem_mib" = { low = 1, high = ' + "1" * 400 + ", num = 3 }", "high: got an integer of about"),
    ('"workloads.w.name" = [[1979-05-27]]', "TOML date"),
    ('"workloads.w.mem_mib" = [1, ' + "1" * 400 + "]", "integer beyond 2**63"),
])
def test_sweep_values_that_cannot_be_data_are_one_line_errors(tmp_path, axes, expect):
    from simcontainer.studies.sweep_design import load_sweep

    (tmp_path / "base.toml").write_text(tomli_w.dumps(BASE), encoding="utf-8")
    (tmp_path / "sw.toml").write_text(f'base = "base.toml"\n[axes]\n{axes}\n', encoding="utf-8")
    with pytest.raises(sc.ScenarioError, match=expect.replace("*", r"\*").replace("[", r"\[")):
        load_sweep(tmp_path / "sw.toml")


def test_density_takes_runtime_at_plane_and_refuses_pairs_that_do_not_exist():
    s = sc.load_scenario(Path(__file__).resolve().parents[1] / "models" / "scenarios" / "default.toml")
    d = sc.density(s, ["runc@kubelet"])
    assert d["api-runc"]["runc@kubelet"]["fits"] == d["api-runc"]["runc"]["fits"]
    with pytest.raises(sc.ScenarioError, match="'runc@firecracker': runtime 'runc' does not run under"):
        sc.density(s, ["runc@firecracker"])


@pytest.mark.parametrize("over, expect", [
    ({"w_mem_mib": 10**6}, "workloads[0].mem_mib: one instance of 'w' needs 1,000,0"),
    ({"w_runtime": "qemu-kvm", "w_image": "ubuntu-24.04-cloud", "w_guest_mem_mib": 100_000.0},
     "workloads[0].guest_mem_mib: one instance of 'w' needs 100,"),
    ({"w_runtime": "qemu-kvm", "w_image": "ubuntu-24.04-cloud", "w_vm_disk": "copy",
      "host": {"cpu_cores": 4, "ram_mib": 8192, "disk_gib": 1}}, "MiB of disk but a host has 1,024 MiB"),
    ({"w_cpu": 64.0, "host": {"preset": "server-64g", "cpu_overcommit": 2.0}}, "cores of CPU but a host has 32 cores"),
])
def test_check_refuses_an_instance_larger_than_a_host_and_run_still_runs_it(over, expect):
    """check names the resource, the need and the host's capacity; a run runs it (all rejected),
    so that a sweep over host sizes keeps its points where nothing started."""
    from simcontainer.engine import guard

    s = sc.parse_scenario(_with(**over))
    with pytest.raises(sc.ScenarioError, match=re.escape(expect)):
        guard.check_scenario(s)
    w = sc.simulate(s).summary["workloads"]["w"]
    assert w["started"] == 0 and w["rejected"] == 2
    guard.check_size(s)                       # the size guard alone has nothing against it
