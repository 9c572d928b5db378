"""The Celery app: ``celery -A tasksched worker|beat|flower`` work with no more flags.

The app configures its broker (``TASKSCHED_BROKER_URL``, default the store's Redis), queues
(``training``, ``notifications``), routes, reliability options and beat's scheduler class.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from tasksched.settings import Settings, get_settings

TRAIN_TASK = "tasksched.train"
NOTIFY_TASK = "tasksched.notify"


def configure(app: Celery, settings: Settings) -> None:
    """Apply tasksched's configuration to ``app`` (also usable on a user's own app)."""
    training, notifications = settings.training_queue, settings.notifications_queue
    app.conf.update(
        broker_url=settings.effective_broker_url,
        result_backend=settings.result_backend or None,
        task_ignore_result=not settings.result_backend,
        broker_connection_retry_on_startup=True,
        # A long training must not be delivered twice: the visibility timeout outlives it.
        broker_transport_options={"visibility_timeout": settings.effective_visibility_timeout_s},
        task_queues=(Queue(training), Queue(notifications)),
        task_default_queue=training,
        task_routes={
            TRAIN_TASK: {"queue": training},
            NOTIFY_TASK: {"queue": notifications},
        },
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Events let Flower show tasks with their (id-only) arguments.
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        beat_scheduler="tasksched.beat:RedisScheduler",
        beat_max_loop_interval=settings.beat_tick_s,
        worker_hijack_root_logger=False,
        timezone="UTC",
        enable_utc=True,
    )


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app configured from ``settings`` (default: the environment)."""
    settings = settings or get_settings()
    app = Celery("tasksched", include=["tasksched.tasks.training", "tasksched.tasks.notify"])
    configure(app, settings)
    return app


app = create_app()
