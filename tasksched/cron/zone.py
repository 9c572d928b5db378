"""Daylight saving for cron: where a zone's UTC offset changes, and where wall times land.

The cron engine only ever sees naive wall-clock times; this module places them on the real time
line of an IANA zone (instants are whole UTC epoch seconds). Its cost does not depend on the
zone: away from a change of offset (that is, almost always) a fire time costs one engine call and
one offset lookup. See :mod:`tasksched.cron` for the rule itself.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import NamedTuple

# A wall-clock matcher: the first naive wall time strictly after the given one.
WallNext = Callable[[datetime], datetime]

_EPOCH = datetime(1970, 1, 1)
# Offsets are sampled this far apart and each change found by bisection. No IANA zone changes
# its offset twice within 6 hours; a change that is undone within one sample would be missed.
_SAMPLE_S = 6 * 3600
# A stretch without any change of offset is walked in steps of this size (zones without DST).
_FAR_S = 366 * 86400
_MAX_STRETCHES = 64  # a schedule firing at least once in ~30 years crosses fewer changes


class Transition(NamedTuple):
    """A change of UTC offset: from ``at`` on, the offset is ``after`` (seconds east of UTC)."""

    at: int
    before: int
    after: int


def wall(epoch_s: int) -> datetime:
    """The naive datetime whose digits are ``epoch_s`` read as UTC (a wall time as a number)."""
    return _EPOCH + timedelta(seconds=epoch_s)


def wall_s(w: datetime) -> int:
    """Inverse of :func:`wall`: a naive wall time as seconds since 1970-01-01 00:00."""
    return (w - _EPOCH) // timedelta(seconds=1)


def offset_at(tz: tzinfo, t: int) -> int:
    """The UTC offset of ``tz`` at instant ``t`` (seconds)."""
    off = datetime.fromtimestamp(t, tz).utcoffset()
    return 0 if off is None else off // timedelta(seconds=1)


def _year_start(year: int) -> int:
    return wall_s(datetime(year, 1, 1))


@lru_cache(maxsize=4096)
def year_transitions(tz: tzinfo, year: int) -> tuple[Transition, ...]:
    """Every change of offset of ``tz`` at an instant in (start of ``year``, start of next] UTC.

    A change at 1 January 00:00 UTC is therefore listed in the year before.
    """
    # zoneinfo keeps its transition table private; sampling its public utcoffset() is about
    # 1,500 calls per zone and year (~1 ms), once, and works for every tzinfo.
    start, end = _year_start(year), _year_start(year + 1)
    out: list[Transition] = []
    t, off = start, offset_at(tz, start)
    while t < end:
        n = min(t + _SAMPLE_S, end)
        o = offset_at(tz, n)
        if o != off:
            lo, hi = t, n  # offset(lo) == off, offset(hi) == o
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset_at(tz, mid) == off:
                    lo = mid
                else:
                    hi = mid
            out.append(Transition(hi, off, o))
        t, off = n, o
    return tuple(out)


def _year_of(t: int) -> int:
    return wall(t).year


def next_transition(tz: tzinfo, t: int) -> Transition | None:
    """The first change of offset strictly after ``t``, looking at most a year or two ahead."""
    y = _year_of(t)
    for year in (y, y + 1):
        trs = year_transitions(tz, year)
        i = bisect_right([tr.at for tr in trs], t)
        if i < len(trs):
            return trs[i]
    return None


def last_transition(tz: tzinfo, t: int) -> Transition | None:
    """The last change of offset at or before ``t``, looking at most a year or two back."""
    y = _year_of(t)
    for year in (y, y - 1, y - 2):
        trs = year_transitions(tz, year)
        i = bisect_right([tr.at for tr in trs], t)
        if i > 0:
            return trs[i - 1]
    return None


def next_every_instant(match: WallNext, tz: tzinfo, after: int) -> int:
    """The first instant after ``after`` whose wall time in ``tz`` matches (*rhythm* rule).

    Each stretch of constant offset is a plain shift of the wall clock, so within it the engine's
    next wall time minus the offset is the answer; only when that falls past the stretch's end do
    we go on in the next stretch. A wall time repeated by a fall-back therefore matches twice, and
    one skipped by a spring-forward not at all: the schedule keeps its rhythm in real time.
    """
    start, probe, off = after, after, offset_at(tz, after)
    for _ in range(_MAX_STRETCHES):
        tr = next_transition(tz, probe)
        end = tr.at if tr is not None else probe + _FAR_S
        candidate = wall_s(match(wall(start + off))) - off
        if candidate < end:
            return candidate
        start, probe = end - 1, end
        off = tr.after if tr is not None else offset_at(tz, end)
    raise ValueError("no fire time within the search horizon")


def next_once_per_wall_time(match: WallNext, tz: tzinfo, after: int) -> int:
    """The first fire after ``after`` when each matching wall time fires once (*fixed* rule).

    A wall time that happens once fires then; one repeated by a fall-back fires at the first of
    its two instants; one skipped by a spring-forward fires at the first instant after the gap
    (the change itself), together with every other skipped one: one run, not one per wall time.
    """
    local = datetime.fromtimestamp(after, tz)
    from_wall = wall_s(local.replace(tzinfo=None))
    if local.fold:
        # ``after`` is in the second pass of a repeated stretch: every wall time of the stretch
        # had its run in the first pass, so the search goes on from the stretch's last second.
        tr = last_transition(tz, after)
        if tr is not None and tr.before > tr.after:
            from_wall = tr.at + tr.before - 1
    w = wall_s(match(wall(from_wall)))
    return _first_instant(tz, w)


def _first_instant(tz: tzinfo, w: int) -> int:
    """The first instant at or after wall time ``w`` (seconds) in ``tz``."""
    naive = wall(w)
    off0 = naive.replace(tzinfo=tz, fold=0).utcoffset()
    off1 = naive.replace(tzinfo=tz, fold=1).utcoffset()
    if off0 == off1 or off0 is None or off1 is None:
        return w - (0 if off0 is None else off0 // timedelta(seconds=1))
    a, b = w - off0 // timedelta(seconds=1), w - off1 // timedelta(seconds=1)
    first = min(a, b)
    if datetime.fromtimestamp(first, tz).replace(tzinfo=None) == naive:
        return first  # repeated: the first of its two instants
    tr = next_transition(tz, first)  # skipped: the gap ends at the change of offset
    return tr.at if tr is not None else max(a, b)


def next_by_policy(match: WallNext, tz: tzinfo, after: int, repeated: str, skipped: str) -> int:
    """The first fire after ``after`` under an explicit policy for changed wall times.

    ``repeated`` (a wall time the fall-back makes happen twice): ``first`` or ``last`` of its
    two instants, or ``none`` (it does not fire). ``skipped`` (a wall time the spring-forward
    jumps over): ``shift`` to the first instant after the gap (several make one run), or
    ``skip``. Each matching wall time fires at most once, so fire times follow wall times in
    order and a whole repeated or skipped stretch is passed over in one step.
    """
    local = datetime.fromtimestamp(after, tz)
    from_wall = wall_s(local.replace(tzinfo=None))
    stretch = _repeated_stretch(tz, after, local.fold)
    if stretch is not None:
        start_wall, end_wall, second_pass = stretch
        if repeated == "none" or (repeated == "first" and second_pass):
            from_wall = end_wall - 1  # nothing of the stretch is left to fire
        elif repeated == "last" and not second_pass:
            from_wall = start_wall - 1  # every wall time of it fires in the second pass, later
    for _ in range(_MAX_STRETCHES):
        w = wall_s(match(wall(from_wall)))
        kind, first, second, tr = _classify(tz, w)
        if kind == "once":
            return first
        if kind == "repeated":
            if repeated == "first":
                return first
            if repeated == "last":
                return second
            from_wall = tr.at + tr.before - 1 if tr else w  # "none": past the stretch
            continue
        if skipped == "shift":
            return first
        from_wall = tr.at + tr.after - 1 if tr else w  # "skip": past the gap
    raise ValueError("no fire time within the search horizon")


def _repeated_stretch(tz: tzinfo, t: int, fold: int) -> tuple[int, int, bool] | None:
    """(first wall second, end wall second, in its second pass) if ``t`` is in a repeated one."""
    tr = last_transition(tz, t) if fold else next_transition(tz, t)
    if tr is None or tr.before <= tr.after:
        return None
    start_wall, end_wall = tr.at + tr.after, tr.at + tr.before
    if fold:
        return start_wall, end_wall, True
    if start_wall <= t + offset_at(tz, t) < end_wall and tr.at > t:
        return start_wall, end_wall, False
    return None


def _classify(tz: tzinfo, w: int) -> tuple[str, int, int, Transition | None]:
    """``once`` (its instant), ``repeated`` (both instants) or ``skipped`` (the gap's end)."""
    naive = wall(w)
    off0 = naive.replace(tzinfo=tz, fold=0).utcoffset()
    off1 = naive.replace(tzinfo=tz, fold=1).utcoffset()
    if off0 is None or off1 is None or off0 == off1:
        t = w - (0 if off0 is None else off0 // timedelta(seconds=1))
        return "once", t, t, None
    a, b = sorted((w - off0 // timedelta(seconds=1), w - off1 // timedelta(seconds=1)))
    tr = next_transition(tz, a)
    if datetime.fromtimestamp(a, tz).replace(tzinfo=None) == naive:
        return "repeated", a, b, tr
    end = tr.at if tr is not None else b
    return "skipped", end, end, tr
