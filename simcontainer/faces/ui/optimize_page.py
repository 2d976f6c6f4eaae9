"""Find the cheapest: the SLO search (simcontainer.studies.optimize) on the planner's current what-if.

Pick the knobs (ranges or values), what "cheap" means (hosts, reserved GiB, a price per hour)
and the SLOs of one workload; the study runs a batch of trials at a time in this process, each
batch a checkpoint (a Stop, or any widget change, ends it between two batches and keeps every
trial so far). The chart shows every trial: cost against p95 startup, the feasible ones filled,
the best ringed; "Open in the planner" carries the best configuration as a ``?s=`` link.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from simcontainer.faces.ui import charts, runs, state
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.schema import Scenario
from simcontainer.studies import comparison, planner, planner_sweeps
from simcontainer.studies.optimize import (
    OptimizeResult,
    parse_optimize,
    point_scenario,
    run_optimize,
)

OBJECTIVES = {"hosts": "Hosts", "reserved_gib": "Reserved RAM (GiB)", "cost_per_hour": "Cost per hour"}
STUDY_MAX_REQUESTS = 2_000_000     # all runs of a study together, in the server's process
INTEGER_KNOBS = ("host.count", "host.cpu_cores", "daemon.max_concurrent_downloads", "daemon.api_workers")


def knob_inputs(base: Scenario) -> dict[str, Any]:
    """The search space as an optimize file's ``[space]`` table."""
    params = planner_sweeps.sweep_parameters(base)
    choices = planner_sweeps.sweep_choices(base)
    options = list(params) + list(choices)
    picked = st.multiselect("Knobs to search", options, default=["host.count"], key="opt_knobs",
                            help="numbers over a range; runtime, placement and admission over chosen values")
    space: dict[str, Any] = {}
    for path in picked:
        if path in choices:
            opts = choices[path]
            fmt = comparison.describe if path.endswith(".runtime") else str
            vals = st.multiselect(path, opts, default=opts[: min(3, len(opts))], key=f"opt_v_{path}", format_func=fmt)
            if vals:
                space[path] = vals
            continue
        cur = params[path]
        c1, c2, c3 = st.columns([2, 2, 1])
        if path in INTEGER_KNOBS:
            low = int(c1.number_input(f"{path} from", 1, 100_000, 1, key=f"opt_lo_{path}"))
            high = int(c2.number_input("to", 1, 100_000, max(2, int(cur) * 2), key=f"opt_hi_{path}"))
        else:
            low = float(c1.number_input(f"{path} from", value=float(cur * 0.25 or 0.1), key=f"opt_lo_{path}"))
            high = float(c2.number_input("to", value=float(cur * 2 or 1.0), key=f"opt_hi_{path}"))
        log = c3.checkbox("log", key=f"opt_log_{path}", help="search on a log scale (both ends > 0)")
        space[path] = {"low": low, "high": high, "log": log}
    return space


def slo_inputs(base: Scenario) -> dict[str, Any]:
    """The constraints on one workload, as an optimize file's ``[constraints]`` table."""
    names = [w.name for w in base.workloads]
    w = st.selectbox("SLOs of workload", names, index=names.index(state.lead_default(names)), key="opt_slo_w")
    c1, c2, c3 = st.columns(3)
    out: dict[str, Any] = {}
    which = c1.selectbox("startup percentile", ["p95", "p99"], key="opt_pct")
    if c1.checkbox(f"{which} startup at most (s)", True, key="opt_p95_on"):
        out[f"workloads.{w}.startup_s.{which}"] = {"max": float(c1.number_input("s", 0.01, 3600.0, 2.0, key="opt_p95"))}
    if c2.checkbox("never started at most (%)", True, key="opt_ns_on"):
        pct = float(c2.number_input("%", 0.0, 100.0, 1.0, key="opt_ns"))
        out[f"workloads.{w}.fractions.never_started"] = {"max": pct / 100.0}
    if c3.checkbox("availability at least (%)", False, key="opt_av_on"):
        pct = float(c3.number_input("% ", 0.0, 100.0, 99.9, key="opt_av"))
        out[f"workloads.{w}.lifecycle.availability"] = {"min": pct / 100.0}
    if c3.checkbox("OOM kills per 1,000 instance-hours at most", False, key="opt_oom_on",
                   help="needs the memory model (a workload with usage or mem_limit_mib): without it the figure "
                        "does not exist and no configuration passes"):
        out[f"memory.workloads.{w}.oom_kills_per_1000_h"] = {"max": float(c3.number_input("kills", 0.0, 1e6, 1.0,
                                                                                          key="opt_oom"))}
    return out


