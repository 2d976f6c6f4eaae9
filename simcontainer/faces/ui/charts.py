"""Altair charts of tidy tables. Each function takes a DataFrame and returns a chart; no logic.

Building and validating an Altair chart costs ~0.1 s; :func:`show` caches the finished
Vega-Lite spec under a key naming its content, so a warm page draws its charts for free.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

# A chart's data goes to the browser whole; the pages bound what they draw (a per-host view past
# 50 hosts is a histogram), so Altair's 5,000-row guard would only turn a big run into a traceback.
alt.data_transformers.disable_max_rows()

PHASE_ORDER = ["wait", "pull", "create", "boot", "ready"]
PULL_PHASE_ORDER = ["wait", "pull: registry", "pull: download", "pull: extract", "create", "boot", "ready"]
# One colour per runtime on every page (Tableau 10, in the catalogue's order); a runtime behind
# another control plane ("runc under kubelet/...") takes the paired lighter shade (Tableau 20).
RUNTIME_COLORS = {"runc": "#4e79a7", "crun": "#59a14f", "gvisor": "#b07aa1", "kata": "#f28e2b",
                  "firecracker": "#e15759", "qemu-kvm": "#76b7b2", "cloud-hypervisor": "#edc948"}
ALT_COLORS = {"runc": "#a0cbe8", "crun": "#8cd17d", "gvisor": "#d4a6c8", "kata": "#ffbe7d",
              "firecracker": "#ff9d9a", "qemu-kvm": "#86bcb6", "cloud-hypervisor": "#f1ce63"}
OTHER_COLORS = ["#9c755f", "#bab0ac", "#ff9da7", "#79706e", "#d37295"]


def runtime_of(label: str) -> str:
    """The runtime a label names: 'runc under dockerd' -> 'runc', 'runc@kubelet' -> 'runc'."""
    return str(label).split(" ")[0].split("@")[0].lower()


def runtime_color(values: Any, title: str = "runtime", legend: Any = None) -> alt.Color:
    """A colour encoding of the ``runtime`` field that gives each runtime the same colour on every
    page (:data:`RUNTIME_COLORS`); a second entry of the same runtime (another control plane)
    takes its lighter shade."""
    domain = list(dict.fromkeys(str(v) for v in values))
    seen: set[str] = set()
    colors = []
    for i, label in enumerate(domain):
        rt = runtime_of(label)
        pick = (ALT_COLORS if rt in seen else RUNTIME_COLORS).get(rt, OTHER_COLORS[i % len(OTHER_COLORS)])
        seen.add(rt)
        colors.append(pick)
    return alt.Color("runtime:N", title=title, scale=alt.Scale(domain=domain, range=colors),
                     legend=legend if legend is not None else alt.Legend(labelLimit=300))


STATE_ORDER = ["requested", "waiting", "pulling", "creating", "created", "starting", "running", "paused",
               "stopping", "exited", "oom_killed", "failed"]


def density_bars(rows: pd.DataFrame) -> alt.Chart:
    """How many fit per runtime, coloured by the resource that binds."""
    return alt.Chart(rows).mark_bar().encode(
        x=alt.X("fits:Q", title="instances that fit"),
        y=alt.Y("runtime:N", sort="-x", title="runtime", axis=alt.Axis(labelLimit=300)),
        color=alt.Color("binding:N", title="binds first"),
        tooltip=["runtime", "workload", "fits", "binding",
                 alt.Tooltip("ram_overhead_share:Q", format=".0%", title="RAM overhead"),
                 alt.Tooltip("ram_per_instance_mib:Q", format=".0f", title="RAM per instance (MiB)")],
    ).properties(height=80 + 36 * len(rows), title="Density per runtime")


def tradeoff(rows: pd.DataFrame) -> alt.Chart:
    """Density against p95 startup: one point per runtime (up and to the left is better).

    Runtimes are told apart by colour (and kind by shape) in the legend, not by text next to the
    points: with seven runtimes, labels on the points overlap.
    """
    data = rows.dropna(subset=["fits", "startup_p95_s"])
    return alt.Chart(data).mark_point(size=160, filled=True).encode(
        x=alt.X("startup_p95_s:Q", scale=alt.Scale(type="log"), title="p95 startup (s, log)"),
        y=alt.Y("fits:Q", title="instances that fit"),
        color=runtime_color(data["runtime"]),
        shape=alt.Shape("kind:N", title="kind"),
        tooltip=["runtime", "kind", "fits", "binding", alt.Tooltip("startup_p95_s:Q", format=".2f", title="p95 (s)")],
    ).properties(height=260, title="Trade-off: density vs p95 startup")


def ecdf(df: pd.DataFrame, workload: str = "") -> alt.Chart:
    """Startup latency ECDF per runtime, as a fraction of the requests (it tops out below 1 when
    some never started)."""
    return alt.Chart(df).mark_line(interpolate="step-after").encode(
        x=alt.X("startup_s:Q", scale=alt.Scale(type="log"), title="startup, request to ready (s, log)"),
        y=alt.Y("fraction:Q", title="share started", scale=alt.Scale(domain=[0, 1])),
        color=runtime_color(df["runtime"]),
        tooltip=["runtime", alt.Tooltip("startup_s:Q", format=".3f", title="startup (s)"),
                 alt.Tooltip("fraction:Q", format=".2f", title="fraction of requests")],
    ).properties(height=260, title=f"Startup of {workload} (share of all requests)" if workload
                 else "Startup (share of all requests)")


def phases(df: pd.DataFrame) -> alt.Chart:
    """Mean startup broken into phases: stacked horizontal bars per runtime (the pull as
    registry / download / extract when the table splits it)."""
    order = PULL_PHASE_ORDER if df["phase"].astype(str).str.startswith("pull: ").any() else PHASE_ORDER
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("seconds:Q", stack="zero", title="mean seconds"),
        y=alt.Y("runtime:N", title="runtime", axis=alt.Axis(labelLimit=300)),
        color=alt.Color("phase:N", sort=order, scale=alt.Scale(domain=order)),
        order=alt.Order("order:Q"),
        tooltip=["runtime", "phase", alt.Tooltip("seconds:Q", format=".3f")],
    ).properties(height=max(150, 80 + 36 * df["runtime"].nunique()), title="Where startup time goes")


SERIES = {"running": ("running instances", 1.0), "ram_mib": ("RAM (GiB)", 1 / 1024),
          "cpu_util": ("CPU busy (%)", 100.0), "disk_mib": ("disk (GiB)", 1 / 1024)}


def series(ts: pd.DataFrame, column: str) -> alt.Chart:
    """One host metric over time (running, ram_mib, cpu_util or disk_mib), as a step line."""
    title, scale = SERIES[column]
    data = pd.DataFrame({"time_s": ts["time_s"], "value": ts[column] * scale})
    return alt.Chart(data).mark_line(interpolate="step-after").encode(
        x=alt.X("time_s:Q", title="simulated time (s)"), y=alt.Y("value:Q", title=title),
        tooltip=[alt.Tooltip("time_s:Q", format=".1f"), alt.Tooltip("value:Q", format=".2f", title=title)],
    ).properties(height=240, title=title)


def lines(ts: pd.DataFrame, columns: list[str], title: str) -> alt.Chart:
    """A few step series from a timeseries table on one chart."""
    long = ts.melt(id_vars=["time_s"], value_vars=columns, var_name="series")
    return alt.Chart(long).mark_line(interpolate="step-after").encode(
        x=alt.X("time_s:Q", title="simulated time (s)"), y=alt.Y("value:Q", title="instances"),
        color="series:N",
    ).properties(height=220, title=title)


def alone_vs_together(df: pd.DataFrame, title: str) -> alt.LayerChart:
    """Startup of each group of a mixed deploy alone on the host vs beside the others: rows
    (group, setting, seconds); a log axis, since a microVM's 0.16 s sits next to 10 s bursts.
    Bars start at a floor below the smallest figure (a log axis has no 0), each labelled."""
    floor = 10 ** math.floor(math.log10(max(float(df["seconds"].min()), 1e-3)) - 0.5) if len(df) else 0.01
    data = df.assign(floor=floor, text=[f"{v:.3g} s" for v in df["seconds"]])
    y = alt.Y("group:N", title=None, axis=alt.Axis(labelLimit=400), sort=None)
    off = alt.YOffset("setting:N", sort=None)
    x = alt.X("seconds:Q", title="p95 startup, request to ready (s, log scale)",
              scale=alt.Scale(type="log", domainMin=floor,
                              domainMax=float(df["seconds"].max()) * 3 if len(df) else 1.0))  # room for labels
    bars = alt.Chart(data).mark_bar().encode(
        x=x, x2="floor:Q", y=y, yOffset=off,
        color=alt.Color("setting:N", title=None, sort=None, legend=alt.Legend(labelLimit=400, orient="bottom")),
        tooltip=["group", "setting", alt.Tooltip("seconds:Q", format=".3f", title="p95 startup (s)")])
    text = alt.Chart(data).mark_text(align="left", dx=4).encode(x=x, y=y, yOffset=off, text="text:N")
    return (bars + text).properties(height=max(220, 100 + 70 * df["group"].nunique()), title=title)


def cores_asked(ts: pd.DataFrame, cores: float, title: str) -> alt.Chart:
    """Cores asked by everything starting and running vs the host's cores, over time."""
    long = pd.concat([pd.DataFrame({"time_s": ts["time_s"], "cores": ts["cpu_demand"], "series": "cores asked"}),
                      pd.DataFrame({"time_s": ts["time_s"], "cores": float(cores), "series": "host's cores"})])
    return alt.Chart(long).mark_line(interpolate="step-after").encode(
        # symlog: 4 cores stay readable beside 100 asked (a linear axis flattens the host's line)
        x=alt.X("time_s:Q", title="simulated time (s)"),
        y=alt.Y("cores:Q", title="CPU cores (symlog)", scale=alt.Scale(type="symlog"),
                axis=alt.Axis(values=[0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])),
        color=alt.Color("series:N", title=None),
        tooltip=["series", alt.Tooltip("time_s:Q", format=".2f"), alt.Tooltip("cores:Q", format=".1f")],
    ).properties(height=240, title=title)


