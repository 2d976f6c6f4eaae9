"""What a run records, compactly, and the summaries and tables built from it afterwards.

During a run only flat ``array`` columns grow: one row of lifecycle timestamps per instance, two
numbers per lifecycle event, three per resource change (a change-point series of deltas). No
process polls; no DataFrame exists until someone asks for one. Summaries are numpy over those
columns, so a million instances cost tens of bytes each.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from simcontainer.lifecycle import ACTIONS, STATE_LABELS, State

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
        self.faults: list[dict[str, Any]] = []       # simcontainer.faults: one row per fault
        # preemption victims (admission "backfill" with preemption): time_s, host, victim,
        # victim_workload, victim_priority, by, by_workload, by_priority
        self.preemptions: list[dict[str, Any]] = []
        # simcontainer.memory: one row per OOM kill (time_s, instance, workload, host, kind
        # "cgroup"/"host", resident_mib, reason)
        self.oom_kills: list[dict[str, Any]] = []
        self.memory: Any = None                      # simcontainer.memory.Memory when in use
        self.warm: Any = None       # simcontainer.warm.Warm when a workload has warm paths
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
    for k in keys:
        if k == "mean":
            out[k] = float(x.mean())
        elif k == "max":
            out[k] = float(x.max())
        else:
            out[k] = float(np.percentile(x, float(k[1:])))
    return out


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def _share(count: int, of: int) -> float | None:
    return count / of if of else None


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
              workload_names: list[str], workload_runtimes: list[str], hosts: list[Any],
              demands: Sequence[Any] | None = None) -> dict[str, Any]:
    """The result JSON (README, "Reading a result"): per workload, per host, and warnings.

    A figure over nothing -- a startup percentile when no instance became ready, a mean wait when
    nobody was admitted -- is None (JSON null), never 0. ``demands`` holds each workload's
    ``host.Demand`` (the cores one running instance asks, its private VM disk copy); without them
    the per-workload CPU figures are None.
    """
    tm = rec.times_matrix()
    wl = np.frombuffer(rec.workload, dtype=np.int32) if rec.n else np.zeros(0, np.int32)
    final = np.frombuffer(rec.final, dtype=np.int8) if rec.n else np.zeros(0, np.int8)
    pulled = np.frombuffer(rec.pulled_mib, dtype=np.float64) if rec.n else np.zeros(0)
    for h in hosts:
        h.cpu.settle()
    cpu = [d.cpu for d in demands] if demands is not None else [math.nan] * len(workload_names)
    shares = [d.cpu_share for d in demands] if demands is not None else [1.0] * len(workload_names)
    copy = [d.copy_mib for d in demands] if demands is not None else [None] * len(workload_names)
    split = np.column_stack(rec.pull_columns()) if rec.n else np.zeros((0, 2))
    workloads: dict[str, Any] = {}
    ev_code = np.frombuffer(rec.ev_code, dtype=np.int64) if len(rec.ev_code) else np.zeros(0, np.int64)
    ev_inst = ev_code >> _STATE_BITS
    ev_state = (ev_code & ((1 << _STATE_BITS) - 1)).astype(np.int16)
    ev_exit = exit_codes(rec, ev_state)
    died = ev_exit >= 0
    for k, a in rec.ev_action.items():     # an OOM kill's exit is counted once, at its die
        if a == "oom":
            died[k] = False
    die_wl = wl[ev_inst[died]] if rec.n else np.zeros(0, np.int32)
    die_code = ev_exit[died]
    sp_iid, sp_start, sp_ready, sp_end = rec.spans()
    sp_wl = wl[sp_iid] if sp_iid.size else np.zeros(0, np.int32)
    for w, name in enumerate(workload_names):
        sel = wl == w
        mine = sp_wl == w
        run = (sp_iid[mine], sp_start[mine], sp_ready[mine], sp_end[mine])
        workloads[name] = {"runtime": workload_runtimes[w],
                           **_workload(tm[sel], final[sel], pulled[sel], horizon, split[sel], run),
                           "cpu": _cpu_received(rec, run, cpu[w], hosts, horizon, shares[w]),
                           # MiB each VM writes as its own full disk copy in its create phase
                           "vm_disk_copy_mib": copy[w],
                           "lifecycle": {**_lifecycle(rec, np.flatnonzero(sel), tm[sel], run, die_code[die_wl == w],
                                                      horizon),
                                         "failed_starts": sum(1 for f in rec.failures if f["workload"] == w)}}
    mem = getattr(rec, "memory", None)
    if mem is not None and getattr(mem, "swap_cpu", False):   # swap slows the app's CPU
        mem.flush_cpu()
        for w, name in enumerate(workload_names):
            c = workloads[name]["cpu"]
            if c["asked_core_s"] is not None:
                got = max(0.0, min(c["received_core_s"] + mem.cpu_fix[w], c["asked_core_s"]))
                c["received_core_s"] = got
                c["received_fraction"] = got / c["asked_core_s"] if c["asked_core_s"] else None
                c["swap_lost_core_s"] = mem.swap_lost[w]
    if demands is not None:     # CFS quota / vCPU caps: what the app wanted beyond them
        for w, name in enumerate(workload_names):
            c, over = workloads[name]["cpu"], getattr(demands[w], "throttled", 0.0)
            asked = c["asked_core_s"]
            c["throttled_core_s"] = None if asked is None else (asked * over / cpu[w] if over and cpu[w] else 0.0)
            c["throttled_fraction"] = over / (cpu[w] + over) if cpu[w] + over > 0 else None
    if rec.warm is not None:
        _warm(rec, tm, wl, workload_names, workloads, horizon)
    host, per_host = _hosts(rec, tm, hosts, horizon)
    errors = [c for c in rec.api_calls if not c["ok"]]
    extra = {}
    if rec.memory is not None:
        extra["memory"] = rec.memory.summary(horizon, workload_names)
    return {
        "scenario": scenario_name,
        "seed": seed,
        "duration_s": horizon,
        "warnings": warnings_for(workloads, host, per_host),
        "workloads": workloads,
        "host": host,
        "hosts": per_host,
        "api": {"calls": len(rec.api_calls), "errors": len(errors)},
        "events": len(rec.ev_time),
        **extra,
    }


def _warm(rec: Recorder, tm: np.ndarray, wl: np.ndarray, names: list[str], workloads: dict[str, Any],
          horizon: float) -> None:
    """Warm workloads (simcontainer.warm): their ``warm`` block, and ``phases_s["restore"]``
    (0 for instances that did not restore; taken out of ``boot``, so the phases still add up).
    Null when no instance became ready."""
    restore = rec.warm.restore_column(rec.n)
    for w, name in enumerate(names):
        if w not in rec.warm.state:
            continue
        sel = wl == w
        ids = np.flatnonzero(sel)
        t = tm[sel]
        ready = ~np.isnan(t[:, M["ready"]])
        ph = workloads[name]["phases_s"]
        r = _mean(restore[ids][ready])
        ph["restore"] = r
        if r is not None and ph["boot"] is not None:
            ph["boot"] = max(ph["boot"] - r, 0.0)      # restore is part of the created -> running span
        workloads[name]["warm"] = rec.warm.summary(w, t, ids, horizon)


def _workload(t: np.ndarray, f: np.ndarray, pulled: np.ndarray, horizon: float,
              split: np.ndarray | None = None, run: tuple[np.ndarray, ...] | None = None) -> dict[str, Any]:
    """One workload's counts and figures from its rows of the times matrix and final states
    (``split``: per instance, when its pull had its manifest and its last layer bytes; NaN: none;
    ``run``: its running spans, as ``Recorder.spans``)."""
    request = t[:, M["request"]]
    admitted = ~np.isnan(t[:, M["admitted"]])
    started = ~np.isnan(t[:, M["running"]])
    ready = ~np.isnan(t[:, M["ready"]])
    rejected = f == State.REJECTED
    waiting = ~admitted & ~rejected      # never admitted: still in the queue at the horizon
    starting = admitted & ~started & (f != State.REMOVED) & (f != State.FAILED)
    r = t[ready]
    startup = r[:, M["ready"]] - r[:, M["request"]]
    phases = {p: r[:, M[end]] - r[:, M[start]] for p, (start, end) in PHASE_SPANS.items()}
    # the pull's sub-phases (ImageStore.pull): registry + download + extract = pull, each 0
    # for an instance that pulled nothing
    sp = split[ready] if split is not None else np.full((len(r), 2), np.nan)
    start, end = r[:, M["admitted"]], r[:, M["pulled"]]
    resolved = np.where(np.isnan(sp[:, 0]), start, sp[:, 0])       # no pull: every part is 0
    bytes_in = np.where(np.isnan(sp[:, 1]), start, sp[:, 1])
    pull_phases = {"registry": resolved - start, "download": bytes_in - resolved,
                   "extract": np.where(np.isnan(sp[:, 1]), 0.0, end - bytes_in)}
    wait = t[admitted, M["admitted"]] - request[admitted]
    # Censored at the horizon: a request still waiting counts the wait it has had so far, so the
    # figures are lower bounds of the true waits. Rejected requests never queue: left out.
    queued = admitted | waiting
    wait_c = np.where(admitted, t[:, M["admitted"]], horizon)[queued] - request[queued]
    if run is None:
        run_t, run_v = interval_counts(t[started, M["running"]], t[started, M["stopping"]], horizon)
    else:
        run_t, run_v = interval_counts(run[1], run[3], horizon)
    counts = {"requested": len(t), "started": int(started.sum()), "rejected": int(rejected.sum()),
              "completed": int(np.sum(f == State.REMOVED)),
              # exited and kept (auto_remove = false): their writable layers still on disk
              "exited_kept": int(np.sum(f == State.EXITED)), "waiting_at_horizon": int(waiting.sum()),
              "starting_at_horizon": int(starting.sum()), "never_started": int(len(t) - started.sum())}
    pull = phases["pull"]
    return {
        **counts,
        "fractions": {k: _share(counts[k], len(t))
                      for k in ("started", "rejected", "waiting_at_horizon", "never_started")},
        "startup_s": {"n": int(ready.sum()), **_stats(startup)},
        "wait_s": {"n": int(admitted.sum()), **_stats(wait, ("mean", "p95")), "waited_fraction": _mean(wait > 0)},
        "wait_censored_s": {"n": int(queued.sum()), "censored": int(waiting.sum()), **_stats(wait_c, ("mean", "p95"))},
        # over the requests that pended (not placed on arrival): those admitted after a wait and
        # those still pending at the horizon (their time counted to it: lower bounds)
        "pending_s": {"n": int(np.sum(wait_c > 0)), "censored": int(waiting.sum()),
                      **_stats(wait_c[wait_c > 0], ("mean", "p95", "max"))},
        "phases_s": {k: _mean(v) for k, v in phases.items()},
        # the pull phase split (ImageStore.pull): registry + download + extract = pull; null when
        # no instance reached ready, 0 parts for instances that pulled nothing
        "pull_phases_s": {k: _mean(v) for k, v in pull_phases.items()},
        "peak_running": int(run_v.max()) if run_v.size else 0,
        "mean_running": time_average(run_t, run_v, horizon),
        "at_horizon": {STATE_LABELS[s]: int(np.sum(f == s)) for s in np.unique(f)
                       if s not in (State.REMOVED, State.REJECTED)},
        # cache hit: the whole image was on the host at admission, so the pull phase took no
        # time; waiting for layers another instance's pull was fetching is a miss (0 MiB
        # downloaded, but not cached). pulls: instances that downloaded anything themselves.
        "pull": {"pulled_mib": float(pulled.sum()),
                 "mean_s": _mean(pull),
                 "p95_s": _stats(pull, ("p95",))["p95"],
                 "pulls": int(np.sum(pulled > 0)),
                 "cache_hit_rate": _mean(pull == 0)},
    }


def admission_results(summary: dict[str, Any], rec: Recorder, daemon: Any, priorities: Sequence[int],
                      hosts: Sequence[Any]) -> None:
    """Which admission policy ran (top-level ``admission``), per workload its ``priority`` and
    ``preempted`` count (instances evicted for a higher-priority request), and under admission
    "none" a warning when RAM reserved by started instances passed a host's capacity (and how many
    the memory model's OOM killer killed for it)."""
    names = list(summary["workloads"])
    preempted = [0] * len(names)
    for p in rec.preemptions:
        preempted[p["victim_workload"]] += 1
    for k, name in enumerate(names):
        summary["workloads"][name]["priority"] = priorities[k]
        summary["workloads"][name]["preempted"] = preempted[k]
    over = [(h.index, h.ram.peak, h.ram.capacity) for h in hosts if h.ram.peak > h.ram.capacity * (1 + 1e-9)]
    summary["admission"] = {
        "policy": daemon.admission,
        "preemption": bool(daemon.preemption),
        "preemptions": len(rec.preemptions),
        "victims": [{**p, "victim_workload": names[p["victim_workload"]], "by_workload": names[p["by_workload"]]}
                    for p in rec.preemptions],
        # admission "none": hosts whose reserved RAM passed their capacity, and the peak ratio
        "overcommitted_hosts": len(over),
        "peak_ram_reserved_fraction": max((h.ram.peak / h.ram.capacity for h in hosts), default=None),
    }
    if daemon.admission == "backfill":
        # text, and only where it means something (a None here would read as a missing number)
        summary["admission"]["retry"] = daemon.retry
    if over:
        i, peak, cap = max(over, key=lambda o: o[1] / o[2])
        where = f"host {i}" if len(hosts) > 1 else "the host"
        summary.setdefault("warnings", []).append(
            f"admission \"none\": RAM reserved by started instances peaked at {peak:.0f} MiB on {where}'s "
            f"{cap:.0f} MiB ({peak / cap:.0%}; {len(over)} of {len(hosts)} host(s) over capacity); "
            f"the kernel's OOM killer killed {len(getattr(rec, 'oom_kills', []))} instance(s) "
            "(result memory.oom_kills)")


