"""``simcontainer sweep``: run a sweep, then say what it found and how to open the tables.

Loaded when the command runs (``cli._handler``): pandas, pyarrow and dask stay out of the other
commands' start-up."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from simcontainer.faces.cli import EXIT_OK, _progress_enabled
from simcontainer.faces.progress import Progress
from simcontainer.faces.text import _fmt, table
from simcontainer.scenario.errors import SimcontainerError
from simcontainer.scenario.outputs import check_writable_folder
from simcontainer.studies.sweep import (
    best_and_worst,
    default_out,
    load_sweep,
    run_sweep,
)


def main(args: Any) -> int:
    """Run the sweep, then say what it found (best and worst points) and how to open the tables."""
    if args.workers is not None and args.workers < 1:
        raise SimcontainerError(f"--workers: got {args.workers} (allowed: an integer >= 1)")
    out = Path(args.out) if args.out else default_out(args.sweep)
    try:
        given = Path(args.sweep).is_file()
    except OSError:                  # a name too long for the file system: load_sweep says so
        given = False
    if given:                        # a missing sweep file is load_sweep's to report
        check_writable_folder(out, "--out", create=False)
    spec = load_sweep(args.sweep, force=getattr(args, "force", False))
    bar = Progress(f"sweep {Path(args.sweep).stem}", enabled=_progress_enabled(args), after_s=0.0)
    try:
        res = run_sweep(spec, out=out, workers=args.workers, scheduler=args.scheduler, progress=bar.count,
                        batch_size=getattr(args, "batch_size", None))
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {_stored_runs(out)} of {spec.n_runs} runs finished and are kept in {out}; "
              "run the same command again to resume (finished runs are not run again)", file=sys.stderr)
        return 130
    bar.close()
    where = args.scheduler or f"{args.workers or os.cpu_count()} local worker(s)"
    print(f"{len(res.runs)} runs ({spec.n_points} points x {spec.replications} replications): "
          f"{res.computed} computed on {where}, {res.reused} already done, in {res.wall_s:.1f} s")
    if res.dropped:
        print(f"note: {res.dropped} stored runs from another sweep were left out of the tables")
    for note in res.notes:
        print(f"warning: {note}", file=sys.stderr)
    failed = res.failed
    if len(failed):
        print(f"warning: {len(failed)} of {len(res.runs)} runs failed (the error column of runs.parquet "
              f"says why; a rerun tries them again); first: {failed['error'].iloc[0]}", file=sys.stderr)
    print(render_sweep_report(res, out))
    return EXIT_OK


def _stored_runs(out: Path) -> int:
    """Rows of a sweep's runs.parquet (0 when there is none yet)."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - heavy

    try:
        return int(pq.read_metadata(out / "runs.parquet").num_rows)
    except (OSError, ValueError):
        return 0


def render_sweep_report(res: Any, out: Path) -> str:
    """Best and worst point per workload's p95 startup, each mean with its 95 % interval, and
    the pandas line that opens the tables."""
    bw = best_and_worst(res)
    axes = [a.path for a in res.spec.axes]
    rows = []
    for r in bw.to_dict("records"):
        name = r["metric"].removeprefix("workloads.").replace(".startup_s.p95", "")
        interval = (f"{_fmt(r['ci95_low'])} - {_fmt(r['ci95_high'])}" if r["ci95_low"] == r["ci95_low"]
                    else "(1 replication)")
        rows.append({"p95 startup of": name, "": r["rank"], "point": r["point"], **{a: r[a] for a in axes},
                     "mean s": r["mean"], "95% interval s": interval, "never started": r["never_started"]})
    head = (f"\nbest and worst points by p95 startup (mean over replications; lower is better)\n{table(rows)}"
            if rows else "\n(no workload started at any point: no startup to rank by)")
    metric = bw["metric"].iloc[0] if len(bw) else "host.peak_ram_mib"
    summary = (out / "summary.parquet").as_posix()
    return (f"{head}\n\ntables (one row per run; one per point and metric, with n, mean, std, ci95_low, ci95_high):"
            f"\n  {out / 'runs.parquet'}\n  {out / 'summary.parquet'}\nopen them with pandas, e.g.:\n"
            f"  python -c \"import pandas as pd; s = pd.read_parquet('{summary}'); "
            f"print(s[s.metric == '{metric}'].sort_values('mean').to_string(index=False))\"")
