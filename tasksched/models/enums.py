"""The enums users write (lower-case string values)."""

from __future__ import annotations

from enum import StrEnum


class SafetyLevel(StrEnum):
    """Safety presets; see :data:`PRESETS` for their numbers."""

    STRICT = "strict"
    MODERATE = "moderate"
    PERMISSIVE = "permissive"


class NotificationType(StrEnum):
    """Notification channels. ``MEMORY`` is the per-tenant feed kept in Redis."""

    LOG = "log"
    EMAIL = "email"
    WEBHOOK = "webhook"
    MEMORY = "memory"


class NotificationEvent(StrEnum):
    """Events a run or schedule emits; channels may filter on them."""

    RUN_STARTED = "run_started"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_REJECTED = "run_rejected"
    RUN_FAILED = "run_failed"
    RUN_LOST = "run_lost"
    RUN_SKIPPED = "run_skipped"
    RUN_DEFERRED = "run_deferred"
    COOLDOWN_ENTERED = "cooldown_entered"
    SCHEDULE_PAUSED = "schedule_paused"
    TEST = "test"


class ScheduleStatus(StrEnum):
    """A schedule's status. Only ``active`` schedules are in the due index."""

    ACTIVE = "active"
    PAUSED = "paused"


class RunStatus(StrEnum):
    """A run's status. Terminal: succeeded, rejected, failed, skipped, missed, lost,
    interrupted."""

    QUEUED = "queued"
    RUNNING = "running"
    DEFERRED = "deferred"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"
    LOST = "lost"
    INTERRUPTED = "interrupted"

    @property
    def terminal(self) -> bool:
        """True when the run will not change any more."""
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.DEFERRED)


class RunTrigger(StrEnum):
    """Why a run exists: its cron fire time, a catch-up after downtime, or a user's request."""

    CRON = "cron"
    CATCHUP = "catchup"
    MANUAL = "manual"


class ConcurrencyPolicy(StrEnum):
    """What a run does when another run of its schedule holds the run lock."""

    SKIP = "skip"
    WAIT = "wait"
