"""The log channel: one structured JSON line per event, at a level fitting the event."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tasksched.logs import log_event
from tasksched.notify.events import level_for, summary_line

logger = logging.getLogger("tasksched.events")


def send(payload: Mapping[str, Any], target: logging.Logger | None = None) -> str:
    """Log the event on ``tasksched.events`` (or ``target``) with its ids as fields."""
    level = level_for(str(payload.get("event")))
    log_event(
        target or logger,
        level,
        summary_line(payload),
        event=payload.get("event"),
        event_id=payload.get("id"),
        correlation_id=payload.get("correlation_id"),
        run_id=payload.get("run_id"),
        tenant_id=payload.get("tenant_id"),
        schedule_id=payload.get("schedule_id"),
        schedule_name=payload.get("schedule_name"),
        outcome=payload.get("outcome"),
        reason=payload.get("reason"),
        error=payload.get("error"),
        scores=payload.get("scores"),
        timings=payload.get("timings"),
        importance=payload.get("importance"),
    )
    return f"logged at {logging.getLevelName(level)}"
