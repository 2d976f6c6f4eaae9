"""The instance's process: a simpy process that starts in the instant it is made and leaves no
event behind when it ends and nobody waits for it.

A plain :class:`simpy.Process` costs two events beyond what it waits for: ``Initialize``, which
starts the generator at the next step of the same instant, and the process itself, scheduled
when the generator returns so that whoever waits for it resumes. An instance's lifecycle needs
neither: it is made by a request (``docker run``, an arrival) whose caller goes on at once, and
nobody waits for an instance's process to end -- the API and the faults interrupt it, the
results read the recorder. At a hundred thousand instances those two events are a third of the
scheduler's work.

So :class:`InstanceProcess` runs its generator up to its first wait as soon as it is started
(the caller's process stays the active one around it), and when the generator returns with
nobody waiting it is marked processed without being scheduled: whoever yields it later resumes
at once, as for any processed event. When somebody does wait, or the generator fails, it ends
as simpy's does.

``_resume`` follows simpy 4.1's ``Process._resume`` (simpy/events.py) step for step; only the
generator's return differs.
"""

from __future__ import annotations

from typing import Any

import simpy
from simpy.events import Event


class _Go:
    """What the generator is first resumed with: a succeeded event with no value."""

    _ok = True
    _value = None


_GO = _Go()


class InstanceProcess(simpy.Process):
    """A process its owner starts in the instant it makes it (:meth:`start`), whose end is an
    event only when somebody waits for it."""

    def __init__(self, env: simpy.Environment, generator: Any) -> None:
        # NOTE: ``Process.__init__`` without its ``Initialize``: the generator runs at ``start``
        self.env = env
        self.callbacks = []
        self._generator = generator
        self._target = _GO      # type: ignore[assignment]

    def start(self) -> InstanceProcess:
        """Run the generator up to its first wait, now (the caller's process stays the active
        one around it). Made and started apart, so that the instance holds its process before
        its first step can be asked to interrupt it."""
        env = self.env
        caller = env._active_proc
        self._resume(_GO)       # type: ignore[arg-type]
        env._active_proc = caller
        return self

    def _resume(self, event: Event) -> None:
        env = self.env
        env._active_proc = self
        gen = self._generator
        while True:
            try:
                if event._ok:
                    event = gen.send(event._value)
                else:
                    event._defused = True
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    event = gen.throw(exc)
            except StopIteration as e:
                self._ok = True
                self._value = e.args[0] if e.args else None
                if self.callbacks:
                    env.schedule(self)
                else:               # nobody waits: processed now, no event to step through
                    self.callbacks = None   # type: ignore[assignment]
                event = None        # type: ignore[assignment]
                break
            except BaseException as e:
                self._ok = False
                e.__traceback__ = e.__traceback__.tb_next   # type: ignore[union-attr]
                self._value = e
                env.schedule(self)
                event = None        # type: ignore[assignment]
                break
            try:
                if event.callbacks is not None:
                    event.callbacks.append(self._resume)
                    break
            except AttributeError:
                if hasattr(event, "callbacks"):
                    raise
                raise RuntimeError(f"Invalid yield value {event!r} from {gen!r}") from None
        self._target = event
        env._active_proc = None
