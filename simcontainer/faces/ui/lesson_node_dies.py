"""Learn: a node dies. From its last heartbeat to its pods running again elsewhere."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from simcontainer.faces.ui import charts
from simcontainer.model.cluster.sim import simulate_cluster
from simcontainer.studies import cluster_reports as reports

FAIL_AT_S = 60.0


@st.cache_data(show_spinner=False, max_entries=64)
def run(nodes: int, per: int, grace: float, toleration: float) -> dict[str, Any]:
    scenario = reports.rollout_scenario(nodes, per, prepulled=True, horizon_s=FAIL_AT_S + grace + toleration + 120,
                                        failures=[{"at_s": FAIL_AT_S, "pool": "nodes", "node": 0}],
                                        extra={"node_lifecycle": {"grace_s": grace, "toleration_s": toleration}})
    return simulate_cluster(scenario)


def node_dies() -> None:
    st.markdown(
        "A node's kubelet renews its **lease** every 10 s: that is its heartbeat. When the node dies (power "
        "cut, kernel panic, a network partition), nothing tells the control plane; the node lifecycle "
        "controller only notices that the lease is getting old. After **node-monitor-grace-period** (50 s "
        "since Kubernetes 1.32, 40 s before) it marks the node **NotReady** and taints it "
        "`unreachable:NoExecute`. Every pod tolerates that taint for **tolerationSeconds** (300 s unless it "
        "says otherwise), so for five more minutes the pods stay bound to the dead node. Then they are "
        "evicted, their ReplicaSet creates replacements, the scheduler puts them on other nodes and they "
        "start. Meanwhile the pods were down.")
    c1, c2, c3, c4 = st.columns(4)
    nodes = c1.slider("Nodes", 3, 50, 10, key="nd_nodes")
    per = c2.slider("Pods per node", 1, 60, 10, key="nd_per")
    grace = c3.slider("node-monitor-grace-period (s)", 10, 120, 50, 5, key="nd_grace")
    toleration = c4.slider("tolerationSeconds", 0, 600, 300, 10, key="nd_toleration")
    r = run(nodes, per, float(grace), float(toleration))
    line = r["node_failures"][0]
    rows = reports.timeline_rows(line)
    by = {row["step"]: row["since_failure_s"] for row in rows}
    a, b, c = st.columns(3)
    a.metric("NotReady after", f"{by.get('NotReady + taint', 0):.0f} s", help="from the moment the node died")
    b.metric("Pods running again after", f"{by['running again']:.0f} s" if "running again" in by else "—",
             help="the last replacement observed Running")
    c.metric("Pods lost", f"{line['pods']}", help="the pods that ran on the node")
    df = pd.DataFrame(rows)
    charts.show(st, charts.content_key("node-dies", nodes, per, grace, toleration), lambda: alt.Chart(df).mark_bar(
        size=14).encode(x=alt.X("since_failure_s:Q", title="seconds since the node died"),
                        y=alt.Y("step:N", sort=list(df["step"]), title=None, axis=alt.Axis(labelLimit=300)),
                        tooltip=["step", "what", alt.Tooltip("since_failure_s:Q", format=".1f")]).properties(
        height=260, title="From the last heartbeat to pods running again"))
    cols = r["phases"]["columns"]
    running = cols.index("running")
    series = pd.DataFrame([{"t_s": row[0], "pods": row[running], "count": "Running, as the API says"}
                           for row in r["phases"]["rows"]]
                          + [{"t_s": row[0], "pods": v, "count": "actually serving"}
                             for row, v in zip(r["phases"]["rows"], r["serving"])])
    charts.show(st, charts.content_key("node-dies-serving", nodes, per, grace, toleration),
                lambda: alt.Chart(series).mark_line(interpolate="step-after").encode(
                    x=alt.X("t_s:Q", title="time (s); the node dies at 60 s"), y=alt.Y("pods:Q", title="pods"),
                    color=alt.Color("count:N", title=None), tooltip=["t_s", "count", "pods"]).properties(
                    height=240, title="What the API shows and what serves"))
    st.dataframe(df[["since_failure_s", "step", "what"]].rename(columns={"since_failure_s": "seconds since failure"}),
                 hide_index=True, key="nd_table")
    st.caption(f"{line['pods']} pods were down for {by.get('running again', float('nan')):.0f} s, of which "
               f"{toleration} s was the toleration: a pod that sets a shorter `tolerationSeconds` for "
               "`node.kubernetes.io/unreachable` comes back sooner — at the price of moving pods on a short "
               "network blip. The kubelet's heartbeat period and the grace period set how long it takes "
               "to notice at all.")


LESSONS = {"node-dies": ("A node dies", node_dies)}