def gantt(df: pd.DataFrame) -> alt.Chart:
    """A lifecycle timeline: one row per instance, one bar per state it was in."""
    return alt.Chart(df).mark_bar(height=12).encode(
        x=alt.X("start_s:Q", title="simulated time (s)"), x2="end_s:Q",
        y=alt.Y("instance:O", title="instance"),
        color=alt.Color("state:N", sort=STATE_ORDER, scale=alt.Scale(domain=[s for s in STATE_ORDER if s in set(df["state"])])),
        tooltip=["instance", "state", alt.Tooltip("start_s:Q", format=".2f"), alt.Tooltip("end_s:Q", format=".2f")],
    ).properties(height=max(300, 60 + 22 * df["instance"].nunique()), title="Lifecycle of each instance")


def stacked(df: pd.DataFrame, x: str, y: str, color: str, title: str, x_title: str) -> alt.Chart:
    """Generic horizontal stacked bars (e.g. RAM per instance split into app, guest and VMM)."""
    return alt.Chart(df).mark_bar().encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"{y}:N", title=y, axis=alt.Axis(labelLimit=300)), color=f"{color}:N",
        tooltip=[y, color, alt.Tooltip(f"{x}:Q", format=".1f")],
    ).properties(height=80 + 36 * df[y].nunique(), title=title)


