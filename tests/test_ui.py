"""The planner page through streamlit's AppTest: widgets change the numbers shown; scenario in/out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import simcontainer as sc  # noqa: E402
from simcontainer.faces.ui import charts, planner_page  # noqa: E402
from simcontainer.faces.ui import estimate_marks as marks  # noqa: E402
from simcontainer.faces.ui.figure_card import cards_in  # noqa: E402
from simcontainer.scenario.defaults import typical_reserve_mib  # noqa: E402
from simcontainer.studies import comparison, hosts_needed, planner, planner_sweeps  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
BAD_TOML = """
name = "broken"
duration_s = -5
[host]
cpu_cores = 0
ram_mib = 1024
disk_gib = 10
[[workloads]]
name = "w"
runtime = "nosuch"
image = "python:3.12-slim"
mem_mib = 64
arrival = { kind = "burst", count = 0 }
"""


def start(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def paste(at: AppTest, text: str) -> AppTest:
    """Load ``text`` through the paste box (in "Scenario in and out", drawn once it is opened)."""
    at.session_state[planner_page.IO_OPEN] = True
    at.run()
    at.text_area(key="paste").input(text).run()
    return at.button(key="load_paste").click().run()


def tab(at: AppTest, label: str) -> AppTest:
    """Open one of the planner's detail tabs (only the open one's section runs)."""
    at.session_state[planner_page.DETAILS_KEY] = label
    return at.run()


def fits(at: AppTest) -> dict[str, str]:
    """The fits metrics, without the estimate mark (``≈``) some carry."""
    return {label.removesuffix(" fits"): value.removesuffix(" ≈") for label, value in cards(at) if label.endswith(" fits")}


def cards(at: AppTest) -> list[tuple[str, str]]:
    """(label, value) of the figure cards on the page (faces/ui/figure_card.py)."""
    return [c for m in at.markdown for c in cards_in(m.value)]


def answer(at: AppTest) -> str:
    """The headline: green when everything asked for ran, amber otherwise."""
    return next(a.value for a in [*at.success, *at.warning] if a.value.startswith("On "))


def vm_fits(ram_mib: float, runtime: str = "qemu-kvm", guest: float = 512.0) -> str:
    """How many VMs of the like-for-like guest (the mix's first: Firecracker's 512 MiB) fit in what
    the host's default reserve (a Kubernetes node's typical one) leaves."""
    room = ram_mib - typical_reserve_mib(ram_mib)
    return str(int(room // (guest + sc.default_catalogue().runtimes[runtime].mem_overhead_mib)))


def runtime_table(at: AppTest):
    return next(d.value for d in at.dataframe if "Binds" in d.value.columns and "Workload" in d.value.columns)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def planner_app() -> AppTest:
    return start()


def test_default_page_shows_the_answer(planner_app):
    at = planner_app
    no_exception(at)
    assert fits(at) == {"runc": "230", "firecracker": "116", "qemu-kvm": "93"}
    said = at.success[0].value       # green: everything asked for ran
    assert "RAM binds at 93 QEMU VMs of api-runc" in said and "runc fits 230" in said
    assert "Every VM booted firecracker-rootfs with 512 MiB guest RAM" in said
    assert "p95 startup" in said
    assert dict(cards(at))["qemu-kvm fits"].endswith("≈")   # an estimate
    # density, trade-off, ECDF, phases, running / RAM / CPU / disk over time (the warm starts' two: in their tab)
    assert len(at.get("vega_lite_chart")) == 8
    table = runtime_table(at)
    # like for like: one row per workload x runtime, each workload on every runtime compared
    assert len(table) == 4 * 3
    for _, group in table.groupby("Workload"):
        assert sorted(group["Runtime"]) == ["firecracker", "qemu-kvm", "runc"]
    assert not table.isin(["None", "nan"]).any().any()
    assert "s" not in at.query_params   # the default what-if keeps a clean link


def test_host_preset_and_count_change_the_numbers():
    at = start()
    at.selectbox(key="preset0").set_value("laptop").run()
    no_exception(at)
    small = fits(at)
    assert small["qemu-kvm"] == vm_fits(16384)         # RAM binds on a 16 GiB laptop
    assert "s" in at.query_params                      # the link now carries the what-if
    at.number_input(key="count0").set_value(3).run()
    assert fits(at)["qemu-kvm"] == str(3 * int(vm_fits(16384)))
    assert "On 3 hosts" in answer(at)
    # the what-if reproduces from its link alone
    again = start(**{k: at.query_params[k] for k in at.query_params})
    assert fits(again) == fits(at)
    # and the TOML offered for download runs unchanged
    text = at.session_state["current_toml"]
    s = sc.loads_scenario(text)
    assert s.host.preset == "laptop" and s.host.count == 3
    assert sc.simulate(s).summary["workloads"]["api-qemu"]["started"] == 20


def test_host_by_hand_and_compare_runtimes():
    at = start()
    at.selectbox(key="preset0").set_value("by hand").run()
    at.number_input(key="ram0").set_value(128.0).run()
    no_exception(at)
    assert fits(at)["qemu-kvm"] == vm_fits(128 * 1024)
    at.multiselect(key="compare0").select("kata").run()
    no_exception(at)
    assert "kata" in fits(at)
    assert "kata" in at.query_params["rt"]
    rows = runtime_table(at)
    rows = rows[rows["Workload"] == "api-runc"].set_index("Runtime")
    assert any("guest kernel, light VM" in c.value for c in at.caption)     # kata's kernel, under its figure
    p95 = {r: float(rows.loc[r, "p95 startup (s)"].replace("≈", "").replace(",", "")) for r in ("kata", "runc")}
    assert p95["kata"] > p95["runc"] * 0.5


def test_small_host_says_what_did_not_start():
    at = start()
    at.selectbox(key="preset0").set_value("dev-vm").run()      # 4 cores, 8 GiB
    no_exception(at)
    n = int(vm_fits(8192))
    assert f"{n} of 20 QEMU VMs started: {20 - n} still waiting at the horizon (RAM full)." in answer(at)
    assert not at.success                                       # never green when some did not start
    warned = " ".join(w.value for w in at.warning)
    assert "0 of 20 QEMU VMs of api-qemu started: RAM (20 still waiting at the horizon)" in warned


def test_lead_workload_and_unknown_runtime_in_link():
    at = start(rt="runc,nosuch", w="churn-runc")
    no_exception(at)
    assert any("nosuch" in w.value for w in at.warning)
    assert "of churn-runc" in answer(at)


def test_runc_under_two_control_planes_from_the_link_and_the_picker():
    at = start(rt="runc,runc@kubelet")
    no_exception(at)
    assert fits(at) == {"runc": "230", "runc@kubelet": "230"}       # the plane changes no density
    assert at.multiselect(key="compare0").value == ["runc", "runc@kubelet"]
    rows = runtime_table(at)
    lead = rows[rows["Workload"] == "api-runc"]
    assert list(lead["Runtime"]) == ["runc", "runc"]
    assert list(lead["Control plane"]) == ["dockerd (default)", "kubelet/containerd (CRI)"]
    assert "runc under kubelet/containerd (CRI)" in answer(at)
    captions = " ".join(c.value for c in at.caption)
    assert "control plane: dockerd" in captions and "control plane: kubelet/containerd (CRI)" in captions
    assert at.query_params["rt"] == "runc,runc@kubelet"
    mix = next(d.value for d in at.dataframe if "Never started" in d.value.columns)
    assert dict(zip(mix["Workload"], mix["Control plane"])) == {
        "api-runc": "dockerd", "api-firecracker": "its own VMM API", "api-qemu": "libvirt", "churn-runc": "dockerd"}
    # picked in the app: the entry goes into the link like any runtime
    at = start()
    at.multiselect(key="compare0").select("crun@kubelet").run()
    no_exception(at)
    assert "crun@kubelet" in fits(at)
    assert at.query_params["rt"].endswith(",crun@kubelet")


def test_bad_paste_lists_problems_by_field_and_keeps_the_what_if():
    at = start()
    paste(at, BAD_TOML)
    no_exception(at)
    errors = " ".join(e.value for e in at.error)
    for field in ("duration_s", "host.cpu_cores", "workloads[0].runtime", "workloads[0].arrival.count"):
        assert field in errors
    assert "Traceback" not in errors
    assert fits(at)["qemu-kvm"] == "93"               # the current what-if is untouched


def test_good_paste_replaces_the_what_if():
    at = start()
    base = planner.default_scenario()
    mine = planner_sweeps.with_values(base, {"host.ram_mib": 32768.0})
    paste(at, planner.canonical(mine))
    no_exception(at)
    assert not at.error
    assert fits(at)["qemu-kvm"] == vm_fits(32768)
    assert at.query_params["s"] == planner.encode_scenario(mine)


def test_upload_path_is_the_paste_path():
    # AppTest cannot upload files; the uploader calls the same function the paste box does.
    assert planner_page.load_text.__name__ == "load_text"
    source = Path(planner_page.__file__).read_text()
    assert "load_text(up.getvalue(), up.name)" in source and 'load_text(pasted, "pasted scenario")' in source


def test_damaged_link_shows_why_and_falls_back():
    at = start(s="garbage")
    no_exception(at)
    assert any("s:" in e.value for e in at.error)
    assert fits(at)["qemu-kvm"] == "93"


def test_run_past_the_size_guard_is_refused_with_a_message():
    at = start()
    huge = planner_sweeps.with_values(planner.default_scenario(), {"workloads.churn-runc.arrival.rate_per_s": 1e6})
    paste(at, planner.canonical(huge))
    no_exception(at)
    errors = " ".join(e.value for e in at.error)
    assert "Not run" in errors and "churn-runc" in errors and "400,000" in errors
    assert not fits(at)                                  # nothing ran


def test_size_estimate_sorts_runs():
    from simcontainer.faces.ui import runs

    default = planner.default_scenario()
    assert runs.size(default).in_process and not runs.size(default).refused
    mid = planner_sweeps.with_values(default, {"workloads.churn-runc.arrival.rate_per_s": 20.0})
    assert not runs.size(mid).in_process and not runs.size(mid).refused
    assert runs.refusal(default) is None


def test_out_of_range_sidebar_values_are_rejected_visibly():
    at = start()
    at.number_input(key="count0").set_value(0).run()
    no_exception(at)
    assert any("Hosts (identical): 0 is out of range" in e.value for e in at.sidebar.error)
    assert fits(at)["qemu-kvm"] == "93"               # the last good value (1 host) stays
    at.selectbox(key="preset0").set_value("by hand").run()
    at.number_input(key="cores0").set_value(-4.0).run()
    assert any("CPU cores: -4 is out of range" in e.value for e in at.sidebar.error)


def test_worker_process_is_bounded_in_memory():
    """A worker past its address-space limit dies or reports it; a bounded one returns the run."""
    from simcontainer.faces.ui import worker

    def finish(run):
        while True:
            kind, value = run.next(timeout=60)
            if kind != "progress":
                return kind, value

    # ~1 M churn requests need well over 1 GiB; the default scenario alone runs in 400 MiB, so
    # the limit (not the import) is what stops the big one
    big = planner_sweeps.with_values(planner.default_scenario(), {"workloads.churn-runc.arrival.rate_per_s": 600.0})
    run = worker.launch(planner.canonical(big), 400)
    kind, value = finish(run)
    run.kill()
    assert kind in ("error", "exit"), "a 400 MiB worker finished a run that needs more"
    small = worker.launch(planner.canonical(planner.default_scenario()), 3072)
    assert finish(small)[0] == "done"
    assert small.result()["summary"]["workloads"]["api-qemu"]["started"] == 20
    small.kill()


def test_a_stopped_run_stays_stopped_until_run_again():
    import hashlib

    at = start()
    mid = planner_sweeps.with_values(planner.default_scenario(), {"workloads.churn-runc.arrival.rate_per_s": 20.0})
    cells, _ = comparison.like_for_like(mid, ["churn-runc"], ["runc"])
    key = hashlib.sha256(planner.canonical(cells[0].scenario).encode()).hexdigest()
    at.session_state["stopped_runs"] = {key}
    paste(at, planner.canonical(mid))
    no_exception(at)
    assert any("churn-runc on runc was stopped" in w.value for w in at.warning)
    assert any(b.key in ("run_again", "run_again_partial") for b in at.button)


CRASHY = """
name = "crashy"
duration_s = 300
seed = 1
[host]
cpu_cores = 8
ram_mib = 16384
disk_gib = 100
[[workloads]]
name = "flaky"
runtime = "runc"
image = "python:3.12-slim"
mem_mib = 64
restart = "always"
time_to_failure = { kind = "exponential", mean_s = 30 }
arrival = { kind = "burst", count = 4, at_s = 0 }
[[workloads]]
name = "steady"
runtime = "runc"
image = "alpine:3.20"
mem_mib = 64
auto_remove = true
arrival = { kind = "burst", count = 4, at_s = 0 }
"""


def test_mix_editor_restart_and_auto_remove_and_the_lifecycle_table():
    at = start()
    no_exception(at)
    # the default what-if has no restarts, failures or faults: no lifecycle table
    assert not any("Restarts" in d.value.columns for d in at.dataframe)
    paste(at, CRASHY)
    no_exception(at)
    assert not at.error
    table = planner.workloads_table(planner.decode_scenario(at.query_params["s"]))
    assert table["restart"][0] == "always" and pd.isna(table["restart"][1])
    assert list(table["auto_remove"]) == [False, True]
    life = next(d.value for d in at.dataframe if "Restarts" in d.value.columns)
    rows = life.set_index("Workload")
    assert int(rows.loc["flaky", "Restarts"]) > 0 and rows.loc["flaky", "Exit codes"].endswith("× 1")
    assert rows.loc["steady", "Restarts"] == "0" and rows.loc["steady", "Exit codes"] == "—"
    assert rows.loc["steady", "Availability"] == "100.00%"
    assert float(rows.loc["flaky", "Availability"].rstrip("%")) < 100


def test_registry_controls_go_into_the_what_if():
    at = start()
    no_exception(at)
    at.sidebar.number_input(key="reg_egress0").set_value(125.0).run()
    at.sidebar.toggle(key="reg_mirror0").set_value(True).run()
    at.sidebar.selectbox(key="reg_lazy0").set_value("estargz").run()
    no_exception(at)
    s = planner.decode_scenario(at.query_params["s"])
    assert s.registry.egress_mb_s == 125.0 and s.registry.mirror is not None and s.registry.lazy == "estargz"


# ---- the "Warm starts" section (simcontainer/ui/warm_section.py, issue 15 item 5) ----------

def warm_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "Strategy" in d.value.columns and "Idle RAM, mean" in d.value.columns)


def test_planner_warm_starts_section_shows_every_strategy_for_firecracker():
    from simcontainer.studies.warm_strategies import STRATEGIES

    at = tab(start(), planner_page.WARM_TAB)
    no_exception(at)
    assert any(h.value.startswith("Warm starts") for h in at.subheader)
    table = warm_table(at)
    fc = table[table["Runtime"] == "firecracker"].set_index("Strategy")
    assert list(fc.index) == list(STRATEGIES)
    assert not fc[["Startup p50", "Startup p95", "Idle RAM, mean"]].isin(["—", "None", "nan"]).any().any()
    assert fc.loc["snapshot", "Starts cold / warm / restored"] == "0 / 0 / 20"
    assert fc.loc["snapshot", "Startup p50"].removesuffix(" ≈") == "0.005 s"   # Firecracker's documented restore
    # a figure resting on an estimate carries the mark; its sources are in the caption's hover
    for rt, g in table.groupby("Runtime"):
        for strategy, cell in zip(g["Strategy"], g["Startup p95"]):
            if cell not in ("—", "0.000 s"):
                assert cell.endswith(" ≈") == bool(marks.found([rt], marks.STRATEGY_BASIS.get(strategy, "startup")))
    assert table["Startup p95"].str.endswith(" ≈").any()           # firecracker's API figures are estimates
    note = next(c for c in at.caption if c.value.startswith("≈: startups and restores"))
    assert "estimate" in note.help and "firecracker" in note.help
    assert fc.loc["pool", "Idle RAM, mean"] != "0 MiB" and fc.loc["cold", "Idle RAM, mean"] == "0 MiB"
    qemu = table[table["Runtime"] == "qemu-kvm"].set_index("Strategy")
    assert qemu.loc["snapshot", "Startup p50"] == "—" and "no restore figures" in qemu.loc["snapshot", "Note"]
    assert any("Snapshot figures exist only for crun, firecracker, runc" in c.value and "qemu-kvm" in c.value
               for c in at.caption)
    specs = [c.proto.spec for c in at.get("vega_lite_chart") if "Warm starts" in c.proto.spec]
    assert len(specs) == 2 and all('"height"' in s and all(k in s for k in STRATEGIES) for s in specs)
    assert not table.isin(["None", "nan"]).any().any()


def test_warm_starts_pool_size_changes_the_memory_bill():
    at = tab(start(), planner_page.WARM_TAB)
    no_exception(at)
    before = warm_table(at).set_index(["Runtime", "Strategy"]).loc[("firecracker", "pool"), "Idle RAM, mean"]
    at.number_input(key="warm_pool").set_value(4).run()
    no_exception(at)
    after = warm_table(at).set_index(["Runtime", "Strategy"]).loc[("firecracker", "pool"), "Idle RAM, mean"]
    assert float(after.split()[0].replace(",", "")) > float(before.split()[0].replace(",", ""))


def _strategy_frame():
    from simcontainer.studies.warm_strategies import strategy_table

    s = sc.parse_scenario({
        "name": "w", "duration_s": 600, "seed": 3, "host": "server-64g",
        "workloads": [{"name": "fn", "runtime": "firecracker", "image": "firecracker-rootfs", "cpu": 0.1,
                       "mem_mib": 256, "guest_mem_mib": 512, "vm_disk": "overlay",
                       "arrival": {"kind": "interval", "every_s": 30, "start_s": 30},
                       "lifetime": {"kind": "fixed", "s": 5}}]})
    a = strategy_table(s, pool=2, keep_alive_s=120).assign(runtime="firecracker")
    qs = s.model_copy(update={"workloads": [s.workloads[0].model_copy(update={
        "runtime": "qemu-kvm", "image": "ubuntu-24.04-cloud", "guest_mem_mib": 1024})]})
    b = strategy_table(qs, pool=2, keep_alive_s=120).assign(runtime="qemu-kvm")
    return pd.concat([a, b], ignore_index=True)


def test_warm_section_pure_functions():
    from simcontainer.faces.ui import warm_section as ws
    from simcontainer.studies.warm_strategies import STRATEGIES

    df = _strategy_frame()
    table = ws.shown_table(df)
    assert list(table.columns) == ws.COLUMNS and len(table) == 2 * len(STRATEGIES)
    rows = table.set_index(["Runtime", "Strategy"])
    # a skipped strategy is "—" everywhere, with its note; nothing reads None or nan
    assert (rows.loc[("qemu-kvm", "snapshot")].drop("Note") == "—").all()
    assert rows.loc[("qemu-kvm", "snapshot"), "Note"]
    assert not table.isin(["None", "nan"]).any().any()
    # arrivals after the pool is up: pool and keep-alive serve warm starts at once, and hold idle RAM
    assert rows.loc[("firecracker", "pool"), "Startup p50"] == "0.000 s"
    assert rows.loc[("firecracker", "keep-alive"), "Startup p50"] == "0.000 s"
    assert rows.loc[("firecracker", "cold"), "Idle RAM, mean"] == "0 MiB"
    assert rows.loc[("firecracker", "pool"), "Fault CPU per restore"] == "—"
    assert rows.loc[("firecracker", "snapshot"), "Fault CPU per restore"] != "—"
    long = ws.startup_frame(df)
    assert len(long) == len(df) and long["p50"].notna().sum() == len(df) - 1
    assert long.loc[(long["runtime"] == "qemu-kvm") & (long["strategy"] == "snapshot"), "text"].eq("—").all()
    snap = "0.005 / 0.005 s" + (" ≈" if marks.found(["firecracker"], marks.STRATEGY_BASIS["snapshot"]) else "")
    assert long.loc[(long["runtime"] == "firecracker") & (long["strategy"] == "snapshot"), "text"].iloc[0] == snap
    lines = ws.observations(df, 2, 120.0)
    assert len(lines) == 2 and lines[0].startswith("**firecracker**") and "fastest" in lines[0]
    assert ws.POOL_EMPTY not in lines and ws.KEEP_EMPTY not in lines    # both served warm starts here
    burst = df.assign(warm=0)
    assert ws.observations(burst, 2, 120.0)[-2:] == [ws.POOL_EMPTY, ws.KEEP_EMPTY]
    assert ws.budget([20, 10]) == 5 * 30
    assert ws.verdict(300) == "auto" and ws.verdict(ws.AUTO_MAX + 1) == "ask"
    assert ws.verdict(ws.REFUSE_OVER + 1) == "refuse" and ws.verdict(float("inf")) == "refuse"
    assert ws.fmt(float("nan")) == "—" and ws.fmt(None) == "—" and ws.fmt(0.0051, ".3f", " s") == "0.005 s"
    assert {"crun", "firecracker", "runc"} <= set(ws.snapshot_runtimes())
    alt_specs = [ws.startup_chart(long, ["firecracker", "qemu-kvm"]).to_dict(validate=False),
                 ws.memory_chart(df, ["firecracker", "qemu-kvm"]).to_dict(validate=False)]
    assert all(s["height"] >= 240 for s in alt_specs)


def test_warm_section_runs_warm_paths_for_a_crashing_workload_too():
    """One lifecycle: a pool or a keep-alive is a part like any other, so a workload that crashes
    and restarts gets its strategy table (0.2 refused it: "warm paths run only with a plain docker
    run lifecycle")."""
    from simcontainer.faces.ui import warm_section as ws

    s = sc.loads_scenario(CRASHY, source="crashy")
    one = s.model_copy(update={"workloads": [s.workloads[0]]})
    df, why = ws.strategies(planner.canonical(one), 2, 600.0)
    assert df is not None and not why
    assert set(df["strategy"]) >= {"cold", "pool", "keep-alive"} and (df["started"] > 0).all()


BUSY = """
name = "busy"
duration_s = 1800
host = "server-64g"
[[workloads]]
name = "fn"
runtime = "runc"
image = "alpine:3.20"
mem_mib = 64
arrival = { kind = "interval", every_s = 1.5 }
lifetime = { kind = "fixed", s = 1 }
"""


def test_warm_section_past_the_quick_size_waits_for_a_button():
    at = start()
    paste(at, BUSY)
    tab(at, planner_page.WARM_TAB)
    no_exception(at)
    assert not any("Idle RAM, mean" in d.value.columns for d in at.dataframe)
    run = at.button(key="warm_run")
    assert "about 6,005 simulated requests" in run.label      # 5 strategies x 1,201 requests
    run.click().run()
    no_exception(at)
    rows = warm_table(at).set_index("Strategy")
    assert rows.loc["pool", "Startup p50"] == "0.000 s" and rows.loc["pool", "Idle RAM, mean"] != "0 MiB"


def oom_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "Packed" in d.value.columns)


