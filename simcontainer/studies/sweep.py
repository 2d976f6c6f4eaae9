"""Batch parameter sweeps: many scenarios x seeds, on a local process pool or a Dask cluster.

    from simcontainer.studies.sweep import load_sweep, run_sweep
    spec = load_sweep("models/sweeps/example.toml")     # every point validated before any run
    res = run_sweep(spec, out="example.out")             # resumable: finished runs are skipped
    res.runs, res.summary                                # the two tables, as DataFrames

Work flows one way: the spec (sweep_design) lists runs with their keys; runs go out in batches
(one task each: a Dask task costs milliseconds, a small run much less); finished batches come
back as ``(key, metrics)`` pairs and the store (sweep_store) rewrites its tables after each one.
A run is ``simulate(scenario, seed)``, exactly what ``simcontainer run --seed`` does.
"""

from __future__ import annotations

import ast
import contextlib
import math
import multiprocessing as mp
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simcontainer.engine.core import simulate
from simcontainer.scenario.errors import ScenarioError, SimcontainerError
from simcontainer.scenario.inputs import ArgumentError
from simcontainer.scenario.schema import Scenario
from simcontainer.studies.sweep_design import Axis, Run, SweepSpec, load_sweep, parse_sweep
from simcontainer.studies.sweep_store import (
    ERROR_COLUMN,
    SUMMARY_STATS,
    Metrics,
    Store,
    flatten_metrics,
    runs_table,
    summary_table,
    t_quantile,
)

Progress = Callable[[int, int], None]
Item = tuple[str, Scenario, int]                # run key, concrete scenario, seed
BatchResult = list[tuple[str, Metrics]]

RETRIES = 2             # a batch whose worker died is sent again this many times
MAX_BATCH = 64          # runs per batch at most: bounds what a crash can lose
SUMMARY_EVERY_S = 2.0   # summary.parquet is derived from runs.parquet; refresh it at most this often
RUNS_COST_SHARE = 0.1   # rewriting runs.parquet takes at most about this share of a sweep's time


# --------------------------------------------------------------------------- the unit of work


def run_batch(items: Sequence[Item]) -> BatchResult:
    """Run a batch (in a worker process or a Dask worker): each run's metrics by its key."""
    out: BatchResult = []
    for key, scenario, seed in items:
        try:
            summary = simulate(scenario, seed).summary
        except Exception as exc:  # one bad point is a failed row, not a failed sweep
            text = str(exc) if isinstance(exc, SimcontainerError) else f"{type(exc).__name__}: {exc}"
            out.append((key, {ERROR_COLUMN: text}))
            continue
        out.append((key, flatten_metrics(summary)))
    return out


def batch_size_for(n_items: int, slots: int) -> int:
    """About four batches per worker slot (load balance), never more than MAX_BATCH runs."""
    return max(1, min(MAX_BATCH, math.ceil(n_items / (max(1, slots) * 4))))


