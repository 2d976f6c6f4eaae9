"""``simcontainer plan``: the planner's two reverse questions from the command line.

    simcontainer plan hosts-needed SCENARIO [--runtimes A,B] [--count W=N ...] [--headroom 20%] [--json]
    simcontainer plan oom-risk SCENARIO [--workload W] [--runtimes A,B] [--overcommit X] [--hours H] [--json]

``hosts-needed`` is the app's "Hosts needed" page (closed form, :func:`simcontainer.studies.hosts_needed.hosts_needed`
over :func:`simcontainer.studies.hosts_needed.steady_counts`); ``oom-risk`` is the planner's "OOM risk vs density"
(:func:`density.density_risk`: three densities, each simulated for its OOM kills). The lead wires
this module into ``cli.py``: ``add_parser(subparsers)`` and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from simcontainer.faces.text import table as text_table
from simcontainer.scenario.errors import ScenarioError, SimcontainerError
from simcontainer.scenario.loading import load_scenario
from simcontainer.scenario.profiles import default_catalogue
from simcontainer.scenario.schema import Scenario
from simcontainer.studies.comparison import runtimes_in
from simcontainer.studies.density import density_risk
from simcontainer.studies.hosts_needed import hosts_answer, hosts_needed, steady_counts
from simcontainer.studies.oom_risk import (
    OOM_RISK_MAX_INSTANCE_HOURS,
    oom_risk_counts,
    oom_risk_instance_hours,
)

EXIT_OK, EXIT_USAGE = 0, 2
DEFAULT_OVERCOMMIT = 1.5   # the app's default bet when the scenario sets no memory overcommit


# --------------------------------------------------------------------------- argument types


def _runtimes(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a comma-separated list of runtime names")
    return names


def _headroom(value: str) -> float:
    """``20%`` or ``0.2``: the share of every host kept free."""
    text = value.strip()
    try:
        x = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        x = -1.0
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a headroom (allowed: 0 to 0.95 or 0% to 95%)")
    if x > 0.95:
        raise argparse.ArgumentTypeError(f"{value!r} leaves almost nothing of a host (allowed: up to 95%)")
    return x


def _count(value: str) -> tuple[str, int]:
    name, sep, n = value.partition("=")
    try:
        k = int(n)
    except ValueError:
        k = -1
    if not sep or not name.strip() or k < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not WORKLOAD=N (allowed: a workload name, '=', "
                                         "an integer >= 0)")
    return name.strip(), k


def _positive(what: str, low: float = 0.0) -> Any:
    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            x = float("nan")
        if not x > low or x != x or x == float("inf"):
            raise argparse.ArgumentTypeError(f"{value!r} is not {what} (allowed: a number > {low:g})")
        return x
    return parse


# --------------------------------------------------------------------------- parser


def add_parser(subparsers: Any) -> None:
    """``plan`` with its two subcommands, on the ``simcontainer`` parser's subparsers."""
    p = subparsers.add_parser(
        "plan", help="the planner's reverse questions: hosts needed, OOM risk vs density",
        description="Answer a planner's questions about a scenario without the app: how many hosts "
                    "hold its instances on each runtime, and how dense a host can be packed before "
                    "the OOM killer starts ending instances.")
    sub = p.add_subparsers(dest="plan_command", metavar="QUESTION", required=True)

    h = sub.add_parser(
        "hosts-needed", help="how many hosts of the scenario's kind hold its instances, per runtime",
        description="Closed form (no simulation): each workload's steady instance count (a burst's "
                    "count; rate x mean lifetime for a churning service) packed first-fit onto hosts "
                    "like the scenario's, keeping HEADROOM free of RAM, CPU and disk on every host.",
        epilog="example: simcontainer plan hosts-needed models/scenarios/default.toml "
               "--runtimes runc,firecracker --count api-runc=100 --headroom 20%")
    h.add_argument("scenario", help="scenario TOML file")
    h.add_argument("--runtimes", type=_runtimes, default=None, metavar="A,B,...",
                   help="runtimes to answer for (default: the scenario's own); every workload is moved "
                        "to each (a VM boots a VM disk image)")
    h.add_argument("--count", type=_count, action="append", default=[], metavar="WORKLOAD=N",
                   help="instances of a workload to place (repeatable; default: its steady count)")
    h.add_argument("--headroom", type=_headroom, default=0.2, metavar="SHARE",
                   help="share of every host kept free, 0.2 or 20%% (default: 20%%)")
    h.add_argument("--json", action="store_true", help="print JSON instead of a table")
    h.set_defaults(plan_func=hosts_needed_cmd)

    o = sub.add_parser(
        "oom-risk", help="instances per host at reservation, at p95 use and overcommitted, with OOM kills",
        description="For one workload on each runtime: how many instances one host's RAM takes at "
                    "their reservation, at the PERCENTILE of the memory they actually hold, and at "
                    "reservations x OVERCOMMIT; each count is then simulated on one host for HOURS "
                    "with memory use that moves (restart always), giving its OOM kills.",
        epilog="example: simcontainer plan oom-risk models/scenarios/default.toml --workload api-runc "
               "--runtimes firecracker,qemu-kvm --hours 0.25")
    o.add_argument("scenario", help="scenario TOML file")
    o.add_argument("--workload", default=None, help="the workload (default: the scenario's first)")
    o.add_argument("--runtimes", type=_runtimes, default=None, metavar="A,B,...",
                   help="runtimes besides the workload's own")
    o.add_argument("--overcommit", type=_positive("an overcommit ratio", 1.0), default=None, metavar="X",
                   help=f"memory overcommit ratio, > 1 (default: the scenario's, else {DEFAULT_OVERCOMMIT:g})")
    o.add_argument("--percentile", type=_positive("a percentile"), default=95.0, metavar="P",
                   help="percentile of resident memory for the middle density (default: 95)")
    o.add_argument("--hours", type=_positive("a number of hours"), default=0.25, metavar="H",
                   help="simulated hours per count (default: 0.25)")
    o.add_argument("--no-simulate", dest="simulate", action="store_false",
                   help="counts only (closed form): no OOM-kill simulation")
    o.add_argument("--force", action="store_true",
                   help=f"simulate more than {OOM_RISK_MAX_INSTANCE_HOURS:,.0f} instance-hours")
    o.add_argument("--json", action="store_true", help="print JSON instead of a table")
    o.set_defaults(plan_func=oom_risk_cmd)


