"""The what-if as URL query-string state, so that a link reproduces what the reader sees.

The page is the URL's path; ``?s=`` the scenario (compressed TOML, absent for the default scenario),
``?rt=`` the runtimes to compare (each may name a control plane: ``runc@kubelet``) and ``?w=`` the workload the headline compares them on. The session keeps the scenario the editors start from
(``base_toml``) and a ``version`` that renews the editors' keys when a new scenario is loaded.
"""

from __future__ import annotations

from functools import lru_cache

import streamlit as st

from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import loads_scenario
from simcontainer.scenario.schema import Scenario
from simcontainer.studies import comparison, planner


@lru_cache(maxsize=1)
def _default_toml() -> str:
    return planner.canonical(planner.default_scenario())


def init() -> None:
    """First run of a session: take the what-if from the link, or the default scenario."""
    if "base_toml" in st.session_state:
        return
    st.session_state["version"] = 0
    st.session_state["link_problems"] = []
    token = st.query_params.get("s")
    text = _default_toml()
    if token:
        try:
            text = planner.canonical(planner.decode_scenario(token))
        except ScenarioError as exc:
            st.session_state["link_problems"] = exc.problems
    st.session_state["base_toml"] = text
    rt = st.query_params.get("rt")
    st.session_state["compare"] = [r for r in rt.split(",") if r] if rt else None
    st.session_state["lead"] = st.query_params.get("w")


def resume(alive_key: str) -> None:
    """Back on the planner after another page: Streamlit dropped the planner's widgets (their
    key ``alive_key`` is gone), so the editors restart from the what-if last built (and shown on
    the other pages), not from the scenario first loaded."""
    init()
    current = st.session_state.get("current_toml")
    if alive_key in st.session_state or not current or current == st.session_state["base_toml"]:
        return
    st.session_state["base_toml"] = current
    st.session_state["version"] = version() + 1


def guest() -> tuple[str, float] | None:
    """The guest every VM runtime boots, when the planner chose one (``?g=IMAGE:MiB``)."""
    g = st.session_state.get("guest")
    if g is None and "guest" not in st.session_state:
        token = st.query_params.get("g") or ""
        image, _, mem = token.rpartition(":")
        try:
            g = (image, float(mem)) if image and float(mem) > 0 else None
        except ValueError:
            g = None
        st.session_state["guest"] = g
    return g


def set_guest(value: tuple[str, float] | None) -> None:
    st.session_state["guest"] = value
    token = f"{value[0]}:{value[1]:g}" if value else None
    if token is None:
        st.query_params.pop("g", None)
    elif st.query_params.get("g") != token:
        st.query_params["g"] = token


def base() -> Scenario:
    """The scenario the editors start from."""
    init()
    return loads_scenario(st.session_state["base_toml"], source="what-if")


def version() -> int:
    return int(st.session_state.get("version", 0))


def replace_base(scenario: Scenario) -> None:
    """A loaded scenario becomes the new starting point; editors start afresh from it."""
    st.session_state["base_toml"] = st.session_state["current_toml"] = planner.canonical(scenario)
    st.session_state["version"] = version() + 1
    st.session_state["compare"] = None
    save(scenario, comparison.runtimes_in(scenario))


def known_entry(scenario: Scenario, entry: str) -> bool:
    """A runtime the catalogue has, optionally ``@`` a control plane it has (``runc@kubelet``)."""
    rt, plane = comparison.split_entry(entry)
    return rt in scenario.runtime_table() and (plane is None or plane in scenario.control_plane_table())


def compare_default(scenario: Scenario) -> list[str]:
    chosen = st.session_state.get("compare")
    if chosen:
        return [r for r in chosen if known_entry(scenario, r)]
    return comparison.runtimes_in(scenario)


def unknown_runtimes(scenario: Scenario) -> list[str]:
    """Runtimes (or ``runtime@plane`` entries) named in the link (``?rt=``) that the catalogue does not have."""
    return [r for r in st.session_state.get("compare") or [] if not known_entry(scenario, r)]


def lead_default(names: list[str]) -> str:
    """The workload the headline compares runtimes on: the link's ``?w=``, else the first."""
    lead = st.session_state.get("lead")
    return lead if lead in names else names[0]


def save(scenario: Scenario, compare: list[str], lead: str | None = None) -> None:
    """Write the what-if into the query string (only what differs from the default)."""
    text = planner.canonical(scenario)
    if text == _default_toml():
        st.query_params.pop("s", None)
    else:
        token = planner.encode_scenario(scenario)
        if st.query_params.get("s") != token:
            st.query_params["s"] = token
    rt = ",".join(compare)
    if rt == ",".join(comparison.runtimes_in(scenario)):
        st.query_params.pop("rt", None)
    elif st.query_params.get("rt") != rt:
        st.query_params["rt"] = rt
    st.session_state["compare"] = list(compare)
    first = scenario.workloads[0].name if scenario.workloads else None
    if lead is None or lead == first:
        st.query_params.pop("w", None)
    elif st.query_params.get("w") != lead:
        st.query_params["w"] = lead
    st.session_state["lead"] = lead


def keep_in_url() -> None:
    """Every page carries the what-if in its address (``?s=``), so a link to any page reproduces it."""
    text = st.session_state.get("current_toml") or st.session_state.get("base_toml")
    if not text or text == _default_toml():
        return
    if "s" not in st.query_params:
        st.query_params["s"] = planner.encode_scenario(loads_scenario(text, source="what-if"))


def remember(key: str, value: object) -> object:
    """Keep a page's own input (not a widget key: Streamlit drops those when the page is left)
    so that coming back finds it as it was; returns ``value``."""
    st.session_state.setdefault("kept", {})[key] = value
    return value


def kept(key: str, default: object) -> object:
    """A page's own input as it was left (:func:`remember`), else ``default``."""
    return st.session_state.get("kept", {}).get(key, default)


def current() -> Scenario:
    """The latest what-if the planner built (what the sweep page starts from)."""
    text = st.session_state.get("current_toml") or st.session_state.get("base_toml") or _default_toml()
    return loads_scenario(text, source="what-if")


def set_current(scenario: Scenario) -> None:
    st.session_state["current_toml"] = planner.canonical(scenario)
