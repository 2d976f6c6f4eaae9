"""The assumptions a result rests on: every default a planner would want to choose, said.

A result's ``assumptions`` lists, for the scenario that ran, each setting that can move the
answer a lot and that the scenario may have left to its default: the VM disk mode, the RAM kept
for the host, registry egress and per-stream bandwidth, the admission policy, restart policies,
the memory model, placement, memory overcommit. Each entry says its value, whether the scenario
chose it or took the default, where the default comes from, and the value it would flip to (what
:func:`simcontainer.studies.assumption_flips.flip_effects` reruns to measure how far the headline
moves). Nothing here runs a simulation.
"""

from __future__ import annotations

from typing import Any

from simcontainer.model.controlplane import CONTROL_PLANES
from simcontainer.scenario.defaults import (
    EVICTION_HARD_MIB,
    RESERVE_SOURCE,
    RESERVE_TIERS,
    typical_reserve_mib,
)
from simcontainer.scenario.profiles import Catalogue, default_catalogue
from simcontainer.scenario.schema import Scenario


def _entry(key: str, value: Any, chosen: bool, source: str, why: str, flip: Any = None) -> dict[str, Any]:
    return {"key": key, "value": value, "default": not chosen, "source": source, "why": why,
            "flip_to": flip}


def _set(model: Any, field: str) -> bool:
    return field in model.model_fields_set


def assumptions(scenario: Scenario, catalogue: Catalogue | None = None) -> list[dict[str, Any]]:
    """What the scenario assumed, one entry per setting (see the module's docstring)."""
    cat = catalogue or default_catalogue()
    runtimes = scenario.runtime_table(cat)
    host, daemon, reg = scenario.host, scenario.daemon, scenario.registry
    reserve = typical_reserve_mib(host.ram_mib)     # a typical reserve: none on a host it would fill
    out = [
        _entry("host.reserved_mib", host.reserve_mib, host.reserved_mib is not None,
               "scenario" if host.reserved_mib is not None else f"default: a Kubernetes node's typical reserve, {RESERVE_SOURCE}",
               "RAM kept for the OS, the daemons and the kubelet; admission never hands it out",
               (reserve if reserve < host.ram_mib else None) if host.reserve_mib == 0 else 0.0),
        _entry("daemon.admission", daemon.admission, _set(daemon, "admission"),
               "scenario" if _set(daemon, "admission") else "default: the kube-scheduler's way (backfill)",
               {"queue": "a request that does not fit waits in strict FIFO order (head of line)",
                "reject": "a request that does not fit is turned away",
                "backfill": "the kube-scheduler's way: whatever fits starts, the rest retries",
                "none": "dockerd's way: everything starts; RAM may run out (OOM killer)"}[daemon.admission],
               "backfill" if daemon.admission != "backfill" else "queue"),
        _entry("host.memory_overcommit", host.memory_overcommit or 1.0, _set(host, "memory_overcommit"),
               "scenario" if _set(host, "memory_overcommit") else "default: no overcommit",
               "how many times its RAM admission may promise",
               1.0 if (host.memory_overcommit or 1.0) > 1.0 else None),
        _entry("registry.egress_mb_s", reg.egress_mb_s, _set(reg, "egress_mb_s"),
               "scenario" if _set(reg, "egress_mb_s") else "default: unlimited (a CDN-backed registry)",
               "the registry's total upload: every host's pulls share it",
               125.0 if reg.egress_mb_s is None else None),
        _entry("registry.per_stream_mb_s", reg.per_stream_mb_s, _set(reg, "per_stream_mb_s"),
               "scenario" if _set(reg, "per_stream_mb_s") else "default: an estimate (simcontainer.model.registry)",
               "what one layer download gets at most", None),
    ]
    if host.count > 1:
        out.append(_entry("daemon.placement", daemon.placement, _set(daemon, "placement"),
                          "scenario" if _set(daemon, "placement") else "default",
                          "which host a request goes to", "spread" if daemon.placement != "spread" else "first-fit"))
    memory_model = any(w.usage is not None or w.mem_limit_mib is not None for w in scenario.workloads)
    out.append(_entry("memory model", "usage over time" if memory_model else "reservation only", memory_model,
                      "scenario" if memory_model else "default",
                      "reservation only: each instance uses exactly what it reserved, so nothing is ever "
                      "OOM-killed" if not memory_model else "instances use memory as their usage says; "
                      "the OOM killer acts", None))
    for w in scenario.workloads:
        rt = runtimes.get(w.runtime)
        if rt is None:
            continue
        if rt.kind == "vm":
            mode = w.disk_mode(rt)
            out.append(_entry(f"workloads.{w.name}.vm_disk", mode, w.vm_disk is not None,
                              "scenario" if w.vm_disk is not None else
                              f"default: {rt.name}'s own tooling (models/runtimes/{rt.name}.toml vm_disk_default)",
                              "copy: each VM's disk image copied in full before it boots; overlay: a "
                              "copy-on-write overlay on one shared base",
                              "overlay" if mode == "copy" else "copy"))
        if w.restart is None:
            plane = w.control_plane or rt.control_plane or "direct"
            spec = scenario.control_plane_table(cat).get(plane)
            default = CONTROL_PLANES[(spec.kind if spec is not None else None) or "direct"].default_restart
            out.append(_entry(f"workloads.{w.name}.restart", default, False,
                              f"default of its control plane ({plane})",
                              "what happens when the app exits or crashes", None))
    return out


__all__ = ["EVICTION_HARD_MIB", "RESERVE_TIERS", "assumptions", "typical_reserve_mib"]
