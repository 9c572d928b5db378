"""tasksched inside a user's own Celery app: its broker, result backend, queues, routes and
tasks survive ``configure(app)``; tasksched's runs follow the user's routes on every path."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tasksched.manager import SchedulerManager
from tests.integration.deploy import user_app

pytestmark = pytest.mark.timeout(240)


def test_a_users_app_runs_its_tasks_and_tasksched_s(deploy: Any, redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    broker, backend = f"{base}/3", f"{base}/4"
    d = deploy({"TASKSCHED_REDIS_URL": redis_url}, app="tests.integration.deploy.user_app")
    d.env.update(USER_BROKER_URL=broker, USER_RESULT_BACKEND=backend)
    d.start_worker("u", "user,ml,notes")
    d.start_beat("beat", "-S", "tasksched.beat:RedisScheduler")

    mine = user_app.make_app(d.settings, broker, backend)
    try:
        # the user's own task, through the user's broker and result backend
        assert mine.send_task("user.add", args=(2, 3)).get(timeout=30) == 5
        # tasksched's runs: beat's cron run (kombu's path: the broker is not the store) and a
        # forced run published with the user's app, both to the user's "ml" queue
        d.manager = SchedulerManager(settings=d.settings, celery_app=mine)
        sid, cron_id = d.schedule_firing_soon(notifications={"types": ["memory"]})
        assert d.wait_run(cron_id)["trigger"] == "cron"
        forced = d.manager.trigger_training("acme", sid, force=True)
        d.wait_run(forced.run_id)
        # notifications went through the user's "notes" queue (the worker consumes no other)
        # (a run's record is done before its notification subtasks ran: wait for both entries)
        wanted = {cron_id, forced.run_id}
        d.wait(lambda: {n["correlation_id"] for n in d.manager.get_notifications("acme")} >= wanted,
               30, "both runs in the feed")  # fmt: skip
        client = redis.Redis.from_url(broker)
        try:
            # nothing waits in tasksched's default queues (no worker here consumes them)
            assert client.llen("training") == 0 and client.llen("notifications") == 0
        finally:
            client.close()
    finally:
        mine.close()
