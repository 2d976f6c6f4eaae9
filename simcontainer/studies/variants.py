"""The same scenario on another runtime: ``with_runtime`` and ``compare`` (one run per runtime)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simcontainer.engine.core import image_table, simulate
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.inputs import check_runtimes_arg, check_scenario_arg, check_seed
from simcontainer.scenario.loading import parse_scenario
from simcontainer.scenario.profiles import Catalogue, default_catalogue, split_runtime
from simcontainer.scenario.schema import Scenario


def incompatible_workloads(scenario: Scenario, runtime: str, catalogue: Catalogue | None = None) -> list[str]:
    """Workloads whose image ``runtime`` cannot run (a VM disk image on a container runtime)."""
    catalogue = catalogue or default_catalogue()
    rt = scenario.runtime_table(catalogue)[split_runtime(runtime)[0]]
    images = image_table(scenario, catalogue)
    return [w.name for w in scenario.workloads if rt.kind == "container" and images[w.image].kind == "vm"]


def with_runtime(scenario: Scenario, runtime: str, *, catalogue: Catalogue | None = None,
                 drop_incompatible: bool = False) -> Scenario:
    """The same scenario with every workload on ``runtime`` (VM guests sized by the runtime).

    A workload whose image the runtime cannot run is an error, or left out with
    ``drop_incompatible`` (``compare`` reports it under ``skipped_workloads``).
    """

    skip = set(incompatible_workloads(scenario, runtime, catalogue)) if drop_incompatible else set()
    data = scenario.to_dict()
    data["workloads"] = [w for w in data["workloads"] if w["name"] not in skip]
    if not data["workloads"]:
        raise ScenarioError([f"runtime {runtime!r}: no workload of {scenario.name!r} can run on it "
                             "(they all use VM disk images)"], source="compare")
    keep = {w["name"] for w in data["workloads"]}
    data["actions"] = [a for a in data.get("actions", []) if a["workload"] in keep]
    name, plane = split_runtime(runtime)
    for w in data["workloads"]:
        w["runtime"] = name
        w.pop("guest_mem_mib", None)
        w.pop("control_plane", None)        # the new runtime's default plane, or the one named
        if plane is not None:
            w["control_plane"] = plane
    return parse_scenario(data, base_dir=scenario.base_dir, catalogue=catalogue,
                          source=f"{scenario.name} on {runtime}")


def compare(scenario: Scenario, runtimes: list[str], seed: int | None = None, *,
            catalogue: Catalogue | None = None,
            progress: Callable[[float], None] | None = None,
            force: bool = False) -> dict[str, dict[str, Any]]:
    """One summary per runtime: the scenario rerun with every workload on that runtime.

    Each run passes the size guard first (``force=True`` runs it anyway, as for :func:`simulate`).

    Workloads whose VM disk image a container runtime cannot run are left out of that runtime's
    run and listed in its summary under ``skipped_workloads``. A runtime that can run none of them
    is not an error: its entry is ``{"skipped": True, "reason": ..., "skipped_workloads": [...]}``
    and the other runtimes are compared all the same.
    """

    check_scenario_arg(scenario, "compare")
    check_seed(seed, "compare")
    runtimes = check_runtimes_arg(runtimes)
    catalogue = catalogue or default_catalogue()
    known = scenario.runtime_table(catalogue)
    planes = scenario.control_plane_table(catalogue)
    unknown = [r for r in runtimes if split_runtime(r)[0] not in known
               or split_runtime(r)[1] not in (None, *planes)]
    if unknown:
        raise ScenarioError([f"--runtimes: unknown runtime {r!r} (allowed: {', '.join(sorted(known))}, "
                             f"each optionally @ a control plane: {', '.join(sorted(planes))})"
                             for r in unknown], source="compare")
    skipped = {rt: incompatible_workloads(scenario, rt, catalogue) for rt in runtimes}
    runnable = [rt for rt in runtimes if len(skipped[rt]) < len(scenario.workloads)]
    variants = {rt: with_runtime(scenario, rt, catalogue=catalogue, drop_incompatible=True) for rt in runnable}
    out: dict[str, dict[str, Any]] = {}
    for rt in runtimes:
        if rt not in variants:
            out[rt] = {"skipped": True, "skipped_workloads": skipped[rt],
                       "reason": f"{rt} is a container runtime: it cannot boot the VM disk images all "
                                 f"workloads of {scenario.name!r} use"}
            continue
        k = runnable.index(rt)
        step = (lambda f, k=k: progress((k + f) / len(variants))) if progress else None
        summary = simulate(variants[rt], seed, catalogue=catalogue, progress=step, force=force).summary
        summary["skipped_workloads"] = skipped[rt]
        out[rt] = summary
    return out
