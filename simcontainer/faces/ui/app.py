"""The app's router: Streamlit pages (st.navigation), each with its own URL.

``/`` (the planner), ``/hosts``, ``/sweep``, ``/optimize`` and one page per lesson (``/learn-layers`` ...).
The what-if travels in the query string (``?s=``, ``?rt=``, ``?w=``, see :mod:`state`). An old
link's ``?page=NAME`` opens the page of that name.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from simcontainer.faces.ui import (
    cluster_page,
    hosts_page,
    learn_page,
    lesson_cold_starts,
    optimize_page,
    planner_page,
    state,
    sweep_page,
)


def pages() -> dict[str, Any]:
    """Every page by its URL path."""
    out = {
        "planner": st.Page(planner_page.render, title="Planner", url_path="planner", default=True),
        "hosts": st.Page(hosts_page.render, title="Hosts needed", url_path="hosts"),
        "sweep": st.Page(sweep_page.render, title="Sweep", url_path="sweep"),
        "optimize": st.Page(optimize_page.render, title="Find the cheapest", url_path="optimize"),
        "cluster": st.Page(cluster_page.render, title="Cluster rollout", url_path="cluster"),
    }
    for slug, (title, fn) in learn_page.LESSONS.items():
        out[f"learn-{slug}"] = st.Page(fn, title=title, url_path=f"learn-{slug}")

    out.update(lesson_cold_starts.pages())
    return out


def main() -> None:
    st.set_page_config(page_title="simcontainer", layout="wide")
    state.init()
    by_path = pages()
    nav = st.navigation({"Plan": [by_path["planner"], by_path["hosts"], by_path["sweep"], by_path["optimize"], by_path["cluster"]],
                         "Learn": [p for k, p in by_path.items() if k.startswith("learn-")]})
    wanted = st.query_params.get("page")
    if wanted is not None:
        st.query_params.pop("page", None)
        target = by_path.get(wanted) or by_path.get(f"learn-{next(iter(learn_page.LESSONS))}"
                                                     if wanted == "learn" else "")
        if target is not None and target is not nav:
            st.switch_page(target)
    st.sidebar.caption("simcontainer: containers and VMs on a host, simulated.")
    if nav is not by_path["planner"]:
        state.keep_in_url()
    nav.run()
