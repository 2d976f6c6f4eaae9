"""Short lessons, each a few sentences and a small simulation the reader changes."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer.faces.ui import charts, failure_lessons, lesson_memory, lesson_node_dies, runs
from simcontainer.faces.ui import estimate_marks as marks
from simcontainer.studies import comparison, estimates, lessons, planner

KERNELS = ("runc and crun containers share the host's kernel; a **gVisor** container runs its app on a "
           "**user-space kernel** (the Sentry) in front of the host's; a **Kata** container runs inside a "
           "light VM with its **own guest kernel**; Firecracker, QEMU and Cloud Hypervisor boot whole VMs, "
           "each with a guest kernel.")


def runtime_choice(label: str, options: list[str], key: str, index: int = 0) -> str:
    """A runtime picker that says which kernel each runtime's instances run on and which control
    plane starts them."""
    return st.selectbox(label, options, index=index, key=key, format_func=comparison.describe)

CONTAINER_IMAGES = ["alpine:3.20", "python:3.12-slim", "python:3.12-alpine", "node:20-slim",
                    "eclipse-temurin:21-jre", "golang:1.22", "nginx:1.27", "postgres:16", "redis:7"]


num = comparison.fmt_figure      # a figure for a metric; "—" when there is none (nothing started)


def image_vs_container() -> None:
    st.markdown(
        "An **image** is a packaged, read-only filesystem: the app, its libraries and a userland, "
        "frozen. A **container** is a running process started from that image with a thin private "
        "writable layer on top. The host fetches and unpacks an image once; every container made from "
        "it reuses those files. Change how many containers start from one image and watch what grows.")
    c1, c2 = st.columns(2)
    image = c1.selectbox("Image", CONTAINER_IMAGES, index=CONTAINER_IMAGES.index("node:20-slim"), key="l1_image")
    n = c2.slider("Containers started from it", 1, 100, 10, key="l1_n")
    res = runs.run(lessons.lesson_image_vs_container(image, n), "image vs container")
    h, w = res["summary"]["host"], res["summary"]["workloads"]["app"]
    a, b, c = st.columns(3)
    a.metric("Downloaded (MiB)", f"{h['pulled_mib']:.1f}", help="the image's layers, fetched once")
    b.metric("Image on disk (MiB)", f"{h['stored_mib']:.1f}", help="unpacked layers, stored once")
    c.metric("Peak disk (MiB)", f"{h['peak_disk_mib']:.1f}", help="image + one writable layer per container")
    pulls = w["pull"]["pulls"]
    st.caption(f"{w['started']} containers started from {pulls} download{'s' if pulls != 1 else ''} of the image: "
               f"they were all requested at once, so all waited for that one pull "
               f"({comparison.fmt_s(w['phases_s']['pull'])} on average; p95 startup {comparison.fmt_s(w['startup_s']['p95'])}). "
               "Each extra container adds only its writable layer to the disk.")


# density's RAM split of one instance, in words (its keys are the result's, not a reader's)
RAM_PARTS = {"app": "the app's working set", "guest_unused": "guest RAM beyond the app (guest OS, free)",
             "runtime": "runtime / VMM overhead"}


def kernel_memory() -> None:
    st.markdown(
        "A container is an ordinary process of the host's Linux kernel: it asks for the memory its app "
        "uses, plus a few MiB of runtime bookkeeping. A virtual machine boots **its own kernel** and "
        "operating system inside a guest RAM of fixed size: admission **reserves** that whole guest RAM "
        "(the host promises it to the VM), while KVM **backs** only the pages the guest has touched "
        "(its OS and what the app has used; see *Why containers pack denser*). The same small app "
        "therefore reserves very different amounts of host memory. " + KERNELS)
    c1, c2, c3 = st.columns(3)
    with c1:
        vm = runtime_choice("Compare runc with", ["qemu-kvm", "firecracker", "cloud-hypervisor", "kata", "gvisor"],
                            "l2_vm")
    n = c2.slider("Instances", 1, 100, 20, key="l2_n")
    mem = c3.slider("App working set (MiB)", 32, 2048, 256, 32, key="l2_mem")
    rows, parts = [], []
    for rt in ("runc", vm):
        scenario = lessons.lesson_kernel(rt, n, mem)
        res = runs.run(scenario, rt)
        d = runs.density(planner.canonical(scenario), (rt,))["app"][rt]
        fits64 = int(65536 // d["per_instance"]["ram_mib"])
        w = res["summary"]["workloads"]["app"]
        rows.append({"runtime": rt, "peak_ram_mib": res["summary"]["host"]["peak_ram_mib"],
                     "per_instance_mib": d["per_instance"]["ram_mib"], "fits_on_64GiB": fits64,
                     "started": w["started"], "host_gib": scenario.host.ram_mib / 1024})
        parts += [{"runtime": rt, "part": RAM_PARTS.get(k, k), "MiB": v} for k, v in d["ram_breakdown_mib"].items()]
    cols = st.columns(2)
    for col, r in zip(cols, rows):
        col.metric(f"{r['runtime']}: host RAM reserved for {n} {estimates.mark(r['runtime'], 'fits')}".strip(),
                   f"{r['peak_ram_mib'] / 1024:.2f} GiB",
                   help=f"{r['per_instance_mib']:.0f} MiB each; {r['started']} of {n} started on a host "
                        f"sized for them ({r['host_gib']:.0f} GiB)"
                        + (f"\n\n{estimates.hover(r['runtime'], 'fits')}" if estimates.mark(r['runtime'], 'fits') else ""))
        col.caption(f"{r['per_instance_mib']:.0f} MiB each · {r['started']} of {n} started · "
                    f"{r['fits_on_64GiB']} would fit in 64 GiB")
    charts.show(st, charts.content_key("kernel", vm, n, mem), lambda: charts.stacked(
        pd.DataFrame(parts), "MiB", "runtime", "part", "RAM of one instance", "MiB"))
    ratio = rows[1]["peak_ram_mib"] / max(rows[0]["peak_ram_mib"], 1e-9)
    st.caption(f"Every one of the {n} started on each runtime (the host is sized to the request). The {vm} "
               f"instances take {ratio:.1f}× the RAM of the runc containers for the same app: "
               + ("each VM reserves its whole guest RAM (its kernel, OS and room the app may not use); "
                  "the host backs only what the guest touches, so the resident figure is lower."
                  if comparison.kernel_of(vm) == "guest kernel"
                  else "the sandbox's own kernel and helpers are paid per instance."))


def startup_anatomy() -> None:
    st.markdown(
        "Starting an instance is a chain of steps: the request may **wait** for room on the host, the "
        "image may have to be **pulled**, the runtime **creates** the sandbox (namespaces and cgroups, "
        "or a VMM process), then it **boots** (a fraction of a second for a container, a whole kernel "
        "and init system for a VM), and finally the app gets **ready**. Which step dominates depends on the "
        "runtime and on whether the image is already on the host.")
    c1, c2 = st.columns(2)
    with c1:
        names = sorted(sc.default_catalogue().runtimes)
        rt = runtime_choice("Runtime", names, "l3_rt", index=names.index("runc"))
    cached = c2.toggle("Image already on the host", value=True, key="l3_cached")
    scenario = lessons.lesson_startup(rt, cached)
    res = runs.run(scenario, rt)
    ph = comparison.phase_means(res["instances"], ["app"])
    total = sum(ph.values())
    st.metric(f"Mean startup (s) {estimates.mark(rt, 'startup')}".strip(), f"{total:.3f}",
              help=estimates.hover(rt, "startup") or "from measured medians (the runtime's profile cites them)")
    split = comparison.pull_split(ph.get("pull"), res["summary"]["workloads"]["app"])
    parts = dict(ph)
    if ph.get("pull") and all(v is not None for v in split.values()):
        parts = {}
        for k, v in ph.items():
            parts.update({f"pull: {p}": x for p, x in split.items()} if k == "pull" else {k: v})
    df = pd.DataFrame([{"runtime": rt, "phase": k, "seconds": v, "order": i}
                       for i, (k, v) in enumerate(parts.items())])
    charts.show(st, charts.content_key("startup", rt, cached), lambda: charts.phases(df))
    st.caption(f"Five starts, one at a time, on an idle host ({lessons.lesson_image(rt)}); each bar is the mean "
               "over the five. The first start pays the pull when the image is not cached; the later ones find "
               "it on disk."
               + (" The pull splits into the **registry** round trips (token, manifest, config, one request per "
                  "layer), the **download** of the layers and their **extraction** onto the disk."
                  if "pull: download" in parts else ""))


def burst() -> None:
    st.markdown(
        "One start on an idle host is quick. Ask for hundreds at once and they compete: for the "
        "daemon's workers and its serialized steps, and for CPU, which is shared fairly among "
        "everything booting. Each start then takes longer, and the last one is ready long after the "
        "first.")
    c1, c2, c3 = st.columns(3)
    with c1:
        rt = runtime_choice("Runtime", ["runc", "crun", "gvisor", "kata", "firecracker", "qemu-kvm"], "l4_rt")
    n = c2.slider("Starts requested at once", 1, 300, 100, key="l4_n")
    cores = c3.slider("Host CPU cores", 1, 64, 8, key="l4_cores")
    res = runs.run(lessons.lesson_burst(rt, n, cores), rt)
    w = res["summary"]["workloads"]["app"]
    a, b, c = st.columns(3)
    a.metric("Median startup (s)", num(w["startup_s"]["p50"]))
    b.metric("p95 startup (s)", num(w["startup_s"]["p95"]))
    c.metric("Last one ready after (s)", num(w["startup_s"]["max"]))
    ts = res["timeseries"]
    ts = ts[ts["time_s"] <= max((w["startup_s"]["max"] or 0.0) * 1.1, 1.0)]
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
    res = runs.run(lessons.lesson_layers(picked), "layers")
    sizes = lessons.image_sizes(picked)
    w = res["summary"]["workloads"]
    sizes["pulled_mib"] = [w[name]["pull"]["pulled_mib"] for name in w]
    h = res["summary"]["host"]
    a, b = st.columns(2)
    a.metric("Sum of the images (MiB, unpacked)", f"{sizes['disk_mib'].sum():.1f}")
    b.metric("Stored on the host (MiB)", f"{h['stored_mib']:.1f}", help="each layer once")
    long = sizes.rename(columns={"download_mib": "the image's download size", "pulled_mib": "downloaded by its pull"})
    long = long.melt(id_vars=["image"], value_vars=["the image's download size", "downloaded by its pull"],
                     var_name="what", value_name="MiB")
    charts.show(st, charts.content_key("pulls", *picked), lambda: charts.grouped_bars(
        long, "MiB", "image", "what", "Each image's download size vs what its pull fetched (in pull order)",
        "MiB (compressed)"))
    charts.show(st, charts.content_key("layers", *picked),
                lambda: charts.layer_graph(*lessons.layer_nodes(picked)))
    copy_on_write(picked[0])


def copy_on_write(image: str) -> None:
    st.markdown(
        "**Copy-on-write.** Each container gets a thin writable layer on top of the image's read-only "
        "layers. New files go there. When a container changes a file that lives in the image, the "
        "file is first **copied up** whole into its writable layer; the image's copy is untouched and "
        "the other containers still see the original.")
    c1, c2 = st.columns(2)
    n = c1.slider("Containers from the image", 1, 10, 3, key="l5_n")
    up = c2.slider("Size of an image file each container changes (MiB, copied up)", 0, 200, 50, 10, key="l5_up")
    table = lessons.copy_on_write(image, n, float(up))
    res = runs.run(lessons.lesson_image_vs_container(image, n, writable_mib=10.0 + up), "copy-on-write")
    h = res["summary"]["host"]
    a, b = st.columns(2)
    a.metric("Image layers on disk (MiB, shared)", f"{h['stored_mib']:.0f}")
    b.metric("Peak disk with the containers (MiB)", f"{h['peak_disk_mib']:.0f}",
             help=f"the image once + {n} writable layers of {10 + up} MiB")
    charts.show(st, charts.content_key("cow", image, n, up), lambda: charts.cow_bars(table))
    st.caption(f"The image's layers are stored once whatever the number of containers; each container "
               f"adds its own writable layer: 10 MiB of new files plus the {up} MiB file it copied up.")


def lifecycle() -> None:
    st.markdown(
        "Every instance moves through states: requested, perhaps **waiting** for room, **pulling** the "
        "image (only when the host does not have it yet), **creating** the container, starting, running (here instance 0 is **paused** for a while and resumed), stopping, "
        "exited. Make the host smaller or the instances live longer and more of them wait.")
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Instances (one every 2 s)", 2, 30, 10, key="l6_n")
    life = c2.slider("Lifetime (s)", 5, 120, 20, key="l6_life")
    ram = c3.slider("Host RAM (GiB)", 2, 32, 4, key="l6_ram")
    scenario = lessons.lesson_lifecycle(n, life, ram * 1024)
    res = runs.run(scenario, "lifecycle")
    w = res["summary"]["workloads"]["app"]
    a, b = st.columns(2)
    a.metric("Instances that waited", num(w["wait_s"]["waited_fraction"], ".0%"))
    b.metric("p95 wait (s)", num(w["wait_s"]["p95"]))
    charts.show(st, charts.content_key("gantt", n, life, ram), lambda: charts.gantt(
        planner.gantt_frame(res["events"], scenario.duration_s, instances=res["instances"])))


def _p95(res: dict, workload: str) -> float | None:
    w = res["summary"]["workloads"].get(workload)
    return None if w is None else w["startup_s"]["p95"]


def _mixed_runs(containers: int, microvms: int, **kw: object) -> dict[str, dict]:
    """The mix, and each group alone on the same host with the same arrivals."""
    out = {"together": runs.run(lessons.lesson_mixed(containers, microvms, **kw), "the mixed deploy")}
    for part in ("containers", "microvms"):
        if (containers if part == "containers" else microvms) > 0:
            out[part] = runs.run(lessons.lesson_mixed(containers, microvms, only=[part], **kw), f"{part} alone")
    return out


def _alone_vs_together(r: dict[str, dict], microvm_label: str) -> pd.DataFrame:
    rows = []
    for part, label in (("containers", marks.marked("runc containers (dockerd)", CONTAINERS)),
                        ("microvms", marks.marked(microvm_label, MICROVMS))):
        if part in r:
            rows += [{"group": label, "setting": "alone on the host", "seconds": _p95(r[part], part)},
                     {"group": label, "setting": "in the mixed deploy", "seconds": _p95(r["together"], part)}]
    return pd.DataFrame(rows).dropna(subset=["seconds"])


# the runtime entries behind each group's startup in the mixed deploy (their estimates get the mark)
MICROVMS, CONTAINERS, QEMU = ["firecracker"], ["runc@dockerd"], ["qemu-kvm"]


def mixed_deploy() -> None:
    st.markdown(
        "One host often runs containers and microVMs side by side. Each kind is started by its own "
        "**control plane**: runc containers by **dockerd** (no worker pool, but every container's network "
        "endpoint is created under libnetwork's **per-network lock**), Firecracker microVMs through "
        "**each VMM's own API socket** (nothing shared), full VMs by **libvirt** (a pool of 20 workers). "
        "A request waits only in its own control plane's queue, so a container burst does not hold up a "
        "microVM. What they still share is the hardware: **CPU** cores and **disk** bandwidth.")
    c1, c2 = st.columns(2)
    n = c1.slider("runc containers under dockerd, all requested at 0 s", 0, 300, 100, 10, key="lm_c")
    m = c2.slider("Firecracker microVMs, all requested at 1 s", 1, 50, 5, key="lm_vm")
    st.subheader("Each control plane queues on its own")
    r = _mixed_runs(n, m, cpu_cores=16.0)
    a, b, c = st.columns(3)
    marks.metric(a, "microVMs alone: p95 startup (s)", num(_p95(r["microvms"], "microvms"), ".3f"), MICROVMS,
                 help="request to ready, 95th percentile over the microVMs, with nothing else on the host")
    marks.metric(b, "microVMs beside the containers (s)", num(_p95(r["together"], "microvms"), ".3f"), MICROVMS,
                 help="the same microVMs, same arrivals, with the container burst on the host")
    marks.metric(c, "containers: p95 startup (s)", num(_p95(r["together"], "containers") if n else None),
                 CONTAINERS, help="request to ready, 95th percentile over the containers in the mixed deploy")
    charts.show(st, charts.content_key("mixed-planes", n, m), lambda: charts.alone_vs_together(
        _alone_vs_together(r, "Firecracker microVMs (own API)"),
        "p95 startup: each group alone vs in the mixed deploy (16 cores)"))
    marks.note(st, [*MICROVMS, *CONTAINERS], what="the startups")
    if n:
        last = r["together"]["summary"]["workloads"]["containers"]["startup_s"]["max"]
        st.caption(
            f"A 16-core host with room to spare. The {n} containers queue at dockerd's network lock, about "
            f"0.10 s each under it, so the last is ready after {comparison.fmt_s(last)}; the microVMs, requested "
            "1 s into that burst, never enter dockerd: each is served by its own VMM and starts as fast as "
            "it does alone.")
    st.subheader("Where they still share: CPU")
    st.markdown(
        "Every start burns CPU: dockerd, containerd and the shim per container; the jailer, the VMM and "
        "the guest's boot per microVM. The host's cores are shared fairly among everything starting and "
        "running, so on a small host a container burst does slow the microVMs, through CPU, not a queue.")
    cores = st.slider("Host CPU cores", 2, 32, 4, key="lm_cores")
    rc = _mixed_runs(n, m, cpu_cores=float(cores))
    a, b, c = st.columns(3)
    marks.metric(a, f"microVMs alone on {cores} cores (s)", num(_p95(rc["microvms"], "microvms"), ".3f"), MICROVMS,
                 help="p95 startup, request to ready, with nothing else on the host")
    marks.metric(b, f"microVMs beside them on {cores} cores (s)", num(_p95(rc["together"], "microvms"), ".3f"),
                 MICROVMS, help="p95 startup, request to ready, in the mixed deploy")
    peak = rc["together"]["summary"]["host"].get("peak_cpu_demand")
    c.metric("Peak cores asked / cores", num(peak, ".1f") + ("×" if peak is not None else ""),
             help="the most CPU everything starting and running asked for at once, as a multiple of the "
                  "host's cores; above 1 every start gets a smaller share and takes longer")
    ts = rc["together"]["timeseries"]
    end = max((rc["together"]["summary"]["workloads"].get("containers", {}).get("startup_s", {}).get("max") or 0.0),
              (rc["together"]["summary"]["workloads"]["microvms"]["startup_s"]["max"] or 0.0), 2.0) * 1.2
    ts = ts[ts["time_s"] <= end]
    charts.show(st, charts.content_key("mixed-cpu", n, m, cores), lambda: charts.cores_asked(
        ts, cores, f"CPU cores asked by the mixed deploy on {cores} cores"))
    st.caption("Cores asked counts every start's CPU work and every running app's share; while it is above "
               "the host's cores, each start's CPU steps stretch by that ratio.")
    st.subheader("… and disk")
    st.markdown(
        "A VM whose disk is a **full copy** of its image (rather than a copy-on-write overlay) writes the "
        "whole image before it boots. Copies share the host's disk bandwidth (500 MB/s here): libvirt no "
        "longer holds a worker during a copy, and dockerd never waits for one, but a microVM that also "
        "copies its root filesystem shares the same disk.")
    q = st.slider("QEMU VMs with full disk copies (libvirt), requested at 0 s", 0, 20, 10, key="lm_q")
    rd = _mixed_runs(n, m, cpu_cores=16.0, qemu_copies=q, microvm_disk="copy")
    a, b, c = st.columns(3)
    marks.metric(a, "microVMs copying their disk, alone (s)", num(_p95(rd["microvms"], "microvms")), MICROVMS,
                 help="p95 startup, request to ready, of microVMs whose root filesystem is a full copy")
    marks.metric(b, f"… beside {q} QEMU disk copies (s)", num(_p95(rd["together"], "microvms")), MICROVMS,
                 help="the same microVMs sharing the disk with the QEMU VMs' copies")
    marks.metric(c, "containers: p95 beside the copies (s)", num(_p95(rd["together"], "containers") if n else None),
                 CONTAINERS, help="the containers' p95 startup in this deploy; their images are cached and their "
                                  "writable layers are empty: each writes only its rootfs's state files (~0.5 MiB) "
                                  "while starting, so the copies barely slow them")
    charts.show(st, charts.content_key("mixed-disk", n, m, q), lambda: charts.alone_vs_together(
        _alone_vs_together(rd, "Firecracker microVMs (disk copy)"),
        f"p95 startup: alone vs beside {q} QEMU full disk copies"))
    qs = rd["together"]["summary"]["workloads"].get("qemu")
    if qs:
        st.caption(f"The {q} QEMU VMs themselves take "
                   f"{marks.marked(comparison.fmt_s(qs['startup_s']['p95']), QEMU)} (p95) to start: "
                   "their copies split the disk's bandwidth among them and the microVMs' copies. The "
                   "containers' startup is nearly the same as alone: only their ~0.5 MiB of rootfs writes "
                   "wait on the disk, nothing on libvirt.", help=marks.sources(QEMU) or None)


LESSONS = {
    "image-vs-container": ("Image vs container", image_vs_container),
    "kernel": ("Shared kernel vs guest kernel", kernel_memory),
    "startup": ("Anatomy of a startup", startup_anatomy),
    "burst": ("A burst of starts", burst),
    "layers": ("Layers and copy-on-write", layers),
    "lifecycle": ("Lifecycle timeline", lifecycle),
    "mixed-deploy": ("Containers and microVMs on one host", mixed_deploy),
    **failure_lessons.LESSONS,
    **lesson_memory.LESSONS,
    **lesson_node_dies.LESSONS,
}


def page(title: str, lesson: Callable[[], None]) -> Callable[[], None]:
    def render() -> None:
        st.title(title)
        st.caption("A lesson is a live simulation: change the controls and the numbers follow.")
        try:
            lesson()
        except runs.NotRun as exc:
            st.warning(str(exc))
    render.__name__ = f"lesson_{lesson.__name__}"
    return render


LESSONS = {slug: (title, page(title, fn)) for slug, (title, fn) in LESSONS.items()}
