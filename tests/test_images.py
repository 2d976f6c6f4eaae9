"""Images, layers, registry pulls, disk and garbage collection (issue 3).

Scenarios here use zero-overhead runtimes and inline images, so every expected time and size is
exact arithmetic on the scenario's own numbers.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import simcontainer as sc
from simcontainer.model.host import MIB_PER_MB
from simcontainer.model.images import Image, Layer, graph_view, layer_graph
from simcontainer.model.registry import DECODE_MB_S

ZERO = {"name": "zero", "kind": "container"}
ZERO_VM = {"name": "zerovm", "kind": "vm"}
NET_MB_S = 100.0
DISK_MB_S = 400.0
NET = NET_MB_S * MIB_PER_MB     # MiB/s
DISK = DISK_MB_S * MIB_PER_MB
GZIP = DECODE_MB_S["gzip"] * MIB_PER_MB   # MiB of unpacked layer per core-second
# A registry that costs nothing but bytes: no round trips, no per-connection cap (tests of the
# registry itself: test_registry.py, test_pull.py).
IDEAL_REGISTRY = {"rtt_ms": 0.0, "per_stream_mb_s": 1e9}


def layer(lid: str, download: float, disk: float) -> dict[str, Any]:
    return {"id": lid, "download_mib": download, "disk_mib": disk}


def workload(name: str, image: str, at: float = 0.0, count: int = 1, life: float | None = None,
             **extra: Any) -> dict[str, Any]:
    w = {"name": name, "runtime": "zero", "image": image, "mem_mib": 10, "writable_mib": 0,
         "arrival": {"kind": "burst", "at_s": at, "count": count},
         "lifetime": {"kind": "forever"} if life is None else {"kind": "fixed", "s": life},
         "auto_remove": True}       # docker run --rm: a stopped container lets go of its image
    w.update(extra)
    return w


def scenario(images: list[dict[str, Any]], workloads: list[dict[str, Any]], *, disk_gib: float = 10,
             duration: float = 200.0, runtimes: tuple[dict[str, Any], ...] = (),
             **daemon: Any) -> sc.Scenario:
    return sc.parse_scenario({
        "name": "images-test", "duration_s": duration, "seed": 3,
        "host": {"cpu_cores": 4, "ram_mib": 65536, "disk_gib": disk_gib, "disk_mb_s": DISK_MB_S,
                 "net_mb_s": NET_MB_S},
        "daemon": {"max_concurrent_downloads": 3, **daemon},
        "runtimes": [dict(ZERO), dict(ZERO_VM), *runtimes],
        "images": images,
        "workloads": workloads,
        "registry": dict(IDEAL_REGISTRY),
    })


def extract_s(download: float, disk: float) -> float:
    """One layer's extraction on an idle host: disk write and decompression run side by side."""
    return max(disk / DISK, disk / GZIP)


def run_until(eng: sc.Engine, t: float) -> None:
    eng.env.run(until=t)


def expected_disk(eng: sc.Engine, host: int = 0) -> float:
    """Disk use rebuilt from first principles: unique stored layers + each placed instance's own
    disk (writable layer or overlay, or a VM's full copy) + its runtime's per-instance files."""
    h = eng.hosts[host]
    layers = sum(e.layer.disk_mib for e in h.store.entries.values())
    own = 0.0
    for inst in eng.daemon.live.values():
        if inst.ticket.host is not h:
            continue
        plan = inst.plan
        if plan.runtime.kind == "vm" and plan.workload.vm_disk == "copy":
            own += plan.image.disk_mib
        else:
            own += plan.workload.writable_mib
        own += plan.runtime.disk_overhead_mib
    return layers + own


# --------------------------------------------------------------------------- the layer graph


