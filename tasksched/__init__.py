"""tasksched: scheduled, safe, autonomous model retraining for many tenants on Celery.

Public names only; see the README and ``docs/``.
"""

from __future__ import annotations

from tasksched.cron import MisfirePolicy, describe, next_fire_times
from tasksched.errors import (
    ConflictError,
    CronError,
    NotFoundError,
    SecretKeyMissingError,
    TaskschedError,
    ValidationError,
)
from tasksched.manager import SchedulerManager
from tasksched.models import (
    AutonomousConfig,
    ConcurrencyPolicy,
    NotificationConfig,
    NotificationEvent,
    NotificationType,
    RunStatus,
    RunTrigger,
    SafetyControls,
    SafetyLevel,
    ScheduleStatus,
)

__version__ = "0.1.0"

__all__ = [
    "AutonomousConfig",
    "ConcurrencyPolicy",
    "ConflictError",
    "CronError",
    "MisfirePolicy",
    "NotFoundError",
    "NotificationConfig",
    "NotificationEvent",
    "NotificationType",
    "RunStatus",
    "RunTrigger",
    "SafetyControls",
    "SafetyLevel",
    "ScheduleStatus",
    "SchedulerManager",
    "SecretKeyMissingError",
    "TaskschedError",
    "ValidationError",
    "describe",
    "next_fire_times",
]
