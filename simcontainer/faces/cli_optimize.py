"""The ``optimize`` and ``sensitivity`` commands (wired into ``simcontainer`` by ``cli.py``).

    simcontainer optimize OPT.toml [--trials N] [--workers N | --scheduler ADDR] [--out DIR] [--seed S]
    simcontainer sensitivity SWEEP.toml --method sobol|morris [--samples N] [--metric KEY] [--out DIR]

``add_parser(subparsers)`` adds both; ``main(args)`` runs the one parsed and returns the exit
status: 0 done, 1 no configuration met every constraint (optimize), 2 bad input (one line per
problem, naming the field or flag, the value and what is allowed), 130 interrupted (a rerun
continues: finished trials and runs are kept).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from simcontainer.faces.progress import Progress, progress_flags
from simcontainer.scenario.errors import ScenarioError, SimcontainerError
from simcontainer.scenario.outputs import check_writable_folder
from simcontainer.studies.optimize import (
    BEST_FILE,
    JOURNAL,
    PARETO_FILE,
    TRIALS_FILE,
    load_optimize,
    params_of,
    run_optimize,
)
from simcontainer.studies.sensitivity import INDICES_FILE, METHODS, TABLE_FILE, run_sensitivity

EXIT_OK, EXIT_INFEASIBLE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_parser(subparsers: Any) -> None:
    """Add ``optimize`` and ``sensitivity`` to the ``simcontainer`` command's subparsers."""
    o = subparsers.add_parser(
        "optimize", help="find the cheapest set-up that meets SLOs (Optuna; see docs/reference/optimize-files.md)",
        description="Search the knobs of an optimize file for the configurations that minimise its objectives "
                    "(hosts, reserved GiB, cost per hour, any result figure) while every constraint holds on a "
                    "confidence bound over replications. The study is kept in --out: rerun to continue it.")
    o.add_argument("optimize", metavar="OPT.toml", help="optimize file")
    o.add_argument("--trials", type=int, default=None, metavar="N",
                   help="trials to have finished in all (default: the file's trials); more than before continues")
    g = o.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=None, metavar="N", help="local worker processes (default: cores)")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    o.add_argument("--out", default=None, metavar="DIR",
                   help="study folder (default: next to the file, NAME.out/): study.journal, trials.parquet, "
                        "pareto.parquet, best.toml")
    o.add_argument("--seed", type=int, default=None, metavar="S",
                   help="seed of the search (default: the file's seed, else the base scenario's)")
    progress_flags(o)
    o.set_defaults(func=main, opt_command="optimize")

    s = subparsers.add_parser(
        "sensitivity", help="rank a sweep's axes by their effect on a result figure (SALib: Sobol or Morris)",
        description="Global sensitivity of result figures to each axis of a sweep file: Sobol first- and "
                    "total-order indices (Saltelli sampling) or Morris elementary effects, with 95% intervals. "
                    "The design's runs are a sweep of their own, kept in --out (a rerun reuses them).")
    s.add_argument("sweep", metavar="SWEEP.toml", help="sweep file (its base, axes and replications)")
    s.add_argument("--method", required=True, choices=METHODS, help="sobol (variance shares) or morris (screening)")
    s.add_argument("--samples", type=int, default=None, metavar="N",
                   help="Sobol: base samples, a power of 2 (default 64; N x (axes + 2) points); "
                        "Morris: trajectories (default 16; N x (axes + 1) points)")
    s.add_argument("--metric", action="append", default=None, metavar="KEY",
                   help="result figure to rank the axes on, dotted as in runs.parquet (repeatable; default: every "
                        "figure that varies, with each workload's startup_s.p95 in the text table)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=None, metavar="N", help="local worker processes (default: cores)")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    s.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: next to the sweep file, NAME.sobol/ or NAME.morris/)")
    s.add_argument("--seed", type=int, default=None, metavar="S", help="seed of the design (default: the sweep's)")
    s.add_argument("--force", action="store_true",
                   help="run a design larger than the sweep size guard allows (docs/reference/guards.md)")
    progress_flags(s)
    s.set_defaults(func=main, opt_command="sensitivity")


