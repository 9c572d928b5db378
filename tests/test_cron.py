"""Cron engine: syntax, seconds, macros, daylight saving in several zones, jitter, misfires."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from tasksched import next_fire_times
from tasksched.cron import (
    CronError,
    describe,
    jitter_offset_s,
    next_fire_epoch,
    normalise,
    plan_due,
)

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("*/15 * * * *", ["00:15", "00:30", "00:45"]),
        ("0 9-10 * * *", ["09:00", "10:00", "09:00"]),
        ("5,35 * * * *", ["00:05", "00:35", "01:05"]),
        ("0 12 * * mon", ["12:00", "12:00", "12:00"]),
        ("0 0 1 jan *", ["00:00", "00:00", "00:00"]),
        ("@hourly", ["01:00", "02:00", "03:00"]),
        ("@daily", ["00:00", "00:00", "00:00"]),
    ],
)
def test_five_field_syntax(expr: str, expected: list[str]) -> None:
    times = next_fire_times(expr, "UTC", T0, 3)
    assert [t.strftime("%H:%M") for t in times] == expected
    assert all(t.tzinfo is not None for t in times)


def test_names_for_days_and_months() -> None:
    mondays = next_fire_times("0 12 * * mon", "UTC", T0, 3)
    assert [t.weekday() for t in mondays] == [0, 0, 0]
    assert [t.date() for t in mondays] == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)]
    januaries = next_fire_times("0 0 1 jan *", "UTC", T0, 2)
    assert [t.year for t in januaries] == [2027, 2028]


def test_sixth_field_is_seconds_last_as_croniter_reads_it() -> None:
    times = next_fire_times("* * * * * */15", "UTC", T0, 4)
    assert [t.second for t in times] == [15, 30, 45, 0]
    assert times[3] - times[0] == timedelta(seconds=45)


@pytest.mark.parametrize(
    ("macro", "gap"),
    [("@hourly", 3600), ("@daily", 86400), ("@weekly", 7 * 86400), ("@midnight", 86400)],
)
def test_macros(macro: str, gap: int) -> None:
    a, b = next_fire_times(macro, "UTC", T0, 2)
    assert (b - a).total_seconds() == gap


def test_monthly_and_yearly_macros() -> None:
    assert [t.month for t in next_fire_times("@monthly", "UTC", T0, 2)] == [2, 3]
    assert [t.year for t in next_fire_times("@yearly", "UTC", T0, 2)] == [2027, 2028]


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "   ",
        "* * * *",
        "* * * * * * *",
        "61 * * * *",
        "* 25 * * *",
        "0 0 30 2 *",
        "@fortnightly",
        "0 0 * * funday",
        "a b c d e",
        "*/0 * * * *",
    ],
)
def test_invalid_expressions_raise_a_cron_error_naming_the_field(expr: str) -> None:
    with pytest.raises(CronError) as exc:
        next_fire_times(expr, "UTC", T0, 1)
    assert exc.value.field == "cron_expression"


def test_unknown_timezone_names_the_field() -> None:
    with pytest.raises(CronError) as exc:
        next_fire_times("@daily", "Europe/Atlantis", T0, 1)
    assert exc.value.field == "timezone"


def test_naive_after_is_refused() -> None:
    with pytest.raises(CronError):
        next_fire_times("@daily", "UTC", datetime(2026, 1, 1), 1)


def test_times_are_in_the_schedules_timezone() -> None:
    (t,) = next_fire_times("0 2 * * *", "Asia/Tokyo", T0, 1)
    assert t.utcoffset() == timedelta(hours=9)
    assert (t.hour, t.minute) == (2, 0)


def _fires_on(expr: str, tz: str, day: date) -> list[datetime]:
    zone = ZoneInfo(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=zone) - timedelta(hours=1)
    out = []
    for t in next_fire_times(expr, tz, start, 60):
        if t.astimezone(zone).date() == day:
            out.append(t)
    return out


# (zone, spring-forward day, wall time in its gap, fall-back day, wall time repeated)
DST_ZONES = [
    ("America/New_York", date(2026, 3, 8), "30 2", date(2026, 11, 1), "30 1"),
    ("Europe/Berlin", date(2026, 3, 29), "30 2", date(2026, 10, 25), "30 2"),
    ("Australia/Sydney", date(2026, 10, 4), "30 2", date(2026, 4, 5), "30 2"),
    ("Australia/Lord_Howe", date(2026, 10, 4), "15 2", date(2026, 4, 5), "45 1"),
]


@pytest.mark.parametrize("zone", DST_ZONES, ids=[z[0] for z in DST_ZONES])
def test_fixed_time_job_runs_once_on_each_transition_day(
    zone: tuple[str, date, str, date, str],
) -> None:
    tz, spring, gap_time, fall, repeated_time = zone
    gap_fires = _fires_on(f"{gap_time} * * *", tz, spring)
    assert len(gap_fires) == 1
    # A wall time in the gap fires at the first instant after the gap: the transition itself.
    fired = gap_fires[0]
    before = fired - timedelta(seconds=1)
    assert before.astimezone(ZoneInfo(tz)).utcoffset() != fired.utcoffset()
    repeated = _fires_on(f"{repeated_time} * * *", tz, fall)
    assert len(repeated) == 1
    assert repeated[0].fold == 0  # the first of the two instants


def _real_gaps_s(times: list[datetime]) -> set[int]:
    utc = [t.astimezone(UTC) for t in times]  # aware subtraction in one zone is wall-clock
    return {int((b - a).total_seconds()) for a, b in pairwise(utc)}


RHYTHM_CASES = [
    (zone, expr, step)
    for zone in DST_ZONES
    for expr, step in (("0 * * * *", 3600), ("*/15 * * * *", 900))
    # Lord Howe shifts by 30 minutes: no hourly job on minute 0 can keep its rhythm there.
    if not (zone[0] == "Australia/Lord_Howe" and step == 3600)
]


@pytest.mark.parametrize(
    ("zone", "expr", "step_s"), RHYTHM_CASES, ids=[f"{z[0]}-{e}" for z, e, _ in RHYTHM_CASES]
)
def test_rhythm_jobs_keep_their_rhythm_in_real_time(
    zone: tuple[str, date, str, date, str], expr: str, step_s: int
) -> None:
    tz, spring, _, fall, _ = zone
    for day in (spring, fall):
        start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)) - timedelta(hours=2)
        times = next_fire_times(expr, tz, start, int(30 * 3600 / step_s))
        assert _real_gaps_s(times) == {step_s}, (tz, day)


def test_hourly_on_a_half_hour_shift_fires_once_per_wall_hour() -> None:
    tz = "Australia/Lord_Howe"
    start = datetime(2026, 10, 3, 22, tzinfo=ZoneInfo(tz))
    times = next_fire_times("0 * * * *", tz, start, 8)
    assert [t.hour for t in times] == [23, 0, 1, 3, 4, 5, 6, 7]  # 02:00 does not exist
    assert _real_gaps_s(times) == {3600, 5400}


def test_spring_forward_new_york_example() -> None:
    times = next_fire_times(
        "30 2 * * *", "America/New_York", datetime(2026, 3, 7, 23, tzinfo=UTC), 2
    )
    assert [t.isoformat() for t in times] == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]


def test_fall_back_hourly_new_york_fires_twice_at_one_oclock() -> None:
    times = next_fire_times(
        "0 * * * *", "America/New_York", datetime(2026, 11, 1, 3, tzinfo=UTC), 4
    )
    assert [t.isoformat() for t in times] == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


@settings(max_examples=150, deadline=None)
@given(
    minute=st.sampled_from(["*", "*/5", "0", "7,37", "10-20"]),
    hour=st.sampled_from(["*", "*/3", "2", "0,12"]),
    dow=st.sampled_from(["*", "mon-fri", "0"]),
    offset_s=st.integers(min_value=0, max_value=365 * 86400),
)
def test_utc_matches_croniter_and_is_strictly_increasing(
    minute: str, hour: str, dow: str, offset_s: int
) -> None:
    expr = f"{minute} {hour} * * {dow}"
    after = T0 + timedelta(seconds=offset_s)
    ours = next_fire_times(expr, "UTC", after, 5)
    it = croniter(expr, after.replace(tzinfo=None))
    theirs = [it.get_next(datetime).replace(tzinfo=UTC) for _ in range(5)]
    assert ours == theirs
    assert ours[0] > after
    assert all(a < b for a, b in pairwise(ours))


@settings(max_examples=100, deadline=None)
@given(
    tz=st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"]),
    expr=st.sampled_from(["0 * * * *", "30 2 * * *", "*/20 * * * *", "0 1 * * 0"]),
    offset_s=st.integers(min_value=0, max_value=365 * 86400),
)
def test_every_zone_is_strictly_increasing_and_after(tz: str, expr: str, offset_s: int) -> None:
    after = T0 + timedelta(seconds=offset_s)
    times = next_fire_times(expr, tz, after, 6)
    assert times[0] > after
    assert all(a < b for a, b in pairwise(times))


def test_describe_in_words() -> None:
    assert describe("*/15 * * * *") == "Every 15 minutes"
    assert describe("* * * * * */15") == "Every 15 seconds"
    assert "02:00" in describe("0 2 * * mon") and "Monday" in describe("0 2 * * mon")
    assert describe("@daily") == "At 00:00"


def test_normalise_keeps_the_expression_and_flags() -> None:
    spec = normalise("  0   2 * * *  ")
    assert spec.expression == "0 2 * * *" and spec.fixed_time and not spec.has_seconds
    assert normalise("* * * * * */5").has_seconds
    assert normalise("@hourly").fields == "0 * * * *"


@pytest.mark.parametrize(
    ("expr", "fixed"),
    [
        ("0 * * * *", False),
        ("*/15 * * * * *", False),
        ("0 */1 * * *", False),  # every hour, however spelled
        ("0 0-23 * * *", False),
        # Issue 13: a step in the hour field names some hours, like its list spelling (it used
        # to be a rhythm job, and lost Havana's midnight run on 8 March 2026).
        ("0 */6 * * *", True),
        ("0 0,6,12,18 * * *", True),
        ("*/5 9-17 * * *", True),
    ],
)
def test_the_dst_rule_follows_what_the_hour_field_means(expr: str, fixed: bool) -> None:
    assert normalise(expr).fixed_time is fixed


def test_jitter_is_stable_and_within_range() -> None:
    offsets = [jitter_offset_s(f"s{i}", 600) for i in range(2000)]
    assert all(0 <= o < 600 for o in offsets)
    assert offsets == [jitter_offset_s(f"s{i}", 600) for i in range(2000)]
    assert len(set(offsets)) > 400  # spread out, not all in one second
    assert jitter_offset_s("x", 0) == 0


def test_next_fire_epoch_applies_jitter_after_the_cron_time() -> None:
    base = T0.timestamp()
    nxt = next_fire_epoch("0 2 * * *", "UTC", base, jitter_s=125)
    assert nxt == base + 2 * 3600 + 125
    # Asked just after the jittered fire, the next is a day later, also jittered.
    assert next_fire_epoch("0 2 * * *", "UTC", nxt, jitter_s=125) == nxt + 86400


def test_plan_due_runs_everything_within_grace() -> None:
    plan = plan_due("* * * * * *", "UTC", 1000.0, 1004.0, "skip", grace_s=10)
    assert plan.run == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
    assert plan.missed == [] and plan.next_fire == 1005.0


@pytest.mark.parametrize(
    ("policy", "run", "missed"),
    [
        ("skip", [1008.0, 1009.0, 1010.0], [1000.0 + i for i in range(8)]),
        ("run_once", [1008.0, 1009.0, 1010.0], [1000.0 + i for i in range(8)]),
        ("run_all", [1000.0 + i for i in range(11)], []),
    ],
)
def test_plan_due_policies_after_downtime(
    policy: str, run: list[float], missed: list[float]
) -> None:
    plan = plan_due("* * * * * *", "UTC", 1000.0, 1010.0, policy, grace_s=2)
    assert plan.run == run
    assert [m[0] for m in plan.missed] == missed
    assert all("misfire" in reason for _, reason in plan.missed)


def test_run_once_coalesces_when_nothing_is_fresh() -> None:
    # Daily job, beat down for three days: one catch-up run (the latest), two missed.
    day = 86400.0
    plan = plan_due("0 0 * * *", "UTC", 0.0, 2 * day + 3600, "run_once", grace_s=300)
    assert plan.run == [2 * day]
    assert [m[0] for m in plan.missed] == [0.0, day]
    assert plan.next_fire == 3 * day
    skip = plan_due("0 0 * * *", "UTC", 0.0, 2 * day + 3600, "skip", grace_s=300)
    assert skip.run == [] and len(skip.missed) == 3
