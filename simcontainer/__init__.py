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
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "density": "simcontainer.studies.density",
    "Engine": "simcontainer.engine.core",
    "Result": "simcontainer.engine.core",
    "simulate": "simcontainer.engine.core",
    "compare": "simcontainer.studies.variants",
    "with_runtime": "simcontainer.studies.variants",
    "ScenarioError": "simcontainer.scenario.errors",
    "SimcontainerError": "simcontainer.scenario.errors",
    "Catalogue": "simcontainer.scenario.profiles",
    "default_catalogue": "simcontainer.scenario.profiles",
    "load_catalogue": "simcontainer.scenario.profiles",
    "Scenario": "simcontainer.scenario.schema",
    "dumps_scenario": "simcontainer.scenario.loading",
    "load_scenario": "simcontainer.scenario.loading",
    "loads_scenario": "simcontainer.scenario.loading",
    "parse_scenario": "simcontainer.scenario.loading",
    "save_scenario": "simcontainer.scenario.loading",
    "sweep": "simcontainer.studies.sweep",
}
# the layers, reachable as attributes (``sc.studies.density.density_risk``)
_LAYERS = ("scenario", "model", "engine", "studies", "faces")

__all__ = [
    "Catalogue", "Engine", "Result", "Scenario", "ScenarioError", "SimcontainerError", "compare",
    "default_catalogue", "density", "dumps_scenario", "load_catalogue", "load_scenario",
    "loads_scenario", "parse_scenario", "save_scenario", "simulate", "sweep", "with_runtime",
]

if TYPE_CHECKING:   # what a type checker and an IDE see
    from simcontainer.engine.core import Engine, Result, simulate
    from simcontainer.scenario.errors import ScenarioError, SimcontainerError
    from simcontainer.scenario.loading import (
        dumps_scenario,
        load_scenario,
        loads_scenario,
        parse_scenario,
        save_scenario,
    )
    from simcontainer.scenario.profiles import Catalogue, default_catalogue, load_catalogue
    from simcontainer.scenario.schema import Scenario
    from simcontainer.studies.density import density
    from simcontainer.studies.sweep import sweep
    from simcontainer.studies.variants import compare, with_runtime


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name in _LAYERS:
        value = importlib.import_module(f"simcontainer.{name}")
    else:
        raise AttributeError(f"module 'simcontainer' has no attribute {name!r}")
    globals()[name] = value
    return value
