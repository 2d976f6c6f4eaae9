"""How ``docker stop`` / a pod deletion ends, by SIGTERM behaviour and plane (a lesson's table)."""

from __future__ import annotations

from typing import Any

from simcontainer.model.parts import stop_outcome


def stop_table(shutdown_s: float = 2.0) -> Any:
    """For a lesson: how long ``docker stop`` / a pod deletion takes and how the app exits, by
    SIGTERM behaviour and plane (Docker's 10 s grace, the kubelet's 30 s); the runtime's own stop
    left out. A DataFrame of ``sigterm``, ``meaning``, ``plane``, ``grace_s``, ``stop_s``, ``exit_code``."""
    import pandas as pd  # noqa: PLC0415 - pandas loads in ~0.2 s: only where a table is built

    meaning = {"exit": f"handles SIGTERM, shuts down in {shutdown_s:g} s",
               "default": "no handler, not PID 1 (e.g. under --init / tini): dies at once",
               "ignore": "PID 1 without a handler: the kernel ignores SIGTERM"}
    rows = []
    for mode in ("exit", "default", "ignore"):
        for plane, grace in (("dockerd", 10.0), ("kubelet", 30.0)):
            wait, code = stop_outcome(mode, shutdown_s, grace)
            rows.append({"sigterm": mode, "meaning": meaning[mode], "plane": plane, "grace_s": grace,
                         "stop_s": wait, "exit_code": code})
    return pd.DataFrame(rows)
