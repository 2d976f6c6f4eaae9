"""The what-if planner: a host, a workload mix, runtimes to compare; the answer in numbers."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer import planner
from simcontainer.errors import ScenarioError
from simcontainer.scenario import Scenario
from simcontainer.ui import charts, runs, state

BY_HAND = "by hand"


def host_inputs(base: Scenario, v: int) -> dict[str, Any]:
    """Host preset or fields by hand, the host count, horizon and seed (sidebar)."""
    cat = sc.default_catalogue()
    presets = sorted(cat.hosts)
    st.sidebar.subheader("Host")
    options = [*presets, BY_HAND]
    current = base.host.preset if base.host.preset in presets else BY_HAND
    choice = st.sidebar.selectbox("Host preset", options, index=options.index(current), key=f"preset{v}")
    out: dict[str, Any] = {}
    if choice == BY_HAND:
        h = base.host
        out["host"] = {
            "cpu_cores": st.sidebar.number_input("CPU cores", 1.0, 4096.0, float(h.cpu_cores), 1.0, key=f"cores{v}"),
            "ram_mib": 1024 * st.sidebar.number_input("RAM (GiB)", 0.5, 65536.0, h.ram_mib / 1024, 1.0, key=f"ram{v}"),
            "disk_gib": st.sidebar.number_input("Disk (GiB)", 1.0, 1e6, float(h.disk_gib), 10.0, key=f"disk{v}"),
            "disk_mb_s": st.sidebar.number_input("Disk MB/s", 1.0, 1e5, float(h.disk_mb_s), 50.0, key=f"dmbs{v}"),
            "net_mb_s": st.sidebar.number_input("Network MB/s", 0.1, 1e5, float(h.net_mb_s), 10.0, key=f"net{v}"),
        }
    else:
        spec = cat.hosts[choice]
        st.sidebar.caption(f"{spec['cpu_cores']} cores · {spec['ram_mib'] / 1024:g} GiB RAM · "
                           f"{spec['disk_gib']} GiB disk · disk {spec['disk_mb_s']} MB/s · "
                           f"net {spec['net_mb_s']} MB/s")
        out["preset"] = choice
    out["count"] = st.sidebar.number_input("Hosts (identical)", 1, 10_000, int(base.host.count), 1, key=f"count{v}")
    st.sidebar.subheader("Run")
    out["duration_s"] = st.sidebar.number_input("Horizon (simulated s)", 1.0, 1e6, float(base.duration_s), 60.0,
                                                key=f"dur{v}")
    out["seed"] = st.sidebar.number_input("Seed", 0, 2**31 - 1, int(base.seed), 1, key=f"seed{v}")
    return out


def mix_editor(base: Scenario, v: int) -> pd.DataFrame:
    cat = sc.default_catalogue()
    runtimes = sorted(base.runtime_table(cat))
    images = sorted(base.image_table(cat))
    cfg = {
        "name": st.column_config.TextColumn("name", required=True),
        "runtime": st.column_config.SelectboxColumn("runtime", options=runtimes, required=True),
        "image": st.column_config.SelectboxColumn("image", options=images, required=True),
        "cpu": st.column_config.NumberColumn("cpu (cores)", min_value=0.0, step=0.05, format="%.2f"),
        "mem_mib": st.column_config.NumberColumn("mem MiB", min_value=0.0, step=64.0, format="%.0f"),
        "guest_mem_mib": st.column_config.NumberColumn("guest mem MiB", min_value=1.0, step=128.0, format="%.0f",
                                                       help="VMs only; blank = the runtime's default"),
        "arrival": st.column_config.SelectboxColumn("arrival", options=list(planner.ARRIVAL_KINDS)),
        "rate_per_s": st.column_config.NumberColumn("rate /s", min_value=0.0, format="%.3f",
                                                    help="poisson: arrivals per second; interval: 1 / every_s"),
        "count": st.column_config.NumberColumn("count", min_value=1, step=1,
                                               help="burst: how many at once; others: a cap on requests"),
        "at_s": st.column_config.NumberColumn("at s", min_value=0.0, help="burst time, or start of arrivals"),
        "lifetime": st.column_config.SelectboxColumn("lifetime", options=list(planner.LIFETIME_KINDS)),
        "lifetime_s": st.column_config.NumberColumn("lifetime s", min_value=0.0,
                                                    help="fixed: seconds; exponential: mean; lognormal: median"),
    }
    return st.data_editor(planner.workloads_table(base), column_config=cfg, num_rows="dynamic",
                          hide_index=True, key=f"mix{v}", width="stretch")


def show_problems(title: str, problems: list[str]) -> None:
    st.error(title + "\n\n" + "\n".join(f"- `{p}`" for p in problems))


def load_text(text: str | bytes, source: str) -> bool:
    """The one path for an uploaded file and pasted text: load it, or list its problems by field."""
    scenario, problems = planner.read_scenario_text(text, source=source)
    st.session_state["load_problems"] = problems
    st.session_state["load_source"] = source
    if scenario is None:
        return False
    state.replace_base(scenario)
    return True


def scenario_io(scenario: Scenario) -> None:
    with st.expander("Scenario in and out (TOML)", expanded=bool(st.session_state.get("load_problems"))):
        st.download_button("Download this what-if as TOML", planner.canonical(scenario),
                           file_name=f"{scenario.name}.toml", mime="application/toml", key="download_toml")
        st.caption("`simcontainer run FILE.toml` accepts the downloaded file unchanged. "
                   "The page's address also carries the what-if: copy it to share.")
        up = st.file_uploader("Upload a scenario", type=["toml"], key="upload")
        if up is not None and st.session_state.get("upload_id") != up.file_id:
            st.session_state["upload_id"] = up.file_id
            if load_text(up.getvalue(), up.name):
                st.rerun()
        pasted = st.text_area("…or paste a scenario", key="paste", height=120,
                              placeholder='name = "mine"\nduration_s = 600\nhost = "laptop"\n…')
        if st.button("Load pasted scenario", key="load_paste") and load_text(pasted, "pasted scenario"):
            st.rerun()
        problems = st.session_state.get("load_problems")
        if problems:
            show_problems(f"{st.session_state.get('load_source', 'upload')} was not loaded "
                          f"({len(problems)} problem{'s' if len(problems) != 1 else ''}):", problems)


def render() -> None:
    st.title("What-if planner")
    st.caption("How many fit on the host, what runs out first, and how fast they start — per runtime.")
    base = state.base()
    v = state.version()
    top = st.container()          # the answer goes first, above the inputs that produce it
    if st.session_state.get("link_problems"):
        show_problems("The link's scenario could not be read; showing the default.", st.session_state["link_problems"])
    inputs = host_inputs(base, v)
    st.subheader("Workload mix")
    table = mix_editor(base, v)
    all_runtimes = sorted(base.runtime_table())
    compare = st.multiselect("Runtimes to compare", all_runtimes, default=state.compare_default(base),
                             key=f"compare{v}",
                             help="A runtime the mix uses is measured in the mix; another one runs the "
                                  "first workload it can run, alone on the same host.")
    try:
        scenario = planner.scenario_from_inputs(base, table, **inputs)
    except ScenarioError as exc:
        show_problems("This what-if cannot run:", exc.problems)
        scenario_io(base)
        return
    state.save(scenario, compare)
    state.set_current(scenario)
    results(scenario, compare, top)
    scenario_io(scenario)


def results(scenario: Scenario, compare: list[str], top: Any) -> None:
    plans, notes = planner.compare_plan(scenario, compare)
    for note in notes:
        top.warning(note)
    if not plans:
        top.info("Pick at least one runtime to compare.")
        return
    main = runs.run(scenario, "the mix")
    instances = {}
    for p in plans:
        instances[p.runtime] = main["instances"] if p.in_mix else runs.run(p.scenario, p.runtime)["instances"]
    dens = runs.density(planner.canonical(scenario), tuple(p.runtime for p in plans))
    rows = planner.runtime_rows(plans, dens, instances)
    top.success(" ".join(planner.answer(rows, scenario.host.count)))
    cols = top.columns(len(rows))
    for col, (_, r) in zip(cols, rows.iterrows()):
        fits = "n/a" if pd.isna(r["fits"]) else int(r["fits"])
        col.metric(f"{r['runtime']} fits", fits, help=f"{r['workload']}: {r['binding']} binds first")
        col.caption(f"binds: **{r['binding']}** · RAM overhead {r['ram_overhead_share']:.0%} · "
                    f"p95 startup {planner.fmt_s(r['startup_p95_s'])}")
    st.dataframe(rows, hide_index=True, key="runtime_table", column_config={
        "ram_overhead_share": st.column_config.NumberColumn("RAM overhead", format="percent"),
        "ram_per_instance_mib": st.column_config.NumberColumn("RAM/instance MiB", format="%.0f"),
        "startup_p50_s": st.column_config.NumberColumn("p50 startup s", format="%.2f"),
        "startup_p95_s": st.column_config.NumberColumn("p95 startup s", format="%.2f"),
    })
    base_key = (planner.canonical(scenario), ",".join(p.runtime for p in plans))

    def key(name: str) -> str:
        return charts.content_key(name, *base_key)

    left, right = st.columns(2)
    charts.show(left, key("density"), lambda: charts.density_bars(rows))
    charts.show(right, key("tradeoff"), lambda: charts.tradeoff(rows))
    left, right = st.columns(2)
    charts.show(left, key("ecdf"), lambda: charts.ecdf(planner.ecdf_frame(plans, instances)))
    charts.show(right, key("phases"), lambda: charts.phases(planner.phases_long(rows)))
    st.subheader(f"The mix over time ({scenario.host.count} host{'s' if scenario.host.count > 1 else ''})")
    ts = planner.resample_steps(main["timeseries"], scenario.duration_s)
    for i, column in enumerate(charts.SERIES):
        if i % 2 == 0:
            left, right = st.columns(2)
        charts.show(left if i % 2 == 0 else right, key(column), lambda c=column: charts.series(ts, c))
    s = main["summary"]["host"]
    st.caption(f"Simulated {scenario.duration_s:g} s in {main['wall_s']:.2f} s of wall time · peak RAM "
               f"{s['peak_ram_mib'] / 1024:.1f} GiB · peak running {s['peak_running']} · "
               f"mean CPU {s['mean_cpu_util']:.0%} · pulled {s['pulled_mib']:.0f} MiB")
