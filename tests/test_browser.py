"""A real browser on the real app: `streamlit run app.py`, driven by Playwright and Debian's Chromium.

Every page and every lesson is opened by its own URL and must draw without a browser-console
error, without an exception element, and with every chart taller than zero. The planner's
comparison table must put every compared runtime on the same workload (like for like); on a
4-core / 8 GiB host the answer must say what did not start. A long run in a worker process is
stopped with the server answering within 2 s. Screenshots go to docs/screenshots/.
Without Chromium it skips, except under CI=true, where a missing browser fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEW = {"width": 1400, "height": 2700}   # tall: Streamlit scrolls inside its own container
EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stVegaLiteChart"]'
# Every page, by its URL, with the charts it draws when it opens.
PAGES = {"": 8, "hosts": 1, "sweep": 0, "learn-image-vs-container": 0, "learn-kernel": 1,
         "learn-startup": 1, "learn-burst": 1, "learn-layers": 3, "learn-lifecycle": 1,
         "learn-mixed-deploy": 3, "learn-blast-radius": 3, "learn-stopping": 3, "learn-memory": 2,
         "learn-cpu-limits": 2}
# streamlit/streamlit#7074 (open): opening a page by its URL first probes <page>/_stcore/health and
# <page>/_stcore/host-config (404) before the app's root. Those two 404s, and nothing else, are allowed.
KNOWN_404 = re.compile(r"/[\w-]+/_stcore/(health|host-config)$")
# The cold-starts lesson (simcontainer/ui/lesson_cold_starts.py): startup per strategy, its memory bill.
PAGES["learn-cold-starts"] = 2           # simcontainer/ui/lesson_cold_starts.py


def _need(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing and CI=true: the browser test must run")
    pytest.skip(f"{what} is missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        _need("Debian's chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need("the playwright package")
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _health(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"streamlit did not start:\n{out}")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        b = p.chromium.launch(executable_path=exe, args=ARGS, headless=True)
        yield b
        b.close()


class Tab:
    """A browser page that records every console error and uncaught exception."""

    def __init__(self, browser) -> None:
        self.page = browser.new_page(viewport=VIEW)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        if "Failed to load resource" in msg.text and KNOWN_404.search(where):
            return
        self.errors.append(f"{msg.text} ({where})")

    def open(self, url: str, charts: int = 0, timeout: float = 60_000) -> Tab:
        self.page.goto(url)
        self.page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout)
        self.done(charts, timeout)
        return self

    def done(self, charts: int = 0, timeout: float = 60_000) -> None:
        """Wait until the script run is over, ``charts`` charts are there and have stopped resizing."""
        self.page.wait_for_timeout(400)
        self.page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
        if charts:
            self.page.wait_for_function(
                f"() => document.querySelectorAll('{CHART}').length >= {charts}", timeout=timeout)
        _settle(self.page)

    def check(self, where: str, charts: int | None = None) -> None:
        """No console error, no exception element, and every chart drawn with a height."""
        assert not self.errors, f"{where}: browser console errors: {self.errors}"
        exc = self.page.locator(EXCEPTION)
        assert exc.count() == 0, f"{where}: {exc.first.inner_text()}"
        heights = _chart_heights(self.page)
        assert all(h > 0 for h in heights), f"{where}: a chart rendered with zero height: {heights}"
        if charts is not None:
            assert len(heights) >= charts, f"{where}: {len(heights)} charts drawn, {charts} expected"

    def close(self) -> None:
        self.page.close()


def _chart_heights(page) -> list[int]:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('" + CHART + "')).map(e => {"
        " const m = e.querySelector('canvas, svg.marks');"
        " return m ? Math.round(m.getBoundingClientRect().height) : 0; })")


def _settle(page, timeout_s: float = 20.0) -> None:
    """Wait until every chart has drawn and stopped resizing (Vega lays out after the data)."""
    last, deadline = None, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = _chart_heights(page)
        if now == last and all(h > 0 for h in now):
            return
        last = now
        page.wait_for_timeout(600)


def _metric(page, label: str):
    return page.locator('[data-testid="stMetric"]', has_text=label).locator('[data-testid="stMetricValue"]')


def _table_rows(page, header: str) -> list[list[str]]:
    """The visible rows of the st.dataframe whose header has ``header`` (glide's accessible grid)."""
    grid = page.locator('[data-testid="stDataFrame"]', has_text=header).first
    rows = grid.locator('[role="row"]').all()
    return [[c.inner_text() for c in r.locator('[role="gridcell"], [role="columnheader"]').all()] for r in rows]


def _token(**values) -> str:
    sys.path.insert(0, str(ROOT))
    from simcontainer.studies import planner, planner_sweeps

    return planner.encode_scenario(planner_sweeps.with_values(planner.default_scenario(), values))


def _small_host_token() -> str:
    sys.path.insert(0, str(ROOT))
    from simcontainer.studies import planner

    d = planner.default_scenario().to_dict()
    d["host"] = {"preset": "dev-vm"}                        # 4 cores, 8 GiB
    import simcontainer as sc

    return planner.encode_scenario(sc.parse_scenario(d))


def test_every_page_and_lesson_draws_without_errors(server, browser):
    url, _ = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    Tab(browser).open(url).close()                          # warms the server: imports, first runs
    checked = []
    for path, charts in PAGES.items():
        tab = Tab(browser).open(f"{url}/{path}", charts)
        tab.check(path or "/", charts)
        if path in ("hosts", "learn-startup", "learn-layers", "learn-lifecycle", "learn-mixed-deploy",
                    "learn-blast-radius", "learn-stopping", "learn-memory", "learn-cpu-limits"):
            tab.page.screenshot(path=str(SHOTS / f"{path}.png"), full_page=True)
        tab.close()
        checked.append(path or "/")
    # an old link's ?page= still opens its page
    tab = Tab(browser).open(f"{url}/?page=sweep")
    assert tab.page.get_by_role("button", name="Run sweep").count() == 1
    tab.close()
    print("\nchecked pages and lessons: " + ", ".join(checked))


def test_planner_like_for_like_and_a_widget_change(server, browser):
    url, _ = server
    tab = Tab(browser).open(url, 8)
    page = tab.page
    tab.check("planner", 8)
    assert _metric(page, "qemu-kvm fits").inner_text() == "56"
    answer = page.locator('[data-testid="stAlertContentSuccess"]').inner_text()
    assert "RAM binds at 56 QEMU VMs of api-runc" in answer
    rows = _table_rows(page, "Kernel")
    head, body = rows[0], rows[1:]
    w, r = head.index("Workload"), head.index("Runtime")
    by_workload: dict[str, list[str]] = {}
    for row in body:
        by_workload.setdefault(row[w], []).append(row[r])
    assert by_workload and all(sorted(v) == ["firecracker", "qemu-kvm", "runc"] for v in by_workload.values()), \
        f"not like for like: {by_workload}"
    page.screenshot(path=str(SHOTS / "planner.png"), full_page=True)

    hosts = page.get_by_label("Hosts (identical)")
    hosts.fill("2")
    t0 = time.perf_counter()
    hosts.press("Enter")
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                 .some(m => m.innerText.includes('qemu-kvm fits') && m.innerText.includes('112'))""",
        timeout=30_000)
    dt = time.perf_counter() - t0
    print(f"\nwidget change to updated answer (warm server): {dt:.2f} s")
    (SHOTS / "timing.txt").write_text(f"warm server: hosts 1 -> 2 to the updated answer in {dt:.2f} s\n")
    assert dt < 5.0, f"a widget change took {dt:.2f} s to update the answer"
    assert "s=" in page.url                                 # the link now carries the what-if
    tab.done(9)
    tab.check("planner, 2 hosts", 9)
    assert page.get_by_text("Per host").count() >= 1          # several hosts: a per-host view
    link = page.url
    tab.close()

    tab = Tab(browser).open(link)                           # the link reproduces the what-if
    assert _metric(tab.page, "qemu-kvm fits").inner_text() == "112"
    tab.close()


def test_runc_under_dockerd_and_under_kubelet_side_by_side(server, browser):
    url, _ = server
    tab = Tab(browser).open(f"{url}/?rt=runc,runc@kubelet", 8)
    tab.check("planner, runc under two control planes", 8)
    rows = _table_rows(tab.page, "Control plane")
    head, body = rows[0], rows[1:]
    w, r, cp = head.index("Workload"), head.index("Runtime"), head.index("Control plane")
    lead = [(row[r], row[cp]) for row in body if row[w] == "api-runc"]
    assert lead == [("runc", "dockerd (default)"), ("runc", "kubelet/containerd (CRI)")], lead
    assert "runc under kubelet/containerd (CRI)" in tab.page.locator(
        '[data-testid="stAlertContentSuccess"]').inner_text()
    tab.page.screenshot(path=str(SHOTS / "planner-runc-dockerd-vs-kubelet.png"), full_page=True)
    tab.close()


def test_small_host_says_what_did_not_start(server, browser):
    url, _ = server
    tab = Tab(browser).open(f"{url}/?s={_small_host_token()}", 8)
    tab.check("planner on a 4-core / 8 GiB host", 8)
    answer = tab.page.locator('[data-testid="stAlertContentSuccess"]').inner_text()
    assert "7 of 20 QEMU VMs started: RAM" in answer
    warned = " ".join(tab.page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts())
    assert "0 of 20 QEMU VMs of api-qemu started: RAM (20 still waiting at the horizon)" in warned
    tab.page.screenshot(path=str(SHOTS / "planner-4core-8gib.png"), full_page=True)
    tab.close()
    # a link to another page carries the what-if too
    tab = Tab(browser).open(f"{url}/hosts?s={_small_host_token()}", 1)
    tab.check("hosts on a 4-core / 8 GiB host", 1)
    assert "dev-vm" in tab.page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.inner_text()
    tab.close()


def _workers(pid: int) -> list[int]:
    """Child processes of the server that are simulation workers (not multiprocessing's tracker)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for k in (task / "children").read_text().split():
            cmd = Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "resource_tracker" not in cmd:
                kids.append(int(k))
    return kids


def test_size_guard_refuses_and_stop_keeps_the_server(server, browser):
    url, proc = server
    tab = Tab(browser).open(f"{url}/?s={_token(**{'workloads.churn-runc.arrival.rate_per_s': 1e6})}")
    tab.check("a run past the size guard")
    error = tab.page.locator('[data-testid="stAlertContentError"]').inner_text()
    assert "Not run" in error and "churn-runc" in error
    tab.close()

    tab = Tab(browser)
    tab.page.goto(f"{url}/?s={_token(**{'workloads.churn-runc.arrival.rate_per_s': 150.0})}")
    bar = tab.page.get_by_text(re.compile("Simulating .* in a worker process"))
    bar.first.wait_for(timeout=60_000)
    assert _workers(proc.pid), "the big run is not in a worker process"
    tab.page.wait_for_timeout(1500)
    t0 = time.perf_counter()
    tab.page.get_by_role("button", name="Stop this run").click()
    assert _health(url, timeout=2.0)
    tab.page.get_by_text("was stopped").first.wait_for(timeout=10_000)
    stopped = time.perf_counter() - t0
    t1 = time.perf_counter()
    assert _health(url, timeout=2.0)
    answered = time.perf_counter() - t1
    print(f"\nStop: page says stopped after {stopped:.2f} s; health answered in {answered:.3f} s")
    assert stopped < 2.0 and answered < 2.0
    deadline = time.monotonic() + 5
    while _workers(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _workers(proc.pid), "the stopped worker is still running"
    tab.close()
    other = Tab(browser).open(url)                          # another visitor is served as before
    assert _metric(other.page, "qemu-kvm fits").inner_text() == "56"
    other.close()


def test_sweep_runs_and_keeps_its_runs(server, browser):
    url, _ = server
    tab = Tab(browser).open(f"{url}/sweep")
    tab.page.get_by_role("button", name="Run sweep").click()
    tab.page.get_by_role("button", name="Download runs (CSV)").wait_for(timeout=120_000)
    tab.done()
    tab.check("sweep, after a run", 1)
    tab.page.screenshot(path=str(SHOTS / "sweep.png"), full_page=True)
    # a long sweep, stopped: the finished runs are kept and shown
    page = tab.page
    reps = page.get_by_role("spinbutton", name="Replications (seeds) per point")
    reps.fill("20")
    reps.press("Enter")
    steps = page.get_by_role("spinbutton", name="steps").first
    steps.fill("25")
    steps.press("Enter")
    page.get_by_text("500 runs:").wait_for(timeout=30_000)
    tab.done()
    assert page.get_by_text("design changed").count() >= 1       # the old chart is marked stale
    page.get_by_role("button", name="Run sweep").click()
    page.get_by_text(re.compile(r"\d+ / 500 runs")).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Stop sweep").click()
    page.get_by_text(re.compile(r"Stopped: \d+ of 500 runs finished and kept")).wait_for(timeout=10_000)
    tab.done(1)
    tab.check("sweep, stopped", 1)
    kept = page.get_by_text(re.compile(r"Stopped: \d+ of 500")).inner_text()
    print(f"\nsweep stopped: {kept}")
    tab.close()

    # two axes: a heatmap drawn at a readable size, each cell labelled with a rounded value
    tab = Tab(browser).open(f"{url}/sweep")
    page = tab.page
    second = page.get_by_role("combobox", name=re.compile("Second setting"))
    second.click()
    page.get_by_role("option", name="host.ram_mib").click()
    tab.done()
    reps = page.get_by_role("spinbutton", name="Replications (seeds) per point")
    reps.fill("1")
    reps.press("Enter")
    tab.done()
    page.get_by_role("button", name="Run sweep").click()
    page.get_by_role("button", name="Download runs (CSV)").wait_for(timeout=120_000)
    tab.done(1)
    tab.check("sweep, two axes", 1)
    heights = _chart_heights(page)
    assert heights and heights[0] >= 200, f"the heatmap is drawn in a {heights} px band"
    page.screenshot(path=str(SHOTS / "sweep-heatmap.png"), full_page=True)
    tab.close()
