"""Admission as real hosts and schedulers do it (issue 17): backfill, none, priorities, preemption.

A zero-cost runtime (no overhead, instant phases) on one host of 4096 MiB keeps every figure
exact: what fits is decided by the workloads' ``mem_mib`` alone.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import simcontainer as sc
from simcontainer.model.placement import backoff_s, pick_one_host
from simcontainer.scenario.errors import ScenarioError


def scenario(workloads: list[dict[str, Any]], ram: float = 4096.0, duration: float = 60.0,
             **daemon: Any) -> Any:
    return sc.parse_scenario({
        "name": "admission", "duration_s": duration,
        "host": {"cpu_cores": 4, "ram_mib": ram, "disk_gib": 10, "reserved_mib": 0},   # every MiB counts
        "daemon": daemon,
        "runtimes": [{"name": "zero", "kind": "container"}],
        "images": [{"name": "t", "layers": [{"id": "t0", "download_mib": 0.0, "disk_mib": 0.0}]}],
        "workloads": [{"runtime": "zero", "image": "t", "writable_mib": 0.0, **w} for w in workloads],
    })


def burst(name: str, mem: float, count: int = 1, at: float = 0.0, **kw: Any) -> dict[str, Any]:
    return {"name": name, "mem_mib": mem, "arrival": {"kind": "burst", "at_s": at, "count": count}, **kw}


# a 3000 MiB request arrives behind a 2000 MiB tenant and fits only when it leaves (at 30 s);
# five small ones arrive behind it
BLOCKED = [burst("tenant", 2000, lifetime={"kind": "fixed", "s": 30.0}),
           burst("big", 3000, at=1.0),
           burst("small", 100, count=5, at=2.0)]


def test_backfill_starts_small_requests_behind_a_large_one_that_does_not_fit() -> None:
    w = sc.simulate(scenario(BLOCKED, admission="backfill")).summary["workloads"]
    assert w["small"]["started"] == 5
    assert w["small"]["wait_s"]["p95"] == 0.0
    assert w["small"]["pending_s"] == {"n": 0, "censored": 0, "mean": None, "p95": None, "max": None}
    assert w["big"]["started"] == 1                  # when the tenant left
    assert 29.0 <= w["big"]["wait_s"]["mean"] < 30.0     # (the tenant's stop and removal)
    assert w["big"]["pending_s"]["n"] == 1 and w["big"]["pending_s"]["p95"] == w["big"]["wait_s"]["mean"]


def test_queue_is_strict_fifo_small_requests_wait_behind_the_large_one() -> None:
    s = sc.simulate(scenario(BLOCKED, admission="queue")).summary
    w = s["workloads"]
    assert w["small"]["started"] == 5
    assert 28.0 <= w["small"]["wait_s"]["mean"] < 29.0     # behind big, until the tenant left
    assert w["small"]["pending_s"]["n"] == 5
    assert s["admission"]["policy"] == "queue" and "retry" not in s["admission"]


def test_backfill_goes_by_priority_then_arrival() -> None:
    """Two requests wait for one slot; the later one has the higher priority and goes first."""
    s = scenario([burst("tenant", 3000, lifetime={"kind": "fixed", "s": 10.0}),
                  burst("low", 3000, at=1.0, priority=0),
                  burst("high", 3000, at=2.0, priority=10)], admission="backfill")
    w = sc.simulate(s).summary["workloads"]
    assert w["high"]["started"] == 1 and 8.0 <= w["high"]["wait_s"]["mean"] < 9.0
    assert w["low"]["started"] == 0 and w["low"]["waiting_at_horizon"] == 1


def test_backoff_retry_waits_out_the_kube_scheduler_back_off() -> None:
    """With retry = "backoff" a request that failed at 1 s is tried again only after a release
    and its 1 s back-off: the tenant leaves soon after 1.5 s, the request starts at 2 s."""
    assert [backoff_s(k) for k in (1, 2, 3, 4, 5, 9)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    wl = [burst("tenant", 3000, lifetime={"kind": "fixed", "s": 1.5}), burst("next", 3000, at=1.0)]
    release = sc.simulate(scenario(wl, admission="backfill")).summary["workloads"]["next"]
    backoff = sc.simulate(scenario(wl, admission="backfill", retry="backoff")).summary["workloads"]["next"]
    assert 0.5 <= release["wait_s"]["mean"] < 1.0
    assert backoff["wait_s"]["mean"] == pytest.approx(1.0)


def test_none_starts_everything_and_over_commits_the_host() -> None:
    s = sc.simulate(scenario([burst("many", 1000, count=10)], admission="none")).summary
    assert s["workloads"]["many"]["started"] == 10
    assert s["workloads"]["many"]["waiting_at_horizon"] == 0
    assert s["hosts"][0]["peak_ram_mib"] == pytest.approx(10_000.0)          # on a 4096 MiB host
    assert s["admission"]["overcommitted_hosts"] == 1
    assert s["admission"]["peak_ram_reserved_fraction"] == pytest.approx(10_000 / 4096)
    assert any('admission "none"' in x for x in s["warnings"])
    # queue on the same host: four start, six wait
    q = sc.simulate(scenario([burst("many", 1000, count=10)], admission="queue")).summary
    assert q["workloads"]["many"]["started"] == 4 and q["admission"]["overcommitted_hosts"] == 0


def test_none_over_committed_host_reaches_an_oom_kill() -> None:
    """dockerd starts all ten 1000 MiB instances on a 4096 MiB host; the memory model's kernel OOM
    killer (simcontainer.model.memory, issue 14) kills as they run past the host's RAM: exit 137."""
    r = sc.simulate(scenario([burst("many", 1000, count=10)], admission="none"))
    s = r.summary
    kills = r.recorder.oom_kills
    assert kills and all(k["kind"] == "host" for k in kills)
    assert s["memory"]["oom_kills"] == len(kills) == 6          # four fit in 4096 MiB
    assert (r.events["action"] == "oom").sum() == len(kills)
    assert s["workloads"]["many"]["lifecycle"]["exit_codes"].get("137") == len(kills)
    assert any("OOM killer killed 6" in x for x in s["warnings"])


