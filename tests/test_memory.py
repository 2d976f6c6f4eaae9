"""Memory as hosts share it (issue 14): usage over time, cgroup and host OOM kills, KVM guest
memory, balloons, KSM, admission by request, reserved RAM and overcommit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import scenario_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simcontainer as sc
from simcontainer.model import memory as mem
from simcontainer.model.memory import badness, ksm_cpu_cores, ksm_rate_mib_s
from simcontainer.model.qos import EvictionThresholds, container_oom_score_adj
from simcontainer.model.usage import Usage
from simcontainer.scenario.workload import Stream, seed_sequence

VM_RUNTIME = {"name": "vm0", "kind": "vm", "mem_overhead_mib": 5.0, "default_guest_mem_mib": 128.0,
              "guest_os_mib": 0.0}
VM_IMAGE = {"name": "guest", "kind": "vm", "disk_mib": 1.0, "download_mib": 1.0, "guest_os_mib": 256.0}


def _run(duration: float = 200.0, host: dict | None = None, **w):
    data = scenario_dict(duration_s=duration, host=host or {})
    data["workloads"][0].update({"arrival": {"kind": "burst", "at_s": 0.0, "count": 1},
                                 "lifetime": {"kind": "forever"}, **w})
    return sc.simulate(sc.parse_scenario(data))


def _vms(n: int, duration: float = 300.0, host: dict | None = None, **w):
    data = scenario_dict(duration_s=duration, host=host or {"ram_mib": 65536})
    data["runtimes"].append(copy.deepcopy(VM_RUNTIME))
    data["images"].append(copy.deepcopy(VM_IMAGE))
    data["daemon"]["prepull"] = ["tiny", "guest"]
    data["workloads"][0].update(runtime="vm0", image="guest", arrival={"kind": "burst", "at_s": 0.0, "count": n},
                                lifetime={"kind": "forever"}, **w)
    return sc.simulate(sc.parse_scenario(data))


def _memory(r):
    return r.recorder.memory


def test_ksm_rate_at_the_kernel_defaults_is_about_19_5_mib_s():
    assert ksm_rate_mib_s() == pytest.approx(19.53, abs=0.01)


def test_badness_is_resident_plus_adj_thousandths_of_the_total():
    assert badness(1000, 0, 8000) == 1000
    assert badness(1000, 500, 8000) == 5000
    assert badness(1000, -1000, 8000) == -np.inf


def test_a_container_crossing_its_limit_is_oom_killed_with_137_and_restarts_per_its_policy():
    # ramps to 300 MiB in 3 steps of 10 s, a 250 MiB limit: killed at t = 30 s, every time
    r = _run(duration=100.0, mem_limit_mib=250, restart="always",
             usage={"working_set_mib": 300, "ramp_s": 30, "ramp_steps": 3})
    ev = r.events
    ooms = ev[ev.action == "oom"]
    assert len(ooms) >= 2
    assert set(ooms.exit_code) == {137}
    assert set(ooms.state) == {"oom_killed"}
    assert ooms.time_s.iloc[0] == pytest.approx(20.0)       # levels 100, 200 at 0 and 10, 300 at 20
    starts = ev[ev.state == "running"]
    assert starts.action.tolist()[:2] == ["start", "start"]      # a restart by policy logs start (moby)
    assert starts.time_s.iloc[1] == pytest.approx(20.1)     # Docker's first back-off: 100 ms
    kills = r.recorder.oom_kills
    assert len(kills) == len(ooms)
    assert all(k["kind"] == "cgroup" and "memory.max" in k["reason"] for k in kills)


def test_without_a_restart_policy_an_oom_killed_container_stays_down():
    r = _run(duration=100.0, mem_limit_mib=250, usage={"working_set_mib": 300, "ramp_s": 30, "ramp_steps": 3})
    ev = r.events
    assert len(ev[ev.action == "oom"]) == 1
    assert ev.state.iloc[-1] == "oom_killed"


def test_a_leak_is_killed_when_it_reaches_the_limit():
    # 100 MiB flat, leaking 360 MiB/h = 0.1 MiB/s; limit 110: passes it after 100 s of running
    r = _run(duration=400.0, mem_limit_mib=110,
             usage={"working_set_mib": 100, "ramp_s": 0, "ramp_steps": 1, "interval_s": 10, "leak_mib_per_h": 360})
    ooms = r.events[r.events.action == "oom"]
    assert ooms.time_s.iloc[0] == pytest.approx(110.0)


def _pressure(adjs=(0, 0, 0), sizes=(1500, 2000, 1800)):
    data = scenario_dict(duration_s=100.0, host={"ram_mib": 4096, "memory_overcommit": 2.0})
    data["workloads"] = [
        {"name": f"w{k}", "runtime": "zero", "image": "tiny", "mem_mib": 800, "writable_mib": 0,
         "oom_score_adj": adj, "arrival": {"kind": "burst", "at_s": float(k), "count": 1},
         "lifetime": {"kind": "forever"},
         "usage": {"working_set_mib": size, "ramp_s": 40, "ramp_steps": 2}}
        for k, (adj, size) in enumerate(zip(adjs, sizes, strict=True))]
    return sc.simulate(sc.parse_scenario(data))


def test_host_pressure_kills_the_highest_badness_first():
    # admitted at 800 MiB each (overcommit 2), started at 0, 1, 2 s, ramping in two steps:
    # 750 + 1000 + 900 by 2 s; at 20 s w0 grows to 1500 (3400 in all); at 21 s w1 asks for
    # 1000 more (4400 > 4096): the kernel kills the largest resident, w0 (1500 > 1000 > 900),
    # not the one asking
    r = _pressure()
    kills = r.recorder.oom_kills
    assert kills and kills[0]["kind"] == "host"
    assert kills[0]["time_s"] == pytest.approx(21.0)
    assert r.workload_names[kills[0]["workload"]] == "w0"
    ev = r.events
    assert ev[ev.action == "oom"].exit_code.tolist()[0] == 137
    assert "host out of memory" in kills[0]["reason"]
    assert _memory(r).hosts[0].peak <= 4096 + 1e-9


def test_oom_score_adj_steers_the_host_killer():
    r = _pressure(adjs=(0, 900, 0))
    assert r.workload_names[r.recorder.oom_kills[0]["workload"]] == "w1"
    r = _pressure(adjs=(-1000, 0, 0))
    assert r.workload_names[r.recorder.oom_kills[0]["workload"]] == "w1"


def test_a_vm_that_touched_1_gib_of_4_gib_costs_the_host_1_gib_plus_the_vmm():
    # guest OS 256 MiB + app 768 MiB = 1 GiB touched of a 4 GiB guest; VMM overhead 5 MiB
    r = _vms(1, guest_mem_mib=4096, mem_mib=768, usage={"ramp_s": 10})
    hm = _memory(r).hosts[0]
    assert hm.used() == pytest.approx(1024 + 5)
    assert r.recorder.memory.d.hosts[0].ram.used == pytest.approx(4096 + 5)    # admission reserved the guest RAM


def test_guest_pages_stay_touched_without_a_balloon_and_go_back_with_one():
    spiky = {"working_set_mib": 512, "ramp_s": 0, "ramp_steps": 1, "interval_s": 10, "cv": 0.8}
    no = _memory(_vms(1, guest_mem_mib=4096, mem_mib=512, usage=spiky)).hosts[0]
    yes = _memory(_vms(1, guest_mem_mib=4096, mem_mib=512, usage=spiky, balloon=True)).hosts[0]
    m_no, m_yes = next(iter(no.members.values())), next(iter(yes.members.values()))
    assert m_no.touched >= m_no.level + 256 - 1e-9        # the peak stays
    assert m_yes.touched == pytest.approx(min(4096, m_yes.level + 256))   # follows the use
    assert m_yes.touched < m_no.touched


def test_ksm_merges_identical_guests_toward_the_shared_fraction_at_the_scan_rate():
    n, shared = 8, 0.3
    flat = _memory(_vms(n, duration=60.0, guest_mem_mib=1024, mem_mib=768, usage={"ramp_s": 0, "ramp_steps": 1},
                        ksm_shared_fraction=shared, host={"ram_mib": 65536, "ksm": True})).hosts[0]
    touched = n * 1024.0
    most = shared * touched * (n - 1) / n
    # a page merges only after its checksum stayed the same for a full pass (mm/ksm.c): a pass
    # over 8 GiB at 19.5 MiB/s takes ~420 s, so nothing has merged after 60 s ...
    assert flat.merged == 0.0
    # ... and after 600 s, the part of the second pass done by then
    mid = _memory(_vms(n, duration=600.0, guest_mem_mib=1024, mem_mib=768, usage={"ramp_s": 0, "ramp_steps": 1},
                       ksm_shared_fraction=shared, host={"ram_mib": 65536, "ksm": True})).hosts[0]
    assert mid.merged == pytest.approx(most * (599 * ksm_rate_mib_s() - touched) / touched, rel=0.05)
    done = _memory(_vms(n, duration=1200.0, guest_mem_mib=1024, mem_mib=768, usage={"ramp_s": 0, "ramp_steps": 1},
                        ksm_shared_fraction=shared, host={"ram_mib": 65536, "ksm": True})).hosts[0]
    assert done.merged == pytest.approx(most)
    assert done.used() == pytest.approx(touched + n * 5 - most)


def test_admission_by_request_and_reserved_ram_and_overcommit():
    def started(host, **w):
        data = scenario_dict(duration_s=10.0, host=host)
        data["workloads"][0].update(arrival={"kind": "burst", "at_s": 0.0, "count": 100},
                                    lifetime={"kind": "forever"}, mem_mib=400, **w)
        return sc.simulate(sc.parse_scenario(data)).summary["workloads"]["w"]["started"]

    assert started({"ram_mib": 4000}) == 10
    assert started({"ram_mib": 4000, "reserved_mib": 800}) == 8
    assert started({"ram_mib": 4000, "memory_admission": "request"}, mem_request_mib=200) == 20
    assert started({"ram_mib": 4000, "memory_overcommit": 1.5}) == 15


def test_reserved_ram_must_leave_room():
    with pytest.raises(sc.ScenarioError):
        sc.parse_scenario(scenario_dict(host={"ram_mib": 1000, "reserved_mib": 1000}))


def test_same_seed_same_memory_results():
    def once():
        r = _pressure()
        return [(k["time_s"], k["instance"]) for k in r.recorder.oom_kills], r.events.to_dict("list")
    assert once() == once()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), ws=st.floats(100, 2000), cv=st.floats(0, 1), swap=st.sampled_from([0.0, 512.0]),
       seed=st.integers(0, 1000), limit=st.one_of(st.none(), st.floats(200, 2000)))
def test_property_host_memory_never_exceeds_ram_plus_swap_and_every_kill_is_recorded(n, ws, cv, swap, seed, limit):
    data = scenario_dict(duration_s=300.0, seed=seed,
                         host={"ram_mib": 4096, "reserved_mib": 96, "memory_overcommit": 3.0, "swap_mib": swap})
    data["workloads"][0].update(arrival={"kind": "poisson", "rate_per_s": n / 50}, mem_mib=300,
                                lifetime={"kind": "exponential", "mean_s": 100.0}, restart="on-failure",
                                mem_limit_mib=limit,
                                usage={"working_set_mib": ws, "ramp_s": 20, "cv": cv, "interval_s": 15})
    r = sc.simulate(sc.parse_scenario(data))
    hm = _memory(r).hosts[0]
    assert hm.peak <= 4000 + swap + 1e-6
    ev = r.events
    assert len(ev[ev.action == "oom"]) <= len(r.recorder.oom_kills)
    for k in r.recorder.oom_kills:
        assert k["instance"] >= 0 and k["kind"] in ("cgroup", "host", "panic", "evicted") and k["reason"]


def test_density_risk_counts_and_simulated_oom_risk():
    from simcontainer.studies.density import density_risk

    data = scenario_dict(duration_s=100.0, host={"ram_mib": 4096, "reserved_mib": 96})
    data["workloads"][0].update(mem_mib=200, usage={"ramp_s": 0, "ramp_steps": 1, "cv": 0.2, "interval_s": 60})
    out = density_risk(sc.parse_scenario(data), "w", hours=0.5, overcommit=1.5)["zero"]
    assert out["at_reservation"]["count"] == 20                  # 4000 // 200
    assert out["at_overcommit_1.5"]["count"] == 30
    assert out["p95_resident_mib"] > 200                         # 1.645 sd above the working set
    assert out["at_p95"]["count"] < 20
    assert out["at_overcommit_1.5"]["oom_kills"] > 0             # 30 x 200 on 4000: over every time
    for key in ("at_reservation", "at_p95", "at_overcommit_1.5"):
        assert out[key]["peak_used_mib"] <= 4000 + 1e-6


def test_containers_of_one_image_share_its_page_cache_and_vms_each_hold_their_own():
    usage = {"ramp_s": 0, "ramp_steps": 1}
    cont = _memory(_run(duration=10.0, mem_mib=100, file_cache_mib=50, usage=usage,
                        arrival={"kind": "burst", "at_s": 0.0, "count": 4})).hosts[0]
    assert cont.used() == pytest.approx(4 * 100 + 50)          # the libraries once
    vms = _memory(_vms(4, duration=10.0, guest_mem_mib=4096, mem_mib=100, file_cache_mib=50, usage=usage)).hosts[0]
    assert vms.used() == pytest.approx(4 * (256 + 50 + 100 + 5))    # each guest its own copy


def test_ksmd_costs_cpu_while_it_merges_and_none_when_done():
    from simcontainer.model.memory import KSM_CPU_CORES

    def demand(duration):
        r = _vms(4, duration=duration, guest_mem_mib=1024, mem_mib=768, usage={"ramp_s": 0, "ramp_steps": 1},
                 ksm_shared_fraction=0.3, host={"ram_mib": 65536, "ksm": True, "cpu_cores": 4})
        return r.summary["host"]["mean_cpu_demand"] * 4 * duration      # core-seconds asked
    # a full pass over 4 GiB at 19.5 MiB/s takes ~210 s: all of a 100 s run, then nothing more
    assert demand(100.0) == pytest.approx(KSM_CPU_CORES * 100, rel=0.05)
    assert demand(2000.0) == pytest.approx(demand(1000.0), rel=0.01)


def test_the_lesson_helpers_agree_with_a_run():
    from simcontainer.model.memory import ksm_curve, throttle_table

    curve = ksm_curve(8, 1024.0, 0.3, horizon_s=60.0, step_s=60.0)
    run = _memory(_vms(8, duration=60.0, guest_mem_mib=1024, mem_mib=768, usage={"ramp_s": 0, "ramp_steps": 1},
                       ksm_shared_fraction=0.3, host={"ram_mib": 65536, "ksm": True})).hosts[0]
    assert curve.merged_mib.iloc[-1] == pytest.approx(run.merged, rel=0.05)
    t = throttle_table(1.0, (0.5,))
    assert t.received_cores.iloc[0] == 0.5 and t.throttled_cores.iloc[0] == 0.5


def test_result_oom_kills_table():
    r = _pressure()
    df = r.oom_kills
    assert list(df.columns) == ["time_s", "instance", "workload", "host", "kind", "resident_mib", "reason"]
    assert df.workload.iloc[0] == "w0" and df.kind.iloc[0] == "host"


# ---- swap slows the swapping instances instead of killing them ------------------------------

def _swapping(slowdown: float, count: int = 2):
    data = scenario_dict(duration_s=101.0, host={"ram_mib": 1000, "swap_mib": 1000, "swap_slowdown": slowdown})
    data["workloads"][0].update({"arrival": {"kind": "burst", "at_s": 0.0, "count": count},
                                 "lifetime": {"kind": "forever"}, "mem_mib": 100,
                                 "usage": {"working_set_mib": 600, "ramp_s": 1, "ramp_steps": 1}})
    r = sc.simulate(sc.parse_scenario(data))
    return r.summary["memory"]


def test_swap_slows_the_swapping_instances_instead_of_killing_them():
    mem = _swapping(10.0)
    w = mem["workloads"]["w"]
    assert mem["oom_kills"] == 0
    # 1200 MiB resident on 1000 from the start (the ramp's one step is at 0 s): 200 swapped over
    # 101 s, 1/6 of each instance's pages
    assert w["swapped_mib_s"] == pytest.approx(200.0 * 101.0, rel=1e-6)
    assert w["peak_swap_slowdown"] == pytest.approx(1.0 + 10.0 / 6.0)
    assert w["mean_swap_slowdown"] == pytest.approx(1.0 + 10.0 / 6.0, rel=1e-6)
    assert mem["hosts"][0]["swapped_mib_s"] == pytest.approx(200.0 * 101.0, rel=1e-6)
    assert mem["hosts"][0]["swap_slowdown_at_end"] == pytest.approx(1.0 + 10.0 / 6.0)


def test_swap_without_a_slowdown_only_absorbs_and_no_swap_means_no_slowdown():
    w = _swapping(0.0)["workloads"]["w"]
    assert w["swapped_mib_s"] == pytest.approx(200.0 * 101.0, rel=1e-6)
    assert w["mean_swap_slowdown"] == 1.0 and w["peak_swap_slowdown"] == 1.0
    alone = _swapping(10.0, count=1)["workloads"]["w"]      # 600 of 1000: nothing swapped
    assert alone["swapped_mib_s"] == 0.0 and alone["mean_swap_slowdown"] == 1.0


def _swapping_cpu(slowdown: float, count: int = 2, cores: float = 4.0) -> dict:
    data = scenario_dict(duration_s=101.0, host={"ram_mib": 1000, "swap_mib": 1000, "swap_slowdown": slowdown,
                                                  "cpu_cores": cores})
    data["workloads"][0].update({"arrival": {"kind": "burst", "at_s": 0.0, "count": count}, "cpu": 1.0,
                                 "lifetime": {"kind": "forever"}, "mem_mib": 100,
                                 "usage": {"working_set_mib": 600, "ramp_s": 1, "ramp_steps": 1}})
    return sc.simulate(sc.parse_scenario(data)).summary


def test_swap_slowdown_caps_the_swapping_apps_cpu_by_hand():
    # one host (4 cores, 1000 MiB + 1000 swap), two apps of 1 core and 600 MiB each, both running
    # from 0 s to 101 s: 1200 resident on 1000, 200 swapped = f 1/6 of each; k = 3 gives
    # s = 1 + 3/6 = 1.5, so each app runs at 1/1.5 = 2/3 core (4 cores: no contention)
    s = _swapping_cpu(3.0)
    c = s["workloads"]["w"]["cpu"]
    assert s["memory"]["workloads"]["w"]["mean_swap_slowdown"] == pytest.approx(1.5)
    assert c["asked_core_s"] == pytest.approx(2 * 101.0)               # it still asks its core
    assert c["received_core_s"] == pytest.approx(2 * 101.0 / 1.5)     # 134.67: it gets 2/3
    assert c["received_fraction"] == pytest.approx(2.0 / 3.0)
    assert c["swap_lost_core_s"] == pytest.approx(2 * 101.0 * (1 - 1 / 1.5))   # 67.33
    assert c["throttled_core_s"] == 0.0


def test_swap_slowdown_zero_leaves_the_cpu_alone():
    c = _swapping_cpu(0.0)["workloads"]["w"]["cpu"]
    assert c["received_core_s"] == c["asked_core_s"] == pytest.approx(202.0)
    assert "swap_lost_core_s" not in c


def test_swap_slowdown_under_contention_and_oom_kills():
    # 1 core for two apps: each gets 0.5 either way (the swap cap of 2/3 is above the fair share)
    c = _swapping_cpu(3.0, cores=1.0)["workloads"]["w"]["cpu"]
    assert c["received_core_s"] == pytest.approx(101.0)
    # four apps of 600 MiB on 1000 + 1000 swap: the OOM killer kills one, the rest run slowed
    s = _swapping_cpu(3.0, count=4)
    c = s["workloads"]["w"]["cpu"]
    assert s["memory"]["oom_kills"] >= 1
    assert 0.0 < c["received_core_s"] <= c["asked_core_s"]
    assert c["swap_lost_core_s"] > 0.0


def test_swap_slowdown_follows_pauses_and_the_spread_by_hand():
    # the two apps above (s = 1.5 while both are resident); app 0 is paused 10-20 s (resident,
    # asking nothing), app 1 stops at 60 s: app 0 alone (600 MiB) no longer swaps
    data = scenario_dict(duration_s=101.0, host={"ram_mib": 1000, "swap_mib": 1000, "swap_slowdown": 3.0,
                                                  "cpu_cores": 4})
    data["workloads"][0].update({"arrival": {"kind": "burst", "at_s": 0.0, "count": 2}, "cpu": 1.0,
                                 "lifetime": {"kind": "forever"}, "mem_mib": 100,
                                 "usage": {"working_set_mib": 600, "ramp_s": 1, "ramp_steps": 1}})
    data["actions"] = [{"at_s": 10, "op": "pause", "workload": "w", "instance": 0},
                       {"at_s": 20, "op": "unpause", "workload": "w", "instance": 0},
                       {"at_s": 60, "op": "stop", "workload": "w", "instance": 1}]
    c = sc.simulate(sc.parse_scenario(data)).summary["workloads"]["w"]["cpu"]
    assert c["asked_core_s"] == pytest.approx(91.0 + 60.0)
    # app 0: (10 + 40) s at 2/3 + 41 s at 1 = 74.33; app 1: 60 s at 2/3 = 40
    assert c["received_core_s"] == pytest.approx(50.0 * 2 / 3 + 41.0 + 40.0)
    assert c["swap_lost_core_s"] == pytest.approx((50.0 + 60.0) / 3)


# ---- the kernel's choice, its panic, and what a VM holds (issue 21) --------------------------

def _over(sizes, adjs=None, ram=1200.0, swap=0.0, **host):
    """Flat containers of ``sizes`` MiB started 1 s apart under admission "none" (the host over-
    commits; the OOM killer keeps it within RAM + swap)."""
    adjs = adjs or [0] * len(sizes)
    data = scenario_dict(duration_s=20.0, host={"ram_mib": ram, "swap_mib": swap, **host},
                         daemon={"admission": "none"})
    data["workloads"] = [
        {"name": f"w{k}", "runtime": "zero", "image": "tiny", "mem_mib": size, "writable_mib": 0,
         "oom_score_adj": adj, "arrival": {"kind": "burst", "at_s": float(k), "count": 1},
         "lifetime": {"kind": "forever"}}
        for k, (size, adj) in enumerate(zip(sizes, adjs, strict=True))]
    return sc.simulate(sc.parse_scenario(data))


def test_equal_badness_the_kernel_kills_the_task_found_later_in_its_scan():
    # 500 + 500 + 300 on 1,200 MiB: the third start runs the OOM killer; w0 and w1 tie at the
    # highest badness and oom_evaluate_task keeps the later one (points < chosen: skip; equal:
    # take it) -- w1, not the oldest
    r = _over([500, 500, 300])
    kills = r.recorder.oom_kills
    assert len(kills) == 1 and r.workload_names[kills[0]["workload"]] == "w1"


def test_no_killable_task_panics_the_host_instead_of_passing_its_ram():
    # every candidate at -1000: "Out of memory and no killable processes...", then the panic;
    # before, resident memory grew to 1,300 MiB on a 1,200 MiB host without swap
    r = _over([500, 500, 300], adjs=[-1000, -1000, -1000])
    mm = _memory(r)
    hm = mm.hosts[0]
    assert hm.peak <= 1200 + 1e-9 and hm.peak_swapped <= 0
    assert len(mm.panics) == 1 and "no killable processes" in mm.panics[0]["reason"]
    assert sorted(mm.panics[0]["instances"]) == [0, 1, 2]      # the blast radius: all of the host
    kinds = [k["kind"] for k in r.recorder.oom_kills]
    assert kinds == ["panic"] * 3
    assert r.summary["memory"]["hosts"][0]["peak_swapped_mib"] == 0


def test_the_panic_goes_to_the_fault_machinery_hook_when_one_is_set(monkeypatch):
    calls = []
    init = mem.Memory.__init__

    def with_hook(self, *a, **k):
        init(self, *a, **k)
        self.on_panic = lambda host, reason, insts: calls.append((host, reason, sorted(i.id for i in insts)))
    monkeypatch.setattr(mem.Memory, "__init__", with_hook)
    r = _over([500, 500, 300], adjs=[-1000, -1000, -1000])
    assert calls and calls[0][0] == 0 and calls[0][2] == [0, 1, 2]
    assert "System is deadlocked on memory" in calls[0][1]
    assert r.recorder.oom_kills == []                # the hook ends them, not the OOM killer
    assert _memory(r).hosts[0].used() <= 1200 + 1e-9


def test_a_vm_holds_the_same_host_memory_whichever_field_switched_the_model_on():
    # four 4 GiB guests, app 1,024 MiB, guest OS 256 MiB, VMM 5 MiB: with only mem_limit_mib
    # they held their whole guest RAM (16.9 GiB); with usage, what they touched (5.4 GiB)
    limit = _memory(_vms(4, duration=60.0, guest_mem_mib=4096, mem_mib=1024, mem_limit_mib=8192)).hosts[0]
    usage = _memory(_vms(4, duration=60.0, guest_mem_mib=4096, mem_mib=1024,
                         usage={"ramp_s": 0, "ramp_steps": 1})).hosts[0]
    assert limit.used() == pytest.approx(4 * (256 + 1024 + 5))
    assert usage.used() == pytest.approx(limit.used())


def test_ksm_keeps_one_copy_of_each_shared_page_the_largest_set():
    # two guests of one image: 1,280 and 2,304 MiB touched, half of it shared; the smaller's
    # shared pages are the larger's too: KSM keeps the larger set once and folds the smaller
    data = scenario_dict(duration_s=3000.0, host={"ram_mib": 65536, "ksm": True})
    data["runtimes"].append(copy.deepcopy(VM_RUNTIME))
    data["images"].append(copy.deepcopy(VM_IMAGE))
    data["daemon"]["prepull"] = ["tiny", "guest"]
    data["workloads"] = [{"name": f"v{k}", "runtime": "vm0", "image": "guest", "mem_mib": mem, "writable_mib": 0,
                          "guest_mem_mib": 4096, "ksm_shared_fraction": 0.5, "usage": {"ramp_s": 0, "ramp_steps": 1},
                          "arrival": {"kind": "burst", "at_s": 0.0, "count": 1}, "lifetime": {"kind": "forever"}}
                         for k, mem in enumerate((1024, 2048))]
    hm = _memory(sc.simulate(sc.parse_scenario(data))).hosts[0]
    assert hm.merged == pytest.approx(0.5 * 1280)


def test_a_balloon_gives_memory_back_at_its_rate_and_only_what_the_guest_stopped_touching(monkeypatch):
    seen = []
    change = mem.HostMemory.change

    def spy(self, m, level):
        seen.append((self.env.now, m.touched, min(m.ceiling, m.guest_os + level)))
        change(self, m, level)
    monkeypatch.setattr(mem.HostMemory, "change", spy)
    spiky = {"working_set_mib": 512, "ramp_s": 0, "ramp_steps": 1, "interval_s": 10, "cv": 0.8}
    _vms(1, duration=300.0, guest_mem_mib=4096, mem_mib=512, usage=spiky, balloon=True)
    drops = 0
    for (t0, _, _), (t, before, want) in zip(seen, seen[1:], strict=False):
        # each level comes 10 s after the last change; inflating the balloon first takes
        # give / 256 MiB/s (give: what the guest stopped touching, not its OS pages)
        wait = (before - want) / mem.BALLOON_MIB_S if want < before else 0.0
        drops += want < before
        assert t == pytest.approx(t0 + 10.0 + wait)
    assert drops > 3


def test_ksmd_cpu_grows_with_pages_to_scan_up_to_one_core():
    assert ksm_cpu_cores(100, 20.0) == pytest.approx(0.05)
    cores = [ksm_cpu_cores(p, 20.0) for p in (100, 1000, 10000, 100000)]
    assert cores == sorted(cores) and cores[-1] < 1.0 and cores[-1] > 0.95
    assert cores[1] == pytest.approx(10 * 0.05 / 0.95 * 0.02 / (10 * 0.05 / 0.95 * 0.02 + 0.02))

    def demand(pages):
        r = _vms(4, duration=30.0, guest_mem_mib=1024, mem_mib=768, usage={"ramp_s": 0, "ramp_steps": 1},
                 ksm_shared_fraction=0.3, host={"ram_mib": 65536, "ksm": True, "cpu_cores": 4,
                                                "ksm_pages_to_scan": pages})
        return r.summary["host"]["mean_cpu_demand"] * 4 * 30.0
    # busy from its first wake-up at 1 s to the end (two passes over 4 GiB take ~42 s)
    assert demand(1000) == pytest.approx(ksm_cpu_cores(1000, 20.0) * 29.0, rel=0.02)


def _pods(sizes, requests, priorities=None, ram=4096.0, duration=100.0):
    """Pods under the kubelet using ``sizes`` MiB from their start (a usage model of one step)
    with memory requests ``requests``, started 1 s apart on an over-committed node (admission
    "none")."""
    priorities = priorities or [0] * len(sizes)
    data = scenario_dict(duration_s=duration, host={"ram_mib": ram}, daemon={"admission": "none"})
    data["workloads"] = [
        {"name": f"p{k}", "runtime": "zero", "image": "tiny", "mem_mib": size, "mem_request_mib": req,
         "writable_mib": 0, "priority": pr, "control_plane": "kubelet",
         "arrival": {"kind": "burst", "at_s": float(k), "count": 1}, "lifetime": {"kind": "forever"},
         "usage": {"working_set_mib": size, "ramp_s": 30, "ramp_steps": 1}}
        for k, (size, req, pr) in enumerate(zip(sizes, requests, priorities, strict=True))]
    return sc.simulate(sc.parse_scenario(data))


def test_the_kubelet_evicts_under_memory_pressure_before_the_kernel_kills():
    # 1,300 + 1,300 + 1,450 = 4,050 MiB used of 4,096: 46 MiB available < 100Mi (the default hard
    # threshold). rankMemoryPressure: usage above request first, then priority, then usage over
    # request: p2 (1,450 - 500) before p1 (1,300 - 800); p0 stays under its request (1,300 <= 1,400)
    r = _pods([1300, 1300, 1450], [1400, 800, 500])
    mm = _memory(r)
    assert mm.evictions and r.workload_names[mm.evictions[0]["workload"]] == "p2"
    assert "memory" in mm.evictions[0]["reason"] and mm.evictions[0]["kind"] == "hard"
    assert r.recorder.oom_kills == []
    assert r.summary["memory"]["evictions"] >= 1


def test_the_kubelet_writes_oom_score_adj_from_the_pod_qos_class():
    r = _pods([100, 100], [100, 50], duration=5.0)
    hm = _memory(r).hosts[0]
    adjs = sorted(m.adj for m in hm.members.values())
    # Burstable (no limits): 1000 - 1000 x request / node RAM, as the kubelet's integers
    assert adjs == sorted([container_oom_score_adj("Burstable", 100, 4096), container_oom_score_adj("Burstable", 50, 4096)])
    assert adjs == [976, 988]


def test_a_soft_eviction_threshold_waits_out_its_grace_period(monkeypatch):
    # soft memory.available < 1,000 MiB with a 30 s grace (the hard 100 MiB never reached): from
    # the third start (~2 s) the pods use 3,100 MiB of 4,096 (996 available); the eviction
    # manager, every 10 s from the first pod's start, sees it at its first pass (~10 s) and
    # evicts once it stayed below for 30 s: at the fourth pass (~40 s), not before
    init = mem.Memory.__init__

    def soft(self, *a, **k):
        init(self, *a, **k)
        self.eviction = EvictionThresholds(hard_mib=100.0, soft_mib=1000.0, soft_grace_s=30.0)
    monkeypatch.setattr(mem.Memory, "__init__", soft)
    r = _pods([1000, 1000, 1100], [1000, 1000, 500])
    ev = _memory(r).evictions
    # (the first pod is running at ~1 s, once the kubelet's PLEG relist has seen it)
    assert ev and ev[0]["kind"] == "soft" and 40.0 <= ev[0]["time_s"] < 42.0
    assert r.workload_names[ev[0]["workload"]] == "p2"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ramp_s=st.sampled_from([0.0, 10.0, 35.0]), ramp_steps=st.integers(1, 4), cv=st.sampled_from([0.0, 0.3]),
       interval_s=st.sampled_from([7.0, 30.0]), leak=st.sampled_from([0.0, 90.0]), seed=st.integers(0, 2**16))
def test_a_running_usage_model_applies_exactly_the_levels_of_its_definition(ramp_s, ramp_steps, cv, interval_s,
                                                                             leak, seed):
    """``UsageRun`` writes ``Usage.levels`` out (no generator, for speed): the same levels at the
    same times, from the same draws."""
    seen: list[tuple[float, float]] = []
    change = mem.HostMemory.change

    def spy(self, m, level):
        seen.append((self.env.now, level))
        return change(self, m, level)

    usage = {"working_set_mib": 100.0, "ramp_s": ramp_s, "ramp_steps": ramp_steps, "cv": cv,
             "interval_s": interval_s, "leak_mib_per_h": leak}
    data = scenario_dict(duration_s=200.0, seed=seed, host={"ram_mib": 65536})
    data["workloads"][0].update({"arrival": {"kind": "burst", "at_s": 0.0, "count": 1},
                                 "lifetime": {"kind": "forever"}, "usage": usage})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mem.HostMemory, "change", spy)
        sc.simulate(sc.parse_scenario(data))
    start = seen[0][0]          # the first level (no wait) applies as it starts running
    model = Usage(100.0, ramp_s, ramp_steps, cv, interval_s, leak)
    want, t = [], start
    for wait, level in model.levels(Stream(seed_sequence(seed, data["workloads"][0]["name"], "memory"))):
        t += wait
        if t > 200.0:
            break
        want.append((t, level))
    assert [lv for _, lv in seen] == [lv for _, lv in want]
    assert [tt for tt, _ in seen] == pytest.approx([tt for tt, _ in want])
