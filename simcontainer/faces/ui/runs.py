"""Simulation runs for the app: cached, sized before they start, and big ones in a worker process.

A run is keyed by the scenario's canonical TOML. Before it starts, its size is estimated (the
requests its arrivals make): a small run goes on in the server's process (a few ms);
a big one in a worker process (:mod:`simcontainer.faces.ui.worker`) with a memory limit (``RLIMIT_AS``)
and a time limit,
showing progress from the first second and a Stop button; one past the limit is refused with
a message. A Stop, a changed widget or a closed tab ends the worker: the server never holds a
simulation it cannot drop.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

import simcontainer as sc
from simcontainer.engine import guard
from simcontainer.faces.ui import worker
from simcontainer.scenario.profiles import models_dir
from simcontainer.scenario.schema import Scenario
from simcontainer.studies import planner

IN_PROCESS_MAX = 5_000          # requests: below this a run takes well under a second here
APP_HOSTS_MAX = 1_000           # hosts: past this the planner answers in closed form only
IN_PROCESS_HOSTS = 200          # hosts: past this a run's per-host bookkeeping takes seconds (10,000: ~2 s)
REFUSE_OVER = 400_000           # requests: above this a run is refused before it starts
WORKER_MEMORY_MIB = 3072        # address-space limit of a worker process
WORKER_TIME_S = 120.0           # wall-time limit of a worker process
_computed: set[str] = set()     # keys this server has stored in the cache


class NotRun(Exception):
    """A run that was refused, stopped or failed; ``args[0]`` says why in a sentence."""


@dataclass(frozen=True)
class Size:
    requests: float              # expected requests over the horizon (all workloads)
    biggest: str                 # the workload that makes most of them
    hosts: int = 1               # identical hosts simulated

    @property
    def refused(self) -> bool:
        return not math.isfinite(self.requests) or self.requests > REFUSE_OVER

    @property
    def in_process(self) -> bool:
        return self.requests <= IN_PROCESS_MAX and self.hosts <= IN_PROCESS_HOSTS

    @property
    def work(self) -> float:
        """A run's cost in request-equivalents, for an ETA: a host costs about what a request does."""
        return self.requests + self.hosts


def size(scenario: Scenario) -> Size:
    """How many requests the scenario's arrivals make over the horizon: the library's size guard
    (:func:`simcontainer.engine.guard.estimate`, closed form, before running)."""
    est = guard.estimate(scenario)
    return Size(est.requests, est.largest, int(scenario.host.count))


def refusal(scenario: Scenario, s: Size | None = None) -> str | None:
    """The message for a run past the size guard, or None when it may run."""
    s = s or size(scenario)
    if not s.refused:
        return None
    n = "an unbounded number of" if not math.isfinite(s.requests) else f"about {s.requests:,.0f}"
    return (f"Not run: {scenario.name} would make {n} start requests in {scenario.duration_s:g} simulated "
            f"seconds (mostly {s.biggest}); the app runs at most {REFUSE_OVER:,}. Lower the rate or the "
            "horizon, set a cap (count), or run it with `simcontainer run` on your own machine.")


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def plan(scenarios: list[Scenario]) -> None:
    """The runs one answer needs, in the order they will run: the progress bar's ETA is for the
    whole answer (every run still to do), not for the run it is in."""
    todo = []
    for s in scenarios:
        k = _key(planner.canonical(s))
        if k not in _computed and k not in _stopped():
            est = size(s)
            if not est.refused:
                todo.append((k, est.work))
    st.session_state["answer_plan"] = todo


def _eta(key: str, done: float, elapsed: float) -> str:
    """'run 2 of 4 · about 40 s left for the whole answer' from this run's pace."""
    todo = [t for t in st.session_state.get("answer_plan", []) if t[0] not in _computed]
    mine = next((i for i, t in enumerate(todo) if t[0] == key), None)
    if mine is None or done <= 0.02:
        return ""
    requests = todo[mine][1] or 1.0
    rate = done * requests / max(elapsed, 1e-6)          # requests per second, at this run's pace
    left = (1 - done) * requests / rate + sum(r for _, r in todo[mine + 1:]) / rate
    return (f" · run {mine + 1} of {len(todo)} still to do" if len(todo) > 1 else "") + \
        f" · about {left:,.0f} s left for the whole answer"


