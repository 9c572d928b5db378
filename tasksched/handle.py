"""Forced and manual training runs: :func:`trigger` enqueues one, :class:`RunHandle` follows it.

The run record is written first (status ``queued``, trigger ``manual``, ``forced`` flag in the
record, never in the task arguments), then the task is published with ids only.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tasksched.errors import NotFoundError, ValidationError
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store, manual_run_id

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["RunHandle", "publisher", "time_limits_s", "trigger"]

# Celery's own per-call limits sit above the worker's supervisor (which enforces the
# schedule's limits precisely and records them); they only catch a supervisor that hangs.
CELERY_LIMIT_MARGIN_S = 60.0


class RunHandle:
    """A queued run: ``run_id``, :meth:`record`, :meth:`wait` (polls the store)."""

    def __init__(self, store: Store, run_id: str, schedule_id: str, tenant_id: str):
        self.store = store
        self.run_id = run_id
        self.schedule_id = schedule_id
        self.tenant_id = tenant_id

    def __repr__(self) -> str:
        return f"RunHandle(run_id={self.run_id!r}, schedule_id={self.schedule_id!r})"

    def record(self) -> dict[str, Any]:
        """The run record as it is now (JSON-ready dict)."""
        return self.store.runs.get(self.run_id)

    @property
    def status(self) -> RunStatus:
        """The run's current status."""
        return RunStatus(self.record()["status"])

    def wait(self, timeout_s: float = 600.0, interval_s: float = 0.2) -> dict[str, Any]:
        """Poll until the run is terminal and return its record (TimeoutError on timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            rec = self.record()
            if RunStatus(rec["status"]).terminal:
                return rec
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"run {self.run_id} still {rec['status']} after {timeout_s:g}s"
                )
            time.sleep(interval_s)


@lru_cache(maxsize=8)
def _app_for(broker_url: str, training_queue: str) -> Celery:
    from tasksched.celery import create_app
    from tasksched.settings import Settings

    return create_app(Settings(redis_url=broker_url, training_queue=training_queue))


def publisher(store: Store) -> Celery:
    """The Celery app publishing to ``store``'s broker (the process app when it is the same)."""
    from tasksched.celery import app

    settings = store.settings
    broker = settings.effective_broker_url
    if app.conf.broker_url == broker:
        return app
    return _app_for(broker, settings.training_queue)


def time_limits_s(max_training_time_s: float, kill_grace_s: float) -> tuple[float, float]:
    """Celery's (soft, hard) per-call limits for a run allowed ``max_training_time_s``."""
    soft = max_training_time_s + kill_grace_s + CELERY_LIMIT_MARGIN_S
    return soft, soft + CELERY_LIMIT_MARGIN_S


def trigger(
    store: Store,
    tenant_id: str,
    schedule_id: str,
    force: bool = False,
) -> RunHandle:
    """Write a queued manual run of ``schedule_id`` and publish it; returns its handle.

    ``force`` bypasses the cooldown, the failure counter and the data minimum on the worker;
    it never bypasses the run lock or the memory limit, nor a paused schedule or the global
    switch (the worker records such a run as skipped, with the reason).
    """
    from tasksched.celery import TRAIN_TASK

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
    soft_s, hard_s = time_limits_s(
        record.config.safety_controls.max_training_time_minutes * 60,
        settings.training_kill_grace_s,
    )
    publisher(store).send_task(
        TRAIN_TASK,
        kwargs={
            "tenant_id": tenant_id,
            "schedule_id": schedule_id,
            "run_id": run_id,
            "fire_time": now,
            "trigger": RunTrigger.MANUAL.value,
        },
        task_id=run_id,
        queue=settings.training_queue,
        soft_time_limit=soft_s,
        time_limit=hard_s,
    )
    return RunHandle(store, run_id, schedule_id, tenant_id)
