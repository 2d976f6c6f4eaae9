"""Warm paths (simcontainer.model.warm): pools, keep-alive, snapshot and CRIU restore."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simcontainer.engine.core import simulate
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import loads_scenario
from simcontainer.scenario.profiles import figures, restore_for
from simcontainer.studies.warm_strategies import strategy_table

ROOT = Path(__file__).resolve().parent.parent
FN = "9f03b188574d8ac6fb6a6f142848464716c284751689d3e5c854125ba602f929"   # ~1.2 calls a minute


def scenario(warm: str, arrival: str, *, runtime: str = "runc", image: str = "python:3.12-slim",
             duration: float = 300.0, extra: str = "", life: float = 1.0):
    text = f"""
name = "warm"
duration_s = {duration}
seed = 3
host = "server-64g"
[daemon]
prepull = ["{image}"]
[[workloads]]
name = "f"
runtime = "{runtime}"
image = "{image}"
mem_mib = 256
arrival = {arrival}
lifetime = {{ kind = "fixed", s = {life} }}
{warm}
{extra}
"""
    return loads_scenario(text, base_dir=str(ROOT))


def run(*a, **k):
    return simulate(scenario(*a, **k)).summary["workloads"]["f"]


def test_pool_of_n_hides_n_cold_starts_then_runs_dry():
    w = run('warm = { pool = 3, refill = "none" }', '{ kind = "burst", at_s = 20.0, count = 5 }')
    assert w["warm"]["starts"] == {"cold": 2, "warm": 3, "snapshot": 0}
    assert w["warm"]["startup_s"]["warm"]["max"] == 0.0
    assert w["warm"]["startup_s"]["cold"]["p50"] > 0.1
    assert w["warm"]["pool_fills"] == 3
    # three idle instances held their RAM from their start (< 1 s) to the burst at 20 s
    assert 3 * 256 * 19 < w["warm"]["idle_mib_s"] < 3 * 300 * 20


def test_pool_refills_at_its_policy():
    arr = '{ kind = "interval", every_s = 60.0, start_s = 20.0 }'
    none = run('warm = { pool = 1, refill = "none" }', arr, duration=200.0)
    assert none["warm"]["starts"] == {"cold": 2, "warm": 1, "snapshot": 0}
    now = run('warm = { pool = 1, refill = "immediate" }', arr, duration=200.0)
    assert now["warm"]["starts"] == {"cold": 0, "warm": 3, "snapshot": 0}
    assert now["warm"]["pool_fills"] == 4       # the first, and one per take
    assert now["startup_s"]["max"] == 0.0


def test_keep_alive_serves_a_repeat_within_its_window_and_not_after():
    arr = '{ kind = "interval", every_s = 100.0, start_s = 10.0 }'
    kept = run('warm = { keep_alive_s = 600.0 }', arr, duration=250.0)
    assert kept["warm"]["starts"] == {"cold": 1, "warm": 2, "snapshot": 0}
    assert kept["warm"]["keep_alive_expired"] == 0
    ram = kept["warm"]["idle_mib_s"] / ((100 - 1) * 2 + (250 - 211))   # idle gaps: 99, 99, 39 s
    assert 256 <= ram < 300
    assert kept["warm"]["idle_mean_mib"] == pytest.approx(kept["warm"]["idle_mib_s"] / 250.0)
    short = run('warm = { keep_alive_s = 50.0 }', arr, duration=250.0)
    assert short["warm"]["starts"] == {"cold": 3, "warm": 0, "snapshot": 0}
    assert short["warm"]["keep_alive_expired"] == 2
    assert short["completed"] == 3


def test_snapshot_restore_start_is_the_sourced_restore_and_faults_show_while_running():
    rs = restore_for("firecracker")
    assert rs is not None and rs.load_s == 0.005 and any("snapshot-support.md" in s for s in rs.sources)
    # the documented restore's configuration: 2 vCPU / 512 MiB
    sc = scenario('warm = { start = "snapshot" }', '{ kind = "burst", at_s = 5.0, count = 1 }',
                  runtime="firecracker", image="firecracker-rootfs", life=2.0,
                  extra='vm_disk = "overlay"\nvcpus = 2\nguest_mem_mib = 512')
    res = simulate(sc)
    w = res.summary["workloads"]["f"]
    assert w["warm"]["starts"] == {"cold": 0, "warm": 0, "snapshot": 1}
    assert w["startup_s"]["p50"] == pytest.approx(0.005)
    assert w["phases_s"]["restore"] == pytest.approx(0.005)
    assert sum(w["phases_s"].values()) == pytest.approx(w["startup_s"]["mean"])
    fault = w["warm"]["fault_cpu_s"]
    assert fault > 0
    ev = res.instances.iloc[0]
    # the app's 2 s of work start after its first-touch page faults are served
    assert ev["t_stopping"] - ev["t_ready"] == pytest.approx(2.0 + fault, rel=1e-6)
    cold = run("", '{ kind = "burst", at_s = 5.0, count = 1 }', runtime="firecracker",
               image="firecracker-rootfs", extra='vm_disk = "overlay"')
    assert cold["startup_s"]["p50"] > 20 * 0.005
    assert "restore" not in cold["phases_s"]


def test_criu_restore_grows_with_memory_and_leaves_no_faults():
    w = run('warm = { start = "snapshot" }', '{ kind = "burst", at_s = 5.0, count = 2 }')
    rs = restore_for("runc")
    assert rs.how == "criu"
    assert w["warm"]["restore_s"] == pytest.approx(rs.load_s + 256 / rs.mem_rate_mib_s)
    assert w["startup_s"]["max"] == pytest.approx(w["warm"]["restore_s"])
    assert w["warm"]["fault_cpu_s"] == 0.0


def test_deterministic():
    sc = scenario('warm = { pool = 2, keep_alive_s = 30.0 }',
                  f'{{ kind = "azure", path = "models/traces/azure-functions-standin.d01.csv", function = "{FN}" }}',
                  duration=1800.0)
    a, b = simulate(sc).summary, simulate(sc).summary
    assert a == b
    assert a["workloads"]["f"]["warm"]["starts"]["warm"] > 0


def test_invalid_warm_settings_are_refused():
    with pytest.raises(ScenarioError, match="warm"):
        loads_scenario('name = "x"\nhost = "server-64g"\n[[workloads]]\nname = "f"\nruntime = "runc"\n'
                       'image = "alpine"\nmem_mib = 64\narrival = { kind = "burst", count = 1 }\n'
                       'warm = { pool = -1, colour = 3 }\n')
    # one lifecycle: a warm path goes with a restart policy (0.2 refused it)
    scenario('warm = { pool = 1 }\nrestart = "always"', '{ kind = "burst", count = 1 }')
    with pytest.raises(ScenarioError, match="no restore figures"):
        (scenario('warm = { start = "snapshot" }', '{ kind = "burst", count = 1 }',
                          runtime="qemu-kvm", image="ubuntu-24.04-cloud"))


def test_strategy_table_on_the_azure_standin():
    sc = scenario("", f'{{ kind = "azure", path = "models/traces/azure-functions-standin.d01.csv", function = "{FN}" }}',
                  duration=3600.0)
    t = strategy_table(sc, pool=2, keep_alive_s=600.0)
    assert list(t["strategy"]) == ["cold", "lazy pull", "pool", "snapshot", "keep-alive"]
    by = t.set_index("strategy")
    assert (by["requests"] == by.loc["cold", "requests"]).all()       # the same arrivals
    assert by.loc["cold", "warm"] == 0 and by.loc["cold", "idle_mib_s"] == 0.0
    assert by.loc["keep-alive", "startup_p50_s"] == 0.0 and by.loc["keep-alive", "idle_mib_s"] > 0
    assert by.loc["snapshot", "startup_p95_s"] < by.loc["cold", "startup_p95_s"]
    assert by.loc["lazy pull", "startup_max_s"] < by.loc["cold", "startup_max_s"]   # the one pull
    assert not math.isnan(by.loc["pool", "startup_p50_s"])
    assert figures()[0] == 0.0


def test_example_scenario_and_cli_table(capsys):
    from simcontainer.faces.cli import main

    assert main(["run", str(ROOT / "models" / "scenarios" / "warm-paths.toml")]) == 0
    out = capsys.readouterr().out
    assert "warm paths" in out and "fn-keepalive" in out


def test_a_pool_fills_by_restore_when_it_starts_from_snapshots():
    # (a 256 MiB app faults 256 x 256 pages at 25 us back in: 1.6 s of CPU before it is idle)
    w = run('warm = { start = "snapshot", pool = 1, refill = "none" }', '{ kind = "burst", at_s = 5.0, count = 2 }',
            runtime="firecracker", image="firecracker-rootfs",
            extra='vm_disk = "overlay"\nvcpus = 2\nguest_mem_mib = 512')
    assert w["warm"]["starts"] == {"cold": 0, "warm": 1, "snapshot": 1}
    assert w["warm"]["startup_s"]["snapshot"]["p50"] == pytest.approx(0.005)
    # the pool instance was restored at t = 0 and its faults served before the burst
    assert w["phases_s"]["restore"] == pytest.approx(0.005 / 2)


def test_a_pool_larger_than_the_host_fills_what_fits_and_never_holds_requests_up():
    w = run('warm = { pool = 1000 }', '{ kind = "burst", at_s = 5.0, count = 3 }')
    wb = w["warm"]
    assert 0 < wb["pool_fills"] - wb["pool_fill_failed"] < 1000
    assert wb["starts"]["warm"] == 3 and w["waiting_at_horizon"] == 0
