"""Forced and manual training runs: :func:`trigger` enqueues one and returns its handle.

The run record is written first (status ``queued``, trigger ``manual``, ``forced`` flag in the
record, never in the task arguments), then the task is published with ids only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasksched.errors import NotFoundError, ValidationError
from tasksched.models import RunStatus, RunTrigger
from tasksched.runs.handle import RunHandle
from tasksched.store import Store, manual_run_id

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["trigger"]


def trigger(
    store: Store,
    tenant_id: str,
    schedule_id: str,
    force: bool = False,
    app: Celery | None = None,
) -> RunHandle:
    """Write a queued manual run of ``schedule_id`` and publish it; returns its handle.

    The task goes to ``app``'s broker where its router sends ``tasksched.train`` (default:
    the app for ``store.settings``, see :func:`tasksched.celery.app_for`).

    ``force`` bypasses the cooldown, the failure counter and the data minimum on the worker;
    it never bypasses the run lock or the memory limit, nor a paused schedule or the global
    switch (the worker records such a run as skipped, with the reason).
    """
    # Imported here: tasksched.celery builds the process's Celery app from the environment,
    # which `import tasksched` must not do.
    from tasksched.celery import TRAIN_TASK, publishing_app, training_time_limits_s

    if not isinstance(tenant_id, str) or not tenant_id:
        raise ValidationError("tenant_id", "must be a non-empty string")
    record = store.schedules.get(schedule_id)
    if record.tenant_id != tenant_id:
        raise NotFoundError("schedule", schedule_id)
    run_id = manual_run_id(schedule_id)
    now = store.time()
    store.runs.add(
        run_id,
        schedule_id,
        tenant_id,
        RunStatus.QUEUED,
        RunTrigger.MANUAL,
        score=now,
        only_new=True,
        queued_at=now,
        fire_time=now,
        forced=bool(force),
    )
    settings = store.settings
    soft_s, hard_s = training_time_limits_s(
        record.config.safety_controls.max_training_time_minutes * 60,
        settings.training_kill_grace_s,
        settings.learner_step_timeout_s,
    )
    publishing_app(settings, app).send_task(
        TRAIN_TASK,
        kwargs={
            "tenant_id": tenant_id,
            "schedule_id": schedule_id,
            "run_id": run_id,
            "fire_time": now,
            "trigger": RunTrigger.MANUAL.value,
        },
        task_id=run_id,
        soft_time_limit=soft_s,
        time_limit=hard_s,
    )
    return RunHandle(store, run_id, schedule_id, tenant_id)
