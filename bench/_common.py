"""Helpers shared by the benchmarks: scenario building, timing, targets."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

PYTHON = sys.executable
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A runtime with nothing to do: every phase zero, no overhead. What is left is the engine itself.
ZERO_RUNTIME: dict[str, Any] = {
    "name": "zero",
    "kind": "container",
    "description": "benchmark runtime: no latency, no CPU work, no overhead",
}


def target(name: str, value: float, limit: float, op: str = "<=", unit: str = "") -> dict[str, Any]:
    """One target of issue 7: its measured value, its limit and whether it is met."""
    met = value <= limit if op == "<=" else value >= limit
    return {"target": name, "value": round(float(value), 4), "limit": limit, "op": op,
            "unit": unit, "met": bool(met)}


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, value) of one call.

    The CPU time is what the ratios use: the benchmark machines are shared, and CPU time is far
    less disturbed by a neighbour than wall time.
    """
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def maxrss_mib() -> float:
    """Peak resident set size of this process so far, MiB.

    Linux's ``VmHWM`` when there is one: ``getrusage().ru_maxrss`` survives fork + exec, so a
    child started by a big parent (the runner, after the app benchmark) would report the
    parent's peak instead of its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux


def env_list(name: str, default: list[int]) -> list[int]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [int(float(x)) for x in raw.replace(" ", "").split(",") if x]


def in_child(module: str, n: int, key: str) -> dict[str, Any]:
    """One size of a benchmark in a fresh process (``python -m MODULE --child N``, which prints
    its row as JSON on its last line): peak RSS is that size's alone. On failure, a row with
    ``key: n`` and the child's last line of stderr."""
    out = subprocess.run([PYTHON, "-m", module, "--child", str(n)], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        return {key: n, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    """A TCP port on the loopback nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, stderr: Any = subprocess.DEVNULL) -> subprocess.Popen:
    """``streamlit run app.py`` on 127.0.0.1:``port``, headless, no file watcher."""
    return subprocess.Popen([PYTHON, "-m", "streamlit", "run", os.path.join(ROOT, "app.py"), "--server.port",
                             str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def wait_healthy(url: str, server: subprocess.Popen, timeout_s: float) -> bool:
    """Until Streamlit's health check answers (True), the server exits or the time is up (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.3)
