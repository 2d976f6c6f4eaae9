"""Restart policies: plain callables, testable without a simulation.

A policy answers one question when an instance exits: restart it, after how long? ``policy(ex,
k)`` gets the :class:`Exit` and ``k``, the back-off step (how many restarts in a row came
before, without a long enough run in between: the caller resets ``k`` to 0 once the instance has
run ``policy.reset_after_s``), and returns the delay in seconds, or None for no restart.

Docker (moby ``restartmanager/restartmanager.go``): the delay starts at 100 ms and doubles on
every restart, capped at 1 min; it goes back to 100 ms once a container has run 10 s.
``on-failure`` restarts on a non-zero exit code only, at most ``max`` times in all (0: no limit);
a container stopped by hand (``docker stop``) is not restarted -- ``always`` would restart it
when the daemon itself restarts, ``unless-stopped`` not even then.

The kubelet (Kubernetes pod-lifecycle docs, "Container restarts"; kubelet ``MaxContainerBackOff``):
CrashLoopBackOff, 10 s doubling to 300 s, reset after 10 min of running without a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Why an instance exited. "exit": the app exited by itself; "crash": it failed; "stop"/"kill":
# by hand (API); "oom": the OOM killer; "host": its host's kernel went down; "guest": its own
# kernel panicked; "daemon": the daemon stopped it while restarting.
CAUSES = ("exit", "crash", "stop", "kill", "oom", "host", "guest", "daemon")

# Exit codes by convention: 128 + signal.
EXIT_SIGKILL = 137      # SIGKILL (9): docker kill, the grace period's end, the OOM killer
EXIT_SIGTERM = 143      # SIGTERM (15) with its default action (an app without a handler)


@dataclass(frozen=True)
class Exit:
    """An exit: its code, its cause (see ``CAUSES``) and the restarts of this instance so far."""

    code: int
    cause: str = "crash"
    restarts: int = 0


RestartPolicy = Callable[[Exit, int], "float | None"]


@dataclass(frozen=True)
class DockerRestart:
    """``docker run --restart``: ``no``, ``on-failure[:max]``, ``always``, ``unless-stopped``."""

    mode: str = "no"
    max_retries: int = 0            # on-failure:N (0: no limit)
    initial_s: float = 0.1
    cap_s: float = 60.0
    reset_after_s: float = 10.0

    def __call__(self, ex: Exit, k: int) -> float | None:
        if self.mode == "no" or ex.cause in ("stop", "kill"):
            return None
        if self.mode == "on-failure" and (ex.code == 0 or (self.max_retries and ex.restarts >= self.max_retries)):
            return None
        return min(self.initial_s * 2.0 ** k, self.cap_s)


@dataclass(frozen=True)
class CrashLoopBackOff:
    """The kubelet's restart of a pod's container (restartPolicy Always / OnFailure / Never)."""

    mode: str = "always"            # "always", "on-failure" or "no" (Never)
    initial_s: float = 10.0
    cap_s: float = 300.0
    reset_after_s: float = 600.0

    def __call__(self, ex: Exit, k: int) -> float | None:
        if self.mode == "no" or ex.cause in ("stop", "kill") or (self.mode == "on-failure" and ex.code == 0):
            return None
        return min(self.initial_s * 2.0 ** k, self.cap_s)


def no_restart(ex: Exit, k: int) -> float | None:
    return None


no_restart.reset_after_s = 0.0      # type: ignore[attr-defined]


def policy_for(restart: str | None, plane_kind: str | None) -> RestartPolicy:
    """The policy of a workload's ``restart`` under its control plane (kubelet: CrashLoopBackOff,
    default ``always`` as a pod's restartPolicy; every other plane: Docker's, default ``no``)."""
    kubelet = plane_kind == "kubelet"
    spec = restart if restart is not None else ("always" if kubelet else "no")
    mode, _, n = spec.partition(":")
    if kubelet:
        return CrashLoopBackOff("always" if mode == "unless-stopped" else mode)
    if mode == "no":
        return no_restart
    return DockerRestart(mode, int(n) if n else 0)








__all__ = ["CAUSES", "CrashLoopBackOff", "DockerRestart", "EXIT_SIGKILL", "EXIT_SIGTERM", "Exit", "RestartPolicy", "no_restart", "policy_for"]
