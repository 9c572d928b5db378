"""Validated configuration models, safety presets, schedule and run records (pure).

The names follow what users of autonomous-training schedulers already write:
``SafetyLevel``, ``SafetyControls``, ``NotificationConfig``, ``AutonomousConfig``.
"""

from __future__ import annotations

from tasksched.cron import MisfirePolicy
from tasksched.models.base import (
    NAME_MAX,
    SCHEDULE_ID_RE,
    TENANT_RE,
    Model,
    check_text_before,
    utc_iso,
    validate_name,
    validate_tenant_id,
)
from tasksched.models.config import MIRRORED_FIELDS, AutonomousConfig, ScheduleSpec
from tasksched.models.enums import (
    ConcurrencyPolicy,
    NotificationEvent,
    NotificationType,
    RunStatus,
    RunTrigger,
    SafetyLevel,
    ScheduleStatus,
)
from tasksched.models.notifications import SECRET_MASK, NotificationConfig
from tasksched.models.safety import PRESETS, SafetyControls

__all__ = [
    "MIRRORED_FIELDS",
    "NAME_MAX",
    "PRESETS",
    "SCHEDULE_ID_RE",
    "SECRET_MASK",
    "TENANT_RE",
    "AutonomousConfig",
    "ConcurrencyPolicy",
    "MisfirePolicy",
    "Model",
    "NotificationConfig",
    "NotificationEvent",
    "NotificationType",
    "RunStatus",
    "RunTrigger",
    "SafetyControls",
    "SafetyLevel",
    "ScheduleSpec",
    "ScheduleStatus",
    "check_text_before",
    "utc_iso",
    "validate_name",
    "validate_tenant_id",
]
