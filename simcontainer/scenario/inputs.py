"""Checks of the Python API's arguments, so that a wrong call fails at once with a
``what: got ... (allowed: ...)`` line instead of deep inside a run (or not at all)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from simcontainer.scenario.errors import SimcontainerError
from simcontainer.scenario.schema import Scenario


class ArgumentError(SimcontainerError, TypeError):
    """An argument of the Python API that cannot be used (wrong type or value)."""


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check_scenario_arg(scenario: Any, where: str = "simulate") -> None:
    if not isinstance(scenario, Scenario):
        hint = " (allowed: a Scenario; plain data goes through sc.parse_scenario(data) first)" \
            if isinstance(scenario, dict) else " (allowed: a Scenario, e.g. sc.load_scenario(path))"
        raise ArgumentError(f"{where}: scenario: got {type(scenario).__name__} {_short(scenario)}{hint}")


def check_seed(seed: Any, where: str = "simulate") -> None:
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ArgumentError(f"{where}: seed: got {_short(seed)} (allowed: None or an integer in [0, 2**63))")


def check_run_args(scenario: Any, seed: Any, *, policy: Any = None, progress: Any = None,
                   where: str = "simulate") -> None:
    check_scenario_arg(scenario, where)
    check_seed(seed, where)
    if policy is not None and not callable(policy):
        raise ArgumentError(f"{where}: policy: got {_short(policy)} (allowed: a function "
                            "(hosts, demand, image) -> host or None)")
    if progress is not None and not callable(progress):
        raise ArgumentError(f"{where}: progress: got {_short(progress)} (allowed: a function of the "
                            "fraction done)")


def check_runtimes_arg(runtimes: Any, where: str = "compare") -> list[str]:
    """A list of runtime names (a single string is a mistake, not a list of its characters)."""
    if isinstance(runtimes, str):
        raise ArgumentError(f"{where}: runtimes: got {runtimes!r} (allowed: a list of runtime names, "
                            f"e.g. [{runtimes!r}])")
    if not isinstance(runtimes, Sequence) or not runtimes or \
            not all(isinstance(r, str) and r for r in runtimes):
        raise ArgumentError(f"{where}: runtimes: got {_short(runtimes)} (allowed: a non-empty list of "
                            "runtime names, e.g. ['runc', 'firecracker'])")
    return list(runtimes)
