"""The ``simcontainer`` command. It only calls the library; every input error exits 2, cleanly."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import simcontainer as sc
from simcontainer.engine.guard import check_scenario
from simcontainer.faces._launch.supervise import supervise
from simcontainer.faces.progress import Progress
from simcontainer.scenario.errors import ScenarioError, SimcontainerError
from simcontainer.scenario.outputs import check_writable_file, write_atomic
from simcontainer.scenario.profiles import _read_toml, default_catalogue, models_dir, start_phases
from simcontainer.scenario.schema import API_WORKERS_DEPRECATED
from simcontainer.studies.theory import idle_start

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


# --------------------------------------------------------------------------- output helpers


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A plain fixed-width table (numbers right-aligned)."""
    if not rows:
        return "(nothing)"
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows) for c in columns]

    def line(vals: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(c) for c in cells])


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    return str(v)




def _progress_enabled(args: argparse.Namespace) -> bool:
    if args.progress is not None:
        return bool(args.progress)
    return sys.stderr.isatty()


def _write_atomic(path: Path, writer: Callable[[Path], None]) -> None:
    """outputs.write_atomic, with a write error said as the command's error."""
    try:
        write_atomic(path, writer)
    except OSError as exc:
        raise SimcontainerError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _check_output(path: str | None, flag: str) -> Path | None:
    """An output file, checked before the run: a .parquet path in a folder we can write to."""
    if path is None:
        return None

    return check_writable_file(path, flag, suffix=".parquet")