def test_layer_graph_finds_shared_layers_and_draws_rows() -> None:
    a = Image("a", "container", (Layer("base", 10, 20), Layer("mid", 5, 5), Layer("a1", 1, 1)))
    b = Image("b", "container", (Layer("base", 10, 20), Layer("mid", 5, 5), Layer("b1", 2, 3)))
    c = Image("c", "container", (Layer("other", 4, 4),))
    view = graph_view([a, b, c])
    nodes = {n["id"]: n for n in view["nodes"]}
    assert set(nodes) == {"base", "mid", "a1", "b1", "other"}
    assert {n for n, d in nodes.items() if d["shared"]} == {"base", "mid"}
    assert nodes["mid"]["images"] == ["a", "b"]
    assert {n: d["depth"] for n, d in nodes.items()} == {"base": 0, "mid": 1, "a1": 2, "b1": 2, "other": 0}
    assert sorted((e["parent"], e["child"]) for e in view["edges"]) == [
        ("base", "mid"), ("mid", "a1"), ("mid", "b1")]
    rows = {r["name"]: r for r in view["images"]}
    assert rows["a"]["layers"] == ["base", "mid", "a1"]
    assert rows["a"]["own_disk_mib"] == 1 and rows["c"]["own_disk_mib"] == 4
    t = view["totals"]
    assert t["disk_mib_unshared"] == 26 + 28 + 4
    assert t["disk_mib"] == 20 + 5 + 1 + 3 + 4
    assert t["saved_disk_mib"] == t["disk_mib_unshared"] - t["disk_mib"]
    assert t["download_mib"] == 10 + 5 + 1 + 2 + 4 and t["shared_layers"] == 2


def test_graph_view_survives_inconsistent_chains() -> None:
    # The same two layer ids in opposite orders make a cycle; the view still draws.
    a = Image("a", "container", (Layer("x", 1, 1), Layer("y", 1, 1)))
    b = Image("b", "container", (Layer("y", 1, 1), Layer("x", 1, 1)))
    assert not nx.is_directed_acyclic_graph(layer_graph([a, b]))
    depths = {n["id"]: n["depth"] for n in graph_view([a, b])["nodes"]}
    assert depths == {"x": 0, "y": 0}


def test_catalogue_images_share_bases_through_the_graph() -> None:
    from simcontainer.engine.core import image_table

    images = image_table(sc.load_scenario(sc.scenario.profiles.models_dir() / "scenarios" / "default.toml"),
                         sc.default_catalogue())
    view = graph_view(images.values())
    nodes = {n["id"]: n for n in view["nodes"]}
    # python, node, nginx, postgres and redis all sit on debian-slim; shop-api on python
    assert {"python:3.12-slim", "node:20-slim", "nginx:1.27", "postgres:16", "redis:7",
            "shop-api:1.4"} <= set(nodes["debian-12-slim"]["images"])
    assert nodes["debian-12-slim"]["depth"] == 0 and nodes["shop-api-1.4"]["depth"] == 2
    vm_nodes = [n for n in view["nodes"] if n["id"].startswith("vm-disk:")]
    assert len(vm_nodes) >= 3 and not any(n["shared"] for n in vm_nodes)
    assert view["totals"]["saved_disk_mib"] > 0


def test_graph_view_reports_a_hosts_layer_states() -> None:
    sc_ = scenario([{"name": "a", "layers": [layer("base", 10, 20), layer("a1", 5, 5)]},
                    {"name": "b", "layers": [layer("base", 10, 20), layer("b1", 5, 5)]},
                    {"name": "p", "layers": [layer("p1", 1, 1)]}],
                   [workload("w", "a")], prepull=["p"])
    eng = sc.Engine(sc_)
    run_until(eng, 0.01)   # the pull of a is under way
    images = [eng.plans[0].image]
    states = {n["id"]: (n["state"], n["refs"]) for n in graph_view(images, eng.hosts[0].store)["nodes"]}
    assert states == {"base": ("pulling", 1), "a1": ("pulling", 1)}
    run_until(eng, 50)
    store = eng.hosts[0].store
    assert store.layer_state("base") == ("in_use", 1)
    assert store.layer_state("p1") == ("cached", 0)
    assert store.layer_state("b1") == ("absent", 0)


# --------------------------------------------------------------------------- pulls


def test_lone_pull_time_is_download_over_bandwidth_plus_extraction() -> None:
    r = sc.simulate(scenario([{"name": "a", "layers": [layer("a0", 50.0, 120.0)]}], [workload("w", "a")]))
    expected = 50.0 / NET + extract_s(50.0, 120.0)
    w = r.summary["workloads"]["w"]
    assert w["phases_s"]["pull"] == pytest.approx(expected, rel=1e-9)
    assert w["startup_s"]["mean"] == pytest.approx(expected, rel=1e-9)
    assert w["pull"] == {"pulled_mib": 50.0, "mean_s": pytest.approx(expected, rel=1e-9),
                         "p95_s": pytest.approx(expected, rel=1e-9), "pulls": 1, "cache_hit_rate": 0.0}


