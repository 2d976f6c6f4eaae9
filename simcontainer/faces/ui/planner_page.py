"""The what-if planner: a host, a workload mix, runtimes to compare; the answer in numbers."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import simcontainer as sc
from simcontainer.faces.ui import charts, figure_card, runs, state, warm_section
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.profiles import models_dir
from simcontainer.scenario.schema import Scenario
from simcontainer.studies import (
    capacity,
    comparison,
    estimates,
    hosts_needed,
    oom_risk,
    planner,
    planner_sweeps,
)
from simcontainer.studies.density import density_risk

BY_HAND = "by hand"
# the keys of the page's expanders that draw their content only while open
IO_OPEN, ASSUMED_OPEN = "scenario_io_open", "assumed_open"


def checked(where: Any, label: str, lo: float, hi: float, value: float, step: float, key: str,
            integer: bool = False) -> float:
    """A number input that rejects a value out of range visibly: an error under it, and the
    what-if keeps the last good value (Streamlit's own bounds would clamp it without a word)."""
    v = where.number_input(label, value=int(value) if integer else float(value), step=int(step) if integer else step,
                           key=key, format="%d" if integer else None)
    if lo <= v <= hi:
        st.session_state[f"{key}_good"] = v
        return v
    good = st.session_state.get(f"{key}_good", value)
    where.error(f"{label}: {v:g} is out of range (allowed: {lo:g} to {hi:g}); using {good:g}.")
    return good


def host_inputs(base: Scenario, v: int) -> dict[str, Any]:
    """Host preset or fields by hand, the host count, horizon and seed (sidebar)."""
    cat = sc.default_catalogue()
    presets = sorted(cat.hosts)
    side = st.sidebar
    side.subheader("Host")
    options = [*presets, BY_HAND]
    current = base.host.preset if base.host.preset in presets else BY_HAND
    choice = side.selectbox("Host preset", options, index=options.index(current), key=f"preset{v}")
    out: dict[str, Any] = {}
    if choice == BY_HAND:
        h = base.host
        out["host"] = {
            "cpu_cores": checked(side, "CPU cores", 1, 4096, h.cpu_cores, 1.0, f"cores{v}"),
            "ram_mib": 1024 * checked(side, "RAM (GiB)", 0.5, 65536, h.ram_mib / 1024, 1.0, f"ram{v}"),
            "disk_gib": checked(side, "Disk (GiB)", 1, 1e6, h.disk_gib, 10.0, f"disk{v}"),
            "disk_mb_s": checked(side, "Disk MB/s", 1, 1e5, h.disk_mb_s, 50.0, f"dmbs{v}"),
            "net_mb_s": checked(side, "Network MB/s", 0.1, 1e5, h.net_mb_s, 10.0, f"net{v}"),
        }
    else:
        spec = cat.hosts[choice]
        side.caption(f"{spec['cpu_cores']} cores · {spec['ram_mib'] / 1024:g} GiB RAM · "
                     f"{spec['disk_gib']} GiB disk · disk {spec['disk_mb_s']} MB/s · "
                     f"net {spec['net_mb_s']} MB/s")
        out["preset"] = choice
    out["count"] = int(checked(side, "Hosts (identical)", 1, 10_000, base.host.count, 1, f"count{v}", integer=True))
    out["memory_overcommit"] = side.slider(
        "Memory overcommit (x RAM)", 1.0, 3.0, float(base.host.memory_overcommit or 1.0), 0.1, key=f"mem_oc{v}",
        help=oom_risk.OVERCOMMIT_WORDS)
    side.caption(overcommit_words(out["memory_overcommit"]))
    out["registry"] = registry_inputs(base, v)
    side.subheader("Run")
    policies = list(oom_risk.ADMISSION_WORDS)
    out["admission"] = side.selectbox(
        "Admission (a full host)", policies, index=policies.index(base.daemon.admission), key=f"admission{v}",
        help="What happens to a request when no host has room for it.")
    side.caption(oom_risk.ADMISSION_WORDS[out["admission"]])
    out["duration_s"] = checked(side, "Horizon (simulated s)", 1, 1e6, base.duration_s, 60.0, f"dur{v}")
    out["seed"] = int(checked(side, "Seed", 0, 2**31 - 1, base.seed, 1, f"seed{v}", integer=True))
    return out


LAZY_WORDS = {"none": "none: pull the whole image before start", "estargz": "eStargz (lazy)",
              "soci": "SOCI (lazy)", "nydus": "Nydus (lazy)"}


def registry_inputs(base: Scenario, v: int) -> dict[str, Any]:
    """The image registry every host pulls from (sidebar): its shared egress, a mirror, lazy pulls."""
    side = st.sidebar
    side.subheader("Registry")
    r = base.registry
    egress = checked(side, "Registry egress, shared by all hosts (MB/s; 0 = unlimited)", 0, 1e6,
                     r.egress_mb_s or 0.0, 100.0, f"reg_egress{v}")
    mirror = side.toggle("Pull-through mirror per site", value=r.mirror is not None, key=f"reg_mirror{v}",
                         help="each site's hosts pull through their own cache, which fetches a layer from the "
                              "registry once and serves it from then on")
    lazy = side.selectbox("Lazy pull format", list(planner.LAZY_FORMATS),
                          index=list(planner.LAZY_FORMATS).index(r.lazy), key=f"reg_lazy{v}",
                          format_func=LAZY_WORDS.get,
                          help="eStargz, SOCI or Nydus: an instance starts after fetching the part of its "
                               "image needed at start-up and fetches the rest while running")
    side.caption("Matters when images are pulled: a cold host, or a deploy across many hosts.")
    return {"egress_mb_s": egress, "mirror": mirror, "lazy": lazy}


def mix_editor(base: Scenario, v: int) -> pd.DataFrame:
    cat = sc.default_catalogue()
    runtimes = sorted(base.runtime_table(cat))
    images = sorted(base.image_table(cat))
    cfg = {
        "name": st.column_config.TextColumn("Name", required=True),
        "runtime": st.column_config.SelectboxColumn(
            "Runtime", options=runtimes, required=True,
            help="gvisor: user-space kernel; kata: guest kernel in a light VM; runc, crun: the host's kernel. "
                 "Control plane by default: " + "; ".join(
                     f"{r} {comparison.plane_words(p)}" for r, p in
                     ((r, comparison.default_plane(r)) for r in runtimes))),
        "image": st.column_config.SelectboxColumn("Image", options=images, required=True),
        "cpu": st.column_config.NumberColumn("CPU (cores)", min_value=0.0, step=0.05, format="%.2f"),
        "mem_mib": st.column_config.NumberColumn("Memory (MiB)", min_value=0.0, step=64.0, format="%.0f"),
        "guest_mem_mib": st.column_config.NumberColumn("Guest memory (MiB)", min_value=1.0, step=128.0,
                                                       format="%.0f",
                                                       help="VMs only; blank = the runtime's default"),
        "arrival": st.column_config.SelectboxColumn("Arrivals", options=list(planner.ARRIVAL_KINDS)),
        "rate_per_s": st.column_config.NumberColumn("Rate (per s)", min_value=0.0, format="%.3f",
                                                    help="poisson: arrivals per second; interval: 1 / every_s"),
        "count": st.column_config.NumberColumn("Count", min_value=1, step=1,
                                               help="burst: how many at once; others: a cap on requests"),
        "at_s": st.column_config.NumberColumn("At (s)", min_value=0.0, help="burst time, or start of arrivals"),
        "lifetime": st.column_config.SelectboxColumn("Lifetime", options=list(planner.LIFETIME_KINDS)),
        "lifetime_s": st.column_config.NumberColumn("Lifetime (s)", min_value=0.0,
                                                    help="fixed: seconds; exponential: mean; lognormal: median"),
        "restart": st.column_config.SelectboxColumn(
            "Restart", options=planner.restart_options(base),
            help="`docker run --restart`. Blank: the control plane's default, Docker's `no` (an exited "
                 "container stays exited), or `always` under the kubelet (a pod's restartPolicy). "
                 "`on-failure`: only after a non-zero exit code; `always`: after any exit except a "
                 "`docker stop`; `unless-stopped`: as always, but not after a daemon restart if it was "
                 "stopped. Docker's back-off: 0.1 s doubling to 1 min; the kubelet's: 10 s to 5 min."),
        "auto_remove": st.column_config.CheckboxColumn(
            "Remove at exit", default=False,
            help="`docker run --rm`. Off by default, as in Docker: an exited container keeps its "
                 "writable layer on disk and its name until it is removed; on: removed at once."),
    }
    return st.data_editor(planner.workloads_table(base), column_config=cfg, num_rows="dynamic",
                          hide_index=True, key=f"mix{v}", width="stretch", placeholder="")


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
    """Download, upload or paste a scenario: drawn only while its expander is open (a new visitor
    does not load the uploader, the text box and the download button for a closed box). A load
    is done from inside it, so the box is open when its problems are listed, and stays open."""
    box = st.expander("Scenario in and out (TOML)", key=IO_OPEN, on_change="rerun")
    if not box.open:
        return
    with box:
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


def guest_inputs(scenario: Scenario, compare: list[str], lead: str, v: int) -> comparison.Guest | None:
    """The guest every VM runtime in the comparison boots (one image, one guest RAM); None: each
    workload's own (a VM workload's guest, else the mix's first VM guest)."""
    rts = scenario.runtime_table()
    if not any(rts[comparison.split_entry(e)[0]].kind == "vm" for e in compare if comparison.split_entry(e)[0] in rts):
        return None
    images = sorted(n for n, i in scenario.image_table().items() if i.kind == "vm")
    own = comparison.default_guest(scenario, lead, compare)
    chosen = state.guest()
    c1, c2 = st.columns(2)
    options = [AS_IN_MIX, *images]
    pick = c1.selectbox("Guest image, on every VM runtime", options,
                        index=options.index(chosen[0]) if chosen and chosen[0] in images else 0, key=f"guest_img{v}",
                        help="Every VM runtime boots the same guest, so a row compares VMMs, not guest sizes "
                             f"or guest OSes. {AS_IN_MIX}: a VM workload its own guest; a container workload "
                             f"the mix's first VM guest (for {lead}: {own.words()}).")
    if pick == AS_IN_MIX:
        c2.caption(f"{lead} boots {own.words()} on every VM runtime.")
        state.set_guest(None)
        return None
    mem = checked(c2, "Guest RAM (MiB), on every VM runtime", 64, 1_048_576,
                  chosen[1] if chosen else own.mem_mib, 128.0, f"guest_mem{v}")
    state.set_guest((pick, float(mem)))
    return comparison.Guest(pick, float(mem))


AS_IN_MIX = "as in the mix"


def render() -> None:
    st.title("What-if planner")
    st.caption("How many fit on the host, what runs out first, and how fast they start — per runtime, "
               "each runtime running the same workload.")
    state.resume(f"preset{state.version()}")
    base = state.base()
    v = state.version()
    if st.session_state.get("link_problems"):
        show_problems("The link's scenario could not be read; showing the default.", st.session_state["link_problems"])
    inputs = host_inputs(base, v)
    st.subheader("Workload mix")
    table = mix_editor(base, v)
    all_runtimes = sorted(base.runtime_table())
    unknown = state.unknown_runtimes(base)
    if unknown:
        st.warning(f"The link names runtime{'s' if len(unknown) > 1 else ''} this app does not know: "
                   f"{', '.join(unknown)} (known: {', '.join(all_runtimes)}, each optionally @ a control "
                   f"plane: {', '.join(sorted(base.control_plane_table()))}).")
    chosen = state.compare_default(base)
    options = list(dict.fromkeys([*all_runtimes, *comparison.plane_choices(), *chosen]))
    compare = st.multiselect("Runtimes to compare", options, default=chosen, key=f"compare{v}",
                             format_func=comparison.describe,
                             help="Each runtime runs the same workload, alone on the same host: same arrivals, "
                                  "lifetime, seed and (for VMs) guest image, guest RAM and disk mode. \"runc under "
                                  "kubelet/containerd\" puts the same runtime behind another control plane "
                                  "(runc@kubelet in the link): only the plane differs.")
    try:
        ratio = inputs.pop("memory_overcommit", None)
        admission = inputs.pop("admission", None)
        scenario = oom_risk.with_memory_overcommit(planner.scenario_from_inputs(base, table, **inputs), ratio)
        scenario = oom_risk.with_admission(scenario, admission)
    except ScenarioError as exc:
        show_problems("This what-if cannot run:", exc.problems)
        scenario_io(base)
        return
    names = [w.name for w in scenario.workloads]
    c1, c2 = st.columns(2)
    lead = c1.selectbox("Workload every runtime runs for the answer", names,
                        index=names.index(state.lead_default(names)), key=f"lead{v}",
                        help="The headline compares the runtimes on this workload; the table below has "
                             "one row per workload and runtime.")
    shown = c2.multiselect("Workloads in the table", names, default=names, key=f"table_workloads{v}")
    guest = guest_inputs(scenario, compare, lead, v)
    state.save(scenario, compare, lead)
    state.set_current(scenario)
    st.subheader("The answer")
    top = st.container()          # the answer, below the inputs: editing never moves the editor
    why = runs.refusal(scenario)
    simulate = scenario.host.count <= runs.APP_HOSTS_MAX
    if why:
        top.error(why)
    else:
        if not simulate:
            top.info(f"{scenario.host.count:,} hosts: not simulated here (the app simulates at most "
                     f"{runs.APP_HOSTS_MAX:,} hosts per run, a few seconds each). The answer below is closed "
                     "form: what fits as admission counts it, per runtime. `simcontainer run` on the "
                     "downloaded TOML simulates it.")
        try:
            results(scenario, compare, lead, shown, top, guest, simulate)
        except runs.NotRun as exc:
            top.warning(str(exc))
            if top.button("Run again", key="run_again"):
                runs.run_again(scenario)
                for c in comparison.like_for_like(scenario, [lead, *shown], compare, guest=guest)[0]:
                    runs.run_again(c.scenario)
                st.rerun()

    scenario_io(scenario)


def cell_results(scenario: Scenario, workloads: list[str], compare: list[str],
                 guest: comparison.Guest | None = None, simulate: bool = True) -> tuple[list, dict, dict, list[str]]:
    """Each cell's run (a stopped or refused one is left out, with a note: the finished runs and
    every cell's closed-form figures stay) and its density."""
    cells, notes = comparison.like_for_like(scenario, workloads, compare, guest=guest)
    out, dens = {}, {}
    runs.plan([c.scenario for c in cells] + [scenario])
    for c in cells:
        key = c.key
        dens[key] = runs.density(planner.canonical(c.scenario), (c.runtime,))[c.workload][c.runtime]
        if not simulate:
            continue
        try:
            out[key] = runs.run(c.scenario, f"{c.workload} on {c.entry}")
        except runs.NotRun as exc:
            notes.append(f"{c.workload} on {c.entry}: {exc} Its fits and overhead (closed form) are shown.")
    return cells, out, dens, notes


def retry(scenario: Scenario, cells: list[Any]) -> None:
    if st.button("Run the stopped runs again", key="run_again_partial"):
        runs.run_again(scenario)
        for c in cells:
            runs.run_again(c.scenario)
        st.rerun()


def headline(top: Any, head: pd.DataFrame, scenario: Scenario, main: dict[str, Any] | None,
             status: pd.DataFrame | None) -> None:
    """The answer in sentences: green only when every compared runtime did what was asked, and
    the mix as given ran without anything left out or killed."""
    text = " ".join(comparison.answer(head, scenario.host.count))
    warnings = main["summary"].get("warnings", []) if main else []
    missing = comparison.not_started(scenario, status) if status is not None else []
    partial = "ran" in head and not head["ran"].all()
    if main is None and "ran" in head and not head["ran"].any():
        top.info(text)            # closed form only: neither a pass nor a failure
    else:
        (top.warning if comparison.failed(head) or missing or partial or main is None else top.success)(text)
    top.caption("Fits: " + capacity.admission_words(scenario) + ". " + estimates.MARK
                + " marks a figure that rests on an estimate (hover a runtime's figure for its sources).")
    if warnings or missing:   # the run's own warnings, then why what waited did not fit
        body = "\n".join(f"- {w}" for w in warnings)
        if missing:
            body += ("\n\n" if body else "") + "In the mix as given: " + " ".join(missing)
        top.warning(body)


def metric_row(top: Any, head: pd.DataFrame, lead: str) -> None:
    cols = top.columns(len(head))
    for col, (_, r) in zip(cols, head.iterrows()):
        fits = "—" if pd.isna(r["fits"]) else f"{int(r['fits']):,}"
        entry = str(r["runtime"])
        fit_mark, start_mark = estimates.mark(entry, "fits"), estimates.mark(entry, "startup")
        sources = "\n\n".join(x for x in (estimates.hover(entry, "fits"), estimates.hover(entry, "startup")) if x)
        # a figure card, not st.metric: it shows with the answer's sentence (faces/ui/figure_card.py)
        figure_card.card(col, f"{entry} fits", f"{fits} {fit_mark}".strip(),
                         help=f"{lead} on {r['label']}: {r['binding']} binds first (as admission counts)."
                              + (f"\n\n{sources}" if sources else ""))
        extra = "".join(f" · {int(r[k]):,} {w}" for k, w in (("rejected", "rejected"), ("oom_killed", "OOM-killed"))
                        if r.get(k) and r.get(k) == r.get(k))
        full = r.get("cpu_full_at")
        if not r.get("cpu_counted") and full == full and full is not None and not pd.isna(r["fits"]) \
                and full < r["fits"]:     # CPU not admitted: more start, and share the cores
            extra += f" · CPU fully asked past {int(full):,} (not admitted: they share it)"
        col.caption(f"{comparison.kernel_of(r['runtime'])} · control plane: "
                    f"{comparison.plane_words(r['control_plane'])} · binds: "
                    f"**{comparison.RESOURCE_NAMES.get(r['binding'], r['binding'])}** · "
                    f"RAM overhead {r['ram_overhead_share']:.0%} · " + (
                        f"{int(r['started']):,} of {int(r['requested']):,} started{extra} · p95 startup "
                        f"{comparison.fmt_s(r['startup_p95_s'])} {start_mark}" if r.get("ran", True)
                        else "not run (stopped): closed-form figures only"))


@st.cache_resource(show_spinner=False, max_entries=64)
def _rows(key: str, _cells: list[Any], _dens: dict[Any, Any], _out: dict[Any, Any]) -> pd.DataFrame:
    """:func:`comparison.cell_rows` kept per answer (``key``: the what-if, workloads, runtimes,
    guest and which runs finished): a new session on a warm server reads it instead of building
    it again (~0.1 s). The same frame for every session: callers only filter it into new ones."""
    return comparison.cell_rows(_cells, _dens, _out)


def results(scenario: Scenario, compare: list[str], lead: str, shown: list[str], top: Any,
            guest: comparison.Guest | None = None, simulate: bool = True) -> None:
    if not compare:
        top.info("Pick at least one runtime to compare.")
        return
    workloads = list(dict.fromkeys([lead, *shown]))
    cells, out, dens, notes = cell_results(scenario, workloads, compare, guest, simulate)
    for note in notes:
        top.warning(note)
    rows = _rows(charts.content_key("rows", planner.canonical(scenario), ",".join(workloads), ",".join(compare),
                                    guest, ",".join("/".join(k) for k in out)), cells, dens, out)
    head = rows[rows["workload"] == lead].reset_index(drop=True)
    main: dict[str, Any] | None = None
    try:
        main = runs.run(scenario, "the mix") if simulate else None
    except runs.NotRun as exc:
        top.warning(f"{exc} The comparison above it stays; the mix-as-given views need this run.")
    status = comparison.workload_status(main["summary"], main["instances"]) if main else None
    headline(top, head, scenario, main, status)
    metric_row(top, head, lead)
    if main:
        assumptions_view(top, main["summary"])
    st.subheader("Each workload on each runtime")
    st.caption("Each row runs one workload of the mix alone on the host(s), moved to the runtime and "
               "behind its control plane (the runtime's default unless the entry names one); every VM runtime "
               f"boots the same guest. \"—\" where nothing started; {estimates.MARK}: rests on an estimate.")
    table_rows = rows[rows["workload"].isin(shown)]
    shown_table = comparison.shown_rows(table_rows)
    compact = compact_table(shown_table)
    st.dataframe(compact, hide_index=True, key="runtime_table", width="stretch", placeholder="",
                 height=min(36 * (len(compact) + 1) + 4, 1000),
                 column_config={c: st.column_config.TextColumn(c, width=w) for c, w in TABLE_WIDTHS.items()})
    st.caption("Image: what each ran (a VM: its guest image and guest RAM). The kernel each runtime runs, its "
               "RAM per instance and overhead are under each runtime's figure above; the median startup is in "
               "the ECDF below.")
    if not simulate:
        return
    charts_view(scenario, compare, lead, head, cells, out)
    if len(out) < len(cells) or (main is None and notes):
        retry(scenario, cells)
    details(scenario, compare, lead, guest, cells, main, status)


# Below the answer's charts, one tab at a time: only the open tab's section runs and is drawn (a new
# visitor's page skips the OOM simulation controls and the warm-start runs, charts and table).
DETAILS_KEY = "planner_details"
OVER_TIME, OOM_TAB, WARM_TAB = "Over time: the mix as given", "OOM risk vs density", "Warm starts"


def details(scenario: Scenario, compare: list[str], lead: str, guest: comparison.Guest | None, cells: list[Any],
            main: dict[str, Any] | None, status: pd.DataFrame | None) -> None:
    """The mix as given over time, the OOM risk of denser packing and the warm-start strategies, as
    tabs that run their section only while open."""
    def key(name: str) -> str:
        return charts.content_key(name, planner.canonical(scenario), ",".join(compare), lead)

    over_time, oom_tab, warm_tab = st.tabs([OVER_TIME, OOM_TAB, WARM_TAB], key=DETAILS_KEY, on_change="rerun")
    if over_time.open:
        with over_time:
            if main is None or status is None:
                st.caption("The mix as given was not run (stopped or refused above): nothing to show over time.")
            else:
                mix_view(scenario, main, status, key)
    if oom_tab.open:
        with oom_tab:
            oom_view([c for c in cells if c.workload == lead], lead, scenario.host.memory_overcommit or 1.0, key)
    if warm_tab.open:
        with warm_tab:
            warm_section.render(scenario, lead, compare, guest)


# the comparison table as the page shows it: every column inside a 1280 px window (the kernel,
# MiB each, overhead and the median are in the captions above and the charts below)
TABLE_WIDTHS = {"Workload": 110, "Runtime": 80, "Control plane": 150, "Image": 150, "Fit": 50, "Binds": 48,
                "Started": 68, "Rejected": 64, "Waiting": 56, "OOM-killed": 76, "p95 startup (s)": 84}


def compact_table(shown: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison.shown_rows` in fewer, narrower columns: the guest RAM with the image,
    "started of asked" in one cell."""
    image = [f"{i.split(' (')[0]}, {m} MiB" if m else i.split(" (")[0]
             for i, m in zip(shown["Image"], shown.get("Guest RAM (MiB)", [""] * len(shown)))]
    started = [f"{s} of {a}" if s else "" for s, a in zip(shown["Started"], shown["Asked"])]
    out = shown.assign(Image=image, Started=started)
    if "Control plane" in out and out["Control plane"].str.endswith("(default)").all():
        out = out.drop(columns=["Control plane"])     # every runtime behind its own default: said above
    return out[[c for c in TABLE_WIDTHS if c in out.columns]]


def charts_view(scenario: Scenario, compare: list[str], lead: str, head: pd.DataFrame, cells: list[Any],
                out: dict[Any, Any]) -> None:
    base_key = (planner.canonical(scenario), ",".join(compare), lead, tuple(c.image for c in cells))

    def key(name: str) -> str:
        return charts.content_key(name, *base_key)

    named = head.assign(binding=head["binding"].map(lambda b: comparison.RESOURCE_NAMES.get(b, b)),
                        runtime=head["label"])     # "runc under dockerd": the plane is part of the name
    labels = dict(zip(head["runtime"], head["label"]))
    left, right = st.columns(2)
    charts.show(left, key("density"), lambda: charts.density_bars(named))
    charts.show(right, key("tradeoff"), lambda: charts.tradeoff(named))
    left, right = st.columns(2)
    lead_cells = [c for c in cells if c.workload == lead]
    charts.show(left, key("ecdf"), lambda: charts.ecdf(
        comparison.ecdf_frame(lead_cells, out).assign(runtime=lambda d: d["runtime"].map(labels)), lead))
    charts.show(right, key("phases"), lambda: charts.phases(comparison.phases_long(named)))


def assumptions_view(where: Any, summary: dict[str, Any]) -> None:
    """What the answer assumed (the result's ``assumptions``, when the engine gives them), each
    with a control that flips it in place; nothing when the result has none."""
    items = summary.get("assumptions") or []
    if not items:
        return
    box = where.expander(f"Assumed ({len(items)}): defaults this answer depends on", key=ASSUMED_OPEN,
                         on_change="rerun")
    if not box.open:              # drawn when opened: a dozen rows and buttons nobody sees closed
        return
    for i, a in enumerate(items):
        key, value = str(a.get("key", "?")), a.get("value")
        effect = a.get("effect") or {}
        moved = (f" — flipped to {effect.get('flipped_to')!s}, {effect.get('metric')} would be "
                 f"{effect.get('value'):,.3g}" if effect.get("flipped_to") is not None
                 and isinstance(effect.get("value"), int | float) else "")
        c1, c2 = box.columns([5, 1])
        c1.markdown(f"**{key}** = `{value}`" + (" (default)" if a.get("default") else "")
                    + f" · {a.get('why', '')}{moved}", help=str(a.get("source") or "") or None)
        target = effect.get("flipped_to", a.get("flip_to"))      # the result's own flip when not measured
        if target is not None and c2.button(f"Flip to {target}", key=f"flip_{i}_{key}"):
            flip(key, target)


def flip(key: str, value: Any) -> None:
    """Set one scenario field (``host.vm_disk``, ``daemon.admission`` ...) and rerun from it."""
    current = state.current()
    values = {key: value}
    if key.split(".")[-1] == "vm_disk" and not key.startswith("workloads."):   # every VM workload's disk
        rts = current.runtime_table()
        values = {f"workloads.{w.name}.vm_disk": value for w in current.workloads if rts[w.runtime].kind == "vm"}
    try:
        state.replace_base(planner_sweeps.with_values(current, values))
    except (ScenarioError, KeyError, ValueError) as exc:
        st.error(f"Could not flip {key} to {value!r}: {exc}")
        return
    st.rerun()


def overcommit_words(ratio: float) -> str:
    if ratio <= 1.0:
        return "Memory overcommit 1.0: reservations never add up to more than the RAM (after the OS's share)."
    return (f"Memory overcommit {ratio:g}: reservations may add up to {ratio:.0%} of the RAM; the host bets "
            "that instances use less than they reserve, and the OOM killer ends one when they do not.")


OOM_HOURS = (0.25, 0.5, 1.0, 6.0)


@st.cache_data(show_spinner=False, max_entries=32)
def _oom_risk(cells: tuple[tuple[str, str, str], ...], overcommit: float, hours: float) -> dict[str, Any]:
    """density_risk per runtime (each cell the lead workload alone, moved to that runtime), cached."""

    out: dict[str, Any] = {}
    for text, workload, runtime in cells:
        s = sc.loads_scenario(text, base_dir=models_dir() / "scenarios", source="what-if")
        out[runtime] = density_risk(s, workload, [runtime], overcommit=overcommit, hours=hours)[runtime]
    return out


def oom_view(cells: list[Any], lead: str, overcommit: float, key: Any) -> None:
    """OOM risk vs density for the lead workload on each compared runtime: instances per host at
    its reservation, at its p95 use and at the chosen overcommit, with the OOM kills per 1,000
    instance-hours a simulation of each count gives (density.density_risk)."""
    st.subheader("OOM risk vs density")
    st.caption(f"How many {lead} instances one host takes by RAM, three ways: **at reservation** (each holds its "
               "working set + the runtime's overhead; a VM its whole guest RAM), **at p95 use** (by the 95th "
               "percentile of the memory it actually holds: a VM only the guest pages it touched) and **at "
               f"overcommit** (reservations x {overcommit:g}, the sidebar's ratio). Each count is then simulated "
               "on one host with memory use that moves (a 15% coefficient of variation around the working set, "
               "an estimate) and restart `always`: the OOM kills per 1,000 instance-hours say how often the "
               "bet fails. A restart killed again counts again.")
    uniq = list({c.runtime: c for c in cells}.values())
    c1, c2 = st.columns(2)
    hours = c1.selectbox("Simulated hours per count", OOM_HOURS, index=0, key="oom_hours",
                         format_func=lambda h: f"{h:g} h")
    ratio = max(1.0, float(overcommit))
    counts = oom_risk.oom_risk_counts([(c.scenario, c.workload, c.runtime) for c in uniq], overcommit=ratio,
                                     hours=hours)
    need = oom_risk.oom_risk_instance_hours(counts, hours)
    simulate = c2.toggle("Simulate the OOM kills", value=False, key="oom_simulate",
                         help=f"{need:,.0f} instance-hours of simulation for these runtimes (at most "
                              f"{oom_risk.OOM_RISK_MAX_INSTANCE_HOURS:,.0f}); a few seconds the first time, "
                              "cached after.")
    risk: Any = counts
    if simulate:
        why = oom_risk.oom_risk_refusal(need)
        if why:
            st.error(why)
        else:
            with st.spinner(f"Simulating {need:,.0f} instance-hours…"):
                risk = _oom_risk(tuple((planner.canonical(c.scenario), c.workload, c.runtime) for c in uniq),
                                 ratio, hours)
    frame = oom_risk.oom_risk_frame(risk)
    if ratio <= 1.0:           # "at 1x overcommit" is "at reservation" again
        frame = frame[frame["order"] != 2].reset_index(drop=True)
    if frame.empty:
        st.info("No runtime to show.")
        return
    table = pd.DataFrame({
        "Runtime": frame["runtime"], "Packed": frame["level"],
        "Instances per host": [_fig(x, ",.0f") for x in frame["instances_per_host"]],
        "OOM kills": [_fig(x, ".0f") for x in frame["oom_kills"]],
        "OOM kills per 1,000 instance-h": [_fig(x, ",.0f") for x in frame["oom_kills_per_1000_h"]]})
    if simulate and frame["oom_kills_per_1000_h"].notna().any():
        charts.show(st, key(f"oom_risk_{hours}_{ratio}"), lambda: charts.oom_risk(frame))
        st.dataframe(table, hide_index=True, key="oom_table", placeholder="—")
    else:
        st.dataframe(table, hide_index=True, key="oom_table", placeholder="—")
        if not simulate:
            st.caption("The counts are closed form; turn on **Simulate the OOM kills** for the risk of each "
                       '("—" until then).')


def mix_view(scenario: Scenario, main: dict[str, Any], status: pd.DataFrame, key: Any) -> None:
    n = scenario.host.count
    st.subheader(f"The mix as given, over time ({n} host{'s' if n > 1 else ''})")
    adm = main["summary"].get("admission") or {}
    if adm:
        policy = adm.get("policy", scenario.daemon.admission)
        extra = f" · {adm['preemptions']} preempted" if adm.get("preemptions") else ""
        st.caption(f"Admission: {oom_risk.ADMISSION_WORDS.get(policy, policy)}{extra}.")
    planes = {w.name: comparison.plane_words(p) for w in scenario.workloads
              for p in [w.control_plane or comparison.default_plane(w.runtime)]}
    status = status.copy()
    status.insert(2, "control_plane", status["workload"].map(planes))
    st.dataframe(status.rename(columns={
        "workload": "Workload", "runtime": "Runtime", "control_plane": "Control plane",
        "requested": "Requested", "started": "Started",
        "rejected": "Rejected", "completed": "Ended", "waiting": "Still waiting", "starting": "Still starting",
        "never_started": "Never started", "oom_killed": "OOM-killed"}), hide_index=True, key="mix_status",
        placeholder="", column_config={c: st.column_config.NumberColumn(c, format="localized") for c in (
            "Requested", "Started", "Rejected", "Ended", "Still waiting", "Still starting", "Never started",
            "OOM-killed")})
    if planner.has_lifecycle(scenario, main["summary"]):
        lifecycle_view(main["summary"])
    if n > 1:
        per_host(scenario, main, key)
    ts = planner.resample_steps(main["timeseries"], scenario.duration_s)
    for i, column in enumerate(charts.SERIES):
        if i % 2 == 0:
            left, right = st.columns(2)
        charts.show(left if i % 2 == 0 else right, key(column), lambda c=column: charts.series(ts, c))
    s = main["summary"]["host"]
    st.caption(f"Simulated {scenario.duration_s:g} s in {main['wall_s']:.2f} s of wall time · peak RAM "
               f"{s['peak_ram_mib'] / 1024:.1f} GiB · peak running {s['peak_running']} · "
               f"mean CPU {s['mean_cpu_util']:.0%} · pulled {s['pulled_mib']:.0f} MiB")


def per_host(scenario: Scenario, main: dict[str, Any], key: Any) -> None:
    """Each host on its own: how the placement packed them, and the RAM and CPU each one used."""
    table = hosts_needed.per_host(scenario, main["summary"], main["instances"])
    st.markdown(f"**Per host** · placement: {scenario.daemon.placement}")
    if len(table) > charts.PER_HOST_BARS:
        st.caption(f"{len(table):,} hosts: summarised (each host's own row is in the run's `hosts` result).")
        st.dataframe(hosts_needed.hosts_summary(table), hide_index=True, key="per_host", placeholder="")
    else:
        st.dataframe(hosts_needed.shown_hosts(table), hide_index=True, key="per_host", placeholder="")
    charts.show(st, key("per_host"), lambda: charts.per_host(table))


_fig = comparison.fmt_figure


def lifecycle_view(summary: dict[str, Any]) -> None:
    """Restarts, failures and availability per workload of the mix (shown when the mix has them)."""
    life = planner.lifecycle_rows(summary)
    st.markdown("**Restarts, failures and availability**")
    st.dataframe(pd.DataFrame({
        "Workload": life["workload"],
        "Restarts": [_fig(x, "d") for x in life["restarts"]],
        "In back-off (s)": [_fig(x, ".1f") for x in life["backoff_s"]],
        "Non-zero exits": [_fig(x, "d") for x in life["nonzero_exits"]],
        "Exit codes": [c or "—" for c in life["exit_codes"]],
        "Failed starts": [_fig(x, "d") for x in life["failed_starts"]],
        "Availability": [_fig(None if x is None else 100 * x, ".2f") + ("%" if x is not None and x == x else "")
                         for x in life["availability"]],
    }), hide_index=True, key="mix_lifecycle", placeholder="—")
    st.caption("Restarts: how often the restart policy started an exited instance again; in back-off: the "
               "seconds instances spent waiting for those restarts; non-zero exits: exits with a failure code "
               "(1 a crash, 137 SIGKILL or OOM, 143 SIGTERM); failed starts: starts that failed (e.g. an image "
               "pull error); availability: the share of its instances' lifetime they were running and ready.")
