"""refusals: how long the size guard takes to refuse what cannot run here (moved from tests/).

Three refusals that must come at once, not after building what they refuse: a 10,000,000-instance
burst (`simcontainer run`), 10^9 Poisson requests (`simulate` in Python) and a 1,000 x 1,000
sweep grid (before its points are validated); and a sweep given a `--scheduler` nothing answers
on (it must fail, leaving no output folder). The tests check *that* each is refused before any
engine or point is built (tests/test_inputs.py); this measures how long it takes, which is a
property of the machine. Targets: under 5 s, 1 s, 5 s (the former test budgets) and 5 s (issue 24).
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import simcontainer as sc
from bench._common import target
from simcontainer.faces.cli import main

BURST = """\
name = "huge"
duration_s = 600.0
host = "server-64g"
[[workloads]]
name = "b"
runtime = "runc"
image = "python:3.12-slim"
mem_mib = 1
arrival = { kind = "burst", count = 10000000 }
"""

BASE = """\
name = "b"
duration_s = 60.0
seed = 1
host = { cpu_cores = 4, ram_mib = 4096, disk_gib = 50 }
[[workloads]]
name = "api"
runtime = "runc"
image = "python:3.12-slim"
mem_mib = 256
arrival = { kind = "poisson", rate_per_s = 0.5 }
lifetime = { kind = "exponential", mean_s = 30.0 }
"""


def _seconds(fn: Any) -> float:
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(Exception):
        fn()
    return time.perf_counter() - t0


def run(repeat: int | None = None) -> dict[str, Any]:
    repeat = repeat or int(os.environ.get("BENCH_REPEAT", 3))
    with tempfile.TemporaryDirectory() as tmp:
        burst = Path(tmp) / "burst.toml"
        burst.write_text(BURST)
        (Path(tmp) / "base.toml").write_text(BASE)
        poisson = sc.loads_scenario(BASE.replace("duration_s = 60.0", "duration_s = 1e9"))
        grid = {"base": str(Path(tmp) / "base.toml"), "mode": "grid",
                "axes": {"host.ram_mib": {"low": 1024, "high": 65536, "num": 1000},
                         "workloads.api.mem_mib": {"low": 1.0, "high": 512.0, "num": 1000}}}
        (Path(tmp) / "small.toml").write_text('base = "base.toml"\n[axes]\n"host.cpu_cores" = [2, 4]\n')
        with socket.socket() as closed:          # bound, never listening: nothing answers there
            closed.bind(("127.0.0.1", 0))
            nobody = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
        cases = {"run: 10M burst": lambda: main(["run", str(burst), "--no-progress"]),
                 "sweep: unreachable --scheduler": lambda: main(["sweep", str(Path(tmp) / "small.toml"), "--out",
                                                                 str(Path(tmp) / "never"), "--scheduler", nobody]),
                 "simulate: 1e9 requests": lambda: sc.simulate(poisson),
                 "sweep: 1M-point grid": lambda: sc.sweep(grid)}
        best = {name: min(_seconds(fn) for _ in range(repeat)) for name, fn in cases.items()}
    limits = {"run: 10M burst": 5.0, "simulate: 1e9 requests": 1.0, "sweep: 1M-point grid": 5.0,
              "sweep: unreachable --scheduler": 5.0}
    return {"rows": [{"refusal": k, "best_wall_s": round(v, 4)} for k, v in best.items()],
            "targets": [target(f"refused at once: {k}", v, limits[k], unit=" s") for k, v in best.items()]}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
