"""The simulation worker process: no Streamlit here, so that a spawned worker starts quickly."""

from __future__ import annotations

import time
from typing import Any


def payload(res: Any) -> dict[str, Any]:
    return {"summary": res.summary, "instances": res.instances, "timeseries": res.timeseries,
            "events": res.events, "wall_s": res.wall_s}


def compute(toml_text: str, progress: Any = None) -> dict[str, Any]:
    import simcontainer as sc
    from simcontainer.profiles import models_dir

    scenario = sc.loads_scenario(toml_text, base_dir=models_dir() / "scenarios", source="what-if")
    return payload(sc.simulate(scenario, progress=progress))


def work(toml_text: str, out: Any, memory_mib: int) -> None:
    """Limit this process's address space, run, send progress and the result back on ``out``."""
    import resource

    limit = int(memory_mib) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out.put(("progress", 0.0))
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] > 0.2:
            last[0] = now
            out.put(("progress", float(fraction)))

    try:
        out.put(("done", compute(toml_text, progress)))
    except MemoryError:
        out.put(("error", f"the run needed more than {memory_mib} MiB of memory"))
    except Exception as exc:   # reported to the page, never raised in the server
        out.put(("error", f"{type(exc).__name__}: {exc}"))
