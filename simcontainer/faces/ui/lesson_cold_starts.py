"""Learn lesson "Cold starts and how platforms hide them" (issue 15): pull, lazy pull, pool,
snapshot and keep-alive side by side, with the memory each warm strategy holds.

Its own module so that the lesson's registration is one line in :mod:`simcontainer.faces.ui.app`.
The runs come from :func:`simcontainer.model.warm.strategy_table` on ``models/scenarios/warm-paths.toml``
(one function of the Azure-shaped stand-in trace, ``models/traces/``), cached with
``st.cache_data`` so the page stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer.faces.ui import charts, learn_page
from simcontainer.faces.ui import estimate_marks as marks
from simcontainer.studies import comparison
from simcontainer.studies.warm_strategies import strategy_table

SLUG = "cold-starts"
TITLE = "Cold starts and how platforms hide them"
SCENARIO = Path(__file__).resolve().parents[3] / "models" / "scenarios" / "warm-paths.toml"
# The lesson's two runtimes and the scenario workload that runs each (same trace function, 256 MiB).
RUNTIMES = {"runc": "fn-cold", "Firecracker": "fn-snapshot"}
SEED = 11
SNAPSHOT_HOW = {"runc": "CRIU restore", "Firecracker": "snapshot load"}
ENTRY = {"runc": "runc", "Firecracker": "firecracker"}     # each label's runtime (for the estimate mark)
WHAT = {
    "cold": "every request starts an instance: the first pulls the image, the rest find it cached",
    "lazy pull": "as cold, but the image is pulled lazily (eStargz): the start waits only for the bytes it needs",
    "pool": "instances started ahead of time wait idle; a request takes one, and a replacement starts at once",
    "snapshot": "each request restores a saved instance (runc: CRIU; Firecracker: snapshot load), "
                "no pull, no create, no boot",
    "keep-alive": "an instance stays up, idle, for the window after its work and serves the next request",
}


fmt = comparison.fmt_figure      # "—" when there is none (a statistic over no start)


@st.cache_data(show_spinner="Running the five strategies on the trace ...", max_entries=32)
def strategy_runs(pool: int, keep_alive_s: float) -> pd.DataFrame:
    """Every strategy on both runtimes, on the same arrivals: strategy_table's rows with a
    ``runtime`` column."""

    scen = sc.load_scenario(SCENARIO)
    frames = []
    for label, workload in RUNTIMES.items():
        df = strategy_table(scen, workload, pool=pool, keep_alive_s=keep_alive_s, seed=SEED)
        frames.append(df.assign(runtime=label))
    return pd.concat(frames, ignore_index=True)


@st.cache_data(max_entries=1)
def trace_facts() -> dict[str, Any]:
    """What the lesson's function does over the hour (from the scenario itself)."""

    scen = sc.load_scenario(SCENARIO)
    w = next(w for w in scen.workloads if w.name == RUNTIMES["runc"])
    return {"duration_s": scen.duration_s, "mem_mib": w.mem_mib, "life_s": w.lifetime.s}


def startup_chart(df: pd.DataFrame) -> alt.LayerChart:
    """Startup p50 and p95 per strategy and runtime, one bar each, labelled ("—": no start)."""
    rows = []
    for r in df.itertuples():
        for stat, col in (("p50", "startup_p50_s"), ("p95", "startup_p95_s")):
            v = getattr(r, col)
            rows.append({"strategy": r.strategy, "series": f"{r.runtime} {stat}", "seconds": v,
                         "text": marks.strategy_marked(fmt(v, ".3f", " s"), ENTRY[r.runtime], r.strategy)})
    data = pd.DataFrame(rows)
    data["seconds"] = data["seconds"].astype(float)
    top = float(data["seconds"].max()) if data["seconds"].notna().any() else 1.0
    order = [f"{rt} {s}" for rt in RUNTIMES for s in ("p50", "p95")]
    y = alt.Y("strategy:N", title="strategy", sort=list(WHAT), axis=alt.Axis(labelLimit=200))
    off = alt.YOffset("series:N", sort=order)
    scale = alt.Scale(domain=[0, max(top, 1e-3) * 1.35])
    base = alt.Chart(data)
    bars = base.mark_bar().encode(
        x=alt.X("seconds:Q", title="startup, request to running (s)", scale=scale),
        y=y, yOffset=off,
        color=alt.Color("series:N", title=None, sort=order, scale=alt.Scale(
            domain=order, range=["#9ecae1", "#3182bd", "#fdae6b", "#e6550d"]), legend=alt.Legend(orient="bottom")),
        tooltip=["strategy", "series", alt.Tooltip("seconds:Q", format=".4f", title="startup (s)")])
    text = base.transform_calculate(pos="datum.seconds > 0 ? datum.seconds : 0").mark_text(
        align="left", dx=4, fontSize=11).encode(x=alt.X("pos:Q", scale=scale), y=y, yOffset=off, text="text:N")
    return (bars + text).properties(height=420, title="Startup per strategy: p50 and p95 over the hour's requests")