def test_overcommit_control_and_oom_risk_chart():
    at = tab(start(), planner_page.OOM_TAB)
    no_exception(at)
    # off by default: closed-form counts, "—" for kills nothing simulated yet
    table = oom_table(at)
    assert set(table["OOM kills"]) == {"—"} and len(table) == 2 * 3     # no "1x overcommit" rows at 1.0
    at.sidebar.slider(key="mem_oc0").set_value(1.5).run()
    no_exception(at)
    assert planner.decode_scenario(at.query_params["s"]).host.memory_overcommit == 1.5
    assert any("reservations may add up to 150%" in c.value for c in at.sidebar.caption)
    charts_before = len(at.get("vega_lite_chart"))
    at.toggle(key="oom_simulate").set_value(True).run()
    no_exception(at)
    assert len(at.get("vega_lite_chart")) == charts_before + 1
    rows = oom_table(at).set_index(["Runtime", "Packed"])
    assert len(rows) == 3 * 3
    runc_res = int(rows.loc[("runc", "at reservation"), "Instances per host"])
    runc_oc = int(rows.loc[("runc", "at 1.5x overcommit"), "Instances per host"])
    assert runc_oc == int(runc_res * 1.5) or abs(runc_oc - 1.5 * runc_res) <= 1.5
    # packing by reservation x 1.5 kills containers far more often than packing by p95 use
    kills = lambda k: float(rows.loc[("runc", k), "OOM kills per 1,000 instance-h"].replace(",", ""))  # noqa: E731
    assert kills("at 1.5x overcommit") > kills("at reservation") >= kills("at p95 use") == 0
    assert all(rows.loc[(vm, "at reservation"), "OOM kills"] == "0" for vm in ("firecracker", "qemu-kvm"))  # a VM holds at most its guest
    chart = next(c.proto.spec for c in at.get("vega_lite_chart") if "OOM kills vs instances per host" in c.proto.spec)
    assert "OOM kills per 1,000 instance-hours" in chart and "instances per host" in chart


