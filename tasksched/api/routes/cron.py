"""Cron help and preview: an expression and a timezone in words and next fire times."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tasksched.api.deps import Caller, Manager
from tasksched.api.errors import ApiError
from tasksched.api.schemas import CronPreview
from tasksched.cron import MACROS, MisfirePolicy, describe
from tasksched.errors import ValidationError

router = APIRouter(tags=["cron"])

_EXAMPLES = (
    "*/15 * * * *",
    "0 2 * * *",
    "30 6 * * 1-5",
    "0 0 1 * *",
    "0 */6 * * *",
    "* * * * * */10",
    "@weekly",
)


@router.get("/cron-help")
def cron_help(caller: Caller) -> dict[str, Any]:
    """The cron syntax tasksched accepts, with examples in words."""
    return {
        "fields": ["minute", "hour", "day_of_month", "month", "day_of_week", "second (optional)"],
        "syntax": "5 fields, or 6 with seconds LAST ('* * * * * */10' is every 10 seconds); "
        "values, ranges (1-5), lists (1,3), steps (*/15), names (MON, JAN)",
        "macros": dict(MACROS),
        "examples": [{"expression": e, "description": describe(e)} for e in _EXAMPLES],
        "timezone": "any IANA name (e.g. Europe/Berlin); times are computed on that wall clock",
        "daylight_saving": "by the hour field: one covering every hour (hourly, every N "
        "minutes or seconds) keeps its rhythm in real time (a repeated wall time fires twice, a "
        "skipped one not at all); any other (2, */6, 0,6,12,18) fires once per wall time, at "
        "its first instant when repeated and at the first instant after the gap when skipped",
        "refused": "a bare value/step (59/15, 6/1): libraries read it differently; the error "
        "says what to write",
        "misfire_policies": [p.value for p in MisfirePolicy],
        "preview": "GET /api/scheduler/cron/preview?expression=0+2+*+*+*&timezone=UTC&count=5",
    }


@router.get("/cron/preview", response_model=CronPreview)
def cron_preview(
    caller: Caller,
    manager: Manager,
    expression: Annotated[str, Query(max_length=256, description="a cron expression")],
    timezone: Annotated[str, Query(max_length=64, description="an IANA timezone")] = "UTC",
    count: Annotated[int, Query(ge=1, le=100)] = 5,
    after: Annotated[
        datetime | None, Query(description="start after this aware time (default now)")
    ] = None,
) -> dict[str, Any]:
    """Describe an expression and list its next fire times, local and UTC."""
    if after is not None and after.utcoffset() is None:
        raise ApiError(422, "validation_error", "after: must include a UTC offset", "after")
    try:
        return manager.preview_cron(expression, timezone, count, after)
    except ValidationError as exc:
        # The query parameter is ``expression``; name it as the caller wrote it.
        field = "expression" if exc.field == "cron_expression" else exc.field
        raise ValidationError(field, exc.message) from None
