"""The daylight-saving rule as a table across seven zones, checked against a brute-force oracle.

Rule (tasksched.cron): an hour field covering every hour keeps its rhythm in real time; any other
hour field fires once per matching wall time, at the first instant at or after it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from tasksched.cron import next_fire_epoch, next_fire_times, normalise


def _local(tz: str, s: str) -> datetime:
    """An ISO local time with its offset, e.g. '2026-03-08T03:00-04:00', as a time in tz.

    (Compared as ISO text: Python never finds an aware time in a repeated hour equal to one in
    another tzinfo.)
    """
    d = datetime.fromisoformat(s).astimezone(ZoneInfo(tz))
    assert d.isoformat()[-6:] == s[-6:], s  # the offset written is the zone's at that instant
    return d


# zone, spring-forward day, a wall time in its gap (m h), where that fires,
#       fall-back day, a wall time it repeats (m h), where that fires (the first of the two)
ZONES = [
    ("America/New_York", date(2026, 3, 8), "30 2", "2026-03-08T03:00-04:00",
     date(2026, 11, 1), "30 1", "2026-11-01T01:30-04:00"),
    ("Europe/London", date(2026, 3, 29), "30 1", "2026-03-29T02:00+01:00",
     date(2026, 10, 25), "30 1", "2026-10-25T01:30+01:00"),
    ("Europe/Berlin", date(2026, 3, 29), "30 2", "2026-03-29T03:00+02:00",
     date(2026, 10, 25), "30 2", "2026-10-25T02:30+02:00"),
    ("Australia/Sydney", date(2026, 10, 4), "30 2", "2026-10-04T03:00+11:00",
     date(2026, 4, 5), "30 2", "2026-04-05T02:30+11:00"),
    # Midnight transitions: 00:00 -> 01:00 in March, 01:00 -> 00:00 in November.
    ("America/Havana", date(2026, 3, 8), "30 0", "2026-03-08T01:00-04:00",
     date(2026, 11, 1), "30 0", "2026-11-01T00:30-04:00"),
    # A 30-minute shift: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April.
    ("Australia/Lord_Howe", date(2026, 10, 4), "15 2", "2026-10-04T02:30+11:00",
     date(2026, 4, 5), "45 1", "2026-04-05T01:45+11:00"),
    # No daylight saving: the same wall times are plain.
    ("Asia/Tokyo", date(2026, 3, 8), "30 2", "2026-03-08T02:30+09:00",
     date(2026, 11, 1), "30 1", "2026-11-01T01:30+09:00"),
]
IDS = [z[0] for z in ZONES]


def _day_window(tz: str, day: date, margin_h: int = 3) -> tuple[datetime, datetime]:
    z = ZoneInfo(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=z)
    end = start + timedelta(days=1)  # aware arithmetic: the next local midnight's wall time
    # In UTC: arithmetic on aware times of one zone is wall-clock arithmetic.
    margin = timedelta(hours=margin_h)
    return start.astimezone(UTC) - margin, end.astimezone(UTC) + margin


def _fires_between(expr: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    t = start.timestamp()
    while True:
        t = next_fire_epoch(expr, tz, t)
        if t >= end.timestamp():
            return out
        out.append(datetime.fromtimestamp(t, ZoneInfo(tz)))


def _fires_on(expr: str, tz: str, day: date) -> list[datetime]:
    start, end = _day_window(tz, day)
    return [t for t in _fires_between(expr, tz, start, end) if t.date() == day]


@pytest.mark.parametrize("zone", ZONES, ids=IDS)
def test_a_wall_time_in_the_gap_runs_once_at_the_first_instant_after_it(zone: tuple) -> None:
    tz, spring, gap, expected, *_ = zone
    fires = _fires_on(f"{gap} * * *", tz, spring)
    assert [t.isoformat() for t in fires] == [_local(tz, expected).isoformat()]


@pytest.mark.parametrize("zone", ZONES, ids=IDS)
def test_a_repeated_wall_time_runs_once_at_the_first_of_its_instants(zone: tuple) -> None:
    tz, *_, fall, repeated, expected = zone
    fires = _fires_on(f"{repeated} * * *", tz, fall)
    assert [t.isoformat() for t in fires] == [_local(tz, expected).isoformat()]
    assert fires[0].fold == 0


@pytest.mark.parametrize("zone", ZONES, ids=IDS)
def test_a_fixed_time_away_from_the_change_runs_once_on_both_days(zone: tuple) -> None:
    tz, spring, *_, fall, _, _ = zone
    for day in (spring, fall):
        assert [t.hour for t in _fires_on("0 12 * * *", tz, day)] == [12]
        assert len(_fires_on("0 0 * * *", tz, day)) == 1  # midnight, even where it is skipped


RHYTHMS = [("0 * * * *", 3600), ("*/15 * * * *", 900), ("* * * * *", 60),
           ("* * * * * */15", 15), ("* * * * * *", 1)]
RHYTHM_CASES = [
    (zone, expr, step)
    for zone in ZONES
    for expr, step in RHYTHMS
    # A 30-minute shift: minute 0 of each wall hour cannot be an hour apart (tested below).
    if not (zone[0] == "Australia/Lord_Howe" and step == 3600)
]


@pytest.mark.parametrize(
    ("zone", "expr", "step_s"), RHYTHM_CASES, ids=[f"{z[0]}-{e}" for z, e, _ in RHYTHM_CASES]
)
def test_hourly_minutely_and_secondly_keep_their_rhythm_in_real_time(
    zone: tuple, expr: str, step_s: int
) -> None:
    tz, _, _, spring_at, _, _, fall_at = zone
    for at in (spring_at, fall_at):
        centre = _local(tz, at).astimezone(UTC)  # UTC: aware arithmetic in tz is wall-clock
        span = timedelta(seconds=min(step_s * 40, 3 * 3600))
        fires = _fires_between(expr, tz, centre - span, centre + span)
        gaps = {int(b.timestamp() - a.timestamp()) for a, b in pairwise(fires)}
        assert gaps == {step_s}, (tz, at, sorted(gaps))


@pytest.mark.parametrize("zone", ZONES, ids=IDS)
@pytest.mark.parametrize(
    ("stepped", "listed"),
    [("0 */6 * * *", "0 0,6,12,18 * * *"), ("30 */2 * * *", "30 0-22/2 * * *"),
     ("0 1/4 * * *", "0 1,5,9,13,17,21 * * *")],
)
def test_hour_steps_and_their_list_spelling_are_one_schedule_that_loses_no_run(
    zone: tuple, stepped: str, listed: str
) -> None:
    tz, spring, *_, fall, _, _ = zone
    per_day = len(normalise(listed).fields.split(" ")[1].split(","))
    if "-" in listed:
        per_day = 12
    for day in (spring, fall):
        start, end = _day_window(tz, day, margin_h=24)
        a, b = _fires_between(stepped, tz, start, end), _fires_between(listed, tz, start, end)
        assert a == b
        assert len([t for t in a if t.date() == day]) == per_day, (tz, day)
        longest = max(y.timestamp() - x.timestamp() for x, y in pairwise(a))
        assert longest <= 24 / per_day * 3600 + 3600, (tz, day, longest)


def test_havana_every_six_hours_keeps_its_midnight_run_at_one() -> None:
    tz = "America/Havana"
    fires = next_fire_times("0 */6 * * *", tz, datetime(2026, 3, 7, 17, tzinfo=ZoneInfo(tz)), 5)
    assert [t.isoformat() for t in fires] == [
        "2026-03-07T18:00:00-05:00",
        "2026-03-08T01:00:00-04:00",  # 00:00 does not exist: the first instant after the gap
        "2026-03-08T06:00:00-04:00",
        "2026-03-08T12:00:00-04:00",
        "2026-03-08T18:00:00-04:00",
    ]


def test_lord_howe_hourly_fires_once_per_existing_wall_hour() -> None:
    tz = "Australia/Lord_Howe"
    fires = next_fire_times("0 * * * *", tz, datetime(2026, 10, 3, 22, tzinfo=ZoneInfo(tz)), 6)
    assert [t.strftime("%H:%M%z") for t in fires] == [
        "23:00+1030", "00:00+1030", "01:00+1030", "03:00+1100", "04:00+1100", "05:00+1100",
    ]


def test_skipped_wall_times_of_one_schedule_make_one_run() -> None:
    # 02:00, 02:20 and 02:40 do not exist in New York on 8 March 2026: one run at 03:00.
    fires = next_fire_times(
        "*/20 2 * * *", "America/New_York", datetime(2026, 3, 8, 5, tzinfo=UTC), 2
    )
    assert [t.isoformat() for t in fires] == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:00:00-04:00",
    ]


def test_after_inside_the_second_pass_does_not_run_the_hour_again() -> None:
    tz = ZoneInfo("America/New_York")
    second_pass = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, the repeated hour
    assert second_pass.astimezone(tz).fold == 1
    (nxt,) = next_fire_times("*/15 1 * * *", "America/New_York", second_pass, 1)
    assert nxt.isoformat() == "2026-11-02T01:00:00-05:00"
    (rhythm,) = next_fire_times("*/15 * * * *", "America/New_York", second_pass, 1)
    assert rhythm.isoformat() == "2026-11-01T01:15:00-05:00"


# --- a brute-force oracle: every UTC minute of a window, its wall time matched field by field --

def _matcher(expr: str):  # type: ignore[no-untyped-def]
    fields = croniter.expand(expr)[0]
    sets = [None if f == ["*"] else {int(v) % 7 if i == 4 else int(v) for v in f}
            for i, f in enumerate(fields[:5])]

    def match(w: datetime) -> bool:
        vals = (w.minute, w.hour, w.day, w.month, w.isoweekday() % 7)
        return all(s is None or v in s for s, v in zip(sets, vals, strict=True))

    return match


def _oracle(expr: str, tz: str, start: datetime, end: datetime) -> list[int]:
    z = ZoneInfo(tz)
    match = _matcher(expr)
    minute = timedelta(minutes=1)
    t0 = int(start.timestamp()) // 60 * 60 + 60
    minutes = range(t0, int(end.timestamp()), 60)
    walls = [datetime.fromtimestamp(t, z).replace(tzinfo=None) for t in minutes]
    if not normalise(expr).fixed_time:  # every instant whose wall time matches
        return [t for t, w in zip(minutes, walls, strict=True) if match(w)]
    # Once per matching wall time W, at the first instant whose wall time is at or after W:
    # each instant takes the wall times from the latest one seen so far up to its own.
    out: list[int] = []
    latest = datetime.fromtimestamp(t0 - 60, z).replace(tzinfo=None)
    for t, w in zip(minutes, walls, strict=True):
        if w > latest:
            covered = (latest + minute * k for k in range(1, (w - latest) // minute + 1))
            if any(match(c) for c in covered):
                out.append(t)
            latest = w
    return out


ORACLE_EXPRS = ["0 * * * *", "30 * * * *", "*/15 * * * *", "*/7 * * * *", "45 * * * 0",
                "30 2 * * *", "0 */6 * * *", "*/15 1-3 * * *", "0 0 * * *", "59 23 * * *",
                "15 2 * * *", "45 1 * * *", "0 9-17/2 * * *", "*/10 0,1,2 * * *"]


@pytest.mark.parametrize("zone", ZONES, ids=IDS)
@pytest.mark.parametrize("expr", ORACLE_EXPRS)
def test_fire_times_match_the_brute_force_oracle(zone: tuple, expr: str) -> None:
    tz, spring, *_, fall, _, _ = zone
    for day in (spring, fall):
        start, end = _day_window(tz, day)
        ours = [int(t.timestamp()) for t in _fires_between(expr, tz, start, end)]
        assert ours == _oracle(expr, tz, start, end), (tz, day)


@settings(max_examples=200, deadline=None)
@given(
    # The table's zones and some odd ones: Ramadan breaks (Casablanca), a 2-hour shift (Troll),
    # a 45-minute offset (Chatham), a half-hour offset (St John's), "negative" DST (Dublin).
    zone=st.sampled_from([z[0] for z in ZONES] + ["Africa/Casablanca", "Antarctica/Troll",
                         "Pacific/Chatham", "America/St_Johns", "Europe/Dublin"]),
    expr=st.sampled_from(ORACLE_EXPRS),
    offset_s=st.integers(min_value=0, max_value=365 * 86400),
)
def test_any_day_of_the_year_matches_the_oracle(zone: str, expr: str, offset_s: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=offset_s)
    end = start + timedelta(hours=6)
    ours = [int(t.timestamp()) for t in _fires_between(expr, zone, start, end)]
    assert ours == _oracle(expr, zone, start, end)


@pytest.mark.parametrize(
    "zone", ["Africa/Casablanca", "Antarctica/Troll", "Pacific/Chatham", "Europe/Dublin"]
)
@pytest.mark.parametrize("expr", ORACLE_EXPRS)
def test_odd_zones_match_the_oracle_around_each_change(zone: str, expr: str) -> None:
    from tasksched.cron import get_timezone
    from tasksched.cron.zone import year_transitions

    changes = [tr.at for tr in year_transitions(get_timezone(zone), 2026)]
    assert changes, zone
    for at in changes:
        start = datetime.fromtimestamp(at - 4 * 3600, UTC)
        end = start + timedelta(hours=8)
        ours = [int(t.timestamp()) for t in _fires_between(expr, zone, start, end)]
        assert ours == _oracle(expr, zone, start, end), (zone, at)


def test_a_skipped_day_runs_a_daily_time_at_the_first_instant_after_it() -> None:
    # Samoa skipped 30 December 2011 (UTC-10 -> UTC+14 at midnight).
    fires = next_fire_times("0 12 * * *", "Pacific/Apia", datetime(2011, 12, 28, tzinfo=UTC), 3)
    assert [t.isoformat() for t in fires] == [
        "2011-12-28T12:00:00-10:00",
        "2011-12-29T12:00:00-10:00",
        "2011-12-31T00:00:00+14:00",  # the 30th's 12:00 never happened
    ]
