"""The defaults a planner would choose, where they are figures rather than one literal.

``host.reserved_mib`` left unset keeps the RAM a Kubernetes node typically keeps for the OS,
systemd, the kubelet and the container runtime (:func:`typical_reserve_mib`); the schema's
:attr:`~simcontainer.scenario.schema.Host.reserve_mib` applies it, so that ``check``, ``run``,
the density and hosts-needed studies and the app all see the same number. Nothing here imports
the rest of the package.
"""

from __future__ import annotations

# GKE's node-allocatable reservation for memory (kube-reserved + system-reserved), by tiers of the
# machine's RAM, plus the kubelet's default hard eviction threshold (memory.available < 100Mi).
# Source: cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes ("Memory and CPU
# reservations"); eviction: kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction.
RESERVE_TIERS = ((4096.0, 0.25), (4096.0, 0.20), (8192.0, 0.10), (114688.0, 0.06), (float("inf"), 0.02))
RESERVE_SMALL_MIB = 255.0          # machines under 1 GiB
EVICTION_HARD_MIB = 100.0
RESERVE_SOURCE = ("GKE node allocatable (kube-reserved + system-reserved: 25 % of the first 4 GiB, "
                  "20 % of the next 4, 10 % of the next 8, 6 % of the next 112, 2 % above; 255 MiB "
                  "under 1 GiB) + the kubelet's hard eviction threshold memory.available < 100Mi")


def typical_reserve_mib(ram_mib: float) -> float:
    """RAM a Kubernetes node keeps for the OS, the kubelet and the runtime (GKE's tiers + the
    hard eviction threshold): 5,711.5 MiB of a 64 GiB host, 1,943.2 MiB of 8 GiB."""
    if ram_mib < 1024.0:
        return RESERVE_SMALL_MIB
    left, out = ram_mib, 0.0
    for size, share in RESERVE_TIERS:
        part = min(left, size)
        out += part * share
        left -= part
        if left <= 0:
            break
    return round(out + EVICTION_HARD_MIB, 1)


def host_reserve_mib(ram_mib: float, reserved_mib: float | None) -> float:
    """The RAM a host keeps back: ``reserved_mib`` as written, or the typical reserve when unset."""
    return typical_reserve_mib(ram_mib) if reserved_mib is None else float(reserved_mib)


__all__ = ["EVICTION_HARD_MIB", "RESERVE_SMALL_MIB", "RESERVE_SOURCE", "RESERVE_TIERS",
           "host_reserve_mib", "typical_reserve_mib"]
