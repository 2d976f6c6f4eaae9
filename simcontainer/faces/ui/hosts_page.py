"""How many hosts: the reverse question a planner asks first, per runtime (closed form, no run)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer.faces.ui import charts, state
from simcontainer.studies import comparison, estimates, hosts_needed, planner


def render() -> None:
    st.title("Hosts needed")
    base = state.current()
    h = base.host
    kind = h.preset or f"{h.cpu_cores:g}-core / {h.ram_mib / 1024:g} GiB"
    st.caption(f"How many hosts like the planner's ({kind}: {h.cpu_cores:g} cores, {h.ram_mib / 1024:g} GiB RAM, "
               f"{h.disk_gib:g} GiB disk) hold N instances of each service, per runtime, keeping headroom "
               "on every host. Closed form per instance type: per-instance RAM (as admission counts it: after "
               "the OS's reserve, times the overcommit), CPU and disk packed onto hosts; no simulation, "
               "milliseconds even for a million instances.")
    defaults = hosts_needed.steady_counts(base)
    cols = st.columns(min(len(base.workloads), 4) or 1)
    counts = {}
    for i, w in enumerate(base.workloads):      # kept when the page is left (state.remember)
        counts[w.name] = int(state.remember(f"hn_{w.name}", cols[i % len(cols)].number_input(
            f"{w.name} instances", 0, 1_000_000, int(state.kept(f"hn_{w.name}", defaults[w.name])), 1,
            key=f"hn_{w.name}", help="default: the mix's burst, or rate × mean lifetime for a service that churns")))
    c1, c2 = st.columns([1, 2])
    headroom = state.remember("hn_headroom", c1.slider(
        "Headroom kept free on every host", 0, 90, int(state.kept("hn_headroom", 20)), 5, key="hn_headroom",
        format="%d%%")) / 100.0
    all_rt = sorted(sc.default_catalogue().runtimes)
    compare = state.remember("hn_runtimes", c2.multiselect(
        "Runtimes", all_rt, default=[r for r in state.kept("hn_runtimes", all_rt) if r in all_rt],
        key="hn_runtimes", format_func=comparison.describe,
        help="every service runs on the runtime; every VM runtime boots the same guest (image and guest RAM)"))
    if not compare or not any(counts.values()):
        st.info("Pick at least one runtime and one instance.")
        return
    table = hosts_needed.hosts_needed(base, counts, compare, headroom)
    st.success(hosts_needed.hosts_answer(table, counts, kind, headroom))
    shown = table.rename(columns={"runtime": "Runtime", "hosts": "Hosts", "lower_bound": "At least (total / room)",
                                  "binding": "Binds first", "ram_per_host": "RAM used per host",
                                  "cpu_per_host": "CPU used per host"})
    shown["Kernel"] = [comparison.kernel_of(r) for r in table["runtime"]]
    shown["Control plane"] = [comparison.plane_words(p) for p in map(comparison.default_plane, table["runtime"])]
    for c in ("RAM used per host", "CPU used per host"):
        shown[c] = [f"{v:.0%}" if pd.notna(v) else "" for v in shown[c]]
    for c in ("Hosts", "At least (total / room)"):
        shown[c] = [f"{v:,.0f}" if pd.notna(v) else "" for v in shown[c]]
    shown["Hosts"] = [f"{v} {estimates.mark(r, 'fits')}".strip() if v else v
                      for v, r in zip(shown["Hosts"], table["runtime"])]
    st.dataframe(shown, hide_index=True, key="hosts_table", placeholder="")
    data = table.dropna(subset=["hosts"])
    charts.show(st, charts.content_key("hosts", planner.canonical(base), sorted(counts.items()), headroom, compare),
                lambda: alt.Chart(data).mark_bar().encode(
                    x=alt.X("hosts:Q", title="hosts needed", axis=alt.Axis(tickMinStep=1, format=",d")),
                    y=alt.Y("runtime:N", sort="x", title="runtime", axis=alt.Axis(labelLimit=300, labelOverlap=False)),
                    color=alt.Color("binding:N", title="binds first"),
                    tooltip=["runtime", alt.Tooltip("hosts:Q", format=","), "binding"]).properties(
                        height=60 + 34 * len(data), title="Hosts needed per runtime"))
    marked = sorted(r for r in table["runtime"] if estimates.mark(r, "fits"))
    if marked:
        st.caption(f"{estimates.MARK}: rests on an estimate — "
                   + "; ".join(estimates.estimated(r, "fits")[0] for r in marked))
    st.caption("Averages per host are over the hosts needed; the packing is first-fit decreasing, so a few "
               "hosts may be fuller than others. Startup time is not part of this answer: see the planner.")