def test_admission_policy_is_shown_and_can_be_switched():
    """Issue 17: the planner says which admission policy ran and lets the user switch it."""
    at = start()
    no_exception(at)
    assert any(c.value.startswith("Admission: queue") for c in at.caption)
    at.selectbox(key="admission0").set_value("backfill").run()
    no_exception(at)
    assert any(c.value.startswith("Admission: backfill") for c in at.caption)
    assert planner.decode_scenario(at.query_params["s"]).daemon.admission == "backfill"   # in the link


def test_assumptions_are_shown_with_a_flip_when_the_result_has_them():
    def page():
        import streamlit as st

        from simcontainer.faces.ui import planner_page

        planner_page.assumptions_view(st, {"assumptions": [
            {"key": "workloads.api-firecracker.vm_disk", "value": "copy", "default": True,
             "source": "the runtime's tooling", "why": "each VM writes to its own disk copy",
             "effect": {"metric": "startup_s.p50", "flipped_to": "overlay", "value": 2.45}},
            {"key": "host.reserved_mib", "value": 0, "default": True, "source": "", "why": "nothing kept",
             "effect": None},
            # as every result has them (simcontainer.engine.assumptions): the flip, not yet measured
            {"key": "daemon.admission", "value": "queue", "default": True, "source": "default",
             "why": "strict FIFO", "flip_to": "backfill"}]})
        planner_page.assumptions_view(st, {})          # a result without them: nothing, no error

    at = AppTest.from_function(page, default_timeout=60)
    at.session_state[planner_page.ASSUMED_OPEN] = True       # drawn while the box is open
    at.run()
    no_exception(at)
    text = " ".join(m.value for m in at.markdown)
    assert "workloads.api-firecracker.vm_disk" in text and "host.reserved_mib" in text
    assert "flipped to overlay" in text
    assert [b.label for b in at.button] == ["Flip to overlay", "Flip to backfill"]   # only where a flip is known