def bars(df: pd.DataFrame, x: str, y: str, title: str, x_title: str, color: str | None = None) -> alt.Chart:
    enc = {"x": alt.X(f"{x}:Q", title=x_title), "y": alt.Y(f"{y}:N", title=y, axis=alt.Axis(labelLimit=300), sort=None),
           "tooltip": [y, alt.Tooltip(f"{x}:Q", format=".1f")]}
    if color:
        enc["color"] = f"{color}:N"
    return alt.Chart(df).mark_bar().encode(**enc).properties(height=80 + 30 * len(df), title=title)


def grouped_bars(df: pd.DataFrame, x: str, y: str, group: str, title: str, x_title: str) -> alt.Chart:
    """Horizontal bars side by side (never stacked) per ``y``, one per ``group``."""
    return alt.Chart(df).mark_bar().encode(
        x=alt.X(f"{x}:Q", title=x_title, stack=None), y=alt.Y(f"{y}:N", title=y, axis=alt.Axis(labelLimit=300), sort=None),
        yOffset=alt.YOffset(f"{group}:N"), color=alt.Color(f"{group}:N", title=None,
                                                           legend=alt.Legend(labelLimit=400)),
        tooltip=[y, group, alt.Tooltip(f"{x}:Q", format=".1f")],
    ).properties(height=80 + 44 * df[y].nunique(), title=title)


def cow_bars(df: pd.DataFrame) -> alt.Chart:
    """Copy-on-write: per container its read-only image layers and writable layer; the host's disk."""
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("MiB:Q", title="MiB", stack="zero"), y=alt.Y("who:N", title=None, axis=alt.Axis(labelLimit=300), sort=None),
        color=alt.Color("part:N", title=None, sort=["image layers (read-only, shared)", "writable layer: new files",
                                                    "writable layer: copied-up file"],
                        legend=alt.Legend(labelLimit=400)),
        order=alt.Order("order:Q"),
        tooltip=["who", "part", alt.Tooltip("MiB:Q", format=".0f")],
    ).properties(height=100 + 30 * df["who"].nunique(),
                 title="What each container sees vs what the host stores")


