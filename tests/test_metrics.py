"""The recorder's step series (simcontainer.model.metrics): ``step_series`` and ``series_peak``
held to their definition -- sort the change points by time (stably), add them up, keep each
time's last value -- over random change points, in time order (as a run records them, where the
sort is skipped) or not, with repeated times and NaN."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simcontainer.model.metrics import series_peak, step_series

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)


def by_definition(times: np.ndarray, deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = sorted(range(times.size), key=lambda k: (math.isnan(times[k]), times[k] if not math.isnan(times[k])
                                                     else 0.0))
    t, v, out_t, out_v = times[order], np.cumsum(deltas[order]), [], []
    for k in range(t.size):
        last = k == t.size - 1 or t[k + 1] != t[k]     # NaN: each its own time, as in numpy
        if last:
            out_t.append(t[k])
            out_v.append(v[k])
    return np.array(out_t), np.array(out_v)


times_ = st.lists(st.one_of(st.sampled_from([0.0, 1.0, 2.5, 7.0]), st.floats(0, 100, allow_nan=False),
                            st.just(math.nan)), max_size=40)


@SETTINGS
@given(times_, st.data(), st.booleans())
def test_step_series_is_its_definition(times: list[float], data: st.DataObject, in_order: bool) -> None:
    if in_order:
        times = sorted(t for t in times if not math.isnan(t))
    deltas = data.draw(st.lists(st.sampled_from([-2.0, -1.0, 0.5, 1.0, 3.0]), min_size=len(times),
                                max_size=len(times)))
    t, d = np.array(times, dtype=np.float64), np.array(deltas, dtype=np.float64)
    got_t, got_v = step_series(t, d)
    want_t, want_v = by_definition(t, d)
    np.testing.assert_array_equal(got_t, want_t)
    np.testing.assert_array_equal(got_v, want_v)
    assert series_peak(t, d) == (float(want_v.max()) if want_v.size else 0.0)


def test_the_peak_is_after_all_changes_of_an_instant() -> None:
    # +5 and -5 at t=1: the value at 1 is 0, not 5 -- a peak only between changes of one instant
    # is no peak; the highest is 3, at 2
    t = np.array([0.0, 1.0, 1.0, 2.0])
    d = np.array([1.0, 5.0, -5.0, 2.0])
    assert series_peak(t, d) == 3.0
    assert series_peak(np.zeros(0), np.zeros(0)) == 0.0
    assert series_peak(np.array([4.0]), np.array([-2.0])) == -2.0