def test_detail_tabs_run_only_the_open_one(planner_app):
    """Below the answer's charts, the mix over time is open; the OOM-risk and warm-start sections
    run and draw only once their tab is opened (a new visitor's page is lighter)."""
    at = start()
    assert [t.label for t in at.tabs] == [planner_page.OVER_TIME, planner_page.OOM_TAB, planner_page.WARM_TAB]
    assert any(h.value.startswith("The mix as given, over time") for h in at.subheader)
    assert not any(h.value.startswith(("Warm starts", "OOM risk")) for h in at.subheader)
    assert len(at.get("vega_lite_chart")) == 8          # density, trade-off, ECDF, phases, four over time
    tab(at, planner_page.WARM_TAB)
    no_exception(at)
    assert any(h.value.startswith("Warm starts") for h in at.subheader)
    assert not any(h.value.startswith("The mix as given, over time") for h in at.subheader)
    assert fits(at) == fits(planner_app)                # the answer above the tabs is the same


def test_closed_boxes_are_not_drawn_until_opened():
    """A new visitor's page skips what a closed expander holds (a dozen assumption rows with their
    buttons, the uploader, the paste box): opening either box draws it."""
    at = start()
    assert not at.text_area and not [b for b in at.button if b.label.startswith("Flip to")]
    assert {e.label.split(" (")[0] for e in at.expander} >= {"Assumed", "Scenario in and out"}
    at.session_state[planner_page.ASSUMED_OPEN] = True
    at.session_state[planner_page.IO_OPEN] = True
    at.run()
    no_exception(at)
    assert any(b.label == "Flip to backfill" for b in at.button)
    assert at.text_area(key="paste") and at.get("download_button")


