"""Sweeps: vary one or two settings of the current what-if over a range, with replications.

Runs go one at a time in the script, each one a checkpoint: a Stop (or any widget change) ends
the sweep between two runs and keeps every run finished so far. Changing the design after a run
marks the chart as stale until the sweep runs again.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer.faces.ui import charts, runs, state
from simcontainer.scenario.errors import ScenarioError
from simcontainer.studies import comparison, planner, planner_sweeps
from simcontainer.studies.sensitivity import run_sensitivity
from simcontainer.studies.sweep_design import SweepSpec, parse_sweep
from simcontainer.studies.sweep_store import flatten_metrics, runs_table

NONE = "(none)"
REPLICATIONS = 3                 # at least three seeds per point, so an interval means something
SWEEP_MAX_REQUESTS = 2_000_000   # all runs of a sweep together, in the server's process


def design() -> dict[str, Any]:
    """The sweep design as last set (kept when the page is left, and in the link's ``?sw=``)."""
    kept = st.session_state.get("sweep_design")
    if kept is None:
        try:
            kept = json.loads(st.query_params.get("sw") or "{}")
        except ValueError:
            kept = {}
        st.session_state["sweep_design"] = kept = kept if isinstance(kept, dict) else {}
    return kept


def keep(name: str, value: Any) -> Any:
    design()[name] = value
    return value


def save_design() -> None:
    text = json.dumps(design(), sort_keys=True, separators=(",", ":"))
    if st.query_params.get("sw") != text:
        st.query_params["sw"] = text


def axis_inputs(label: str, params: dict[str, float], choices: dict[str, list[str]], default: str, key: str,
                allow_none: bool = False) -> tuple[str, list[Any]] | None:
    options = ([NONE] if allow_none else []) + list(params) + list(choices)
    was = design().get(f"{key}_path", default)
    path = keep(f"{key}_path", st.selectbox(
        label, options, index=options.index(was if was in options else default), key=f"{key}_path",
        format_func=lambda p: p if p == NONE else planner_sweeps.metric_label(p),
        help="numbers vary over a range; runtime, placement and admission over chosen values"))
    if path == NONE:
        return None
    if path in choices:
        opts = choices[path]
        fmt = comparison.describe if path.endswith(".runtime") else str   # a runtime with its kernel and plane
        was = [o for o in design().get(f"{key}_values_{path}", opts[: min(3, len(opts))]) if o in opts]
        picked = keep(f"{key}_values_{path}", st.multiselect("values", opts, default=was, key=f"{key}_values_{path}",
                                                             format_func=fmt))
        return (path, picked) if picked else None
    cur = params[path]
    c1, c2, c3 = st.columns(3)
    d = design()
    low = keep(f"{key}_low_{path}", c1.number_input(
        "from", value=float(d.get(f"{key}_low_{path}", cur * 0.5 if cur else 0.0)), key=f"{key}_low_{path}"))
    high = keep(f"{key}_high_{path}", c2.number_input(
        "to", value=float(d.get(f"{key}_high_{path}", cur * 1.5 if cur else 1.0)), key=f"{key}_high_{path}"))
    steps = keep(f"{key}_steps_{path}", int(c3.number_input(
        "steps", 1, 25, int(d.get(f"{key}_steps_{path}", 5 if not allow_none else 3)), key=f"{key}_steps_{path}")))
    if high < low:
        st.error(f"{path}: 'to' ({high:g}) is below 'from' ({low:g}); swap them.")
        return None
    return path, planner_sweeps.sweep_values(path, low, high, int(steps))


def design_key(base_toml: str, axes: dict[str, list[Any]], reps: int) -> str:
    return charts.content_key(base_toml, sorted((k, tuple(v)) for k, v in axes.items()), reps)


def render() -> None:
    st.title("Sweep")
    base = state.current()
    st.caption(f"Starts from the planner's current what-if, **{base.name}**; every other setting stays as it is.")
    params = planner_sweeps.sweep_parameters(base)
    choices = planner_sweeps.sweep_choices(base)
    first = "host.cpu_cores" if "host.cpu_cores" in params else next(iter(params))
    one = axis_inputs("First setting", params, choices, first, "a1")
    two = axis_inputs("Second setting (optional)", params, choices, NONE, "a2", allow_none=True)
    reps = keep("reps", int(st.number_input("Replications (seeds) per point", 1, 20,
                                            int(design().get("reps", REPLICATIONS)), key="reps",
                                            help="at least 3 for an interval; each replication is another seed")))
    save_design()
    if one is None:
        st.info("Pick the values of the first setting.")
        return
    axes = {one[0]: one[1]}
    if two is not None and two[0] != one[0]:
        axes[two[0]] = two[1]
    total = reps * int(pd.Series([len(v) for v in axes.values()]).prod())
    st.caption(f"{total} runs: " + " × ".join(f"{k} ∈ {v}" for k, v in axes.items()) + f" × {reps} seeds")
    base_toml = planner.canonical(base)
    key = design_key(base_toml, axes, reps)
    export(base, axes, reps)
    if st.button("Run sweep", type="primary", key="run_sweep"):
        run(base, axes, reps, key)
    result = st.session_state.get("sweep")
    if result is None:
        if st.query_params.get("sw") and not st.session_state.get("sweep_ran_here"):
            st.info("This link (or a reload) restored the sweep's design, not its results: results live in "
                    "the browser session that ran them. Press Run sweep to run it again, or export it below.")
        return
    if result["design"] != key:
        st.warning("The design changed since this sweep ran: the chart and table below are for the old "
                   "design (" + " × ".join(f"{k} ∈ {v}" for k, v in result["axes_values"].items())
                   + "). Press Run sweep for the new one.")
    show(result, f"workloads.{base.workloads[0].name}.startup_s.p95", stale=result["design"] != key)


def export(base: Any, axes: dict[str, list[Any]], reps: int) -> None:
    with st.expander("Export this sweep (TOML for `simcontainer sweep`)"):
        name = base.name
        c1, c2 = st.columns(2)
        c1.download_button("Sweep file", planner_sweeps.sweep_toml(axes, reps, f"{name}.toml"),
                           file_name=f"{name}-sweep.toml", mime="application/toml", key="dl_sweep_toml")
        c2.download_button("Its base scenario", planner.canonical(base), file_name=f"{name}.toml",
                           mime="application/toml", key="dl_sweep_base")
        st.caption(f"Save both in one folder and run `simcontainer sweep {name}-sweep.toml`.")


def run(base: Any, axes: dict[str, list[Any]], reps: int, key: str) -> None:
    """Run the grid one run at a time, keeping finished runs in the session as they come."""
    try:
        spec = planner_sweeps.sweep_spec(base, axes, reps)
    except ScenarioError as exc:
        st.error("The sweep cannot run:\n\n" + "\n".join(f"- `{p}`" for p in exc.problems))
        return
    sizes = [runs.size(s) for s in spec.scenarios]
    refused = [runs.refusal(s, z) for s, z in zip(spec.scenarios, sizes) if z.refused]
    requests = sum(z.requests for z in sizes) * reps
    if refused or requests > SWEEP_MAX_REQUESTS:
        st.error(refused[0] if refused else
                 f"Not run: the sweep would make about {requests:,.0f} start requests in all; the app runs at "
                 f"most {SWEEP_MAX_REQUESTS:,} per sweep. Export it and run `simcontainer sweep` instead.")
        return
    results: dict[str, Any] = {}
    st.session_state["sweep_ran_here"] = True
    st.session_state["sweep"] = {"design": key, "spec": spec, "results": results, "axes": list(axes),
                                 "axes_values": dict(axes), "total": spec.n_runs, "stopped": True}
    slot = st.empty()            # a placeholder: emptying it removes the bar and the button
    box = slot.container()
    bar = box.progress(0.0, text=f"0 / {spec.n_runs} runs")
    box.button("Stop sweep", key="stop_sweep", help="Stop after the current run; finished runs are kept")
    start = time.monotonic()
    todo = list(spec.runs())
    for i, r in enumerate(todo, 1):
        if r.key not in results:
            results[r.key] = flatten_metrics(sc.simulate(spec.scenarios[r.point], r.seed).summary)
        left = planner_sweeps.eta_s(i, len(todo), time.monotonic() - start)
        bar.progress(i / len(todo), text=f"{i} / {len(todo)} runs"
                     + (f" · about {left:.0f} s left" if left is not None else ""))
    st.session_state["sweep"]["stopped"] = False
    slot.empty()


def tables(result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec, axes = result["spec"], result["axes"]
    table = runs_table(spec, result["results"])
    metrics = [c for c in table.columns if c not in {"point", "replication", "seed", "key", *axes}]
    return table, planner_sweeps.sweep_summary(table, axes, metrics)


def show(result: dict[str, Any], preferred: str, stale: bool = False) -> None:
    table, summary = tables(result)
    axes = result["axes"]
    done, total = len(table), result["total"]
    if result.get("stopped") and done < total:
        st.info(f"Stopped: {done} of {total} runs finished and kept; the chart and table show those.")
    if summary.empty:
        st.info("No run finished yet.")
        return
    metrics = sorted((m for m in summary["metric"].unique() if planner_sweeps.metric_shown(m)),
                     key=planner_sweeps.metric_label)
    if not metrics:
        st.info("No metric to show.")
        return
    first_wl = preferred if preferred in metrics else metrics[0]
    was = design().get("metric", first_wl)
    metric = keep("metric", st.selectbox("Metric", metrics, index=metrics.index(was if was in metrics else first_wl),
                                         key="metric", format_func=planner_sweeps.metric_label))
    title = ("(stale) " if stale else "")
    label = planner_sweeps.metric_label(metric)
    if len(axes) == 1:
        st.altair_chart(charts.sweep_line(summary, axes[0], metric, title, label), width="stretch")
    else:
        st.altair_chart(charts.sweep_heatmap(summary, axes[0], axes[1], metric, title, label), width="stretch")
    view = summary[summary["metric"] == metric].drop(columns=["metric", "point"])
    st.dataframe(view.rename(columns={"runs": "runs", "n": "runs with a value", "mean": "mean",
                                      "ci95_low": "95% low", "ci95_high": "95% high"}),
                 hide_index=True, key="sweep_table", placeholder="", column_config={
                     c: st.column_config.NumberColumn(format="%.3g") for c in ("mean", "95% low",
                                                                               "95% high")})
    c1, c2 = st.columns(2)
    name = state.current().name
    c1.download_button("Download runs (CSV)", table.to_csv(index=False), file_name=f"{name}-sweep-runs.csv",
                       mime="text/csv", key="dl_csv")
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    c2.download_button("Download runs (Parquet)", buf.getvalue(), file_name=f"{name}-sweep-runs.parquet",
                       mime="application/vnd.apache.parquet", key="dl_parquet")
    sensitivity(result, metric)
    st.caption(f"{done} runs · per point: the mean over replications and a 95% interval of the mean (Student t, as `simcontainer sweep`, kept within what the figure can be) "
               "of it (it stays within the values seen, so a latency's interval never goes below zero); "
               "'runs with a value' counts the runs where the figure exists (a latency has none when nothing "
               "started).")


# --------------------------------------------------------------------------- sensitivity (tornado)

SENS_SAMPLES = {"morris": [4, 8, 16, 32], "sobol": [4, 8, 16, 32, 64]}


def sensitivity_spec(spec: SweepSpec) -> SweepSpec:
    """The sweep's settings as factors: a numeric grid becomes its range, other values stay a list."""
    axes: dict[str, Any] = {}
    for a in spec.axes:
        vals = list(a.grid_values())
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals)
        if numeric and len(set(vals)) > 1:
            axes[a.path] = {"low": min(vals), "high": max(vals)}
        else:
            axes[a.path] = vals
    return parse_sweep({"mode": "random", "samples": 1, "replications": spec.replications, "axes": axes},
                       base_scenario=spec.base)


def sensitivity(result: dict[str, Any], metric: str) -> None:
    """Rank the swept settings by their effect on ``metric`` (simcontainer.studies.sensitivity) as a tornado."""
    with st.expander("Which setting moves this figure most? (sensitivity, tornado chart)"):
        c1, c2 = st.columns(2)
        method = c1.radio("Method", ["morris", "sobol"], horizontal=True, key="sens_method",
                          help="Morris: elementary effects, cheap screening; Sobol: shares of the variance")
        samples = int(c2.selectbox("Trajectories" if method == "morris" else "Base samples", SENS_SAMPLES[method],
                                   index=1, key=f"sens_samples_{method}"))
        spec = result["spec"]
        d = len(spec.axes)
        n_runs = samples * (d + (1 if method == "morris" else 2)) * spec.replications
        st.caption(f"Draws the settings over their whole ranges ({n_runs} runs), not only on the grid above.")
        if st.button("Rank the settings", key="sens_run"):
            requests = runs.size(spec.base).requests * n_runs
            if requests > SWEEP_MAX_REQUESTS:
                st.error(f"Not run: about {requests:,.0f} start requests in all; the app runs at most "
                         f"{SWEEP_MAX_REQUESTS:,}. Export the sweep and run `simcontainer sensitivity` instead.")
            else:
                try:
                    with st.spinner(f"{n_runs} runs ..."):
                        res = run_sensitivity(sensitivity_spec(spec), method, samples=samples, metrics=[metric],
                                              workers=1)
                except ScenarioError as exc:
                    st.error("\n".join(exc.problems))
                    return
                st.session_state["sensitivity"] = {"design": result["design"], "metric": metric, "method": method,
                                                   "rows": res.of(metric), "skipped": res.skipped}
        stored = st.session_state.get("sensitivity")
        if stored is None or stored["design"] != result["design"] or stored["metric"] != metric:
            return
        if stored["rows"].empty:
            st.info(f"{metric}: {stored['skipped'].get(metric, 'no value to rank')}.")
            return
        st.altair_chart(tornado(stored["rows"], stored["method"], metric), width="stretch")
        what = ("total-order Sobol index ST (bar) with S1 (tick): the share of the figure's variance the "
                "setting explains with (without) its interplay with the others"
                if stored["method"] == "sobol" else
                "Morris μ*: the mean absolute change of the figure when the setting moves across its range")
        st.caption(f"Bars: {what}; whiskers: 95% bootstrap intervals. Same analysis from the command line: "
                   "`simcontainer sensitivity SWEEP.toml --method morris|sobol`.")


def tornado(rows: pd.DataFrame, method: str, metric: str) -> alt.LayerChart:
    """Horizontal bars, the largest effect on top, with their 95% intervals."""
    key, conf = ("ST", "ST_conf") if method == "sobol" else ("mu_star", "mu_star_conf")
    df = rows.assign(value=rows[key], low=(rows[key] - rows[conf]).clip(lower=0), high=rows[key] + rows[conf])
    order = list(df.sort_values("value", ascending=False)["axis"])
    y = alt.Y("axis:N", sort=order, title=None, axis=alt.Axis(labelLimit=320))
    title = "ST (total-order index)" if method == "sobol" else f"μ* of {metric}"
    bars = alt.Chart(df).mark_bar(color="#457b9d").encode(
        x=alt.X("value:Q", title=title), y=y,
        tooltip=["axis", alt.Tooltip("value:Q", format=".3g", title=key), alt.Tooltip(f"{conf}:Q", format=".3g")])
    whiskers = alt.Chart(df).mark_rule(color="black").encode(x="low:Q", x2="high:Q", y=y)
    chart = bars + whiskers
    if method == "sobol":
        chart = chart + alt.Chart(df).mark_tick(color="#e63946", thickness=3, size=18).encode(x="S1:Q", y=y)
    return chart.properties(height=60 + 40 * len(df), title=f"What {metric} hangs on")
