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
from typing import TYPE_CHECKING, Any

import numpy as np

from simcontainer.model.states import ACTIONS, HEALTH_ACTIONS, STATE_LABELS, State

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built: a run without tables never loads it

# Lifecycle timestamps kept per instance (columns of the ``times`` matrix).
MARKS = ("request", "admitted", "pulled", "created", "running", "ready", "stopping", "exited", "removed")
M = {name: k for k, name in enumerate(MARKS)}
# Each startup phase is the span between two lifecycle marks; together they add up to startup_s.
PHASE_SPANS = {"wait": ("request", "admitted"), "pull": ("admitted", "pulled"),
               "create": ("pulled", "created"), "boot": ("created", "running"),
               "ready": ("running", "ready")}
NM = len(MARKS)
_NAN_ROW = array("d", [math.nan] * NM)
ROW_BLOCK = 1024            # per-instance rows are added this many at a time

# cpu: cores allocated (busy); cpu_excess: cores asked by running apps and CPU phases beyond the
# host's cores. Cores asked = busy + excess (resources.FairShare: busy = min(asked, cores)).
SERIES = ("ram", "disk", "cpu", "cpu_excess")
_SERIES_CODE = {name: k for k, name in enumerate(SERIES)}
_COLUMN = {"ram": "ram_mib", "disk": "disk_mib", "cpu": "cpu_busy", "cpu_excess": "cpu_excess"}
# A workload gets a warning when more than this share of its requests never reached running.
NEVER_STARTED_WARN = 0.05
# ... and the run one when running apps received less than this share below the CPU they asked.
CPU_SHORT_WARN = 0.01
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
        # RAM reserved per workload (index), over all hosts, now and at its peak (``hold``)
        self.held_mib: dict[int, float] = {}
        self.peak_held_mib: dict[int, float] = {}
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
        # when each pull that ran had its manifest (resolved) and its last layer bytes: sparse, a
        # cache hit writes nothing (see ImageStore.pull)
        self.pull_iid = array("q")
        self.pull_resolved = array("d")
        self.pull_bytes = array("d")
        self.failures: list[dict[str, Any]] = []     # failed starts: time_s, instance, workload, reason
        # Running spans (Daemon.enter closes them; Daemon.close_spans adds those open at the
        # horizon): instance, start, ready (NaN: not ready in it), end (NaN: open). Running count, CPU asked/received and
        # availability are read from these, however each span ended.
        self.spans_flat = array("d")     # 4 numbers per span (the instance id exact below 2**53)
        # Sparse, for instances whose life was more than one clean run: restarts by policy, time
        # in back-off, and the end of the time it was meant to run (a stop by hand, or the
        # client's deadline when it died otherwise; absent: its last span's end)
        self.restarts: dict[int, int] = {}
        self.backoff_s: dict[int, float] = {}
        self.ends: dict[int, float] = {}
        # per event index an Engine API action other than the state's own, and a die's exit code
        self.ev_action: dict[int, str] = {}
        self.ev_exit: dict[int, int] = {}
        self.last_exit: dict[int, int] = {}    # instance -> its last exit code (the Engine API's State.ExitCode)
        self.faults: list[dict[str, Any]] = []       # simcontainer.model.faults: one row per fault
        # preemption victims (admission "backfill" with preemption): time_s, host, victim,
        # victim_workload, victim_priority, by, by_workload, by_priority
        self.preemptions: list[dict[str, Any]] = []
        # simcontainer.model.memory: one row per OOM kill (time_s, instance, workload, host, kind
        # "cgroup"/"host", resident_mib, reason)
        self.oom_kills: list[dict[str, Any]] = []
        self.memory: Any = None                      # simcontainer.model.memory.Memory when in use
        self.warm: Any = None       # simcontainer.model.warm.Warm when a workload has warm paths
        self.health: Any = None     # simcontainer.model.health.Book when a workload has a health check
        self.n = 0
        self._rows = 0              # per-instance rows allocated (>= n while a run goes on)

    def new_instance(self, workload: int, now: float) -> int:
        iid = self.n
        self.n = iid + 1
        if iid >= self._rows:       # NOTE: rows come in blocks (cut to ``n`` by ``trim``)
            self._grow()
        self.times[iid * NM] = now
        self.workload[iid] = workload
        self.ev_time.append(now)
        self.ev_code.append(iid << _STATE_BITS)
        return iid

    def instances_of(self, workload: int) -> np.ndarray:
        """The ids of a workload's instances, in request order (its k-th instance: ``[k]``)."""
        return np.flatnonzero(np.frombuffer(self.workload, dtype=np.int32)[: self.n] == workload)

    def _grow(self) -> None:
        k = max(ROW_BLOCK, self._rows)
        self.times.extend(_NAN_ROW * k)
        self.workload.extend(array("i", [0]) * k)
        self.host.extend(array("i", [-1]) * k)
        self.final.extend(array("b", [_REQUESTED]) * k)
        self.pulled_mib.extend(array("d", [0.0]) * k)
        self._rows += k

    def trim(self) -> None:
        """Cut the per-instance columns to the instances there are (at the end of a run)."""
        n = self.n
        for col, per in ((self.times, NM), (self.workload, 1), (self.host, 1), (self.final, 1), (self.pulled_mib, 1)):
            del col[n * per:]
        self._rows = n

    def pull_split(self, iid: int, resolved_at: float, bytes_at: float) -> None:
        self.pull_iid.append(iid)
        self.pull_resolved.append(resolved_at)
        self.pull_bytes.append(bytes_at)

    def pull_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Per instance: when its pull had its manifest, and its last layer bytes (NaN: no pull)."""
        res, byt = np.full(self.n, np.nan), np.full(self.n, np.nan)
        if len(self.pull_iid):
            iid = np.frombuffer(self.pull_iid, dtype=np.int64)
            ok = (iid >= 0) & (iid < self.n)
            res[iid[ok]] = np.frombuffer(self.pull_resolved, dtype=np.float64)[ok]
            byt[iid[ok]] = np.frombuffer(self.pull_bytes, dtype=np.float64)[ok]
        return res, byt

    def event(self, iid: int, state: int, now: float) -> None:
        self.ev_time.append(now)
        self.ev_code.append(iid << _STATE_BITS | state)
        self.final[iid] = state

    def hold(self, workload: int, delta: float) -> None:
        """A workload's instances reserved (delta > 0) or gave back RAM, on any host: its own
        reserved RAM and that figure's peak (``held_mib``, ``peak_held_mib``)."""
        v = self.held_mib.get(workload, 0.0) + delta
        self.held_mib[workload] = v
        if v > self.peak_held_mib.get(workload, 0.0):
            self.peak_held_mib[workload] = v

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

    def spans(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The running spans as arrays, by instance (each instance's in time order): instance,
        start, ready, end (NaN: open)."""
        flat = np.array(self.spans_flat, dtype=np.float64).reshape(-1, 4)
        iid = flat[:, 0].astype(np.int64)
        order = np.argsort(iid, kind="stable")
        return iid[order], flat[order, 1], flat[order, 2], flat[order, 3]

    def times_matrix(self) -> np.ndarray:
        return (np.frombuffer(self.times, dtype=np.float64)[: self.n * NM].reshape(-1, NM) if self.n
                else np.empty((0, NM)))


def _stats(x: np.ndarray, keys: tuple[str, ...] = ("mean", "p50", "p95", "p99", "max")) -> dict[str, float | None]:
    """Figures over ``x``; None for each when ``x`` is empty (nothing happened: no figure, not 0)."""
    if x.size == 0:
        return {k: None for k in keys}
    out: dict[str, float | None] = {}
    qs = [k for k in keys if k not in ("mean", "max")]
    at = dict(zip(qs, np.percentile(x, [float(k[1:]) for k in qs]).tolist(), strict=True)) if qs else {}
    for k in keys:      # the percentiles from one partition of ``x``, not one each
        out[k] = float(x.mean()) if k == "mean" else float(x.max()) if k == "max" else at[k]
    return out


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def _share(count: int, of: int) -> float | None:
    return count / of if of else None


def _steps(times: np.ndarray, deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Change points (at least one) -> (times in order, value after each change, whether each
    change is its time's last)."""
    # A run records its changes as simulated time goes on, so they are usually in time order
    # already: then the (stable) sort would change nothing, and skipping it saves three copies
    # of the series (at a million instances, hundreds of MiB at the summary's peak)
    if not bool(np.all(times[1:] >= times[:-1])):
        order = np.argsort(times, kind="stable")
        times, deltas = times[order], deltas[order]
    last = np.empty(times.size, dtype=bool)
    np.not_equal(times[1:], times[:-1], out=last[:-1])
    last[-1] = True
    return times, np.cumsum(deltas), last


def step_series(times: np.ndarray, deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Change points -> (distinct times, value after all changes at that time)."""
    if times.size == 0:
        return np.zeros(0), np.zeros(0)
    t, v, last = _steps(times, deltas)
    return t[last], v[last]


def series_peak(times: np.ndarray, deltas: np.ndarray) -> float:
    """The highest value of ``step_series(times, deltas)`` (0 with no change), without building it."""
    if times.size == 0:
        return 0.0
    _, v, last = _steps(times, deltas)
    return float(v.max(where=last, initial=-math.inf))


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


# --------------------------------------------------------------------------- tables


def events_frame(rec: Recorder, workload_names: list[str]) -> pd.DataFrame:
    import pandas as pd  # noqa: PLC0415 - heavy

    code = np.frombuffer(rec.ev_code, dtype=np.int64) if len(rec.ev_code) else np.zeros(0, np.int64)
    inst = code >> _STATE_BITS
    state = (code & ((1 << _STATE_BITS) - 1)).astype(np.int8)
    wl = np.frombuffer(rec.workload, dtype=np.int32)[: rec.n][inst] if rec.n else np.zeros(0, np.int32)
    host = np.frombuffer(rec.host, dtype=np.int32)[: rec.n][inst] if rec.n else np.zeros(0, np.int32)
    return pd.DataFrame({
        "time_s": np.frombuffer(rec.ev_time, dtype=np.float64) if len(rec.ev_time) else np.zeros(0),
        "instance": inst,
        "workload": pd.Categorical.from_codes(wl, categories=workload_names),
        "host": host,
        "state": pd.Categorical.from_codes(state, categories=STATE_LABELS),
        **_actions(rec, inst, state),
    })


# The Engine API action of the state an event enters ("" for states Docker has no event for).
_ACTION_OF_STATE = np.array([ACTIONS.get(State(k), "") for k in range(len(STATE_LABELS))], dtype=object)


def _previous_state(inst: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Per event, the state the same instance was in before it (-1 for its first event)."""
    prev = np.full(state.size, -1, dtype=np.int16)
    if state.size > 1:
        order = np.lexsort((np.arange(state.size), inst))
        same = inst[order[1:]] == inst[order[:-1]]
        prev[order[1:]] = np.where(same, state[order[:-1]], -1)
    return prev


def exit_codes(rec: Recorder, state: np.ndarray) -> np.ndarray:
    """Per event, the exit code of a die (-1 elsewhere): 0 unless recorded (``Daemon.exit``
    records every other code; an OOM kill's ``oom`` and ``die`` both carry 137)."""
    code = np.full(state.size, -1, dtype=np.int16)
    code[state == State.EXITED] = 0
    for k, c in rec.ev_exit.items():
        code[k] = c
    return code


def _actions(rec: Recorder, inst: np.ndarray, state: np.ndarray) -> dict[str, Any]:
    """The ``action`` column (``docker events``' names: create, start, restart, pause, unpause,
    kill, die, oom, destroy) and ``exit_code`` (of a die; -1 elsewhere). A restart by policy is a
    ``start`` (moby); ``restart`` is the API call's."""
    import pandas as pd  # noqa: PLC0415 - heavy

    action = _ACTION_OF_STATE[state].copy() if state.size else np.zeros(0, dtype=object)
    prev = _previous_state(inst, state)
    exit_code = exit_codes(rec, state)
    action[(state == State.RUNNING) & (prev == State.PAUSED)] = "unpause"
    for k, a in rec.ev_action.items():
        action[k] = a
    return {"action": pd.Categorical(action, categories=sorted(set(ACTIONS.values()) | {"", "restart", "unpause", "start",
                                                                           *HEALTH_ACTIONS})),
            "exit_code": exit_code}


def instances_frame(rec: Recorder, workload_names: list[str]) -> pd.DataFrame:
    import pandas as pd  # noqa: PLC0415 - heavy

    tm = rec.times_matrix()
    df = pd.DataFrame(tm, columns=[f"t_{m}" for m in MARKS])
    df.insert(0, "instance", np.arange(rec.n))
    df.insert(1, "workload", pd.Categorical.from_codes(np.frombuffer(rec.workload, dtype=np.int32)[: rec.n]
                                                       if rec.n else np.zeros(0, np.int32),
                                                       categories=workload_names))
    df.insert(2, "host", np.frombuffer(rec.host, dtype=np.int32)[: rec.n] if rec.n else np.zeros(0, np.int32))
    df["state"] = pd.Categorical.from_codes(np.frombuffer(rec.final, dtype=np.int8)[: rec.n] if rec.n
                                            else np.zeros(0, np.int8), categories=STATE_LABELS)
    df["pulled_mib"] = np.frombuffer(rec.pulled_mib, dtype=np.float64)[: rec.n] if rec.n else np.zeros(0)
    df["startup_s"] = df["t_ready"] - df["t_request"]
    return df


def timeseries_frame(rec: Recorder, horizon: float, cpu_cores: float, by_host: bool = False) -> pd.DataFrame:
    """Step series of RAM, disk, CPU (busy cores, utilisation, cores asked), running, waiting, starting.

    One row per instant at which anything changed (the value holds until the next row).
    """
    import pandas as pd  # noqa: PLC0415 - heavy

    ts_t = np.frombuffer(rec.ts_time, dtype=np.float64) if len(rec.ts_time) else np.zeros(0)
    ts_c = np.frombuffer(rec.ts_code, dtype=np.int32) if len(rec.ts_code) else np.zeros(0, np.int32)
    ts_d = np.frombuffer(rec.ts_delta, dtype=np.float64) if len(rec.ts_delta) else np.zeros(0)
    tm = rec.times_matrix()
    hosts_of = np.frombuffer(rec.host, dtype=np.int32)[: rec.n] if rec.n else np.zeros(0, np.int32)
    sp_iid, sp_start, _, sp_end = rec.spans()
    groups = range(rec.n_hosts) if by_host else [None]
    frames = []
    for h in groups:
        cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for k, sname in enumerate(SERIES):
            sel = (ts_c % len(SERIES) == k) if h is None else (ts_c == h * len(SERIES) + k)
            cols[_COLUMN[sname]] = step_series(ts_t[sel], ts_d[sel])
        mine = np.ones(rec.n, bool) if h is None else hosts_of == h
        t = tm[mine]
        on = np.ones(sp_iid.size, bool) if h is None else hosts_of[sp_iid] == h
        cols["running"] = interval_counts(sp_start[on], sp_end[on], horizon)
        cols["starting"] = interval_counts(t[:, M["admitted"]], _first_not_nan(t[:, M["running"]], t[:, M["removed"]]), horizon)
        if h is None:
            cols["waiting"] = interval_counts(t[:, M["request"]], t[:, M["admitted"]], horizon)
            # a rejected request never waits: its admitted mark stays NaN, so close it at once
            rej = np.isnan(t[:, M["admitted"]]) & (np.frombuffer(rec.final, dtype=np.int8)[: rec.n] == State.REJECTED)
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
        df["cpu_demand"] = df["cpu_busy"] + df.pop("cpu_excess")    # cores asked
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