def render() -> None:
    st.title("Find the cheapest")
    base = state.current()
    st.caption(f"Searches knobs of the planner's current what-if, **{base.name}**, for the cheapest set-up whose "
               "SLOs hold on the 95% upper bound over the seeds (not on one lucky seed). Optuna's TPE sampler.")
    space = knob_inputs(base)
    c1, c2, c3 = st.columns(3)
    objective = c1.radio("Cheapest by", list(OBJECTIVES), format_func=OBJECTIVES.get, key="opt_obj")
    cost = {}
    if objective == "cost_per_hour":
        cost = {"per_host_hour": float(c2.number_input("price per host-hour", 0.0, 1e6, 0.30, key="opt_ph")),
                "per_gib_hour": float(c3.number_input("price per GiB-hour", 0.0, 1e6, 0.005, format="%.4f",
                                                      key="opt_pg"))}
    constraints = slo_inputs(base)
    lead = st.session_state.get("opt_slo_w") or base.workloads[0].name
    tradeoff = st.checkbox("Trade-off: also minimise p95 startup (a Pareto front of cost against speed)", False,
                           key="opt_pareto", help="two objectives: every configuration no other beats on both")
    c1, c2 = st.columns(2)
    trials = int(c1.number_input("Trials", 2, 500, 20, key="opt_trials"))
    reps = int(c2.number_input("Seeds per trial", 2, 20, 3, key="opt_reps", help="the SLOs are judged over these"))
    if not space:
        st.info("Pick at least one knob and its values.")
        return
    data = {"trials": trials, "replications": reps, "seed": base.seed, "parallel_trials": 2, "startup_trials": 6,
            "space": space, "objectives": {objective: "minimize"}, "constraints": constraints, "cost": cost}
    if tradeoff:
        data["objectives"][f"workloads.{lead}.startup_s.p95"] = "minimize"
    key = charts.content_key(planner.canonical(base), repr(sorted(data.items(), key=str)))
    if st.button("Find the cheapest", type="primary", key="opt_run"):
        run(base, data, key)
    result = st.session_state.get("optimize")
    if result is not None:
        if result["key"] != key:
            st.warning("The settings changed since this search ran: below is the old search. Press the button "
                       "for the new one.")
        show(result["res"], result["objective"], result.get("stopped", False))


def run(base: Scenario, data: dict[str, Any], key: str) -> None:
    """Run the study a batch at a time, redrawing the trials as they arrive."""
    try:
        spec = parse_optimize(data, base_scenario=base, source="search")
    except ScenarioError as exc:
        st.error("The search cannot run:\n\n" + "\n".join(f"- `{p}`" for p in exc.problems))
        return
    # the largest trial: each knob at each of its ends (closed-form sizes, nothing runs)
    ends = [base] + [point_scenario(base, {a.path: v}, a.path) for a in spec.knobs for v in a.ends()]
    sizes = [(sc_, runs.size(sc_)) for sc_ in ends]
    refused = next((runs.refusal(sc_, z) for sc_, z in sizes if z.refused), None)
    requests = max(z.requests for _, z in sizes) * spec.replications * spec.trials
    if refused or requests > STUDY_MAX_REQUESTS:
        st.error(refused or f"Not run: the search could make about {requests:,.0f} start requests in all; the app "
                 f"runs at most {STUDY_MAX_REQUESTS:,}. Export the scenario and run `simcontainer optimize` instead.")
        return
    previous = (st.session_state.get("optimize") or {}).get("folder")
    if previous:
        shutil.rmtree(previous, ignore_errors=True)     # one study's files per session, not one per click
    folder = tempfile.mkdtemp(prefix="simcontainer-optimize-")   # the study's journal: each batch continues it
    objective = next(iter(data["objectives"]))
    st.session_state["optimize"] = {"key": key, "res": None, "objective": objective, "stopped": True,
                                    "folder": folder}
    slot = st.empty()
    box = slot.container()
    bar = box.progress(0.0, text=f"0 / {spec.trials} trials")
    box.button("Stop", key="opt_stop", help="Stop after the current batch; finished trials are kept")
    live = box.empty()
    for n in range(spec.parallel_trials, spec.trials + spec.parallel_trials, spec.parallel_trials):
        res = run_optimize(spec, out=folder, trials=min(n, spec.trials), workers=1)
        st.session_state["optimize"]["res"] = res
        bar.progress(len(res.trials) / spec.trials, text=f"{len(res.trials)} / {spec.trials} trials")
        live.altair_chart(trials_chart(res, objective), width="stretch")
    st.session_state["optimize"]["stopped"] = False
    slot.empty()


