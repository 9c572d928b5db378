"""Publishing a run again: the one re-run of an attempt whose worker stopped.

A lost attempt re-queued by :meth:`~tasksched.store.lifecycle.RunLifecycle.lost` (status
``queued`` again) needs a new message: its old one was acknowledged (a refused redelivery) or
waits unacknowledged for the visibility timeout. The task id is the run id again, so if the old
message comes back as well, a worker refuses whichever arrives second. A cron or catch-up re-run
expires like beat's messages (its re-queue time plus the misfire grace and twice the margin).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tasksched.store import Store
from tasksched.store.lifecycle import STALE_MARGIN_S

__all__ = ["publish_rerun"]


def publish_rerun(
    store: Store,
    run_id: str,
    schedule_id: str,
    tenant_id: str,
    trigger: str,
    fire_time: float | None,
    grace_s: float,
    app: Any = None,
) -> None:
    """Publish ``run_id``'s training task again (ids only, as beat does), with ``app`` (default
    the app for the store's settings) where its router sends ``tasksched.train``."""
    # Imported here: tasksched.celery builds the process's app from the environment.
    from tasksched.celery import TRAIN_TASK, publishing_app

    settings = store.settings
    expires = None
    if trigger != "manual":
        expires = datetime.fromtimestamp(store.time() + grace_s + 2 * STALE_MARGIN_S, UTC)
    publishing_app(settings, app).send_task(
        TRAIN_TASK,
        kwargs={
            "tenant_id": tenant_id,
            "schedule_id": schedule_id,
            "run_id": run_id,
            "fire_time": fire_time,
            "trigger": trigger,
        },
        task_id=run_id,
        expires=expires,
    )
