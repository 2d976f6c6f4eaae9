"""``simcontainer rollout SCENARIO [--json] [--seed N]``: run a scenario's ``[cluster]``;
``simcontainer rollout --sizes 100x30,1000x30 [--scheduler ADDR]``: the rollout table.

A CLI plugin: :func:`add_parser` adds the subcommand, :func:`main` runs it (exit 0; bad input:
one clear message, exit 2).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from simcontainer.model.cluster.sim import simulate_cluster
from simcontainer.scenario.errors import ScenarioError, SimcontainerError
from simcontainer.scenario.loading import load_scenario
from simcontainer.studies.cluster_reports import rollout_table, timeline_rows

EPILOG = """\
The scenario's [cluster] section gives node pools (host presets and counts, autoscaler bounds),
Deployments and Jobs (pod templates from [[workloads]]), node failures and the control plane's
settings; every setting left out takes its sourced default from models/cluster.toml.
Pod startup is measured as Kubernetes measures it: from the pod's creation to its Running
status observed through a watch, image pulls included and excluded (the SLO: p99 <= 5 s
excluding pulls). Examples:
  simcontainer rollout models/scenarios/cluster-rollout.toml
  simcontainer rollout --sizes 100x30,1000x30,5000x30 [--scheduler tcp://HOST:PORT]"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "rollout", help="run a scenario's Kubernetes cluster: rollout times, pod startup, what bound it",
        description="Simulate the scenario's [cluster]: API server, scheduler, controllers, kubelets, node "
                    "failures and the cluster autoscaler; report rollout times, pod startup percentiles "
                    "(with and without image pulls), API call latencies, scheduling throughput, what bound "
                    "the rollout and each failed node's timeline.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", help="a scenario TOML file with a [cluster] section")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed (an integer >= 0)")
    p.add_argument("--sizes", default=None, metavar="NxP,...",
                   help="instead of a scenario: the rollout table over cluster sizes, NODESxPODS_PER_NODE "
                        "(e.g. 100x30,1000x30,5000x30), each with the upstream client limits, the "
                        "scalability-test limits and lifted limits")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="with --sizes: run the sizes on this Dask scheduler (tcp://HOST:PORT)")
    p.set_defaults(func=main)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"100x30,1000x30"`` -> [(100, 30), (1000, 30)]; a ValueError names the bad item."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        nodes, sep, per = item.partition("x")
        if not (sep and nodes.isdigit() and per.isdigit() and int(nodes) > 0 and int(per) > 0):
            raise ValueError(f"--sizes: {item!r} is not NODESxPODS_PER_NODE (allowed: positive integers, "
                             "e.g. 100x30,1000x30)")
        out.append((int(nodes), int(per)))
    if not out:
        raise ValueError(f"--sizes: {text!r} holds no size (allowed: e.g. 100x30,1000x30)")
    return out


