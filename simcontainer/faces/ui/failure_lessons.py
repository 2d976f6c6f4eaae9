"""Lessons on what breaks: the blast radius of a fault, and how instances stop and crash.

Each is library calls only: :func:`simcontainer.studies.blast_radius.blast_radius`,
:func:`simcontainer.studies.stopping.stop_table`, :func:`simcontainer.studies.restart_timelines.backoff_table` and
:func:`simcontainer.studies.restart_timelines.crash_loop`; this module turns their tables into charts and sentences.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from simcontainer.faces.ui import charts
from simcontainer.faces.ui import estimate_marks as marks
from simcontainer.studies import comparison
from simcontainer.studies.blast_radius import blast_radius as blast_radius_table
from simcontainer.studies.restart_timelines import backoff_table, crash_loop
from simcontainer.studies.stopping import stop_table

BLAST_RUNTIMES = ("runc", "gvisor", "kata", "firecracker")
FAULTS = {
    "kernel": "a fault in the kernel an instance runs on",
    "host_panic": "the host's kernel panics (whole host)",
    "guest_panic": "one guest kernel panics (a VM's or sandbox's own)",
    "daemon_restart": "dockerd restarts",
}
FAULT_WORDS = {
    "kernel": "A fault reaches **the kernel one running instance runs on**. For a runc container that is the "
              "host's kernel, so the host panics and takes everything on it down; for a gVisor container it is "
              "that container's Sentry, for Kata and Firecracker that VM's guest kernel: one instance.",
    "host_panic": "The **host's kernel panics**: every container *and* every VM on the host dies, the host "
                  "reboots, then the restart policies start them again. No runtime is isolated from the "
                  "machine it runs on.",
    "guest_panic": "**One guest kernel panics**: only an instance with a kernel of its own has one (gVisor's "
                   "Sentry, Kata's guest, a microVM's kernel), and it alone dies. runc containers have no "
                   "kernel of their own, so this fault finds nothing to hit among them.",
    "daemon_restart": "**dockerd restarts** (with live-restore off): the containers it started stop with it, "
                      "whatever their isolation: gVisor's and Kata's containers too, since dockerd starts them. "
                      "Firecracker microVMs have their own VMM processes and keep running.",
}


KERNEL_DOMAIN = ["host kernel", "user-space kernel", "guest kernel, light VM", "guest kernel"]
SHORT_NAMES = {"runc": "runc", "gvisor": "gVisor", "kata": "Kata", "firecracker": "Firecracker"}


def short_label(runtime: str) -> str:
    """'runc · host kernel': a chart row's label, short enough for a half-width chart."""
    return f"{SHORT_NAMES.get(runtime, runtime)} · {comparison.kernel_of(runtime)}"


num = comparison.fmt_figure      # a figure for a metric; "—" when there is none


@st.cache_data(show_spinner=False, max_entries=64)
def _blast(fault: str, n: int, reboot_s: float, live_restore: bool) -> pd.DataFrame:
    return blast_radius_table(BLAST_RUNTIMES, (fault,), n=n, reboot_s=reboot_s, live_restore=live_restore)


@st.cache_data(show_spinner=False, max_entries=16)
def _blast_all(n: int, reboot_s: float, live_restore: bool) -> pd.DataFrame:
    return blast_radius_table(BLAST_RUNTIMES, tuple(FAULTS), n=n, reboot_s=reboot_s, live_restore=live_restore)


def pct(x: float | None) -> str:
    """A share as a percentage with enough digits to tell one lost instance from none; "—" for none."""
    return num(None if x is None else x * 100, ".3f", "%")


