"""simcontainer.engine.loop: ``run_until`` is simpy's ``env.run(until=...)``, event for event."""

from __future__ import annotations

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simcontainer.engine.loop import run_until


def program(env, waits, log):
    def proc(i, ws):
        for w in ws:
            yield env.timeout(w)
            log.append((env.now, i))
    for i, ws in enumerate(waits):
        env.process(proc(i, ws))


@settings(max_examples=80, deadline=None)
@given(waits=st.lists(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.0]), max_size=6), max_size=6),
       until=st.sampled_from([0.5, 1.0, 3.0, 7.5, 20.0]))
def test_same_events_in_the_same_order_and_the_same_clock(waits, until):
    ours, theirs = [], []
    a, b = simpy.Environment(), simpy.Environment()
    program(a, waits, ours)
    program(b, waits, theirs)
    run_until(a, until)
    b.run(until=until)
    assert ours == theirs and a.now == b.now == until
    # what is left for later is the same (simpy puts its stop event back in the queue, done)
    assert sorted(e[:2] for e in a._queue) == sorted(e[:2] for e in b._queue if e[1] != -1)


def test_a_failed_event_ends_the_run_as_with_simpy():
    env = simpy.Environment()

    def boom():
        yield env.timeout(1)
        raise KeyError("boom")

    env.process(boom())
    with pytest.raises(KeyError, match="boom"):
        run_until(env, 5.0)


def test_until_must_be_ahead_of_the_clock():
    env = simpy.Environment()
    env.run(until=2.0)
    with pytest.raises(ValueError, match="greater than the current simulation time"):
        run_until(env, 2.0)