def table_main(args: argparse.Namespace) -> int:
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        rows = rollout_table(sizes, seed=args.seed or 0, scheduler=args.scheduler)
    except (OSError, TimeoutError) as exc:
        print(f"error: --scheduler: cannot reach {args.scheduler!r}: {exc} (allowed: the address of a running "
              "Dask scheduler, tcp://HOST:PORT)", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    out = [["nodes", "pods/node", "client limits", "rollout", "startup p50", "p99", "p99 w/o pulls", "bound by"]]
    for r in rows:
        out.append([str(r["nodes"]), str(r["pods_per_node"]), r["settings"], _s(r["rollout_s"]),
                    _s(r["startup_p50_s"]), _s(r["startup_p99_s"]), _s(r["startup_excl_pulls_p99_s"]),
                    r["bound_by"] or "-"])
    print(table(out))
    return 0


def main(args: argparse.Namespace) -> int:
    if args.seed is not None and args.seed < 0:
        print(f"error: --seed: {args.seed} is negative (allowed: an integer >= 0)", file=sys.stderr)
        return 2
    if args.sizes is not None:
        if args.scenario is not None:
            print("error: --sizes builds its own clusters: give a SCENARIO or --sizes, not both", file=sys.stderr)
            return 2
        return table_main(args)
    if args.scenario is None:
        print("error: SCENARIO: missing (allowed: a scenario file with a [cluster] section, or --sizes)",
              file=sys.stderr)
        return 2
    if args.scheduler is not None:
        print("error: --scheduler: only with --sizes (one scenario runs here)", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(args.scenario)
        if scenario.cluster is None:
            raise ScenarioError(["cluster: missing (allowed: a scenario with a [cluster] section, e.g. "
                                 "models/scenarios/cluster-rollout.toml)"], source=args.scenario)
        result = simulate_cluster(scenario, seed=args.seed)
    except (ScenarioError, SimcontainerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, default=_plain, indent=1))
    else:
        print(render(result))
    return 0


def _plain(x: Any) -> Any:
    if isinstance(x, set):
        return sorted(x)
    return str(x)


def _s(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.2f} s" if v < 100 else f"{v:,.0f} s"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def render(r: dict[str, Any]) -> str:
    out = [f"{r['nodes']} nodes, {r['pods']} pods created, {r['pods_running']} running at the end"]
    rows = [["deployment", "change", "replicas", "started", "done", "rollout"]]
    for name, d in r["deployments"].items():
        for ro in d["rollouts"]:
            rows.append([name, ro["what"], str(ro["replicas"]), _s(ro["started_s"]), _s(ro["done_s"]),
                         _s(ro["rollout_s"])])
    for name, j in r["jobs"].items():
        rows.append([name, f"job ({j['status']}, {j['failed']} failed)", f"{j['succeeded']}/{j['completions']}",
                     _s(j["started_s"]), _s(j["done_s"]), _s(j["duration_s"])])
    out += ["", table(rows)]
    s, x = r["startup_s"], r["startup_excl_pulls_s"]
    if s:
        out += ["", "pod startup (creation -> Running observed)      p50 {}  p90 {}  p99 {}".format(
            _s(s["p50"]), _s(s["p90"]), _s(s["p99"])),
            "  image pulls excluded (the SLO's scope)         p50 {}  p90 {}  p99 {}  -> SLO p99 <= 5 s {}".format(
                _s(x["p50"]), _s(x["p90"]), _s(x["p99"]), "met" if r["slo"]["met"] else "MISSED")]
    out += ["", f"what bound it: {r['bound_by']}",
            "  mean time per pod: " + ", ".join(f"{k} {_s(v)}" for k, v in r["stages_s"].items())]
    sc = r["scheduler"]
    out += [f"scheduler: {sc['binds']} binds, {sc['mean_pods_s']:.1f} pods/s on average (peak {sc['peak_pods_s']:.0f}/s); "
            f"its costs allow at most {sc['bound_pods_s']:.1f} pods/s ({sc['nodes_scored']} nodes scored per pod)"]
    rows = [["API calls", "calls", "p50", "p99", "throttled"]]
    for k, v in r["api"]["calls"].items():
        rows.append([k, str(v["calls"]), _s(v["p50_s"]), _s(v["p99_s"]), f"{100 * v['throttled_share']:.0f} %"])
    out += ["", table(rows), f"(plus {r['api']['heartbeat_writes']} node-lease renewals)"]
    for line in r["node_failures"]:
        out += ["", f"node {line['node']} ({line['pool']}) failed at {_s(line['failed_s'])} with {line['pods']} pods:"]
        out += [f"  {row['since_failure_s']:+9.1f} s  {row['step']}" for row in timeline_rows(line)]
    a = r["autoscaler"]
    for e in a["scale_ups"]:
        out.append(f"autoscaler: +{e['nodes']} {e['pool']} nodes at {_s(e['t_s'])} ({e['unschedulable_pods']} pods "
                   f"unschedulable), Ready at {_s(e['ready_s'])}")
    for e in a["scale_downs"]:
        out.append(f"autoscaler: node {e['node']} ({e['pool']}) removed at {_s(e['t_s'])}, unneeded since "
                   f"{_s(e['unneeded_since_s'])}")
    out += ["", f"{r['events']:,} events in {r['wall_s']:.2f} s"]
    return "\n".join(out)


__all__ = ["add_parser", "main", "parse_sizes", "render"]
