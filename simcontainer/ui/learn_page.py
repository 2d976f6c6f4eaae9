"""Short lessons, each a few sentences and a small simulation the reader changes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer import planner
from simcontainer.ui import charts, runs

CONTAINER_IMAGES = ["alpine:3.20", "python:3.12-slim", "python:3.12-alpine", "node:20-slim",
                    "eclipse-temurin:21-jre", "golang:1.22", "nginx:1.27", "postgres:16", "redis:7"]


def image_vs_container() -> None:
    st.markdown(
        "An **image** is a packaged, read-only filesystem: the app, its libraries and a userland, "
        "frozen. A **container** is a running process started from that image with a thin private "
        "writable layer on top. The host fetches and unpacks an image once; every container made from "
        "it reuses those files. Change how many containers start from one image and watch what grows.")
    c1, c2 = st.columns(2)
    image = c1.selectbox("Image", CONTAINER_IMAGES, index=CONTAINER_IMAGES.index("node:20-slim"), key="l1_image")
    n = c2.slider("Containers started from it", 1, 100, 10, key="l1_n")
    res = runs.run(planner.lesson_image_vs_container(image, n), "image vs container")
    h, w = res["summary"]["host"], res["summary"]["workloads"]["app"]
    a, b, c = st.columns(3)
    a.metric("Downloaded (MiB)", f"{h['pulled_mib']:.1f}", help="the image's layers, fetched once")
    b.metric("Image on disk (MiB)", f"{h['stored_mib']:.1f}", help="unpacked layers, stored once")
    c.metric("Peak disk (MiB)", f"{h['peak_disk_mib']:.1f}", help="image + one writable layer per container")
    pulls = w["pull"]["pulls"]
    st.caption(f"{w['started']} containers started from {pulls} download{'s' if pulls != 1 else ''} of the image: "
               f"they were all requested at once, so all waited for that one pull "
               f"({planner.fmt_s(w['phases_s']['pull'])} on average; p95 startup {planner.fmt_s(w['startup_s']['p95'])}). "
               "Each extra container adds only its writable layer to the disk.")


def kernel_memory() -> None:
    st.markdown(
        "A container is an ordinary process of the host's Linux kernel: it asks for the memory its app "
        "uses, plus a few MiB of runtime bookkeeping. A virtual machine boots **its own kernel** and "
        "operating system inside RAM the host hands over up front, whether the app inside uses it or "
        "not. The same small app therefore costs very different amounts of host memory.")
    c1, c2, c3 = st.columns(3)
    vm = c1.selectbox("VM runtime", ["qemu-kvm", "firecracker", "cloud-hypervisor"], key="l2_vm")
    n = c2.slider("Instances", 1, 100, 20, key="l2_n")
    mem = c3.slider("App working set (MiB)", 32, 2048, 256, 32, key="l2_mem")
    rows, parts = [], []
    for rt in ("runc", vm):
        scenario = planner.lesson_kernel(rt, n, mem)
        res = runs.run(scenario, rt)
        d = runs.density(planner.canonical(scenario), (rt,))["app"][rt]
        rows.append({"runtime": rt, "peak_ram_mib": res["summary"]["host"]["peak_ram_mib"],
                     "per_instance_mib": d["per_instance"]["ram_mib"], "fits_on_64GiB": d["fits"]})
        parts += [{"runtime": rt, "part": k, "MiB": v} for k, v in d["ram_breakdown_mib"].items()]
    cols = st.columns(2)
    for col, r in zip(cols, rows):
        col.metric(f"{r['runtime']}: host RAM for {n}", f"{r['peak_ram_mib'] / 1024:.2f} GiB",
                   help=f"{r['per_instance_mib']:.0f} MiB each; {r['fits_on_64GiB']} fit on a 64 GiB host")
    charts.show(st, charts.content_key("kernel", vm, n, mem), lambda: charts.stacked(
        pd.DataFrame(parts), "MiB", "runtime", "part", "RAM of one instance", "MiB"))
    ratio = rows[1]["peak_ram_mib"] / max(rows[0]["peak_ram_mib"], 1e-9)
    st.caption(f"The {vm} VMs take {ratio:.1f}× the RAM of the containers for the same app: the guest's "
               "unused memory and its kernel are reserved per VM.")


def startup_anatomy() -> None:
    st.markdown(
        "Starting an instance is a chain of steps: the request may **wait** for room on the host, the "
        "image may have to be **pulled**, the runtime **creates** the sandbox (namespaces and cgroups, "
        "or a VMM process), then it **boots** (a few milliseconds for a container, a whole kernel and "
        "init system for a VM), and finally the app gets **ready**. Which step dominates depends on the "
        "runtime and on whether the image is already on the host.")
    c1, c2 = st.columns(2)
    rt = c1.selectbox("Runtime", sorted(sc.default_catalogue().runtimes), index=sorted(
        sc.default_catalogue().runtimes).index("runc"), key="l3_rt")
    cached = c2.toggle("Image already on the host", value=True, key="l3_cached")
    scenario = planner.lesson_startup(rt, cached)
    res = runs.run(scenario, rt)
    ph = planner.phase_means(res["instances"], ["app"])
    total = sum(ph.values())
    st.metric("Mean startup (s)", f"{total:.3f}")
    df = pd.DataFrame([{"runtime": rt, "phase": k, "seconds": v, "order": i}
                       for i, (k, v) in enumerate(ph.items())])
    charts.show(st, charts.content_key("startup", rt, cached), lambda: charts.phases(df))
    st.caption(f"Five starts, one at a time, on an idle host ({planner.lesson_image(rt)}). The first "
               "start pays the pull when the image is not cached; the later ones find it on disk.")


def burst() -> None:
    st.markdown(
        "One start on an idle host is quick. Ask for hundreds at once and they compete: for the "
        "daemon's workers and its serialized steps, and for CPU, which is shared fairly among "
        "everything booting. Each start then takes longer, and the last one is ready long after the "
        "first.")
    c1, c2, c3 = st.columns(3)
    rt = c1.selectbox("Runtime", ["runc", "crun", "gvisor", "kata", "firecracker", "qemu-kvm"], key="l4_rt")
    n = c2.slider("Starts requested at once", 1, 300, 100, key="l4_n")
    cores = c3.slider("Host CPU cores", 1, 64, 8, key="l4_cores")
    res = runs.run(planner.lesson_burst(rt, n, cores), rt)
    w = res["summary"]["workloads"]["app"]
    a, b, c = st.columns(3)
    a.metric("Median startup (s)", f"{w['startup_s']['p50']:.2f}")
    b.metric("p95 startup (s)", f"{w['startup_s']['p95']:.2f}")
    c.metric("Last one ready after (s)", f"{w['startup_s']['max']:.2f}")
    ts = res["timeseries"]
    ts = ts[ts["time_s"] <= max(w["startup_s"]["max"] * 1.1, 1.0)]
    charts.show(st, charts.content_key("burst", rt, n, cores), lambda: charts.lines(
        ts, ["starting", "running"], "Instances starting and running"))


def layers() -> None:
    st.markdown(
        "Images are stacks of layers, and images built on the same base share the bottom of the stack. "
        "A host stores each layer once, so pulling a second image on the same base only downloads what "
        "is new. Containers see the layers read-only; whatever a container writes goes to its own layer "
        "on top (**copy-on-write**), so the shared layers never change.")
    picked = st.multiselect("Images pulled one after another", CONTAINER_IMAGES,
                            default=["python:3.12-slim", "node:20-slim", "python:3.12-alpine"], key="l5_images")
    if not picked:
        st.info("Pick at least one image.")
        return
    res = runs.run(planner.lesson_layers(picked), "layers")
    sizes = planner.image_sizes(picked)
    w = res["summary"]["workloads"]
    sizes["pulled_mib"] = [w[name]["pull"]["pulled_mib"] for name in w]
    h = res["summary"]["host"]
    a, b = st.columns(2)
    a.metric("Sum of the images (MiB, unpacked)", f"{sizes['disk_mib'].sum():.1f}")
    b.metric("Stored on the host (MiB)", f"{h['stored_mib']:.1f}", help="each layer once")
    long = sizes.melt(id_vars=["image"], value_vars=["download_mib", "pulled_mib"], var_name="what", value_name="MiB")
    charts.show(st, charts.content_key("pulls", *picked), lambda: charts.bars(
        long, "MiB", "image", "Image size vs what its pull downloaded", "MiB", color="what"))
    charts.show(st, charts.content_key("layers", *picked),
                lambda: charts.layer_graph(*planner.layer_nodes(picked)))


def lifecycle() -> None:
    st.markdown(
        "Every instance moves through states: requested, perhaps **waiting** for room, pulling, "
        "created, starting, running (here instance 0 is **paused** for a while and resumed), stopping, "
        "exited. Make the host smaller or the instances live longer and more of them wait.")
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Instances (one every 2 s)", 2, 30, 10, key="l6_n")
    life = c2.slider("Lifetime (s)", 5, 120, 20, key="l6_life")
    ram = c3.slider("Host RAM (GiB)", 2, 32, 4, key="l6_ram")
    scenario = planner.lesson_lifecycle(n, life, ram * 1024)
    res = runs.run(scenario, "lifecycle")
    w = res["summary"]["workloads"]["app"]
    a, b = st.columns(2)
    a.metric("Instances that waited", f"{w['wait_s']['waited_fraction']:.0%}")
    b.metric("p95 wait (s)", f"{w['wait_s']['p95']:.2f}")
    charts.show(st, charts.content_key("gantt", n, life, ram), lambda: charts.gantt(
        planner.gantt_frame(res["events"], scenario.duration_s)))


LESSONS = {
    "Image vs container": image_vs_container,
    "Shared kernel vs guest kernel": kernel_memory,
    "Anatomy of a startup": startup_anatomy,
    "A burst of starts": burst,
    "Layers and copy-on-write": layers,
    "Lifecycle timeline": lifecycle,
}


def render() -> None:
    st.title("Learn")
    st.caption("Each lesson is a live simulation: change the controls and the numbers follow.")
    for tab, lesson in zip(st.tabs(list(LESSONS)), LESSONS.values()):
        with tab:
            lesson()
