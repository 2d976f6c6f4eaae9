"""Textbook queueing results the model reduces to, for tests, the fidelity report and lessons.

A host that fits exactly c instances with Poisson arrivals is M/G/c/c under ``admission =
"reject"`` (Erlang B, insensitive to the lifetime distribution) and M/M/c under ``"queue"``
with exponential lifetimes (Erlang C); the fair-share CPU is a processor-sharing server.
"""

from __future__ import annotations


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