def layer_graph(nodes: pd.DataFrame, edges: pd.DataFrame) -> alt.LayerChart:
    """Layers as nodes by depth (base on the left); shared layers stand out.

    NOTE: nodes and edges go in one table (a ``part`` column tells them apart): a layered chart
    whose layers carry different datasets fails to draw in Streamlit's Vega (``reading 'forEach'``).
    """
    lanes = int(nodes["y"].max()) + 1 if len(nodes) else 1
    data = pd.concat([nodes.assign(part="layer", shared=nodes["shared"].map({True: "shared", False: "own"})),
                      edges.rename(columns={"x": "depth"}).assign(part="edge")], ignore_index=True)
    base = alt.Chart(data)
    x = alt.X("depth:Q", title="layer depth (base image = 0)", axis=alt.Axis(tickMinStep=1),
              scale=alt.Scale(padding=40))
    y = alt.Y("y:Q", title=None, axis=None, scale=alt.Scale(padding=30))
    rules = base.transform_filter(alt.datum.part == "edge").mark_rule(color="#999").encode(
        x=x, y=y, x2="x2:Q", y2="y2:Q")
    pts = base.transform_filter(alt.datum.part == "layer").mark_circle().encode(
        x=x, y=y, size=alt.Size("disk_mib:Q", title="MiB on disk"),
        color=alt.Color("shared:N", title="layer is", scale=alt.Scale(domain=["shared", "own"])),
        tooltip=[alt.Tooltip("id:N", title="layer"), alt.Tooltip("disk_mib:Q", title="MiB on disk"),
                 alt.Tooltip("download_mib:Q", title="MiB to download"), alt.Tooltip("used_by:N", title="used by")])
    text = base.transform_filter(alt.datum.part == "layer").mark_text(dy=-16, fontSize=11).encode(
        x=x, y=y, text="id:N")
    return (rules + pts + text).properties(height=80 + 70 * lanes, title="Layer graph (each layer stored once)")


def _categorical(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values)


def sweep_line(summary: pd.DataFrame, axis: str, metric: str, prefix: str = "", label: str = "") -> alt.LayerChart:
    """The metric's mean per value of the axis with its 95% interval: a line over a number, points
    and interval bars over categories (runtime, placement, admission)."""
    data = summary[summary["metric"] == metric].rename(columns={axis: "x"})
    cat = _categorical(data["x"])
    x = alt.X("x:N", title=axis, axis=alt.Axis(labelAngle=0, labelLimit=200)) if cat else \
        alt.X("x:Q", title=axis, axis=alt.Axis(format="~s"))
    base = alt.Chart(data).encode(x=x)
    tip = [alt.Tooltip("x", title=axis), alt.Tooltip("mean:Q", format=".3g"),
           alt.Tooltip("ci95_low:Q", format=".3g", title="95% low"),
           alt.Tooltip("ci95_high:Q", format=".3g", title="95% high"), alt.Tooltip("n:Q", title="runs with a value")]
    # the axis title is the metric's own words ("p95 startup (s)"); the chart title names whose
    y = alt.Y("mean:Q", title=(label or metric).split(": ")[-1], axis=alt.Axis(format="~s", titleLimit=300))
    if cat:
        band = base.mark_rule(strokeWidth=3, opacity=0.5).encode(y=alt.Y("ci95_low:Q"), y2="ci95_high:Q")
        line = base.mark_point(filled=True, size=90).encode(y=y, tooltip=tip)
    else:
        band = base.mark_area(opacity=0.25).encode(y=alt.Y("ci95_low:Q"), y2="ci95_high:Q")
        line = base.mark_line(point=True).encode(y=y, tooltip=tip)
    return (band + line).properties(height=320, title=f"{prefix}{label or metric} against {axis}")


