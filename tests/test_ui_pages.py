"""The Learn and Sweep pages through AppTest: each lesson's controls change its numbers."""

from __future__ import annotations

import pyarrow as pa
import pytest

pytest.importorskip("streamlit")
from app_support import metric, open_page  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from simcontainer.faces.ui import estimate_marks as marks  # noqa: E402

start = open_page


LESSONS = {"image-vs-container": 0, "kernel": 1, "startup": 1, "burst": 1, "layers": 3, "lifecycle": 1,
           "mixed-deploy": 3, "blast-radius": 3, "stopping": 3, "memory": 2, "cpu-limits": 2}


@pytest.fixture(scope="module")
def learn() -> dict[str, AppTest]:
    return {slug: start(f"learn-{slug}") for slug in LESSONS}


def test_learn_pages_have_every_lesson(learn):
    titles = [learn[s].title[0].value for s in LESSONS]
    assert titles == ["Image vs container", "Shared kernel vs guest kernel", "Anatomy of a startup",
                      "A burst of starts", "Layers and copy-on-write", "Lifecycle timeline",
                      "Containers and microVMs on one host", "Isolation and blast radius",
                      "Stopping and crashing", "Why containers pack denser — and when VMs catch up",
                      "CPU limits vs requests"]
    # RAM split, phases, burst lines; image bars, layer graph, copy-on-write; gantt;
    # mixed deploy: alone vs together, cores asked, alone vs beside the disk copies
    assert {s: len(learn[s].get("vega_lite_chart")) for s in LESSONS} == LESSONS


def step(at: AppTest, widget, value, label: str) -> tuple[str, str]:
    before = metric(at, label)
    widget.set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    return before, metric(at, label)


def test_image_vs_container_lesson(learn):
    learn = learn["image-vs-container"]
    pulled = metric(learn, "Downloaded")
    before, after = step(learn, learn.slider(key="l1_n"), 60, "Peak disk")
    assert float(after) > float(before)              # one writable layer more per container...
    assert metric(learn, "Downloaded") == pulled     # ...but the image is downloaded once


def test_kernel_lesson(learn):
    learn = learn["kernel"]
    before, after = step(learn, learn.slider(key="l2_mem"), 1024, "qemu-kvm: host RAM")
    assert float(after.split()[0]) > float(before.split()[0])
    qemu = metric(learn, "qemu-kvm: host RAM")
    learn.selectbox(key="l2_vm").set_value("firecracker").run()
    assert float(metric(learn, "firecracker: host RAM").split()[0]) < float(qemu.split()[0])
    # the host is sized to the request: all 100 start, and the caption says so
    learn.slider(key="l2_n").set_value(100).run()
    learn.selectbox(key="l2_vm").set_value("qemu-kvm").run()
    captions = " ".join(c.value for c in learn.caption)
    assert "100 of 100 started" in captions and "would fit in 64 GiB" in captions


def test_startup_lesson(learn):
    learn = learn["startup"]
    before, after = step(learn, learn.toggle(key="l3_cached"), False, "Mean startup")
    assert float(after) > float(before)              # the pull is part of a cold start
    before, after = step(learn, learn.selectbox(key="l3_rt"), "qemu-kvm", "Mean startup")
    assert float(after) > float(before)


def test_burst_lesson(learn):
    learn = learn["burst"]
    before, after = step(learn, learn.slider(key="l4_n"), 300, "p95 startup")
    assert float(after) > float(before)
    before, after = step(learn, learn.slider(key="l4_cores"), 64, "p95 startup")
    assert float(after) <= float(before)


