"""What a run records, compactly, and the summaries and tables built from it afterwards.

During a run only flat ``array`` columns grow: one row of lifecycle timestamps per instance, two
numbers per lifecycle event, three per resource change (a change-point series of deltas). No
process polls; no DataFrame exists until someone asks for one. Summaries are numpy over those
columns, so a million instances cost tens of bytes each.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from simcontainer.lifecycle import STATE_LABELS, State

# Lifecycle timestamps kept per instance (columns of the ``times`` matrix).
MARKS = ("request", "admitted", "pulled", "created", "running", "ready", "stopping", "exited", "removed")
M = {name: k for k, name in enumerate(MARKS)}
# Each startup phase is the span between two lifecycle marks; together they add up to startup_s.
PHASE_SPANS = {"wait": ("request", "admitted"), "pull": ("admitted", "pulled"),
               "create": ("pulled", "created"), "boot": ("created", "running"),
               "ready": ("running", "ready")}
NM = len(MARKS)
_NAN_ROW = array("d", [math.nan] * NM)

SERIES = ("ram", "disk", "cpu")
_SERIES_CODE = {name: k for k, name in enumerate(SERIES)}
_COLUMN = {"ram": "ram_mib", "disk": "disk_mib", "cpu": "cpu_busy"}
_STATE_BITS = 4  # events pack (instance, state) as instance << 4 | state
STATE_BITS = _STATE_BITS
_REQUESTED = int(State.REQUESTED)   # an Enum attribute look-up is slow on 3.11


class Recorder:
    """Columnar store of everything that happens in one run.

    The columns only ever grow in place (never replaced): the daemon binds ``ev_time.append``,
    ``ev_code.append``, ``final`` and ``times`` once and writes lifecycle events through them.
    """

    def __init__(self, n_hosts: int) -> None:
        self.n_hosts = n_hosts
        self.times = array("d")          # NM timestamps per instance (NaN = not reached)
        self.workload = array("i")
        self.host = array("i")
        self.final = array("b")          # last state reached
        self.pulled_mib = array("d")
        self.ev_time = array("d")
        self.ev_code = array("q")
        self.ts_time = array("d")
        self.ts_code = array("i")        # host * len(SERIES) + series
        self.ts_delta = array("d")
        self.api_calls: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []     # failed starts: time_s, instance, workload, reason
        self.n = 0

    def new_instance(self, workload: int, now: float) -> int:
        iid = self.n
        self.n += 1
        self.times.extend(_NAN_ROW)
        self.times[iid * NM] = now
        self.workload.append(workload)
        self.host.append(-1)
        self.final.append(_REQUESTED)
        self.pulled_mib.append(0.0)
        self.ev_time.append(now)
        self.ev_code.append(iid << _STATE_BITS)
        return iid

    def event(self, iid: int, state: int, now: float) -> None:
        self.ev_time.append(now)
        self.ev_code.append(iid << _STATE_BITS | state)
        self.final[iid] = state

    def series_hook(self, host: int, series: str) -> Callable[[float, float], None]:
        """The callback a resource calls on every change of one host's series: it appends
        ``(now, code, delta)`` to the change-point columns, the code computed once."""
        code = host * len(SERIES) + _SERIES_CODE[series]
        ts_time, ts_code, ts_delta = self.ts_time.append, self.ts_code.append, self.ts_delta.append

        def on_change(now: float, delta: float) -> None:
            ts_time(now)
            ts_code(code)
            ts_delta(delta)

        return on_change

    # ---- views ----------------------------------------------------------------------------

    def times_matrix(self) -> np.ndarray:
        return np.frombuffer(self.times, dtype=np.float64).reshape(-1, NM) if self.n else np.empty((0, NM))


def _stats(x: np.ndarray, keys: tuple[str, ...] = ("mean", "p50", "p95", "p99", "max")) -> dict[str, float]:
    if x.size == 0:
        return {k: 0.0 for k in keys}
    out = {}
    for k in keys:
        if k == "mean":
            out[k] = float(x.mean())
        elif k == "max":
            out[k] = float(x.max())
        else:
            out[k] = float(np.percentile(x, float(k[1:])))
    return out


def step_series(times: np.ndarray, deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Change points -> (distinct times, value after all changes at that time)."""
    if times.size == 0:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(times, kind="stable")
    t = times[order]
    v = np.cumsum(deltas[order])
    last = np.append(t[1:] != t[:-1], True)
    return t[last], v[last]


