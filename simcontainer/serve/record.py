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

from simcontainer.scenario import Scenario, dumps_scenario, parse_scenario

if TYPE_CHECKING:
    from simcontainer.serve.sim import SimHost

# Why a session with no actions still holds one: see _sentinel.
_SENTINEL_NOTE = ("the action at duration_s never runs (the run ends first); it keeps every "
                  "workload on the full lifecycle, as the server ran them")


def session_scenario(sim: SimHost) -> tuple[Scenario, list[str]]:
    """The session as a scenario, and notes on what it cannot hold."""
    with sim.lock:
        base = sim.base
        data: dict[str, Any] = base.to_dict()
        names = {w.name for w in base.workloads}
        runs = {call.workload: call.at_s for call in sim.session if call.op == "run"}
        adhoc = [w for w in sim.engine.scenario.workloads if w.name not in names and w.name in runs]
        workloads = []
        for w in adhoc:
            d = w.model_dump(mode="json", exclude_none=True)
            d["arrival"] = {"kind": "burst", "at_s": runs[w.name], "count": 1}
            workloads.append(d)
        data["workloads"] = [*data["workloads"], *workloads]
        actions = list(data.get("actions", []))
        notes = []
        for call in sim.session:
            if call.op == "run":
                continue
            if not call.replayable:
                notes.append(f"not replayed: {call.op} {call.workload} at {call.at_s:.6f} s")
                continue
            if call.at_s >= base.duration_s:
                notes.append(f"not replayed: {call.op} {call.workload} at {call.at_s:.6f} s, after duration_s")
            actions.append({"at_s": call.at_s, "op": call.op, "workload": call.workload,
                            "instance": call.instance, **call.fields})
        if not actions:
            actions.append(_sentinel(base))
            notes.append(_SENTINEL_NOTE)
        data["actions"] = actions
        data["name"] = f"{base.name}-session"
        scenario = parse_scenario(data, base_dir=base.base_dir, catalogue=sim.catalogue, source="session")
    return scenario, notes


def _sentinel(base: Scenario) -> dict[str, Any]:
    return {"at_s": base.duration_s, "op": "remove", "workload": base.workloads[0].name, "instance": 0}


def session_toml(sim: SimHost) -> str:
    """The session as scenario TOML, with a header saying what it is."""
    scenario, notes = session_scenario(sim)
    head = [f"# A session served by `simcontainer serve` on {sim.base.name!r} ({sim.calls} calls, "
            f"simulated time {sim.now:.3f} s). `simcontainer run` replays it."]
    head += [f"# {n}" for n in notes]
    return "\n".join(head) + "\n" + dumps_scenario(scenario)


__all__ = ["session_scenario", "session_toml"]
