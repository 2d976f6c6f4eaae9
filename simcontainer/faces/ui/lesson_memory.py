"""Lessons on memory and CPU as hosts share them (issue 14): why containers pack denser and when
VMs catch up, and CPU limits vs requests.

Library calls only: :func:`simcontainer.model.memory.ksm_curve`, :func:`simcontainer.model.memory.throttle_table`
(through :func:`simcontainer.studies.lessons.lesson_packing` and :func:`simcontainer.studies.lessons.throttle_frame`);
this module turns their tables into charts and sentences.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer.faces.ui import charts
from simcontainer.model.memory import BALLOON_MIB_S, KSM_CPU_CORES, ksm_curve, ksm_rate_mib_s
from simcontainer.studies import lessons

VM_RUNTIMES = ("qemu-kvm", "cloud-hypervisor", "firecracker")


def _gib(mib: float) -> str:
    return f"{mib / 1024:.1f} GiB"


def packing() -> None:
    st.markdown(
        "A container is a process: the host pays for the memory its app **uses now** plus a few MiB for the "
        "runtime, and the files it reads from its image (libraries, binaries) sit **once** in the host's page "
        "cache, shared by every container of that image. A VM has its own kernel and its own page cache, so "
        "each guest holds its own copy of those files. That is why containers pack denser. But KVM gives a "
        "guest its RAM **lazily**: the host only backs the pages the guest has **touched**, so a VM costs its "
        "guest OS + what its app has used since boot, not its whole guest RAM. A **balloon** hands idle "
        "guest pages back to the host, and **KSM** (the kernel's same-page merging) folds identical pages of "
        "like guests into one copy. With both, VMs of one image come close to containers.")
    c1, c2, c3 = st.columns(3)
    vm = c1.selectbox("VM runtime", VM_RUNTIMES, key="lm_vm")
    n = c2.slider("Instances", 2, 100, 20, key="lm_n")
    guest = c3.slider("Guest RAM per VM (MiB)", 256, 4096, 1024, 128, key="lm_guest")
    c1, c2, c3 = st.columns(3)
    ws = c1.slider("App working set now (MiB)", 32, 2048, 256, 32, key="lm_ws")
    peak = c2.slider("App peak since boot (MiB)", 32, 4096, 512, 32, key="lm_peak",
                     help="pages a guest touched stay backed by the host until a balloon returns them")
    files = c3.slider("Image files read by the app (MiB)", 0, 512, 80, 16, key="lm_files",
                      help="libraries and binaries in the page cache: one shared copy for containers, one per guest")
    c1, c2 = st.columns(2)
    shared = c1.slider("Share of guest pages KSM can merge", 0.0, 0.8, 0.3, 0.05, key="lm_shared",
                       help="orientation (VMware's resource management guide): nearly identical VMs over 30%, "
                            "diverse workloads under 5%")
    ksm_s = c2.slider("KSM running for (s)", 0, 3600, 600, 60, key="lm_ksm_s")
    cat = sc.default_catalogue()
    rt = cat.runtimes[vm]
    ws, peak, said = lessons.clamp_packing(guest, ws, peak, rt.guest_os_mib or 0.0)
    for line in said:
        st.info(line)
    df = lessons.lesson_packing(n, ws, peak, guest, files, shared, ksm_s, vm_runtime=vm)
    fits = (65536.0 / df["per_instance_mib"]).astype(int)
    a, b, c, d = st.columns(4)
    a.metric("Containers: host RAM", _gib(df["MiB"].iloc[0]),
             help="working set + runc's overhead per container, plus the image's files once")
    b.metric(f"{vm}: reserved up front", _gib(df["MiB"].iloc[1]),
             help="every guest's whole RAM + the VMM, as if preallocated")
    c.metric(f"{vm}: touched pages", _gib(df["MiB"].iloc[2]),
             help="guest OS + the app's peak + its own copy of the files, per guest, + the VMM")
    d.metric(f"{vm}: balloon + KSM", _gib(df["MiB"].iloc[5]),
             help=f"after {ksm_s} s of KSM on ballooned guests")
    shown = df.assign(GiB=df["MiB"] / 1024, fits_64=fits)
    charts.show(st, charts.content_key("lm_bars", vm, n, guest, ws, peak, files, shared, ksm_s),
                lambda: alt.Chart(shown).mark_bar().encode(
                    x=alt.X("GiB:Q", title="host memory (GiB)"),
                    y=alt.Y("how:N", title=None, sort=None, axis=alt.Axis(labelLimit=400)),
                    tooltip=[alt.Tooltip("how:N", title="packed as"), alt.Tooltip("GiB:Q", format=".2f"),
                             alt.Tooltip("per_instance_mib:Q", format=".0f", title="MiB per instance"),
                             alt.Tooltip("fits_64:Q", title="fit in 64 GiB")],
                ).properties(height=340, title=f"Host memory of {n} instances of one app"))
    st.caption(
        f"Each bar is the host RAM {n} instances take (one 64 GiB host fits: "
        + ", ".join(f"{h.split(':')[0]} {k}" for h, k in zip(df["how"], fits)) + "). "
        f"{vm}: guest OS {rt.guest_os_mib or 0:g} MiB and VMM {rt.mem_overhead_mib:g} MiB per VM (models/runtimes); "
        f"runc {cat.runtimes['runc'].mem_overhead_mib:g} MiB per container. A balloon returns guest pages at "
        f"{BALLOON_MIB_S:g} MiB/s (an estimate).")
    touched = float(min(guest, (rt.guest_os_mib or 0.0) + max(peak, ws) + files))
    curve = ksm_curve(n, touched, shared, horizon_s=max(ksm_s, 60), overhead_mib=rt.mem_overhead_mib)
    curve = curve.assign(host_gib=curve["host_mib"] / 1024, merged_gib=curve["merged_mib"] / 1024)
    long = pd.concat([curve[["t_s"]].assign(what="host memory of the VMs", GiB=curve["host_gib"]),
                      curve[["t_s"]].assign(what="merged by KSM", GiB=curve["merged_gib"])])
    charts.show(st, charts.content_key("lm_ksm", vm, n, touched, shared, ksm_s), lambda: alt.Chart(long).mark_line(
        interpolate="step-after").encode(
        x=alt.X("t_s:Q", title="time since KSM started (s)"),
        y=alt.Y("GiB:Q", title="GiB", scale=alt.Scale(zero=True)),
        color=alt.Color("what:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("t_s:Q", title="t (s)"), "what", alt.Tooltip("GiB:Q", format=".2f")],
    ).properties(height=380, title=f"KSM merging {n} like guests of {touched:.0f} MiB touched each"))
    st.caption(
        f"ksmd scans {ksm_rate_mib_s(100, 20.0):.1f} MiB/s at the kernel's defaults (100 pages every 20 ms) "
        f"and costs about {KSM_CPU_CORES:g} core while it has pages to merge; it can at most fold the "
        f"mergeable share of every guest but one into a single copy. Merged: how much host RAM KSM has "
        f"saved so far; host memory: the VMs' touched pages + VMMs less that.")


def cpu_limits() -> None:
    st.markdown(
        "A container's CPU **request** is a weight (cgroup `cpu.weight`, Kubernetes `requests.cpu`): it only "
        "matters when the host is busy, and then cores are shared in proportion to the weights. A **limit** "
        "is a CFS quota (`cpu.max`): in every period (100 ms by default) the cgroup may run at most "
        "limit x 100 ms of CPU, **even on an idle host**. An app that spends its quota early in a period is "
        "**throttled**: it waits for the next period. For a latency-sensitive app a request that needs "
        "30 ms of CPU can then take over 100 ms.")
    c1, c2, c3 = st.columns(3)
    cpu = c1.slider("Cores the app keeps busy while serving", 0.25, 4.0, 2.0, 0.25, key="lc_cpu",
                    help="its threads running at once (request threads, GC, JIT)")
    work = c2.slider("CPU one request needs (ms)", 5, 300, 30, 5, key="lc_work")
    period = c3.select_slider("CFS period (ms)", [10, 50, 100, 250], 100, key="lc_period")
    df = lessons.throttle_frame(cpu, work, (0.25, 0.5, 1.0, 2.0, 4.0), float(period))
    worst = df.iloc[0]
    a, b, c = st.columns(3)
    a.metric("Request latency, no limit", f"{work:g} ms", help="the request's own CPU time, never throttled")
    b.metric(f"Request latency at {worst['limit_cores']:g} core", f"{worst['latency_ms']:.0f} ms",
             help="wall time from the request's start to its end under that quota")
    c.metric(f"Throttled at {worst['limit_cores']:g} core", f"{worst['throttled_cores']:.2f} cores",
             help="cores the app wanted above its limit: time it spent waiting for the next period")
    long = pd.concat([df.assign(part="received", cores=df["received_cores"]),
                      df.assign(part="throttled", cores=df["throttled_cores"])])
    long["limit"] = long["limit_cores"].map(lambda x: f"limit {x:g} core{'s' if x != 1 else ''}")
    left, right = st.columns(2)
    charts.show(left, charts.content_key("lc_cores", cpu, work, period), lambda: alt.Chart(long).mark_bar().encode(
        y=alt.Y("limit:N", title="CFS limit", sort=None),
        x=alt.X("cores:Q", title="cores (received + throttled = asked)", stack=True),
        color=alt.Color("part:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["received", "throttled"])),
        tooltip=["limit", "part", alt.Tooltip("cores:Q", format=".2f")],
    ).properties(height=380, title=f"An app asking {cpu:g} cores under each limit"))
    lat = df.assign(limit=df["limit_cores"].map(lambda x: f"limit {x:g} core{'s' if x != 1 else ''}"))
    charts.show(right, charts.content_key("lc_latency", cpu, work, period), lambda: alt.Chart(lat).mark_bar().encode(
        y=alt.Y("limit:N", title="CFS limit", sort=None),
        x=alt.X("latency_ms:Q", title="request latency (ms)", scale=alt.Scale(domainMin=0)),
        color=alt.condition(alt.datum.throttled_ms > 0, alt.value("#d62728"), alt.value("#4c78a8")),
        tooltip=["limit", alt.Tooltip("latency_ms:Q", format=".0f", title="latency (ms)"),
                 alt.Tooltip("throttled_ms:Q", format=".0f", title="waiting throttled (ms)")],
    ).properties(height=380, title=f"One request needing {work} ms of CPU"))
    st.dataframe(pd.DataFrame({
        "limit (cores)": df["limit_cores"], "quota per period (ms)": df["quota_ms_per_period"],
        "received (cores)": df["received_cores"], "throttled (cores)": df["throttled_cores"],
        "request latency (ms)": df["latency_ms"].round(1), "of which throttled (ms)": df["throttled_ms"].round(1),
    }), hide_index=True, key="lc_table")
    st.caption(
        f"Received: the cores the app gets under the quota (at most its limit); throttled: the cores it asked "
        f"for beyond it. Request latency: a request needing {work} ms of CPU on one thread while the app keeps "
        f"{cpu:g} core{'s' if cpu != 1 else ''} busy spends the quota {max(cpu, 1.0):g}x as fast as one thread "
        f"alone, so it runs limit x {period} ms / {max(cpu, 1.0):g} per period and waits out the rest. "
        "Requests (weights) never throttle: set a request for what the app needs, and a limit (if any) well "
        "above its bursts.")


LESSONS = {
    "memory": ("Why containers pack denser — and when VMs catch up", packing),
    "cpu-limits": ("CPU limits vs requests", cpu_limits),
}