def _cpu_received(rec: Recorder, run: tuple[np.ndarray, ...], cap: float, hosts: list[Any],
                  horizon: float, share: float = 1.0) -> dict[str, float | None]:
    """Core-seconds a workload's running apps asked of their hosts' fair-share CPU, and got.

    An app asks ``cap`` cores over each of its running spans (however the span ended: a stop, a
    kill, a crash, an OOM kill, a fault; not while paused); what it got is how far its cap
    class's clock moved meanwhile (``FairShare.load_log``): with demand above capacity every app
    gets less than it asks, and nothing else says so.
    """
    if math.isnan(cap):
        return {"asked_core_s": None, "received_core_s": None, "received_fraction": None}
    asked = received = 0.0
    ids, start, _, end = run
    if cap > 0 and ids.size:
        host_of = np.frombuffer(rec.host, dtype=np.int32)[ids]
        end = np.where(np.isnan(end), horizon, end)
        host_of, start, end = _without_pauses(rec.api_calls, ids, host_of, start.copy(), end)
        for h in np.unique(host_of):
            clock = _clock(*hosts[h].cpu.load_log(cap, share), horizon)
            mine = host_of == h
            asked += cap * float(np.sum(end[mine] - start[mine]))
            received += float(np.sum(clock(end[mine]) - clock(start[mine])))
    received = min(received, asked)     # rounding of the clocks must not make it more than asked
    return {"asked_core_s": asked, "received_core_s": received, "received_fraction": received / asked if asked else None}


