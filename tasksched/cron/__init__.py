"""Cron expressions: validation, next fire times, daylight saving, jitter and misfire rules.

Pure: every function takes ``now``/``after`` as an argument. Expressions have 5 fields
(minute hour day-of-month month day-of-week), an optional 6th field for seconds (last, as
croniter reads it: ``* * * * * */15`` is every 15 seconds), or a macro (``@hourly``,
``@daily``, ``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``, ``@annually``).

The engine is croniter 7 (pinned to its major version), used only on naive wall-clock times;
:mod:`tasksched.cron.zone` places them on the real time line. Measured against cronsim (see
``bench/cron.py`` and the commit that chose it): both are far under a millisecond, neither
passes our daylight-saving table by itself, and croniter is the engine every stored schedule was
written for, so keeping it changes no stored meaning.

Daylight saving, one rule for every expression (DESIGN.md section 3), decided by what the
*hour field* means, not how it is spelled:

* **every hour** (``*``, ``*/1``, ``0-23``: hourly, every N minutes or seconds): the schedule
  keeps its rhythm in real time. It fires at every instant whose wall time matches, so a wall
  time repeated by the fall-back fires twice and one skipped by the spring-forward does not.
* **some hours** (``2``, ``*/6``, ``0,6,12,18``, ``9-17``): each matching wall time fires once.
  Repeated by the fall-back: at the first of its two instants. Skipped by the spring-forward:
  at the first instant after the gap (the change of offset itself); several skipped wall times
  make one run there. ``0 */6 * * *`` and ``0 0,6,12,18 * * *`` are therefore the same schedule
  and never lose a run (Havana, 8 March 2026: 18:00, 01:00, 06:00, 12:00).

Offsets are looked up only where they change (:mod:`tasksched.cron.zone`), so the cost of a
fire time does not depend on the zone.
"""

from __future__ import annotations

import hashlib
import threading
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from functools import lru_cache

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from tasksched.cron import zone as cron_zone
from tasksched.errors import CronError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_EXPRESSION_LEN = 256


class RepeatedDst(StrEnum):
    """A schedule's policy for a wall time the fall-back repeats (``duplicate_dst``)."""

    AUTO = "auto"  # the module's rule: every-hour schedules twice, others at the first instant
    FIRST = "first"
    LAST = "last"
    NONE = "none"  # does not fire


class SkippedDst(StrEnum):
    """A schedule's policy for a wall time the spring-forward skips (``missing_dst``)."""

    AUTO = "auto"  # the module's rule: every-hour schedules skip it, others shift
    SHIFT = "shift"  # to the first instant after the gap
    SKIP = "skip"


def dst_policy(duplicate: RepeatedDst | str = "auto", missing: SkippedDst | str = "auto") -> str:
    """The stored form of a DST policy: ``""`` for the rule, else ``duplicate:missing``."""
    d, m = RepeatedDst(duplicate), SkippedDst(missing)
    return "" if d is RepeatedDst.AUTO and m is SkippedDst.AUTO else f"{d.value}:{m.value}"


def _parse_dst(policy: str) -> tuple[RepeatedDst, SkippedDst]:
    if not policy:
        return RepeatedDst.AUTO, SkippedDst.AUTO
    d, _, m = policy.partition(":")
    try:
        return RepeatedDst(d or "auto"), SkippedDst(m or "auto")
    except ValueError:
        raise CronError("dst", f"unknown DST policy {policy!r}") from None


class MisfirePolicy(StrEnum):
    """What to do with fires that were missed by more than the grace period."""

    SKIP = "skip"
    RUN_ONCE = "run_once"
    RUN_ALL = "run_all"


@dataclass(frozen=True)
class CronSpec:
    """A validated, normalised cron expression."""

    expression: str  # as given (stripped)
    fields: str  # macro expanded, single spaces
    has_seconds: bool
    fixed_time: bool  # the hour field leaves out some hours: once per wall time (module docstring)


def normalise(expression: str) -> CronSpec:
    """Validate ``expression`` and return its normalised form; raise CronError if invalid."""
    return _normalise(expression)


