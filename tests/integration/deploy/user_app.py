"""A user's own Celery app that runs tasksched beside its own tasks (``configure(app)``).

It has its own broker and result backend (``USER_BROKER_URL``, ``USER_RESULT_BACKEND``), its
own task, queues and routes: ``tasksched.train`` to ``ml`` and ``tasksched.notify`` to
``notes``. Started as ``celery -A tests.integration.deploy.user_app worker|beat``.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

from tasksched.celery import NOTIFY_TASK, TRAIN_TASK, configure
from tasksched.settings import Settings, get_settings


def make_app(settings: Settings, broker_url: str, result_backend: str) -> Celery:
    """The user's app, then tasksched merged into it."""
    app = Celery("user_app", broker=broker_url, backend=result_backend)
    app.conf.update(
        task_queues=(
            Queue("user"),
            Queue("ml", Exchange("ml", type="direct"), routing_key="ml.train"),
            Queue("notes"),
        ),
        task_default_queue="user",
        task_routes={TRAIN_TASK: {"queue": "ml"}, NOTIFY_TASK: {"queue": "notes"}},
        worker_prefetch_multiplier=4,
        beat_enable_remote_control=True,
    )

    @app.task(name="user.add", shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    configure(app, settings)
    return app


app = make_app(
    get_settings(),
    os.environ.get("USER_BROKER_URL", "redis://localhost:6379/3"),
    os.environ.get("USER_RESULT_BACKEND", "redis://localhost:6379/4"),
)