def main(args: argparse.Namespace) -> int:
    """Run the chosen question; an input error is one line on stderr and exit status 2."""
    try:
        return int(args.plan_func(args))
    except (ScenarioError, SimcontainerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


# --------------------------------------------------------------------------- hosts-needed


def _check_runtimes(names: list[str] | None, flag: str = "--runtimes") -> None:
    known = default_catalogue().runtimes
    for n in names or []:
        if n not in known:
            raise SimcontainerError(f"{flag}: unknown runtime {n!r} (allowed: {', '.join(sorted(known))})")


def planned_counts(scenario: Scenario, overrides: list[tuple[str, int]]) -> dict[str, int]:
    """Each workload's steady count, with ``--count W=N`` overriding it."""
    counts = steady_counts(scenario)
    for name, n in overrides:
        if name not in counts:
            raise SimcontainerError(f"--count: unknown workload {name!r} (allowed: {', '.join(counts)})")
        counts[name] = n
    if not any(counts.values()):
        raise SimcontainerError("--count: every workload has 0 instances (allowed: at least one above 0)")
    return counts


def hosts_needed_cmd(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    _check_runtimes(args.runtimes)
    runtimes = args.runtimes or runtimes_in(scenario)
    counts = planned_counts(scenario, args.count)
    table = hosts_needed(scenario, counts, runtimes, args.headroom)
    h = scenario.host
    kind = h.preset or f"{h.cpu_cores:g}-core / {h.ram_mib / 1024:g} GiB"
    if args.json:
        rows = [{k: None if v is None or v != v else int(v) if k in ("hosts", "lower_bound") else v
                 for k, v in r.items()} for r in table.to_dict("records")]
        print(json.dumps({"scenario": scenario.name, "host": kind, "headroom": args.headroom,
                          "counts": counts, "runtimes": rows}, indent=2))
        return EXIT_OK
    print(render_hosts(table, counts, kind, h, args.headroom))
    return EXIT_OK


def render_hosts(table: Any, counts: dict[str, int], kind: str, host: Any, headroom: float) -> str:
    rows = []
    for r in table.to_dict("records"):
        fits = r["hosts"] == r["hosts"] and r["hosts"] is not None
        rows.append({"runtime": r["runtime"], "hosts": int(r["hosts"]) if fits else None,
                     "at least": int(r["lower_bound"]) if fits else None, "binds first": r["binding"],
                     "RAM used/host": f"{r['ram_per_host']:.0%}" if fits else None,
                     "CPU used/host": f"{r['cpu_per_host']:.0%}" if fits else None})
    wanted = ", ".join(f"{n} x {w}" for w, n in counts.items() if n)
    return (f"hosts needed: {wanted}\non {kind} hosts ({host.cpu_cores:g} cores, {host.ram_mib / 1024:g} GiB RAM, "
            f"{host.disk_gib:g} GiB disk), {headroom:.0%} kept free on each\n\n{text_table(rows)}\n\n"
            f"{hosts_answer(table, counts, kind, headroom)}\n(closed form: per-instance RAM, CPU and disk "
            "packed first-fit decreasing; 'at least' is total demand / usable room; counts: --count W=N)")


# --------------------------------------------------------------------------- oom-risk


def oom_risk_cmd(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    _check_runtimes(args.runtimes)
    names = [w.name for w in scenario.workloads]
    workload = args.workload or names[0]
    if workload not in names:
        raise SimcontainerError(f"--workload: unknown workload {workload!r} (allowed: {', '.join(names)})")
    overcommit = args.overcommit or scenario.host.memory_overcommit or DEFAULT_OVERCOMMIT
    if overcommit <= 1.0:
        overcommit = DEFAULT_OVERCOMMIT
    own = next(w.runtime for w in scenario.workloads if w.name == workload)
    runtimes = [own, *[r for r in args.runtimes or [] if r != own]]
    if args.simulate and not args.force:
        counts = oom_risk_counts([(scenario, workload, r) for r in runtimes], overcommit=overcommit,
                                 hours=args.hours, percentile=args.percentile)
        cost = oom_risk_instance_hours(counts, args.hours)
        if cost > OOM_RISK_MAX_INSTANCE_HOURS:
            raise SimcontainerError(f"--hours: {args.hours:g} h x the counts = {cost:,.0f} instance-hours to simulate "
                                 f"(allowed: up to {OOM_RISK_MAX_INSTANCE_HOURS:,.0f}; fewer --hours or "
                                 "--runtimes, --no-simulate, or --force)")
    risk = density_risk(scenario, workload, runtimes, percentile=args.percentile, overcommit=overcommit,
                        hours=args.hours, simulate=args.simulate)
    if args.json:
        print(json.dumps({"scenario": scenario.name, "workload": workload, "overcommit": overcommit,
                          "percentile": args.percentile, "hours": args.hours, "runtimes": risk}, indent=2,
                         default=float))
        return EXIT_OK
    print(render_oom(risk, scenario, workload, overcommit, args.percentile, args.hours, args.simulate))
    return EXIT_OK


def render_oom(risk: dict[str, dict[str, Any]], scenario: Scenario, workload: str, overcommit: float,
               percentile: float, hours: float, simulated: bool) -> str:
    levels = (("at_reservation", "at reservation"), (f"at_p{percentile:g}", f"at p{percentile:g} use"),
              (f"at_overcommit_{overcommit:g}", f"at {overcommit:g}x overcommit"))
    rows, notes = [], []
    for rt, row in risk.items():
        if "error" in row:
            notes.append(f"{rt}: left out: {row['error']}")
            continue
        for key, label in levels:
            e = row[key]
            rows.append({"runtime": rt, "density": label, "per host": e["count"],
                         "reserve MiB": row["reservation_mib"] if key == "at_reservation" else None,
                         f"p{percentile:g} MiB": row[f"p{percentile:g}_resident_mib"] if key != "at_reservation"
                         else None,
                         "OOM kills": e.get("oom_kills"), "per 1000 inst-h": e.get("oom_kills_per_1000_h"),
                         "peak used MiB": e.get("peak_used_mib")})
    h = scenario.host
    room = h.ram_mib - h.reserve_mib
    head = (f"OOM risk vs density: {workload} on one {h.preset or 'host'} ({room:,.0f} MiB RAM after the "
            f"{h.reserve_mib:,.0f} MiB reserved)")
    sim = (f"each count simulated for {hours:g} h, memory use moving around the working set, restart always"
           if simulated else "not simulated (--no-simulate): counts only")
    return (f"{head}\n{sim}\n\n{text_table(rows)}"
            + "".join(f"\n{n}" for n in notes)
            + "\n\n(at reservation: working set + runtime overhead, a VM its whole guest RAM; at p-use: the memory "
              "it actually holds; OOM kills: cgroup and host kills, a restart killed again counts again)")




def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"
    return str(v)
