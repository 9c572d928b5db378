"""A Celery worker app for the beat tests: ``tasksched.train`` records what it received.

It stands in for the worker engineer's task only to prove that beat's messages are real,
consumable Celery messages; it records (task id, kwargs) in the Redis list ``beat-test:consumed``.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from celery import Celery

from tasksched.celery import TRAIN_TASK, configure
from tasksched.settings import get_settings

settings = get_settings()
app = Celery("tasksched_beat_worker_tests")
configure(app, settings, include_tasks=False)  # its own tasksched.train, not ours
CONSUMED_KEY = "beat-test:consumed"


@app.task(name=TRAIN_TASK, bind=True)
def record(self: Any, **kwargs: Any) -> None:
    """Record the delivery (task id and keyword arguments)."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.rpush(CONSUMED_KEY, json.dumps({"id": self.request.id, "kwargs": kwargs}))
    finally:
        client.close()
