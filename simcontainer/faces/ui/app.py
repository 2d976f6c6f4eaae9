"""The app's router: Streamlit pages (st.navigation), each with its own URL.

``/`` (the planner), ``/hosts``, ``/sweep``, ``/optimize``, ``/cluster`` and one page per lesson (``/learn-layers`` ...).
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
    serving,
    state,
    sweep_page,
)

# The Plan section, in order: (key, module's render, title, URL path). Another page joins by a
# line here (or, for a section of its own, by a ``pages()`` function like the cold-starts
# lesson's, added to EXTRA_PAGES); every title must be unique: it is also the browser tab's.
PLAN = [
    ("planner", planner_page.render, "Planner", "planner"),
    ("hosts", hosts_page.render, "Hosts needed", "hosts"),
    ("sweep", sweep_page.render, "Sweep", "sweep"),
    ("optimize", optimize_page.render, "Find the cheapest", "optimize"),
    ("cluster", cluster_page.render, "Cluster rollout", "cluster"),
]
EXTRA_PAGES = [lesson_cold_starts.pages]     # each returns {key: st.Page}; "learn-..." keys go under Learn


def pages() -> dict[str, Any]:
    """Every page by its key (its URL path)."""
    out = {key: st.Page(fn, title=title, url_path=path, default=key == "planner")
           for key, fn, title, path in PLAN}
    for slug, (title, fn) in learn_page.LESSONS.items():
        out[f"learn-{slug}"] = st.Page(fn, title=title, url_path=f"learn-{slug}")
    for more in EXTRA_PAGES:
        out.update(more())
    return out


def sections(by_path: dict[str, Any]) -> dict[str, list[Any]]:
    learn = [p for k, p in by_path.items() if k.startswith("learn-")]
    return {"Plan": [p for k, p in by_path.items() if not k.startswith("learn-")], "Learn": learn}


def main() -> None:
    serving.tcp_nodelay()       # once per server process: see serving (~40 ms per file otherwise)
    # no page_title: each page's own title is the browser tab's ("Hosts needed · simcontainer")
    st.set_page_config(layout="wide")
    st.set_option("client.toolbarMode", "minimal")      # no Deploy button: this app is not deployed
    state.init()
    by_path = pages()
    groups = sections(by_path)
    # every lesson listed: no "View N more" fold under Learn
    nav = st.navigation(groups, expanded=True)
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
