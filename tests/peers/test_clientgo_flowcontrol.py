"""client-go's back-off (util/flowcontrol/backoff.go), row by row from its own tests
(kubernetes/client-go util/flowcontrol/backoff_test.go), against simcontainer.model.restart.FlowBackoff.
Time is simulated seconds; ``step`` is the tests' 1 s. Jitter is not modelled (see README)."""

from __future__ import annotations

import pytest

from simcontainer.model.restart import FlowBackoff

SRC = "kubernetes/client-go:util/flowcontrol/backoff_test.go"

# TestSlowBackoff: step 1 s, max 50 s; Get before each Next, the clock stepped 1 s each time
SLOW = [0, 1, 2, 4, 8, 16, 32, 50, 50, 50]


@pytest.mark.parametrize("ix", range(len(SLOW)), ids=[f"{SRC}::TestSlowBackoff/{i}" for i in range(len(SLOW))])
def test_slow_backoff(ix: int) -> None:
    b, now = FlowBackoff(1.0, 50.0), 0.0
    for i in range(ix + 1):
        now += 1.0
        if i == ix:
            assert b.get("_idSlow") == SLOW[ix]
        b.next("_idSlow", now)


@pytest.mark.parametrize("row", ["reset"], ids=[f"{SRC}::TestSlowBackoff/reset"])
def test_slow_backoff_reset(row: str) -> None:
    """Reset cancels the back-off."""
    b = FlowBackoff(1.0, 50.0)
    b.next("_idSlow", 1.0)
    b.next("_idSlow", 2.0)
    b.reset("_idSlow")
    assert b.get("_idSlow") == 0


def _capped(max_s: float = 5.0) -> tuple[FlowBackoff, float]:
    """``for i := 0; i <= maxDuration/step; i++ { tc.Step(step); b.Next(id, tc.Now()) }``"""
    b, now = FlowBackoff(1.0, max_s), 0.0
    for _ in range(int(max_s) + 1):
        now += 1.0
        b.next("id", now)
    return b, now


@pytest.mark.parametrize(("row", "later", "in_backoff"), [
    ("capped", 0.0, True),
    ("after 2*maxDuration+step", 11.0, False),
], ids=[f"{SRC}::TestBackoffReset/capped", f"{SRC}::TestBackoffReset/expired"])
def test_backoff_reset(row: str, later: float, in_backoff: bool) -> None:
    b, now = _capped()
    last = now
    assert b.in_backoff_since("id", last, now + later) is in_backoff


@pytest.mark.parametrize("row", ["high water mark"], ids=[f"{SRC}::TestBackoffHighWaterMark"])
def test_backoff_high_water_mark(row: str) -> None:
    """TestBackoffHighWaterMark: maxDuration + step later the back-off stays at its maximum."""
    b, now = _capped()
    now += 6.0
    b.next("id", now)
    assert b.get("id") == 5.0


@pytest.mark.parametrize(("later", "kept"), [(6.0, True), (12.0, False)],
                         ids=[f"{SRC}::TestBackoffGC/skip", f"{SRC}::TestBackoffGC/collect"])
def test_backoff_gc(later: float, kept: bool) -> None:
    b, now = _capped()
    b.gc(now + later)
    assert ("id" in b.entries) is kept


class _ExpiresAt(FlowBackoff):
    """A back-off with another ``HasExpiredFunc``: expired once ``at`` seconds have passed."""

    def __init__(self, initial_s: float, max_s: float, at: float) -> None:
        super().__init__(initial_s, max_s)
        self.at = at

    def has_expired(self, event_time: float, last_update: float) -> bool:
        return event_time - last_update >= self.at


GC_ROWS = [("default GC", None, 50.0, 5.0, 101.0), ("GC later than 2*maxDuration", 200.0, 50.0, 101.0, 501.0)]


@pytest.mark.parametrize(("name", "at", "max_s", "non_expired", "expired"), GC_ROWS,
                         ids=[f"{SRC}::TestAlternateBackoffGC/{r[0]}" for r in GC_ROWS])
def test_alternate_backoff_gc(name: str, at: float | None, max_s: float, non_expired: float, expired: float) -> None:
    b = FlowBackoff(1.0, max_s) if at is None else _ExpiresAt(1.0, max_s, at)
    b.next(name, 0.0)
    b.gc(non_expired)
    assert name in b.entries
    b.gc(non_expired + expired)
    assert name not in b.entries


EXP_ROWS = [("default expiration", None, 50.0, 5.0, 101.0), ("expires faster than maxDuration", 8.0, 50.0, 5.0, 9.0)]


@pytest.mark.parametrize(("name", "at", "max_s", "non_expired", "expired"), EXP_ROWS,
                         ids=[f"{SRC}::TestAlternateHasExpiredFunc/{r[0]}" for r in EXP_ROWS])
def test_alternate_has_expired_func(name: str, at: float | None, max_s: float, non_expired: float,
                                    expired: float) -> None:
    b = FlowBackoff(1.0, max_s) if at is None else _ExpiresAt(1.0, max_s, at)
    b.next(name, 0.0)
    b.next(name, non_expired)
    assert b.get(name) >= 2.0                   # backed off
    b.next(name, non_expired + expired)
    assert b.get(name) == 1.0                   # reset to the initial value


# TestIsInBackOffSinceUpdate: step 1 s, max 10 s; at each tick: in back-off? the value; Next when not
SINCE_UPDATE = [
    (0, False, 0), (1, False, 1), (2, True, 2), (3, False, 2), (4, True, 4), (5, True, 4), (6, True, 4),
    (7, False, 4), (8, True, 8), (9, True, 8), (10, True, 8), (11, True, 8), (12, True, 8), (13, True, 8),
    (14, True, 8), (15, False, 8), (16, True, 10), (17, True, 10), (18, True, 10), (19, True, 10),
    (20, True, 10), (21, True, 10), (22, True, 10), (23, True, 10), (24, True, 10), (25, False, 10),
    (26, True, 10), (27, True, 10), (28, True, 10), (29, True, 10), (30, True, 10), (31, True, 10),
    (32, True, 10), (33, True, 10), (34, True, 10), (35, False, 10), (56, False, 0), (57, False, 1),
]


@pytest.mark.parametrize("ix", range(len(SINCE_UPDATE)),
                         ids=[f"{SRC}::TestIsInBackOffSinceUpdate/tick={r[0]}" for r in SINCE_UPDATE])
def test_is_in_backoff_since_update(ix: int) -> None:
    b = FlowBackoff(1.0, 10.0)
    for tick, in_backoff, value in SINCE_UPDATE[: ix + 1]:
        now = float(tick)
        got = b.in_backoff_since_update("id", now)
        if (tick, in_backoff, value) == SINCE_UPDATE[ix]:
            assert got is in_backoff
            if in_backoff:
                assert b.get("id") == value
        if not got:
            b.next("id", now)
