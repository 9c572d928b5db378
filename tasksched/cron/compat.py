"""Cron forms whose meaning depends on the library, and readings that show a change of meaning.

Two tools against a silent change of what a stored schedule does when the cron library changes:

* :func:`refuse_ambiguous` (create, update, preview): a bare ``value/step`` such as ``59/15`` or
  ``6/1``, and a one-value range with a step at the top of its field such as ``59-59/15``, are
  read differently by different libraries and versions; they are refused with what to write.
* :func:`read` records, when a schedule is written, the engine's name and version and the first
  fire times after fixed reference instants; :func:`meaning_changes` compares stored schedules
  with the engine running now and lists each one whose fire times differ, or, for schedules
  written before readings were recorded, that uses a form whose meaning changed (croniter 6 read
  ``59/15`` as ``*/15``; croniter 7 reads it as ``59``). Pure: the caller supplies the schedules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import version
from typing import Any

from tasksched.cron import next_fire_epoch, normalise
from tasksched.errors import CronError

# croniter's field order: seconds, when present, come last.
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
    ("second", 0, 59),
)
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_STEP = re.compile(r"^([0-9a-z]+)/(\d+)$")
_RANGE_STEP = re.compile(r"^([0-9a-z]+)-([0-9a-z]+)/(\d+)$")


@dataclass(frozen=True)
class AmbiguousTerm:
    """One term of a cron field that libraries read differently, with croniter's readings."""

    field: str  # "minute", "day-of-week", ...
    term: str  # as written, e.g. "59/15"
    croniter6: str  # the same values spelled plainly, as croniter 6 read the term
    croniter7: str  # as croniter 7 (the engine now) reads it
    advice: str  # what to write instead

    @property
    def changed(self) -> bool:
        """Whether croniter 6 and croniter 7 read the term differently."""
        return self.croniter6 != self.croniter7

    def message(self) -> str:
        """The refusal: what the term means where, and what to write instead."""
        if self.changed:
            return (
                f"{self.term!r} in the {self.field} field means different things in different "
                f"cron library versions: croniter 6 read it as {self.croniter6!r} "
                f"({_say(self.field, self.croniter6)}), croniter 7 reads it as "
                f"{self.croniter7!r} ({_say(self.field, self.croniter7)}); {self.advice}"
            )
        return (
            f"{self.term!r} in the {self.field} field is read differently by cron libraries "
            f"(croniter reads it as {self.croniter7!r}: {_say(self.field, self.croniter7)}); "
            f"{self.advice}"
        )


def _number(field_index: int, token: str) -> int | None:
    if token.isdigit():
        return int(token)
    names = _MONTHS if field_index == 3 else _DAYS if field_index == 4 else None
    if names and token in names:
        return names.index(token) + (1 if field_index == 3 else 0)
    return None


def _every(step: int) -> str:
    return "*" if step == 1 else f"*/{step}"


def _values(field: str, plain: str) -> list[int]:
    i = next(k for k, f in enumerate(_FIELDS) if f[0] == field)
    _, lo, hi = _FIELDS[i]
    if plain.startswith("*"):
        step = int(plain[2:]) if "/" in plain else 1
        return list(range(lo, hi + 1, step))
    if "/" in plain:
        rng, step_s = plain.split("/")
        a, b = (int(x) for x in rng.split("-"))
        return list(range(a, b + 1, int(step_s)))
    return [int(plain)]


def _say(field: str, plain: str) -> str:
    vals = _values(field, plain)
    if field == "day-of-week":
        names = [_DAY_NAMES[v % 7] for v in vals]
        if len(set(names)) == 7:
            return "every day"
        return f"{names[0]} only" if len(names) == 1 else ", ".join(names)
    words = {"day-of-month": "days", "month": "months"}.get(field, field + "s")
    if len(vals) == 1:
        return f"{words[:-1]} {vals[0]} only"
    shown = ", ".join(str(v) for v in vals[:8]) + (", ..." if len(vals) > 8 else "")
    return f"{words} {shown}"


def ambiguous_terms(expression: str) -> list[AmbiguousTerm]:
    """The terms of ``expression`` (already valid) that cron libraries read differently."""
    fields = normalise(expression).fields.lower().split(" ")
    out: list[AmbiguousTerm] = []
    for i, text in enumerate(fields):
        name, _lo, hi = _FIELDS[i]
        for term in text.split(","):
            found = _ambiguous(i, name, hi, term)
            if found is not None:
                out.append(found)
    return out


def _ambiguous(i: int, name: str, hi: int, term: str) -> AmbiguousTerm | None:
    m = _STEP.match(term)
    if m:
        v, step = _number(i, m.group(1)), int(m.group(2))
        if v is None:
            return None
        if v >= hi:
            # croniter 6 read a start at the top of the field as "every step from the bottom";
            # croniter 7 reads it as that one value (and day-of-week 7, Sunday, still as every).
            old = _every(step)
            new = str(v) if v == hi else old
            plain = {old, new, str(v % 7) if i == 4 else str(v)}
            return AmbiguousTerm(
                name, term, old, new, "write " + " or ".join(repr(p) for p in sorted(plain))
            )
        plain_range = f"{v}-{hi}/{step}"
        return AmbiguousTerm(
            name, term, plain_range, plain_range, f"write {plain_range!r}, which means the same"
        )
    m = _RANGE_STEP.match(term)
    if m:
        a, b, step = _number(i, m.group(1)), _number(i, m.group(2)), int(m.group(3))
        if a is not None and a == b and a >= hi:
            # croniter reads a one-value range at the top of the field as the whole field.
            every = _every(step)
            single = str(a % 7) if i == 4 else str(a)
            return AmbiguousTerm(name, term, every, every, f"write {every!r} or {single!r}")
    return None


