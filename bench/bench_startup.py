"""startup: how long `simcontainer check` and a tiny `simcontainer run` take from a cold process.

Each command runs in a fresh interpreter (`python -m simcontainer.faces.cli ...`: what the `simcontainer`
script does, and it runs on code from before issue 16 too, for the comparison), interleaved with a bare `python -c "import simpy"` as the floor, best and median of
BENCH_REPEAT x 3 runs. The tiny run is 5 runc containers for 60 simulated seconds, so its time is
start-up, not simulation. Each command is also run once under `-X importtime` to list which of
the heavy libraries (pandas, pyarrow, dask, distributed, streamlit, networkx, matplotlib) it
imports: none of them is needed to check a scenario or print a run's summary (issue 16).
Target: both under 0.5 s (was 0.9 s for check and 0.8-0.9 s for a tiny run before issue 16).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import PYTHON, ROOT, target

HEAVY = ("pandas", "pyarrow", "dask", "distributed", "streamlit", "networkx", "matplotlib")
TARGET_S = 0.5

TINY = """\
name = "tiny"
duration_s = 60.0
seed = 1
host = "server-64g"

[[workloads]]
name = "web"
runtime = "runc"
image = "python:3.12-slim"
cpu = 0.1
mem_mib = 128
arrival = { kind = "burst", at_s = 0.0, count = 5 }
lifetime = { kind = "forever" }
"""


def _env() -> dict[str, str]:
    env = os.environ.copy()
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _time(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run of cmd."""
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=_env(), check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def heavy_imports(cmd: list[str]) -> list[str]:
    """Which of HEAVY the command imports (top-level packages, from -X importtime)."""
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=ROOT, env=_env(), check=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
            if line.startswith("import time:")}
    return sorted(seen & set(HEAVY))


def run(repeat: int | None = None) -> dict[str, Any]:
    repeat = 3 * (repeat or int(os.environ.get("BENCH_REPEAT", 3)))
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny.toml"
        tiny.write_text(TINY)
        commands = {
            "bare simpy": [PYTHON, "-c", "import simpy"],
            "import simcontainer": [PYTHON, "-c", "import simcontainer"],
            "check": [PYTHON, "-m", "simcontainer.faces.cli", "check", "models/scenarios/default.toml"],
            "run tiny": [PYTHON, "-m", "simcontainer.faces.cli", "run", str(tiny)],
            "run default": [PYTHON, "-m", "simcontainer.faces.cli", "run", "models/scenarios/default.toml"],
        }
        for cmd in commands.values():    # warm the OS file cache and write the .pyc files
            _time(cmd)
        walls: dict[str, list[float]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(repeat):          # interleaved: a busy moment hits every command alike
            for name, cmd in commands.items():
                w, c = _time(cmd)
                walls[name].append(w)
                cpus[name].append(c)
        heavy = {name: heavy_imports(cmd) for name, cmd in commands.items() if name != "bare simpy"}
    rows = [{"command": name, "best_wall_s": round(min(walls[name]), 3),
             "median_wall_s": round(statistics.median(walls[name]), 3),
             "median_cpu_s": round(statistics.median(cpus[name]), 3),
             "heavy_imports": ", ".join(heavy.get(name, [])) or "-"} for name in commands]
    by = {r["command"]: r for r in rows}
    targets = [target("startup: simcontainer check", by["check"]["median_wall_s"], TARGET_S, unit=" s"),
               target("startup: simcontainer run (tiny)", by["run tiny"]["median_wall_s"], TARGET_S, unit=" s")]
    return {"rows": rows, "repeat": repeat, "python": sys.version.split()[0], "targets": targets}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