def memory_chart(df: pd.DataFrame) -> alt.LayerChart:
    """Mean RAM held by idle warm instances per strategy and runtime (the memory bill)."""
    data = df[["strategy", "runtime", "idle_mean_mib"]].copy()
    data["idle_mean_mib"] = data["idle_mean_mib"].astype(float)
    data["text"] = [fmt(v, ",.0f", " MiB") for v in data["idle_mean_mib"]]
    top = float(data["idle_mean_mib"].max()) if data["idle_mean_mib"].notna().any() else 1.0
    scale = alt.Scale(domain=[0, max(top, 1.0) * 1.4])
    y = alt.Y("strategy:N", title="strategy", sort=list(WHAT), axis=alt.Axis(labelLimit=200))
    off = alt.YOffset("runtime:N", sort=list(RUNTIMES))
    color = alt.Color("runtime:N", title=None, sort=list(RUNTIMES),
                      scale=alt.Scale(domain=list(RUNTIMES), range=[charts.RUNTIME_COLORS["runc"],
                                                                    charts.RUNTIME_COLORS["firecracker"]]),
                      legend=alt.Legend(orient="bottom"))
    base = alt.Chart(data)
    bars = base.mark_bar().encode(
        x=alt.X("idle_mean_mib:Q", title="idle warm instances: mean RAM held (MiB)", scale=scale), y=y, yOffset=off,
        color=color, tooltip=["strategy", "runtime", alt.Tooltip("idle_mean_mib:Q", format=",.1f", title="MiB")])
    text = base.transform_calculate(pos="isValid(datum.idle_mean_mib) ? datum.idle_mean_mib : 0").mark_text(
        align="left", dx=4, fontSize=11).encode(x=alt.X("pos:Q", scale=scale), y=y, yOffset=off, text="text:N")
    return (bars + text).properties(height=420, title="The memory bill: RAM idle warm instances hold")


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The figures behind the charts, as text ("—" where a figure is over nothing)."""
    out = []
    for r in df.itertuples():
        skipped = bool(getattr(r, "note", "")) and (r.requests != r.requests)
        out.append({
            "strategy": r.strategy, "runtime": r.runtime,
            "starts cold / warm / restored": "—" if skipped else f"{r.cold:.0f} / {r.warm:.0f} / {r.snapshot:.0f}",
            **{f"startup {k}": marks.strategy_marked(fmt(v, ".3f", " s"), ENTRY[r.runtime], r.strategy)
               for k, v in (("p50", r.startup_p50_s), ("p95", r.startup_p95_s), ("max", r.startup_max_s))},
            "idle RAM, mean": fmt(r.idle_mean_mib, ",.0f", " MiB"),
            "idle RAM over the hour": fmt(r.idle_mib_s / 3600.0 / 1024.0 if r.idle_mib_s == r.idle_mib_s else None,
                                          ",.2f", " GiB·h"),
            "fault CPU per restore": marks.strategy_marked(fmt(r.fault_s_per_start if r.snapshot else None, ".3f", " s"),
                                                           ENTRY[r.runtime], "fault"),
            "note": getattr(r, "note", "") or "",
        })
    return pd.DataFrame(out)


def _row(df: pd.DataFrame, runtime: str, strategy: str) -> Any:
    return df[(df["runtime"] == runtime) & (df["strategy"] == strategy)].iloc[0]


def lesson() -> None:
    facts = trace_facts()
    st.markdown(
        "A **cold start** pays for everything before the app can answer: pulling the image, creating the "
        "instance, booting it. Function platforms see it on every request that finds nothing running, and "
        "they hide it in four ways: **lazy pulling** (start after fetching only the bytes the start needs), "
        "a **pool** of instances started ahead of time, a **snapshot** restored instead of booting, and "
        "**keep-alive** (an instance that finished stays up for a while in case the next request comes). "
        "The two that keep instances up (pool and keep-alive) pay in **memory**: an idle warm instance holds "
        "its RAM.")
    st.markdown(
        f"Here one function of the **Azure-shaped stand-in trace** (`models/traces/`, shaped after the Azure "
        f"Functions 2019 trace of Shahrad et al., ATC 2020: a call every minute or two) runs for "
        f"{facts['duration_s'] / 60:.0f} minutes, each call a {facts['mem_mib']:.0f} MiB instance that works "
        f"{facts['life_s']:g} s, under each strategy, on **runc** containers and on **Firecracker** microVMs. "
        "Every strategy sees the same requests at the same times.")
    c1, c2 = st.columns(2)
    pool = c1.slider("Pool size (pre-warmed instances)", 1, 8, 2, key="lcs_pool")
    keep_min = c2.slider("Keep-alive window (minutes)", 1, 30, 10, key="lcs_keep",
                         help="AWS Lambda kept idle instances about 10 minutes when the Azure trace was taken")
    df = strategy_runs(pool, keep_min * 60.0)

    cold, snap = _row(df, "runc", "cold"), _row(df, "Firecracker", "snapshot")
    ka = _row(df, "runc", "keep-alive")
    a, b, c, d = st.columns(4)
    marks.metric(a, "runc cold start, p50 (s)", fmt(cold["startup_p50_s"], ".3f"), ["runc"],
                 help="median time from request to running over the hour's requests, no warm path")
    marks.metric(b, "Firecracker snapshot start, p50 (s)", fmt(snap["startup_p50_s"], ".3f"), ["firecracker"],
                 marks.STRATEGY_BASIS["snapshot"],
                 help="median time from request to running when every request restores a snapshot")
    c.metric("runc keep-alive: cold starts", f"{ka['cold']:.0f} of {ka['requests']:.0f}",
             help="requests that found no idle instance kept alive and started cold")
    d.metric("runc pool: idle RAM (MiB)", fmt(_row(df, "runc", "pool")["idle_mean_mib"], ",.0f"),
             help="mean RAM held by the pool's idle instances over the hour: the price of starting at once")

    left, right = st.columns([3, 2])
    with left:
        charts.show(st, charts.content_key("cold-starts-startup", pool, keep_min), lambda: startup_chart(df))
    with right:
        charts.show(st, charts.content_key("cold-starts-memory", pool, keep_min), lambda: memory_chart(df))
    st.caption(
        "**Startup** is request to running: waiting for admission, the pull, create and boot (or the "
        "restore), over every request of the hour; p50 is the median request, p95 the slowest one in twenty. "
        "A request served by a warm instance starts at once (0 s). **Idle RAM** is the RAM held by warm "
        "instances that are up but serving nothing, averaged over the hour (the instances' own memory plus "
        "their runtime's overhead, e.g. the microVM's VMM); cold, lazy pull and snapshot keep nothing up. "
        "'—' marks a figure over no start.")

    marks.note(st, ENTRY.values(), ("startup", "restore"), what="startups and restores")

    st.subheader("Reading it")
    lazy = _row(df, "runc", "lazy pull")
    crui = _row(df, "runc", "snapshot")
    pool_rc = _row(df, "runc", "pool")
    st.markdown(
        f"- **Cold**: only the first request pulls the image (its start is the max, "
        f"{fmt(cold['startup_max_s'], '.2f', ' s')} on runc); the others find it cached and pay create and boot, "
        f"{fmt(cold['startup_p50_s'], '.2f', ' s')} at the median.\n"
        f"- **Lazy pull** shortens only that first start (max {fmt(lazy['startup_max_s'], '.2f', ' s')}): the "
        "rest of the image then streams in while the function runs, as run-time IO.\n"
        f"- **Pool** of {pool}: every request finds a warm instance ({pool_rc['warm']:.0f} of "
        f"{pool_rc['requests']:.0f} warm), for {fmt(pool_rc['idle_mean_mib'], ',.0f', ' MiB')} held idle all hour "
        "on runc, more on Firecracker (each microVM's VMM and guest).\n"
        f"- **Snapshot**: no pull, no boot. Firecracker restores in {fmt(snap['startup_p50_s'], '.3f', ' s')} "
        f"(its documented target at 2 vCPU / 512 MiB, scaled to this VM's size) but then faults its app's memory "
        f"in page by page: "
        f"{fmt(snap['fault_s_per_start'], '.2f', ' s')} of CPU per restore while the function runs, not counted "
        f"in startup. runc's CRIU restore reads the whole dump first: {fmt(crui['startup_p50_s'], '.2f', ' s')}.\n"
        f"- **Keep-alive** of {keep_min} min: {ka['cold']:.0f} of {ka['requests']:.0f} requests started cold, "
        f"for {fmt(ka['idle_mean_mib'], ',.0f', ' MiB')} idle on average; a rarer function would find its "
        "instance gone more often and pay the cold start again.")
    st.subheader("Every figure")
    st.dataframe(table(df), hide_index=True, width="stretch")
    st.caption("Starts cold / warm / restored: how each request was served. Idle RAM over the hour: the "
               "memory bill in GiB-hours (MiB-seconds of idle warm instances / 3600 / 1024). Fault CPU per "
               "restore: page-fault work after a snapshot restore (estimate, models/warm.toml). Strategy "
               "meanings: " + "; ".join(f"**{k}**: {v}" for k, v in WHAT.items()) + ".")


def render() -> None:
    learn_page.page(TITLE, lesson)()


def pages() -> dict[str, Any]:
    """The lesson's st.Page by its URL path (registered in :func:`simcontainer.faces.ui.app.pages`)."""
    return {f"learn-{SLUG}": st.Page(render, title=TITLE, url_path=f"learn-{SLUG}")}
