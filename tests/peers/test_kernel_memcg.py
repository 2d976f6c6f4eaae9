"""The kernel's cgroup v2 memory controller and OOM killer, from torvalds/linux
tools/testing/selftests/cgroup/test_memcontrol.c and mm/oom_kill.c, translated into scenarios: a
container is one memory cgroup (memory.max = ``mem_limit_mib``), swap off unless said."""

from __future__ import annotations

import pytest
from conftest import scenario_dict

import simcontainer as sc

SRC = "torvalds/linux:tools/testing/selftests/cgroup/test_memcontrol.c"


def _procs(*procs: dict, duration: float = 60.0, **host) -> sc.Result:
    data = scenario_dict(duration_s=duration, host={"ram_mib": 4096, **host})
    data["workloads"] = [
        {"name": p["name"], "runtime": "zero", "image": "tiny", "mem_mib": p["mib"], "writable_mib": 0,
         "mem_limit_mib": p.get("max"), "arrival": {"kind": "burst", "at_s": p.get("at", 0.0), "count": 1},
         "lifetime": {"kind": "forever"}, "usage": {"working_set_mib": p["mib"], "ramp_s": 10, "ramp_steps": 10}}
        for p in procs]
    return sc.simulate(sc.parse_scenario(data))


def _state(r: sc.Result, name: str) -> str:
    inst = r.instances
    return str(inst[inst.workload == name].state.iloc[-1])


def _oom_kills(r: sc.Result, name: str) -> int:
    return r.summary["memory"]["workloads"][name]["cgroup_kills"]


def _memcg_oom_events() -> None:
    """memory.max 30M, no swap, alloc_anon 100M: killed; memory.events oom 1, oom_kill 1; cgroup.procs
    empty (restart policy "no": it stays dead)."""
    r = _procs({"name": "memcg_test", "mib": 100, "max": 30})
    assert _oom_kills(r, "memcg_test") == 1
    ev = r.events
    assert ev[ev.action == "oom"].exit_code.tolist() == [137]
    assert _state(r, "memcg_test") != "running"


def _memcg_oom_group_leaf_events() -> None:
    """A leaf with memory.max 50M and oom.group (a container is killed whole) allocating 100M beside a
    60M process in its parent (no limit): the leaf is killed, oom_kill > 0 in it; the parent's
    process lives."""
    r = _procs({"name": "parent", "mib": 60}, {"name": "child", "mib": 100, "max": 50})
    assert _oom_kills(r, "child") >= 1 and _oom_kills(r, "parent") == 0
    assert _state(r, "parent") == "running"


@pytest.mark.parametrize("case", ["test_memcg_oom_events", "test_memcg_oom_group_leaf_events",
                                  "test_memcg_swap_max_peak/oom"],
                         ids=[f"{SRC}::test_memcg_oom_events", f"{SRC}::test_memcg_oom_group_leaf_events",
                              f"{SRC}::test_memcg_swap_max_peak/oom"])
def test_memcontrol(case: str) -> None:
    if case == "test_memcg_oom_events":
        _memcg_oom_events()
    elif case == "test_memcg_oom_group_leaf_events":
        _memcg_oom_group_leaf_events()
    else:
        # memory.max 30M (swap.max 30M: per-cgroup swap is not modelled, the host's is), alloc 100M:
        # "Should be killed by OOM killer": oom 1, oom_kill 1
        r = _procs({"name": "memcg_test", "mib": 100, "max": 30}, swap_mib=1024)
        assert _oom_kills(r, "memcg_test") == 1


OOM = "torvalds/linux:mm/oom_kill.c"
# oom_evaluate_task / select_bad_process / out_of_memory, as cases: (sizes MiB, oom_score_adj,
# RAM MiB, the expected victim or "panic")
KERNEL = [
    ("oom_evaluate_task/largest rss", [500, 700, 300], [0, 0, 0], 1200, "w1"),
    ("oom_evaluate_task/equal points: later in the scan", [500, 500, 300], [0, 0, 0], 1200, "w1"),
    ("oom_evaluate_task/OOM_SCORE_ADJ_MIN skipped", [500, 700, 300], [0, -1000, 0], 1200, "w0"),
    ("oom_badness/adj in thousandths of totalpages", [500, 400, 400], [0, 300, 0], 1200, "w1"),
    ("out_of_memory/no killable processes: panic", [500, 500, 300], [-1000, -1000, -1000], 1200, "panic"),
]


@pytest.mark.parametrize(("case", "sizes", "adjs", "ram", "victim"), KERNEL, ids=[f"{OOM}::{r[0]}" for r in KERNEL])
def test_oom_killer(case: str, sizes: list[int], adjs: list[int], ram: float, victim: str) -> None:
    data = scenario_dict(duration_s=20.0, host={"ram_mib": ram}, daemon={"admission": "none"})
    data["workloads"] = [
        {"name": f"w{k}", "runtime": "zero", "image": "tiny", "mem_mib": size, "writable_mib": 0,
         "oom_score_adj": adj, "arrival": {"kind": "burst", "at_s": float(k), "count": 1},
         "lifetime": {"kind": "forever"}}
        for k, (size, adj) in enumerate(zip(sizes, adjs, strict=True))]
    r = sc.simulate(sc.parse_scenario(data))
    kills = r.recorder.oom_kills
    if victim == "panic":
        assert r.recorder.memory.panics and all(k["kind"] == "panic" for k in kills)
    else:
        assert r.workload_names[kills[0]["workload"]] == victim and kills[0]["kind"] == "host"
