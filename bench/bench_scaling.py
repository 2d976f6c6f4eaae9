"""scaling: the default scenario's runtimes at N = 1k, 10k, 100k (and 1M) instances.

The workloads of ``models/scenarios/default.toml`` (runc, Firecracker and QEMU/KVM services and
the runc churn) with their arrivals turned into a steady Poisson stream and finite lifetimes, so
that N instances go through the whole lifecycle at a bounded concurrency: the cost per instance
should not depend on N. Each N runs in a fresh subprocess so that its peak RSS
(``getrusage().ru_maxrss``; tracemalloc is far too slow at 1M) is its own.

N list: ``BENCH_SCALING_N=1000,10000,100000,1000000`` or ``python -m bench scaling --n ...``.
Targets: cost per instance at the largest N within 1.3x of 10k; 1M instances under 2 GiB peak RSS.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench._common import ROOT, env_list, in_child, maxrss_mib, target, timed

DEFAULT_N = [1_000, 10_000, 100_000, 1_000_000]
RATE_PER_S = 0.2        # per workload: about 24 of each alive at once (fits the 64 GiB host)
LIFE_MEAN_S = 120.0


def scenario(n: int):
    """The default scenario, scaled to ``n`` instances in all (n / 4 per workload)."""
    from simcontainer.scenario.loading import load_scenario, parse_scenario

    base = load_scenario(f"{ROOT}/models/scenarios/default.toml")
    data = base.to_dict()
    per = max(1, n // len(data["workloads"]))
    for w in data["workloads"]:
        w["arrival"] = {"kind": "poisson", "rate_per_s": RATE_PER_S}
        w["lifetime"] = {"kind": "exponential", "mean_s": LIFE_MEAN_S}
        w["max_instances"] = per
        w["auto_remove"] = True     # docker run --rm churn: the fast path
    # long enough for every arrival and its lifetime (the Poisson stream is capped by max_instances)
    data["duration_s"] = per / RATE_PER_S * 1.05 + 20 * LIFE_MEAN_S
    data["name"] = f"bench-scaling-{n}"
    return parse_scenario(data, base_dir=base.base_dir, source=data["name"])


def child(n: int) -> dict[str, Any]:
    """One N, measured in this (fresh) process."""
    from simcontainer.engine.core import Engine

    sc = scenario(n)
    rss0 = maxrss_mib()

    def go():
        eng = Engine(sc)
        return eng, eng.run()

    wall, cpu, (eng, res) = timed(go)
    s = res.summary
    requested = sum(w["requested"] for w in s["workloads"].values())
    completed = sum(w["completed"] for w in s["workloads"].values())
    rec = eng.recorder
    rec_bytes = sum(a.itemsize * len(a) for a in (
        rec.times, rec.workload, rec.host, rec.final, rec.pulled_mib, rec.ev_time, rec.ev_code,
        rec.ts_time, rec.ts_code, rec.ts_delta))
    return {
        "n": requested, "completed": completed,
        "cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "run_wall_s": round(res.wall_s, 3),
        "sim_events": next(eng.env._eid), "lifecycle_events": s["events"],
        "us_per_instance": round(cpu / requested * 1e6, 2),
        "peak_rss_mib": round(maxrss_mib(), 1), "rss_before_mib": round(rss0, 1),
        "recorder_bytes_per_instance": round(rec_bytes / requested, 1),
        "peak_running": s["host"]["peak_running"],
    }


def run(ns: list[int] | None = None) -> dict[str, Any]:
    ns = ns or env_list("BENCH_SCALING_N", DEFAULT_N)
    rows = []
    for n in ns:
        rows.append(in_child("bench.bench_scaling", n, "n"))
        if "error" in rows[-1]:
            continue
        print(f"  scaling n={n}: {rows[-1]['cpu_s']} s CPU, {rows[-1]['us_per_instance']} us/instance, "
              f"{rows[-1]['peak_rss_mib']} MiB", file=sys.stderr, flush=True)
    ok = [r for r in rows if "error" not in r]
    by_n = {r["n"]: r for r in ok}
    targets = []
    ref = next((r for r in ok if r["n"] == 10_000), None)
    big = max(ok, key=lambda r: r["n"]) if ok else None
    if ref and big and big["n"] > ref["n"]:
        targets.append(target(f"scaling: CPU per instance, {big['n']:,} vs 10k", big["us_per_instance"]
                              / ref["us_per_instance"], 1.3, unit="x"))
    if 1_000_000 in by_n:
        targets.append(target("scaling: peak RSS at 1M instances", by_n[1_000_000]["peak_rss_mib"], 2048.0,
                              unit="MiB"))
    return {"rows": rows, "targets": targets}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]))))
    else:
        print(json.dumps(run(), indent=2))
