"""The planner's "Warm starts" section (issue 15): cold vs lazy pull vs pool vs snapshot vs
keep-alive, side by side, for the headline workload on each compared runtime, with the memory
each warm strategy holds idle.

Its own module so that the planner page calls it in one line (:func:`render`). The runs come
from :func:`simcontainer.model.warm.strategy_table` on each like-for-like cell of the headline
workload (the workload alone, moved to the runtime), cached with ``st.cache_data`` keyed by the
cell's canonical TOML, and sized before they run with the planner's size guard
(:func:`simcontainer.faces.ui.runs.size`): five runs per runtime, run at once while small, behind a
button when bigger, refused past the planner's limit.
"""

from __future__ import annotations

import math
import re

import altair as alt
import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer.faces.ui import charts, runs
from simcontainer.faces.ui import estimate_marks as marks
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.profiles import figures, models_dir
from simcontainer.scenario.schema import Scenario
from simcontainer.studies import comparison, planner
from simcontainer.studies.warm_strategies import STRATEGIES, strategy_table

AUTO_MAX = runs.IN_PROCESS_MAX      # simulated requests over all strategy runs: run without asking
REFUSE_OVER = runs.REFUSE_OVER      # simulated requests over all strategy runs: refused
_computed: set[str] = set()         # cache keys this server has computed (shown without a button)

WHAT = {
    "cold": "every request starts an instance: pull (the image is not prepulled here, so the first "
            "request pulls it), create, boot. Holds no memory between requests.",
    "lazy pull": "as cold, with the image pulled lazily (eStargz): a start waits only for the bytes it "
                 "needs and the rest streams in while it runs. Holds no memory between requests.",
    "pool": "instances started ahead of time wait idle; a request takes one and a replacement starts at "
            "once. Its memory: the pool's idle instances, held all the time.",
    "snapshot": "each request restores a saved instance (Firecracker: snapshot load; runc, crun: CRIU "
                "restore): no pull, create or boot. Holds no memory between requests (a microVM then "
                "faults its memory in while it runs: CPU, not startup).",
    "keep-alive": "an instance that finishes stays up idle for the window and serves the next request. "
                  "Its memory: instances kept alive after their work, until the window ends.",
}
COLUMNS = ["Runtime", "Strategy", "Starts cold / warm / restored", "Startup p50", "Startup p95",
           "Idle RAM, mean", "Idle RAM over the horizon", "Fault CPU per restore", "Note"]


fmt = comparison.fmt_figure      # "—" when there is none (a statistic over no start, a skipped row)


def snapshot_runtimes() -> list[str]:
    """Runtimes with snapshot/CRIU restore figures (models/warm.toml)."""
    return sorted(figures()[1])


def budget(requests_per_cell: list[float]) -> float:
    """Simulated requests the section costs: every strategy replays each cell's arrivals."""
    return float(len(STRATEGIES) * sum(requests_per_cell))


def verdict(total: float) -> str:
    """'auto' (run now), 'ask' (behind a button) or 'refuse' for a section costing ``total`` requests."""
    if not math.isfinite(total) or total > REFUSE_OVER:
        return "refuse"
    return "auto" if total <= AUTO_MAX else "ask"


def shown_table(df: pd.DataFrame) -> pd.DataFrame:
    """strategy_table rows (with a ``runtime`` column) as text with human column names; "—" over nothing."""
    out = []
    for r in df.itertuples():
        skipped = r.requests != r.requests          # NaN: the strategy was not run
        restored = 0 if skipped else r.snapshot
        out.append([
            r.runtime, r.strategy,
            "—" if skipped else f"{r.cold:.0f} / {r.warm:.0f} / {r.snapshot:.0f}",
            marks.strategy_marked(fmt(r.startup_p50_s, ".3f", " s"), r.runtime, r.strategy),
            marks.strategy_marked(fmt(r.startup_p95_s, ".3f", " s"), r.runtime, r.strategy),
            fmt(r.idle_mean_mib, ",.0f", " MiB"),
            fmt(r.idle_mib_s / 1024.0 / 3600.0 if r.idle_mib_s == r.idle_mib_s else None, ",.2f", " GiB·h"),
            marks.strategy_marked(fmt(r.fault_s_per_start if restored else None, ".3f", " s"), r.runtime, "fault"),
            (r.note or "") if isinstance(r.note, str) else "",
        ])
    return pd.DataFrame(out, columns=COLUMNS)