def test_download_limit_one_pipelines_downloads_and_in_order_extraction() -> None:
    sizes = [(30.0, 90.0), (10.0, 400.0), (20.0, 20.0)]
    img = {"name": "a", "layers": [layer(f"l{i}", d, k) for i, (d, k) in enumerate(sizes)]}
    r = sc.simulate(scenario([img], [workload("w", "a")], max_concurrent_downloads=1))
    # downloads one after another at full bandwidth; layer i extracts once it is downloaded
    # and layer i-1 is extracted (extraction is in layer order)
    dl_done, ext_done = 0.0, 0.0
    for d, k in sizes:
        dl_done += d / NET
        ext_done = max(dl_done, ext_done) + extract_s(d, k)
    assert r.summary["workloads"]["w"]["phases_s"]["pull"] == pytest.approx(ext_done, rel=1e-9)


def test_parallel_downloads_share_the_link() -> None:
    # three equal layers, three slots: each gets a third of the link, all land at 3d/NET
    img = {"name": "a", "layers": [layer(f"l{i}", 20.0, 1.0) for i in range(3)]}
    r = sc.simulate(scenario([img], [workload("w", "a")], max_concurrent_downloads=3))
    expected = 3 * 20.0 / NET + 3 * extract_s(20.0, 1.0)
    assert r.summary["workloads"]["w"]["phases_s"]["pull"] == pytest.approx(expected, rel=1e-9)
    r1 = sc.simulate(scenario([img], [workload("w", "a")], max_concurrent_downloads=1))
    # with one slot the downloads still take 3d/NET, but extraction overlaps the later downloads
    assert r1.summary["workloads"]["w"]["phases_s"]["pull"] == pytest.approx(
        3 * 20.0 / NET + extract_s(20.0, 1.0), rel=1e-9)


def test_concurrent_pulls_of_images_sharing_a_base_download_it_once() -> None:
    images = [{"name": "a", "layers": [layer("base", 40.0, 100.0), layer("a1", 5.0, 5.0)]},
              {"name": "b", "layers": [layer("base", 40.0, 100.0), layer("b1", 7.0, 9.0)]}]
    eng = sc.Engine(scenario(images, [workload("wa", "a", count=3), workload("wb", "b", count=2)]))
    res = eng.run()
    assert res.summary["host"]["pulled_mib"] == pytest.approx(40.0 + 5.0 + 7.0)
    inst = res.instances
    assert inst["pulled_mib"].sum() == pytest.approx(52.0)
    assert (inst["pulled_mib"] > 0).sum() == 2          # one owner per image, base in one of them
    assert sorted(inst["pulled_mib"][inst["pulled_mib"] > 0]) == [pytest.approx(7.0), pytest.approx(45.0)]
    store = eng.hosts[0].store
    assert store.stored_mib == pytest.approx(100 + 5 + 9)
    assert eng.hosts[0].disk.used == pytest.approx(114.0)
    # nobody is ready before the shared base has come down and been extracted
    assert inst["t_pulled"].min() >= 40.0 / NET
    # every instance of the same image finishes its pull at the same moment: waiters piggyback
    for w in ("wa", "wb"):
        t = inst.loc[inst["workload"] == w, "t_pulled"]
        assert t.max() == pytest.approx(t.min())
    assert res.summary["workloads"]["wa"]["pull"]["cache_hit_rate"] == 0.0


def test_cold_and_warm_start_differ_by_the_pull() -> None:
    images = [{"name": "a", "layers": [layer("a0", 64.0, 150.0), layer("a1", 8.0, 8.0)]}]
    rt = {"name": "slow", "kind": "container", "create": {"median_s": 0.5}, "boot": {"median_s": 0.25}}

    def run(prepull: list[str]) -> dict[str, Any]:
        scen = scenario(images, [workload("w", "a", runtime="slow")], prepull=prepull, runtimes=(rt,))
        return sc.simulate(scen).summary["workloads"]["w"]

    cold, warm = run([]), run(["a"])
    assert warm["phases_s"]["pull"] == 0.0 and warm["pull"]["cache_hit_rate"] == 1.0
    assert warm["startup_s"]["mean"] == pytest.approx(0.75, rel=1e-12)
    assert cold["startup_s"]["mean"] - warm["startup_s"]["mean"] == pytest.approx(cold["phases_s"]["pull"], rel=1e-9)
    # two layers on three slots: they share the link until the small one lands
    t_small = 2 * 8.0 / NET
    t_big = t_small + (64.0 - 8.0) / NET
    a0_done = t_big + extract_s(64.0, 150.0)
    assert cold["phases_s"]["pull"] == pytest.approx(a0_done + extract_s(8.0, 8.0), rel=1e-9)