@lru_cache(maxsize=4096)
def _normalise(expression: str) -> CronSpec:
    if not isinstance(expression, str):
        raise CronError("cron_expression", "must be a string")
    expr = " ".join(expression.split())
    if not expr:
        raise CronError("cron_expression", "must not be empty")
    if len(expr) > MAX_EXPRESSION_LEN:
        raise CronError("cron_expression", f"longer than {MAX_EXPRESSION_LEN} characters")
    fields = MACROS.get(expr.lower(), expr)
    if fields.startswith("@"):
        raise CronError(
            "cron_expression",
            f"unknown macro {expr!r}; use one of {', '.join(sorted(MACROS))}",
        )
    parts = fields.split(" ")
    if len(parts) not in (5, 6):
        raise CronError(
            "cron_expression",
            f"{expr!r} has {len(parts)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week) or 6 (with seconds last)",
        )
    try:
        croniter(fields, datetime(2000, 1, 1))
        croniter.expand(fields)
    except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError) as exc:
        raise CronError("cron_expression", f"invalid cron expression {expr!r}: {exc}") from None
    # By meaning, not spelling: ``*/1`` and ``0-23`` are every hour, ``*/6`` is four hours.
    hours = croniter.expand(fields)[0][1]
    fixed = not (hours == ["*"] or len(set(hours)) == 24)
    try:
        # An expression that can never fire (e.g. 30 February) is an error, not a silent no-op.
        croniter(fields, datetime(2000, 1, 1), max_years_between_matches=8).get_next(datetime)
    except (CroniterBadDateError, StopIteration):
        raise CronError("cron_expression", f"{expr!r} never fires") from None
    return CronSpec(expr, fields, len(parts) == 6, fixed)


@lru_cache(maxsize=1024)
def get_timezone(name: str) -> tzinfo:
    """Return the IANA timezone ``name``; raise CronError (field ``timezone``) if unknown."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise CronError("timezone", f"unknown timezone {name!r}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError("timezone", f"unknown IANA timezone {name!r}") from None


def describe(expression: str) -> str:
    """A human-readable description of a cron expression, e.g. 'Every 15 minutes'."""
    from cron_descriptor import Options, get_description

    spec = normalise(expression)
    fields = spec.fields
    if spec.has_seconds:
        # cron-descriptor reads seconds first (Quartz order); croniter reads them last.
        parts = fields.split(" ")
        fields = " ".join([parts[5], *parts[:5]])
    opts = Options()
    opts.use_24hour_time_format = True
    return str(get_description(fields, opts))


_local = threading.local()
_ENGINES_PER_THREAD = 1024


def _wall_matcher(fields: str) -> cron_zone.WallNext:
    """The engine's next wall time after a naive one, reusing a parsed iterator per thread.

    Parsing is most of croniter's cost (e.g. 260 of 290 us for ``*/5 * * * *``); an iterator is
    mutable, so each thread (API request threads, beat) keeps its own.
    """
    engines: dict[str, croniter] | None = getattr(_local, "engines", None)
    if engines is None:
        engines = _local.engines = {}
    it = engines.get(fields)
    if it is None:
        if len(engines) >= _ENGINES_PER_THREAD:
            engines.clear()
        it = engines[fields] = croniter(fields, datetime(2000, 1, 1))
    engine = it

    def after(w: datetime) -> datetime:
        engine.set_current(w, force=True)
        nxt: datetime = engine.get_next(datetime)
        return nxt

    return after


def _next_epoch(spec: CronSpec, tz: tzinfo, after_s: int, dst: str = "") -> int:
    """The first fire time strictly after the whole second ``after_s``.

    ``dst`` is a schedule's explicit policy (:func:`dst_policy`); ``""`` is the module's rule.
    """
    match = _wall_matcher(spec.fields)
    repeated, skipped = _parse_dst(dst)
    if repeated is RepeatedDst.AUTO and skipped is SkippedDst.AUTO:
        if spec.fixed_time:
            return cron_zone.next_once_per_wall_time(match, tz, after_s)
        return cron_zone.next_every_instant(match, tz, after_s)
    # An explicit policy: each wall time fires at most once; the side not set is first/shift.
    if repeated is RepeatedDst.AUTO:
        repeated = RepeatedDst.FIRST
    if skipped is SkippedDst.AUTO:
        skipped = SkippedDst.SHIFT
    if repeated is RepeatedDst.FIRST and skipped is SkippedDst.SHIFT:
        return cron_zone.next_once_per_wall_time(match, tz, after_s)
    return cron_zone.next_by_policy(match, tz, after_s, repeated.value, skipped.value)


def _floor_s(epoch: float) -> int:
    # Fire times are whole seconds: "strictly after 10.5" is "strictly after 10".
    return int(epoch // 1)


def iter_fire_times(
    expression: str, timezone: str, after: datetime, dst: str = ""
) -> Iterator[datetime]:
    """Yield fire times strictly after the aware ``after``, in order, in ``timezone``.

    ``dst``: an explicit DST policy (:func:`dst_policy`); ``""`` is the module's rule.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise CronError("after", "must be a timezone-aware datetime")
    spec = normalise(expression)
    tz = get_timezone(timezone)
    t = _floor_s(after.timestamp())
    _parse_dst(dst)  # a bad policy is an error before the first fire time is asked for
    while True:
        t = _next_epoch(spec, tz, t, dst)
        yield datetime.fromtimestamp(t, tz)


