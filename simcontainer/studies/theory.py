"""Textbook queueing results the model reduces to, for tests, the fidelity report and lessons.

A host that fits exactly c instances with Poisson arrivals is M/G/c/c under ``admission =
"reject"`` (Erlang B, insensitive to the lifetime distribution) and M/M/c under ``"queue"``
with exponential lifetimes (Erlang C); the fair-share CPU is a processor-sharing server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def erlang_b(c: int, load: float) -> float:
    """Blocking probability of M/G/c/c with offered load ``load`` Erlang (stable recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(c: int, load: float) -> float:
    """Probability that an arrival waits in M/M/c (requires load < c)."""
    if load >= c:
        return 1.0
    b = erlang_b(c, load)
    return c * b / (c - load * (1 - b))


def mmc_mean_wait(c: int, lam: float, mean_service: float) -> float:
    """Mean wait in queue of M/M/c: C(c, a) / (c*mu - lambda)."""
    mu = 1.0 / mean_service
    return erlang_c(c, lam * mean_service) / (c * mu - lam)


def mm1_mean_wait(lam: float, mu: float) -> float:
    """Mean wait in queue of M/M/1: rho / (mu - lambda)."""
    return (lam / mu) / (mu - lam)


def ps_response(size: float, rho: float) -> float:
    """Mean response time of a job of ``size`` in M/G/1 processor sharing: x / (1 - rho)."""
    return size / (1.0 - rho)


# --------------------------------------------------------------------------- idle starts and locks
# What a profile's phases add up to on an idle host, and the bounds of a burst: the closed forms the
# fidelity report sets beside its simulated figures (a simulated start adds lognormal draws, whose
# median lies above the sum of their medians).


def phase_time(phase: Any, cpu_speed: float = 1.0) -> float:
    """One phase on an idle host: its fixed latency's median (an exponential's mean), its CPU work on
    the cores it may use, and its serialized section, uncontended."""
    latency = (phase.mean_s or 0.0) if phase.dist == "exponential" else phase.median_s
    return latency + phase.cpu_s / min(phase.cpu_cores, 1.0) / cpu_speed + phase.serial_s


def idle_start(phases: Iterable[Any], cpu_speed: float = 1.0) -> float:
    """A start (or a round trip) on an idle host: the sum of its phases' idle times."""
    return sum(phase_time(p, cpu_speed) for p in phases)


def serialized_total(n: int, serial_s: float, cpu_share: float, cpu_speed: float) -> float:
    """``n`` sections held one after another under one lock, of which ``cpu_share`` is CPU work
    that scales with the host's ``cpu_speed``: the lower bound of a burst that queues on the lock."""
    return n * serial_s * (cpu_share / cpu_speed + 1.0 - cpu_share)


def cpu_total(n: int, cpu_s: float, cores: float, cpu_speed: float) -> float:
    """``n`` starts of ``cpu_s`` core-seconds each, fair-shared on ``cores``: the CPU bound of a burst."""
    return n * cpu_s / cpu_speed / cores
