"""A user's own Celery app using tasksched's beat scheduler (``-S tasksched.beat:RedisScheduler``).

The beat tests run beat processes with ``-A tests.integration.beat.celery_app``: it needs none
of the task modules that ``tasksched.celery.app`` includes (the beat never imports task code).
"""

from __future__ import annotations

from celery import Celery

from tasksched.celery import configure
from tasksched.settings import get_settings

app = Celery("tasksched_beat_tests")
configure(app, get_settings())