def trials_chart(res: OptimizeResult, objective: str) -> alt.LayerChart:
    """Every trial: the objective against the first SLO's bound, feasible filled, best ringed."""
    df = res.trials.copy()
    x = f"objective.{objective}"
    bounds = [c for c in df.columns if c.startswith("bound.")]
    second = [f"objective.{o.name}" for o in res.spec.objectives[1:]]
    y = second[0] if second else bounds[0] if bounds else x
    df["verdict"] = df["feasible"].map({True: "meets the SLOs", False: "misses an SLO"})
    base = alt.Chart(df.dropna(subset=[x, y]))
    points = base.mark_point(size=90, filled=True).encode(
        x=alt.X(f"{x}:Q", title=OBJECTIVES.get(objective, objective)),
        y=alt.Y(f"{y}:Q", title=y.removeprefix("objective.") + " (mean)" if second else
                y.removeprefix("bound.") + " (95% bound)"),
        color=alt.Color("verdict:N", title="", scale=alt.Scale(domain=["meets the SLOs", "misses an SLO"],
                                                               range=["#2a9d8f", "#e76f51"])),
        tooltip=["trial", *[a.path for a in res.spec.knobs], alt.Tooltip(f"{x}:Q", format=".3g"),
                 alt.Tooltip(f"{y}:Q", format=".3g", title="bound")])
    best = base.transform_filter(alt.datum.pareto).mark_point(size=400, shape="circle", strokeWidth=2,
                                                              color="black").encode(x=f"{x}:Q", y=f"{y}:Q")
    front = base.transform_filter(alt.datum.pareto).mark_line(color="black", strokeDash=[2, 2]).encode(
        x=f"{x}:Q", y=f"{y}:Q", order=f"{x}:Q")
    chart = points + best + front
    if bounds and not second:
        limit = next(c for c in res.spec.constraints if c.metric == y.removeprefix("bound."))
        rule = alt.Chart(pd.DataFrame({"limit": [limit.max if limit.max is not None else limit.min]}))
        chart = chart + rule.mark_rule(strokeDash=[4, 4]).encode(y="limit:Q")
    title = "Trials and their Pareto front (ringed)" if second else "Trials: cost against the SLO (dashed: the limit)"
    return chart.properties(height=340, title=title)


def show(res: OptimizeResult | None, objective: str, stopped: bool) -> None:
    if res is None or res.trials.empty:
        st.info("No trial finished yet.")
        return
    if stopped:
        st.info(f"Stopped: {len(res.trials)} trials finished and kept.")
    st.altair_chart(trials_chart(res, objective), width="stretch")
    if res.best is None:
        st.warning("No configuration met every SLO: widen the knobs' ranges, loosen an SLO, or add trials.")
    else:
        row = res.pareto.iloc[0]
        knobs = ", ".join(f"**{a.path}** = {row[a.path]}" for a in res.spec.knobs)
        st.success(f"Cheapest that meets the SLOs (trial {res.best_trial}): {knobs} · "
                   f"{OBJECTIVES.get(objective, objective)} {row[f'objective.{objective}']:.4g}"
                   + (f" · {len(res.pareto)} configurations on the Pareto front (table: `pareto`)"
                      if len(res.spec.objectives) > 1 else ""))
        c1, c2, c3 = st.columns(3)
        c1.link_button("Open in the planner", f"planner?s={planner.encode_scenario(res.best)}",
                       help="a link to the planner with this configuration (opens in a new tab)")
        if c2.button("Use it here", key="opt_use", help="make it the planner's what-if in this tab"):
            state.replace_base(res.best)
            st.info("The planner now starts from this configuration: open **Planner** in the menu.")
        c3.download_button("best.toml", planner.canonical(res.best), file_name=f"{res.best.name}-best.toml",
                           mime="application/toml", key="opt_dl")
    view = res.trials.drop(columns=["state"]).rename(columns=lambda c: c.replace("objective.", "").replace("bound.", "≤ "))
    st.dataframe(view, hide_index=True, key="opt_table", placeholder="")
    st.caption(f"{len(res.trials)} trials × {res.spec.replications} seeds; a trial meets an SLO when the 95% one-sided bound of its mean over the seeds does. "
               "The same search from the command line: `simcontainer optimize` (docs/reference/optimize-files.md).")
