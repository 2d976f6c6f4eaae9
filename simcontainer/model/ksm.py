"""KSM (kernel samepage merging) as ksmd does it: its scan rate and CPU, and the closed-form
curve of what it merges (for lessons); the run's ksmd is :meth:`simcontainer.model.memory.Memory._ksm`."""

from __future__ import annotations

from typing import Any

import numpy as np

PAGE_KIB = 4.0
# ksmd is one kernel thread: each wake-up it scans ``pages_to_scan`` pages, then sleeps
# ``sleep_millisecs`` (Documentation/admin-guide/mm/ksm.rst), so its CPU is the busy share of
# that cycle, at most one core. The cost of one page (checksum + tree lookups) is an estimate,
# set so that the defaults (100 pages, 20 ms) give 0.05 core -- ksmd at its defaults is commonly
# reported at a few percent of one core; no figure in the kernel docs.
KSM_PAGE_US = 1e6 * 0.05 * 0.020 / (0.95 * 100)      # ~10.5 us per page
KSM_CPU_CORES = 0.05        # at the defaults (ksm_cpu_cores(100, 20))


def ksm_rate_mib_s(pages_to_scan: int = 100, sleep_ms: float = 20.0) -> float:
    """KSM's scan rate: ``pages_to_scan`` 4 KiB pages per wake-up every ``sleep_millisecs``
    (Linux Documentation/admin-guide/mm/ksm.rst; defaults 100 and 20: ~19.5 MiB/s)."""
    return pages_to_scan * PAGE_KIB / 1024.0 / (sleep_ms / 1000.0)


def ksm_cpu_cores(pages_to_scan: int = 100, sleep_ms: float = 20.0) -> float:
    """ksmd's CPU while it has work: the busy share of its scan + sleep cycle (one thread)."""
    busy = pages_to_scan * KSM_PAGE_US * 1e-6
    return busy / (busy + sleep_ms / 1000.0) if busy > 0 else 0.0


def ksm_curve(n_guests: int, touched_mib: float, shared_fraction: float, horizon_s: float = 600.0,
              pages_to_scan: int = 100, sleep_ms: float = 20.0, overhead_mib: float = 0.0, step_s: float = 10.0) -> Any:
    """For a lesson: host memory of ``n_guests`` like VMs that each touched ``touched_mib`` while
    ksmd merges ``shared_fraction`` of their pages (one copy stays) at its scan rate -- the
    closed form of what a run with ``host.ksm`` does. A DataFrame of ``t_s``, ``merged_mib``,
    ``host_mib`` (touched + overhead - merged)."""
    import pandas as pd  # noqa: PLC0415 - heavy

    rate = ksm_rate_mib_s(pages_to_scan, sleep_ms)
    scanned = n_guests * touched_mib
    most = shared_fraction * touched_mib * max(0, n_guests - 1)
    ts = np.arange(0.0, horizon_s + step_s / 2, step_s)
    # the first full pass only records checksums (see Memory._ksm)
    done = np.maximum(0.0, np.floor(ts) * rate - scanned)
    merged = np.minimum(most, done * (most / scanned if scanned else 0.0))
    return pd.DataFrame({"t_s": ts, "merged_mib": merged,
                         "host_mib": scanned + n_guests * overhead_mib - merged})


__all__ = ["KSM_CPU_CORES", "KSM_PAGE_US", "PAGE_KIB", "ksm_cpu_cores", "ksm_curve", "ksm_rate_mib_s"]
