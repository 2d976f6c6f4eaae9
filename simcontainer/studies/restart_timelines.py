"""Restart timelines for lessons: when each restart comes under Docker's back-off and the
kubelet's CrashLoopBackOff, computed from the policies and simulated end to end."""

from __future__ import annotations

from typing import Any

from simcontainer.engine.core import simulate
from simcontainer.model.restart import CrashLoopBackOff, DockerRestart, Exit, RestartPolicy
from simcontainer.scenario.loading import parse_scenario


def timeline(policy: RestartPolicy, crashes: int, run_s: float = 0.0, start_s: float = 0.0,
             boot_s: float = 0.0) -> list[float]:
    """When each restart starts if the instance crashes ``crashes`` times, each time ``run_s``
    after it started (``boot_s`` after a restart is the start itself): a back-off timeline."""
    reset = getattr(policy, "reset_after_s", 0.0)
    t, k, out = start_s + boot_s, 0, []
    for n in range(crashes):
        t += run_s
        if run_s >= reset > 0:
            k = 0
        delay = policy(Exit(1, "crash", n), k)
        if delay is None:
            break
        t += delay
        out.append(t)
        k += 1
        t += boot_s
    return out


def backoff_table(crashes: int = 12, run_s: float = 0.0) -> Any:
    """For a lesson: when each restart comes under Docker's ``always`` and the kubelet's
    CrashLoopBackOff for an app that crashes ``run_s`` after each start (boot time left out):
    a DataFrame of ``restart``, ``policy``, ``delay_s``, ``at_s``."""
    import pandas as pd  # noqa: PLC0415 - pandas loads in ~0.2 s: only where a table is built

    rows = []
    for name, pol in (("docker always", DockerRestart("always")), ("kubelet CrashLoopBackOff", CrashLoopBackOff())):
        at = timeline(pol, crashes, run_s=run_s)
        prev = 0.0
        for k, t in enumerate(at):
            rows.append({"restart": k + 1, "policy": name, "delay_s": t - prev - run_s, "at_s": t})
            prev = t
    return pd.DataFrame(rows)


def crash_loop(control_plane: str = "dockerd", restart: str = "always", time_to_failure_s: float = 0.0,
               duration_s: float = 900.0, runtime: str = "runc", image: str = "python:3.12-slim",
               seed: int = 0) -> Any:
    """For a lesson: one container that crashes ``time_to_failure_s`` after each start, simulated
    under ``control_plane`` (dockerd: Docker's back-off; kubelet: CrashLoopBackOff). Its events
    (``time_s``, ``state``, ``action``, ``exit_code``) as a DataFrame, boot times included."""

    sc = parse_scenario({
        "name": f"crash-loop-{control_plane}", "duration_s": duration_s, "seed": seed,
        "host": {"cpu_cores": 4, "ram_mib": 8192, "disk_gib": 50},
        "daemon": {"prepull": [image]},
        "workloads": [{"name": "app", "runtime": runtime, "image": image, "mem_mib": 128,
                       "control_plane": control_plane, "restart": restart,
                       "time_to_failure": {"kind": "fixed", "s": time_to_failure_s},
                       "arrival": {"kind": "burst", "count": 1, "at_s": 0.0}}],
    }, source="crash_loop")
    ev = simulate(sc).events
    return ev[ev.action != ""][["time_s", "state", "action", "exit_code"]].reset_index(drop=True)
