"""The event payload every channel sends, built from a schedule and a run (pure).

The payload is the one document a webhook receives, an email renders, a log line carries and
the feed keeps. It never holds a secret: it is built from the schedule's public fields and
the run record only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tasksched.models import NotificationEvent, utc_iso

if TYPE_CHECKING:
    from tasksched.store import ScheduleRecord

PAYLOAD_VERSION = 1

# The outcome an event stands for, when the run record does not say.
_OUTCOME: dict[NotificationEvent, str] = {
    NotificationEvent.RUN_STARTED: "running",
    NotificationEvent.RUN_SUCCEEDED: "succeeded",
    NotificationEvent.RUN_REJECTED: "rejected",
    NotificationEvent.RUN_FAILED: "failed",
    NotificationEvent.RUN_LOST: "lost",
    NotificationEvent.RUN_SKIPPED: "skipped",
    NotificationEvent.RUN_DEFERRED: "deferred",
    NotificationEvent.COOLDOWN_ENTERED: "cooldown",
    NotificationEvent.SCHEDULE_PAUSED: "paused",
    NotificationEvent.TEST: "test",
}

_LEVEL: dict[NotificationEvent, int] = {
    NotificationEvent.RUN_STARTED: logging.INFO,
    NotificationEvent.RUN_SUCCEEDED: logging.INFO,
    NotificationEvent.RUN_REJECTED: logging.WARNING,
    NotificationEvent.RUN_FAILED: logging.ERROR,
    NotificationEvent.RUN_LOST: logging.WARNING,
    NotificationEvent.RUN_SKIPPED: logging.INFO,
    NotificationEvent.RUN_DEFERRED: logging.WARNING,
    NotificationEvent.COOLDOWN_ENTERED: logging.WARNING,
    NotificationEvent.SCHEDULE_PAUSED: logging.ERROR,
    NotificationEvent.TEST: logging.INFO,
}

_TITLE: dict[NotificationEvent, str] = {
    NotificationEvent.RUN_STARTED: "training run started",
    NotificationEvent.RUN_SUCCEEDED: "training run succeeded",
    NotificationEvent.RUN_REJECTED: "new model rejected (rolled back)",
    NotificationEvent.RUN_FAILED: "training run failed",
    NotificationEvent.RUN_LOST: "training run lost twice (its worker stopped); not run again",
    NotificationEvent.RUN_SKIPPED: "training run skipped",
    NotificationEvent.RUN_DEFERRED: "training run deferred past its grace",
    NotificationEvent.COOLDOWN_ENTERED: "schedule entered its failure cooldown",
    NotificationEvent.SCHEDULE_PAUSED: "schedule paused by the system",
    NotificationEvent.TEST: "test notification",
}

_SCORES = ("quality_score", "validation_score", "baseline_score")
_TIMES = ("fire_time", "queued_at", "started_at", "finished_at")
# Run fields copied under "run" when present (ids and small facts, nothing secret).
_RUN_FACTS = ("trigger", "status", "attempts", "deferrals", "data_count", "worker", "host")


def level_for(event: NotificationEvent | str) -> int:
    """The logging level fitting an event (failures ERROR, rejections WARNING, ...)."""
    try:
        return _LEVEL[NotificationEvent(event)]
    except ValueError:
        return logging.INFO


def title_for(event: NotificationEvent | str) -> str:
    """A short human title for an event."""
    try:
        return _TITLE[NotificationEvent(event)]
    except ValueError:
        return str(event)


def _num(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def build_payload(
    event_id: str,
    event: NotificationEvent,
    schedule: ScheduleRecord,
    run: Mapping[str, Any] | None = None,
    now: float | None = None,
    **details: Any,
) -> dict[str, Any]:
    """The JSON-ready payload of ``event`` for ``schedule`` and (optionally) ``run``.

    ``correlation_id`` is the run id (or, without a run, the event id). ``details`` (a reason,
    an error text, scores the run record lacks, ...) are kept under ``details``; ``reason``,
    ``error``, ``outcome`` and scores given there also fill the top-level fields.
    """
    return make_payload(
        event_id,
        event,
        tenant_id=schedule.tenant_id,
        schedule_id=schedule.id,
        schedule_name=schedule.name,
        importance=schedule.config.notifications.memory_importance_score,
        run=run,
        now=now,
        **details,
    )


def make_payload(
    event_id: str,
    event: NotificationEvent,
    tenant_id: str,
    schedule_id: str | None,
    schedule_name: str,
    importance: int,
    run: Mapping[str, Any] | None = None,
    now: float | None = None,
    **details: Any,
) -> dict[str, Any]:
    """:func:`build_payload` from plain fields (a test send with an ad-hoc config has no
    schedule record)."""
    now = time.time() if now is None else now
    run = dict(run or {})
    run_id = str(run.get("run_id") or details.get("run_id") or "") or None
    scores = {k.removesuffix("_score"): _num(details.get(k, run.get(k))) for k in _SCORES}
    timings: dict[str, Any] = {}
    for k in _TIMES:
        ts = _num(run.get(k))
        if ts is not None:
            timings[k] = utc_iso(ts)
    duration = _num(details.get("duration_s", run.get("duration_s")))
    if duration is None and run.get("started_at") and run.get("finished_at"):
        duration = float(run["finished_at"]) - float(run["started_at"])
    timings["duration_s"] = None if duration is None else round(duration, 3)
    reason = details.get("reason", run.get("reason")) or None
    error = details.get("error", run.get("error")) or None
    facts = {k: run[k] for k in _RUN_FACTS if run.get(k) not in (None, "")}
    return {
        "version": PAYLOAD_VERSION,
        "id": event_id,
        "event": event.value,
        "title": title_for(event),
        "correlation_id": run_id or event_id,
        "run_id": run_id,
        "tenant_id": tenant_id,
        "schedule_id": schedule_id,
        "schedule_name": schedule_name,
        "outcome": str(details.get("outcome") or run.get("status") or _OUTCOME[event]),
        "reason": None if reason is None else str(reason),
        "error": None if error is None else str(error),
        "scores": scores,
        "timings": timings,
        "run": facts,
        "importance": importance,
        "time": utc_iso(now),
        "details": {k: v for k, v in details.items() if k != "run_id"},
    }


def summary_line(payload: Mapping[str, Any]) -> str:
    """One readable line: '<schedule name> (<tenant>): <title> [<reason>]'."""
    line = f"{payload.get('schedule_name')} ({payload.get('tenant_id')}): {payload.get('title')}"
    why = payload.get("reason") or payload.get("error")
    return f"{line}: {why}" if why else line