@st.composite
def image_sets(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], float,
                                         dict[str, float]]:
    """Random container images on a few random shared bases, plus random arrivals."""
    size = st.floats(min_value=0.5, max_value=40.0, allow_nan=False).map(lambda x: round(x, 2))
    n_bases = draw(st.integers(1, 3))
    bases = [[layer(f"base{b}-{k}", draw(size), draw(size)) for k in range(draw(st.integers(1, 2)))]
             for b in range(n_bases)]
    images = []
    for i in range(draw(st.integers(1, 5))):
        base = bases[draw(st.integers(0, n_bases - 1))]
        own = [layer(f"img{i}-{k}", draw(size), draw(size)) for k in range(draw(st.integers(0, 2)))]
        if not base and not own:
            own = [layer(f"img{i}-0", 1.0, 1.0)]
        images.append({"name": f"img{i}", "layers": base + own})
    workloads = []
    for j in range(draw(st.integers(1, 6))):
        img = draw(st.sampled_from(images))["name"]
        life = draw(st.one_of(st.none(), st.floats(0.0, 20.0), st.floats(0.0, 20.0)))
        workloads.append(workload(f"w{j}", img, at=draw(st.floats(0.0, 60.0)),
                                  count=draw(st.integers(1, 3)), life=life,
                                  writable_mib=draw(st.sampled_from([0.0, 3.0, 12.5]))))
    if draw(st.booleans()):   # a VM beside them, sometimes
        images.append({"name": "vmimg", "kind": "vm", "download_mib": draw(size), "disk_mib": draw(size)})
        workloads.append({"name": "vm", "runtime": "zerovm", "image": "vmimg", "mem_mib": 10,
                          "vm_disk": draw(st.sampled_from(["copy", "overlay"])), "writable_mib": 2.0,
                          "arrival": {"kind": "burst", "at_s": draw(st.floats(0.0, 10.0)),
                                      "count": draw(st.integers(1, 3))}})
    prepull = draw(st.lists(st.sampled_from([im["name"] for im in images]), max_size=2, unique=True))
    disk_gib = draw(st.sampled_from([0.2, 0.2, 0.3, 10.0]))   # small disks and low marks make the
    high = draw(st.sampled_from([0.2, 0.4, 0.85]))        # collector work
    marks = {"gc_high": high, "gc_low": high - draw(st.sampled_from([0.0, 0.05, 0.15]))}
    return images, workloads, prepull, disk_gib, marks


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_sets())
def test_bytes_pulled_are_the_missing_layers_and_disk_adds_up(case: Any) -> None:
    images, workloads, prepull, disk_gib, marks = case
    try:
        scen = scenario(images, workloads, prepull=prepull, disk_gib=disk_gib, duration=120.0, **marks)
        eng = sc.Engine(scen)
    except ValueError:
        event("prepull refused")
        return   # prepull larger than the disk: refused up front, nothing to check
    h = eng.hosts[0]
    store = h.store
    missing_at_claim: list[float] = []
    claim = store.claim

    def recording_claim(image: Image) -> list[Layer]:
        # what the registry must send for this claim: the layers the host neither has nor is
        # fetching at this moment
        missing_at_claim.append(sum(la.download_mib for la in image.layers if la.id not in store.entries))
        return claim(image)

    store.claim = recording_claim  # type: ignore[method-assign]
    for k in range(1, 121):
        run_until(eng, k * 1.0)
        assert 0.0 <= h.disk.used <= h.disk.capacity * (1 + 1e-9)
        assert h.disk.used == pytest.approx(expected_disk(eng), abs=1e-6)
        assert store.stored_mib == pytest.approx(sum(e.layer.disk_mib for e in store.entries.values()), abs=1e-6)
        assert store.idle_mib == pytest.approx(store.unused_mib(), abs=1e-6)
        assert store.in_use_mib == pytest.approx(
            sum(e.layer.disk_mib for e in store.entries.values() if e.refs > 0), abs=1e-6)
        assert all(e.refs >= 0 for e in store.entries.values())
    event(f"collector ran: {store.gc_runs > 0}")
    in_flight = [e for e in store.entries.values() if not e.present]
    event(f"pull in flight at the horizon: {bool(in_flight)}")
    if in_flight:
        return   # a pull still running at the horizon would leave bytes half-counted
    assert store.pulled_mib == pytest.approx(sum(missing_at_claim), abs=1e-6)
    assert sum(eng.recorder.pulled_mib) == pytest.approx(store.pulled_mib, abs=1e-6)
    if store.gc_runs == 0:
        # nothing was collected, so each layer came down at most once: exactly the layers of the
        # images that were placed, minus those preloaded
        placed = {eng.plans[eng.recorder.workload[i]].image.name
                  for i in range(eng.recorder.n) if eng.recorder.host[i] >= 0}
        table = {p.image.name: p.image for p in eng.plans}
        pre = {la.id for name in prepull for la in _image(eng, name).layers}
        needed = {la.id: la.download_mib for name in placed for la in table[name].layers if la.id not in pre}
        assert store.pulled_mib == pytest.approx(sum(needed.values()), abs=1e-6)


