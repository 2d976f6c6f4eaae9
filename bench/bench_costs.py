"""costs: what each kind of work costs the simulation, for the size guard (simcontainer.engine.guard).

Each source of events is run alone on a runtime with nothing to do, and counted in simpy steps
(every event the engine takes off its queue), then timed:

- a request's start path (api, create, boot, running), its stop path (a finite lifetime), and a
  pod sandbox's extra steps under the kubelet;
- an image pull on a host, and each layer of it;
- a restart (a crash loop under Docker's back-off);
- a memory usage tick (``usage.interval_s``) of a running instance;
- a fault and what it takes down (a daemon restart with nothing on the host; a host panic);
- the placement scan: wall time per host tried (first-fit on a full fleet, spread everywhere);
- a swap re-share: wall time per pair of instances for each memory change while the host swaps
  with a slowdown (each change re-slows every instance, each re-slow re-shares every CPU class).

It prints the constants ``simcontainer/guard.py`` records (``python -m bench.bench_costs``, or
``python -m bench costs`` for the table and bench/results.json; about 10 s). The counts are properties of the engine (they change only when the lifecycle does); the
times are of this machine.
"""

from __future__ import annotations

import platform
import time
from typing import Any

from simcontainer.engine.core import Engine
from simcontainer.scenario.loading import parse_scenario

ZERO = {"name": "zero", "kind": "container"}
IMAGE = "python:3.12-slim"
RUNTIME = "runc"        # a real lifecycle (api, create, boot through dockerd): its steps are the ones counted


def count_steps(scenario: Any, seed: int | None = None) -> tuple[int, float, Any]:
    """(simpy steps, wall seconds, result) of one run of ``scenario``."""
    eng = Engine(scenario, seed)
    t0 = time.perf_counter()
    result = eng.run(None)
    wall = time.perf_counter() - t0
    # every event ever queued took an id; those still queued at the horizon were not processed
    return next(eng.env._eid) - len(eng.env._queue), wall, result


def scenario(n: int = 200, duration: float = 600.0, hosts: int = 1, extra: dict[str, Any] | None = None,
             **w: Any) -> Any:
    data: dict[str, Any] = {
        "name": "costs", "duration_s": duration,
        "host": {"cpu_cores": 64, "ram_mib": 1e6, "disk_gib": 10_000, "count": hosts},
        "daemon": {"prepull": [IMAGE]},
        "workloads": [{"name": "w", "runtime": RUNTIME, "image": IMAGE, "mem_mib": 64,
                       "arrival": {"kind": "burst", "count": n}, "lifetime": {"kind": "forever"}, **w}],
    }
    data.update(extra or {})
    return parse_scenario(data)


def restarts_of(result: Any) -> int:
    return sum(int(w.get("lifecycle", {}).get("restarts", 0)) for w in result.summary["workloads"].values())


def per(base: int, total: int, units: float) -> float:
    return (total - base) / units


