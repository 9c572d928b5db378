"""The Celery app: ``celery -A tasksched worker|beat|flower`` work with no more flags.

:func:`create_app` builds tasksched's own app: its broker (``TASKSCHED_BROKER_URL``, default
the store's Redis, Sentinel included), queues (``training``, ``notifications``), routes,
events for Flower, beat's scheduler class and beat's liveness answer (``celery inspect ping
-d celerybeat@<host>``). :func:`configure` is the part that is merged into any app, a user's
own included: it adds tasksched's queues, routes and task modules and leaves what the app
already has alone. tasksched's reliability options (``acks_late``, ``reject_on_worker_lost``,
time limits) are options of tasksched's tasks, not of the app.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery
from kombu import Queue

from tasksched.settings import Settings, get_settings

TRAIN_TASK = "tasksched.train"
NOTIFY_TASK = "tasksched.notify"
TASK_MODULES = ("tasksched.tasks.training", "tasksched.tasks.notify")
# Celery's own per-call limits sit above the worker's supervisor (which enforces the
# schedule's limits precisely and records them); they only catch a supervisor that hangs.
CELERY_LIMIT_MARGIN_S = 60.0


def tasksched_routes(settings: Settings) -> dict[str, dict[str, str]]:
    """tasksched's default routes: ``tasksched.train`` and ``tasksched.notify`` to their queues."""
    return {
        TRAIN_TASK: {"queue": settings.training_queue},
        NOTIFY_TASK: {"queue": settings.notifications_queue},
    }


def _merged_routes(existing: Any, ours: Mapping[str, Any]) -> tuple[Any, ...]:
    # Celery asks each router in turn and takes the first answer: the app's own routers come
    # first, so a user's route for tasksched.train wins over the default.
    if existing is None:
        routers: list[Any] = []
    elif isinstance(existing, list | tuple):
        routers = list(existing)
    else:
        routers = [existing]
    if dict(ours) not in routers:
        routers.append(dict(ours))
    return tuple(routers)


def _merged_queues(app: Celery, names: Sequence[str]) -> tuple[Queue, ...]:
    conf = app.conf
    queues = list(conf.task_queues or ())
    if not queues and conf.task_default_queue:
        # What Celery would have made of an app without task_queues: its default queue.
        queues = [Queue(conf.task_default_queue)]
    have = {q.name for q in queues}
    queues.extend(Queue(name) for name in names if name not in have)
    return tuple(queues)


def configure(app: Celery, settings: Settings | None = None, include_tasks: bool = True) -> None:
    """Merge tasksched's configuration into ``app`` (tasksched's own or a user's app).

    Added, never replacing what ``app`` has: the broker (only when ``app`` has none),
    transport options (tasksched's visibility timeout and Sentinel's ``master_name`` under
    the app's own keys), the result backend (only when ``app`` has none), the ``training``
    and ``notifications`` queues beside the app's queues, tasksched's routes after the app's
    routes (so the app's own route for ``tasksched.train`` wins), and, with
    ``include_tasks``, the task modules. Nothing app-wide about how tasks run is touched.
    """
    settings = settings or get_settings()
    conf = app.conf
    changes: dict[str, Any] = {}
    transport: dict[str, Any] = {"visibility_timeout": settings.effective_visibility_timeout_s}
    if not conf.broker_url:
        changes["broker_url"] = settings.effective_broker_url
        transport = settings.effective_broker_transport_options
    else:
        transport.update(settings.broker_transport_options)
    changes["broker_transport_options"] = {**transport, **(conf.broker_transport_options or {})}
    if settings.result_backend and not conf.result_backend:
        changes["result_backend"] = settings.result_backend
    changes["task_queues"] = _merged_queues(
        app, (settings.training_queue, settings.notifications_queue)
    )
    changes["task_routes"] = _merged_routes(conf.task_routes, tasksched_routes(settings))
    if include_tasks:
        include = tuple(conf.include or ())
        changes["include"] = include + tuple(m for m in TASK_MODULES if m not in include)
    conf.update(changes)


def create_app(settings: Settings | None = None) -> Celery:
    """tasksched's own Celery app configured from ``settings`` (default: the environment)."""
    settings = settings or get_settings()
    app = Celery("tasksched")
    # App-wide options, right for an app that only runs tasksched (a user's app keeps its own).
    app.conf.update(
        broker_url=settings.effective_broker_url,
        broker_transport_options=settings.effective_broker_transport_options,
        result_backend=settings.result_backend or None,
        task_default_queue=settings.training_queue,
        task_ignore_result=not settings.result_backend,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # One long training per slot: a worker never holds messages another could start.
        worker_prefetch_multiplier=1,
        # Events let Flower show tasks with their (id-only) arguments and their outcomes.
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        beat_scheduler="tasksched.beat:RedisScheduler",
        beat_max_loop_interval=settings.beat_tick_s,
        # `celery inspect ping -d celerybeat@<host>` answers while beat's loop ticks.
        beat_enable_remote_control=True,
        beat_remote_control_max_tick_age=settings.beat_max_tick_age_s,
        worker_hijack_root_logger=False,
        timezone="UTC",
        enable_utc=True,
    )
    configure(app, settings)
    return app


def _publish_key(settings: Settings) -> str:
    """What decides where an app publishes: apps built from equal keys are interchangeable."""
    return json.dumps(
        [
            settings.effective_broker_url,
            settings.effective_broker_transport_options,
            settings.result_backend,
            settings.training_queue,
            settings.notifications_queue,
        ],
        sort_keys=True,
        default=str,
    )


_SETTINGS = get_settings()
app = create_app(_SETTINGS)
_APP_KEY = _publish_key(_SETTINGS)
_OTHER_APPS: dict[str, Celery] = {}


def app_for(settings: Settings) -> Celery:
    """The Celery app that publishes where ``settings`` say (broker, transport options, queues).

    The process app when they match its own, else one app per distinct set (made once).
    """
    key = _publish_key(settings)
    if key == _APP_KEY:
        return app
    other = _OTHER_APPS.get(key)
    if other is None:
        other = _OTHER_APPS[key] = create_app(settings)
    return other


def publishing_app(settings: Settings, app: Celery | None = None) -> Celery:
    """The app a task is published with: ``app``; inside a task, the worker's own app (so a
    user's app's routes apply to what its workers publish); else :func:`app_for`."""
    if app is not None:
        return app
    from celery import current_task

    task = current_task
    if task is not None and getattr(task, "name", None) is not None:
        return task.app  # type: ignore[no-any-return]
    return app_for(settings)


def training_time_limits_s(
    max_training_time_s: float, kill_grace_s: float, step_timeout_s: float = 0.0
) -> tuple[float, float]:
    """Celery's (soft, hard) per-call limits for a run allowed ``max_training_time_s``, each
    other learner step ``step_timeout_s`` (at most four: load + count, backup, promote, a
    restore in a fresh child; two of them stoppable, so with a grace)."""
    steps_s = 4 * step_timeout_s + 2 * kill_grace_s if step_timeout_s else 0.0
    soft = max_training_time_s + kill_grace_s + steps_s + CELERY_LIMIT_MARGIN_S
    return soft, soft + CELERY_LIMIT_MARGIN_S