def _without_pauses(calls: list[dict[str, Any]], ids: np.ndarray, host_of: np.ndarray, start: np.ndarray,
                    end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each instance's running span [start, end) at its accepted pauses: the spans in which
    its CPU load was on (a paused app asks nothing). Pauses come only from scripted actions: rare."""
    toggles: dict[int, list[float]] = {}     # accepted pauses and unpauses alternate
    for c in calls:
        if c["ok"] and c["op"] in ("pause", "unpause"):
            toggles.setdefault(c["instance"], []).append(c["time_s"])
    if not toggles:
        return host_of, start, end
    hs, ss, es = [host_of], [start], [end]
    for k in np.flatnonzero(np.isin(ids, list(toggles))):
        cut = [start[k]]
        for time_s in toggles[int(ids[k])]:
            if start[k] <= time_s < end[k]:     # its own span's pauses (a restart has more spans)
                cut.append(time_s)      # pause closes a span, unpause opens the next
        cut.append(end[k])
        if len(cut) % 2:                # paused at the end: the last span is closed by the pause
            cut.pop()
        spans = np.array(cut).reshape(-1, 2)
        start[k] = end[k] = 0.0         # replaced by its spans
        hs.append(np.full(len(spans), host_of[k]))
        ss.append(spans[:, 0])
        es.append(spans[:, 1])
    return np.concatenate(hs), np.concatenate(ss), np.concatenate(es)


def _clock(log_t: Sequence[float], log_v: Sequence[float], v_now: float, horizon: float
           ) -> Callable[[np.ndarray], np.ndarray]:
    """A load class's clock at given times: each a time a load changed (logged) or the horizon."""
    lt = np.array(log_t, dtype=np.float64)
    lv = np.array(log_v, dtype=np.float64)

    def at(q: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(lt, q, side="right") - 1
        v = lv[np.maximum(idx, 0)] if lv.size else np.zeros(q.size)
        return np.where(q >= horizon, v_now, v)

    return at


def _hosts(rec: Recorder, tm: np.ndarray, hosts: list[Any], horizon: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cluster totals and per-host figures (the hosts' CPU must be settled at the horizon)."""
    ts_t = np.frombuffer(rec.ts_time, dtype=np.float64) if len(rec.ts_time) else np.zeros(0)
    ts_c = np.frombuffer(rec.ts_code, dtype=np.int32) if len(rec.ts_code) else np.zeros(0, np.int32)
    ts_d = np.frombuffer(rec.ts_delta, dtype=np.float64) if len(rec.ts_delta) else np.zeros(0)
    ns = len(SERIES)

    def peak(sel: np.ndarray) -> float:
        v = step_series(ts_t[sel], ts_d[sel])[1]
        return float(v.max()) if v.size else 0.0

    def per_time(x: float, cores: float) -> float:
        return x / (cores * horizon) if horizon > 0 else 0.0

    _, sp_start, _, sp_end = rec.spans()
    run_t, run_v = interval_counts(sp_start, sp_end, horizon)
    cores = sum(h.spec.cpu_cores for h in hosts)
    kind = ts_c % ns
    host = {
        "peak_ram_mib": peak(kind == _SERIES_CODE["ram"]),
        "mean_ram_mib": float(sum(h.ram.mean(horizon) for h in hosts)),
        "peak_disk_mib": max(peak(kind == _SERIES_CODE["disk"]), float(sum(h.disk.used for h in hosts))),
        "mean_cpu_util": per_time(sum(h.cpu.served for h in hosts), cores),
        # cores asked / cores: above 1 when running apps and CPU phases asked for more than there is
        "mean_cpu_demand": per_time(sum(h.cpu.asked_s for h in hosts), cores),
        "peak_cpu_demand": peak((kind == _SERIES_CODE["cpu"]) | (kind == _SERIES_CODE["cpu_excess"])) / cores,
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
        # the registry all hosts share (simcontainer.registry.Distribution.stats); None for a
        # summary of hosts that never pulled through one
        "registry": hosts[0].store.registry.stats() if hosts and hosts[0].store.registry is not None else None,
    }
    per_host = [
        {"index": h.index, "peak_ram_mib": h.ram.peak, "mean_ram_mib": h.ram.mean(horizon),
         "peak_disk_mib": h.disk.peak, "peak_running": h.peak_running,
         "mean_cpu_util": per_time(h.cpu.served, h.spec.cpu_cores),
         "mean_cpu_demand": per_time(h.cpu.asked_s, h.spec.cpu_cores),
         "peak_cpu_demand": peak((ts_c == h.index * ns + _SERIES_CODE["cpu"])
                                 | (ts_c == h.index * ns + _SERIES_CODE["cpu_excess"])) / h.spec.cpu_cores,
         "pulled_mib": h.store.pulled_mib, "layers": h.store.layer_count(),
         "stored_mib": h.store.stored_mib, "idle_image_mib": h.store.idle_mib,
         "saved_by_sharing_mib": h.saved_by_sharing_mib(), "peak_saved_by_sharing_mib": h.peak_saved_mib,
         "gc_runs": h.store.gc_runs, "gc_freed_mib": h.store.gc_freed_mib}
        for h in hosts
    ]
    return host, per_host


def warnings_for(workloads: dict[str, Any], host: dict[str, Any], per_host: list[dict[str, Any]]) -> list[str]:
    """Plain sentences about what a table of means would hide: requests that never started, and
    CPU demand above capacity (apps silently getting less than they asked)."""
    out = []
    for name, w in workloads.items():
        n, never = w["requested"], w["never_started"]
        if n and never / n > NEVER_STARTED_WARN:
            why = [f"{w[k]} {label}" for k, label in (("waiting_at_horizon", "still waiting at the horizon"),
                                                      ("starting_at_horizon", "still starting at the horizon"),
                                                      ("rejected", "rejected")) if w[k]]
            other = never - sum(w[k] for k in ("waiting_at_horizon", "starting_at_horizon", "rejected"))
            if other:
                why.append(f"{other} ended before running")
            out.append(f"{name}: {never} of {n} requests ({never / n:.0%}) never started: {', '.join(why)}")
    # A burst of boots asking more cores than there are is the contention the model is for (the
    # startup figures show it); apps running below what they asked is what nothing else shows.
    asked = sum(w["cpu"]["asked_core_s"] or 0.0 for w in workloads.values())
    got = sum(w["cpu"]["received_core_s"] or 0.0 for w in workloads.values())
    over = [h for h in per_host if h["peak_cpu_demand"] > 1 + 1e-9]
    if over and asked and got < (1 - CPU_SHORT_WARN) * asked:
        where = "" if len(per_host) == 1 else f" on {len(over)} of {len(per_host)} hosts"
        cores = host["cpu_cores"] / len(per_host)
        peak = max(h["peak_cpu_demand"] for h in over) * cores
        out.append(f"CPU demand exceeded capacity{where}: peak {peak:.1f} cores asked on {cores:g} "
                   f"(apps received {got / asked:.0%} of what they asked)")
    return out


# --------------------------------------------------------------------------- tables


def events_frame(rec: Recorder, workload_names: list[str]) -> pd.DataFrame:
    import pandas as pd

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
    """Per event, the exit code of a die (-1 elsewhere): as recorded on the full lifecycle
    (every die there has its code); on the fast path 0 -- its only exit is the client's stop of
    an app that exits on SIGTERM (API requests, kills included, take the full path)."""
    code = np.full(state.size, -1, dtype=np.int16)
    code[state == State.EXITED] = 0
    for k, c in rec.ev_exit.items():
        code[k] = c
    return code


def _lifecycle(rec: Recorder, ids: np.ndarray, tm: np.ndarray, run: tuple[np.ndarray, ...], exits: np.ndarray,
               horizon: float) -> dict[str, Any]:
    """Restarts, time in back-off, availability and exit codes of one workload.

    Availability: the time its instances ran ready (each running span from its ready to its
    end) over the time each was meant to run: first ready to the end of that time (a stop by
    hand, the client's deadline, ``Recorder.ends``; else its last span's end), or the horizon.
    """
    restarts = sum(rec.restarts.get(i, 0) for i in ids.tolist()) if rec.restarts else 0
    backoff = sum(rec.backoff_s.get(i, 0.0) for i in ids.tolist()) if rec.backoff_s else 0.0
    sp_iid, _, sp_ready, sp_end = run
    first = tm[:, M["ready"]]
    got = ~np.isnan(first)
    up_s = np.zeros(ids.size)
    last_end = np.full(ids.size, np.nan)
    if sp_iid.size:
        row = np.searchsorted(ids, sp_iid)          # ids ascend: each span's row in tm
        end = np.minimum(np.where(np.isnan(sp_end), horizon, sp_end), horizon)
        ok = ~np.isnan(sp_ready)
        np.add.at(up_s, row[ok], end[ok] - sp_ready[ok])
        last_end[row] = np.where(np.isnan(sp_end), horizon, sp_end)     # spans come in time order
    intended = np.where(np.isnan(last_end), horizon, last_end)
    if rec.ends:
        for k, iid in enumerate(ids.tolist()):
            e = rec.ends.get(iid)
            if e is not None:
                intended[k] = e
    end = np.minimum(intended, horizon)[got]
    span = end - first[got]
    up = float(np.sum(np.minimum(up_s[got], span)))
    total = float(np.sum(span))
    codes, counts = np.unique(exits, return_counts=True) if exits.size else (np.zeros(0), np.zeros(0))
    return {"restarts": restarts, "backoff_s": backoff,
            "availability": up / total if total > 0 else None,
            "exit_codes": {str(int(c)): int(n) for c, n in zip(codes, counts)}}


def _actions(rec: Recorder, inst: np.ndarray, state: np.ndarray) -> dict[str, Any]:
    """The ``action`` column (``docker events``' names: create, start, restart, pause, unpause,
    kill, die, oom, destroy) and ``exit_code`` (of a die; -1 elsewhere). On the fast path a die
    after a stop exits 0 (a clean SIGTERM) and one straight from running 137 (a kill)."""
    import pandas as pd

    action = _ACTION_OF_STATE[state].copy() if state.size else np.zeros(0, dtype=object)
    prev = _previous_state(inst, state)
    exit_code = exit_codes(rec, state)
    action[(state == State.RUNNING) & (prev == State.PAUSED)] = "unpause"
    for k, a in rec.ev_action.items():
        action[k] = a
    return {"action": pd.Categorical(action, categories=sorted(set(ACTIONS.values()) | {"", "restart", "unpause", "start"})),
            "exit_code": exit_code}


def instances_frame(rec: Recorder, workload_names: list[str]) -> pd.DataFrame:
    import pandas as pd

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
    """Step series of RAM, disk, CPU (busy cores, utilisation, cores asked), running, waiting, starting.

    One row per instant at which anything changed (the value holds until the next row).
    """
    import pandas as pd

    ts_t = np.frombuffer(rec.ts_time, dtype=np.float64) if len(rec.ts_time) else np.zeros(0)
    ts_c = np.frombuffer(rec.ts_code, dtype=np.int32) if len(rec.ts_code) else np.zeros(0, np.int32)
    ts_d = np.frombuffer(rec.ts_delta, dtype=np.float64) if len(rec.ts_delta) else np.zeros(0)
    tm = rec.times_matrix()
    hosts_of = np.frombuffer(rec.host, dtype=np.int32) if rec.n else np.zeros(0, np.int32)
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
