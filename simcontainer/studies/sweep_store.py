"""The tables a sweep produces, and the folder that keeps them between (interrupted) runs.

``runs.parquet``: one row per run -- ``point``, ``replication``, ``seed``, ``key``, a column per
axis, a column per metric (the numeric leaves of the result JSON, dotted), and ``error`` when
some run failed (its reason; empty for runs that succeeded).
``summary.parquet``: one row per point and metric -- the axis values, ``metric``, ``n``,
``mean``, ``std``, ``ci95_low``, ``ci95_high`` (Student t, 95 %, clipped to the metric's range).

Both are rewritten whole through a temporary file and ``os.replace``, so a reader (or a crash)
sees the previous table or the next one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.outputs import check_writable_folder, write_atomic
from simcontainer.studies.sweep_design import SweepSpec

RUN_COLUMNS = ("point", "replication", "seed", "key")
SUMMARY_STATS = ("n", "mean", "std", "ci95_low", "ci95_high")
RUNS_FILE, SUMMARY_FILE = "runs.parquet", "summary.parquet"
ERROR_COLUMN = "error"   # a failed run: why, in words; its metrics are missing
_META = b"simcontainer.studies.sweep"

Metrics = dict[str, float | int]


# --------------------------------------------------------------------------- metrics


def flatten_metrics(summary: Mapping[str, Any], prefix: str = "") -> Metrics:
    """Numeric leaves of a result summary, keyed by dotted path. Text (names, runtimes) and
    lists (per-host details) are left out: they do not average across replications."""
    out: Metrics = {}
    for k, v in summary.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_metrics(v, name + "."))
        elif isinstance(v, bool):
            continue
        elif v is None:             # a figure over nothing (no instance started): NaN, never 0
            out[name] = math.nan
        elif isinstance(v, int | float | np.integer | np.floating):
            out[name] = v.item() if isinstance(v, np.generic) else v
    if not prefix:
        out.pop("seed", None)  # the run's own `seed` column says it already
    return out


# --------------------------------------------------------------------------- Student t


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (scipy's ``t.ppf``), by bisection on the exact CDF.

    scipy is not a dependency; this is accurate to ~1e-12 and cached per ``df``.
    """
    if not 0.0 < p < 1.0 or df <= 0:
        return math.nan
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    # Upper tail: 2(1-p) = I_x(df/2, 1/2) with x = df/(df+t^2), and I_x grows with x.
    target = 2.0 * (1.0 - p)
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if betainc(df / 2.0, 0.5, mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-17:
            break
    x = 0.5 * (lo + hi)
    return math.sqrt(df * (1.0 - x) / x)


# --------------------------------------------------------------------------- tables


def runs_table(spec: SweepSpec, results: Mapping[str, Metrics]) -> pd.DataFrame:
    """Rows for every run of ``spec`` whose key has a result, sorted by point and replication.

    Built from the results alone (never appended to), so the table is the same whichever
    worker ran what, in whatever order or batch.
    """
    axes = [a.path for a in spec.axes]
    reserved = set(RUN_COLUMNS) | set(axes)
    axis_cells = [{a.path: a.column(pt[a.path]) for a in spec.axes} for pt in spec.points]
    rows = []
    metric_order: dict[str, None] = {}
    for run in spec.runs():
        m = results.get(run.key)
        if m is None:
            continue
        metric_order.update(dict.fromkeys(m))
        rows.append({**m, "point": run.point, "replication": run.replication, "seed": run.seed,
                     "key": run.key, **axis_cells[run.point]})
    # A metric named like an axis is the summary echoing that input (e.g. host.ram_mib): the
    # axis column holds the setting, so the echo is dropped rather than clobbering it.
    metrics = [k for k in metric_order if k not in reserved]
    columns = [*RUN_COLUMNS, *axes, *metrics]
    df = pd.DataFrame.from_records(rows, columns=columns)
    for c in ("point", "replication", "seed"):
        df[c] = df[c].astype("int64")
    return df


def metric_columns(runs: pd.DataFrame, spec: SweepSpec) -> list[str]:
    skip = set(RUN_COLUMNS) | {a.path for a in spec.axes}
    return [c for c in runs.columns if c not in skip]


# Shares of something, by definition within [0, 1] (a "reserved fraction" may pass 1 under
# memory overcommit, so it is not among them).
_SHARE = re.compile(r"(^|\.)fractions\.|(received|throttled|waited)_fraction$|availability$|cache_hit_rate$")


def metric_ranges(values: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The range each metric column can take: from 0 for a quantity no run made negative (a
    count, a time, a size: every figure of a summary), else unbounded; up to 1 for a share."""
    low = pd.Series(np.where((values.min() >= 0) | values.isna().all(), 0.0, -np.inf), index=values.columns)
    high = pd.Series([1.0 if _SHARE.search(c) else np.inf for c in values.columns], index=values.columns)
    return low, high


def mean_interval(values: Any, low: float = 0.0, high: float = math.inf) -> tuple[float, float]:
    """The 95 % Student-t interval of the mean of ``values`` (NaN where fewer than two are finite),
    clipped to ``[low, high]``, the range the metric can take: the one interval the CLI's sweep
    tables and the app's sweep page both give."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    half = t_quantile(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    m = float(x.mean())
    return max(m - half, low), min(m + half, high)


def summary_table(spec: SweepSpec, runs: pd.DataFrame) -> pd.DataFrame:
    """Per point and metric: n, mean, sample std, and the 95 % Student-t interval of the mean
    (NaN bounds when n = 1: one replication says nothing about spread), clipped to the range the
    metric can take (:func:`metric_ranges`): a count's interval never goes below 0."""
    axes = [a.path for a in spec.axes]
    metrics = metric_columns(runs, spec)
    columns = ["point", *axes, "metric", *SUMMARY_STATS]
    if runs.empty or not metrics:
        return pd.DataFrame(columns=columns)
    values = runs[metrics].apply(pd.to_numeric, errors="coerce").astype("float64")
    grouped = values.groupby(runs["point"].to_numpy(), sort=True)
    n = grouped.count()
    mean = grouped.mean()
    std = grouped.std(ddof=1)
    points = n.index.to_numpy()
    long = pd.DataFrame({
        "point": np.repeat(points, len(metrics)),
        "metric": np.tile(np.array(metrics, dtype=object), len(points)),
        "n": n.to_numpy().ravel().astype("int64"),
        "mean": mean.to_numpy().ravel(),
        "std": std.to_numpy().ravel(),
    })
    long = long[long["n"] > 0]
    tq = np.array([t_quantile(0.975, k - 1) if k > 1 else math.nan for k in long["n"]])
    half = tq * long["std"].to_numpy() / np.sqrt(long["n"].to_numpy())
    low, high = metric_ranges(values)
    lo = low.reindex(long["metric"]).to_numpy()
    hi = high.reindex(long["metric"]).to_numpy()
    # the interval never leaves what the metric can be: no count below 0, no share above 1
    long["ci95_low"] = np.maximum(long["mean"].to_numpy() - half, lo)
    long["ci95_high"] = np.minimum(long["mean"].to_numpy() + half, hi)
    design = spec.design
    out = long.merge(design, on="point", how="left")
    return out[columns].reset_index(drop=True)


# --------------------------------------------------------------------------- the folder


class Store:
    """A sweep's output folder. Knows which runs are done; rewrites both tables atomically."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.runs_path = self.folder / RUNS_FILE
        self.summary_path = self.folder / SUMMARY_FILE
        self.notes: list[str] = []   # what the store did that the user should hear of

    def prepare(self) -> None:
        """Create the folder, and make sure this process can write in it (before any run)."""

        check_writable_folder(self.folder, "--out")

    def load(self) -> dict[str, Metrics]:
        """Results already stored, by run key (empty when there is no table yet).

        A ``runs.parquet`` that cannot be read, or that another program wrote, is never
        overwritten: it is renamed ``runs.parquet.unreadable-N`` (or ``.foreign-N``) and a note
        says so. Failed runs (an ``error`` cell) are not results: a rerun tries them again.
        """
        if not self.runs_path.exists():
            return {}
        try:
            table = pq.read_table(self.runs_path)
            meta = json.loads((table.schema.metadata or {}).get(_META, b"null"))
            df = table.to_pandas()
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... on a damaged file
            self._set_aside("unreadable", f"cannot be read ({type(exc).__name__}: {str(exc)[:120]})")
            return {}
        if not isinstance(meta, dict) or "key" not in df.columns:
            self._set_aside("foreign", "was not written by a simcontainer sweep")
            return {}
        metrics = meta.get("metrics")
        if not isinstance(metrics, list):
            metrics = [c for c in df.columns if c not in RUN_COLUMNS and c not in meta.get("axes", [])]
        out: dict[str, Metrics] = {}
        cols = [c for c in metrics if c in df.columns]
        for key, row in zip(df["key"], df[cols].itertuples(index=False, name=None)):
            # a NaN is a figure over nothing (as the run gave it), kept so that a resumed sweep
            # writes the same columns; only an empty error cell means "no error"
            m = {c: _plain(v) for c, v in zip(cols, row) if not (c == ERROR_COLUMN and _missing(v))}
            if ERROR_COLUMN not in m:
                out[str(key)] = {c: math.nan if v is None else v for c, v in m.items()}
        return out

    def _set_aside(self, why: str, what: str) -> None:
        n = 1
        while (aside := self.runs_path.with_name(f"{RUNS_FILE}.{why}-{n}")).exists():
            n += 1
        try:
            os.replace(self.runs_path, aside)
        except OSError as exc:

            raise ScenarioError([f"--out: {str(self.runs_path)!r} {what}, and cannot be moved aside: "
                                 f"{exc.strerror or exc} (allowed: a folder holding a sweep's own tables)"],
                                source="command line") from None
        self.notes.append(f"{self.runs_path} {what}; moved aside to {aside.name} and started afresh")

    def write_runs(self, runs: pd.DataFrame, spec: SweepSpec) -> None:
        meta = {"axes": [a.path for a in spec.axes], "metrics": metric_columns(runs, spec)}
        self._write(runs, self.runs_path, meta)

    def write_summary(self, summary: pd.DataFrame) -> None:
        self._write(summary, self.summary_path, {})

    def _write(self, df: pd.DataFrame, path: Path, meta: dict[str, Any]) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               _META: json.dumps(meta).encode()})
        write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