def startup_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy and runtime for the startup chart: p50, p95 (NaN kept) and a label
    "p50 / p95 s" ("—" when the strategy was not run or nothing started)."""
    rows = []
    for r in df.itertuples():
        p50, p95 = float(r.startup_p50_s), float(r.startup_p95_s)
        text = "—" if p50 != p50 else marks.strategy_marked(f"{fmt(p50, '.3f')} / {fmt(p95, '.3f', ' s')}", r.runtime, r.strategy)
        rows.append({"strategy": r.strategy, "runtime": r.runtime, "p50": p50, "p95": p95, "text": text,
                     "pos": 0.0 if p95 != p95 else p95})
    return pd.DataFrame(rows)


POOL_EMPTY = ("No request found a pool instance ready: the pool fills when the run starts, so requests that "
              "come before it is up, or more at once than its size, start cold, and the pool's RAM buys nothing.")
KEEP_EMPTY = ("Keep-alive served no request: no instance ended and was asked for again within the window "
              "(e.g. instances that run for ever), so there was nothing to keep warm.")


def observations(df: pd.DataFrame, pool: int, keep_alive_s: float) -> list[str]:
    """Plain sentences: per runtime, the fastest start against cold and what each warm strategy held;
    then, once, why a warm strategy served nobody."""
    out, pool_empty, keep_empty = [], False, False
    for rt, g in df.groupby("runtime", sort=False):
        by = g.set_index("strategy")
        ran = g[g["requests"].notna() & g["startup_p50_s"].notna()]
        if ran.empty:
            continue
        best = ran.loc[ran["startup_p50_s"].idxmin()]
        s = (f"**{rt}**: cold p50 {fmt(by.loc['cold', 'startup_p50_s'], '.3f', ' s')}, fastest "
             f"{best['strategy']} {fmt(best['startup_p50_s'], '.3f', ' s')}")
        p, k = by.loc["pool"], by.loc["keep-alive"]
        if p["requests"] == p["requests"]:
            s += (f"; pool of {pool}: {p['warm']:.0f} of {p['requests']:.0f} warm for "
                  f"{fmt(p['idle_mean_mib'], ',.0f', ' MiB')} idle")
            pool_empty |= p["warm"] == 0 and p["requests"] > 0
        if k["requests"] == k["requests"]:
            s += (f"; keep-alive {keep_alive_s / 60:g} min: {k['warm']:.0f} warm for "
                  f"{fmt(k['idle_mean_mib'], ',.0f', ' MiB')} idle")
            keep_empty |= k["warm"] == 0 and k["requests"] > 0
        out.append(s + ".")
    return out + ([POOL_EMPTY] if pool_empty else []) + ([KEEP_EMPTY] if keep_empty else [])


@st.cache_data(show_spinner="Running cold, lazy pull, pool, snapshot and keep-alive ...", max_entries=64)
def strategies(toml_text: str, pool: int, keep_alive_s: float) -> tuple[pd.DataFrame | None, str]:
    """strategy_table of the (single-workload) scenario ``toml_text``: five runs, same arrivals;
    or (None, why) when the library refuses a warm path for it (kept in the cache too)."""

    scenario = sc.loads_scenario(toml_text, base_dir=models_dir() / "scenarios", source="what-if")
    try:
        return strategy_table(scenario, None, pool=pool, keep_alive_s=keep_alive_s), ""
    except (ScenarioError, ValueError) as exc:
        problems = getattr(exc, "problems", None) or [str(exc)]
        return None, "; ".join(re.sub(r"^workloads\.[^:]*\.warm: ", "", p) for p in problems)


SYMLOG = 0.01        # s: the symmetric-log scale is linear below this, logarithmic above


def startup_chart(data: pd.DataFrame, order: list[str]) -> alt.LayerChart:
    """p50 as a bar and p95 as a black tick per strategy and runtime, on a symmetric log scale (a
    5 ms restore and a 30 s VM boot on one axis; a warm start's 0 s still drawn)."""
    top = float(data["p95"].max()) if data["p95"].notna().any() else 1.0
    ticks = [t for t in (0, 0.01, 0.1, 1, 10, 100, 1000) if t <= max(top, 0.01) * 3]
    scale = alt.Scale(type="symlog", constant=SYMLOG, domain=[0, max(top, 0.01) * 8])
    y = alt.Y("strategy:N", title="strategy", sort=list(STRATEGIES), axis=alt.Axis(labelLimit=200))
    off = alt.YOffset("runtime:N", sort=order)
    base = alt.Chart(data)
    bars = base.mark_bar().encode(
        x=alt.X("p50:Q", title="startup, request to running (s; bar p50, tick p95; log scale)", scale=scale,
                axis=alt.Axis(values=ticks, format="~g")), y=y, yOffset=off,
        color=charts.runtime_color(order, legend=alt.Legend(orient="top")),
        tooltip=["strategy", "runtime", alt.Tooltip("p50:Q", format=".4f", title="p50 (s)"),
                 alt.Tooltip("p95:Q", format=".4f", title="p95 (s)")])
    ticks_p95 = base.mark_tick(color="black", thickness=2).encode(x=alt.X("p95:Q", scale=scale), y=y, yOffset=off)
    text = base.mark_text(align="left", dx=4, fontSize=10).encode(
        x=alt.X("pos:Q", scale=scale), y=y, yOffset=off, text="text:N")
    height = 18 * len(order) * len(STRATEGIES) + 140
    return (bars + ticks_p95 + text).properties(height=height, title="Warm starts: startup per strategy")


def memory_chart(df: pd.DataFrame, order: list[str]) -> alt.LayerChart:
    data = df[["strategy", "runtime", "idle_mean_mib"]].copy()
    data["idle_mean_mib"] = data["idle_mean_mib"].astype(float)
    data["pos"] = data["idle_mean_mib"].fillna(0.0)
    data["text"] = [fmt(v, ",.0f", " MiB") for v in data["idle_mean_mib"]]
    top = float(data["idle_mean_mib"].max()) if data["idle_mean_mib"].notna().any() else 1.0
    scale = alt.Scale(domain=[0, max(top, 1.0) * 1.35])
    y = alt.Y("strategy:N", title="strategy", sort=list(STRATEGIES), axis=alt.Axis(labelLimit=200))
    off = alt.YOffset("runtime:N", sort=order)
    base = alt.Chart(data)
    bars = base.mark_bar().encode(
        x=alt.X("idle_mean_mib:Q", title="idle warm instances: mean RAM held (MiB)", scale=scale), y=y, yOffset=off,
        color=charts.runtime_color(order, legend=alt.Legend(orient="top")),
        tooltip=["strategy", "runtime", alt.Tooltip("idle_mean_mib:Q", format=",.1f", title="MiB")])
    text = base.mark_text(align="left", dx=3, fontSize=10).encode(
        x=alt.X("pos:Q", scale=scale), y=y, yOffset=off, text="text:N")
    height = 18 * len(order) * len(STRATEGIES) + 140
    return (bars + text).properties(height=height, title="Warm starts: the memory bill (RAM held idle)")


def render(scenario: Scenario, lead: str, compare: list[str], guest: comparison.Guest | None = None,
           simulate: bool = True) -> None:
    """The section, for ``lead`` on each runtime of ``compare`` (nothing when no runtime is chosen,
    or when the planner does not simulate this what-if)."""
    if not compare or lead not in {w.name for w in scenario.workloads} or not simulate:
        return
    st.subheader("Warm starts: cold vs lazy pull vs pool vs snapshot vs keep-alive")
    st.caption(f"{lead} alone on each runtime compared, on the same arrivals, under each strategy; the image "
               "is not prepulled (the first cold request pulls it). Startup is request to running; idle RAM "
               "is what warm instances hold while serving nothing.")
    c1, c2 = st.columns(2)
    pool = int(c1.number_input("Pool size (pre-warmed instances)", min_value=1, max_value=64, value=2, step=1,
                               key="warm_pool"))
    keep_min = float(c2.number_input("Keep-alive window (minutes)", min_value=0.5, max_value=120.0, value=10.0,
                                     step=1.0, key="warm_keep",
                                     help="AWS Lambda kept idle instances about 10 minutes when the Azure "
                                          "Functions trace was taken (Shahrad et al., ATC 2020)"))
    cells, _ = comparison.like_for_like(scenario, [lead], compare, guest=guest)
    cells = [c for c in cells if c.workload == lead]
    if not cells:
        return
    snap = snapshot_runtimes()
    without = sorted({c.runtime for c in cells} - set(snap))
    if without:
        st.caption(f"Snapshot figures exist only for {', '.join(snap)} (models/warm.toml): "
                   f"{', '.join(without)} {'has' if len(without) == 1 else 'have'} no snapshot row.")
    total = budget([runs.size(c.scenario).requests for c in cells])
    texts = [planner.canonical(c.scenario) for c in cells]
    key = charts.content_key("warm", *texts, pool, keep_min)
    how = verdict(total)
    if how == "refuse":
        st.info(f"Not run: the five strategies would simulate {'an unbounded number of' if not math.isfinite(total) else f'about {total:,.0f}'} "
                f"requests on {len(cells)} runtime{'s' if len(cells) > 1 else ''}; the app runs at most "
                f"{REFUSE_OVER:,}. Lower the rate or the horizon.")
        return
    if how == "ask" and key not in _computed and not st.button(
            f"Run the warm-start comparison (about {total:,.0f} simulated requests)", key="warm_run"):
        st.caption("Not run automatically: it is bigger than the planner's quick runs.")
        return
    frames, order, missing = [], [], {}
    for t, c in zip(texts, cells):
        got, why = strategies(t, pool, keep_min * 60.0)
        if got is None:
            missing.setdefault(why, []).append(c.entry)
            continue
        frames.append(got.assign(runtime=c.entry))
        order.append(c.entry)
    for why, entries in missing.items():     # one notice per reason, naming every runtime it holds for
        st.info(f"Warm starts not shown for {', '.join(entries)}: {why}")
    _computed.add(key)
    if not frames:
        return
    df = pd.concat(frames, ignore_index=True)
    st.markdown("\n".join("- " + line for line in observations(df, pool, keep_min * 60.0)))
    left, right = st.columns(2)
    charts.show(left, charts.content_key("warm-startup", key), lambda: startup_chart(startup_frame(df), order))
    charts.show(right, charts.content_key("warm-memory", key), lambda: memory_chart(df, order))
    st.dataframe(shown_table(df), hide_index=True, key="warm_table", width="stretch",
                 placeholder="—")
    marks.note(st, order, ("startup", "restore"), what="startups and restores")
    st.caption("What each strategy is, and what its memory means: "
               + " ".join(f"**{k}**: {v}" for k, v in WHAT.items())
               + " Idle RAM over the horizon: MiB-seconds held idle / 3600 / 1024. Fault CPU per restore: "
                 "page-fault work after a snapshot restore (estimate, models/warm.toml). \"—\": a figure over "
                 "no start, or a strategy not run.")
