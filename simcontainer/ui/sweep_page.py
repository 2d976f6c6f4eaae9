"""Sweeps: vary one or two settings of the current what-if over a range, with replications."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from simcontainer import planner
from simcontainer.errors import ScenarioError
from simcontainer.ui import charts, state

NONE = "(none)"


def axis_inputs(label: str, params: dict[str, float], default: str, key: str,
                allow_none: bool = False) -> tuple[str, list[float | int]] | None:
    options = ([NONE] if allow_none else []) + list(params)
    path = st.selectbox(label, options, index=options.index(default), key=f"{key}_path")
    if path == NONE:
        return None
    cur = params[path]
    c1, c2, c3 = st.columns(3)
    low = c1.number_input("from", value=float(cur * 0.5 if cur else 0.0), key=f"{key}_low_{path}")
    high = c2.number_input("to", value=float(cur * 1.5 if cur else 1.0), key=f"{key}_high_{path}")
    steps = c3.number_input("steps", 1, 25, 5 if not allow_none else 3, key=f"{key}_steps_{path}")
    return path, planner.sweep_values(path, low, high, int(steps))


def render() -> None:
    st.title("Sweep")
    base = state.current()
    st.caption(f"Starts from the planner's current what-if, **{base.name}**; every other setting stays as it is.")
    params = planner.sweep_parameters(base)
    first = next(iter(params))
    one = axis_inputs("First setting", params, "host.cpu_cores" if "host.cpu_cores" in params else first, "a1")
    two = axis_inputs("Second setting (optional)", params, NONE, "a2", allow_none=True)
    reps = st.number_input("Replications (seeds) per point", 1, 20, 2, key="reps")
    assert one is not None
    axes = {one[0]: one[1]}
    if two is not None and two[0] != one[0]:
        axes[two[0]] = two[1]
    total = int(reps) * int(pd.Series([len(v) for v in axes.values()]).prod())
    st.caption(f"{total} runs: " + " × ".join(f"{k} ∈ {v}" for k, v in axes.items()))
    if st.button("Run sweep", type="primary", key="run_sweep"):
        bar = st.progress(0.0, text=f"0 / {total} runs")

        def progress(done: int, of: int) -> None:
            bar.progress(done / max(of, 1), text=f"{done} / {of} runs")

        try:
            table, summary = planner.sweep(base, axes, int(reps), progress=progress)
        except ScenarioError as exc:
            bar.empty()
            st.error("The sweep cannot run:\n\n" + "\n".join(f"- `{p}`" for p in exc.problems))
            return
        bar.empty()
        st.session_state["sweep"] = {"runs": table, "summary": summary, "axes": list(axes),
                                     "base": planner.canonical(base)}
    result = st.session_state.get("sweep")
    if result is None:
        return
    show(result, f"workloads.{base.workloads[0].name}.startup_s.p95")


def show(result: dict, preferred: str) -> None:
    table, summary, axes = result["runs"], result["summary"], result["axes"]
    metrics = sorted(summary["metric"].unique())
    first_wl = preferred if preferred in metrics else metrics[0]
    metric = st.selectbox("Metric", metrics, index=metrics.index(first_wl), key="metric")
    if len(axes) == 1:
        st.altair_chart(charts.sweep_line(summary, axes[0], metric), width="stretch")
    else:
        st.altair_chart(charts.sweep_heatmap(summary, axes[0], axes[1], metric), width="stretch")
    view = summary[summary["metric"] == metric].drop(columns=["metric"])
    st.dataframe(view, hide_index=True, key="sweep_table")
    c1, c2 = st.columns(2)
    c1.download_button("Download runs (CSV)", table.to_csv(index=False), file_name="runs.csv",
                       mime="text/csv", key="dl_csv")
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    c2.download_button("Download runs (Parquet)", buf.getvalue(), file_name="runs.parquet",
                       mime="application/vnd.apache.parquet", key="dl_parquet")
    st.caption(f"{len(table)} runs · summary over replications: mean, std and a 95% interval.")

