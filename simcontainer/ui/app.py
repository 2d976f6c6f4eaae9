"""The app's router: a sidebar page choice (kept in the URL) and the page itself."""

from __future__ import annotations

import streamlit as st

from simcontainer.ui import learn_page, planner_page, state, sweep_page

RENDER = {"planner": planner_page.render, "learn": learn_page.render, "sweep": sweep_page.render}


def main() -> None:
    st.set_page_config(page_title="simcontainer", layout="wide")
    state.init()
    page = state.page()
    st.sidebar.caption("simcontainer: containers and VMs on a host, simulated.")
    RENDER[page]()
