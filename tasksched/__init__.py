"""tasksched: scheduled, safe, autonomous model retraining for many tenants on Celery.

Public names only; see the README and ``docs/``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasksched.aio import AsyncSchedulerManager
    from tasksched.compat import SeedCompatibilityWarning
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
    from tasksched.runs import RunHandle

# The public names are imported on first use (PEP 562): a process that needs one submodule,
# such as a run's learner child (``tasksched.tasks.trainer``), does not pay for them all.
_HOMES = {
    name: home
    for home, names in (
        ("tasksched.aio", "AsyncSchedulerManager"),
        ("tasksched.compat", "SeedCompatibilityWarning"),
        ("tasksched.cron", "MisfirePolicy describe next_fire_times"),
        (
            "tasksched.errors",
            "ConflictError CronError NotFoundError SecretKeyMissingError "
            "TaskschedError ValidationError",
        ),
        ("tasksched.manager", "SchedulerManager"),
        (
            "tasksched.models",
            "AutonomousConfig ConcurrencyPolicy NotificationConfig "
            "NotificationEvent NotificationType RunStatus RunTrigger "
            "SafetyControls SafetyLevel ScheduleStatus",
        ),
        ("tasksched.runs", "RunHandle"),
    )
    for name in names.split()
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tasksched' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


def trigger_training(tenant_id: str, schedule_id: str, force: bool = False) -> RunHandle:
    """Enqueue a training run now on this process's deployment: the store and broker of its
    ``TASKSCHED_*`` variables (``TASKSCHED_REDIS_URL``, ``TASKSCHED_BROKER_URL``).

    For another deployment use ``SchedulerManager(redis_url=..., broker_url=...)``; see
    :meth:`SchedulerManager.trigger_training`.
    """
    from tasksched.manager import SchedulerManager

    return SchedulerManager().trigger_training(tenant_id, schedule_id, force=force)


__version__ = "0.1.0"

__all__ = [
    "AsyncSchedulerManager",
    "AutonomousConfig",
    "ConcurrencyPolicy",
    "ConflictError",
    "CronError",
    "MisfirePolicy",
    "NotFoundError",
    "NotificationConfig",
    "NotificationEvent",
    "NotificationType",
    "RunHandle",
    "RunStatus",
    "RunTrigger",
    "SafetyControls",
    "SafetyLevel",
    "ScheduleStatus",
    "SchedulerManager",
    "SecretKeyMissingError",
    "SeedCompatibilityWarning",
    "TaskschedError",
    "ValidationError",
    "describe",
    "next_fire_times",
    "trigger_training",
]
