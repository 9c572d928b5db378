"""Explicit per-schedule DST policies (``duplicate_dst``, ``missing_dst``) against an oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest

from tasksched.cron import CronError, dst_policy, next_fire_epoch, next_fire_times
from tests.test_cron_dst import IDS, ZONES, _day_window, _matcher

POLICIES = [(d, m) for d in ("first", "last", "none") for m in ("shift", "skip")]
EXPRS = ["30 2 * * *", "30 1 * * *", "30 0 * * *", "15 2 * * *", "45 1 * * *", "*/15 * * * *",
         "0 * * * *", "0 */6 * * *", "*/20 0-3 * * *"]


def _policy_oracle(expr: str, tz: str, start: datetime, end: datetime, d: str, m: str) -> list[int]:
    """Every UTC minute's wall time, grouped by wall time, then the policy applied."""
    match = _matcher(expr)
    pairs, instants = _walls(tz, int(start.timestamp()), int(end.timestamp()))
    out: set[int] = set()
    walls = sorted(instants)
    w = walls[0]
    while w <= walls[-1]:
        if match(w):
            ts = instants.get(w)
            if ts and len(ts) == 1:
                out.add(ts[0])
            elif ts:
                if d != "none":
                    out.add(min(ts) if d == "first" else max(ts))
            elif m == "shift":  # skipped: the first instant whose wall time is later
                out.add(next(t for t, wl in pairs if wl > w))
        w += timedelta(minutes=1)
    return sorted(t for t in out if start.timestamp() < t < end.timestamp())


@lru_cache(maxsize=64)
def _walls(
    tz: str, start: int, end: int
) -> tuple[list[tuple[int, datetime]], dict[datetime, list[int]]]:
    """Each UTC minute around the window with its wall time, and the instants of each wall."""
    z = ZoneInfo(tz)
    lo = start // 60 * 60 - 4 * 3600  # wall times just before the window too
    pairs = [(t, datetime.fromtimestamp(t, z).replace(tzinfo=None))
             for t in range(lo, end + 4 * 3600, 60)]
    instants: dict[datetime, list[int]] = {}
    for t, wl in pairs:
        instants.setdefault(wl, []).append(t)
    return pairs, instants


@pytest.mark.parametrize("zone", ZONES, ids=IDS)
@pytest.mark.parametrize(("d", "m"), POLICIES, ids=[f"{d}-{m}" for d, m in POLICIES])
def test_policies_match_the_oracle_on_both_change_days(zone: tuple, d: str, m: str) -> None:
    tz, spring, *_, fall, _, _ = zone
    policy = dst_policy(d, m)
    for expr in EXPRS:
        for day in (spring, fall):
            start, end = _day_window(tz, day)
            ours: list[int] = []
            t = start.timestamp()
            while (t := next_fire_epoch(expr, tz, t, dst=policy)) < end.timestamp():
                ours.append(int(t))
            assert ours == _policy_oracle(expr, tz, start, end, d, m), (expr, day)


def test_examples_in_new_york() -> None:
    fall = datetime(2026, 11, 1, 4, tzinfo=UTC)  # 00:00 EDT; 01:xx happens twice
    spring = datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 EST; 02:xx does not happen
    ny = "America/New_York"

    def iso(expr: str, after: datetime, dst: str) -> str:
        return next_fire_times(expr, ny, after, 1, dst=dst)[0].isoformat()

    assert iso("30 1 * * *", fall, dst_policy("last")) == "2026-11-01T01:30:00-05:00"
    assert iso("30 1 * * *", fall, dst_policy("none")) == "2026-11-02T01:30:00-05:00"
    assert iso("30 2 * * *", spring, dst_policy(missing="skip")) == "2026-03-09T02:30:00-04:00"
    # An every-15-minutes schedule with "first": the repeated hour runs once, not twice.
    times = next_fire_times("*/15 * * * *", ny, fall, 12, dst=dst_policy("first"))
    assert [t.strftime("%H:%M%z") for t in times][3:8] == [
        "01:00-0400", "01:15-0400", "01:30-0400", "01:45-0400", "02:00-0500",
    ]


def test_the_rule_is_the_empty_policy_and_a_bad_one_names_the_field() -> None:
    assert dst_policy() == "" and dst_policy("auto", "auto") == ""
    assert dst_policy("last", "skip") == "last:skip"
    with pytest.raises(ValueError):
        dst_policy("twice")
    with pytest.raises(CronError) as exc:
        next_fire_times("@daily", "UTC", datetime(2026, 1, 1, tzinfo=UTC), 1, dst="x:y")
    assert exc.value.field == "dst"