def preemption_scenario(**kw: Any) -> Any:
    # two low (priority 0) and one mid (priority 5) fill 3000 of 4096 MiB; a 1500 MiB high
    # request needs one 1000 MiB instance gone: a low one, not the mid one
    return scenario([burst("low", 1000, count=2, restart="always"),
                     burst("mid", 1000, priority=5),
                     burst("high", 1500, at=10.0, priority=100)],
                    admission="backfill", preemption=True, **kw)


def test_high_priority_request_preempts_the_lowest_priority_instance() -> None:
    s = sc.simulate(preemption_scenario()).summary
    w = s["workloads"]
    assert w["high"]["started"] == 1
    assert w["low"]["preempted"] == 1 and w["mid"]["preempted"] == 0 and w["high"]["preempted"] == 0
    assert s["admission"]["preemptions"] == 1
    (v,) = s["admission"]["victims"]
    assert v["victim_workload"] == "low" and v["victim_priority"] == 0
    assert v["by_workload"] == "high" and v["by_priority"] == 100 and v["time_s"] == pytest.approx(10.0)
    # the victim exits gracefully (SIGTERM, exit 0), then its restart policy acts: "always"
    # wants it back, and there is no room left (recorded as a failed restart)
    assert w["low"]["lifecycle"]["exit_codes"].get("0") == 1
    assert w["low"]["lifecycle"]["failed_starts"] == 1
    assert w["high"]["wait_s"]["mean"] == pytest.approx(0.0, abs=1e-9)      # no grace to wait out


def test_no_preemption_without_lower_priority_or_when_off() -> None:
    off = scenario([burst("low", 1000, count=3), burst("high", 1500, at=10.0, priority=100)],
                   admission="backfill")
    s = sc.simulate(off).summary
    assert s["admission"]["preemptions"] == 0 and s["workloads"]["high"]["waiting_at_horizon"] == 1
    equal = scenario([burst("a", 1000, count=3, priority=7), burst("b", 1500, at=10.0, priority=7)],
                     admission="backfill", preemption=True)
    s = sc.simulate(equal).summary
    assert s["admission"]["preemptions"] == 0 and s["workloads"]["b"]["waiting_at_horizon"] == 1


def test_equal_size_requests_backfill_is_fifo() -> None:
    """With one size of request nothing can overtake anything: backfill runs exactly as queue
    (so the Erlang C check of test_theory holds for both)."""
    wl = [{"name": "w", "mem_mib": 1000, "arrival": {"kind": "poisson", "rate_per_s": 0.5},
           "lifetime": {"kind": "exponential", "mean_s": 10.0}}]
    q = sc.simulate(scenario(wl, duration=600.0, admission="queue")).summary["workloads"]["w"]
    b = sc.simulate(scenario(wl, duration=600.0, admission="backfill")).summary["workloads"]["w"]
    for k in ("requested", "started", "waiting_at_horizon", "wait_s", "startup_s"):
        assert q[k] == b[k], k


