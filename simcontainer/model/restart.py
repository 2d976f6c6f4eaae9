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

The kubelet (Kubernetes pod-lifecycle docs, "Container restarts": "Initial crash: Kubernetes
attempts an immediate restart"; kubelet ``kuberuntime_manager.go`` ``doBackOff`` over client-go's
``flowcontrol.Backoff`` with 10 s and ``MaxContainerBackOff`` = 300 s): CrashLoopBackOff. The
kubelet asks ``IsInBackOffSince`` before a restart and only then calls ``Next``, so the first
restart (no entry yet) is immediate and the window that ``Next`` opens applies to the next one:
0, 10, 20, 40 ... 300 s. The entry expires once the container ran more than 2 x 300 s
(``hasExpired``): the back-off starts over, immediate again.

Image pulls under the kubelet (``pkg/kubelet/images/image_manager.go``): a failed pull calls
``Next`` on a back-off keyed by pod and image (10 s doubling to 300 s, the same
``flowcontrol.Backoff``), and the next sync finds it ``IsInBackOffSinceUpdate``:
ImagePullBackOff. :class:`ImagePullBackOff` is that policy; :class:`FlowBackoff` is client-go's
back-off itself (no jitter), for both.
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

# 2**k for k past this is beyond every cap here: the exponent stops growing (a crash loop of
# more than ~1,024 restarts in a row overflowed float ``2.0 ** k``).
_MAX_DOUBLINGS = 64


def doubling(initial_s: float, cap_s: float, k: int) -> float:
    """``initial_s`` doubled ``k`` times, at most ``cap_s``; safe for any ``k`` >= 0."""
    return min(initial_s * 2.0 ** min(k, _MAX_DOUBLINGS), cap_s)


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
        return doubling(self.initial_s, self.cap_s, k)


@dataclass(frozen=True)
class CrashLoopBackOff:
    """The kubelet's restart of a pod's container (restartPolicy Always / OnFailure / Never):
    step ``k`` = 0 (no back-off recorded, or it expired) restarts at once; step k waits
    ``initial_s`` x 2^(k-1), at most ``cap_s`` (module docstring)."""

    mode: str = "always"            # "always", "on-failure" or "no" (Never)
    initial_s: float = 10.0
    cap_s: float = 300.0
    reset_after_s: float = 600.0    # flowcontrol hasExpired: 2 x cap_s

    def __call__(self, ex: Exit, k: int) -> float | None:
        # a liveness kill is restarted under OnFailure too, whatever its code (kuberuntime
        # computePodActions: restart unless restartPolicy is Never)
        if self.mode == "no" or ex.cause in ("stop", "kill") or (self.mode == "on-failure" and ex.code == 0
                                                                 and ex.cause != "liveness"):
            return None
        return 0.0 if k <= 0 else doubling(self.initial_s, self.cap_s, k - 1)


class FlowBackoff:
    """client-go ``util/flowcontrol/backoff.go`` without jitter, on simulated seconds: a
    back-off per key. ``next`` opens (``initial_s``) or doubles (at most ``max_s``) the window
    and stamps ``now``; an entry not updated for more than 2 x ``max_s`` has expired and
    ``next`` starts it over."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.entries: dict[str, list[float]] = {}     # key -> [back-off s, last update]

    def has_expired(self, event_time: float, last_update: float) -> bool:
        return event_time - last_update > 2.0 * self.max_s

    def get(self, key: str) -> float:
        e = self.entries.get(key)
        return e[0] if e is not None else 0.0

    def next(self, key: str, event_time: float, now: float | None = None) -> None:
        e = self.entries.get(key)
        if e is None or self.has_expired(event_time, e[1]):
            e = self.entries[key] = [self.initial_s, 0.0]
        else:
            e[0] = min(e[0] * 2.0, self.max_s)
        e[1] = event_time if now is None else now

    def reset(self, key: str) -> None:
        self.entries.pop(key, None)

    def in_backoff_since(self, key: str, event_time: float, now: float) -> bool:
        """``IsInBackOffSince``: less than the window has passed since ``event_time``."""
        e = self.entries.get(key)
        if e is None or self.has_expired(event_time, e[1]):
            return False
        return now - event_time < e[0]

    def in_backoff_since_update(self, key: str, event_time: float) -> bool:
        """``IsInBackOffSinceUpdate``: less than the window has passed since the last ``next``."""
        e = self.entries.get(key)
        if e is None or self.has_expired(event_time, e[1]):
            return False
        return event_time - e[1] < e[0]

    def gc(self, now: float) -> None:
        for key in [k for k, e in self.entries.items() if self.has_expired(now, e[1])]:
            del self.entries[key]


class ImagePullBackOff:
    """The kubelet's back-off between attempts to pull an image for a pod (10 s doubling to
    300 s: ``image_manager.go`` calls ``Next`` on each failed pull; the pod shows
    ``ImagePullBackOff`` until the window has passed). ``after_failure(key, now)`` records a
    failed pull and returns how long to wait before the next attempt; ``succeeded(key)`` forgets
    the key. Keys are the kubelet's: pod and image, e.g. ``f"{instance}_{image}"``."""

    def __init__(self, initial_s: float = 10.0, max_s: float = 300.0) -> None:
        self.backoff = FlowBackoff(initial_s, max_s)

    def after_failure(self, key: str, now: float) -> float:
        self.backoff.next(key, now)
        return self.backoff.get(key)

    def succeeded(self, key: str) -> None:
        self.backoff.reset(key)


def no_restart(ex: Exit, k: int) -> float | None:
    return None


no_restart.reset_after_s = 0.0      # type: ignore[attr-defined]


__all__ = ["CAUSES", "CrashLoopBackOff", "DockerRestart", "EXIT_SIGKILL", "EXIT_SIGTERM", "Exit", "FlowBackoff", "ImagePullBackOff", "RestartPolicy", "doubling", "no_restart"]