def sweep_heatmap(summary: pd.DataFrame, a1: str, a2: str, metric: str, prefix: str = "",
                  label: str = "") -> alt.LayerChart:
    """The metric's mean over two axes, each cell labelled with its rounded value."""
    data = summary[summary["metric"] == metric].rename(columns={a1: "x", a2: "y"})
    data = data.assign(label=[f"{v:.3g}" if pd.notna(v) else "—" for v in data["mean"]])
    rows = max(data["y"].nunique(), 1)
    base = alt.Chart(data).encode(
        x=alt.X("x:O", title=a1, axis=alt.Axis(labelAngle=0, labelLimit=200)),
        y=alt.Y("y:O", title=a2, sort="descending", axis=alt.Axis(labelLimit=200)))
    rect = base.mark_rect().encode(
        color=alt.Color("mean:Q", title=(label or metric).split(": ")[-1], legend=alt.Legend(format=".3~g")),
        tooltip=[alt.Tooltip("x", title=a1), alt.Tooltip("y", title=a2), alt.Tooltip("mean:Q", format=".3g"),
                 alt.Tooltip("n:Q", title="runs with a value")])
    text = base.mark_text(fontSize=13).encode(text="label:N")
    return (rect + text).properties(height=max(240, 70 * rows), title=f"{prefix}{label or metric} over {a1} × {a2}")


PER_HOST_BARS = 50      # beyond this many hosts, the per-host view is a histogram


def per_host(table: pd.DataFrame) -> alt.Chart:
    """Peak RAM of each host as a share of its RAM (the placement's packing, host by host); past
    :data:`PER_HOST_BARS` hosts, how many hosts reached each tenth of their RAM."""
    if len(table) > PER_HOST_BARS:
        bins = (table["peak_ram_share"].clip(0, 1) * 10).astype(int).clip(0, 9)
        data = pd.DataFrame({"share": [f"{10 * b}–{10 * b + 10}%" for b in range(10)],
                             "hosts": [int((bins == b).sum()) for b in range(10)]})
        return alt.Chart(data).mark_bar().encode(
            x=alt.X("share:N", title="peak RAM (share of the host)", sort=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("hosts:Q", title="hosts", axis=alt.Axis(format=",d")),
            tooltip=["share", alt.Tooltip("hosts:Q", format=",")],
        ).properties(height=240, title=f"Peak RAM per host: {len(table):,} hosts by tenth of their RAM")
    data = table.assign(host=table["host"].map(lambda i: f"host {i}"))
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("peak_ram_share:Q", title="peak RAM (share of the host)", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("host:N", title="host", sort=None),
        tooltip=["host", "placed", "running", alt.Tooltip("peak_ram_share:Q", format=".0%", title="peak RAM"),
                 alt.Tooltip("mean_cpu_util:Q", format=".0%", title="mean CPU busy")],
    ).properties(height=40 + 18 * len(data), title="Peak RAM per host")


def oom_risk(df: pd.DataFrame) -> alt.LayerChart:
    """OOM kills per 1,000 instance-hours against instances per host: a line per runtime through
    its three packings (at reservation, at p95 use, at the overcommit); symlog y (0 stays 0)."""
    data = df.dropna(subset=["oom_kills_per_1000_h"]).sort_values(["runtime", "instances_per_host"])
    base = alt.Chart(data).encode(
        x=alt.X("instances_per_host:Q", title="instances per host", scale=alt.Scale(zero=False, nice=True)),
        y=alt.Y("oom_kills_per_1000_h:Q", title="OOM kills per 1,000 instance-hours (symlog)",
                scale=alt.Scale(type="symlog"),
                axis=alt.Axis(values=[0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000], labelExpr="format(datum.value, ',')")),
        color=runtime_color(data["runtime"]))
    line = base.mark_line(opacity=0.6)
    points = base.mark_point(size=120, filled=True).encode(
        shape=alt.Shape("level:N", title="packed", sort=None),
        tooltip=["runtime", alt.Tooltip("level:N", title="packed"),
                 alt.Tooltip("instances_per_host:Q", title="instances per host"),
                 alt.Tooltip("oom_kills:Q", format=",.0f", title="OOM kills"),
                 alt.Tooltip("oom_kills_per_1000_h:Q", format=",.0f", title="per 1,000 instance-h")])
    return (line + points).properties(height=340, title="OOM kills vs instances per host, per runtime")


def content_key(*parts: Any) -> str:
    """A short key for a chart's content (e.g. its kind and the scenario's canonical TOML)."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


@st.cache_data(show_spinner=False, max_entries=1024)
def _spec(key: str, _build: Callable[[], Any]) -> dict[str, Any]:
    return _build().to_dict(validate=False)


def show(where: Any, key: str, build: Callable[[], Any]) -> None:
    """Draw the chart ``build()`` makes, built once per ``key``, into ``where`` (st or a column)."""
    where.vega_lite_chart(_spec(key, build), width="stretch")