def blast_table(df: pd.DataFrame) -> pd.DataFrame:
    """blast_radius()'s rows with human column names; "—" where a figure is missing (not
    recovered by the end of the run)."""
    return pd.DataFrame({
        "fault": [FAULTS.get(f, f) for f in df["fault"]],
        "runtime": [short_label(r) for r in df["runtime"]],
        "running before the fault": df["running_before"].astype(int),
        "instances lost": df["instances_lost"].astype(int),
        # the recovery rests on each runtime's startup figures: the mark where they are estimates
        "recovery (s)": [marks.marked(num(x, ".1f"), [r]) for x, r in zip(df["recovery_s"], df["runtime"])],
        "capacity lost (instance-s)": [marks.marked(num(x, ".1f"), [r])
                                       for x, r in zip(df["capacity_lost_instance_s"], df["runtime"])],
        "restarts": df["restarts"].astype(int),
        "availability": [marks.marked(pct(x), [r]) for x, r in zip(df["availability"], df["runtime"])],
    })


def _labelled_bars(df: pd.DataFrame, x: str, title: str, x_title: str) -> alt.LayerChart:
    """Horizontal bars per runtime coloured by the kernel it runs, each labelled with its value."""
    base = alt.Chart(df).encode(
        y=alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=400)),
        x=alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(domainMin=0, nice=True)))
    bars = base.mark_bar().encode(     # the label names the kernel: no legend (a bottom one squeezes the plot)
        color=alt.Color("kernel:N", legend=None, scale=alt.Scale(domain=KERNEL_DOMAIN)),
        tooltip=[alt.Tooltip("label:N", title="runtime"), alt.Tooltip("kernel:N", title="kernel"),
                 alt.Tooltip(f"{x}:Q", format=".2f", title=x_title)])
    text = base.mark_text(align="left", dx=4).encode(text="text:N")
    return (bars + text).properties(height=120 + 45 * len(df), title=title)


def blast_radius() -> None:
    st.markdown(
        "Isolation is the first thing said for VMs over containers, and it is about **kernels**. A runc "
        "container is a process of the **host's kernel**: every container on a host shares it. A **gVisor** "
        "container talks to its own user-space kernel (the Sentry); a **Kata** container and a "
        "**Firecracker** microVM boot a **guest kernel** of their own. A fault decides how much it takes "
        "down by *which kernel (or daemon) it reaches*: here the same fault strikes 50 instances of each "
        "runtime, each alone on one host, all with `restart = \"always\"`, at 60 s into a 400 s run.")
    c1, c2, c3 = st.columns(3)
    fault = c1.selectbox("Fault", list(FAULTS), format_func=FAULTS.get, key="lb_fault")
    n = c2.slider("Instances on the host", 10, 100, 50, 10, key="lb_n")
    reboot = c3.slider("Host reboot time (s)", 10, 180, 60, 10, key="lb_reboot",
                       help="how long the host takes to come back after a panic, before any instance restarts")
    live = False
    if fault == "daemon_restart":
        live = st.toggle("dockerd live-restore on", value=False, key="lb_live",
                         help="`live-restore: true` in daemon.json: containers keep running while dockerd restarts")
    st.info(FAULT_WORDS[fault])
    df = _blast(fault, n, float(reboot), live)
    rows = {r["runtime"]: r for r in df.to_dict("records")}
    runc, fc = rows["runc"], rows["firecracker"]
    a, b, c, d = st.columns(4)
    a.metric(f"runc containers lost (of {n})", f"{runc['instances_lost']}",
             help="instances running before the fault that it took down")
    marks.metric(b, "runc: recovery (s)", num(runc["recovery_s"], ".1f"), ["runc"],
                 help="from the fault until as many instances run as before it; — if not by the end of the run")
    c.metric(f"Firecracker microVMs lost (of {n})", f"{fc['instances_lost']}",
             help="instances running before the fault that it took down")
    marks.metric(d, "Firecracker: recovery (s)", num(fc["recovery_s"], ".1f"), ["firecracker"],
                 help="from the fault until as many instances run as before it; — if not by the end of the run")
    plot = pd.DataFrame({
        "label": [short_label(r) for r in df["runtime"]],
        "kernel": [comparison.kernel_of(r) for r in df["runtime"]],
        "lost": df["instances_lost"].astype(float),
        "recovery": df["recovery_s"].astype(float).fillna(float(400 - 60)),
        "capacity": df["capacity_lost_instance_s"].astype(float),
    })
    key = charts.content_key("blast", fault, n, reboot, live)
    c1, c2 = st.columns(2)
    charts.show(c1, key + "lost", lambda: _labelled_bars(
        plot.assign(text=[f"{v:.0f}" for v in plot["lost"]]), "lost",
        f"Instances the fault took down (of {n} running)", "instances lost"))
    charts.show(c2, key + "rec", lambda: _labelled_bars(
        plot.assign(text=[marks.marked(comparison.fmt_s(v), [r]) for v, r in zip(df["recovery_s"], df["runtime"])]),
        "recovery",
        "Time until as many run as before the fault", "recovery time (s)"))
    charts.show(st, key + "cap", lambda: _labelled_bars(
        plot.assign(text=[marks.marked(f"{v:.1f}", [r]) for v, r in zip(plot["capacity"], df["runtime"])]), "capacity",
        "Capacity lost: missing running instances × seconds, until recovered", "instance-seconds lost"))
    worst = df.loc[df["instances_lost"].idxmax()]
    st.caption(
        f"Instances lost counts those running before the fault that it took down; recovery is the time from "
        f"the fault until {n} run again (after the host's {reboot} s reboot when the host went down, after "
        f"dockerd is back when it restarted, then Docker's first restart delay of 0.1 s and the instance's "
        f"start); capacity lost adds up the instances missing "
        f"over that time. Here the most it took was {int(worst['instances_lost'])} "
        f"({comparison.describe(worst['runtime'])}).")
    marks.note(st, BLAST_RUNTIMES, what="recovery and capacity figures")
    st.subheader("Every fault on every runtime")
    st.markdown(f"The same {n}-instance host, each fault in turn. Availability is the share of the run each "
                "instance spent running and ready, averaged over the instances.")
    every = blast_table(_blast_all(n, float(reboot), live))
    st.dataframe(every, hide_index=True, width="stretch", height=36 * (len(every) + 1) + 4)
    st.caption("The pattern is the lesson: a fault in the host's kernel takes every runc container with it; "
               "the same fault in a sandbox's or VM's kernel takes one. Nothing survives the host itself "
               "panicking, and what starts an instance (dockerd here for runc, gVisor and Kata; its own "
               "VMM process for Firecracker) is shared fate too.")


