"""The planner's pure helpers: table round trip, links, uploads, comparison, answer, sweep, lessons."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import simcontainer as sc
from simcontainer.scenario.errors import ScenarioError
from simcontainer.studies import (
    comparison,
    hosts_needed,
    lessons,
    oom_risk,
    planner,
    planner_sweeps,
)


@pytest.fixture(scope="module")
def default():
    return planner.default_scenario()


def test_table_round_trip_is_identity(default):
    table = planner.workloads_table(default)
    assert list(table.columns) == list(planner.COLUMNS)
    assert list(table["name"]) == [w.name for w in default.workloads]
    again = planner.scenario_from_inputs(default, table)
    assert planner.canonical(again) == planner.canonical(default)


def test_table_edits_reach_the_scenario(default):
    table = planner.workloads_table(default)
    table.loc[0, "mem_mib"] = 512.0
    table.loc[0, "count"] = 7
    table.loc[3, "arrival"] = "interval"
    table.loc[3, "rate_per_s"] = 0.5
    table.loc[3, "lifetime"] = "fixed"
    table.loc[3, "lifetime_s"] = 30.0
    s = planner.scenario_from_inputs(default, table, preset="laptop", count=3)
    w0, w3 = s.workloads[0], s.workloads[3]
    assert w0.mem_mib == 512 and w0.arrival.count == 7
    assert w3.arrival.kind == "interval" and w3.arrival.every_s == pytest.approx(2.0)
    assert w3.lifetime.kind == "fixed" and w3.lifetime.s == 30.0
    assert s.host.preset == "laptop" and s.host.ram_mib == 16384 and s.host.count == 3
    # a field the table does not show carries over by name
    assert s.workloads[1].vm_disk == "overlay"


def test_host_by_hand_and_new_row(default):
    table = planner.workloads_table(default)
    new = {"name": "cache", "runtime": "crun", "image": "redis:7", "cpu": 0.2, "mem_mib": 300.0,
           "arrival": "poisson", "rate_per_s": 0.1, "count": 50, "lifetime": "lognormal", "lifetime_s": 60.0}
    table = pd.concat([table, pd.DataFrame([new]), pd.DataFrame([{}])], ignore_index=True)
    host = {"cpu_cores": 32, "ram_mib": 131072, "disk_gib": 500, "disk_mb_s": 800, "net_mb_s": 250}
    s = planner.scenario_from_inputs(default, table, host=host, count=1, duration_s=600, seed=3)
    assert s.host.preset is None and s.host.cpu_cores == 32 and s.duration_s == 600 and s.seed == 3
    cache = s.workloads[-1]
    assert cache.name == "cache" and cache.max_instances == 50
    assert cache.lifetime.kind == "lognormal" and cache.lifetime.p95_s >= cache.lifetime.median_s


def test_bad_table_lists_each_problem_by_field(default):
    table = planner.workloads_table(default)
    table.loc[0, "runtime"] = "no-such-runtime"
    table.loc[2, "mem_mib"] = -5.0
    table.loc[3, "rate_per_s"] = None
    with pytest.raises(ScenarioError) as err:
        planner.scenario_from_inputs(default, table)
    text = "\n".join(err.value.problems)
    assert "workloads[0].runtime" in text
    assert "workloads[2].mem_mib" in text
    assert "workloads[3].arrival.rate_per_s" in text


def test_link_token_round_trip_and_damage(default):
    s = planner.scenario_from_inputs(default, planner.workloads_table(default), preset="laptop")
    token = planner.encode_scenario(s)
    assert all(c.isalnum() or c in "-_" for c in token)
    assert planner.canonical(planner.decode_scenario(token)) == planner.canonical(s)
    with pytest.raises(ScenarioError) as err:
        planner.decode_scenario("not-a-token")
    assert err.value.problems[0].startswith("s:")


def test_downloaded_toml_runs_unchanged(default, tmp_path):
    s = planner.scenario_from_inputs(default, planner.workloads_table(default), preset="laptop", count=2)
    text = planner.canonical(s)
    again = sc.loads_scenario(text)
    a, b = sc.simulate(again).summary, sc.simulate(s).summary

    def values(summary: dict) -> list:
        return [(x["key"], x["value"]) for x in summary["assumptions"]]

    # the same run; the canonical file writes every setting, so each now reads as chosen, same value
    assert {**a, "assumptions": None} == {**b, "assumptions": None} and values(a) == values(b)
    path = tmp_path / "what-if.toml"
    path.write_text(text)
    out = subprocess.run([sys.executable, "-m", "simcontainer.faces.cli", "run", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"scenario"' in out.stdout


def test_read_scenario_text_reports_fields():
    s, problems = planner.read_scenario_text(b'name = "x"\nduration_s = -1\n[host]\ncpu_cores = 0\n')
    assert s is None
    joined = "\n".join(problems)
    for field in ("duration_s:", "host.cpu_cores:", "host.ram_mib: missing", "workloads: missing"):
        assert field in joined
    assert planner.read_scenario_text("x = [")[1][0].startswith("malformed TOML")
    assert planner.read_scenario_text("  ")[1]
    assert planner.read_scenario_text(b"\xff\xfe")[1][0].startswith("not UTF-8")
    good, none = planner.read_scenario_text(planner.canonical(planner.default_scenario()))
    assert good is not None and none == []


def _cells(scenario, workloads, runtimes):
    cells, notes = comparison.like_for_like(scenario, workloads, runtimes)
    out, dens = {}, {}
    for c in cells:
        r = sc.simulate(c.scenario)
        out[c.key] = {"summary": r.summary, "instances": r.instances}
        dens[c.key] = sc.density(c.scenario, [c.runtime])[c.workload][c.runtime]
    return cells, notes, out, dens


def test_like_for_like_rows_and_answer(default):
    compare = ["runc", "firecracker", "qemu-kvm", "kata", "cloud-hypervisor"]
    names = [w.name for w in default.workloads]
    cells, notes, out, dens = _cells(default, names, compare)
    assert notes == [] and len(cells) == len(names) * len(compare)
    for c in cells:   # every runtime runs the same workload: same arrivals, lifetime, cpu and memory
        w = c.scenario.workloads[0]
        own = next(x for x in default.workloads if x.name == c.workload)
        assert len(c.scenario.workloads) == 1 and w.runtime == c.runtime
        assert (w.arrival, w.lifetime, w.cpu, w.mem_mib) == (own.arrival, own.lifetime, own.cpu, own.mem_mib)
        kind = c.scenario.runtime_table()[c.runtime].kind
        img_kind = c.scenario.image_table()[w.image].kind
        assert (kind == "vm") == (img_kind == "vm")          # no container image copied as a VM disk
        if kind == "vm":
            assert w.vm_disk == "overlay"                     # the mix's disk mode, for every VM runtime
    rows = comparison.cell_rows(cells, dens, out)
    assert len(rows) == len(cells)
    lead = rows[rows["workload"] == "api-runc"].set_index("runtime")
    # like for like: every VM runtime boots the same guest (the mix's first VM guest, Firecracker's
    # 512 MiB rootfs), so the VMs differ only by their VMM's overhead
    vms = lead[lead["kind"] == "vm"]
    assert set(vms["image"]) == {"firecracker-rootfs"} and set(vms["guest_mem_mib"]) == {512.0}
    cat = sc.default_catalogue()
    room = default.host.ram_mib - default.host.reserve_mib      # after the host's reserve
    for rt in vms.index:           # fits = RAM / (guest + VMM overhead): admission counts RAM only
        assert lead.loc[rt, "fits"] == room // (512 + cat.runtimes[rt].mem_overhead_mib)
        assert lead.loc[rt, "binding"] == "ram"
    # the default host keeps GKE's typical reserve (5,711.5 MiB of 64 GiB; 101 and 127 with nothing kept)
    assert lead.loc["qemu-kvm", "fits"] == 93 and lead.loc["firecracker", "fits"] == 116
    # CPU is not admitted on this host (no cpu_overcommit): RAM binds runc, as the run shows
    assert lead.loc["runc", "fits"] == room // (256 + cat.runtimes["runc"].mem_overhead_mib) == 230
    assert lead.loc["runc", "binding"] == "ram" and not lead.loc["runc", "cpu_counted"]
    assert lead.loc["qemu-kvm", "startup_p95_s"] > 2 * lead.loc["firecracker", "startup_p95_s"]
    # the deploy and the churn are separate rows: runc's deploy is not pooled with 351 churn starts
    runc = rows[rows["runtime"] == "runc"].set_index("workload")
    assert runc.loc["api-runc", "requested"] == 20 and runc.loc["churn-runc", "requested"] > 300
    phases = lead.loc["qemu-kvm", ["wait_s", "pull_s", "create_s", "boot_s", "ready_s"]].sum()
    x = comparison.startup_samples(out[("api-runc", "qemu-kvm")]["instances"], ["api-runc"])
    assert phases == pytest.approx(x.mean())
    text = " ".join(comparison.answer(lead.reset_index()))
    assert "RAM binds at 93 QEMU VMs of api-runc" in text
    assert "runc fits 230 before RAM binds" in text
    assert "Every VM booted firecracker-rootfs with 512 MiB guest RAM" in text
    assert "p95 startup" in text and "(qemu-kvm)" in text
    lead_cells = [c for c in cells if c.workload == "api-runc"]
    ecdf = comparison.ecdf_frame(lead_cells, out)
    assert set(ecdf["runtime"]) == set(compare)
    assert len(comparison.phases_long(lead.reset_index())) == 5 * len(compare)
    shown = comparison.shown_rows(rows)
    assert "measured_in" not in shown.columns and "Median (s)" in shown.columns
    assert not shown.isin(["None", "nan", "NaN"]).any().any()


def _burst_mix(count=20):
    return sc.parse_scenario({
        "name": "planes", "duration_s": 60.0, "seed": 1, "host": "server-64g",
        "daemon": {"prepull": ["alpine:3.20"]},
        "workloads": [{"name": "web", "runtime": "runc", "image": "alpine:3.20", "mem_mib": 16,
                       "arrival": {"kind": "burst", "count": count}}]})


def test_same_runtime_behind_two_control_planes_is_two_rows():
    s = _burst_mix()
    cells, notes, out, dens = _cells(s, ["web"], ["runc", "runc@kubelet", "runc@podman", "nosuch@kubelet"])
    assert [c.entry for c in cells] == ["runc", "runc@kubelet"]
    assert [c.plane for c in cells] == ["dockerd", "kubelet"]
    assert [c.own for c in cells] == [True, False]
    assert notes[0].startswith("runc@podman: unknown control plane 'podman'")
    assert notes[1].startswith("nosuch@kubelet: unknown runtime")
    # like for like: the same workload, image and arrivals; only the control plane differs
    a, b = (c.scenario.to_dict()["workloads"][0] for c in cells)
    assert {k: v for k, v in a.items() if k != "control_plane"} == {k: v for k, v in b.items() if k != "control_plane"}
    assert a.get("control_plane") is None and b["control_plane"] == "kubelet"
    ta, tb = (out[c.key]["instances"]["t_request"].sort_values().to_numpy() for c in cells)
    assert (ta == tb).all()
    rows = comparison.cell_rows(cells, dens, out).set_index("runtime")
    assert list(rows.index) == ["runc", "runc@kubelet"]
    assert list(rows["runtime_name"]) == ["runc", "runc"]
    assert list(rows["control_plane"]) == ["dockerd", "kubelet"]
    assert list(rows["label"]) == ["runc under dockerd", "runc under kubelet/containerd (CRI)"]
    assert (rows["started"] == 20).all() and rows["fits"].nunique() == 1     # density: the plane adds nothing
    # why they differ: dockerd creates each endpoint under libnetwork's per-network lock (0.10 s
    # each, models/control-planes/dockerd.toml), so 20 containers at once take at least 20 x 0.10 s
    # to get through it; the kubelet's serialized step is host-local IPAM's 0.01 s file lock, but
    # each of its pods is running only once the PLEG's next relist (every 1 s) has seen it
    d, k = rows.loc["runc"], rows.loc["runc@kubelet"]
    last = {c.entry: out[c.key]["summary"]["workloads"]["web"]["startup_s"]["max"] for c in cells}
    assert last["runc"] >= 20 * 0.10 > last["runc@kubelet"]
    assert d["startup_p95_s"] > k["startup_p95_s"]
    # one start alone: no queue at either lock, and the kubelet pays its pod sandbox instead
    one, _, out1, _ = _cells(_burst_mix(1), ["web"], ["runc", "runc@kubelet"])
    alone = {c.entry: out1[c.key]["summary"]["workloads"]["web"]["startup_s"]["p50"] for c in one}
    # (the pod is running when the PLEG's relist at 1 s sees it: kubernetes PR 137362 measured
    # 1.1-1.8 s per pod on kind)
    assert alone["runc"] < 1.0 and alone["runc@kubelet"] < 1.5
    text = " ".join(comparison.answer(rows.reset_index()))
    assert "(runc under kubelet/containerd (CRI))" in text and "(runc under dockerd)" in text
    shown = comparison.shown_rows(rows.reset_index())
    assert list(shown["Runtime"]) == ["runc", "runc"]
    assert list(shown["Control plane"]) == ["dockerd (default)", "kubelet/containerd (CRI)"]
    assert set(comparison.ecdf_frame(cells, out)["runtime"]) == {"runc", "runc@kubelet"}


def test_runtimes_are_described_with_their_control_plane():
    assert comparison.describe("runc") == "runc (host kernel; dockerd)"
    assert comparison.describe("firecracker") == "firecracker (guest kernel; its own VMM API)"
    assert comparison.describe("qemu-kvm") == "qemu-kvm (guest kernel; libvirt)"
    assert comparison.describe("gvisor@kubelet") == "gvisor under kubelet/containerd (CRI) (user-space kernel)"
    assert "runc@kubelet" in comparison.plane_choices() and "runc@dockerd" not in comparison.plane_choices()
    assert not any(c.startswith(("firecracker", "qemu")) for c in comparison.plane_choices())
    cat = sc.default_catalogue()
    for name, rt in cat.runtimes.items():      # the profile's own default, never a guess
        assert comparison.default_plane(name) == rt.control_plane


def test_mixed_deploy_lesson_scenarios():
    both = sc.simulate(lessons.lesson_mixed(100, 5)).summary["workloads"]
    vms = sc.simulate(lessons.lesson_mixed(100, 5, only=["microvms"])).summary["workloads"]
    assert set(both) == {"containers", "microvms"} and set(vms) == {"microvms"}
    assert both["microvms"]["startup_s"]["p95"] == pytest.approx(vms["microvms"]["startup_s"]["p95"], rel=0.02)
    small = sc.simulate(lessons.lesson_mixed(100, 5, cpu_cores=4)).summary["workloads"]
    assert small["microvms"]["startup_s"]["p95"] > 3 * vms["microvms"]["startup_s"]["p95"]
    disk = sc.simulate(lessons.lesson_mixed(100, 5, qemu_copies=10, microvm_disk="copy")).summary["workloads"]
    alone = sc.simulate(lessons.lesson_mixed(100, 5, microvm_disk="copy", only=["microvms"])).summary["workloads"]
    assert disk["microvms"]["startup_s"]["p95"] > 1.5 * alone["microvms"]["startup_s"]["p95"]
    # the copies barely touch the containers: only their start's 0.5 MiB of rootfs writes share
    # the disk with them (models/control-planes/dockerd.toml rootfs_mib)
    assert disk["containers"]["startup_s"]["p95"] == pytest.approx(both["containers"]["startup_s"]["p95"], rel=0.02)


def test_never_started_is_shown(default):
    small = planner_sweeps.with_values(default, {"host.cpu_cores": 4, "host.ram_mib": 8192, "host.reserved_mib": 0.0})
    cells, _, out, dens = _cells(small, ["api-qemu"], ["runc", "qemu-kvm"])
    rows = comparison.cell_rows(cells, dens, out)
    q = rows.set_index("runtime").loc["qemu-kvm"]
    # what fits is what admission let start: 8192 // (1024 guest + QEMU's overhead) = 7
    assert q["fits"] == 7 and q["requested"] == 20 and q["started"] == 7 and q["waiting"] == 13
    text = " ".join(comparison.answer(rows))
    assert "7 of 20 QEMU VMs started: 13 still waiting at the horizon (RAM full)." in text
    assert comparison.failed(rows)
    # the ECDF's denominator is the requests: it tops out at 7 / 20
    ecdf = comparison.ecdf_frame(cells, out)
    assert ecdf[ecdf["runtime"] == "qemu-kvm"]["fraction"].max() == pytest.approx(7 / 20)
    mix = sc.simulate(small)
    status = comparison.workload_status(mix.summary, mix.instances).set_index("workload")
    assert status.loc["api-qemu", "started"] == 0 and status.loc["api-qemu", "waiting"] == 20
    said = " ".join(comparison.not_started(small, status.reset_index()))
    assert "0 of 20 QEMU VMs of api-qemu started: RAM (20 still waiting at the horizon)" in said
    assert "queued behind" in said          # churn waits behind the VMs that do not fit (FIFO)
    # nothing started: "—", never 0
    none = rows.copy()
    none["startup_p95_s"] = float("nan")
    assert (comparison.shown_rows(none)["p95 startup (s)"] == "—").all()
    assert comparison.fmt_s(None) == "—"


@pytest.mark.parametrize("setting, started, reason", [
    # 2x overcommit: admission promises 16 GiB of an 8 GiB host: 14 VMs of 1,024 MiB + the VMM
    ({"host.memory_overcommit": 2.0}, 14, "6 still waiting at the horizon (RAM full)"),
    # reject: turned away, never queued
    ({"daemon.admission": "reject"}, 7, "13 rejected"),
])
def test_fits_started_and_why_agree(default, setting, started, reason):
    """One capacity story: "fits" is what admission lets in, "started" agrees with it, and the
    reason for the rest comes from the run."""
    small = planner_sweeps.with_values(default, {"host.cpu_cores": 4, "host.ram_mib": 8192, "host.reserved_mib": 0.0, **setting})
    cells, _, out, dens = _cells(small, ["api-qemu"], ["qemu-kvm"])
    rows = comparison.cell_rows(cells, dens, out)
    r = rows.iloc[0]
    assert r["fits"] == started == r["started"]
    text = " ".join(comparison.answer(rows))
    assert f"{started} of 20 QEMU VMs started: {reason}" in text and comparison.failed(rows)
    key = "rejected" if "rejected" in reason else "waiting"
    assert r[key] == 20 - started


def test_admission_none_starts_everything_and_says_who_was_killed(default):
    small = planner_sweeps.with_values(default, {"host.cpu_cores": 4, "host.ram_mib": 8192, "host.reserved_mib": 0.0,
                                                 "daemon.admission": "none"})
    cells, _, out, dens = _cells(small, ["api-qemu"], ["qemu-kvm"])
    rows = comparison.cell_rows(cells, dens, out)
    r = rows.iloc[0]
    assert r["fits"] == 7 and r["started"] == 20     # fits: the physical RAM; none starts all
    assert r["oom_killed"] > 0 and comparison.failed(rows)    # never a green answer
    text = " ".join(comparison.answer(rows))
    assert f"20 of 20 QEMU VMs started: {int(r['oom_killed'])} OOM-killed." in text
    assert "Admission none" in text
    assert int(r["oom_killed"]) == out[cells[0].key]["summary"]["memory"]["oom_kills"]
    assert "OOM-killed" in comparison.shown_rows(rows).columns


def test_every_vm_runtime_boots_the_same_guest(default):
    cells, _ = comparison.like_for_like(default, ["api-runc", "api-qemu"], ["firecracker", "qemu-kvm",
                                                                              "cloud-hypervisor", "runc"])
    for wl in ("api-runc", "api-qemu"):
        guests = {(c.scenario.workloads[0].image, c.scenario.workloads[0].guest_mem_mib)
                  for c in cells if c.workload == wl and c.runtime != "runc"}
        assert len(guests) == 1, guests
    own = {c.scenario.workloads[0].image for c in cells if c.workload == "api-qemu" and c.runtime != "runc"}
    assert own == {"ubuntu-24.04-cloud"}                       # a VM workload keeps its own guest
    # a planner's choice applies to every VM runtime and every workload
    g = comparison.Guest("ubuntu-24.04-cloud", 768.0)
    cells, _ = comparison.like_for_like(default, ["api-runc", "api-firecracker"], ["firecracker", "qemu-kvm"], guest=g)
    assert {(c.scenario.workloads[0].image, c.scenario.workloads[0].guest_mem_mib) for c in cells} == \
        {("ubuntu-24.04-cloud", 768.0)}


def test_estimates_are_marked():
    from simcontainer.studies import estimates

    assert estimates.mark("runc", "startup") == ""                # dockerd and runc medians: measured
    assert estimates.mark("runc@kubelet", "startup") == estimates.MARK    # "mostly estimates"
    assert "kubelet: api.median_s" in estimates.hover("runc@kubelet", "startup")
    assert estimates.mark("crun", "fits") == estimates.MARK       # crun's memory overhead is an estimate
    rows = pd.DataFrame([{"workload": "w", "runtime": "runc@kubelet", "startup_p95_s": 1.0, "fits": 3.0}])
    shown = comparison.shown_rows(rows)
    assert shown["p95 startup (s)"].iloc[0] == "1.00 ≈"


def test_compare_skips_what_cannot_run():
    s = sc.parse_scenario({"name": "vm-only", "duration_s": 60, "host": "laptop",
                           "workloads": [{"name": "v", "runtime": "qemu-kvm", "image": "ubuntu-24.04-cloud",
                                          "mem_mib": 256, "arrival": {"kind": "burst", "count": 1}}]})
    cells, notes = comparison.like_for_like(s, ["v"], ["qemu-kvm", "runc", "nope"])
    assert [c.runtime for c in cells] == ["qemu-kvm", "runc"]
    assert cells[1].image == "python:3.12-slim"     # a container runtime gets a container image
    assert any(n.startswith("nope:") for n in notes)
    assert comparison.answer(pd.DataFrame()) == ["Nothing to compare: pick at least one runtime."]


def test_answer_single_runtime_and_format():
    rows = pd.DataFrame([{"runtime": "runc", "kind": "container", "workload": "api", "fits": 1,
                          "binding": "ram", "ram_overhead_share": 0.1, "startup_p50_s": 0.5,
                          "startup_p95_s": 0.8}])
    text = " ".join(comparison.answer(rows, hosts=2))
    assert "On 2 hosts, runc fits 1 runc container of api before RAM binds" in text
    assert "p95 startup 0.80 s" in text
    assert [comparison.fmt_s(x) for x in (0.123, 2.34, 11.4, None)] == ["0.12 s", "2.3 s", "11 s", "—"]


def test_resample_steps_holds_values():
    ts = pd.DataFrame({"time_s": [0.0, 10.0, 20.0], "running": [0, 5, 2]})
    out = planner.resample_steps(ts, 30.0, points=7)
    assert list(out["running"]) == [0, 0, 5, 5, 2, 2, 2]


def test_gantt_intervals_follow_events():
    s = lessons.lesson_lifecycle(6, 10, 2048)
    r = sc.simulate(s)
    g = planner.gantt_frame(r.events, s.duration_s)
    assert (g["end_s"] >= g["start_s"]).all()
    assert {"running", "paused", "waiting"} <= set(g["state"])
    assert "removed" not in set(g["state"])
    first = g[g["instance"] == 0]
    assert first["start_s"].is_monotonic_increasing


def test_sweep_grid_replications(default):
    small = lessons.lesson_burst("runc", 20, 4)
    axes = {"host.cpu_cores": [2, 8], "workloads.app.arrival.count": [10, 20]}
    seen = []
    runs, summary = planner_sweeps.sweep(small, axes, replications=2, progress=lambda d, t: seen.append((d, t)))
    assert len(runs) == 8 and seen[-1] == (8, 8)
    assert {"point", "replication", "seed", *axes, "workloads.app.startup_s.p95"} <= set(runs.columns)
    m = summary[summary["metric"] == "workloads.app.startup_s.p95"]
    assert len(m) == 4 and (m["n"] == 2).all()
    assert (m["ci95_low"] <= m["mean"]).all() and (m["mean"] <= m["ci95_high"]).all()
    slow = m[(m["host.cpu_cores"] == 2) & (m["workloads.app.arrival.count"] == 20)]["mean"].iloc[0]
    fast = m[(m["host.cpu_cores"] == 8) & (m["workloads.app.arrival.count"] == 10)]["mean"].iloc[0]
    assert slow > fast


def test_sweep_parameters_values_and_bad_path(default):
    params = planner_sweeps.sweep_parameters(default)
    assert params["host.ram_mib"] == 65536 and params["workloads.api-runc.arrival.count"] == 20
    assert planner_sweeps.sweep_values("host.count", 1, 4, 4) == [1, 2, 3, 4]
    assert planner_sweeps.sweep_values("host.ram_mib", 1, 2, 3) == [1.0, 1.5, 2.0]
    s = planner_sweeps.with_values(default, {"host.ram_mib": 1024.0 * 32, "workloads.api-qemu.mem_mib": 300})
    assert s.host.ram_mib == 32768 and s.host.preset is None and s.workloads[2].mem_mib == 300
    with pytest.raises(ScenarioError):
        planner_sweeps.with_values(default, {"workloads.nobody.cpu": 1})


def test_lessons_teach_what_they_say():
    # image vs container: one download, whatever the number of containers
    one = sc.simulate(lessons.lesson_image_vs_container("node:20-slim", 1)).summary["host"]
    many = sc.simulate(lessons.lesson_image_vs_container("node:20-slim", 30)).summary["host"]
    assert one["pulled_mib"] == many["pulled_mib"] > 0
    assert many["peak_disk_mib"] > one["peak_disk_mib"]
    # a VM holds far more RAM than a container for the same app
    vm = sc.simulate(lessons.lesson_kernel("qemu-kvm", 10, 256)).summary["host"]["peak_ram_mib"]
    ct = sc.simulate(lessons.lesson_kernel("runc", 10, 256)).summary["host"]["peak_ram_mib"]
    assert vm > 3 * ct
    # pulls dominate an uncached start
    cold = comparison.phase_means(sc.simulate(lessons.lesson_startup("runc", False)).instances, ["app"])
    warm = comparison.phase_means(sc.simulate(lessons.lesson_startup("runc", True)).instances, ["app"])
    assert cold["pull"] > 0 == warm["pull"]
    # contention: fewer cores, slower burst
    p95 = [sc.simulate(lessons.lesson_burst("firecracker", 100, c)).summary["workloads"]["app"]["startup_s"]["p95"]
           for c in (2, 32)]
    assert p95[0] > p95[1]
    # shared layers are pulled once
    sizes = lessons.image_sizes(["python:3.12-slim", "node:20-slim"])
    assert (sizes["shared_disk_mib"] > 0).all()
    r = sc.simulate(lessons.lesson_layers(["python:3.12-slim", "node:20-slim"])).summary
    pulled = [w["pull"]["pulled_mib"] for w in r["workloads"].values()]
    assert pulled[0] == pytest.approx(44.0) and pulled[1] < sizes["download_mib"][1]
    nodes, edges = lessons.layer_nodes(["python:3.12-slim", "node:20-slim"])
    assert nodes["shared"].sum() == 1 and len(edges) == len(nodes) - 1


def test_gantt_says_creating_when_the_image_is_cached():
    s = lessons.lesson_lifecycle(4, 10, 8192)
    r = sc.simulate(s)
    g = planner.gantt_frame(r.events, s.duration_s, instances=r.instances)
    # the first start fetched the image; the second, 2 s later, waited for the last of its layers
    # (its pull takes ~2.1 s); the third found it cached
    first, second = g[g["instance"] == 0], g[g["instance"] == 2]
    assert "pulling" in set(first["state"])            # the first start fetched the image
    assert "pulling" not in set(second["state"])       # a later one found it cached...
    assert "creating" in set(second["state"])          # ...and was creating, not pulling
    assert (g["end_s"] >= g["start_s"]).all()


def test_hosts_needed_per_runtime(default):
    counts = hosts_needed.steady_counts(default)
    assert counts == {"api-runc": 20, "api-firecracker": 20, "api-qemu": 20, "churn-runc": 24}
    t = hosts_needed.hosts_needed(default, counts, ["runc", "qemu-kvm"], headroom=0.2).set_index("runtime")
    assert t.loc["runc", "hosts"] == 1 and t.loc["qemu-kvm", "hosts"] == 2
    assert t.loc["qemu-kvm", "binding"] == "RAM"
    assert (t["hosts"] >= t["lower_bound"]).all()
    # more instances, more hosts; no headroom, fewer
    big = {k: 10 * v for k, v in counts.items()}
    t2 = hosts_needed.hosts_needed(default, big, ["qemu-kvm"], headroom=0.2)
    t3 = hosts_needed.hosts_needed(default, big, ["qemu-kvm"], headroom=0.0)
    assert t2["hosts"].iloc[0] > t.loc["qemu-kvm", "hosts"] and t3["hosts"].iloc[0] <= t2["hosts"].iloc[0]
    text = hosts_needed.hosts_answer(t.reset_index(), counts, "server-64g", 0.2)
    # closed form per type: a million instances is as cheap as twenty, and exact for one type
    one = hosts_needed.hosts_needed(default, {"api-runc": 1_000_000}, ["runc"], headroom=0.0).iloc[0]
    per = sc.density(default, ["runc"])["api-runc"]["runc"]["per_instance"]
    h = default.host
    fit = min(h.ram_mib // per["ram_mib"], round(h.cpu_cores / per["cpu"]))
    assert one["hosts"] == -(-1_000_000 // fit) >= one["lower_bound"]
    assert "2 on qemu-kvm (RAM binds)" in text and "20% headroom" in text



def test_pack_by_type_against_first_fit():
    import numpy as np

    cap = np.array([100.0, 10.0, 1000.0])
    types = [(np.array([30.0, 1.0, 10.0]), 7), (np.array([10.0, 4.0, 10.0]), 5), (np.array([1.0, 0.1, 1.0]), 33)]
    n = hosts_needed.pack_by_type(types, cap)
    total = sum(i * k for i, k in types)
    assert int(np.ceil(np.max(total / cap))) <= n <= sum(-(-k // int(np.min(cap // i))) for i, k in types)
    assert hosts_needed.pack_by_type([(np.array([200.0, 1.0, 1.0]), 1)], cap) is None
    assert hosts_needed.pack_by_type([(np.array([20.0, 1.0, 1.0]), 0)], cap) == 0


def test_kernel_lesson_host_holds_the_request():
    s = lessons.lesson_kernel("qemu-kvm", 100, 256)
    assert sc.simulate(s).summary["workloads"]["app"]["started"] == 100


def test_sweep_export_runs_with_the_cli_loader(default, tmp_path):
    from simcontainer.studies.sweep_design import load_sweep

    axes = {"host.cpu_cores": [4.0, 8.0], "workloads.api-runc.runtime": ["runc", "crun"]}
    (tmp_path / "default.toml").write_text(planner.canonical(default))
    (tmp_path / "default-sweep.toml").write_text(planner_sweeps.sweep_toml(axes, 3, "default.toml"))
    spec = load_sweep(tmp_path / "default-sweep.toml")
    assert spec.n_runs == 2 * 2 * 3 and spec.replications == 3
    assert "workloads.api-runc.runtime" in planner_sweeps.sweep_choices(default)


def test_the_app_and_the_cli_give_one_interval_kept_in_range():
    from simcontainer.studies.sweep_store import mean_interval

    lo, hi = mean_interval([0.1, 0.2, 9.0])            # t: 3.1 +- 12.9 would go below zero
    assert lo == 0.0 and hi == pytest.approx(3.1 + 4.303 * 5.110 / 3 ** 0.5, rel=1e-3)
    assert mean_interval([0.9, 1.0, 1.0], high=1.0)[1] == 1.0     # a share never above 1
    assert all(map(lambda v: v != v, mean_interval([1.0])))      # NaN for one value
    assert planner_sweeps.sweep_values("host.ram_mib", 16384, 65536, 4) == [16384.0, 32768.0, 49152.0, 65536.0]
    assert planner_sweeps.sweep_values("host.ram_mib", 1, 2, 4) == [1.0, 1.333, 1.667, 2.0]
    assert planner_sweeps.eta_s(0, 10, 5.0) is None and planner_sweeps.eta_s(5, 10, 5.0) == 5.0


def test_mix_table_carries_restart_and_auto_remove():
    base = planner.default_scenario()
    table = planner.workloads_table(base)
    assert {"restart", "auto_remove"} <= set(table.columns)
    assert list(table["restart"]) == [w.restart for w in base.workloads]
    assert list(table["auto_remove"]) == [w.auto_remove for w in base.workloads]
    table.loc[0, "restart"] = "on-failure:3"
    table.loc[0, "auto_remove"] = True
    s = planner.scenario_from_inputs(base, table)
    w = s.workloads[0]
    assert w.restart == "on-failure:3" and w.auto_remove is True
    assert "on-failure:3" in planner.restart_options(s)
    assert [(x.restart, x.auto_remove) for x in s.workloads[1:]] == [(x.restart, x.auto_remove)
                                                                      for x in base.workloads[1:]]
    # blank restart: back to the plane's default; an empty new row (checkbox False) is skipped
    again = planner.workloads_table(s)
    again.loc[0, "restart"] = None
    blank = {c: None for c in planner.COLUMNS} | {"auto_remove": False}
    s2 = planner.scenario_from_inputs(s, [*again.to_dict("records"), blank])
    assert s2.workloads[0].restart is None and len(s2.workloads) == len(s.workloads)
    # a table without the new columns keeps what the base says
    s3 = planner.scenario_from_inputs(s, table.drop(columns=["restart", "auto_remove"]))
    assert s3.workloads[0].restart == "on-failure:3" and s3.workloads[0].auto_remove is True
    with pytest.raises(ScenarioError):
        planner.scenario_from_inputs(base, table.assign(restart=["sometimes"] + [None] * (len(table) - 1)))


def test_lifecycle_rows_and_when_they_show():
    base = planner.default_scenario()
    quiet = sc.simulate(planner_sweeps.with_values(base, {"duration_s": 30.0}))
    assert not planner.has_lifecycle(planner_sweeps.with_values(base, {"duration_s": 30.0}), quiet.summary)
    d = base.to_dict()
    d["duration_s"] = 300.0
    d["workloads"] = [d["workloads"][0] | {"restart": "always",
                                           "time_to_failure": {"kind": "fixed", "s": 20.0}}]
    s = sc.parse_scenario(d)
    res = sc.simulate(s)
    assert planner.has_lifecycle(s, res.summary)
    rows = planner.lifecycle_rows(res.summary).set_index("workload")
    r = rows.iloc[0]
    assert r["restarts"] > 0 and r["nonzero_exits"] >= r["restarts"]
    assert 0 < r["availability"] < 1 and r["exit_codes"].endswith("× 1")


def test_pull_split_in_the_phases():
    row = {"pull_phases_s": {"registry": 0.2, "download": 0.6, "extract": 0.2}}
    assert comparison.pull_split(2.0, row) == pytest.approx({"registry": 0.4, "download": 1.2, "extract": 0.4})
    assert comparison.pull_split(None, row) == {"registry": None, "download": None, "extract": None}
    assert comparison.pull_split(1.0, {}) == {"registry": None, "download": None, "extract": None}
    rows = pd.DataFrame([{"runtime": "runc", "wait_s": 0.0, "pull_s": 2.0, "create_s": 0.3, "boot_s": 0.1,
                          "ready_s": 0.0, "pull_registry_s": 0.4, "pull_download_s": 1.2, "pull_extract_s": 0.4}])
    long = comparison.phases_long(rows)
    assert list(long["phase"]) == ["wait", "pull: registry", "pull: download", "pull: extract", "create", "boot",
                                   "ready"]
    assert long["seconds"].sum() == pytest.approx(2.4)
    cached = rows.assign(pull_s=0.0, pull_registry_s=None, pull_download_s=None, pull_extract_s=None)
    assert list(comparison.phases_long(cached)["phase"]) == ["wait", "pull", "create", "boot", "ready"]


def test_registry_controls():
    base = planner.default_scenario()
    same = planner.scenario_from_inputs(base, planner.workloads_table(base),
                                        registry={"egress_mb_s": 0.0, "mirror": False, "lazy": "none"})
    assert planner.canonical(same) == planner.canonical(base)        # the defaults change nothing
    s = planner.scenario_from_inputs(base, planner.workloads_table(base),
                                     registry={"egress_mb_s": 125.0, "mirror": True, "lazy": "soci"})
    assert s.registry.egress_mb_s == 125.0 and s.registry.mirror is not None and s.registry.lazy == "soci"
    assert s.registry.rtt_ms == base.registry.rtt_ms                 # the rest carries over
    back = planner.registry_fields(s.to_dict()["registry"], {"egress_mb_s": None, "mirror": False})
    assert "egress_mb_s" not in back and "mirror" not in back and back["lazy"] == "soci"


def test_memory_overcommit_and_oom_risk_helpers(default):
    s = oom_risk.with_memory_overcommit(default, 1.5)
    assert s.host.memory_overcommit == 1.5
    assert oom_risk.with_memory_overcommit(s, 1.0).host.memory_overcommit is None
    with pytest.raises(ScenarioError):
        oom_risk.with_memory_overcommit(default, 200.0)
    counts = oom_risk.oom_risk_counts([(default, "api-runc", "runc"), (default, "api-runc", "runc")],
                                     overcommit=1.5, hours=0.5)
    assert list(counts) == ["runc"]
    row = counts["runc"]
    assert row["at_overcommit_1.5"]["count"] == int(row["at_reservation"]["count"] * 1.5) or \
        abs(row["at_overcommit_1.5"]["count"] - 1.5 * row["at_reservation"]["count"]) <= 1.5
    n = sum(row[k]["count"] for k in ("at_reservation", "at_p95", "at_overcommit_1.5"))
    assert oom_risk.oom_risk_instance_hours(counts, 0.5) == n * 0.5
    assert oom_risk.oom_risk_refusal(100.0) is None
    assert "instance-hours" in oom_risk.oom_risk_refusal(oom_risk.OOM_RISK_MAX_INSTANCE_HOURS + 1)
    frame = oom_risk.oom_risk_frame(counts)
    assert list(frame["level"]) == ["at reservation", "at p95 use", "at 1.5x overcommit"]
    assert frame["oom_kills_per_1000_h"].isna().all()          # nothing simulated: no figure, never 0
    sim = {"runc": dict(row, at_reservation={"count": 10, "oom_kills": 2, "oom_kills_per_1000_h": 33.3}),
           "x": {"error": "a VM disk image"}}
    frame = oom_risk.oom_risk_frame(sim)
    assert list(frame["runtime"].unique()) == ["runc"]
    assert frame.loc[0, "oom_kills_per_1000_h"] == 33.3 and frame.loc[0, "instances_per_host"] == 10


def test_packing_lesson_table():
    # 1,800 s: ksmd's first pass over 20 guests (~18 GiB at 19.5 MiB/s, ~950 s) merges nothing
    df = lessons.lesson_packing(20, 256, 512, 1024, 80, 0.3, 1800, vm_runtime="qemu-kvm")
    mib = dict(zip(df["how"], df["MiB"]))
    rows = list(mib.values())
    container, reserved, touched, balloon, ksm, both = rows
    assert container == pytest.approx(20 * (256 + 3.9) + 80)      # the image's files once
    assert reserved == pytest.approx(20 * (1024 + 131))           # whole guest RAM + the VMM
    assert container < both < balloon < touched < reserved
    assert ksm < touched
    # no KSM time: no merging; a guest cannot touch more than its RAM
    df0 = lessons.lesson_packing(20, 256, 4096, 1024, 80, 0.3, 0)
    assert df0["MiB"].iloc[4] == pytest.approx(df0["MiB"].iloc[2]) == pytest.approx(20 * (1024 + 131))


def test_throttled_latency_under_a_cfs_quota():
    # one thread, 0.5 core: 50 ms per 100 ms period; 30 ms of work fits in one period
    assert lessons.throttled_latency_ms(30, 1.0, 0.5) == 30
    # 120 ms of work at 0.5 core: 50 + wait, 50 + wait, 20 -> 220 ms
    assert lessons.throttled_latency_ms(120, 1.0, 0.5) == pytest.approx(220)
    # two busy cores spend a 0.5-core quota in 25 ms: 30 ms of work takes 100 + 5
    assert lessons.throttled_latency_ms(30, 2.0, 0.5) == pytest.approx(105)
    assert lessons.throttled_latency_ms(30, 2.0, None) == 30
    assert lessons.throttled_latency_ms(30, 2.0, 2.0) == 30
    df = lessons.throttle_frame(2.0, 30, (0.5, 1.0, 2.0))
    assert list(df["received_cores"]) == [0.5, 1.0, 2.0] and list(df["throttled_cores"]) == [1.5, 1.0, 0.0]
    assert list(df["latency_ms"]) == [105.0, 30.0, 30.0]      # 1 core for 2 busy: 50 ms a period, enough
    assert list(df["throttled_ms"]) == [75.0, 0.0, 0.0]


def test_with_admission_switches_policy_and_drops_backfill_only_settings():
    s = sc.load_scenario(sc.scenario.profiles.models_dir() / "scenarios" / "admission.toml")
    assert s.daemon.admission == "backfill" and s.daemon.preemption
    q = oom_risk.with_admission(s, "queue")
    assert q.daemon.admission == "queue" and not q.daemon.preemption and q.daemon.retry == "release"
    assert oom_risk.with_admission(s, None) is s and oom_risk.with_admission(q, "none").daemon.admission == "none"
    assert set(oom_risk.ADMISSION_WORDS) == set(sc.model.placement.ADMISSIONS)


def test_memory_lesson_inputs_are_made_consistent():
    ws, peak, said = lessons.clamp_packing(1024, 2048, 512, 100)
    assert (ws, peak) == (924, 924) and len(said) == 2          # the app fits in the guest; peak >= now
    assert "does not fit in a 1,024 MiB guest" in said[0]
    ws, peak, said = lessons.clamp_packing(1024, 256, 128, 100)
    assert (ws, peak) == (256, 256) and "cannot be below" in said[0]
    assert lessons.clamp_packing(1024, 256, 512, 100) == (256, 512, [])
    # consistent inputs: the touched pages of a VM are never more than its reservation
    df = lessons.lesson_packing(10, 924, 924, 1024, 80, 0.3, 600)
    assert df["MiB"].iloc[2] <= df["MiB"].iloc[1]


def test_kernel_lesson_says_one_memory_story():
    from pathlib import Path

    text = Path(lessons.__file__).parents[1].joinpath("faces", "ui", "learn_page.py").read_text()
    assert "whether the app inside uses it or" not in text and "backs** only the pages" in text