def test_per_host_views_past_fifty_hosts_are_summaries():
    import numpy as np

    n = 10_000
    table = pd.DataFrame({"host": range(n), "placed": 1, "running": 1, "running_by_workload": "a 1",
                          "peak_ram_gib": 1.0, "peak_ram_share": np.linspace(0, 1, n), "mean_cpu_util": 0.5})
    chart = charts.per_host(table).to_dict()           # no MaxRowsError: ten bars, not 10,000
    assert len(chart["datasets"][next(iter(chart["datasets"]))]) == 10
    summary = hosts_needed.hosts_summary(table)
    assert list(summary["Hosts"]) == ["least", "median", "p95", "most"]
    assert summary.loc[3, "Peak RAM (share of host)"] == "100%"


def test_sweep_metric_names_are_words_with_units():
    m = sc.simulate(planner.default_scenario()).summary
    from simcontainer.studies.sweep_store import flatten_metrics

    keys = [k for k in flatten_metrics(m) if planner_sweeps.metric_shown(k)]
    labels = [planner_sweeps.metric_label(k) for k in keys]
    assert len(set(labels)) == len(labels)                               # one name per metric
    assert not any(k.endswith((".n", ".censored")) or "guest_unused" in k for k in keys)
    assert planner_sweeps.metric_label("workloads.api-runc.startup_s.p95") == \
        "api-runc: p95 startup (request to ready) (s)"
    assert planner_sweeps.metric_label("host.peak_ram_mib") == "host: peak RAM (MiB)"
    raw = [lab for lab in labels if "_" in lab.split(": ")[-1]]
    assert not raw, raw[:5]


def test_the_planner_picks_one_guest_for_every_vm_runtime():
    at = start()
    at.selectbox(key="guest_img0").set_value("ubuntu-24.04-cloud").run()
    at.number_input(key="guest_mem0").set_value(768.0).run()
    no_exception(at)
    rows = runtime_table(at)
    vms = rows[rows["Runtime"] != "runc"]
    assert set(vms["Image"]) == {"ubuntu-24.04-cloud, 768 MiB"}       # every workload, every VM runtime
    assert at.query_params["g"] == "ubuntu-24.04-cloud:768"             # in the link
    assert "Every VM booted ubuntu-24.04-cloud with 768 MiB guest RAM" in answer(at)
    again = start(**{k: at.query_params[k] for k in at.query_params})
    assert set(runtime_table(again).query("Runtime != 'runc'")["Image"]) == {"ubuntu-24.04-cloud, 768 MiB"}