def measure() -> dict[str, float]:
    out: dict[str, float] = {}
    n = 2000
    s0, w0, _ = count_steps(scenario(n))
    out["STEPS_PER_START"] = s0 / n
    s1, w1, _ = count_steps(scenario(n, lifetime={"kind": "fixed", "s": 10.0}))
    out["STEPS_PER_STOP"] = per(s0, s1, n)
    out["SECONDS_PER_EVENT"] = max(w0 / s0, w1 / s1)
    sk, _, _ = count_steps(scenario(n, control_plane="kubelet"))
    out["STEPS_PER_KUBELET"] = per(s0, sk, n)
    # image pulls: 20 instances spread over 10 hosts, each host pulling a 1-layer and a 6-layer
    # image (nothing prepulled), against the same with the images prepulled
    out.update(_pull_costs())
    # a crash loop: 1 s runs, Docker's back-off (0.1 s doubling to 60 s), 20 instances, 1 h
    loop = scenario(20, 3600.0, time_to_failure={"kind": "fixed", "s": 1.0}, restart="always")
    s2, _, r2 = count_steps(loop)
    restarts = restarts_of(r2)
    base20 = s0 / n * 20
    out["STEPS_PER_RESTART"] = (s2 - base20) / max(1, restarts)
    # usage ticks: 20 instances, one tick a second for 600 s
    s3, _, _ = count_steps(scenario(20, usage={"interval_s": 1.0, "ramp_steps": 1, "ramp_s": 0.0}))
    out["STEPS_PER_TICK"] = (s3 - base20) / (20 * 600)
    # faults with nothing to take down (a daemon restart every 1 s on an empty host), then host
    # panics taking down 20 instances that restart
    s4, _, r4 = count_steps(scenario(1, 600.0, extra={"faults": [{"kind": "daemon_restart", "every_s": 1.0}]},
                                     arrival={"kind": "burst", "count": 1, "at_s": 599.0}))
    out["STEPS_PER_FAULT"] = s4 / max(1, len(r4.summary["faults"]))
    s5, _, r5 = count_steps(scenario(20, 600.0, extra={"faults": [{"kind": "host_panic", "every_s": 60.0,
                                                                      "reboot_s": 1.0}]}, restart="always"))
    lost = sum(f.get("instances_lost", 0) for f in r5.summary["faults"])
    out["STEPS_PER_LOST"] = (s5 - base20 - out["STEPS_PER_FAULT"] * len(r5.summary["faults"])) / max(1, lost)
    # placement: 2,000 requests on 1,000 hosts, spread (every host tried per request)
    big, one = scenario(2000, 60.0, hosts=1000, extra={"daemon": {"placement": "spread", "prepull": [IMAGE]}}), scenario(2000, 60.0)
    _, wb, _ = count_steps(big)
    _, wo, _ = count_steps(one)
    out["SECONDS_PER_HOST_SCAN"] = max(0.0, wb - wo) / (2000 * 1000)
    out["SECONDS_PER_RESHARE_PAIR"] = _reshare_cost()
    return out


def _pull_costs() -> dict[str, float]:
    def steps(image: str, prepull: bool) -> int:
        s = scenario(20, 600.0, hosts=10, extra={"daemon": {"placement": "spread",
                                                           "prepull": [image] if prepull else []}})
        data = s.to_dict()
        data["workloads"][0]["image"] = image
        return count_steps(parse_scenario(data))[0]
    one = (steps("alpine:3.20", False) - steps("alpine:3.20", True)) / 10       # per host, 1 layer
    six = (steps("worker:3.1", False) - steps("worker:3.1", True)) / 10         # per host, 6 layers
    layer = (six - one) / 5
    return {"STEPS_PER_PULL": one - layer, "STEPS_PER_LAYER": layer}


def _reshare_cost(n: int = 60) -> float:
    """Wall seconds per (changed instance x resident instance) while the host swaps with a swap
    slowdown: every memory change re-slows each instance whose swapped share moved, and each
    re-slow re-shares the CPU over every class (simcontainer.model.memory.reslow -> resources
    ._reshare), so a change costs ~n^2. ``n`` containers with usage ticks on a host that swaps,
    against the same host with room."""
    def run(ram: float, swap: float) -> tuple[float, int]:
        s = parse_scenario({
            "name": "swap", "duration_s": 600.0,
            "host": {"cpu_cores": 64, "ram_mib": ram, "disk_gib": 10_000, "swap_mib": swap, "swap_slowdown": 2.0},
            "daemon": {"prepull": [IMAGE], "admission": "none"}, "runtimes": [ZERO],
            "workloads": [{"name": "w", "runtime": "zero", "image": IMAGE, "mem_mib": 64, "cpu": 0.1,
                           "arrival": {"kind": "burst", "count": n}, "lifetime": {"kind": "forever"},
                           "usage": {"interval_s": 10.0, "cv": 0.2, "ramp_steps": 1, "ramp_s": 0.0}}]})
        steps, wall, _ = count_steps(s)
        return wall, steps
    w_free, _ = run(1e6, 0.0)
    w_swap, _ = run(n * 64 * 0.8, n * 64.0)
    changes = n * (600 / 10.0 + 2)
    return max(0.0, w_swap - w_free) / (changes * n * n)


def run() -> dict[str, Any]:
    """For ``python -m bench costs``: the constants, and where they were measured."""
    return {"machine": f"{platform.node()} ({platform.machine()}, Python {platform.python_version()})",
            "date": time.strftime("%Y-%m-%d"), **measure()}


def main() -> None:
    found = measure()
    print(f"# measured {time.strftime('%Y-%m-%d')} on {platform.node()} ({platform.machine()}, "
          f"Python {platform.python_version()})")
    for k, v in found.items():
        print(f"{k} = {v:.3g}")


if __name__ == "__main__":
    main()
