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
from simcontainer.faces.progress import Progress, progress_flags
from simcontainer.faces.text import (
    render_api_calls,
    render_assumptions,
    render_compare,
    render_summary,
    table,
    to_json,
)
from simcontainer.scenario.errors import ScenarioError, SimcontainerError
from simcontainer.scenario.outputs import check_writable_file, write_atomic
from simcontainer.scenario.profiles import _read_toml, default_catalogue, models_dir, start_phases
from simcontainer.scenario.schema import API_WORKERS_DEPRECATED
from simcontainer.studies.theory import idle_start

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


# --------------------------------------------------------------------------- output helpers


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


def print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


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


def _force_flag(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--force", action="store_true",
                    help="run (or pass) what the size guard expects not to fit in this machine's memory")


def _simulation_commands(sub: Any) -> None:
    """run, compare, density, sweep: the commands that simulate (or size) a scenario."""
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
    _force_flag(r)
    progress_flags(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="rerun a scenario with every workload on each runtime")
    c.add_argument("scenario")
    c.add_argument("--runtimes", type=_runtimes_arg, required=True, metavar="A,B,...",
                   help="comma-separated runtime names, e.g. runc,firecracker,qemu-kvm")
    c.add_argument("--json", action="store_true")
    c.add_argument("--seed", type=int, default=None)
    progress_flags(c)
    _force_flag(c)
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
    _force_flag(s)
    progress_flags(s)
    s.set_defaults(func=cmd_sweep)


def _other_commands(sub: Any) -> None:
    """profiles, check, fidelity, app, images, hosts."""
    pr = sub.add_parser("profiles", help="list runtime profiles with their figures (and sources)")
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--sources", action="store_true", help="print the citation behind every figure")
    pr.set_defaults(func=cmd_profiles)

    ck = sub.add_parser("check", help="validate a scenario file without running it")
    ck.add_argument("scenario")
    _force_flag(ck)
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


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="simcontainer",
        description="Simulate containers and VMs on a host: how many fit, and how fast they start.",
        epilog="Scenario files are TOML; see models/scenarios/ and the README. Input errors exit with status 2.",
    )
    p.add_argument("--version", action="version", version="simcontainer 0.1.0")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _simulation_commands(sub)
    _other_commands(sub)
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


if __name__ == "__main__":
    sys.exit(main())
