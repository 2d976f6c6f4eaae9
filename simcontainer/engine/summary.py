"""The result builder: one summary, built once, of sections each part of a run contributes.

Each part answers for its own section through one small interface (:class:`Section`):
``section(run)`` gives its top-level keys, ``warnings(run, summary)`` its plain sentences about
what a table of means would hide (reading the sections built, never changing them). :func:`build`
asks every part in turn and returns the summary; nothing changes it afterwards. The parts:

- :class:`RunInfo`: scenario, seed, duration, events;
- :class:`Workloads`: per workload its counts, startup, phases, pull, running, CPU asked and
  received over its running spans (however each ended), lifecycle (restarts, availability, exit
  codes), priority and preemptions, and its warm block (asked of :class:`simcontainer.model.warm.Warm`);
- :class:`Hosts`: cluster totals and per host;
- :class:`Api`, :class:`AdmissionInfo`, :class:`Faults` (each fault's recovery,
  :func:`simcontainer.model.faults.recovery`), :class:`MemoryInfo` (asked of
  :class:`simcontainer.model.memory.Memory`), :class:`HealthInfo` (asked of
  :class:`simcontainer.model.health.Book`), :class:`Notices` (what the run itself has to say);
- :class:`Assumed`: what the answer rests on (:func:`simcontainer.engine.assumptions.assumptions`:
  each default a planner would want to choose, its value and where it comes from).

A figure over nothing -- a startup percentile when no instance became ready, a mean wait when
nobody was admitted -- is None (JSON null), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from simcontainer.engine.assumptions import assumptions
from simcontainer.model.faults import recovery
from simcontainer.model.metrics import (
    _SERIES_CODE,
    _STATE_BITS,
    CPU_SHORT_WARN,
    NEVER_STARTED_WARN,
    PHASE_SPANS,
    SERIES,
    M,
    Recorder,
    _mean,
    _share,
    _stats,
    exit_codes,
    interval_counts,
    series_peak,
    time_average,
)
from simcontainer.model.states import STATE_LABELS, State


@dataclass
class Run:
    """What the sections read: the recorder, the hosts (their CPU settled at the horizon) and the
    scenario's per-workload settings; the recorder's columns as arrays, made once."""

    rec: Recorder
    hosts: list[Any]
    horizon: float
    scenario_name: str
    seed: int
    names: list[str]
    runtimes: list[str]
    demands: Sequence[Any] | None = None
    priorities: Sequence[int] = ()
    request_rates: Sequence[float] = ()
    daemon: Any = None                  # the scenario's ``daemon`` table
    notices: list[str] = field(default_factory=list)    # warnings the engine has for the run
    scenario: Any = None                # the scenario that ran and its catalogue (what it assumed)
    catalogue: Any = None

    def __post_init__(self) -> None:
        for h in self.hosts:
            h.cpu.settle()

    @cached_property
    def tm(self) -> np.ndarray:
        return self.rec.times_matrix()

    @cached_property
    def wl(self) -> np.ndarray:
        return np.frombuffer(self.rec.workload, dtype=np.int32)[: self.rec.n] if self.rec.n else np.zeros(0, np.int32)

    @cached_property
    def spans(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.rec.spans()


class Section(Protocol):
    """A part of the run that reports: its top-level keys, and its warnings."""

    def section(self, run: Run) -> dict[str, Any]: ...

    def warnings(self, run: Run, summary: Mapping[str, Any]) -> list[str]: ...


class _Quiet:
    def warnings(self, run: Run, summary: Mapping[str, Any]) -> list[str]:
        return []


def build(run: Run, sections: Sequence[Section] | None = None) -> dict[str, Any]:
    """The result JSON (README, "Reading a result"): every section's keys, then every section's
    warnings, in order."""
    parts = list(sections) if sections is not None else default_sections(run)
    summary: dict[str, Any] = {}
    for part in parts:
        for key, value in part.section(run).items():
            if key in summary:
                raise ValueError(f"result key {key!r} given by two sections")
            summary[key] = value
    warnings = [w for part in parts for w in part.warnings(run, summary)]
    return {**summary, "warnings": warnings}


def default_sections(run: Run) -> list[Section]:
    out: list[Section] = [RunInfo(), Workloads(), Hosts(), Api(), AdmissionInfo(), Faults()]
    if run.rec.memory is not None:
        out.append(MemoryInfo())
    if run.rec.health is not None:
        out.append(HealthInfo())
    out += [Notices(), Assumed()]
    return out


class RunInfo(_Quiet):
    def section(self, run: Run) -> dict[str, Any]:
        return {"scenario": run.scenario_name, "seed": run.seed, "duration_s": run.horizon,
                "events": len(run.rec.ev_time)}


class Api(_Quiet):
    def section(self, run: Run) -> dict[str, Any]:
        calls = run.rec.api_calls
        return {"api": {"calls": len(calls), "errors": sum(1 for c in calls if not c["ok"])}}


class Faults(_Quiet):
    def section(self, run: Run) -> dict[str, Any]:
        return {"faults": recovery(run.rec, run.horizon, list(run.request_rates))}


class MemoryInfo(_Quiet):
    def section(self, run: Run) -> dict[str, Any]:
        return {"memory": run.rec.memory.summary(run.horizon, run.names)}


class Assumed(_Quiet):
    """What the answer rests on: each setting that can move it a lot, its value, whether the
    scenario chose it, where the default comes from, and what it would flip to (the flips' effects
    are measured by rerunning: :mod:`simcontainer.studies.assumption_flips`)."""

    def section(self, run: Run) -> dict[str, Any]:
        return {"assumptions": assumptions(run.scenario, run.catalogue) if run.scenario is not None else []}


class HealthInfo(_Quiet):
    """Per workload with a health check (asked of :class:`simcontainer.model.health.Book`)."""

    def section(self, run: Run) -> dict[str, Any]:
        return {"health": run.rec.health.summary(run.names, run.spans, run.horizon)}


class Notices:
    """What the engine has to say about the run (a deprecated setting), and failed starts."""

    def section(self, run: Run) -> dict[str, Any]:
        return {}

    def warnings(self, run: Run, summary: Mapping[str, Any]) -> list[str]:
        out = list(run.notices)
        fails = run.rec.failures
        if fails:
            out.append(f"{len(fails)} start(s) failed; the first at {fails[0]['time_s']:.1f} s: {fails[0]['reason']}")
        return out


class Workloads:
    """Per workload: its figures from the times matrix, CPU over its running spans, lifecycle,
    priority and preemptions, and the warm part's block for a warm workload."""

    def section(self, run: Run) -> dict[str, Any]:
        rec, names = run.rec, run.names
        tm, wl = run.tm, run.wl
        final = np.frombuffer(rec.final, dtype=np.int8)[: rec.n] if rec.n else np.zeros(0, np.int8)
        pulled = np.frombuffer(rec.pulled_mib, dtype=np.float64)[: rec.n] if rec.n else np.zeros(0)
        demands = run.demands
        cpu = [d.cpu for d in demands] if demands is not None else [math.nan] * len(names)
        shares = [d.cpu_share for d in demands] if demands is not None else [1.0] * len(names)
        copy = [d.copy_mib for d in demands] if demands is not None else [None] * len(names)
        split = np.column_stack(rec.pull_columns()) if rec.n else np.zeros((0, 2))
        die_wl, die_code = _exits(rec, wl)
        sp_iid, sp_start, sp_ready, sp_end = run.spans
        sp_wl = wl[sp_iid] if sp_iid.size else np.zeros(0, np.int32)
        mem = rec.memory if rec.memory is not None and getattr(rec.memory, "swap_cpu", False) else None
        if mem is not None:
            mem.flush_cpu()
        preempted = [0] * len(names)
        for p in rec.preemptions:
            preempted[p["victim_workload"]] += 1
        restore = rec.warm.restore_column(rec.n) if rec.warm is not None else None
        out: dict[str, Any] = {}
        for w, name in enumerate(names):
            sel = wl == w
            mine = sp_wl == w
            spans = (sp_iid[mine], sp_start[mine], sp_ready[mine], sp_end[mine])
            figures = _workload(tm[sel], final[sel], pulled[sel], run.horizon, split[sel], spans)
            c = _cpu_received(rec, spans, cpu[w], run.hosts, run.horizon, shares[w])
            if mem is not None and c["asked_core_s"] is not None:     # swap slows the app's CPU
                got = max(0.0, min(c["received_core_s"] + mem.cpu_fix[w], c["asked_core_s"]))
                c = {**c, "received_core_s": got, "received_fraction": got / c["asked_core_s"] if c["asked_core_s"] else None,
                     "swap_lost_core_s": mem.swap_lost[w]}
            if demands is not None:     # CFS quota / vCPU caps: what the app wanted beyond them
                over, asked = getattr(demands[w], "throttled", 0.0), c["asked_core_s"]
                c = {**c, "throttled_core_s": None if asked is None else (asked * over / cpu[w] if over and cpu[w] else 0.0),
                     "throttled_fraction": over / (cpu[w] + over) if cpu[w] + over > 0 else None}
            reasons = _reasons(rec.failures, w)
            out[name] = {"runtime": run.runtimes[w], **figures, "cpu": c,
                         # MiB each VM writes as its own full disk copy in its create phase
                         "vm_disk_copy_mib": copy[w],
                         "lifecycle": {**_lifecycle(rec, np.flatnonzero(sel), tm[sel], spans, die_code[die_wl == w],
                                                    run.horizon, final[sel]),
                                       "failed_starts": sum(reasons.values()),
                                       # why they failed: {reason: count}, first-seen order
                                       "failures": reasons},
                         "priority": run.priorities[w] if run.priorities else 0, "preempted": preempted[w],
                         # RAM its own instances reserved at once, at the peak, over all hosts
                         "peak_ram_mib": rec.peak_held_mib.get(w, 0.0)}
            if restore is not None and w in rec.warm.state:
                out[name] = _with_warm(rec, out[name], tm[sel], np.flatnonzero(sel), restore, w, run.horizon)
        return {"workloads": out}

    def warnings(self, run: Run, summary: Mapping[str, Any]) -> list[str]:
        """Requests that never started, per workload."""
        out = []
        for name, w in summary["workloads"].items():
            n, never = w["requested"], w["never_started"]
            if n and never / n > NEVER_STARTED_WARN:
                why = [f"{w[k]} {label}" for k, label in (("waiting_at_horizon", "still waiting at the horizon"),
                                                          ("starting_at_horizon", "still starting at the horizon"),
                                                          ("rejected", "rejected")) if w[k]]
                other = never - sum(w[k] for k in ("waiting_at_horizon", "starting_at_horizon", "rejected"))
                if other:
                    why.append(f"{other} ended before running")
                out.append(f"{name}: {never} of {n} requests ({never / n:.0%}) never started: {', '.join(why)}")
        return out