# ---- stopping and crashing ----------------------------------------------------------------

SIGTERM_WORDS = {"exit": "handles SIGTERM", "default": "no handler, not PID 1",
                 "ignore": "PID 1 without a handler"}
PLANE_WORDS = {"dockerd": "docker stop (10 s grace)", "kubelet": "pod deletion (kubelet, 30 s grace)"}
LOOP_ENTRIES = ["runc@dockerd", "runc@kubelet"]    # what crash_loop starts under each back-off


@st.cache_data(show_spinner=False, max_entries=64)
def _stop(shutdown_s: float) -> pd.DataFrame:
    return stop_table(shutdown_s)


@st.cache_data(show_spinner=False, max_entries=64)
def _loops(ttf_s: float, duration_s: float) -> pd.DataFrame:
    out = []
    for plane, name in (("dockerd", "Docker restart=always"), ("kubelet", "kubelet CrashLoopBackOff")):
        ev = crash_loop(plane, "always", ttf_s, duration_s=duration_s)
        out.append(ev.assign(policy=name))
    return pd.concat(out, ignore_index=True)


@st.cache_data(show_spinner=False, max_entries=64)
def _backoff(crashes: int, run_s: float) -> pd.DataFrame:
    return backoff_table(crashes, run_s)


def stop_chart(df: pd.DataFrame) -> alt.LayerChart:
    data = df.assign(who=[SIGTERM_WORDS.get(s, s) for s in df["sigterm"]],
                     plane=[PLANE_WORDS.get(p, p) for p in df["plane"]],
                     text=[f"{s:g} s, exit {c}" for s, c in zip(df["stop_s"], df["exit_code"])])
    base = alt.Chart(data).encode(
        y=alt.Y("who:N", title=None, sort=None, axis=alt.Axis(labelLimit=300)),
        yOffset=alt.YOffset("plane:N", sort=None),
        x=alt.X("stop_s:Q", title="time to stop (s)", scale=alt.Scale(domainMin=0, domainMax=float(data["stop_s"].max()) * 1.3 + 1)))
    bars = base.mark_bar().encode(
        color=alt.Color("plane:N", title="stopped by", sort=None, legend=alt.Legend(labelLimit=400)),
        tooltip=[alt.Tooltip("who:N", title="app"), alt.Tooltip("plane:N", title="stopped by"),
                 alt.Tooltip("stop_s:Q", format=".1f", title="time to stop (s)"),
                 alt.Tooltip("exit_code:Q", title="exit code")])
    text = base.mark_text(align="left", dx=4).encode(text="text:N")
    return (bars + text).properties(height=100 + 70 * data["who"].nunique(),
                                    title="How long a stop takes, and the exit code it leaves")