def test_layers_lesson(learn):
    learn = learn["layers"]
    before, after = step(learn, learn.multiselect(key="l5_images"), ["python:3.12-slim", "node:20-slim"],
                         "Stored on the host")
    assert float(after) < float(before)
    assert float(metric(learn, "Stored on the host")) < float(metric(learn, "Sum of the images"))
    # the pull bars sit side by side (never stacked: 44 MiB pulled is not 88)
    spec = learn.get("vega_lite_chart")[0].proto.spec
    assert '"stack": null' in spec and "yOffset" in spec
    # copy-on-write: a bigger copied-up file grows the disk, the shared image layers stay
    image = metric(learn, "Image layers on disk")
    before, after = step(learn, learn.slider(key="l5_up"), 150, "Peak disk with the containers")
    assert float(after) > float(before) and metric(learn, "Image layers on disk") == image


def test_lifecycle_lesson(learn):
    learn = learn["lifecycle"]
    before, after = step(learn, learn.slider(key="l6_ram"), 32, "Instances that waited")
    assert before != "0%" and after == "0%"          # room for all: nobody waits


def test_cold_starts_lesson_shows_every_strategy_and_its_memory_bill():
    """Learn lesson "Cold starts and how platforms hide them" (simcontainer/ui/lesson_cold_starts.py)."""
    from simcontainer.studies.warm_strategies import STRATEGIES

    at = start("learn-cold-starts")
    assert at.title[0].value == "Cold starts and how platforms hide them"
    assert len(at.get("vega_lite_chart")) == 2                      # startup p50/p95, idle RAM
    table = at.dataframe[0].value
    assert set(table["strategy"]) == set(STRATEGIES)
    assert set(table["runtime"]) == {"runc", "Firecracker"}
    for chart in at.get("vega_lite_chart"):
        spec = chart.proto.spec
        assert all(s in spec for s in STRATEGIES) and '"height": 420' in spec.replace(":420", ": 420")
    warm = table[table["strategy"] == "pool"]
    assert (warm["startup p50"] == "0.000 s").all() and (warm["idle RAM, mean"] != "0 MiB").all()
    before = metric(at, "runc pool: idle RAM")
    at.slider(key="lcs_pool").set_value(4).run()
    assert not at.exception, [e.value for e in at.exception]
    assert float(metric(at, "runc pool: idle RAM").replace(",", "")) > float(before.replace(",", ""))


