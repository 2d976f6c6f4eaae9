"""Cached simulation runs: keyed by the scenario's canonical TOML, with progress on a cold run."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import streamlit as st

import simcontainer as sc
from simcontainer import planner
from simcontainer.profiles import models_dir
from simcontainer.scenario import Scenario

PROGRESS_AFTER_S = 0.3
_computed: set[str] = set()   # keys this server has stored in the cache


def _compute(toml_text: str, progress: Any = None) -> dict[str, Any]:
    scenario = sc.loads_scenario(toml_text, base_dir=models_dir() / "scenarios", source="what-if")
    res = sc.simulate(scenario, progress=progress)
    return {"summary": res.summary, "instances": res.instances, "timeseries": res.timeseries,
            "events": res.events, "wall_s": res.wall_s}


@st.cache_data(show_spinner=False, max_entries=256)
def _cached(toml_text: str, _payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cache itself; ``_payload`` (not part of the key) stores a run computed outside."""
    return _payload if _payload is not None else _compute(toml_text)


def run(scenario: Scenario, label: str = "") -> dict[str, Any]:
    """Summary, instances, timeseries and events of a run; a cold run over 0.3 s shows progress."""
    text = planner.canonical(scenario)
    key = hashlib.sha256(text.encode()).hexdigest()
    if key in _computed:
        return _cached(text)
    slot = st.empty()
    start = time.perf_counter()
    bar: Any = None

    def progress(fraction: float) -> None:
        nonlocal bar
        if bar is None and time.perf_counter() - start < PROGRESS_AFTER_S:
            return
        msg = f"Simulating {label or scenario.name}: {fraction:.0%}"
        bar = slot.progress(min(max(fraction, 0.0), 1.0), text=msg)

    payload = _compute(text, progress)
    slot.empty()
    out = _cached(text, _payload=payload)
    _computed.add(key)
    return out


@st.cache_data(show_spinner=False, max_entries=256)
def density(toml_text: str, runtimes: tuple[str, ...]) -> dict[str, Any]:
    scenario = sc.loads_scenario(toml_text, base_dir=models_dir() / "scenarios", source="what-if")
    return sc.density(scenario, list(runtimes))
