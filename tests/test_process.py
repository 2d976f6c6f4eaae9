"""simcontainer.model.process: the instance's process behaves as simpy's own, minus its two
bookkeeping events (the start and the unobserved end)."""

from __future__ import annotations

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simcontainer.model.process import InstanceProcess


def started(env, gen):
    return InstanceProcess(env, gen).start()


def test_it_runs_to_its_first_wait_when_started_and_queues_no_start_event():
    env = simpy.Environment()
    seen = []

    def gen():
        seen.append(env.now)
        yield env.timeout(1)
        seen.append(env.now)

    proc = InstanceProcess(env, gen())
    assert seen == []                       # made, not started: the owner can hold it first
    proc.start()
    assert seen == [0] and len(env._queue) == 1     # only its timeout, no Initialize
    env.run()
    assert seen == [0, 1]


def test_an_end_nobody_waits_for_is_processed_without_an_event():
    env = simpy.Environment()

    def gen():
        yield env.timeout(1)
        return "done"

    proc = started(env, gen())
    env.run()
    assert not proc.is_alive and proc.processed and proc.value == "done"
    assert next(env._eid) == 1              # one event ever scheduled: the timeout

    got = []

    def later():                            # yielding a processed process resumes at once
        got.append((yield proc))
        got.append(env.now)

    env.process(later())
    env.run()
    assert got == ["done", 1]


def test_a_waiter_resumes_with_its_value_as_with_simpy():
    env = simpy.Environment()

    def gen():
        yield env.timeout(2)
        return 42

    proc = started(env, gen())
    got = []

    def waiter():
        got.append((yield proc))
        got.append(env.now)

    env.process(waiter())
    env.run()
    assert got == [42, 2]


def test_a_failure_ends_the_run_as_simpy_does():
    env = simpy.Environment()

    def gen():
        yield env.timeout(1)
        raise ValueError("boom")

    started(env, gen())
    with pytest.raises(ValueError, match="boom"):
        env.run()


def test_it_cannot_interrupt_itself_while_starting_and_the_caller_stays_active():
    env = simpy.Environment()
    errors, active = [], []

    def gen(box):
        try:
            box[0].interrupt("self")
        except RuntimeError as e:
            errors.append(str(e))
        yield env.timeout(1)

    def caller():
        box = [None]
        box[0] = InstanceProcess(env, gen(box))
        box[0].start()
        active.append(env.active_process)
        yield env.timeout(0)

    parent = env.process(caller())
    env.run()
    assert errors and "not allowed to interrupt itself" in errors[0]
    assert active == [parent]


# ---- the same timeline as simpy.Process, for any program of waits and interrupts --------------------

program = st.lists(st.tuples(st.floats(0.0, 5.0, allow_nan=False), st.floats(0.0, 5.0, allow_nan=False)),
                   min_size=1, max_size=12)


def trace(make, waits, interrupts_at):
    env = simpy.Environment()
    log = []

    def gen(i):
        for w in waits:
            try:
                yield env.timeout(w)
                log.append((env.now, i, "woke"))
            except simpy.Interrupt as intr:
                log.append((env.now, i, f"interrupted {intr.cause}"))
        return i

    def driver():
        procs = []
        for i, (at, _) in enumerate(interrupts_at):
            if at > env.now:
                yield env.timeout(at - env.now)
            procs.append(make(env, gen(i)))
            for p in procs:
                if p.is_alive and p is not env.active_process:
                    p.interrupt(i)
        results = []
        for p in procs:
            results.append((yield p))
        log.append((env.now, "all", tuple(results)))

    env.process(driver())
    env.run()
    return log


@settings(max_examples=60, deadline=None)
@given(waits=st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=5), plan=program)
def test_same_timeline_as_simpy_process(waits, plan):
    plan = sorted(plan)
    ours = trace(lambda env, g: InstanceProcess(env, g).start(), waits, plan)
    theirs = trace(lambda env, g: env.process(g), waits, plan)
    assert ours == theirs