def time_average(t: np.ndarray, v: np.ndarray, horizon: float) -> float:
    """Mean over [0, horizon] of a step function that is 0 before t[0]."""
    if t.size == 0 or horizon <= 0:
        return 0.0
    t = np.clip(t, 0.0, horizon)
    ends = np.append(t[1:], horizon)
    return float(np.sum(v * (ends - t)) / horizon)


def interval_counts(starts: np.ndarray, ends: np.ndarray, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Step series of how many [start, end) intervals are open; NaN end = still open."""
    ends = np.where(np.isnan(ends), np.inf, ends)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    finite = ends <= horizon
    times = np.concatenate([starts, ends[finite]])
    deltas = np.concatenate([np.ones(starts.size), -np.ones(int(finite.sum()))])
    return step_series(times, deltas)


def summarise(rec: Recorder, *, scenario_name: str, seed: int, horizon: float,
              workload_names: list[str], workload_runtimes: list[str], hosts: list[Any]) -> dict[str, Any]:
    """The result JSON contract of DESIGN.md (plus extra keys)."""
    tm = rec.times_matrix()
    wl = np.frombuffer(rec.workload, dtype=np.int32) if rec.n else np.zeros(0, np.int32)
    final = np.frombuffer(rec.final, dtype=np.int8) if rec.n else np.zeros(0, np.int8)
    pulled = np.frombuffer(rec.pulled_mib, dtype=np.float64) if rec.n else np.zeros(0)
    workloads: dict[str, Any] = {}
    for w, name in enumerate(workload_names):
        sel = wl == w
        t = tm[sel]
        f = final[sel]
        started = ~np.isnan(t[:, M["running"]])
        ready = ~np.isnan(t[:, M["ready"]])
        r = t[ready]
        startup = r[:, M["ready"]] - r[:, M["request"]]
        phases = {p: r[:, M[end]] - r[:, M[start]] for p, (start, end) in PHASE_SPANS.items()}
        wait = phases["wait"]
        run_t, run_v = interval_counts(t[started, M["running"]], t[started, M["stopping"]], horizon)
        in_progress = {STATE_LABELS[s]: int(np.sum(f == s)) for s in np.unique(f)
                       if s not in (State.REMOVED, State.REJECTED)}
        pulled_w = pulled[sel]
        workloads[name] = {
            "runtime": workload_runtimes[w],
            "requested": int(sel.sum()),
            "started": int(started.sum()),
            "rejected": int(np.sum(f == State.REJECTED)),
            "completed": int(np.sum(f == State.REMOVED)),
            "startup_s": _stats(startup),
            "wait_s": {"mean": float(wait.mean()) if wait.size else 0.0,
                       "p95": float(np.percentile(wait, 95)) if wait.size else 0.0,
                       "waited_fraction": float(np.mean(wait > 0)) if wait.size else 0.0},
            "phases_s": {k: float(v.mean()) if v.size else 0.0 for k, v in phases.items()},
            "peak_running": int(run_v.max()) if run_v.size else 0,
            "mean_running": time_average(run_t, run_v, horizon),
            "at_horizon": in_progress,
            # cache hit: the whole image was on the host at admission, so the pull phase took no
            # time; waiting for layers another instance's pull was fetching is a miss (0 MiB
            # downloaded, but not cached). pulls: instances that downloaded anything themselves.
            "pull": {"pulled_mib": float(pulled_w.sum()),
                     "mean_s": float(phases["pull"].mean()) if r.size else 0.0,
                     "p95_s": float(np.percentile(phases["pull"], 95)) if r.size else 0.0,
                     "pulls": int(np.sum(pulled_w > 0)),
                     "cache_hit_rate": float(np.mean(phases["pull"] == 0)) if r.size else 0.0},
        }
    # Cluster totals from the change-point series of every host.
    ts_t = np.frombuffer(rec.ts_time, dtype=np.float64) if len(rec.ts_time) else np.zeros(0)
    ts_c = np.frombuffer(rec.ts_code, dtype=np.int32) if len(rec.ts_code) else np.zeros(0, np.int32)
    ts_d = np.frombuffer(rec.ts_delta, dtype=np.float64) if len(rec.ts_delta) else np.zeros(0)
    series_kind = ts_c % len(SERIES)
    totals = {}
    for k, sname in enumerate(SERIES):
        sel = series_kind == k
        totals[sname] = step_series(ts_t[sel], ts_d[sel])
    totals = {"ram_mib": totals["ram"], "disk_mib": totals["disk"], "cpu_busy": totals["cpu"]}
    started_all = ~np.isnan(tm[:, M["running"]]) if rec.n else np.zeros(0, bool)
    run_t, run_v = interval_counts(tm[started_all, M["running"]], tm[started_all, M["stopping"]], horizon) \
        if rec.n else (np.zeros(0), np.zeros(0))
    cores = sum(h.spec.cpu_cores for h in hosts)
    for h in hosts:
        h.cpu.settle()
    host = {
        "peak_ram_mib": float(totals["ram_mib"][1].max()) if totals["ram_mib"][1].size else 0.0,
        "mean_ram_mib": float(sum(h.ram.mean(horizon) for h in hosts)),
        "peak_disk_mib": float(max(totals["disk_mib"][1].max() if totals["disk_mib"][1].size else 0.0,
                                   sum(h.disk.used for h in hosts))),
        "mean_cpu_util": float(sum(h.cpu.served for h in hosts) / (cores * horizon)) if horizon > 0 else 0.0,
        "pulled_mib": float(sum(h.store.pulled_mib for h in hosts)),
        "peak_running": int(run_v.max()) if run_v.size else 0,
        "count": len(hosts),
        "ram_mib": float(sum(h.ram.capacity for h in hosts)),
        "disk_mib": float(sum(h.disk.capacity for h in hosts)),
        "cpu_cores": float(cores),
        "stored_mib": float(sum(h.store.stored_mib for h in hosts)),
        # image keys (definitions: HostNode.saved_by_sharing_mib, ImageStore), at the horizon
        "idle_image_mib": float(sum(h.store.idle_mib for h in hosts)),
        "saved_by_sharing_mib": float(sum(h.saved_by_sharing_mib() for h in hosts)),
        "gc_runs": int(sum(h.store.gc_runs for h in hosts)),
        "gc_freed_mib": float(sum(h.store.gc_freed_mib for h in hosts)),
    }
    per_host = [
        {"index": h.index, "peak_ram_mib": h.ram.peak, "mean_ram_mib": h.ram.mean(horizon),
         "peak_disk_mib": h.disk.peak, "peak_running": h.peak_running,
         "mean_cpu_util": h.cpu.served / (h.spec.cpu_cores * horizon) if horizon > 0 else 0.0,
         "pulled_mib": h.store.pulled_mib, "layers": h.store.layer_count(),
         "stored_mib": h.store.stored_mib, "idle_image_mib": h.store.idle_mib,
         "saved_by_sharing_mib": h.saved_by_sharing_mib(), "peak_saved_by_sharing_mib": h.peak_saved_mib,
         "gc_runs": h.store.gc_runs, "gc_freed_mib": h.store.gc_freed_mib}
        for h in hosts
    ]
    errors = [c for c in rec.api_calls if not c["ok"]]
    return {
        "scenario": scenario_name,
        "seed": seed,
        "duration_s": horizon,
        "workloads": workloads,
        "host": host,
        "hosts": per_host,
        "api": {"calls": len(rec.api_calls), "errors": len(errors)},
        "events": len(rec.ev_time),
    }


# --------------------------------------------------------------------------- tables


def events_frame(rec: Recorder, workload_names: list[str]) -> pd.DataFrame:
    code = np.frombuffer(rec.ev_code, dtype=np.int64) if len(rec.ev_code) else np.zeros(0, np.int64)
    inst = code >> _STATE_BITS
    state = (code & ((1 << _STATE_BITS) - 1)).astype(np.int8)
    wl = np.frombuffer(rec.workload, dtype=np.int32)[inst] if rec.n else np.zeros(0, np.int32)
    host = np.frombuffer(rec.host, dtype=np.int32)[inst] if rec.n else np.zeros(0, np.int32)
    return pd.DataFrame({
        "time_s": np.frombuffer(rec.ev_time, dtype=np.float64) if len(rec.ev_time) else np.zeros(0),
        "instance": inst,
        "workload": pd.Categorical.from_codes(wl, categories=workload_names),
        "host": host,
        "state": pd.Categorical.from_codes(state, categories=STATE_LABELS),
    })


def instances_frame(rec: Recorder, workload_names: list[str]) -> pd.DataFrame:
    tm = rec.times_matrix()
    df = pd.DataFrame(tm, columns=[f"t_{m}" for m in MARKS])
    df.insert(0, "instance", np.arange(rec.n))
    df.insert(1, "workload", pd.Categorical.from_codes(np.frombuffer(rec.workload, dtype=np.int32)
                                                       if rec.n else np.zeros(0, np.int32),
                                                       categories=workload_names))
    df.insert(2, "host", np.frombuffer(rec.host, dtype=np.int32) if rec.n else np.zeros(0, np.int32))
    df["state"] = pd.Categorical.from_codes(np.frombuffer(rec.final, dtype=np.int8) if rec.n
                                            else np.zeros(0, np.int8), categories=STATE_LABELS)
    df["pulled_mib"] = np.frombuffer(rec.pulled_mib, dtype=np.float64) if rec.n else np.zeros(0)
    df["startup_s"] = df["t_ready"] - df["t_request"]
    return df


def timeseries_frame(rec: Recorder, horizon: float, cpu_cores: float, by_host: bool = False) -> pd.DataFrame:
    """Step series of RAM, disk, CPU (busy cores and utilisation), running, waiting, starting.

    One row per instant at which anything changed (the value holds until the next row).
    """
    ts_t = np.frombuffer(rec.ts_time, dtype=np.float64) if len(rec.ts_time) else np.zeros(0)
    ts_c = np.frombuffer(rec.ts_code, dtype=np.int32) if len(rec.ts_code) else np.zeros(0, np.int32)
    ts_d = np.frombuffer(rec.ts_delta, dtype=np.float64) if len(rec.ts_delta) else np.zeros(0)
    tm = rec.times_matrix()
    hosts_of = np.frombuffer(rec.host, dtype=np.int32) if rec.n else np.zeros(0, np.int32)
    groups = range(rec.n_hosts) if by_host else [None]
    frames = []
    for h in groups:
        cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for k, sname in enumerate(SERIES):
            sel = (ts_c % len(SERIES) == k) if h is None else (ts_c == h * len(SERIES) + k)
            cols[_COLUMN[sname]] = step_series(ts_t[sel], ts_d[sel])
        mine = np.ones(rec.n, bool) if h is None else hosts_of == h
        t = tm[mine]
        cols["running"] = interval_counts(t[:, M["running"]], t[:, M["stopping"]], horizon)
        cols["starting"] = interval_counts(t[:, M["admitted"]], _first_not_nan(t[:, M["running"]], t[:, M["removed"]]), horizon)
        if h is None:
            cols["waiting"] = interval_counts(t[:, M["request"]], t[:, M["admitted"]], horizon)
            # a rejected request never waits: its admitted mark stays NaN, so close it at once
            rej = np.isnan(t[:, M["admitted"]]) & (np.frombuffer(rec.final, dtype=np.int8) == State.REJECTED)
            if rej.any():
                t2 = t.copy()
                t2[rej, M["admitted"]] = t2[rej, M["request"]]
                cols["waiting"] = interval_counts(t2[:, M["request"]], t2[:, M["admitted"]], horizon)
        grid = np.unique(np.concatenate([np.array([0.0, horizon])] + [c[0] for c in cols.values()]))
        grid = grid[(grid >= 0) & (grid <= horizon)]
        data = {"time_s": grid}
        for name, (ct, cv) in cols.items():
            idx = np.searchsorted(ct, grid, side="right") - 1
            data[name] = np.where(idx >= 0, cv[np.maximum(idx, 0)] if cv.size else 0.0, 0.0)
        df = pd.DataFrame(data)
        df["cpu_util"] = df["cpu_busy"] / (cpu_cores if h is None else cpu_cores / rec.n_hosts)
        if h is not None:
            df.insert(1, "host", h)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for c in ("running", "starting", "waiting"):
        if c in out:
            out[c] = out[c].round().astype(np.int64)
    return out


def _first_not_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(a), b, a)
