"""The size guard sees all work (issue 23): its estimated event count is within 3x of the simpy
steps a run really takes, for every shipped scenario and for extreme ones (tiny fault intervals,
long usage ticking, crash loops, 10,000 hosts first-fit); sweep sizes are refused from the axis
definitions before any value is built."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import simcontainer as sc
from bench.bench_costs import count_steps
from simcontainer.engine import guard
from simcontainer.studies.sweep_design import parse_sweep

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "models" / "scenarios").glob("*.toml"))
IMAGE = "python:3.12-slim"


def _scenario(n: int = 20, duration: float = 600.0, hosts: int = 1, extra: dict[str, Any] | None = None,
              **w: Any) -> sc.Scenario:
    data: dict[str, Any] = {
        "name": "extreme", "duration_s": duration, "host": {"preset": "server-64g", "count": hosts},
        "daemon": {"prepull": [IMAGE]},
        "workloads": [{"name": "w", "runtime": "runc", "image": IMAGE, "mem_mib": 64,
                       "arrival": {"kind": "burst", "count": n}, "lifetime": {"kind": "forever"}, **w}]}
    data.update(extra or {})
    return sc.parse_scenario(data)


EXTREME = {
    "daemon restart every 0.5 s": lambda: _scenario(extra={"faults": [{"kind": "daemon_restart", "every_s": 0.5}]}),
    "host panic every 5 s, restart always": lambda: _scenario(
        restart="always", extra={"faults": [{"kind": "host_panic", "every_s": 5.0, "reboot_s": 1.0}]}),
    "usage tick 0.1 s": lambda: _scenario(n=10, duration=300.0, usage={"interval_s": 0.1}),
    "usage tick 60 s over a day": lambda: _scenario(n=50, duration=86_400.0, usage={"interval_s": 60.0}),
    "crash loop under dockerd, 6 h": lambda: _scenario(
        n=10, duration=21_600.0, restart="always", time_to_failure={"kind": "fixed", "s": 0.5}),
    "crash loop under the kubelet, 6 h": lambda: _scenario(
        n=10, duration=21_600.0, control_plane="kubelet", time_to_failure={"kind": "exponential", "mean_s": 5.0}),
    "OOM-kill loop under the kubelet, 6 h": lambda: _scenario(
        n=10, duration=21_600.0, control_plane="kubelet", mem_limit_mib=256.0,
        usage={"working_set_mib": 512.0, "ramp_s": 20.0, "interval_s": 10.0}),
    "leak to the limit, restart always, 1 day": lambda: _scenario(
        n=10, duration=86_400.0, restart="always", mem_limit_mib=512.0,
        usage={"working_set_mib": 256.0, "leak_mib_per_h": 2000.0, "interval_s": 60.0}),
    "on-failure:3 crash loop": lambda: _scenario(restart="on-failure:3", time_to_failure={"kind": "fixed", "s": 1.0}),
    "churn with a short lifetime": lambda: _scenario(
        n=1, arrival={"kind": "poisson", "rate_per_s": 5.0}, lifetime={"kind": "exponential", "mean_s": 2.0}),
    "2,000 on 10,000 hosts first-fit": lambda: _scenario(n=2000, duration=60.0, hosts=10_000),
}


def _ratio(s: sc.Scenario) -> tuple[float, int, float]:
    est = guard.estimate(s)
    steps, _, _ = count_steps(s)
    return est.events / steps, steps, est.events


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_estimate_within_3x_of_the_steps_of_every_shipped_scenario(path):
    ratio, steps, est = _ratio(sc.load_scenario(path))
    assert 1 / 3 <= ratio <= 3, f"{path.stem}: estimated {est:.0f} events, ran {steps} steps"


@pytest.mark.parametrize("name", sorted(EXTREME))
def test_estimate_within_3x_of_the_steps_of_extreme_scenarios(name):
    ratio, steps, est = _ratio(EXTREME[name]())
    assert 1 / 3 <= ratio <= 3, f"{name}: estimated {est:.0f} events, ran {steps} steps"


def test_every_source_of_work_is_seen():
    """A fault every millisecond, usage ticks every 0.1 s for a year, a crash loop over a year:
    each alone is refused as too long (the guard used to count requests only)."""
    year = 365 * 86_400.0
    cases = [
        _scenario(extra={"faults": [{"kind": "daemon_restart", "every_s": 0.001}]}, duration=year),
        _scenario(n=100, duration=year, usage={"interval_s": 0.1}),
        _scenario(n=1000, duration=year, restart="always", time_to_failure={"kind": "fixed", "s": 0.1}),
    ]
    for s, source in zip(cases, ("faults", "usage", "restarts"), strict=True):
        est = guard.estimate(s)
        assert est.biggest_source() == source
        with pytest.raises(sc.ScenarioError, match="too (long|large) to run here"):
            guard.check_size(s, available=1e9)


def test_first_fit_on_10000_hosts_is_not_refused():
    """50,000 small containers on 10,000 hosts, first-fit: it stops at the first host with room
    (the old guard charged every host for every request: "1.1 h of compute")."""
    s = _scenario(n=50_000, duration=60.0, hosts=10_000)
    est = guard.check_size(s, available=1e9)
    assert est.wall_s < 60.0
    spread = s.model_copy(update={"daemon": s.daemon.model_copy(update={"placement": "spread"})})
    assert guard.estimate(spread).wall_s > 10 * est.wall_s


def test_swap_resharing_is_counted():
    data = sc.load_scenario(ROOT / "models" / "scenarios" / "memory.toml").to_dict()
    data["host"]["swap_mib"] = 65536.0
    data["daemon"]["admission"] = "none"
    for w in data["workloads"]:
        w["arrival"] = {"kind": "burst", "count": 2000}
    with_swap = guard.estimate(sc.parse_scenario(data))
    data["host"]["swap_mib"] = 0.0
    without = guard.estimate(sc.parse_scenario(data))
    assert with_swap.wall_s > 2 * without.wall_s


def test_a_huge_sweep_axis_is_refused_before_any_value_is_built():
    base = _scenario()
    tracemalloc.start()
    with pytest.raises(sc.ScenarioError, match="100,000,000 points"):
        parse_sweep({"axes": {"workloads.w.mem_mib": {"low": 1.0, "high": 2.0, "num": 10**8}}},
                    base_scenario=base)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50 * 2**20


def test_a_huge_integer_count_is_a_field_error_not_a_traceback():
    with pytest.raises(sc.ScenarioError, match=r"arrival\.count: got an integer of about 309 digits"):
        _scenario(arrival={"kind": "burst", "count": 2**1024})


def test_the_issues_swapping_memory_scenario_is_no_longer_zero_seconds():
    """memory.toml with admission "none", swap, a swap slowdown and 200 containers: the old guard
    said 0.0 s; the run took 509 s of CPU and 1.7 GB (issue 23). Every memory change re-slows the
    swapping instances and each re-slow re-shares the CPU: ~n^2 per change."""
    data = sc.load_scenario(ROOT / "models" / "scenarios" / "memory.toml").to_dict()
    data["daemon"]["admission"] = "none"
    data["host"].update(swap_mib=8192.0, swap_slowdown=2.0)
    data["workloads"][0]["arrival"]["count"] = 200
    est = guard.estimate(sc.parse_scenario(data))
    assert 509 / 3 <= est.wall_s <= 509 * 3
    assert est.biggest_source() == "swap re-sharing" and est.largest_path == "host.swap_mib"
    assert est.memory_mib >= 1700 / 3
    data["host"]["swap_mib"] = 0.0             # no swap: no re-sharing
    assert guard.estimate(sc.parse_scenario(data)).wall_by["swap re-sharing"] == 0