def _image(eng: sc.Engine, name: str) -> Image:
    from simcontainer.engine.core import image_table

    return image_table(eng.scenario, eng.catalogue)[name]


# --------------------------------------------------------------------------- garbage collection


def _gc_images(sizes: dict[str, float]) -> list[dict[str, Any]]:
    return [{"name": n, "layers": [layer(f"{n}-0", 1.0, s)]} for n, s in sizes.items()]


def test_gc_frees_down_to_the_low_watermark_lru_first() -> None:
    # 1 GiB disk: high 870.4, low 819.2. A and B (300 each) are unused when C (300) arrives:
    # 900 > high, so the collector removes the least recently used (A) and stops at 600 <= low.
    scen = scenario(_gc_images({"A": 300, "B": 300, "C": 300}),
                    [workload("a", "A", at=0, life=5), workload("b", "B", at=20, life=5),
                     workload("c", "C", at=40)], disk_gib=1)
    eng = sc.Engine(scen)
    run_until(eng, 39.9)
    h = eng.hosts[0]
    assert h.disk.used == pytest.approx(600.0) and h.store.gc_runs == 0
    run_until(eng, 41.0)
    cap = h.disk.capacity
    assert "A-0" not in h.store.entries and "B-0" in h.store.entries
    assert h.disk.used == pytest.approx(600.0)
    assert h.disk.used <= 0.80 * cap < h.disk.used + 300.0     # at the low mark, not below it needlessly
    assert (h.store.gc_runs, h.store.gc_freed_mib, h.store.gc_layers) == (1, 300.0, 1)
    res = eng.run()
    assert res.summary["host"]["gc_runs"] == 1 and res.summary["host"]["gc_freed_mib"] == 300.0
    assert res.summary["hosts"][0]["gc_freed_mib"] == 300.0
    assert res.summary["workloads"]["c"]["wait_s"]["mean"] == 0.0
    # the disk series shows the collection: it never went past capacity and ends at 600
    ts = res.timeseries
    assert ts["disk_mib"].max() <= cap and ts["disk_mib"].iloc[-1] == pytest.approx(600.0)


def test_gc_never_removes_a_layer_in_use() -> None:
    # A is older than B but still running: B goes although A is least recently used.
    scen = scenario(_gc_images({"A": 300, "B": 300, "C": 300}),
                    [workload("a", "A", at=0), workload("b", "B", at=1, life=5),
                     workload("c", "C", at=40)], disk_gib=1)
    eng = sc.Engine(scen)
    run_until(eng, 41.0)
    h = eng.hosts[0]
    assert "A-0" in h.store.entries and h.store.entries["A-0"].refs == 1
    assert "B-0" not in h.store.entries
    assert h.disk.used == pytest.approx(600.0)
    # nothing more to collect: use stays above the low mark (only in-use layers remain)
    assert h.store.reclaimable_mib() == 0.0