def next_fire_times(
    cron_expression: str, timezone: str, after: datetime, count: int = 1, dst: str = ""
) -> list[datetime]:
    """The next ``count`` fire times strictly after the aware ``after``.

    Returned as aware datetimes in ``timezone``; correct on daylight-saving days (module
    docstring). Raises :class:`~tasksched.errors.CronError` for a bad expression or timezone.
    """
    if count < 0 or count > 10_000:
        raise CronError("count", "must be between 0 and 10000")
    out: list[datetime] = []
    if count == 0:
        normalise(cron_expression)
        get_timezone(timezone)
        _parse_dst(dst)
        return out
    for t in iter_fire_times(cron_expression, timezone, after, dst):
        out.append(t)
        if len(out) >= count:
            break
    return out


def jitter_offset_s(schedule_id: str, jitter_s: float) -> float:
    """A stable offset in ``[0, jitter_s)`` seconds for ``schedule_id`` (whole seconds)."""
    if jitter_s <= 0:
        return 0.0
    digest = hashlib.blake2b(schedule_id.encode(), digest_size=8).digest()
    whole = max(int(jitter_s), 1)
    return float(int.from_bytes(digest, "big") % whole)


@lru_cache(maxsize=65536)
def _next_epoch_cached(expression: str, timezone: str, after_epoch: float, dst: str) -> float:
    spec = normalise(expression)
    return float(_next_epoch(spec, get_timezone(timezone), _floor_s(after_epoch), dst))


def next_fire_epoch(
    expression: str, timezone: str, after_epoch: float, jitter_s: float = 0.0, dst: str = ""
) -> float:
    """Next fire time (epoch seconds, jitter applied) strictly after ``after_epoch``.

    With jitter the cron time ``c`` fires at ``c + offset``; the cron time of a fire is
    ``fire - offset``. ``dst`` is the schedule's explicit DST policy (:func:`dst_policy`; ``""``:
    the module's rule). Cached: many schedules share a cron.
    """
    after = float(after_epoch) - jitter_s
    return _next_epoch_cached(expression, timezone, after, dst) + jitter_s


@dataclass(frozen=True)
class MisfirePlan:
    """What to do with the fire times that have come due (epoch seconds, oldest first)."""

    run: list[float]
    missed: list[tuple[float, str]]  # (fire time, reason)
    next_fire: float


def plan_due(
    expression: str,
    timezone: str,
    due_fire: float,
    now: float,
    policy: MisfirePolicy | str,
    grace_s: float,
    jitter_s: float = 0.0,
    max_fires: int = 1000,
    dst: str = "",
) -> MisfirePlan:
    """Decide, at ``now``, what to do with the fires from ``due_fire`` up to ``now``.

    Fires at most ``grace_s`` late always run (so a leader failover within the grace loses
    nothing). Older ones follow ``policy``: ``skip`` records them missed; ``run_once`` runs the
    latest of them and records the rest missed (coalesce); ``run_all`` runs each. At most
    ``max_fires`` fire times are examined per call; the rest are left due for the next call.
    """
    policy = MisfirePolicy(policy)
    fires: list[float] = []
    t = due_fire
    while t <= now and len(fires) < max_fires:
        fires.append(t)
        t = next_fire_epoch(expression, timezone, t, jitter_s, dst)
    next_fire = t
    # Fires beyond max_fires are still due: a later call sees them (and the coalesced run).
    truncated = next_fire <= now
    late = [f for f in fires if now - f > grace_s]
    on_time = [f for f in fires if now - f <= grace_s]
    missed: list[tuple[float, str]] = []
    run: list[float] = []
    if late:
        if policy is MisfirePolicy.RUN_ALL:
            run.extend(late)
        elif policy is MisfirePolicy.RUN_ONCE:
            if on_time or truncated:  # a fresher fire runs anyway: that is the one catch-up run
                missed.extend((f, "misfire: coalesced into a later run") for f in late)
            else:
                run.append(late[-1])
                missed.extend((f, "misfire: coalesced into a later run") for f in late[:-1])
        else:
            missed.extend(
                (f, f"misfire: {now - f:.0f}s late, over the {grace_s:.0f}s grace; skipped")
                for f in late
            )
    run.extend(on_time)
    return MisfirePlan(run=run, missed=missed, next_fire=next_fire)
