"""simcontainer: a discrete-event simulator of containers and virtual machines on a host.

    import simcontainer as sc
    scenario = sc.load_scenario("models/scenarios/default.toml")
    result = sc.simulate(scenario)
    result.summary, result.events, result.timeseries
    sc.density(scenario)
    sc.compare(scenario, ["runc", "qemu-kvm"])
"""

from simcontainer.density import density
from simcontainer.engine import Engine, Result, compare, simulate, with_runtime
from simcontainer.errors import ScenarioError, SimcontainerError
from simcontainer.profiles import Catalogue, default_catalogue, load_catalogue
from simcontainer.scenario import (
    Scenario,
    dumps_scenario,
    load_scenario,
    loads_scenario,
    parse_scenario,
    save_scenario,
)

__version__ = "0.1.0"

__all__ = [
    "Catalogue", "Engine", "Result", "Scenario", "ScenarioError", "SimcontainerError", "compare",
    "default_catalogue", "density", "dumps_scenario", "load_catalogue", "load_scenario",
    "loads_scenario", "parse_scenario", "save_scenario", "simulate", "with_runtime",
]