def test_gc_keeps_the_admitted_images_own_layers() -> None:
    # B = base + b, C = base + c; A unrelated. When C arrives, B's base is the oldest unused
    # layer but C needs it: the collector takes b and then A instead, and C pulls only c.
    images = [{"name": "A", "layers": [layer("a", 1.0, 350.0)]},
              {"name": "B", "layers": [layer("base", 30.0, 300.0), layer("b", 1.0, 100.0)]},
              {"name": "C", "layers": [layer("base", 30.0, 300.0), layer("c", 2.0, 200.0)]}]
    scen = scenario(images, [workload("b", "B", at=0, life=1), workload("a", "A", at=10, life=1),
                             workload("c", "C", at=30)], disk_gib=1)
    eng = sc.Engine(scen)
    res = eng.run()
    h = eng.hosts[0]
    assert set(h.store.entries) == {"base", "c"}
    assert h.store.gc_freed_mib == pytest.approx(450.0) and h.store.gc_runs == 1
    assert res.summary["workloads"]["c"]["pull"]["pulled_mib"] == 2.0
    assert h.disk.used == pytest.approx(500.0)


def test_a_start_that_fits_only_after_gc_is_admitted_at_once() -> None:
    # A and B (400 each) are cached and unused; C (400) needs 1200 > 1024: admitted, after GC.
    scen = scenario(_gc_images({"A": 400, "B": 400, "C": 400}),
                    [workload("c", "C", at=5)], disk_gib=1, prepull=["A", "B"])
    res = sc.simulate(scen)
    w = res.summary["workloads"]["c"]
    assert w["started"] == 1 and w["wait_s"]["mean"] == 0.0
    # to the low mark with C counted: one 400 goes (800 + 400 - 400 = 800 <= 819.2), not both
    assert res.summary["host"]["gc_freed_mib"] == pytest.approx(400.0)
    assert res.summary["host"]["stored_mib"] == pytest.approx(800.0)
    assert res.summary["hosts"][0]["layers"] == 2


@pytest.mark.parametrize("admission", ["queue", "reject"])
def test_a_start_that_cannot_fit_even_after_gc_waits_or_is_rejected(admission: str) -> None:
    # A and B are in use (B until t=30); C cannot fit: nothing is reclaimable.
    scen = scenario(_gc_images({"A": 400, "B": 400, "C": 400}),
                    [workload("a", "A", at=0), workload("b", "B", at=0, life=30),
                     workload("c", "C", at=5)], disk_gib=1, admission=admission)
    res = sc.simulate(scen)
    w = res.summary["workloads"]["c"]
    if admission == "reject":
        assert w["rejected"] == 1 and w["started"] == 0
        assert res.summary["host"]["gc_runs"] == 0
    else:
        # admitted when B's instance leaves (30 s after its pull, which shared the link and the
        # disk with A's: two 1 MiB downloads side by side, then two 400 MiB extractions)
        b_pull = 2 * 1.0 / NET + 2 * 400.0 / DISK
        assert w["started"] == 1
        assert w["wait_s"]["mean"] == pytest.approx(30.0 + b_pull - 5.0, rel=1e-9)
        assert res.summary["host"]["gc_runs"] == 1
        assert res.summary["host"]["gc_freed_mib"] == pytest.approx(400.0)


def test_an_image_larger_than_the_disk_is_rejected_even_when_queueing() -> None:
    scen = scenario(_gc_images({"big": 2000}), [workload("w", "big")], disk_gib=1, admission="queue")
    w = sc.simulate(scen).summary["workloads"]["w"]
    assert w["rejected"] == 1


# --------------------------------------------------------------------------- containers vs VMs


def _vm_run(mode: str, count: int) -> tuple[sc.Engine, sc.Result]:
    # boot_read_mib 0: only the disk copy costs disk time here (boot reads: tests/test_io.py)
    images = [{"name": "disk", "kind": "vm", "download_mib": 100.0, "disk_mib": 1000.0, "boot_read_mib": 0.0}]
    wl = {"name": "vm", "runtime": "zerovm", "image": "disk", "mem_mib": 10, "vm_disk": mode,
          "writable_mib": 20.0, "arrival": {"kind": "burst", "at_s": 0.0, "count": count}}
    eng = sc.Engine(scenario(images, [wl], prepull=["disk"]))
    return eng, eng.run()


