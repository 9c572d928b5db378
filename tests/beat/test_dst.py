"""Daylight-saving days through the beat's claim logic, with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tasksched.cron import next_fire_times
from tasksched.store import Store
from tests.beat.conftest import FakeClock, TickerFactory, broker_messages
from tests.beat.schedules import make_schedule

STEP_S = 600.0  # the fake clock moves 10 minutes per tick; the grace (1 h) covers that


def _sweep(d_tick: object, clock: FakeClock, start: float, end: float) -> None:
    from tasksched.beat.tick import Ticker

    assert isinstance(d_tick, Ticker)
    t = start
    while t <= end:
        clock.now = t
        for _ in range(20):
            if d_tick.tick() > 0:
                break
        t += STEP_S


def _utc(s: str) -> float:
    return datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("tz", "day_start_utc", "fixed_cron", "fixed_expected_utc", "hourly_count"),
    [
        # Spring forward: 02:30 does not exist; the fixed job fires at the gap's end (03:00).
        ("America/New_York", "2024-03-10T05:00:00", "30 2 * * *", ["2024-03-10T07:00:00"], 23),
        ("Europe/Berlin", "2024-03-30T23:00:00", "30 2 * * *", ["2024-03-31T01:00:00"], 23),
        # Fall back: the repeated hour (01:xx in New York, 02:xx in Berlin) happens twice;
        # the fixed job fires once, at the first (summer time) instant.
        ("America/New_York", "2024-11-03T04:00:00", "30 1 * * *", ["2024-11-03T05:30:00"], 25),
        ("Europe/Berlin", "2024-10-26T22:00:00", "30 2 * * *", ["2024-10-27T00:30:00"], 25),
        # A fixed time outside the repeated hour is just once too (02:30 EST in New York).
        ("America/New_York", "2024-11-03T04:00:00", "30 2 * * *", ["2024-11-03T07:30:00"], 25),
    ],
)
def test_dst_day_dispatches_each_fire_once(
    real_store: Store,
    make_ticker: TickerFactory,
    redis_url: str,
    tz: str,
    day_start_utc: str,
    fixed_cron: str,
    fixed_expected_utc: list[str],
    hourly_count: int,
) -> None:
    start = _utc(day_start_utc)  # local midnight
    end = start + hourly_count * 3600  # the next local midnight (a 23 or 25 hour day)
    before = start - 60
    fixed = make_schedule(real_store, cron=fixed_cron, now=before, timezone=tz,
                          misfire_grace_s=3600.0, name="fixed")
    hourly = make_schedule(real_store, cron="0 * * * *", now=before, timezone=tz,
                           misfire_grace_s=3600.0, name="hourly")
    clock = FakeClock(before)
    d = make_ticker(clock=clock)
    _sweep(d, clock, before, end - 1)

    msgs = broker_messages(redis_url)
    ids = [m["id"] for m in msgs]
    assert len(ids) == len(set(ids)), "a fire was dispatched twice"
    fired = {
        sid: sorted(m["kwargs"]["fire_time"] for m in msgs if m["kwargs"]["schedule_id"] == sid)
        for sid in (fixed, hourly)
    }
    assert fired[fixed] == [_utc(s) for s in fixed_expected_utc]
    assert len(fired[hourly]) == hourly_count
    # Exactly what the cron engine predicts for the day, fire by fire.
    after = datetime.fromtimestamp(before, UTC)
    predicted = [t.timestamp() for t in next_fire_times("0 * * * *", tz, after, hourly_count + 1)]
    assert fired[hourly] == [t for t in predicted if t < end]
    # An hourly job keeps its rhythm in real time: one hour between fires, DST or not.
    gaps = {b - a for a, b in zip(fired[hourly], fired[hourly][1:], strict=False)}
    assert gaps == {3600.0}
    assert all(m["kwargs"]["trigger"] == "cron" for m in msgs)