def _compute(toml_text: str, progress: Any = None) -> dict[str, Any]:
    return worker.compute(toml_text, progress)


def _in_worker(toml_text: str, label: str, key: str) -> dict[str, Any]:
    """Run in a worker process with limits; progress and Stop on the page; the worker ends with us."""
    slot = st.empty()            # a placeholder: emptying it removes the bar and the button
    box = slot.container()
    bar = box.progress(0.0, text=f"Simulating {label} in a worker process: starting the worker…")
    box.button("Stop the runs", key=f"stop_{key}",
               help="Stop this run and the answer's runs still to do; finished runs and the closed-form "
                    "figures stay on the page.")
    start = time.monotonic()
    done, started = 0.0, False
    run = worker.launch(toml_text, WORKER_MEMORY_MIB)
    try:
        while True:
            kind, value = run.next(timeout=0.25)
            elapsed = time.monotonic() - start
            if kind == "done":
                return run.result()
            if kind == "error":
                raise NotRun(f"The run of {label} failed: {value}.")
            if kind == "exit":
                raise NotRun(f"The run of {label} ended without a result (exit code {run.exitcode}; "
                             f"memory limit {WORKER_MEMORY_MIB} MiB).")
            if kind == "progress":
                done, started = min(max(value, 0.0), 1.0), True
            # every pass redraws the bar: a checkpoint where a Stop or a widget change ends this run
            what = f"{done:.0%}" if started else "starting the worker…"
            bar.progress(done, text=f"Simulating {label} in a worker process: {what} · {elapsed:.0f} s"
                         + _eta(key, done, elapsed))
            if elapsed > WORKER_TIME_S:
                raise NotRun(f"The run of {label} took longer than {WORKER_TIME_S:.0f} s and was stopped.")
    finally:
        run.kill()
        slot.empty()


@st.cache_resource(show_spinner=False, max_entries=256)
def _cached(toml_text: str, _payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cache itself; ``_payload`` (not part of the key) stores a run computed outside.

    NOTE: a resource cache hands out the stored object itself (no copy): a warm page reads a dozen
    runs, and unpickling each one's tables on every rerun (as ``cache_data`` does) is most of its
    time. Callers treat a run as read-only.
    """
    return _payload if _payload is not None else _compute(toml_text)


def _stopped() -> set[str]:
    return st.session_state.setdefault("stopped_runs", set())


def run(scenario: Scenario, label: str = "") -> dict[str, Any]:
    """Summary, instances, timeseries and events of a run; raises :class:`NotRun` with a message.

    Refused past the size guard; a big run goes to a worker process with progress and Stop.
    """
    text = planner.canonical(scenario)
    key = _key(text)
    if key in _computed:
        return _cached(text)
    label = label or scenario.name
    if st.session_state.get(f"stop_{key}"):     # a Stop ends this run and the answer's runs still to do
        _stopped().add(key)
        _stopped().update(k for k, _ in st.session_state.get("answer_plan", []) if k not in _computed)
    if key in _stopped():
        raise NotRun(f"The run of {label} was stopped. Change the what-if, or press Run again.")
    s = size(scenario)
    why = refusal(scenario, s)
    if why:
        raise NotRun(why)
    payload = _compute(text) if s.in_process else _in_worker(text, label, key)
    out = _cached(text, _payload=payload)
    _computed.add(key)
    return out


def run_again(scenario: Scenario) -> None:
    """Forget a Stop on this scenario, so that the next run starts it afresh."""
    _stopped().discard(hashlib.sha256(planner.canonical(scenario).encode()).hexdigest())


@st.cache_data(show_spinner=False, max_entries=256)
def density(toml_text: str, runtimes: tuple[str, ...]) -> dict[str, Any]:
    scenario = sc.loads_scenario(toml_text, base_dir=models_dir() / "scenarios", source="what-if")
    return sc.density(scenario, list(runtimes))