@pytest.mark.parametrize("daemon, match", [
    ({"admission": "queue", "preemption": True}, "preemption = true needs admission"),
    ({"admission": "none", "retry": "backoff"}, "retry = 'backoff' needs admission"),
    ({"admission": "fifo"}, "admission"),
])
def test_admission_fields_are_checked(daemon: dict[str, Any], match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        scenario([burst("w", 100)], **daemon)


def test_priority_is_a_whole_number_in_the_priority_class_range() -> None:
    with pytest.raises(ScenarioError, match="priority"):
        scenario([burst("w", 100, priority=2_000_000_000)])
    with pytest.raises(ScenarioError, match="priority"):
        scenario([burst("w", 100, priority=1.5)])


def test_room_freed_by_victims_is_held_for_the_preemptor() -> None:
    """The high request needs both low instances gone; the first exits at once, the second
    after a 5 s shutdown. A pending low-priority request that would fit in the first one's room
    does not take it: the room is held for the nominated request (as the kube-scheduler counts
    nominated pods on their node)."""
    s = scenario([burst("low-fast", 1000), burst("low-slow", 1000, sigterm="exit", shutdown_s=5.0),
                  burst("mid", 1000, priority=5),
                  burst("filler", 1500, at=1.0),
                  burst("high", 2500, at=10.0, priority=100)],
                 admission="backfill", preemption=True)
    out = sc.simulate(s).summary
    w = out["workloads"]
    assert {v["victim_workload"] for v in out["admission"]["victims"]} == {"low-fast", "low-slow"}
    assert w["mid"]["preempted"] == 0
    assert w["high"]["started"] == 1 and 5.0 <= w["high"]["wait_s"]["mean"] < 6.0
    assert w["filler"]["started"] == 0 and w["filler"]["waiting_at_horizon"] == 1


def test_warm_paths_run_with_preemption_and_with_admission_none() -> None:
    """One lifecycle: a pool is a bring-up part like any other, so it goes with preemption and
    with dockerd's admission (0.2 refused both: "warm paths run only with a plain lifecycle")."""
    for daemon in ({"admission": "backfill", "preemption": True}, {"admission": "none"}):
        res = sc.simulate(scenario([burst("w", 100, count=4, at=5.0, warm={"pool": 1})], **daemon))
        w = res.summary["workloads"]["w"]
        assert w["started"] == 4 and w["warm"]["starts"]["warm"] >= 1


# ---- the preemption host choice (kube-scheduler pickOneNodeForPreemption; issue 21) ----------

def _v(priority: int, placed_at: float = 0.0) -> Any:
    return SimpleNamespace(priority=priority, placed_at=placed_at)


def test_preemption_picks_the_host_whose_most_important_victim_matters_least() -> None:
    host, _ = pick_one_host([("a", [_v(100)]), ("b", [_v(0), _v(0), _v(0)])])
    assert host == "b"


def test_preemption_sums_priorities_offset_by_maxint32_plus_one_so_fewer_victims_win() -> None:
    # three victims at -100 sum to -300, one at -100 to -100: a plain sum picks the host with
    # more victims; with each priority + 2^31 the single victim wins
    host, victims = pick_one_host([("many", [_v(-100), _v(-100), _v(-100)]), ("one", [_v(-100)])])
    assert host == "one" and len(victims) == 1


def test_preemption_ties_go_to_the_host_whose_victims_started_latest() -> None:
    host, _ = pick_one_host([("old", [_v(0, 5.0), _v(0, 50.0)]), ("new", [_v(0, 10.0), _v(0, 11.0)])])
    assert host == "new"            # earliest start of the top-priority victims: 10 > 5
    host, _ = pick_one_host([("first", [_v(0, 3.0)]), ("second", [_v(0, 3.0)])])
    assert host == "first"          # all equal: the first candidate


def test_preemption_on_two_hosts_spares_the_longer_running_victim() -> None:
    # host 0 takes a low instance at 0 s, host 1 another at 5 s; a high request at 10 s needs a
    # whole host: it preempts on host 1 (the later start), not the lower host index
    scen = sc.parse_scenario({
        "name": "preempt-2", "duration_s": 30.0,
        "host": {"cpu_cores": 4, "ram_mib": 1000, "disk_gib": 10, "count": 2, "reserved_mib": 0},
        "daemon": {"admission": "backfill", "preemption": True},
        "runtimes": [{"name": "zero", "kind": "container"}],
        "images": [{"name": "t", "layers": [{"id": "t0", "download_mib": 0.0, "disk_mib": 0.0}]}],
        "workloads": [{"runtime": "zero", "image": "t", "writable_mib": 0.0, **w} for w in [
            burst("low0", 1000), burst("low1", 1000, at=5.0), burst("high", 1000, at=10.0, priority=100)]],
    })
    s = sc.simulate(scen).summary
    (v,) = s["admission"]["victims"]
    assert v["victim_workload"] == "low1"
