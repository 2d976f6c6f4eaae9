"""The scenario layer: what a user writes (the schema), the shipped catalogue it refers to
(profiles), loading and checking a file, the inputs and the size guard. Nothing here runs a
simulation; every other layer builds on this one."""

# profiles first: it registers the catalogue the schema's tables default to
from simcontainer.scenario import profiles
from simcontainer.scenario.errors import ScenarioError, SimcontainerError
from simcontainer.scenario.loading import (
    dumps_scenario,
    load_scenario,
    loads_scenario,
    parse_scenario,
    save_scenario,
)
from simcontainer.scenario.schema import Scenario

__all__ = ["Scenario", "ScenarioError", "SimcontainerError", "dumps_scenario", "load_scenario",
           "loads_scenario", "parse_scenario", "profiles", "save_scenario"]
