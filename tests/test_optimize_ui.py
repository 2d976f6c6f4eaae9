"""The "Find the cheapest" page and the sweep page's sensitivity, through AppTest."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from app_support import open_page  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import simcontainer as sc  # noqa: E402
from simcontainer.studies import planner  # noqa: E402

# A small what-if for the page: one Poisson service on hosts that fit 4 instances each.
SMALL = '''
name = "small-service"
duration_s = 300.0
seed = 2
host = { cpu_cores = 4, ram_mib = 1024, disk_gib = 50 }

[daemon]
prepull = ["python:3.12-slim"]

[[workloads]]
name = "api"
runtime = "runc"
image = "python:3.12-slim"
cpu = 0.2
mem_mib = 256
arrival = { kind = "poisson", rate_per_s = 0.5 }
lifetime = { kind = "exponential", mean_s = 20.0 }
auto_remove = true
'''


def start(page: str) -> AppTest:
    return open_page(page, timeout=90, s=planner.encode_scenario(sc.loads_scenario(SMALL)))


def test_find_the_cheapest_finds_hosts_and_links_to_the_planner():
    at = start("optimize")
    assert at.multiselect(key="opt_knobs").value == ["host.count"]
    at.number_input(key="opt_hi_host.count").set_value(8).run()
    at.checkbox(key="opt_ns_on").uncheck().run()      # p95 startup <= 2 s alone
    at.number_input(key="opt_trials").set_value(8).run()
    at.number_input(key="opt_reps").set_value(3).run()
    at.button(key="opt_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    res = at.session_state["optimize"]["res"]
    assert len(res.trials) == 8 and not at.session_state["optimize"]["stopped"]
    assert res.best is not None
    # ~10 instances in service at once (0.5/s x 20 s), 4 per host: fewer than 3 hosts queue for room
    assert res.best.host.count >= 3
    assert res.trials.loc[res.trials["host.count"] < 3, "feasible"].eq(False).all()
    assert any("Cheapest that meets the SLOs" in s.value for s in at.success)
    assert len(at.get("vega_lite_chart")) >= 1
    link = next(b for b in at.get("link_button"))
    url = link.proto.url
    assert url.startswith("planner?s=")
    assert planner.decode_scenario(url.split("?s=")[1]).host.count == res.best.host.count


def test_sweep_page_ranks_the_settings_in_a_tornado():
    at = start("sweep")
    at.number_input(key="a1_low_host.cpu_cores").set_value(1.0).run()
    at.number_input(key="a1_high_host.cpu_cores").set_value(8.0).run()
    at.number_input(key="a1_steps_host.cpu_cores").set_value(3).run()
    at.selectbox(key="a2_path").set_value("host.disk_mb_s").run()
    at.number_input(key="reps").set_value(1).run()
    at.button(key="run_sweep").click().run()
    at.selectbox(key="metric").set_value("host.mean_cpu_util").run()
    assert len(at.get("vega_lite_chart")) == 1
    at.button(key="sens_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    rows = at.session_state["sensitivity"]["rows"].set_index("axis")
    # CPU utilisation is CPU asked / cores: the core count moves it; the disk speed (images
    # prepulled) only shifts each start by its rootfs writes, a hair of the time the apps run
    assert rows.loc["host.cpu_cores", "mu_star"] > 0.01
    assert rows.loc["host.disk_mb_s", "mu_star"] < 1e-3 * rows.loc["host.cpu_cores", "mu_star"]
    assert len(at.get("vega_lite_chart")) == 2
    assert "What host.mean_cpu_util hangs on" in at.get("vega_lite_chart")[1].proto.spec


def test_the_trade_off_draws_a_pareto_front():
    at = start("optimize")
    at.number_input(key="opt_hi_host.count").set_value(6).run()
    at.checkbox(key="opt_ns_on").uncheck().run()
    at.checkbox(key="opt_p95_on").uncheck().run()     # no SLO: the whole front of hosts against speed
    at.checkbox(key="opt_pareto").check().run()
    at.number_input(key="opt_trials").set_value(6).run()
    at.number_input(key="opt_reps").set_value(2).run()
    at.button(key="opt_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    res = at.session_state["optimize"]["res"]
    front = res.pareto
    assert len(res.spec.objectives) == 2 and len(front) >= 2
    # more hosts buy a faster p95 along the front
    assert front["objective.hosts"].is_monotonic_increasing
    assert front["objective.workloads.api.startup_s.p95"].is_monotonic_decreasing
    assert "Pareto front" in at.get("vega_lite_chart")[-1].proto.spec


def test_a_search_too_large_for_the_app_is_refused_before_it_runs():
    at = start("optimize")
    at.multiselect(key="opt_knobs").set_value(["host.count", "workloads.api.arrival.rate_per_s"]).run()
    at.number_input(key="opt_hi_workloads.api.arrival.rate_per_s").set_value(5000.0).run()
    at.button(key="opt_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Not run" in e.value for e in at.error)
    assert "optimize" not in at.session_state or at.session_state["optimize"]["res"] is None