def test_vm_copy_vs_overlay_disk_and_startup() -> None:
    eng_c, copy = _vm_run("copy", 3)
    eng_o, over = _vm_run("overlay", 3)
    # copy: the cached image (the template) + a full copy per VM; overlay: image + small overlays
    assert eng_c.hosts[0].disk.used == pytest.approx(1000.0 + 3 * 1000.0)
    assert eng_o.hosts[0].disk.used == pytest.approx(1000.0 + 3 * 20.0)
    # copy writes 3 x 1000 MiB through the shared disk bandwidth; overlay is instant here
    assert copy.summary["workloads"]["vm"]["startup_s"]["max"] == pytest.approx(3000.0 / DISK, rel=1e-9)
    assert over.summary["workloads"]["vm"]["startup_s"]["max"] == 0.0
    _, one = _vm_run("copy", 1)
    assert one.summary["workloads"]["vm"]["phases_s"]["create"] == pytest.approx(1000.0 / DISK, rel=1e-9)
    # sharing: overlay VMs share the base (saves 2 copies); copy VMs share nothing (their template
    # is the image cache, not sharing lost: 0, never below)
    assert over.summary["host"]["saved_by_sharing_mib"] == pytest.approx(2000.0)
    assert copy.summary["host"]["saved_by_sharing_mib"] == 0.0


def test_saved_by_sharing_for_containers() -> None:
    images = [{"name": "a", "layers": [layer("base", 10, 100.0), layer("a1", 1, 10.0)]},
              {"name": "b", "layers": [layer("base", 10, 100.0), layer("b1", 1, 30.0)]},
              {"name": "idle", "layers": [layer("i", 1, 50.0)]}]
    scen = scenario(images, [workload("wa", "a", count=4, writable_mib=5.0), workload("wb", "b", count=2)],
                    prepull=["idle"])
    eng = sc.Engine(scen)
    res = eng.run()
    h = res.summary["hosts"][0]
    # without sharing: 4 x 110 + 2 x 130 = 700; held: base + a1 + b1 = 140 -> 560 saved.
    # the idle cached image is stored but is no instance's: not part of sharing.
    assert h["saved_by_sharing_mib"] == pytest.approx(560.0)
    assert h["peak_saved_by_sharing_mib"] == pytest.approx(560.0)
    assert h["stored_mib"] == pytest.approx(190.0) and h["idle_image_mib"] == pytest.approx(50.0)
    assert eng.hosts[0].disk.used == pytest.approx(190.0 + 4 * 5.0)


def test_default_scenario_reports_image_keys(default_scenario: sc.Scenario) -> None:
    s = sc.simulate(default_scenario).summary
    host = s["host"]
    for key in ("stored_mib", "idle_image_mib", "saved_by_sharing_mib", "gc_runs", "gc_freed_mib"):
        assert key in host and key in s["hosts"][0]
    assert host["stored_mib"] > 0 and host["saved_by_sharing_mib"] > host["stored_mib"]
    for w in s["workloads"].values():
        assert set(w["pull"]) == {"pulled_mib", "mean_s", "p95_s", "pulls", "cache_hit_rate"}
        assert w["pull"]["mean_s"] == w["phases_s"]["pull"]
    assert not math.isnan(host["saved_by_sharing_mib"])


def test_catalogue_layer_ids_have_one_size_each() -> None:
    # a layer id is one layer: wherever it appears its sizes must agree, or a host's disk
    # accounting would depend on which image claimed it first
    seen: dict[str, tuple[float, float]] = {}
    for spec in sc.default_catalogue().images.values():
        for la in Image.from_spec(spec).layers:
            sizes = (la.download_mib, la.disk_mib)
            assert seen.setdefault(la.id, sizes) == sizes, la.id
    assert len(seen) > 20


def test_an_image_listing_a_layer_twice_stores_it_once() -> None:
    img = Image("dup", "container", (Layer("e", 1.0, 2.0), Layer("a", 3.0, 4.0), Layer("e", 1.0, 2.0)))
    assert [la.id for la in img.layers] == ["e", "a"]
    assert (img.download_mib, img.disk_mib) == (4.0, 6.0)
