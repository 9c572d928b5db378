"""The Celery app: ``celery -A tasksched worker|beat|flower`` work with no more flags.

The app configures its broker (``TASKSCHED_BROKER_URL``, default the store's Redis), queues
(``training``, ``notifications``), routes, reliability options and beat's scheduler class.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery
from kombu import Queue

from tasksched.settings import Settings, get_settings

TRAIN_TASK = "tasksched.train"
NOTIFY_TASK = "tasksched.notify"
# Celery's own per-call limits sit above the worker's supervisor (which enforces the
# schedule's limits precisely and records them); they only catch a supervisor that hangs.
CELERY_LIMIT_MARGIN_S = 60.0


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


@lru_cache(maxsize=8)
def _app_for_broker(broker_url: str, training_queue: str) -> Celery:
    return create_app(Settings(redis_url=broker_url, training_queue=training_queue))


def app_for(settings: Settings) -> Celery:
    """The Celery app that publishes to ``settings``' broker: the process app when its broker is
    the same, else one app per broker (cached)."""
    broker = settings.effective_broker_url
    if app.conf.broker_url == broker:
        return app
    return _app_for_broker(broker, settings.training_queue)


def training_time_limits_s(max_training_time_s: float, kill_grace_s: float) -> tuple[float, float]:
    """Celery's (soft, hard) per-call limits for a run allowed ``max_training_time_s``."""
    soft = max_training_time_s + kill_grace_s + CELERY_LIMIT_MARGIN_S
    return soft, soft + CELERY_LIMIT_MARGIN_S
