"""The lifecycle state machine of an instance (container or VM).

``requested → (pulling) → created → starting → running ⇄ paused → stopping → exited → removed``,
plus ``rejected``, ``oom_killed`` and ``failed``. The daemon consults :data:`TRANSITIONS` for
every API request; an illegal one is an API error (HTTP 409 in Docker's API), recorded, never a
crash.
"""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    REQUESTED = 0
    WAITING = 1      # admitted to the queue, waiting for room on a host
    PULLING = 2
    CREATED = 3
    STARTING = 4
    RUNNING = 5
    PAUSED = 6
    STOPPING = 7
    EXITED = 8
    REMOVED = 9
    REJECTED = 10
    OOM_KILLED = 11
    FAILED = 12

    @property
    def label(self) -> str:
        return self.name.lower()


STATE_LABELS = [s.label for s in State]

# Which state changes each API operation may cause, from which states.
API_OPS: dict[str, dict[State, State]] = {
    "start": {State.CREATED: State.STARTING, State.EXITED: State.STARTING},
    "stop": {State.RUNNING: State.STOPPING, State.PAUSED: State.STOPPING, State.STARTING: State.STOPPING},
    "kill": {State.RUNNING: State.EXITED, State.PAUSED: State.EXITED, State.STARTING: State.EXITED,
             State.STOPPING: State.EXITED},
    "pause": {State.RUNNING: State.PAUSED},
    "unpause": {State.PAUSED: State.RUNNING},
    "remove": {State.CREATED: State.REMOVED, State.EXITED: State.REMOVED,
               State.OOM_KILLED: State.REMOVED, State.FAILED: State.REMOVED},
}

# Every edge the engine itself may take (the API edges plus the daemon's own progress).
TRANSITIONS: dict[State, frozenset[State]] = {
    State.REQUESTED: frozenset({State.WAITING, State.PULLING, State.REJECTED, State.FAILED}),
    State.WAITING: frozenset({State.PULLING, State.REJECTED}),
    State.PULLING: frozenset({State.CREATED, State.FAILED}),
    State.CREATED: frozenset({State.STARTING, State.REMOVED}),
    State.STARTING: frozenset({State.RUNNING, State.FAILED, State.STOPPING, State.EXITED, State.OOM_KILLED}),
    State.RUNNING: frozenset({State.PAUSED, State.STOPPING, State.EXITED, State.OOM_KILLED}),
    State.PAUSED: frozenset({State.RUNNING, State.STOPPING, State.EXITED, State.OOM_KILLED}),
    State.STOPPING: frozenset({State.EXITED}),
    State.EXITED: frozenset({State.REMOVED, State.STARTING, State.FAILED}),
    State.OOM_KILLED: frozenset({State.REMOVED, State.STARTING, State.FAILED}),
    State.FAILED: frozenset({State.REMOVED}),
    State.REMOVED: frozenset(),
    State.REJECTED: frozenset(),
}


# Docker Engine API event actions (``docker events``) for the state an event enters; the events
# table refines "running" (start / unpause / restart) and "exited" (die, with its exit code).
ACTIONS: dict[State, str] = {
    State.CREATED: "create", State.RUNNING: "start", State.PAUSED: "pause", State.STOPPING: "kill",
    State.EXITED: "die", State.OOM_KILLED: "oom", State.REMOVED: "destroy", State.FAILED: "die",
}

# A health check's status changes, events without a state change (moby daemon/health.go:
# ``events.ActionHealthStatus + ": " + status``; simcontainer.model.health)
HEALTH_ACTIONS = ("health_status: healthy", "health_status: unhealthy")


def can(op: str, state: State) -> State | None:
    """The state ``op`` leads to from ``state``, or None if the daemon must refuse it."""
    return API_OPS.get(op, {}).get(state)