def loop_chart(ev: pd.DataFrame, duration_s: float) -> alt.LayerChart:
    """Restarts so far against time, one step line per back-off; a tick at each crash."""
    rows = []
    for policy, g in ev.groupby("policy", sort=False):
        starts = g[g["action"].isin(("start", "restart"))]["time_s"].to_numpy()
        rows.append({"policy": policy, "time_s": 0.0, "restarts": 0})
        for k, t in enumerate(starts):
            rows.append({"policy": policy, "time_s": float(t), "restarts": k})
        rows.append({"policy": policy, "time_s": duration_s, "restarts": max(len(starts) - 1, 0)})
    data = pd.DataFrame(rows)
    line = alt.Chart(data).mark_line(interpolate="step-after").encode(
        x=alt.X("time_s:Q", title="simulated time (s)", scale=alt.Scale(domain=[0, duration_s])),
        y=alt.Y("restarts:Q", title="restarts so far"),
        color=alt.Color("policy:N", title="back-off", legend=alt.Legend(labelLimit=400)),
        tooltip=["policy", alt.Tooltip("time_s:Q", format=".2f", title="time (s)"),
                 alt.Tooltip("restarts:Q", title="restarts so far")])
    return line.properties(height=280, title="One crashing container under each back-off")


def delay_chart(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("restart:Q", title="restart number", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("delay_s:Q", title="delay before the restart (s, log scale)", scale=alt.Scale(type="log")),
        color=alt.Color("policy:N", title="back-off", legend=alt.Legend(labelLimit=400)),
        tooltip=["policy", "restart", alt.Tooltip("delay_s:Q", format=".1f", title="delay (s)"),
                 alt.Tooltip("at_s:Q", format=".1f", title="restarted at (s)")],
    ).properties(height=260, title="The back-off: each restart's delay")


def stopping() -> None:
    st.markdown(
        "**Stopping.** `docker stop` (or deleting a pod) sends the container's main process **SIGTERM**, "
        "waits a **grace period** (Docker's default 10 s, the kubelet's 30 s), then sends **SIGKILL**. An app "
        "with a SIGTERM handler shuts down cleanly and exits 0. An app without one normally dies of SIGTERM at "
        "once (exit 143 = 128 + 15). But the app is often **PID 1** in its container, and the kernel does not "
        "apply a signal's default action to PID 1: without a handler, SIGTERM is simply ignored, the stop "
        "sits out the whole grace period and ends in SIGKILL (exit 137 = 128 + 9). `docker run --init` (tini) "
        "or a handler in the app fixes it.")
    shutdown = st.slider("Shutdown time of an app that handles SIGTERM (s)", 0.0, 40.0, 2.0, 0.5, key="ls_shutdown",
                         help="how long the app takes to finish its work after SIGTERM; past the grace period it is killed")
    stops = _stop(float(shutdown))
    by = {(r["sigterm"], r["plane"]): r for r in stops.to_dict("records")}
    a, b, c = st.columns(3)
    pid1 = by[("ignore", "dockerd")]
    a.metric("PID 1 without a handler: docker stop (s)", f"{pid1['stop_s']:g}",
             help=f"SIGTERM ignored; SIGKILL at the end of the grace period; exit code {pid1['exit_code']}")
    h = by[("exit", "dockerd")]
    b.metric("With a handler: docker stop (s)", f"{h['stop_s']:g}",
             help=f"the app's own shutdown, capped at the grace period; exit code {h['exit_code']}")
    k = by[("ignore", "kubelet")]
    c.metric("PID 1 without a handler: pod deletion (s)", f"{k['stop_s']:g}",
             help=f"the kubelet's 30 s grace (terminationGracePeriodSeconds); exit code {k['exit_code']}")
    charts.show(st, charts.content_key("stop", shutdown), lambda: stop_chart(stops))
    st.caption("Time to stop is from SIGTERM until the app's process is gone (the runtime's own teardown is "
               "left out); the exit code is what `docker ps -a` and `docker inspect` show afterwards: 0 a clean "
               "exit, 143 killed by SIGTERM, 137 killed by SIGKILL.")

    st.subheader("Crashing: a crash loop under each back-off")
    st.markdown(
        "An app that keeps crashing is restarted by its restart policy, with a growing delay. **Docker** "
        "(`restart: always`) waits 100 ms, doubling each time up to 1 minute, and forgets the delay once the "
        "container has run 10 s. The **kubelet** (CrashLoopBackOff) waits 10 s, doubling up to 5 minutes, "
        "and forgets only after 10 minutes of running. Both containers below crash the same way; each is "
        "simulated under its control plane for 15 minutes.")
    ttf = st.slider("The app crashes this long after each start (s)", 0, 60, 0, 1, key="ls_ttf",
                    help="0: it dies as soon as it starts (a missing file, a bad flag)")
    duration = 900.0
    ev = _loops(float(ttf), duration)
    # a restart by policy is logged as `start` (moby daemon/monitor.go; `restart` is the API call's)
    counts = {p: max(int((g["action"] == "start").sum()) - 1, 0) for p, g in ev.groupby("policy")}
    dies = {p: int((g["action"] == "die").sum()) for p, g in ev.groupby("policy")}
    a, b = st.columns(2)
    # each restart is a start of runc under the plane: its startup figures, estimated or not
    marks.metric(a, "Docker always: restarts in 15 min", counts.get("Docker restart=always", 0), LOOP_ENTRIES[:1],
                 help=f"{dies.get('Docker restart=always', 0)} crashes (die events, exit code 1)")
    marks.metric(b, "CrashLoopBackOff: restarts in 15 min", counts.get("kubelet CrashLoopBackOff", 0),
                 LOOP_ENTRIES[1:], help=f"{dies.get('kubelet CrashLoopBackOff', 0)} crashes (die events, exit code 1)")
    charts.show(st, charts.content_key("loop", ttf), lambda: loop_chart(ev, duration))
    table = _backoff(12, float(ttf))
    charts.show(st, charts.content_key("backoff", ttf), lambda: delay_chart(table))
    reset = ("Since it runs 10 s or more before crashing, Docker's delay resets every time: it restarts "
             "every ~0.1 s after a crash, forever, while the kubelet keeps doubling." if ttf >= 10 else
             "It crashes before 10 s of running, so neither back-off resets: Docker reaches its 1-minute cap "
             "after 10 restarts, the kubelet its 5-minute cap after 6.")
    st.caption("Restarts so far counts the `start` events of the simulated event log after the first (Docker "
               "logs a restart by its policy as `start`; `restart` is the API call's); the delay chart is the back-off alone, without start times. " + reset)
    marks.note(st, LOOP_ENTRIES, what="restart counts")
    with st.expander("The event log, as `docker events` names it"):
        shown = ev.assign(exit_code=[("—" if c < 0 else str(int(c))) for c in ev["exit_code"]])
        st.dataframe(shown.rename(columns={"time_s": "time (s)", "state": "state", "action": "event",
                                           "exit_code": "exit code", "policy": "back-off"}),
                     hide_index=True, width="stretch")


LESSONS = {
    "blast-radius": ("Isolation and blast radius", blast_radius),
    "stopping": ("Stopping and crashing", stopping),
}
