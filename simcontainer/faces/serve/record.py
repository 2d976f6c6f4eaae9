"""A served session as a scenario: ``simcontainer run`` replays it to the same result.

The scenario is the served one plus, for each container the API created, a workload of one
instance requested when the create came (``arrival = burst`` at that time, ``lifetime =
forever``: it runs until an API call ends it), and each API call on a container as a scripted
action (``[[actions]]``) at the simulated time it was made. Calls no scenario can hold yet
(``docker pull``, ``docker rmi``, and -- until the daemon does them itself -- ``restart`` as one
operation) are listed in a comment; a session holding them replays only approximately.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simcontainer.scenario.loading import dumps_scenario, parse_scenario
from simcontainer.scenario.schema import Scenario

if TYPE_CHECKING:
    from simcontainer.faces.serve.sim import SimHost

def session_scenario(sim: SimHost) -> tuple[Scenario, list[str]]:
    """The session as a scenario, and notes on what it cannot hold."""
    with sim.lock:
        base = sim.base
        data: dict[str, Any] = base.to_dict()
        names = {w.name for w in base.workloads}
        created = {call.workload for call in sim.session if call.op == "create"}
        # each docker create's workload: no requests of its own, one scripted create
        workloads = [w.model_dump(mode="json", exclude_none=True) for w in sim.engine.scenario.workloads
                     if w.name not in names and w.name in created]
        data["workloads"] = [*data["workloads"], *workloads]
        actions = list(data.get("actions", []))
        notes = []
        for call in sim.session:
            if not call.replayable:
                notes.append(f"not replayed: {call.op} {call.workload} at {call.at_s:.6f} s")
                continue
            if call.at_s >= base.duration_s:
                notes.append(f"not replayed: {call.op} {call.workload} at {call.at_s:.6f} s, after duration_s")
            actions.append({"at_s": call.at_s, "op": call.op, "workload": call.workload,
                            "instance": call.instance, **call.fields})
        data["actions"] = actions
        data["name"] = f"{base.name}-session"
        scenario = parse_scenario(data, base_dir=base.base_dir, catalogue=sim.catalogue, source="session")
    return scenario, notes


def session_toml(sim: SimHost) -> str:
    """The session as scenario TOML, with a header saying what it is."""
    scenario, notes = session_scenario(sim)
    head = [f"# A session served by `simcontainer serve` on {sim.base.name!r} ({sim.calls} calls, "
            f"simulated time {sim.now:.3f} s). `simcontainer run` replays it."]
    head += [f"# {n}" for n in notes]
    return "\n".join(head) + "\n" + dumps_scenario(scenario)


__all__ = ["session_scenario", "session_toml"]
