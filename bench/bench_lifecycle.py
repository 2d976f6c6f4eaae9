"""lifecycle: simcontainer against bare simpy on the same arrivals.

N instances of a zero-overhead custom runtime arrive one per second; each reserves RAM, starts,
lives a fixed time, stops and releases its RAM. The bare-simpy script does the same arrivals, a
``simpy.Container`` put/get for the RAM and a timeout for the lifetime. Both run in this process,
interleaved, best of ``repeat``; the ratio is simcontainer / bare simpy (target <= 1.5, issue 20).

``usage_us_per_instance``: the same run with a memory usage model on (simcontainer.model.memory: a
ramp in 2 steps, then a level every 30 s: 3 levels per instance over its 50 s, the first as it starts, on the
one lifecycle), per instance -- what a usage model costs (issue 14); ``usage_ratio`` is that run
against the same bare simpy (target <= 3, issue 20).
"""

from __future__ import annotations

import os
import time
from typing import Any

import simpy

from bench._common import ZERO_RUNTIME, target, timed

EVERY_S = 1.0
LIFE_S = 50.0
MEM_MIB = 256.0
RAM_MIB = 65536.0


def scenario(n: int, usage: bool = False):
    from simcontainer.scenario.loading import parse_scenario

    extra = {"usage": {"ramp_s": 10.0, "ramp_steps": 2, "interval_s": 30.0, "cv": 0.1}} if usage else {}
    return parse_scenario({
        "name": "bench-lifecycle",
        "duration_s": n * EVERY_S + LIFE_S + 1.0,
        "seed": 1,
        "host": {"cpu_cores": 16, "ram_mib": RAM_MIB, "disk_gib": 200},
        "daemon": {"prepull": ["python:3.12-slim"]},
        "runtimes": [ZERO_RUNTIME],
        "workloads": [{
            "name": "w", "runtime": "zero", "image": "python:3.12-slim", "cpu": 0.0,
            "mem_mib": MEM_MIB, "writable_mib": 0.0,
            "arrival": {"kind": "interval", "every_s": EVERY_S},
            "lifetime": {"kind": "fixed", "s": LIFE_S},
            "max_instances": n,
            "auto_remove": True,        # docker run --rm: the fast path
            **extra,
        }],
    }, source="bench-lifecycle")


def run_simcontainer(sc) -> dict[str, Any]:
    from simcontainer.engine.core import Engine

    eng = Engine(sc)
    res = eng.run()
    return {"events": next(eng.env._eid), "summary": res.summary}


def run_bare(n: int) -> dict[str, Any]:
    env = simpy.Environment()
    ram = simpy.Container(env, capacity=RAM_MIB, init=0)
    done = [0]

    def instance():
        yield ram.put(MEM_MIB)          # reserve
        yield env.timeout(LIFE_S)       # live
        yield ram.get(MEM_MIB)          # release
        done[0] += 1

    def arrivals():
        for i in range(n):
            t = i * EVERY_S
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(instance())

    env.process(arrivals())
    env.run(until=n * EVERY_S + LIFE_S + 1.0)
    return {"events": next(env._eid), "completed": done[0]}


def run(n: int | None = None, repeat: int | None = None) -> dict[str, Any]:
    n = n or int(os.environ.get("BENCH_LIFECYCLE_N", 100_000))
    repeat = repeat or int(os.environ.get("BENCH_REPEAT", 3))
    sc = scenario(n)
    sim = {"wall": float("inf"), "cpu": float("inf")}
    bare = {"wall": float("inf"), "cpu": float("inf")}
    sim_out: dict[str, Any] = {}
    bare_out: dict[str, Any] = {}
    for _ in range(repeat):   # interleaved, so that machine noise hits both alike
        wall, cpu, sim_out = timed(lambda: run_simcontainer(sc))
        sim["wall"], sim["cpu"] = min(sim["wall"], wall), min(sim["cpu"], cpu)
        wall, cpu, bare_out = timed(lambda: run_bare(n))
        bare["wall"], bare["cpu"] = min(bare["wall"], wall), min(bare["cpu"], cpu)
    w = sim_out["summary"]["workloads"]["w"]
    assert w["completed"] == n == bare_out["completed"], (w["completed"], bare_out["completed"], n)
    ratio = sim["cpu"] / bare["cpu"]
    su = scenario(n, usage=True)
    usage_cpu = min(timed(lambda: run_simcontainer(su))[1] for _ in range(repeat))
    return {
        "n": n,
        "repeat": repeat,
        "simcontainer_cpu_s": round(sim["cpu"], 4),
        "bare_simpy_cpu_s": round(bare["cpu"], 4),
        "simcontainer_wall_s": round(sim["wall"], 4),
        "bare_simpy_wall_s": round(bare["wall"], 4),
        "simcontainer_us_per_instance": round(sim["cpu"] / n * 1e6, 2),
        "bare_simpy_us_per_instance": round(bare["cpu"] / n * 1e6, 2),
        "usage_us_per_instance": round(usage_cpu / n * 1e6, 2),
        "usage_ratio": round(usage_cpu / bare["cpu"], 3),
        "simcontainer_events": sim_out["events"],
        "bare_simpy_events": bare_out["events"],
        "ratio": round(ratio, 3),
        "ratio_wall": round(sim["wall"] / bare["wall"], 3),
        "load_average": round(os.getloadavg()[0], 2),
        "targets": [target("lifecycle: simcontainer / bare simpy (CPU time)", ratio, 1.5, unit="x"),
                    target("lifecycle with a usage model / bare simpy (CPU time)", usage_cpu / bare["cpu"], 3.0,
                           unit="x")],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