@pytest.fixture(scope="module")
def sweep() -> AppTest:
    at = start("sweep")
    assert at.selectbox(key="a1_path").value == "host.cpu_cores"
    at.number_input(key="a1_low_host.cpu_cores").set_value(1.0).run()
    at.number_input(key="a1_high_host.cpu_cores").set_value(16.0).run()
    at.number_input(key="a1_steps_host.cpu_cores").set_value(3).run()
    at.number_input(key="reps").set_value(1).run()
    at.button(key="run_sweep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sweep_one_axis_line(sweep):
    table = sweep.dataframe[-1].value
    assert list(table["host.cpu_cores"]) == [1.0, 8.5, 16.0]
    assert len(sweep.get("vega_lite_chart")) == 1
    assert not sweep.get("progress") and not [b for b in sweep.button if b.key == "stop_sweep"]
    assert sweep.selectbox(key="metric").value == "workloads.api-runc.startup_s.p95"
    p95 = list(sweep.dataframe[-1].value["mean"])
    assert p95[0] > p95[-1]                           # one core makes the burst start slower
    sweep.selectbox(key="metric").set_value("host.mean_cpu_util").run()
    util = list(sweep.dataframe[-1].value["mean"])
    assert util[0] > util[-1]                         # the same work on more cores: lower utilisation
    assert len(sweep.session_state["sweep"]["results"]) == 3
    # a changed design marks the old chart as stale
    sweep.number_input(key="a1_steps_host.cpu_cores").set_value(4).run()
    assert any("design changed" in w.value for w in sweep.warning)
    assert "(stale)" in sweep.get("vega_lite_chart")[0].proto.spec


def test_sweep_defaults_to_three_seeds_and_bounded_intervals():
    at = start("sweep")
    assert at.number_input(key="reps").value == 3
    at.number_input(key="a1_steps_host.cpu_cores").set_value(2).run()
    at.button(key="run_sweep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[-1].value
    assert (table["runs"] == 3).all()
    assert (table["95% low"] >= 0).all()     # a latency's interval stays >= 0
    # Stop keeps the finished runs and says so
    result = at.session_state["sweep"]
    kept = dict(list(result["results"].items())[:4])
    at.session_state["sweep"] = dict(result, results=kept, stopped=True)
    at.run()
    assert any("Stopped: 4 of 6 runs finished and kept" in i.value for i in at.info)
    assert len(at.get("vega_lite_chart")) == 1


def test_sweep_categorical_axis():
    at = start("sweep")
    at.selectbox(key="a1_path").set_value("workloads.api-runc.runtime").run()
    at.multiselect(key="a1_values_workloads.api-runc.runtime").set_value(["crun", "runc"]).run()
    at.number_input(key="reps").set_value(1).run()
    at.button(key="run_sweep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.dataframe[-1].value["workloads.api-runc.runtime"]) == ["crun", "runc"]
    assert '"x:N"' in at.get("vega_lite_chart")[0].proto.spec or '"nominal"' in at.get("vega_lite_chart")[0].proto.spec


def test_sweep_two_axes_heatmap():
    at = start("sweep")
    at.selectbox(key="a1_path").set_value("host.cpu_cores").run()
    at.number_input(key="a1_steps_host.cpu_cores").set_value(2).run()
    at.selectbox(key="a2_path").set_value("host.ram_mib").run()
    at.number_input(key="a2_steps_host.ram_mib").set_value(2).run()
    at.number_input(key="reps").set_value(1).run()
    at.button(key="run_sweep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[-1].value
    assert len(table) == 4 and {"host.cpu_cores", "host.ram_mib"} <= set(table.columns)
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert '"rect"' in spec
    assert len(at.session_state["sweep"]["results"]) == 4
    # rounded labels: every cell carries its value with 3 significant digits
    assert '"label"' in spec


def test_image_lesson_caption_follows_the_run():
    # all containers are requested at once: one download, and every one of them waits for it
    fresh = start("learn-image-vs-container")   # the module's app has had its sliders moved
    caption = next(c.value for c in fresh.caption if "containers started from" in c.value)
    assert caption.startswith("10 containers started from 1 download of the image")
    assert "all waited for that one pull" in caption


def test_hosts_page_answers_how_many_hosts():
    at = start("hosts")
    text = at.success[0].value
    assert "For 20 × api-runc, 20 × api-firecracker, 20 × api-qemu, 24 × churn-runc" in text
    assert "2 on qemu-kvm (RAM binds)" in text and "1 on runc (CPU binds)" in text
    at.number_input(key="hn_api-qemu").set_value(200).run()
    assert "on qemu-kvm (RAM binds)" in at.success[0].value
    assert "2 on qemu-kvm" not in at.success[0].value
    assert len(at.get("vega_lite_chart")) == 1


def test_planner_on_several_hosts_has_a_per_host_view():
    at = start("planner")
    at.number_input(key="count0").set_value(3).run()
    assert not at.exception
    per_host = next(d.value for d in at.dataframe if "Peak RAM (GiB)" in d.value.columns)
    assert len(per_host) == 3 and int(per_host["Instances placed"].iloc[0]) > 0


def test_mixed_deploy_lesson_blocks_only_through_cpu_and_disk(learn):
    at = learn["mixed-deploy"]
    # 100 containers under dockerd and 5 microVMs on 16 cores: the microVMs start as fast as alone
    alone, beside = float(metric(at, "microVMs alone: p95")), float(metric(at, "microVMs beside the containers"))
    assert beside == pytest.approx(alone, rel=0.02) and alone < 0.5
    assert float(metric(at, "containers: p95 startup")) > 5.0      # they queued at dockerd's network lock
    # on 4 cores they share CPU: the microVMs are slower beside the burst
    assert float(metric(at, "microVMs beside them on 4 cores")) > 3 * float(metric(at, "microVMs alone on 4 cores"))
    assert float(metric(at, "Peak cores asked").rstrip("×")) > 1.0
    # full disk copies share the disk: copying microVMs slow down, the containers hardly (only
    # their start's ~0.5 MiB of rootfs writes share the disk)
    assert float(metric(at, "… beside 10 QEMU")) > 1.5 * float(metric(at, "microVMs copying their disk, alone"))
    assert float(metric(at, "containers: p95 beside the copies")) == pytest.approx(
        float(metric(at, "containers: p95 startup")), rel=0.02)
    # fewer containers: the microVMs on 4 cores get closer to their time alone
    before, after = step(at, at.slider(key="lm_c"), 0, "microVMs beside them on 4 cores")
    assert float(after) < float(before)


def test_blast_radius_lesson_kernel_decides(learn):
    at = learn["blast-radius"]
    # a fault in the kernel an instance runs on: the host's for runc (all), its own for a microVM (one)
    assert metric(at, "runc containers lost") == "50" and metric(at, "Firecracker microVMs lost") == "1"
    assert float(metric(at, "runc: recovery")) > 60 > float(metric(at, "Firecracker: recovery"))
    table = at.dataframe[0].value
    assert list(table.columns) == ["fault", "runtime", "running before the fault", "instances lost", "recovery (s)",
                                   "capacity lost (instance-s)", "restarts", "availability"]
    assert len(table) == 16
    at.selectbox(key="lb_fault").set_value("guest_panic").run()
    assert not at.exception
    assert metric(at, "runc containers lost") == "0" and metric(at, "runc: recovery") == "0.0"
    at.selectbox(key="lb_fault").set_value("daemon_restart").run()
    assert metric(at, "Firecracker microVMs lost") == "0" and metric(at, "runc containers lost") == "50"
    at.toggle(key="lb_live").set_value(True).run()
    assert metric(at, "runc containers lost") == "0"          # live-restore keeps them running
    at.selectbox(key="lb_fault").set_value("host_panic").run()
    at.slider(key="lb_reboot").set_value(120).run()
    assert float(metric(at, "Firecracker: recovery")) >= 120   # nothing survives the host
    assert not at.exception


def test_stopping_lesson_grace_and_backoff(learn):
    at = learn["stopping"]
    assert metric(at, "PID 1 without a handler: docker stop") == "10"
    assert metric(at, "PID 1 without a handler: pod deletion") == "30"
    assert metric(at, "With a handler: docker stop") == "2"
    at.slider(key="ls_shutdown").set_value(20.0).run()
    assert metric(at, "With a handler: docker stop") == "10"   # cut off at the grace period
    docker, kube = int(metric(at, "Docker always: restarts")), int(metric(at, "CrashLoopBackOff: restarts"))
    assert docker > 2 * kube > 0
    at.slider(key="ls_ttf").set_value(15).run()                # runs 10 s: Docker's delay resets
    assert not at.exception
    assert int(metric(at, "Docker always: restarts")) > kube
    assert "resets every time" in " ".join(c.value for c in at.caption)


def marked_metric(at: AppTest, label: str):
    return next(m for m in at.metric if m.label.startswith(label))


def assert_marked(at: AppTest, label: str, entries: list[str], figure="startup") -> bool:
    """The metric's label ends in ≈ exactly when the figure rests on an estimate, and then its
    help names the estimated profile figures with their sources."""
    m = marked_metric(at, label)
    expected = bool(marks.found(entries, figure))
    assert m.label.endswith(" ≈") == expected, (m.label, entries)
    if expected:
        assert "rests on estimates" in m.help and all(f in m.help for f in marks.found(entries, figure))
    return expected


def test_lessons_mark_figures_that_rest_on_estimates(learn):
    """Issue 25 item 6: the ≈ mark and its sources on hover on the mixed-deploy, blast-radius and
    stopping figures, as on the planner's."""
    mixed = learn["mixed-deploy"]
    assert assert_marked(mixed, "microVMs alone: p95", ["firecracker"])      # its API figures are estimates
    assert_marked(mixed, "containers: p95 startup", ["runc@dockerd"])
    chart = next(c for c in mixed.get("vega_lite_chart") if "alone vs in the mixed" in c.proto.spec)
    groups = set(pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().column("group").to_pylist())
    assert "Firecracker microVMs (own API) ≈" in groups
    blast = learn["blast-radius"]
    assert assert_marked(blast, "Firecracker: recovery", ["firecracker"])
    assert_marked(blast, "runc: recovery", ["runc"])
    table = blast.dataframe[0].value
    fc = table[table["runtime"].str.startswith("Firecracker")]
    assert fc["recovery (s)"].str.endswith(" ≈").all()
    assert any(c.value.startswith("≈: recovery and capacity") and "firecracker" in c.help for c in blast.caption)
    stop = learn["stopping"]
    assert assert_marked(stop, "CrashLoopBackOff: restarts", ["runc@kubelet"])   # the kubelet's figures
    assert_marked(stop, "Docker always: restarts", ["runc@dockerd"])
    assert not marked_metric(stop, "PID 1 without a handler: docker stop").label.endswith("≈")   # Docker's own grace


def test_cold_starts_lesson_marks_estimated_startups():
    at = start("learn-cold-starts")
    assert_marked(at, "runc cold start", ["runc"])
    assert assert_marked(at, "Firecracker snapshot start", ["firecracker"], ("startup", "restore"))
    table = at.dataframe[0].value
    runc_snapshot = table[(table["runtime"] == "runc") & (table["strategy"] == "snapshot")]
    assert runc_snapshot["startup p50"].str.endswith(" ≈").all()          # CRIU restore figures: estimates
    assert any(c.value.startswith("≈: startups and restores") for c in at.caption)


def gib(at: AppTest, label: str) -> float:
    return float(metric(at, label).split()[0])


def test_memory_packing_lesson(learn):
    at = learn["memory"]
    # 20 instances of a 256 MiB app: containers pay their working set, VMs their touched guest pages
    containers, reserved = gib(at, "Containers: host RAM"), gib(at, "qemu-kvm: reserved up front")
    touched, both = gib(at, "qemu-kvm: touched pages"), gib(at, "qemu-kvm: balloon + KSM")
    assert containers < both < touched < reserved
    # KSM merging more of like guests brings the VMs closer to the containers
    at.slider(key="lm_shared").set_value(0.6).run()
    assert not at.exception
    assert gib(at, "qemu-kvm: balloon + KSM") < both
    # a microVM's small guest OS and VMM: closer still; the chart has height and axis titles
    at.selectbox(key="lm_vm").set_value("firecracker").run()
    assert gib(at, "firecracker: reserved up front") < reserved
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert len(specs) == 2 and "host memory (GiB)" in specs[0] and "time since KSM started (s)" in specs[1]


def test_cpu_limits_lesson(learn):
    at = learn["cpu-limits"]
    assert metric(at, "Request latency, no limit") == "30 ms"
    slow = float(metric(at, "Request latency at 0.25 core").split()[0])
    assert slow > 100          # a quota spent early in the period: the request waits for the next one
    at.slider(key="lc_cpu").set_value(1.0).run()
    assert not at.exception
    assert float(metric(at, "Request latency at 0.25 core").split()[0]) < slow
    table = next(d.value for d in at.dataframe if "quota per period (ms)" in d.value.columns)
    assert list(table["quota per period (ms)"]) == [25.0, 50.0, 100.0, 200.0, 400.0]
    assert (table.loc[table["limit (cores)"] >= 1.0, "of which throttled (ms)"] == 0).all()
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert "request latency (ms)" in specs[1] and "CFS limit" in specs[0]
