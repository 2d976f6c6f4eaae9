"""Fair-share rate resources, capacity pools and slots against exact answers.

FairShare is checked on small cases worked out by hand, against a reference fluid simulation that
recomputes the whole water-filling allocation at every change (written here, independent of the
engine's virtual clocks and heaps), and for its invariants: the total rate never exceeds the
capacity and no item ever runs above its cap.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simcontainer.model.resources import FairShare, Pool, Slots, rate_share

INF = math.inf


# --------------------------------------------------------------------------- helpers


def run_jobs(capacity: float, jobs: list[tuple[float, ...]],
             loads: list[tuple[float, ...]] = (), check=None) -> list[float]:
    """Completion time of each ``(arrival, work, cap[, share])`` job on a FairShare of ``capacity``.

    ``loads`` are persistent consumers ``(start, stop, cap[, share])``; ``share`` is a weight
    (default 1). ``check(fs)`` runs after every change the test can see (each arrival,
    completion, load change).
    """
    env = simpy.Environment()
    fs = FairShare(env, capacity, "test")
    done = [math.nan] * len(jobs)

    def job(i: int, at: float, work: float, cap: float, share: float = 1.0):
        yield env.timeout(at)
        ev = fs.request(work, cap, share) if share != 1.0 else fs.request(work, cap)
        if check:
            check(fs)
        if ev is None:
            done[i] = env.now
            return
        yield ev
        done[i] = env.now
        if check:
            check(fs)

    def load(start: float, stop: float, cap: float, share: float = 1.0):
        yield env.timeout(start)
        fs.add_load(cap, 1.0, share)
        if check:
            check(fs)
        yield env.timeout(stop - start)
        fs.remove_load(cap, 1.0, share)
        if check:
            check(fs)

    for i, j in enumerate(jobs):
        env.process(job(i, *j))
    for ld in loads:
        env.process(load(*ld))
    env.run()
    return done


def water_fill(capacity: float, caps: list[float], shares: list[float] | None = None) -> list[float]:
    """(Weighted) max-min fair rates with caps, recomputed from scratch (the textbook algorithm):
    each active item gets ``share x level``, the level being what is left per unit of weight."""
    w = shares if shares is not None else [1.0] * len(caps)
    rates = [0.0] * len(caps)
    active = set(range(len(caps)))
    remaining = capacity
    while active:
        level = remaining / sum(w[i] for i in active)
        capped = {i for i in active if caps[i] <= level * w[i]}
        if not capped:
            for i in active:
                rates[i] = level * w[i]
            break
        for i in capped:
            rates[i] = caps[i]
            remaining -= caps[i]
        active -= capped
    return rates


def reference(capacity: float, jobs: list[tuple[float, ...]],
              loads: list[tuple[float, ...]] = ()) -> list[float]:
    """A fluid simulation that recomputes every rate at every event (O(n) per step, obviously
    right). Jobs ``(arrival, work, cap[, share])``, loads ``(start, stop, cap[, share])``."""
    jobs = [tuple(j) + (1.0,) * (4 - len(j)) for j in jobs]
    loads = [tuple(ld) + (1.0,) * (4 - len(ld)) for ld in loads]
    left = [j[1] for j in jobs]
    done = [math.nan] * len(jobs)
    for i, (at, w, _, _) in enumerate(jobs):
        if w <= 0:
            done[i] = at
    t = 0.0
    changes = sorted({j[0] for j in jobs} | {ld[0] for ld in loads} | {ld[1] for ld in loads})
    while True:
        active = [i for i, j in enumerate(jobs) if j[0] <= t and math.isnan(done[i])]
        on = [(ld[2], ld[3]) for ld in loads if ld[0] <= t < ld[1]]
        pending = [c for c in changes if c > t]
        if not active and not pending:
            return done
        rates = water_fill(capacity, [jobs[i][2] for i in active] + [c for c, _ in on],
                           [jobs[i][3] for i in active] + [s for _, s in on])
        step = min([left[i] / rates[k] for k, i in enumerate(active) if rates[k] > 0] + [INF])
        nxt = min(pending) if pending else INF
        dt = min(step, nxt - t)
        for k, i in enumerate(active):
            left[i] -= rates[k] * dt
        t += dt
        for i in active:
            if left[i] <= 1e-9 * max(1.0, jobs[i][1]):
                done[i] = t


def close(a: list[float], b: list[float], rel: float = 1e-6) -> bool:
    return all(math.isclose(x, y, rel_tol=rel, abs_tol=1e-9) for x, y in zip(a, b))


# --------------------------------------------------------------------------- exact small cases


def test_equal_caps_share_equally():
    # 1 unit/s, works 1 and 2 from t=0: both at 1/2 until t=2 (first done), then 1 -> t=3.
    assert run_jobs(1.0, [(0, 1, INF), (0, 2, INF)]) == pytest.approx([2.0, 3.0])


def test_three_equal_items_finish_in_order():
    # 3 units/s, works 1, 2, 3: rate 1 each; t=1 first done (others have 1, 2 left), rate 1.5 each
    # -> second done at 1 + 1/1.5; the third has 1 left at rate 3 -> + 1/3.
    t2 = 1 + 1 / 1.5
    assert run_jobs(3.0, [(0, 1, INF), (0, 2, INF), (0, 3, INF)]) == pytest.approx([1.0, t2, t2 + 1 / 3])


def test_unequal_caps_water_fill():
    # 2 units/s; A capped at 0.5 (work 1), B uncapped (work 4): A gets 0.5, B the other 1.5.
    # A done at t=2 (B has 1 left), then B alone at 2 -> t=2.5.
    assert run_jobs(2.0, [(0, 1, 0.5), (0, 4, INF)]) == pytest.approx([2.0, 2.5])


def test_caps_below_share_leave_capacity_idle():
    # 4 units/s but both items capped at 1: each runs at 1, the rest stays idle.
    env = simpy.Environment()
    fs = FairShare(env, 4.0)
    fs.request(3.0, 1.0)
    fs.request(5.0, 1.0)
    assert fs.busy == pytest.approx(2.0)
    assert run_jobs(4.0, [(0, 3, 1.0), (0, 5, 1.0)]) == pytest.approx([3.0, 5.0])


def test_arrival_mid_flight_slows_the_first():
    # 1 unit/s; A (work 2) alone until t=1 (1 left); B (work 0.5) arrives: both at 0.5 until B is
    # done at t=2 (A has 0.5 left), then A alone -> t=2.5.
    assert run_jobs(1.0, [(0, 2, INF), (1, 0.5, INF)]) == pytest.approx([2.5, 2.0])


def test_arrival_mid_flight_with_caps():
    # 3 units/s. A (cap 1, work 4) from 0; B (uncapped, work 3) from 1; C (cap 0.5, work 1) from 2.
    # [0,1): A at 1 -> 3 left. [1,2): A 1, B 2 -> A 2 left, B 1 left. [2,..): C 0.5, A 1, B 1.5:
    # B done at 2 + 1/1.5 = 2.667 (A 1.333 left, C 0.667 left); then A 1, C 0.5 (cap-bound):
    # C done at 2.667 + 1.333 = 4.0 and A at 2.667 + 1.333 = 4.0.
    t_b = 2 + 1 / 1.5
    assert run_jobs(3.0, [(0, 4, 1.0), (1, 3, INF), (2, 1, 0.5)]) == pytest.approx([4.0, t_b, 4.0])


def test_persistent_load_takes_its_share():
    # 2 units/s; a running app that could use 1.5 and an item of work 1: fair share 1 each.
    assert run_jobs(2.0, [(0, 1, INF)], loads=[(0, 100, 1.5)]) == pytest.approx([1.0])
    # a small app (0.5) leaves 1.5 to the item -> 2/3.
    assert run_jobs(2.0, [(0, 1, INF)], loads=[(0, 100, 0.5)]) == pytest.approx([2 / 3])
    # the app stops at t=0.5: the item has 0.5 left at rate 2 -> 0.75.
    assert run_jobs(2.0, [(0, 1, INF)], loads=[(0, 0.5, 1.5)]) == pytest.approx([0.75])


def test_load_served_and_busy_integral():
    env = simpy.Environment()
    seen: list[tuple[float, float]] = []
    fs = FairShare(env, 4.0, on_change=lambda now, d: seen.append((now, d)))
    fs.add_load(0.5)
    fs.add_load(0.5)
    assert fs.busy == pytest.approx(1.0)
    env.run(until=10)
    fs.settle()
    assert fs.served == pytest.approx(10.0)
    fs.remove_load(0.5)
    fs.remove_load(0.5)
    assert fs.busy == 0.0
    assert sum(d for _, d in seen) == pytest.approx(0.0)
    assert fs.utilisation() == 0.0


def test_zero_and_negative_work_need_no_event():
    env = simpy.Environment()
    fs = FairShare(env, 1.0)
    assert fs.request(0.0) is None
    assert fs.request(-1.0) is None
    assert fs.items == 0 and fs.busy == 0.0
    assert run_jobs(1.0, [(0, 0, INF), (1, 1, INF)]) == pytest.approx([0.0, 2.0])


def test_zero_cap_load_is_ignored():
    env = simpy.Environment()
    fs = FairShare(env, 1.0)
    fs.add_load(0.0)
    fs.remove_load(0.0)
    assert fs.busy == 0.0


def test_capacity_must_be_positive():
    env = simpy.Environment()
    with pytest.raises(ValueError):
        FairShare(env, 0.0)


def test_simultaneous_completions_all_fire():
    # 10 identical items: all done at once, at 10 * work / capacity.
    assert run_jobs(2.0, [(0, 1, INF)] * 10) == pytest.approx([5.0] * 10)


def test_many_concurrent_items_match_the_reference():
    # 300 items with staggered arrivals and three cap classes: the heap-and-clock answer equals
    # the recompute-everything answer.
    jobs = [(i * 0.01, 0.2 + (i % 7) * 0.05, (0.25, 1.0, INF)[i % 3]) for i in range(300)]
    assert close(run_jobs(8.0, jobs), reference(8.0, jobs))


def test_rate_share_reference_helper():
    assert rate_share(2.0, [0.5, INF]) == pytest.approx([0.5, 1.5])
    assert rate_share(4.0, [1.0, 1.0]) == pytest.approx([1.0, 1.0])
    assert water_fill(3.0, [0.5, 1.0, INF]) == pytest.approx(rate_share(3.0, [0.5, 1.0, INF]))


# --------------------------------------------------------------------------- property tests

CAPS = st.sampled_from([0.25, 0.5, 1.0, 2.0, INF])
JOBS = st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0, 1.5, 3.0]) | st.floats(0, 5),
                          st.floats(0.01, 5.0), CAPS), min_size=1, max_size=12)
LOADS = st.lists(st.tuples(st.floats(0, 4), st.floats(0.1, 6), st.sampled_from([0.1, 0.5, 1.5])),
                 max_size=3).map(lambda ls: [(s, s + d, c) for s, d, c in ls])


@settings(max_examples=150, deadline=None)
@given(capacity=st.sampled_from([1.0, 2.0, 3.5, 16.0]), jobs=JOBS, loads=LOADS)
def test_matches_reference_fluid_simulation(capacity, jobs, loads):
    assert close(run_jobs(capacity, jobs, loads), reference(capacity, jobs, loads), rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(capacity=st.sampled_from([1.0, 2.0, 16.0]), jobs=JOBS, loads=LOADS)
def test_rates_never_exceed_capacity_or_caps(capacity, jobs, loads):
    def check(fs: FairShare) -> None:
        total = 0.0
        for cls in fs._order:
            assert cls.rate <= cls.cap * (1 + 1e-12), (cls.cap, cls.rate)
            assert cls.rate >= 0.0
            total += cls.rate * cls.count
        assert total <= fs.capacity * (1 + 1e-9)
        assert total == pytest.approx(fs.busy, rel=1e-9, abs=1e-12)
        # work-conserving: the capacity is idle only if every item is at its cap
        if total < fs.capacity * (1 - 1e-9):
            for cls in fs._order:
                if cls.count > 0:
                    assert cls.rate == cls.cap
        for cap, rate in fs.rates().items():
            assert rate <= cap * (1 + 1e-12)

    run_jobs(capacity, jobs, loads, check=check)


# --------------------------------------------------------------------------- Pool


def test_pool_reserve_release_peak_and_mean():
    p = Pool(100.0, "ram")
    p.reserve(60.0, now=0.0)
    p.reserve(40.0, now=1.0)
    assert p.used == 100.0 and p.free == 0.0 and p.peak == 100.0
    p.release(100.0, now=2.0)
    assert p.used == 0.0
    # 60 over [0,1), 100 over [1,2), 0 over [2,4) -> 160 / 4
    assert p.mean(4.0) == pytest.approx(40.0)


def test_pool_bounds_and_errors():
    seen: list[float] = []
    p = Pool(10.0, "disk", on_change=lambda now, d: seen.append(d))
    with pytest.raises(ValueError):
        p.reserve(-1.0, now=0.0)
    with pytest.raises(RuntimeError):
        p.reserve(10.5, now=0.0)
    assert p.used == 0.0
    p.reserve(10.0, now=0.0)                 # exactly full is fine
    assert not p.fits(0.001)
    with pytest.raises(RuntimeError):
        p.reserve(1.0, now=0.0)
    with pytest.raises(RuntimeError):
        p.release(11.0, now=1.0)
    with pytest.raises(RuntimeError):
        p.release(-1.0, now=1.0)
    p.release(10.0, now=1.0)
    assert p.used == 0.0 and p.peak == 10.0
    assert seen == [10.0, -10.0]
    with pytest.raises(ValueError):
        Pool(0.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 50)), max_size=40))
def test_pool_never_leaves_its_range(ops):
    p = Pool(100.0)
    for t, (take, amount) in enumerate(ops):
        with contextlib.suppress(RuntimeError):
            (p.reserve if take else p.release)(amount, now=float(t))
        assert 0.0 <= p.used <= p.capacity
        assert p.peak >= p.used


# --------------------------------------------------------------------------- Slots


def test_slots_grant_without_event_then_fifo():
    env = simpy.Environment()
    s = Slots(env, 2)
    assert s.acquire() is None and s.acquire() is None
    assert s.in_use == 2
    waiters = [s.acquire() for _ in range(3)]
    assert all(w is not None for w in waiters) and s.queued == 3
    order: list[int] = []
    for k, w in enumerate(waiters):
        w.callbacks.append(lambda _e, k=k: order.append(k))
    s.release()
    env.run()
    assert order == [0] and s.queued == 2 and s.in_use == 2
    s.release()
    s.release()
    env.run()
    assert order == [0, 1, 2] and s.queued == 0
    s.release()
    s.release()
    assert s.free == 2 and s.in_use == 0


def test_slots_serve_processes_in_arrival_order():
    env = simpy.Environment()
    lock = Slots(env, 1)
    log: list[tuple[str, float]] = []

    def user(name: str, at: float, hold: float):
        yield env.timeout(at)
        ev = lock.acquire()
        if ev is not None:
            yield ev
        log.append((name, env.now))
        yield env.timeout(hold)
        lock.release()

    for name, at in (("a", 0.0), ("b", 0.1), ("c", 0.2), ("d", 0.3)):
        env.process(user(name, at, 1.0))
    env.run()
    assert log == [("a", 0.0), ("b", 1.0), ("c", 2.0), ("d", 3.0)]


# --------------------------------------------------------------------------- weights (cpu.weight)

SHARES = st.sampled_from([0.1, 0.5, 1.0, 2.0, 3.0])
WJOBS = st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0, 3.0]) | st.floats(0, 5), st.floats(0.01, 5.0), CAPS, SHARES),
                 min_size=1, max_size=10)
WLOADS = st.lists(st.tuples(st.floats(0, 4), st.floats(0.1, 6), st.sampled_from([0.1, 0.5, 1.5, INF]), SHARES),
                  max_size=3).map(lambda ls: [(s, s + d, c, w) for s, d, c, w in ls])


def test_weighted_items_share_in_proportion_to_their_weights():
    env = simpy.Environment()
    fs = FairShare(env, 4.0, "cpu")
    fs.add_load(INF, 1.0, 3.0)
    fs.add_load(INF, 1.0, 1.0)
    assert fs.rates() == pytest.approx({(INF, 3.0): 3.0, INF: 1.0})
    fs.add_load(1.0, 1.0, 3.0)       # weight 3 but capped at 1: the rest goes to the others 3:1
    assert fs.rates() == pytest.approx({(1.0, 3.0): 1.0, (INF, 3.0): 2.25, INF: 0.75})
    assert rate_share(4.0, [INF, INF, 1.0], [3.0, 1.0, 3.0]) == pytest.approx([2.25, 0.75, 1.0])
    assert water_fill(4.0, [INF, 0.5], [1.0, 3.0]) == pytest.approx([3.5, 0.5])


@settings(max_examples=150, deadline=None)
@given(capacity=st.sampled_from([1.0, 2.0, 3.5, 16.0]), jobs=WJOBS, loads=WLOADS)
def test_weighted_sharing_matches_the_reference_fluid_simulation(capacity, jobs, loads):
    assert close(run_jobs(capacity, jobs, loads), reference(capacity, jobs, loads), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(capacity=st.sampled_from([1.0, 2.0, 16.0]), jobs=JOBS, loads=LOADS)
def test_weights_of_one_are_the_equal_case_exactly(capacity, jobs, loads):
    # the weighted code path with every weight 1 gives the same numbers, to the last bit
    assert run_jobs(capacity, [j + (1.0,) for j in jobs], [ld + (1.0,) for ld in loads]) == \
        run_jobs(capacity, jobs, loads)


@settings(max_examples=60, deadline=None)
@given(capacity=st.sampled_from([1.0, 2.0, 16.0]), jobs=WJOBS, loads=WLOADS)
def test_weighted_rates_stay_within_caps_and_capacity_and_are_proportional_below_caps(capacity, jobs, loads):
    def check(fs: FairShare) -> None:
        total = 0.0
        below = []      # classes not at their cap: their rate per unit weight is one level
        for cls in fs._order:
            assert 0.0 <= cls.rate <= cls.cap * (1 + 1e-12)
            total += cls.rate * cls.count
            if cls.count > 0 and cls.rate < cls.cap * (1 - 1e-12):
                below.append(cls.rate / cls.share)
        assert total <= fs.capacity * (1 + 1e-9)
        assert total == pytest.approx(fs.busy, rel=1e-9, abs=1e-12)
        if below:
            assert max(below) == pytest.approx(min(below), rel=1e-9)
            assert total == pytest.approx(fs.capacity, rel=1e-9)     # work-conserving

    run_jobs(capacity, jobs, loads, check=check)