def _runtimes_arg(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of runtime names")
    return names


def _port_arg(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (allowed: 1-65535)")
    return port


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    scenario = sc.load_scenario(args.scenario)
    events_out = _check_output(args.events, "--events")
    ts_out = _check_output(args.timeseries, "--timeseries")
    progress = Progress(f"run {scenario.name}", enabled=_progress_enabled(args))
    try:
        result = sc.simulate(scenario, args.seed, progress=progress, force=args.force)
    finally:
        progress.close()
    if events_out is not None:
        _write_atomic(events_out, lambda p: result.events.to_parquet(p, index=False))
    if ts_out is not None:
        _write_atomic(ts_out, lambda p: result.timeseries.to_parquet(p, index=False))
    assumed, cost = _assumed(args, scenario, result)
    if args.json:
        print(to_json({**result.summary, "assumptions": assumed}))
    else:
        print(render_summary(result.summary))
        if scenario.actions:
            print(f"\nAPI calls (scripted actions)\n{render_api_calls(scenario, result.recorder.api_calls)}")
        print(f"\n{result.summary['events']:,} events in {result.wall_s:.2f} s wall time")
        print(f"\n{render_assumptions(assumed, cost)}")
    print_warnings(result.summary["warnings"])
    return EXIT_OK


FLIPS = "simcontainer.studies.assumption_flips"     # loaded when a run ends (it imports the engine)


def _assumed(args: argparse.Namespace, scenario: Any, result: Any) -> tuple[list[dict[str, Any]], float | None]:
    """The run's assumptions, each with its ``effect`` measured by a paired rerun when the flips
    are cheap (or ``--flips``; ``--no-flips`` never), and otherwise the compute they would take."""
    items = result.summary["assumptions"]
    if not any(a["flip_to"] is not None for a in items) or args.flips is False:
        return items, None
    cost = float(_handler(FLIPS, "flip_cost_s")(scenario))
    if args.flips is None and cost > _handler(FLIPS, "FLIP_BUDGET_S"):
        return items, cost
    progress = Progress(f"assumptions of {scenario.name}: flipping each", enabled=_progress_enabled(args))
    try:
        return _handler(FLIPS, "flip_effects")(scenario, result.summary, args.seed, progress=progress), None
    finally:
        progress.close()


def _value(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, float):
        return f"{v:,.1f}".removesuffix(".0")
    return str(v)


def _headline(a: dict[str, Any]) -> str:
    """'p50 startup 58.2 -> 2.44 s, started 100 -> 100' (and the peak running, OOM kills and
    failed starts when they moved); for a workload's own setting, that workload's figures (its
    key names it)."""
    own = a.get("workload")
    was, now = (own["as_run"], own["flipped"]) if own else (a["as_run"], a["flipped"])
    out = (f"p50 startup {_fmt(was['startup_p50_s'])} -> {_fmt(now['startup_p50_s'])} s, "
           f"started {was['started']} -> {now['started']}")
    for key, label in (("peak_running", "peak running"), ("oom_kills", "OOM kills"),
                       ("failed_starts", "failed starts")):
        if was.get(key) != now.get(key):        # what moved besides
            out += f", {label} {was.get(key)} -> {now.get(key)}"
    if _pct(was.get("availability")) != _pct(now.get("availability")):     # a workload's own
        out += f", availability {_pct(was['availability'])} -> {_pct(now['availability'])}"
    return out


def render_assumptions(items: list[dict[str, Any]], cost_s: float | None = None) -> str:
    """The ``assumptions`` block: one line per setting the answer rests on, ``key = value
    (default / chosen)``, what it decides, and -- where measured -- the headline as run and with
    that one setting flipped (the same seed and arrivals)."""
    if not items:
        return ""
    lines = ["assumptions (what this answer rests on; flipped: the same run, same seed and arrivals, with only that"
             " setting changed)"]
    for a in items:
        src = a["source"] if a["default"] and a["source"] != "default" else ("default" if a["default"] else "chosen")
        line = f"  {a['key']} = {_value(a['value'])} ({src})"
        effect = a.get("effect")
        if effect:
            line += f" · flipped to {_value(a['flip_to'])}: {_headline(effect)}"
        elif a.get("flip_error"):
            line += f" · flipped to {_value(a['flip_to'])}: not run ({a['flip_error'].splitlines()[-1].strip(' -')})"
        lines.append(f"{line} · {a['why']}")
    if cost_s is not None:
        lines.append(f"  (flips not measured: about {cost_s:,.0f} s of reruns; --flips measures them)")
    return "\n".join(lines)


def to_json(data: Any) -> str:
    """JSON with null for any non-finite number (NaN and Infinity are not JSON)."""
    return json.dumps(_finite(data), indent=2, allow_nan=False)


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def _pct(x: float | None) -> str | None:
    return None if x is None else f"{x:.0%}"


def _censored(c: dict[str, Any]) -> str | None:
    """A mean wait that counts requests still waiting up to the horizon: '>=' when it is a lower bound."""
    if c["mean"] is None:
        return None
    return (">=" if c["censored"] else "") + _fmt(c["mean"])


def render_summary(s: dict[str, Any]) -> str:
    """The run's tables: what happened to the requests, how fast they started, the hosts.

    A "-" is a figure over nothing (no instance got that far), never a zero."""
    rows = []
    for name, w in s["workloads"].items():
        rows.append({
            "workload": name, "runtime": w["runtime"], "requested": w["requested"], "started": w["started"],
            "rejected": w["rejected"], "waiting": w["waiting_at_horizon"], "completed": w["completed"],
            "startup p50 s": w["startup_s"]["p50"], "p95 s": w["startup_s"]["p95"], "p99 s": w["startup_s"]["p99"],
            "waited": _pct(w["wait_s"]["waited_fraction"]), "mean wait s": _censored(w["wait_censored_s"]),
            "CPU got": _pct(w["cpu"]["received_fraction"]),
            "peak running": w["peak_running"], "mean running": w["mean_running"],
            "peak RAM MiB": w.get("peak_ram_mib"),
        })
    phases = [{"workload": n, **w["phases_s"], **{f"pull.{k}": v for k, v in w.get("pull_phases_s", {}).items()}}
              for n, w in s["workloads"].items()]
    h = s["host"]
    host_line = (f"hosts: {h['count']} | peak disk {h['peak_disk_mib']:,.0f} MiB"
                 f" | mean CPU {h['mean_cpu_util']:.1%} (asked {h['mean_cpu_demand']:.1%}, peak asked"
                 f" {h['peak_cpu_demand']:.0%}) | pulled {h['pulled_mib']:,.0f} MiB | peak running {h['peak_running']}")
    host_line += f"\n{render_memory(s)}{_admission_line(s.get('admission'))}"
    return (f"{s['scenario']} (seed {s['seed']}, {s['duration_s']:g} s simulated)\n\n"
            f"{table(rows)}\n(waiting: requests still waiting for room at the horizon; waited: share of the"
            f" admitted that waited; mean wait: of all that queued, those still waiting counted up to the"
            f" horizon; CPU got: CPU the running apps received of what they asked)\n\n"
            f"mean startup phases (s)\n{table(phases)}\n\n{host_line}{render_lifecycle(s)}{_warm(s)}")


def render_memory(s: dict[str, Any]) -> str:
    """RAM said plainly: what admission reserved against what it may promise (the overcommitted
    capacity), what the instances really used against the host's RAM, and the OOM kills."""
    h = s["host"]
    n = h["count"]
    over = f" over {n} hosts" if n > 1 else ""
    ratio = h.get("memory_overcommit", 1.0)
    physical, kept = h.get("physical_ram_mib", h["ram_mib"]), h.get("host_reserved_mib", 0.0)
    usable = physical - kept
    why = []
    if ratio > 1.0:
        why.append(f"{ratio:g}x overcommit of {usable:,.0f}")
    if kept:
        why.append(f"{physical:,.0f} less {kept:,.0f} kept for the host")
    lines = [f"RAM reserved: peak {h['peak_ram_mib']:,.0f} of {h['ram_mib']:,.0f} MiB{over}"
             + (f" ({'; '.join(why)})" if why else "") + f", mean {h['mean_ram_mib']:,.0f} MiB"
             + " · what admission promised the instances"]
    mem = s.get("memory")
    if mem is None:
        lines.append("RAM resident: not modelled · no workload sets usage or mem_limit_mib: each instance "
                     "counts as using what it reserved, and nothing is OOM-killed")
        return "\n".join(lines)
    hosts = mem["hosts"]
    k, top = max(enumerate(hosts), key=lambda kh: kh[1]["peak_used_mib"] / kh[1]["capacity_mib"])
    where = f" on host {k}, the fullest of {n}" if n > 1 else ""
    line = f"RAM resident: peak {top['peak_used_mib']:,.0f} of {top['capacity_mib']:,.0f} MiB{where}"
    line += f", swap peak {top['peak_swapped_mib']:,.0f} of {top['swap_mib']:,.0f} MiB" if top["swap_mib"] else ""
    line += " · physical RAM the instances used, against the host's RAM less what it keeps"
    lines.append(line)
    ws = mem["workloads"].values()
    host_k, cgroup_k = sum(w["host_kills"] for w in ws), sum(w["cgroup_kills"] for w in ws)
    kills = f"OOM kills: {mem['oom_kills']} (host OOM killer {host_k}, over a cgroup limit {cgroup_k}"
    panic = sum(w.get("panic_kills", 0) for w in ws)
    kills += f", by a host panic {panic}" if panic else ""
    kills += f"; evictions {mem['evictions']})" if mem.get("evictions") else ")"
    lines.append(kills)
    return "\n".join(lines)


def _admission_line(a: dict[str, Any] | None) -> str:
    """The admission policy that ran (issue 17), with its preemptions when on."""
    if not a:
        return ""
    out = f"\nadmission: {a['policy']}"
    if a.get("retry"):
        out += f" (retry on {a['retry']})"
    if a.get("preemption"):
        out += f" | preemption: {a['preemptions']} victim(s)"
    return out


def _warm(s: dict[str, Any]) -> str:
    if not any("warm" in w for w in s["workloads"].values()):
        return ""

    return render(s)


def render_lifecycle(s: dict[str, Any]) -> str:
    """Restarts, failures, availability and exits per workload, and each fault's blast radius:
    shown when something of the kind happened (a run of ``docker run --rm`` churn shows none)."""
    rows = []
    for name, w in s["workloads"].items():
        lc = w.get("lifecycle")
        if lc is None:
            continue
        mem = (s.get("memory") or {}).get("workloads", {}).get(name)
        rows.append({"workload": name, "restarts": lc["restarts"], "back-off s": lc["backoff_s"],
                     "availability": _pct(lc["availability"]), "failed starts": lc["failed_starts"],
                     **({"OOM kills": mem["oom_kills"]} if mem is not None else {}),
                     "exited, kept": w.get("exited_kept", 0),
                     "exit codes": " ".join(f"{c}:{n}" for c, n in lc["exit_codes"].items()) or None})
    busy = any(r["restarts"] or r["failed starts"] or r["exited, kept"] or r.get("OOM kills") for r in rows)
    faults = s.get("faults") or []
    out = ""
    if busy or faults:
        out += (f"\n\nlifecycle (availability: time running and ready over the time meant to run; an"
                f" instance that ended failed is down from then on)\n{table(rows)}")
        why = [f"  {name}: {n} x {reason}" for name, w in s["workloads"].items()
               for reason, n in (w.get("lifecycle") or {}).get("failures", {}).items()]
        if why:
            out += "\nfailed starts and restarts, why:\n" + "\n".join(why)
    if faults:
        frows = [{"at s": f["time_s"], "fault": f.get("kind_effective", f["kind"]), "host": f["host"],
                  "lost": f["instances_lost"],
                  "by runtime": " ".join(f"{k}:{v}" for k, v in f["lost"].items()) or None,
                  "running before": f["running_before"], "recovery s": f["recovery_s"],
                  "capacity lost inst-s": f["capacity_lost_instance_s"],
                  "requests failed": f.get("requests_failed")} for f in faults]
        out += f"\n\nfaults (recovery: back to the running count before the fault; - = not by the horizon)\n{table(frows)}"
    return out


# What each answer code of a scripted API call means (Docker's API codes).
API_STATUS = {200: "done", 304: "nothing to do (already started, or already stopped)", 404: "no such instance (not requested yet, or already removed)",
              409: "refused: not allowed in the instance's state"}


def render_api_calls(scenario: Any, calls: list[dict[str, Any]]) -> str:
    """One row per scripted API call: when, what, on which instance, and the answer."""
    acts = sorted(scenario.actions, key=lambda a: a.at_s)   # the order the engine makes the calls
    rows = []
    for k, c in enumerate(calls):
        a = acts[k] if len(calls) <= len(acts) else None
        rows.append({"at s": c["time_s"], "op": c["op"],
                     "target": f"{a.workload}[{a.instance}]" if a is not None else f"instance {c['instance']}",
                     "status": c["status"], "state then": c["state"],
                     "answer": API_STATUS.get(c["status"], "")})
    errors = sum(not c["ok"] for c in calls)
    return f"{table(rows)}\n{len(calls)} call(s), {errors} error(s)"


def cmd_compare(args: argparse.Namespace) -> int:
    scenario = sc.load_scenario(args.scenario)
    progress = Progress(f"compare {scenario.name}", enabled=_progress_enabled(args))
    try:
        results = sc.compare(scenario, args.runtimes, args.seed, progress=progress, force=args.force)
    finally:
        progress.close()
    print(to_json(results) if args.json else render_compare(results))
    print_warnings([f"{rt}: {w}" for rt, s in results.items() for w in s.get("warnings", [])])
    return EXIT_OK


def render_compare(results: dict[str, dict[str, Any]]) -> str:
    """Per runtime and workload: what started, how fast, and where the startup time went."""
    rows, phases, notes = [], [], []
    for rt, s in results.items():
        if s.get("skipped"):
            notes.append(f"{rt}: skipped: {s['reason']}")
            continue
        for name, w in s["workloads"].items():
            rows.append({"runtime": rt, "workload": name, "requested": w["requested"], "started": w["started"],
                         "rejected": w["rejected"], "waiting": w["waiting_at_horizon"],
                         "startup p50 s": w["startup_s"]["p50"], "p95 s": w["startup_s"]["p95"],
                         "peak running": w["peak_running"], "peak RAM MiB": w.get("peak_ram_mib")})
            phases.append({"runtime": rt, "workload": name, **w["phases_s"],
                           "pulled MiB": w["pull"]["pulled_mib"], "VM disk copy MiB": w["vm_disk_copy_mib"]})
        if s["skipped_workloads"]:
            notes.append(f"{rt}: left out {', '.join(s['skipped_workloads'])} "
                         "(VM disk images a container runtime cannot run)")
    out = table(rows)
    if phases:
        out += (f"\n\nmean startup phases (s): where each runtime's startup goes (create includes the"
                f" VM disk copy)\n{table(phases)}")
    return out + "".join(f"\n\n{n}" for n in notes)


def cmd_density(args: argparse.Namespace) -> int:
    scenario = sc.load_scenario(args.scenario)
    d = sc.density(scenario, args.runtimes or [])
    if args.json:
        print(json.dumps(d, indent=2))
        return EXIT_OK
    rows = []
    for wname, per in d.items():
        for rt, r in per.items():
            if r.get("error"):
                rows.append({"workload": wname, "runtime": rt, "fits": None, "binding": r["error"]})
                continue
            rows.append({"workload": wname, "runtime": rt, "fits": r["fits"], "binding": r["binding"],
                         "RAM/inst MiB": r["per_instance"]["ram_mib"], "disk/inst MiB": r["per_instance"]["disk_mib"],
                         "cpu/inst": r["per_instance"]["cpu"],
                         "RAM overhead": f"{r['overhead_share']['ram']:.1%}"})
    print(table(rows))
    return EXIT_OK


def cmd_profiles(args: argparse.Namespace) -> int:
    cat = sc.default_catalogue()
    if args.json:
        print(json.dumps({n: rt.model_dump(mode="json") for n, rt in sorted(cat.runtimes.items())}, indent=2))
        return EXIT_OK
    rows = []
    for name, rt in sorted(cat.runtimes.items()):
        # request to running on an idle host, the VM image's guest boot included (the fidelity
        # report's own sum)
        idle = idle_start(start_phases(rt, cat))
        rows.append({"runtime": name, "kind": rt.kind, "control plane": rt.control_plane or "direct",
                     "idle start s": idle, "mem overhead MiB": rt.mem_overhead_mib,
                     "cpu factor": rt.cpu_factor, "io factor": rt.io_factor, "stop s": rt.stop.median_s})
    print(table(rows))
    if args.sources:
        for name, rt in [*sorted(cat.runtimes.items()), *sorted(cat.control_planes.items())]:
            print(f"\n{name}:")
            for key, src in rt.sources.items():
                print(f"  {key}: {src}")
    else:
        print("\n(--sources lists the citation behind every figure)")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    s = sc.load_scenario(args.scenario)
    est = check_scenario(s, force=args.force)   # what `run` would refuse (and what cannot fit), `check` refuses
    print(f"ok: {s.name}: {len(s.workloads)} workload(s) on {s.host.count} host(s), {s.duration_s:g} s; "
          f"{est.describe()}")
    if s.daemon.api_workers is not None:     # runs, but not as the user may think: say so here too
        print_warnings([API_WORKERS_DEPRECATED.format(n=s.daemon.api_workers)])
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    return _handler("simcontainer.faces.cli_sweep", "main")(args)


def cmd_fidelity(args: argparse.Namespace) -> int:
    return _handler("simcontainer.studies.fidelity", "cli_fidelity")(args)


def catalogue_images() -> list[dict[str, Any]]:
    """The shipped image catalogue, one row per image: kind, sizes, layers and the base it names."""

    raw = _read_toml(models_dir() / "images.toml").get("images", [])
    bases = {e.get("name"): e.get("base") for e in raw if isinstance(e, dict)}
    rows = []
    for name, img in sorted(default_catalogue().images.items()):
        if img.kind == "vm":
            download, disk, layers = img.download_mib, img.disk_mib, 0
        else:
            download = sum(layer.download_mib for layer in img.layers)
            disk = sum(layer.disk_mib for layer in img.layers)
            layers = len(img.layers)
        rows.append({"image": name, "kind": img.kind, "download MiB": download, "disk MiB": disk,
                     "layers": layers, "base": bases.get(name)})
    return rows


def cmd_images(args: argparse.Namespace) -> int:
    rows = catalogue_images()
    if args.json:
        print(json.dumps([{"name": r["image"], "kind": r["kind"], "download_mib": r["download MiB"],
                           "disk_mib": r["disk MiB"], "layers": r["layers"], "base": r["base"]}
                          for r in rows], indent=2))
        return EXIT_OK
    print(table(rows))
    print("\n(use a name as a workload's image; a scenario may add its own under [[images]])")
    return EXIT_OK


def cmd_hosts(args: argparse.Namespace) -> int:
    hosts = default_catalogue().hosts
    if args.json:
        print(json.dumps(hosts, indent=2))
        return EXIT_OK
    print(table([{"host": name, **fields} for name, fields in hosts.items()]))
    print('\n(use a name as a scenario\'s host = "NAME")')
    return EXIT_OK


def streamlit_command(port: int, address: str | None = None) -> list[str]:
    """The ``streamlit run`` command line of ``simcontainer app``: the packaged app, headless."""
    script = Path(__file__).resolve().parent / "_launch" / "streamlit_app.py"
    argv = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    if address:
        argv += ["--server.address", address]
    return argv


def cmd_app(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("streamlit") is None:
        print("error: the app needs Streamlit, which is not installed here; install the app extra: "
              "pip install 'simcontainer[app]' (or run make app in a clone)", file=sys.stderr)
        return EXIT_ERROR
    env = os.environ.copy()
    query = ""
    if args.scenario:

        token = _handler("simcontainer.studies.planner", "encode_scenario")(sc.load_scenario(args.scenario))
        env["SIMCONTAINER_APP_SCENARIO"] = token
        query = f"?s={token}"
    host = args.address or "localhost"
    print(f"simcontainer app on http://{host}:{args.port}/{query}  (Ctrl-C stops it)", file=sys.stderr)
    # Streamlit runs in a session of its own: the signals meant for the app (Ctrl-C, a service
    # manager's SIGTERM, a closed terminal's SIGHUP) reach it once, through us, and we wait for it
    # to close its port, so that the next start finds the port free.
    proc = subprocess.Popen(streamlit_command(args.port, args.address), env=env, start_new_session=True)
    return supervise(proc)


# --------------------------------------------------------------------------- parser


# Command groups in modules of their own (each with ``add_parser(subparsers)`` and ``main(args)``),
# imported only when their command runs: they load pandas, optuna, an HTTP server... while
# ``check`` and ``run`` must start in a fraction of a second. Listed here so ``--help`` shows them.
PLUGINS: dict[str, tuple[str, str]] = {
    "plan": ("simcontainer.faces.cli_plan", "the planner's reverse questions: hosts needed, OOM risk vs density"),
    "optimize": ("simcontainer.faces.cli_optimize",
                 "find the cheapest set-up that meets SLOs (Optuna; a study kept in --out, resumable)"),
    "sensitivity": ("simcontainer.faces.cli_optimize",
                    "which sweep axes a result figure hangs on (SALib: Sobol or Morris indices)"),
    "rollout": ("simcontainer.faces.cli_rollout",
                "roll out Deployments on a Kubernetes cluster: pod startup, what bound it, node failures"),
    "serve": ("simcontainer.faces.serve.command",
              "serve the Docker Engine API from a simulated host (the docker CLI and docker-py drive it)"),
}


def _command_in(argv: Sequence[str] | None) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    words = list(sys.argv[1:] if argv is None else argv)
    return next((w for w in words if not w.startswith("-")), None)


def _add_plugins(sub: Any, wanted: str | None) -> None:
    if wanted in PLUGINS:       # the command that runs: its module adds its parser(s) in full
        mod = importlib.import_module(PLUGINS[wanted][0])
        mod.add_parser(sub)
        sub.choices[wanted].set_defaults(func=mod.main)
    for name, (_, help_) in PLUGINS.items():
        if name not in sub.choices:     # listed in --help; its options load with it when it runs
            sub.add_parser(name, help=help_, add_help=False)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="simcontainer",
        description="Simulate containers and VMs on a host: how many fit, and how fast they start.",
        epilog="Scenario files are TOML; see models/scenarios/ and the README. Input errors exit with status 2.",
    )
    p.add_argument("--version", action="version", version="simcontainer 0.1.0")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def progress_flags(sp: argparse.ArgumentParser) -> None:
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="show progress on stderr (default: when stderr is a terminal)")
        g.add_argument("--no-progress", dest="progress", action="store_false")

    def force_flag(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--force", action="store_true",
                        help="run (or pass) what the size guard expects not to fit in this machine's memory")

    r = sub.add_parser("run", help="run a scenario and print its summary")
    r.add_argument("scenario", help="scenario TOML file")
    r.add_argument("--json", action="store_true", help="print the result JSON instead of tables")
    r.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    r.add_argument("--events", metavar="OUT.parquet", help="write every lifecycle event to Parquet")
    r.add_argument("--timeseries", metavar="OUT.parquet", help="write the RAM/CPU/disk/running series to Parquet")
    fl = r.add_mutually_exclusive_group()
    fl.add_argument("--flips", dest="flips", action="store_true", default=None,
                    help="rerun once per assumption with it flipped, and show how far the headline moves "
                         "(default: when the reruns are cheap)")
    fl.add_argument("--no-flips", dest="flips", action="store_false", help="never rerun to measure the flips")
    force_flag(r)
    progress_flags(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="rerun a scenario with every workload on each runtime")
    c.add_argument("scenario")
    c.add_argument("--runtimes", type=_runtimes_arg, required=True, metavar="A,B,...",
                   help="comma-separated runtime names, e.g. runc,firecracker,qemu-kvm")
    c.add_argument("--json", action="store_true")
    c.add_argument("--seed", type=int, default=None)
    progress_flags(c)
    force_flag(c)
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("density", help="closed form: how many instances fit per runtime, and what binds")
    d.add_argument("scenario")
    d.add_argument("--runtimes", type=_runtimes_arg, default=None, metavar="A,B,...",
                   help="runtimes to show besides each workload's own, each RUNTIME or RUNTIME@PLANE "
                        "(a plane that can drive it: models/runtimes/*.toml control_planes)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_density)

    s = sub.add_parser("sweep", help="run a parameter sweep (grid, random or Latin hypercube)")
    s.add_argument("sweep", help="sweep TOML file")
    s.add_argument("--out", default=None, help="output folder (default: next to the sweep file, NAME.out/)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=None, help="local worker processes (default: cores)")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    s.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="runs per task (default: about 4 batches per worker, at most 64 runs)")
    force_flag(s)
    progress_flags(s)
    s.set_defaults(func=cmd_sweep)

    pr = sub.add_parser("profiles", help="list runtime profiles with their figures (and sources)")
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--sources", action="store_true", help="print the citation behind every figure")
    pr.set_defaults(func=cmd_profiles)

    ck = sub.add_parser("check", help="validate a scenario file without running it")
    ck.add_argument("scenario")
    force_flag(ck)
    ck.set_defaults(func=cmd_check)

    f = sub.add_parser("fidelity", help="regenerate docs/fidelity.md: the model against published figures")
    f.add_argument("--out", default="docs/fidelity.md")
    f.set_defaults(func=cmd_fidelity)

    a = sub.add_parser("app", help="serve the what-if planner (Streamlit) on http://localhost:PORT",
                       description="Start the app: the what-if planner, on SCENARIO or the default scenario.")
    a.add_argument("scenario", nargs="?", default=None, help="scenario TOML file to open (default: the default scenario)")
    a.add_argument("--port", type=_port_arg, default=8501, help="port to serve on (default: 8501)")
    a.add_argument("--address", default=None, help="address to listen on (default: Streamlit's, every interface)")
    a.set_defaults(func=cmd_app)

    im = sub.add_parser("images", help="list the image catalogue: kind, sizes, layers, base")
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_images)

    ho = sub.add_parser("hosts", help="list the host presets (host = \"NAME\" in a scenario)")
    ho.add_argument("--json", action="store_true")
    ho.set_defaults(func=cmd_hosts)
    _add_plugins(sub, _command_in(argv))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    # The library's deprecation warnings reach a CLI user once, as `warning: ...` lines from the
    # result (or from check), not as Python warnings with a source line.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"simcontainer(\.|$)")
    if getattr(args, "seed", None) is not None and args.seed < 0:
        parser.error(f"--seed: {args.seed} is negative (allowed: an integer >= 0)")
    try:
        return int(args.func(args))
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SimcontainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK



def _handler(module: str, name: str) -> Any:
    """A command's handler, imported when its command runs: ``check`` and ``run`` must not pay
    for pandas, pyarrow and dask at start-up (a registry by name, like git's subcommands; the
    layers test checks every name here lies below the faces)."""
    return getattr(importlib.import_module(module), name)


def render(s: dict[str, Any]) -> str:
    """The CLI's warm-path table (empty when no workload has warm paths)."""

    rows = []
    for name, w in s["workloads"].items():
        wb = w.get("warm")
        if wb is None:
            continue
        ss = wb["startup_s"]
        rows.append({"workload": name, "cold": wb["starts"]["cold"], "warm": wb["starts"]["warm"],
                     "snapshot": wb["starts"]["snapshot"], "cold p50 s": ss["cold"]["p50"],
                     "snapshot p50 s": ss["snapshot"]["p50"], "restore s": w["phases_s"].get("restore"),
                     "fault CPU s": wb["fault_cpu_s"], "idle MiB-s": wb["idle_mib_s"],
                     "idle mean MiB": wb["idle_mean_mib"]})
    if not rows:
        return ""
    return ("\n\nwarm paths (starts by kind; idle: RAM held by idle warm instances)\n" + table(rows))


if __name__ == "__main__":
    sys.exit(main())
