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

# `sc.sweep(...)` is the function (the contract); import the module's other names with
# `from simcontainer.sweep import run_sweep, parse_sweep, ...`.
from simcontainer.sweep import sweep  # noqa: E402  (after the modules it uses)

__version__ = "0.1.0"

__all__ = [
    "Catalogue", "Engine", "Result", "Scenario", "ScenarioError", "SimcontainerError", "compare",
    "default_catalogue", "density", "dumps_scenario", "load_catalogue", "load_scenario",
    "loads_scenario", "parse_scenario", "save_scenario", "simulate", "sweep", "with_runtime",
]
