"""simcontainer: a discrete-event simulator of containers and virtual machines on a host.

    import simcontainer as sc
    scenario = sc.load_scenario("models/scenarios/default.toml")
    result = sc.simulate(scenario)
    result.summary, result.events, result.timeseries
    sc.density(scenario)
    sc.compare(scenario, ["runc", "qemu-kvm"])

The names below are imported on first use (PEP 562), so that ``import simcontainer`` and the
command line load only what they touch: ``simcontainer check`` never imports pandas, the engine
or dask.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "density": "simcontainer.studies.density",
    "Engine": "simcontainer.engine.core",
    "Result": "simcontainer.engine.core",
    "compare": "simcontainer.engine.core",
    "simulate": "simcontainer.engine.core",
    "with_runtime": "simcontainer.engine.core",
    "ScenarioError": "simcontainer.scenario.errors",
    "SimcontainerError": "simcontainer.scenario.errors",
    "Catalogue": "simcontainer.scenario.profiles",
    "default_catalogue": "simcontainer.scenario.profiles",
    "load_catalogue": "simcontainer.scenario.profiles",
    "Scenario": "simcontainer.scenario.schema",
    "dumps_scenario": "simcontainer.scenario.schema",
    "load_scenario": "simcontainer.scenario.schema",
    "loads_scenario": "simcontainer.scenario.schema",
    "parse_scenario": "simcontainer.scenario.schema",
    "save_scenario": "simcontainer.scenario.schema",
    # `sc.sweep(...)` is the function (the contract); import the module's other names
    # with `from simcontainer.studies.sweep import run_sweep, parse_sweep, ...`.
    "sweep": "simcontainer.studies.sweep",
}

__all__ = [
    "Catalogue", "Engine", "Result", "Scenario", "ScenarioError", "SimcontainerError", "compare",
    "default_catalogue", "density", "dumps_scenario", "load_catalogue", "load_scenario",
    "loads_scenario", "parse_scenario", "save_scenario", "simulate", "sweep", "with_runtime",
]

if TYPE_CHECKING:   # what a type checker and an IDE see: the eager imports of before
    from simcontainer.studies.density import density
    from simcontainer.engine.core import Engine, Result, compare, simulate, with_runtime
    from simcontainer.scenario.errors import ScenarioError, SimcontainerError
    from simcontainer.scenario.profiles import Catalogue, default_catalogue, load_catalogue
    from simcontainer.scenario.schema import (
        Scenario,
        dumps_scenario,
        load_scenario,
        loads_scenario,
        parse_scenario,
        save_scenario,
    )
    from simcontainer.studies.sweep import sweep


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # a submodule not imported yet (``sc.profiles``), as the eager package used to allow
        if not name.startswith("_") and importlib.util.find_spec(f"simcontainer.{name}") is not None:
            return importlib.import_module(f"simcontainer.{name}")
        raise AttributeError(f"module 'simcontainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module, keeping ``sc.sweep`` and ``sc.density`` the functions.

    Importing a submodule sets it as an attribute of its package; two exported functions share
    their module's name, so without this the first ``import simcontainer.studies.sweep`` anywhere would
    turn ``sc.sweep`` into the module (the eager ``from ... import`` of before rebound them).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