def main(args: argparse.Namespace) -> int:
    """Run the parsed command; input problems are one line each on stderr and exit status 2."""
    command = getattr(args, "opt_command", None) or ("optimize" if hasattr(args, "optimize") else "sensitivity")
    warnings.filterwarnings("ignore", category=FutureWarning)   # Optuna's experimental-feature notes
    try:
        for flag in ("trials", "workers", "samples"):
            v = getattr(args, flag, None)
            if v is not None and v < 1:
                raise ScenarioError([f"--{flag}: got {v} (allowed: an integer >= 1)"], source="command line")
        if getattr(args, "seed", None) is not None and not 0 <= args.seed < 2**63:
            raise ScenarioError([f"--seed: got {args.seed} (allowed: an integer in [0, 2**63))"], source="command line")
        return _optimize(args) if command == "optimize" else _sensitivity(args)
    except ScenarioError as exc:
        for p in exc.problems:
            print(f"simcontainer {command}: {exc.source}: {p}", file=sys.stderr)
        return EXIT_USAGE
    except SimcontainerError as exc:
        print(f"simcontainer {command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _interrupted(command)
    except Exception as exc:
        # a library that fails while Ctrl-C unwinds it (Optuna's journal lock unlinks its file a
        # second time: FileNotFoundError) still means the user interrupted
        if _unwinding_an_interrupt(exc):
            return _interrupted(command)
        raise


def _interrupted(command: str) -> int:
    print(f"interrupted: finished {'trials' if command == 'optimize' else 'runs'} are kept; "
          "rerun the same command to continue", file=sys.stderr)
    return EXIT_INTERRUPTED


def _unwinding_an_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while a KeyboardInterrupt was being handled."""
    seen: set[int] = set()
    ctx = exc.__context__
    while ctx is not None and id(ctx) not in seen:
        if isinstance(ctx, KeyboardInterrupt):
            return True
        seen.add(id(ctx))
        ctx = ctx.__context__
    return False


def _bar(args: argparse.Namespace, label: str, unit: str = "runs") -> Progress:
    show = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    return Progress(label, enabled=show, after_s=0.0, unit=unit)


def _optimize(args: argparse.Namespace) -> int:
    path = Path(args.optimize)
    out = Path(args.out) if args.out else path.parent / f"{path.stem}.out"
    if path.is_file():
        check_writable_folder(out, "--out", create=False)
    spec = load_optimize(path, seed=args.seed)
    bar = _bar(args, f"optimize {path.stem}", unit="trials")
    try:
        res = run_optimize(spec, out=out, trials=args.trials, workers=args.workers, scheduler=args.scheduler,
                           progress=bar.count if bar.enabled else None)
    finally:
        bar.close()
    print(f"{len(res.trials)} trials ({res.computed} run now, {res.reused} already in the study): {res.runs} runs "
          f"of {spec.replications} replications in {res.wall_s:.1f} s ({res.rate:.1f} runs/s)")
    failed = res.trials[res.trials["state"] == "fail"]
    if len(failed):
        print(f"warning: {len(failed)} trials failed (their configuration could not run); first: "
              f"{failed['error'].iloc[0]}", file=sys.stderr)
    if res.best is None:
        print("no configuration met every constraint: widen the knobs' ranges, loosen a constraint, or add trials",
              file=sys.stderr)
        print(f"  {out / TRIALS_FILE}")
        return EXIT_INFEASIBLE
    best = res.pareto.iloc[0]
    knobs = params_of(spec, best)
    print(f"best: trial {res.best_trial}: " + ", ".join(f"{k} = {v!r}" for k, v in knobs.items()))
    for o in spec.objectives:
        print(f"  {o.name} ({o.direction}): {best[f'objective.{o.name}']:.6g}")
    for c in spec.constraints:
        op, limit = ("<=", c.max) if c.max is not None else (">=", c.min)
        print(f"  {c.metric}: mean {best[f'mean.{c.metric}']:.4g}, {spec.confidence:.0%} bound "
              f"{best[f'bound.{c.metric}']:.4g} {op} {limit:g}")
    if len(spec.objectives) > 1:
        print(f"Pareto front: {len(res.pareto)} configurations")
    for name in (BEST_FILE, PARETO_FILE, TRIALS_FILE, JOURNAL):
        print(f"  {out / name}")
    return EXIT_OK


def _sensitivity(args: argparse.Namespace) -> int:
    path = Path(args.sweep)
    out = Path(args.out) if args.out else path.parent / f"{path.stem}.{args.method}"
    if path.is_file():
        check_writable_folder(out, "--out", create=False)
    samples = args.samples or (64 if args.method == "sobol" else 16)
    bar = _bar(args, f"sensitivity {path.stem}")
    try:
        res = run_sensitivity(path, args.method, samples=samples, metrics=args.metric, out=out, seed=args.seed,
                              workers=args.workers, scheduler=args.scheduler,
                              progress=bar.count if bar.enabled else None,
                              force=getattr(args, "force", False))
    finally:
        bar.close()
    sw = res.sweep
    print(f"{len(sw.runs)} runs ({sw.spec.n_points} points x {sw.spec.replications} replications): "
          f"{sw.computed} computed, {sw.reused} already done, in {sw.wall_s:.1f} s")
    text = (out / TABLE_FILE).read_text(encoding="utf-8")
    print(text.rstrip())
    for metric, why in res.skipped.items():
        if args.metric:
            print(f"warning: {metric} not analysed: {why}", file=sys.stderr)
    for name in (INDICES_FILE, TABLE_FILE, "runs.parquet"):
        print(f"  {out / name}")
    return EXIT_OK


__all__ = ["add_parser", "main"]