def _reasons(failures: list[dict[str, Any]], w: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in failures:
        if f["workload"] == w:
            out[f["reason"]] = out.get(f["reason"], 0) + 1
    return out


def _exits(rec: Recorder, wl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per exit (a die): its workload and code; an OOM kill counted once, at its die."""
    ev_code = np.frombuffer(rec.ev_code, dtype=np.int64) if len(rec.ev_code) else np.zeros(0, np.int64)
    ev_inst = ev_code >> _STATE_BITS
    ev_state = (ev_code & ((1 << _STATE_BITS) - 1)).astype(np.int16)
    ev_exit = exit_codes(rec, ev_state)
    died = ev_exit >= 0
    for k, a in rec.ev_action.items():
        if a == "oom":
            died[k] = False
    return (wl[ev_inst[died]] if rec.n else np.zeros(0, np.int32)), ev_exit[died]


def _with_warm(rec: Recorder, figures: dict[str, Any], t: np.ndarray, ids: np.ndarray, restore: np.ndarray,
               w: int, horizon: float) -> dict[str, Any]:
    """A warm workload's figures with its ``warm`` block (simcontainer.model.warm) and
    ``phases_s["restore"]`` (0 for instances that did not restore; taken out of ``boot``, so the
    phases still add up). Null when no instance became ready."""
    ready = ~np.isnan(t[:, M["ready"]])
    ph = dict(figures["phases_s"])
    r = _mean(restore[ids][ready])
    ph["restore"] = r
    if r is not None and ph["boot"] is not None:
        ph["boot"] = max(ph["boot"] - r, 0.0)      # restore is part of the created -> running span
    return {**figures, "phases_s": ph, "warm": rec.warm.summary(w, t, ids, horizon)}


class Hosts:
    """Cluster totals and per-host figures; the CPU-demand warning."""

    def section(self, run: Run) -> dict[str, Any]:
        host, per_host = _hosts(run.rec, run.spans, run.hosts, run.horizon)
        return {"host": host, "hosts": per_host}

    def warnings(self, run: Run, summary: Mapping[str, Any]) -> list[str]:
        """CPU demand above capacity: apps silently getting less than they asked. (A burst of
        boots asking more cores than there are is the contention the model is for; the startup
        figures show it. Apps running below what they asked is what nothing else shows.)"""
        workloads, host, per_host = summary["workloads"], summary["host"], summary["hosts"]
        asked = sum(w["cpu"]["asked_core_s"] or 0.0 for w in workloads.values())
        got = sum(w["cpu"]["received_core_s"] or 0.0 for w in workloads.values())
        over = [h for h in per_host if h["peak_cpu_demand"] > 1 + 1e-9]
        if not (over and asked and got < (1 - CPU_SHORT_WARN) * asked):
            return []
        where = "" if len(per_host) == 1 else f" on {len(over)} of {len(per_host)} hosts"
        cores = host["cpu_cores"] / len(per_host)
        peak = max(h["peak_cpu_demand"] for h in over) * cores
        return [f"CPU demand exceeded capacity{where}: peak {peak:.1f} cores asked on {cores:g} "
                f"(apps received {got / asked:.0%} of what they asked)"]


class AdmissionInfo:
    """Which admission policy ran, its preemptions, and under admission "none" a warning when RAM
    reserved by started instances passed a host's capacity (and how many the OOM killer killed)."""

    def section(self, run: Run) -> dict[str, Any]:
        rec, hosts, names, daemon = run.rec, run.hosts, run.names, run.daemon
        over = [h for h in hosts if h.ram.peak > h.ram.capacity * (1 + 1e-9)]
        out = {
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
            out["retry"] = daemon.retry
        return {"admission": out}

    def warnings(self, run: Run, summary: Mapping[str, Any]) -> list[str]:
        hosts = run.hosts
        over = [(h.index, h.ram.peak, h.ram.capacity, h.spec) for h in hosts
                if h.ram.peak > h.ram.capacity * (1 + 1e-9)]
        if not over:
            return []
        i, peak, cap, spec = max(over, key=lambda o: o[1] / o[2])
        where = f"host {i}" if len(hosts) > 1 else "the host"
        # the host's physical RAM, named as such; the overcommitted promise only beside it
        promise = (f"; admission's promise with {spec.memory_overcommit:g}x overcommit: {cap:,.0f} MiB"
                   if (spec.memory_overcommit or 1.0) > 1.0 else "")
        kept = f", {spec.reserve_mib:,.0f} of it kept for the host" if spec.reserve_mib else ""
        return [f"admission \"none\": RAM reserved by started instances peaked at {peak:,.0f} MiB on {where}: "
                f"{peak / spec.ram_mib:.0%} of its {spec.ram_mib:,.0f} MiB of physical RAM ({len(over)} of "
                f"{len(hosts)} host(s) over capacity{kept}{promise}); the kernel's OOM killer killed "
                f"{len(run.rec.oom_kills)} instance(s) (result memory.oom_kills)"]

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
        host_of = np.frombuffer(rec.host, dtype=np.int32)[: rec.n][ids]
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


def _hosts(rec: Recorder, spans: tuple[np.ndarray, ...], hosts: list[Any], horizon: float
           ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cluster totals and per-host figures (the hosts' CPU must be settled at the horizon)."""
    ts_t = np.frombuffer(rec.ts_time, dtype=np.float64) if len(rec.ts_time) else np.zeros(0)
    ts_c = np.frombuffer(rec.ts_code, dtype=np.int32) if len(rec.ts_code) else np.zeros(0, np.int32)
    ts_d = np.frombuffer(rec.ts_delta, dtype=np.float64) if len(rec.ts_delta) else np.zeros(0)
    ns = len(SERIES)

    def peak(sel: np.ndarray) -> float:
        return series_peak(ts_t[sel], ts_d[sel])

    def per_time(x: float, cores: float) -> float:
        return x / (cores * horizon) if horizon > 0 else 0.0

    _, sp_start, _, sp_end = spans
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
        # RAM admission may promise: (physical - kept for the host) x the memory overcommit ratio
        "ram_mib": float(sum(h.ram.capacity for h in hosts)),
        "physical_ram_mib": float(sum(h.spec.ram_mib for h in hosts)),
        "host_reserved_mib": float(sum(h.spec.reserve_mib for h in hosts)),
        "memory_overcommit": float(hosts[0].spec.memory_overcommit or 1.0) if hosts else 1.0,
        "disk_mib": float(sum(h.disk.capacity for h in hosts)),
        "cpu_cores": float(cores),
        "stored_mib": float(sum(h.store.stored_mib for h in hosts)),
        # image keys (definitions: HostNode.saved_by_sharing_mib, ImageStore), at the horizon
        "idle_image_mib": float(sum(max(0.0, h.store.idle_mib) for h in hosts)),
        "saved_by_sharing_mib": float(sum(h.saved_by_sharing_mib() for h in hosts)),
        "gc_runs": int(sum(h.store.gc_runs for h in hosts)),
        "gc_freed_mib": float(sum(h.store.gc_freed_mib for h in hosts)),
        # the registry all hosts share (simcontainer.model.registry.Distribution.stats); None for a
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
         "stored_mib": h.store.stored_mib, "idle_image_mib": max(0.0, h.store.idle_mib),
         "saved_by_sharing_mib": h.saved_by_sharing_mib(), "peak_saved_by_sharing_mib": h.peak_saved_mib,
         "gc_runs": h.store.gc_runs, "gc_freed_mib": h.store.gc_freed_mib}
        for h in hosts
    ]
    return host, per_host


def _lifecycle(rec: Recorder, ids: np.ndarray, tm: np.ndarray, run: tuple[np.ndarray, ...], exits: np.ndarray,
               horizon: float, final: np.ndarray | None = None) -> dict[str, Any]:
    """Restarts, time in back-off, availability and exit codes of one workload.

    Availability: the time its instances ran ready (each running span from its ready to its
    end) over the time each was meant to run: first ready to the end of that time (a stop by
    hand, the client's deadline, ``Recorder.ends``; else its last span's end), or the horizon.
    An instance that ended ``failed`` (a restart with no room to start again) was meant to run
    on: it is down from its failure to the horizon.
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
    if final is not None:
        intended[final == State.FAILED] = horizon      # down from its failure on, not done
    end = np.minimum(intended, horizon)[got]
    span = end - first[got]
    up = float(np.sum(np.minimum(up_s[got], span)))
    total = float(np.sum(span))
    codes, counts = np.unique(exits, return_counts=True) if exits.size else (np.zeros(0), np.zeros(0))
    return {"restarts": restarts, "backoff_s": backoff,
            "availability": up / total if total > 0 else None,
            "exit_codes": {str(int(c)): int(n) for c, n in zip(codes, counts)}}


__all__ = ["AdmissionInfo", "Api", "Assumed", "Faults", "Hosts", "MemoryInfo", "Notices", "Run", "RunInfo", "Section", "Workloads", "build",
           "default_sections"]
