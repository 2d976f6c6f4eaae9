"""Cluster rollout: a Deployment rolled out on a Kubernetes cluster of N nodes, simulated.

Pods by phase over time, pod startup as Kubernetes measures it (with and without image pulls)
against the cluster's size and density, and what bound the rollout: the controller manager's
API QPS, the scheduler, image pulls or the kubelets.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from simcontainer.faces.ui import charts
from simcontainer.model.cluster.results import STAGES
from simcontainer.model.cluster.sim import simulate_cluster
from simcontainer.studies import cluster_reports as reports

MAX_PODS = 60_000          # pods a page run may simulate (~3 s here)
IMAGES = ["nginx:1.27", "alpine:3.20", "python:3.12-slim", "node:20-slim", "eclipse-temurin:21-jre"]
LIMITS = {"upstream defaults (controller manager 20 QPS, scheduler 50)": {},
          "scalability-test clusters (100 QPS each)": reports.SCALABILITY_CLIENTS,
          "lifted (1,000 QPS each)": reports.LIFTED_CLIENTS}
STAGE_WORDS = {"create": "pod creates (controller-manager QPS)", "queue": "scheduler queue + cycles",
               "bind": "bind calls (scheduler QPS)", "pull": "image pulls", "kubelet": "kubelet start",
               "report": "status report + watch"}


@st.cache_data(show_spinner=False, max_entries=64)
def rollout(nodes: int, per: int, limits: str, image: str, prepulled: bool) -> dict[str, Any]:
    scenario = reports.rollout_scenario(nodes, per, image=image, prepulled=prepulled, clients=LIMITS[limits],
                                        horizon_s=max(600.0, nodes * per / 5.0 + 300.0))
    return simulate_cluster(scenario)


def phases_frame(result: dict[str, Any]) -> pd.DataFrame:
    cols = result["phases"]["columns"]
    df = pd.DataFrame(result["phases"]["rows"], columns=cols)
    end = result["rollout_s"]
    if end is not None:        # up to a little after the rollout: the rest is flat
        df = df[df["t_s"] <= end * 1.2 + 5]
    return df.melt(id_vars="t_s", value_vars=["pending", "creating", "running"], var_name="phase", value_name="pods")


def render() -> None:
    st.title("Cluster rollout")
    st.caption("A Deployment of nodes × pods-per-node pods created at once on a Kubernetes cluster: the API "
               "server and its clients' rate limits, the scheduler, watches, the kubelets (serial image pulls, "
               "sandbox, CNI, runtime start) — each with its sourced default (models/cluster.toml). Pod "
               "startup is Kubernetes' own measure: creation to Running observed through a watch; the SLO "
               "is p99 ≤ 5 s with image pulls excluded.")
    c1, c2, c3 = st.columns(3)
    nodes = c1.select_slider("Nodes", [10, 20, 50, 100, 200, 500, 1000, 2000], value=100, key="cl_nodes")
    per = c2.select_slider("Pods per node", [1, 5, 10, 30, 60, 100, 110], value=30, key="cl_per")
    limits = c3.selectbox("Client rate limits", list(LIMITS), key="cl_limits")
    c4, c5 = st.columns(2)
    image = c4.selectbox("Image", IMAGES, key="cl_image")
    prepulled = c5.toggle("Images pre-pulled on every node", value=False, key="cl_prepulled")
    if nodes * per > MAX_PODS:
        st.warning(f"{nodes * per:,} pods is more than this page simulates ({MAX_PODS:,}); "
                   "use `simcontainer rollout` or bench/bench_cluster.py for 150,000.")
        return
    r = rollout(nodes, per, limits, image, prepulled)
    s, x = r["startup_s"], r["startup_excl_pulls_s"]
    a, b, c, d = st.columns(4)
    a.metric("Rollout time", f"{r['rollout_s']:.1f} s" if r["rollout_s"] is not None else "not done",
             help="from the Deployment's creation to every pod available")
    b.metric("Startup p50 / p99", f"{s['p50']:.2f} / {s['p99']:.2f} s", help="creation to Running observed")
    c.metric("Without pulls p50 / p99", f"{x['p50']:.2f} / {x['p99']:.2f} s",
             help="the SLO's scope: image pulls excluded")
    d.metric("SLO (p99 ≤ 5 s)", "met" if r["slo"]["met"] else "missed")
    st.success(f"What bound it: **{r['bound_by']}** — pods spent most of their time there "
               f"({r['stages_s'][r['bound_stage']]:.2f} s on average). Scheduler: "
               f"{r['scheduler']['mean_pods_s']:.0f} pods/s; its costs and client limit allow "
               f"{r['scheduler']['bound_pods_s']:.0f} pods/s ({r['scheduler']['nodes_scored']} nodes scored per pod).")
    left, right = st.columns(2)
    key = charts.content_key("cluster", nodes, per, limits, image, prepulled)
    df = phases_frame(r)
    charts.show(left, key + "phases", lambda: alt.Chart(df).mark_area().encode(
        x=alt.X("t_s:Q", title="time (s)"), y=alt.Y("pods:Q", stack=True, title="pods"),
        color=alt.Color("phase:N", sort=["running", "creating", "pending"], title="phase"),
        tooltip=["t_s", "phase", "pods"]).properties(height=260, title="Pods by phase"))
    stages = pd.DataFrame([{"stage": STAGE_WORDS[k], "seconds": v or 0.0, "bound": k == r["bound_stage"]}
                           for k, v in r["stages_s"].items()])
    charts.show(right, key + "stages", lambda: alt.Chart(stages).mark_bar().encode(
        x=alt.X("seconds:Q", title="mean time per pod (s)"),
        y=alt.Y("stage:N", sort=list(STAGE_WORDS.values()), title=None, axis=alt.Axis(labelLimit=300)),
        color=alt.Color("bound:N", legend=None), tooltip=["stage", alt.Tooltip("seconds:Q", format=".3f")],
    ).properties(height=260, title="Where pods spent their time"))
    api = pd.DataFrame([{"call": k, **v} for k, v in r["api"]["calls"].items()])
    st.dataframe(api.rename(columns={"p50_s": "p50 (s)", "p99_s": "p99 (s)", "throttled_share": "throttled"}),
                 hide_index=True, key="cl_api")
    if st.toggle("Startup against nodes and pods per node (9 runs)", value=False, key="cl_sweep"):
        sweep(limits, image, prepulled)


def sweep(limits: str, image: str, prepulled: bool) -> None:
    rows = []
    for n in (20, 100, 500):
        for per in (10, 30, 100):
            r = rollout(n, per, limits, image, prepulled)
            rows.append({"nodes": n, "pods per node": per, "rollout (s)": r["rollout_s"],
                         "p50 (s)": r["startup_s"]["p50"], "p99 (s)": r["startup_s"]["p99"],
                         "p99 without pulls (s)": r["startup_excl_pulls_s"]["p99"],
                         "bound by": STAGES.get(r["bound_stage"], "")})
    df = pd.DataFrame(rows)
    st.dataframe(df, hide_index=True, key="cl_sweep_table")
    long = df.melt(id_vars=["nodes", "pods per node"], value_vars=["p50 (s)", "p99 (s)"], var_name="percentile",
                   value_name="startup_s")
    charts.show(st, charts.content_key("cluster-sweep", limits, image, prepulled), lambda: alt.Chart(long).mark_line(
        point=True).encode(x=alt.X("nodes:Q", scale=alt.Scale(type="log"), title="nodes (log)"),
                           y=alt.Y("startup_s:Q", title="pod startup (s)"),
                           color=alt.Color("pods per node:N"), strokeDash=alt.StrokeDash("percentile:N"),
                           tooltip=["nodes", "pods per node", "percentile",
                                    alt.Tooltip("startup_s:Q", format=".2f")]).properties(
        height=280, title="Startup percentiles against cluster size and density"))