def chunk(items: Sequence[Item], size: int) -> list[list[Item]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- result


@dataclass
class SweepResult:
    """The tables of a sweep, and what this call did to produce them."""

    spec: SweepSpec
    runs: pd.DataFrame          # one row per run (point, replication)
    summary: pd.DataFrame       # one row per point and metric
    out: Path | None            # the folder written, if any
    computed: int               # runs simulated by this call
    reused: int                 # runs found already in the store
    dropped: int                # stored runs that are not part of this sweep (left out)
    wall_s: float
    notes: tuple[str, ...] = ()  # what the store did that the user should hear of

    @property
    def failed(self) -> pd.DataFrame:
        """The runs that failed, with their ``error`` (empty when every run succeeded)."""
        if ERROR_COLUMN not in self.runs.columns:
            return self.runs.iloc[0:0]
        return self.runs[self.runs[ERROR_COLUMN].notna()]

    @property
    def rate(self) -> float:
        return self.computed / self.wall_s if self.wall_s > 0 else math.nan

    def ranked(self, metric: str, ascending: bool = True) -> pd.DataFrame:
        """The points ordered by ``metric``'s mean (see :func:`rank_points`)."""
        return rank_points(self.summary, metric, ascending)


def rank_points(summary: pd.DataFrame, metric: str, ascending: bool = True) -> pd.DataFrame:
    """One row per point of a summary table, best ``metric`` mean first.

    A point whose figure is NaN -- a startup percentile where nothing started in any replication --
    goes last whichever way it is sorted: a ranking by p95 startup must never pick a point where
    nothing ran (and with ``workloads.W.never_started`` beside it, says how much did not).
    """
    # every point, also one with no row for this metric (the summary leaves out n = 0 rows)
    keys = [c for c in summary.columns if c != "metric" and c not in SUMMARY_STATS]
    points = summary.drop_duplicates("point")[keys]
    rows = points.merge(summary.loc[summary["metric"] == metric, ["point", *SUMMARY_STATS]], on="point", how="left")
    rows["n"] = rows["n"].fillna(0).astype("int64")
    rows.insert(len(keys), "metric", metric)
    return rows.sort_values("mean", ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- running


def run_sweep(spec: SweepSpec, out: str | Path | None = None, workers: int | None = None,
              scheduler: Any = None, progress: Progress | None = None,
              batch_size: int | None = None) -> SweepResult:
    """Run every run of ``spec`` not already in ``out`` and return both tables.

    ``workers``: local processes (default: cores; 1 runs in this process). ``scheduler``: a Dask
    scheduler address (``tcp://host:port``) or a ``distributed.Client``; the batches then run on
    that cluster instead. ``progress(done, total)`` is called as runs finish. ``out=None`` keeps
    everything in memory.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ScenarioError([f"--workers: got {workers!r} (allowed: an integer >= 1)"], source="command line")
    if batch_size is not None and batch_size < 1:
        raise ScenarioError([f"batch_size: got {batch_size!r} (allowed: an integer >= 1)"], source="sweep")
    start = time.perf_counter()
    store = Store(out) if out is not None else None
    stored = store.load() if store is not None else {}   # a missing folder: nothing stored yet
    # The same scenario and seed may occur at two points (repeated values): run it once.
    items: dict[str, Item] = {}
    for run in spec.runs():
        items.setdefault(run.key, (run.key, spec.scenarios[run.point], run.seed))
    results = {k: m for k, m in stored.items() if k in items}
    dropped = len(stored) - len(results)
    todo = [it for k, it in items.items() if k not in results]
    total, reused = len(items), len(results)
    # An unreachable cluster fails here, before the output folder exists: nothing left behind.
    client = connect(scheduler) if todo and scheduler is not None else None
    try:
        if store is not None:
            store.prepare()
    except BaseException:
        _close_own(client, scheduler)
        raise

    writer = _Writer(spec, store, results)
    computed = 0

    def on_batch(batch: BatchResult) -> None:
        nonlocal computed
        for key, metrics in batch:
            if key not in results:
                computed += 1
            results[key] = metrics
        writer.batch_done()
        if progress is not None:
            progress(len(results), total)

    if progress is not None:
        progress(len(results), total)
    try:
        if todo:
            if client is not None:
                try:
                    _run_dask(todo, client, batch_size, on_batch)
                finally:
                    _close_own(client, scheduler)
            else:
                n = workers or os.cpu_count() or 1
                _run_local(todo, n, batch_size, on_batch)
    except BaseException:
        # Ctrl-C, dead workers, an error: the finished batches are kept (a failure to write
        # them must not hide why the sweep stopped; a second Ctrl-C still stops it)
        with contextlib.suppress(Exception):
            writer.save()
        raise
    runs, summary = writer.finish()
    return SweepResult(spec, runs, summary, Path(out) if out is not None else None, computed,
                       reused, dropped, time.perf_counter() - start,
                       tuple(store.notes) if store is not None else ())


def sweep(path_or_spec: str | Path | dict[str, Any] | SweepSpec, *, force: bool = False,
          **kw: Any) -> SweepResult:
    """Load (a file, or plain data) if need be, and run: ``sc.sweep("x.toml", out="x.out")``.

    ``force=True`` takes a sweep larger than the size guard allows (see :mod:`simcontainer.engine.guard`).
    """
    if isinstance(path_or_spec, SweepSpec):
        spec = path_or_spec
    elif isinstance(path_or_spec, dict):
        spec = parse_sweep(path_or_spec, force=force)
    elif isinstance(path_or_spec, str | Path):
        spec = load_sweep(path_or_spec, force=force)
    else:

        raise ArgumentError(f"sweep: got {type(path_or_spec).__name__} (allowed: a sweep file path, "
                            "plain data or a SweepSpec)")
    return run_sweep(spec, **kw)


class _Writer:
    """Rewrites runs.parquet as batches finish (what a crash may not lose) and summary.parquet
    now and then (it is derived from runs.parquet, and rebuilt by any rerun).

    runs.parquet is rebuilt whole from the results (``runs_table``), which takes longer as the
    sweep grows (~0.3 s at 6,000 runs of 270 metrics): rewritten after every batch, a sweep of
    ten thousand runs would spend a third of its time on it. So a batch that finishes sooner
    after the last rewrite than ``1 / RUNS_COST_SHARE`` times that rewrite's cost waits for the
    next one (or for :meth:`save` at the end, on Ctrl-C or on an error)."""

    def __init__(self, spec: SweepSpec, store: Store | None, results: dict[str, Metrics]) -> None:
        self.spec, self.store, self.results = spec, store, results
        self.last_summary = -math.inf
        self.summary_cost = 0.0
        self.last_runs = -math.inf
        self.runs_cost = 0.0
        self.unsaved = False        # results that runs.parquet does not hold yet

    def batch_done(self) -> None:
        if self.store is None:
            return
        self.unsaved = True
        if time.perf_counter() - self.last_runs >= self.runs_cost / RUNS_COST_SHARE:
            self.save()

    def save(self) -> None:
        """runs.parquet now (and summary.parquet, unless it was written very recently)."""
        if self.store is None or not self.unsaved:
            return
        now = time.perf_counter()
        runs = runs_table(self.spec, self.results)
        self.store.write_runs(runs, self.spec)
        self.unsaved = False
        self.last_runs = time.perf_counter()
        self.runs_cost = self.last_runs - now
        if now - self.last_summary >= max(SUMMARY_EVERY_S, 10 * self.summary_cost):
            self.store.write_summary(summary_table(self.spec, runs))
            self.last_summary = time.perf_counter()
            self.summary_cost = self.last_summary - self.last_runs

    def finish(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        runs = runs_table(self.spec, self.results)
        summary = summary_table(self.spec, runs)
        if self.store is not None:
            if self.unsaved or self.last_runs == -math.inf:     # (else the last batch wrote it)
                self.store.write_runs(runs, self.spec)
            self.store.write_summary(summary)
        return runs, summary


# --------------------------------------------------------------------------- local pool


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what to do with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_context() -> mp.context.BaseContext:
    # forkserver: workers fork from a clean server that has imported simcontainer once (fast
    # start, no 2 s import per worker) and not from this process, whose threads (Streamlit,
    # Dask) a plain fork could copy mid-lock.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["simcontainer.studies.sweep"])
    return ctx


def unguarded_main_script() -> str | None:
    """The script being run, if it calls things at its top level with no
    ``if __name__ == "__main__":`` guard; None otherwise (a module, a notebook, a guarded script).

    Worker processes import the main script again before they work; unguarded, each import
    starts the sweep anew, and the workers die one after another.
    """

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None \
            or not str(path).endswith(".py"):
        return None       # `python -m pkg`, an interactive session, a notebook: not re-run
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) \
                and "__name__" in ast.unparse(node.test):
            return None
    return str(path)


def _run_local(items: list[Item], workers: int, batch_size: int | None,
               on_batch: Callable[[BatchResult], None]) -> None:
    batches = chunk(items, batch_size or batch_size_for(len(items), workers))
    if workers == 1:
        for b in batches:
            on_batch(run_batch(b))
        return
    script = unguarded_main_script()
    if script is not None:
        raise SimcontainerError(
            f"sweep: {script} calls the sweep at its top level, without `if __name__ == \"__main__\":`; "
            "worker processes import the script again and would each start it anew (allowed: put the "
            "call under that guard, or pass workers=1 to run in this process)")
    pending = dict(enumerate(batches))
    failures = 0
    while pending:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=_pool_context(),
                                   initializer=_ignore_sigint)
        futures: dict[Future[BatchResult], int] = {}
        broken = False
        try:
            futures = {pool.submit(run_batch, b): i for i, b in pending.items()}
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    on_batch(result)
                    del pending[futures[fut]]
                if broken:
                    break
        except BaseException:
            _terminate(pool)
            raise
        finally:
            pool.shutdown(wait=not broken, cancel_futures=True)
        if broken:
            # A worker process died (killed, out of memory): finished batches are kept above;
            # the rest go to a fresh pool, a bounded number of times.
            failures += 1
            if failures > RETRIES:
                raise SimcontainerError(f"sweep: worker processes died {failures} times; "
                                        f"{sum(len(b) for b in pending.values())} runs not done "
                                        "(out of memory? rerun to continue from the store, with "
                                        "fewer --workers)")


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (Ctrl-C, an error): their batches are lost, as promised, not waited for."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # no public API for this
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()


# --------------------------------------------------------------------------- Dask


CONNECT_TIMEOUT_S = 3.0   # a scheduler answers in milliseconds; an address that does not is a mistake


def connect(scheduler: Any) -> Any:
    """A ``distributed.Client`` on ``scheduler`` (an address, or a Client passed in: used as is).

    An address nothing answers on fails within CONNECT_TIMEOUT_S with a message naming it."""
    from distributed import Client  # noqa: PLC0415 - heavy

    if isinstance(scheduler, Client):
        return scheduler
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ScenarioError([f"--scheduler: got {scheduler!r} (allowed: the address of a running Dask "
                             "scheduler, tcp://HOST:PORT)"], source="command line")
    try:
        _probe_tcp(scheduler)   # refused or unrouted: known at once, with no Client to tear down
        return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S:g}s", set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError, or a reply that is not Dask's
        why = str(exc).split("\n")[0][:160] or type(exc).__name__
        raise ScenarioError([f"--scheduler: cannot reach {scheduler!r} within {CONNECT_TIMEOUT_S:g} s: {why} "
                             "(allowed: the address of a running Dask scheduler, tcp://HOST:PORT; "
                             "docs/guides/dask-cluster.md says how to start one)"],
                            source="command line") from None


def _probe_tcp(address: str) -> None:
    """Open and close a TCP connection to a ``tcp://`` (or bare ``HOST:PORT``) address."""
    scheme, sep, rest = address.strip().partition("://")
    if not sep:
        scheme, rest = "tcp", scheme
    if scheme not in ("tcp", "tls"):
        return   # another transport (inproc, ucx): the Client's own timeout bounds it
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host:
        host, port = port, "8786"
    try:
        port_n = int(port)
    except ValueError:
        raise ValueError(f"port {port!r} is not a number") from None
    with socket.create_connection((host.strip("[]"), port_n), timeout=CONNECT_TIMEOUT_S):
        pass


def _close_own(client: Any, scheduler: Any) -> None:
    """Close the client this sweep opened (never one the caller passed in)."""
    if client is not None and client is not scheduler:
        client.close()


def _run_dask(items: list[Item], client: Any, batch_size: int | None,
              on_batch: Callable[[BatchResult], None]) -> None:
    from distributed import as_completed  # noqa: PLC0415 - dask.distributed: only when a scheduler is used

    futures = []
    try:
        slots = sum(client.nthreads().values()) or 1
        batches = chunk(items, batch_size or batch_size_for(len(items), slots))
        # retries: a batch whose worker raised is tried again; one whose worker vanished is
        # rescheduled by the scheduler itself. pure=False: never served from another sweep's cache.
        futures = [client.submit(run_batch, b, pure=False, retries=RETRIES) for b in batches]
        for fut in as_completed(futures, loop=client.loop):  # not the default client: we set none
            on_batch(fut.result())
            fut.release()
    except BaseException:
        if futures:
            client.cancel(futures)
        raise


# --------------------------------------------------------------------------- the output folder






def default_out(sweep_path: str | Path) -> Path:
    p = Path(sweep_path)
    return p.parent / f"{p.stem}.out"


def headline_metrics(spec: SweepSpec, limit: int = 4) -> list[str]:
    """What a sweep's report ranks points by: each workload's p95 startup (lower is better),
    for the base scenario's first ``limit`` workloads."""
    names = [w.name for w in spec.scenarios[0].workloads] if spec.scenarios else []
    return [f"workloads.{n}.startup_s.p95" for n in names[:limit]]


def best_and_worst(res: SweepResult, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """For each headline metric, the point with the lowest mean and the one with the highest
    (with the 95 % interval of each mean), and how many of that workload's requests never
    started there (a point where nothing started has no startup figure: it ranks last)."""
    metrics = list(metrics) if metrics is not None else headline_metrics(res.spec)
    axes = [a.path for a in res.spec.axes]
    rows = []
    for metric in metrics:
        ranked = res.ranked(metric)
        ranked = ranked[ranked["n"] > 0]
        if ranked.empty:
            continue
        never = metric.replace(".startup_s.p95", ".never_started")
        means = res.summary[res.summary["metric"] == never].set_index("point")["mean"]
        first, last = ranked.iloc[0], ranked.iloc[-1]
        picks = [("best", first), ("worst", last)] if last["mean"] > first["mean"] else [("all equal", first)]
        for rank, r in picks:
            rows.append({"metric": metric, "rank": rank, "point": int(r["point"]),
                         **{a: r[a] for a in axes}, "n": int(r["n"]), "mean": float(r["mean"]),
                         "ci95_low": float(r["ci95_low"]), "ci95_high": float(r["ci95_high"]),
                         "never_started": float(means.get(r["point"], math.nan))})
    return pd.DataFrame(rows, columns=["metric", "rank", "point", *axes, "n", "mean", "ci95_low", "ci95_high",
                                       "never_started"])


__all__ = [
    "Axis", "Run", "SweepResult", "SweepSpec", "best_and_worst", "default_out",
    "headline_metrics", "load_sweep",
    "parse_sweep", "rank_points", "run_batch", "run_sweep", "sweep", "t_quantile",
]
