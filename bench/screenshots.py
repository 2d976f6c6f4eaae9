"""`make screenshots`: the app's pages as PNGs in docs/screenshots/ (the only writer of that folder).

Starts `streamlit run app.py` on a free port, opens each page in Debian's Chromium (never a
downloaded browser) through Playwright, waits until the script run is over and every chart has
stopped resizing, and saves a full-page screenshot. The tests never write these files.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench._common import free_port, start_app, wait_healthy
from simcontainer.studies import planner, planner_sweeps

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEW = {"width": 1400, "height": 1000}
CHART = '[data-testid="stVegaLiteChart"]'
LESSONS = ("learn-startup", "learn-layers", "learn-lifecycle", "learn-mixed-deploy", "learn-blast-radius",
           "learn-stopping", "learn-memory", "learn-cpu-limits", "learn-cold-starts", "learn-kernel")


def _token(**values: object) -> str:
    return planner.encode_scenario(planner_sweeps.with_values(planner.default_scenario(), values))


def _settle(page, timeout_s: float = 60.0) -> None:
    """Until the script run is over and every chart has drawn and stopped resizing."""
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=timeout_s * 1000)
    last, deadline = None, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = page.evaluate("() => [...document.querySelectorAll('" + CHART + "')].map(e => {"
                            " const m = e.querySelector('canvas, svg.marks');"
                            " return m ? Math.round(m.getBoundingClientRect().height) : 0; })")
        if now == last and all(h > 0 for h in now):
            return
        last = now
        page.wait_for_timeout(600)


def shots(url: str, browser) -> list[str]:
    done = []

    def shot(name: str, path: str, action=None) -> None:
        page = browser.new_page(viewport=VIEW)
        page.goto(f"{url}/{path}")
        page.wait_for_selector('[data-testid="stMain"] h1', timeout=180_000)
        _settle(page)
        if action is not None:
            action(page)
            _settle(page, 180.0)
        # Streamlit scrolls inside its own container: grow the window to the page's height, then shoot
        tall = page.evaluate("() => Math.max(...[...document.querySelectorAll("
                             "'[data-testid=\"stMain\"], [data-testid=\"stSidebarContent\"]')]"
                             ".map(e => e.scrollHeight))")
        page.set_viewport_size({"width": VIEW["width"], "height": min(max(int(tall) + 40, VIEW["height"]), 12_000)})
        _settle(page)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        page.close()
        done.append(name)
        print(f"  {name}.png", flush=True)

    def sweep(page) -> None:
        page.get_by_role("button", name="Run sweep").click()
        page.get_by_role("button", name="Download runs (CSV)").wait_for(timeout=300_000)

    def heatmap(page) -> None:
        page.get_by_role("combobox", name="Second setting (optional)").click()
        page.get_by_role("option", name="host: RAM (MiB)").click()
        _settle(page)
        reps = page.get_by_role("spinbutton", name="Replications (seeds) per point")
        reps.fill("1")
        reps.press("Enter")
        _settle(page)
        sweep(page)

    def oom(page) -> None:
        page.get_by_role("tab", name="OOM risk vs density").click()      # a detail tab: runs when opened
        _settle(page)
        page.get_by_text("Simulate the OOM kills", exact=True).first.click()

    shot("planner", "")
    shot("planner-4core-8gib", f"?s={_token(**{'host.cpu_cores': 4, 'host.ram_mib': 8192})}")
    shot("planner-runc-dockerd-vs-kubelet", "?rt=runc,runc@kubelet")
    shot("planner-oom-risk", f"?s={_token(**{'host.memory_overcommit': 1.5})}", oom)
    shot("hosts", "hosts")
    shot("sweep", "sweep", sweep)
    shot("sweep-heatmap", "sweep", heatmap)
    for path in LESSONS:
        shot(path, path)
    return done


def main() -> int:
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - heavy, only here
    except ImportError:
        print("make screenshots needs playwright (make venv)")
        return 1
    if not Path(CHROMIUM).exists():
        print(f"make screenshots needs {CHROMIUM} (make browser-deps)")
        return 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_app(port)
    try:
        if not wait_healthy(url, server, 120):
            print("streamlit did not start")
            return 1
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                print(f"screenshots into {SHOTS.relative_to(ROOT)}/:")
                shots(url, browser)
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
