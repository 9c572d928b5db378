"""Request and response bodies of the REST API.

Configs are :class:`tasksched.models.AutonomousConfig` itself (not redefined here); responses
list their main fields for the OpenAPI document and allow more (the manager's dicts are the
truth). Secrets never appear in a response: the manager masks them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasksched.models import (
    AutonomousConfig,
    NotificationConfig,
    RunStatus,
    RunTrigger,
    ScheduleStatus,
    check_text_before,
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        # The whole body at once: valid Unicode, finite numbers, bounded nesting (422 naming
        # the place), before any field is looked at.
        return check_text_before(data)


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- requests ------------------------------------------------------------------------------
class ScheduleCreate(_In):
    """A new schedule. A tenant key may leave ``tenant_id`` out (it is the key's tenant)."""

    tenant_id: str | None = Field(
        default=None, description="required with an admin key; a tenant key's own tenant"
    )
    name: str = Field(description="1-128 printable characters")
    cron_expression: str = Field(
        description="5 fields, 6 with seconds last, or a macro such as @daily",
        examples=["0 2 * * *"],
    )
    config: AutonomousConfig | None = Field(
        default=None, description="training config; defaults to the moderate preset"
    )
    description: str = Field(default="", max_length=2000)


def _drop_null(schema: dict[str, Any]) -> None:
    # Fields that may be left out but not sent as null: document them without null.
    for prop in schema.get("properties", {}).values():
        variants = prop.get("anyOf")
        if isinstance(variants, list):
            rest = [v for v in variants if v != {"type": "null"}]
            if len(rest) == 1:
                del prop["anyOf"]
                prop.update(rest[0])
        if prop.get("default", 0) is None:
            del prop["default"]


class ScheduleUpdate(_In):
    """A partial update: only the fields given change; ``config`` is merged (nested too).

    Optimistic concurrency: send the version read (``version`` here, or the ETag in an
    ``If-Match`` header); a schedule changed since is refused (409, or 412 for If-Match).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null)

    name: str | None = None
    description: str | None = Field(default=None, max_length=2000)
    cron_expression: str | None = None
    timezone: str | None = Field(default=None, description="IANA timezone")
    config: dict[str, Any] | None = Field(
        default=None,
        description="fields of AutonomousConfig to change; a masked secret ('********') "
        "keeps the stored one, null or {} removes it",
    )
    version: int | None = Field(
        default=None, ge=1, description="the version this update is based on"
    )
    consecutive_failures: int | None = Field(
        default=None,
        ge=0,
        le=0,
        description="0 resets the failure streak and ends its cooldown (recorded in the "
        "schedule's history); no other value is accepted",
    )

    @field_validator(
        "name",
        "description",
        "cron_expression",
        "timezone",
        "config",
        "version",
        "consecutive_failures",
    )
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("must not be null; leave the field out to keep it")
        return v


class TriggerRequest(_In):
    """A manual run. ``force`` runs even when paused or in cooldown (other gates still hold)."""

    force: bool = False


class NotificationTestRequest(_In):
    """A test send: through a schedule's channels (``schedule_id``) or an ad-hoc ``config``."""

    schedule_id: str | None = Field(default=None, max_length=64)
    config: NotificationConfig | None = None
    tenant_id: str | None = Field(
        default=None, description="the feed tenant for an ad-hoc config (admin)"
    )
    timeout_s: float = Field(default=5.0, ge=0, le=30, description="how long to wait")


class ImportDocument(_Out):
    """A document made by ``GET /export``."""

    format: str = Field(examples=["tasksched.export"])
    version: int = Field(examples=[1])
    schedules: list[dict[str, Any]]


# ---- responses -----------------------------------------------------------------------------
class ScheduleSummary(_Out):
    """A schedule in a list."""

    id: str
    schedule_id: str
    tenant_id: str
    name: str
    description: str
    cron_expression: str
    timezone: str
    safety_level: str
    status: ScheduleStatus
    version: int
    next_run: str | None
    last_run: str | None
    last_result: dict[str, Any] | None
    total_runs: int
    successful_runs: int
    failed_runs: int
    skipped_runs: int
    rejected_runs: int
    consecutive_failures: int


class ScheduleDetail(ScheduleSummary):
    """A schedule's full status: counters, times and its effective config (secrets masked)."""

    next_run_local: str | None
    created_at: str | None
    updated_at: str | None
    cooldown_until: str | None
    in_cooldown: bool
    last_failure_at: str | None
    config: dict[str, Any]


class ScheduleList(_Out):
    """A page of schedules sorted by tenant and name."""

    schedules: list[ScheduleSummary]
    total: int
    offset: int
    limit: int


class RunRecord(_Out):
    """One run: trigger, status, times (epoch and ISO 8601), scores, reason or error."""

    run_id: str
    schedule_id: str
    tenant_id: str
    status: RunStatus | str
    trigger: RunTrigger | str
    forced: bool


class RunPage(_Out):
    """A page of a schedule's runs, newest first."""

    runs: list[RunRecord]
    offset: int
    limit: int
    next_offset: int | None


class TriggerResult(_Out):
    """A queued manual run and its record as written."""

    run_id: str
    schedule_id: str
    forced: bool
    run: RunRecord


class NotificationPage(_Out):
    """A page of a tenant's notification feed, newest first."""

    tenant_id: str
    notifications: list[dict[str, Any]]
    offset: int
    limit: int


class ScheduleHistory(_Out):
    """Operator actions on a schedule (such as failure resets), newest first."""

    history: list[dict[str, Any]]
    limit: int


class DeadLetterPage(_Out):
    """A page of notifications given up after their last retry, newest first."""

    dead_letters: list[dict[str, Any]]
    offset: int
    limit: int


class NotificationTestReport(_Out):
    """What a test send did, per channel: sent, failed, skipped or pending."""

    event_id: str
    complete: bool
    channels: dict[str, dict[str, Any]]


class SchedulerState(_Out):
    """The global switch and beat's health."""

    enabled: bool
    running: bool
    changed_at: str | None
    beat: dict[str, Any]


class SystemStatus(_Out):
    """The switch, beat leader and lag, workers, schedules by status, queue depths, runs."""

    enabled: bool
    beat: dict[str, Any]
    workers: list[dict[str, Any]]
    workers_online: int
    schedules: dict[str, int]
    queues: dict[str, int | None]


class CronPreview(_Out):
    """A cron expression in words and its next fire times (local and UTC)."""

    cron_expression: str
    timezone: str
    description: str
    next_fire_times: list[str]
    next_fire_times_utc: list[str]


class ExportDocument(_Out):
    """Schedules as a versioned document; secrets stay encrypted (``secrets``)."""

    format: str
    version: int
    exported_at: str | None
    tenant_id: str | None
    schedules: list[dict[str, Any]]


class ImportResult(_Out):
    """What an import wrote."""

    imported: list[str]
    count: int


class Health(_Out):
    """Liveness: the API answers and Redis answers."""

    status: str
    redis: bool


class ErrorDetail(BaseModel):
    """One error."""

    type: str
    message: str
    field: str | None
    errors: list[dict[str, Any]]


class ErrorResponse(BaseModel):
    """Every error response: ``{"error": {...}}``."""

    error: ErrorDetail
