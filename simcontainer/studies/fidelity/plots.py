"""The fidelity report's plots (PNG, matplotlib with the Agg backend, imported on first use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simcontainer.studies.fidelity.experiments import DENSITY_APP, MEM_INSTANCES, REFERENCE_HOST
from simcontainer.studies.fidelity.figures import CLOSE, INSIDE


def _pyplot():
    import matplotlib  # noqa: PLC0415 - heavy

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - heavy

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return path


def plot_starts(rows: list[dict[str, Any]], samples: dict[str, np.ndarray], marks: dict[str, list[tuple[float, bool]]],
                path: Path) -> Path:
    """Each runtime's simulated starts (box) with the published figures at the same scope:
    ``marks[runtime]`` = (value, is validation)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(rows) + 1.2))
    names = [r["runtime"] for r in rows]
    ax.boxplot([samples[n] for n in names], orientation="horizontal", whis=(5, 95), showfliers=False,
               tick_labels=names, widths=0.5)
    for i, r in enumerate(rows, start=1):
        for v, validation in marks.get(r["runtime"], []):
            ax.plot(v, i, marker="o" if validation else "D", color="tab:orange" if validation else "tab:green", ms=5)
        ax.plot(r["median"], i, marker="|", color="tab:blue", ms=16, mew=2)
    ax.set_xscale("log")
    ax.set_xlabel("single start on an idle host, image cached (s, log scale)")
    ax.set_title("Simulated (box p25-p75, whiskers p5-p95) vs published: green calibration, orange validation",
                 fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_validation(rows: list[dict[str, Any]], path: Path) -> Path:
    """Model / published for every validation figure, on a log scale, with the fixed bands."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.4))
    ys = np.arange(len(rows))[::-1]
    ax.axvspan(1 / INSIDE, INSIDE, color="tab:green", alpha=0.10, label=f"inside {INSIDE:g}x")
    ax.axvspan(1 / CLOSE, CLOSE, color="tab:green", alpha=0.20, label=f"within {CLOSE:g}x")
    ax.axvline(1.0, color="tab:green")
    ax.scatter([r["ratio"] for r in rows], ys, color=["tab:blue" if r["inside"] else "tab:red" for r in rows], s=18)
    ax.set_yticks(ys, [r["id"] for r in rows], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("model / published (log scale)")
    ax.set_title("Validation: figures no parameter is fitted to")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_memory(mem: list[dict[str, Any]], marks: dict[str, list[tuple[float, bool]]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = [m["runtime"] for m in mem]
    xs = np.arange(len(names))
    ax.bar(xs, [m["overhead_mib"] for m in mem], width=0.5, color="tab:blue", label="simulated")
    seen: set[bool] = set()
    for i, m in enumerate(mem):
        for v, validation in marks.get(m["runtime"], []):
            label = None if validation in seen else ("published, validation" if validation else "published, calibration")
            seen.add(validation)
            ax.plot(i, v, "o" if validation else "D", color="tab:orange" if validation else "tab:green", ms=6,
                    label=label)
    ax.set_xticks(xs, names)
    ax.set_yscale("log")
    ax.set_ylabel("per-instance overhead (MiB, log)")
    ax.set_title(f"Runtime memory overhead: host RAM with {MEM_INSTANCES} idle instances / {MEM_INSTANCES}")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_density(dens: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = list(dens)
    colors = ["tab:blue" if dens[n]["kind"] == "container" else "tab:orange" for n in names]
    ax.bar(names, [dens[n]["fits"] for n in names], color=colors, width=0.5)
    for i, n in enumerate(names):
        ax.text(i, dens[n]["fits"], f"{dens[n]['fits']}\n({dens[n]['binding']})", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("instances that fit")
    ax.set_ylim(0, max(dens[n]["fits"] for n in names) * 1.25)
    ax.set_title(f"Density on {REFERENCE_HOST}: a {DENSITY_APP['mem_mib']:g} MiB, {DENSITY_APP['cpu']:g}-core service "
                 "(blue containers, orange VMs)")
    return _save(fig, path)


def plot_burst(burst: dict[str, Any], low: float, high: float, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.axvspan(low, high, color="tab:green", alpha=0.2, label=f"published total ({low:g}-{high:g} s)")
    for r in burst["runs"]:
        t = r["running"]
        ax.step(t, np.arange(1, t.size + 1), where="post", lw=1, label=f"seed {r['seed']}")
    ax.set_xlabel("time since the burst (s)")
    ax.set_ylabel("containers running")
    ax.set_title(f"{burst['count']} runc containers, {burst['in_flight']} in flight, {burst['host']}")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_queueing(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    ys = np.arange(len(rows))[::-1]
    ratio = np.array([r["sim"] / r["theory"] for r in rows])
    err = np.array([3 * r["se"] / r["theory"] for r in rows])
    ax.errorbar(ratio, ys, xerr=err, fmt="o", capsize=3)
    ax.axvline(1.0, color="tab:green")
    ax.set_yticks(ys, [r["label"] for r in rows], fontsize=8)
    ax.set_xlabel("simulated / theory (bars: 3 standard errors over seeds)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