def refuse_ambiguous(expression: str) -> str:
    """The normalised ``expression``, or CronError (``cron_expression``) saying what to write."""
    spec = normalise(expression)
    terms = ambiguous_terms(spec.expression)
    if terms:
        raise CronError("cron_expression", "; ".join(t.message() for t in terms))
    return spec.expression


# Fire times are read in UTC (a tz database update is not a change of the cron library) after
# instants chosen to exercise each field: a Thursday new year, a month's end just before a
# minute, a Sunday mid-year mid-minute, and the day before a leap day.
REFERENCES = tuple(
    int(datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp())
    for s in (
        "2026-01-01T00:00:00",
        "2026-02-28T23:58:30",
        "2026-06-14T11:29:45",
        "2028-02-28T12:00:00",
    )
)
FIRES_PER_REFERENCE = 3


def engine_name() -> str:
    """The cron engine running now, e.g. ``croniter 7.0.0``."""
    return f"croniter {version('croniter')}"


@dataclass(frozen=True)
class CronReading:
    """What an engine made of an expression: its name, its first fires, a digest of them all.

    ``first`` holds the first fires after the first reference instant (shown in findings);
    ``digest`` covers every fire after every reference instant (compared). Stored as one short
    text field per schedule (~70 bytes) by :meth:`to_text`.
    """

    engine: str
    first: tuple[int, ...]
    digest: str

    def to_text(self) -> str:
        """``engine|digest|first,fires`` for the schedule's stored hash."""
        return f"{self.engine}|{self.digest}|{','.join(str(t) for t in self.first)}"

    @classmethod
    def from_text(cls, text: str | None) -> CronReading | None:
        """The reading stored by :meth:`to_text`; None when absent or unreadable."""
        parts = (text or "").split("|")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            return None
        try:
            first = tuple(int(x) for x in parts[2].split(",") if x)
        except ValueError:
            return None
        return cls(parts[0], first, parts[1])


@lru_cache(maxsize=4096)
def read(expression: str) -> CronReading:
    """The running engine's reading of ``expression`` (valid; see :func:`normalise`)."""
    fires: list[int] = []
    for ref in REFERENCES:
        t = float(ref)
        for _ in range(FIRES_PER_REFERENCE):
            t = next_fire_epoch(expression, "UTC", t)
            fires.append(int(t))
    digest = hashlib.blake2b(",".join(map(str, fires)).encode(), digest_size=8).hexdigest()
    return CronReading(engine_name(), tuple(fires[:FIRES_PER_REFERENCE]), digest)


@dataclass(frozen=True)
class StoredCron:
    """A stored schedule's expression and, if recorded when it was written, its reading."""

    schedule_id: str
    expression: str
    reading: CronReading | None = None


@dataclass(frozen=True)
class MeaningChange:
    """A stored expression that the engine now reads differently, with both readings."""

    schedule_id: str
    expression: str
    reason: str
    before: str
    now: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    def line(self) -> str:
        """One log line with both readings."""
        return (
            f"schedule {self.schedule_id} cron {self.expression!r}: {self.reason}; "
            f"before: {self.before}; now: {self.now}"
        )


def _show(reading: CronReading) -> str:
    times = ", ".join(
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") for t in reading.first
    )
    return f"{reading.engine} fires {times} UTC after {_ref_text()}"


def _ref_text() -> str:
    return datetime.fromtimestamp(REFERENCES[0], UTC).strftime("%Y-%m-%d %H:%M")


def meaning_changes(
    stored: Iterable[StoredCron], current: Callable[[str], CronReading] = read
) -> list[MeaningChange]:
    """Every stored expression whose meaning differs between its old reading and the engine's.

    With a recorded reading, the fire times are compared. Without one (written before readings
    were recorded, by croniter 6 or 7), the forms croniter 7 reads differently from croniter 6
    are listed with both readings. An expression the engine now refuses is listed too.
    """
    out: list[MeaningChange] = []
    for s in stored:
        try:
            now = current(s.expression)
        except CronError as exc:
            before = _show(s.reading) if s.reading else "accepted when it was stored"
            out.append(
                MeaningChange(
                    s.schedule_id,
                    s.expression,
                    "no longer valid",
                    before,
                    f"{engine_name()}: {exc.message}",
                )
            )
            continue
        if s.reading is not None:
            if s.reading.digest != now.digest:
                out.append(
                    MeaningChange(
                        s.schedule_id,
                        s.expression,
                        "fire times differ from those recorded when written",
                        _show(s.reading),
                        _show(now),
                    )
                )
            continue
        for term in (t for t in ambiguous_terms(s.expression) if t.changed):
            old_expr = _replace_term(s.expression, term)
            old = replace(current(old_expr), engine="croniter 6")
            out.append(
                MeaningChange(
                    s.schedule_id,
                    s.expression,
                    f"{term.term!r} in the {term.field} field changed meaning with croniter 7",
                    f"croniter 6 read it as {old_expr!r}: {_show(old)}",
                    f"read as {term.croniter7!r} in the {term.field} field: {_show(now)}",
                )
            )
    return out


def _replace_term(expression: str, term: AmbiguousTerm) -> str:
    fields = normalise(expression).fields.lower().split(" ")
    i = next(k for k, f in enumerate(_FIELDS) if f[0] == term.field)
    fields[i] = ",".join(term.croniter6 if t == term.term else t for t in fields[i].split(","))
    return " ".join(fields)
