"""A first view: run the default scenario and show its summary and running instances."""

from __future__ import annotations

import streamlit as st

import simcontainer as sc
from simcontainer.profiles import models_dir


def main() -> None:
    st.set_page_config(page_title="simcontainer", layout="wide")
    st.title("simcontainer")
    scenario = sc.load_scenario(models_dir() / "scenarios" / "default.toml")
    result = sc.simulate(scenario)
    rows = [{"workload": n, "runtime": w["runtime"], "started": w["started"],
             "startup p50 s": round(w["startup_s"]["p50"], 3), "p95 s": round(w["startup_s"]["p95"], 3)}
            for n, w in result.summary["workloads"].items()]
    st.dataframe(rows)
    st.line_chart(result.timeseries.set_index("time_s")[["running"]])
