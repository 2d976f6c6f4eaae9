"""Shared fixtures: small scenarios built from plain dicts, exact where the theory needs them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

import simcontainer as sc

ZERO_RUNTIME: dict[str, Any] = {"name": "zero", "kind": "container"}
TINY_IMAGE: dict[str, Any] = {"name": "tiny", "layers": [{"id": "tiny-0", "download_mib": 0.0, "disk_mib": 0.0}]}


def scenario_dict(**over: Any) -> dict[str, Any]:
    """A scenario with a zero-overhead runtime and an empty image: only what a test sets costs time."""
    data: dict[str, Any] = {
        "name": "test",
        "duration_s": 100.0,
        "seed": 1,
        # nothing kept for the OS (reserved_mib = 0, the default before 0.3) and strict FIFO admission
        # ("queue", likewise): what fits is decided by the workloads' mem_mib alone, exactly
        "host": {"cpu_cores": 4, "ram_mib": 4096, "disk_gib": 10, "disk_mb_s": 500, "net_mb_s": 125,
                 "reserved_mib": 0},
        "daemon": {"admission": "queue", "prepull": ["tiny"]},
        "runtimes": [copy.deepcopy(ZERO_RUNTIME)],
        "images": [copy.deepcopy(TINY_IMAGE)],
        "workloads": [{
            "name": "w", "runtime": "zero", "image": "tiny", "mem_mib": 100, "writable_mib": 0,
            "arrival": {"kind": "poisson", "rate_per_s": 1.0},
            "lifetime": {"kind": "exponential", "mean_s": 4.0},
        }],
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def erlang_scenario(c: int, lam: float, mean_life: float, admission: str, duration: float,
                    lifetime: dict[str, Any] | None = None, seed: int = 1) -> sc.Scenario:
    """A host that fits exactly ``c`` instances of 100 MiB (RAM binds, nothing else costs)."""
    return sc.parse_scenario(scenario_dict(
        duration_s=duration, seed=seed,
        host={"ram_mib": 100 * c},
        daemon={"admission": admission},
        workloads=[{
            "name": "w", "runtime": "zero", "image": "tiny", "mem_mib": 100, "writable_mib": 0,
            "arrival": {"kind": "poisson", "rate_per_s": lam},
            "lifetime": lifetime or {"kind": "exponential", "mean_s": mean_life},
        }],
    ))


def sweep_base_toml(name: str, seed: int) -> str:
    """A small base scenario for sweeps: a couple of seconds of CPU for a whole test file, yet
    real startups, queueing (at 2048 MiB the host fills up) and Poisson noise between seeds."""
    return _SWEEP_BASE.replace("@NAME@", name).replace("@SEED@", str(seed))


_SWEEP_BASE = '''
name = "@NAME@"
duration_s = 120.0
seed = @SEED@
host = { cpu_cores = 4, ram_mib = 4096, disk_gib = 50, reserved_mib = 0 }   # nothing kept (the pre-0.3 default)

[daemon]
admission = "queue"    # strict FIFO (the pre-0.3 default): the waits the sweeps measure
prepull = ["python:3.12-slim"]

[[workloads]]
name = "api"
runtime = "runc"
image = "python:3.12-slim"
cpu = 0.2
mem_mib = 256
arrival = { kind = "poisson", rate_per_s = 0.5 }
lifetime = { kind = "exponential", mean_s = 30.0 }
'''


@pytest.fixture
def make_scenario() -> Callable[..., sc.Scenario]:
    return lambda **over: sc.parse_scenario(scenario_dict(**over))


@pytest.fixture(scope="session")
def default_scenario() -> sc.Scenario:
    return sc.load_scenario(sc.scenario.profiles.models_dir() / "scenarios" / "default.toml")
