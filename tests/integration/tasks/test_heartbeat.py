"""The heartbeat's sweep on a real redis-server: a lost attempt is re-queued and its message
published once more (task id = run id)."""

from __future__ import annotations

import json
import time

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tasksched.tasks.heartbeat import Heartbeat


def test_a_swept_lost_attempt_is_requeued_and_published_again(store: Store) -> None:
    sid = SchedulerManager(store=store).create_training_schedule("acme", "s", "0 2 * * *")
    other = SchedulerManager(store=store).create_training_schedule("acme", "o", "0 2 * * *")
    life = RunLifecycle(store)
    for rid, node, s in (("mine", "w1@h", sid), ("dead", "w9@h", other)):
        store.runs.add(rid, s, "acme", RunStatus.QUEUED, RunTrigger.CRON,
                            fire_time=time.time())  # fmt: skip
        life.claim(rid, s, "acme", attempt_token(rid), node, "cron", None)
    store.redis.delete(store.keys.run_lock(other))
    hb = Heartbeat("w1@h", ["training"], store.settings, store=store)
    payload = hb.beat()
    assert payload["active_runs"] == ["mine"] and payload["node"] == "w1@h"
    stored = json.loads(store.redis.hget(store.keys.workers, "w1@h"))
    assert stored["queues"] == ["training"] and stored["memory_total_mb"] > 0
    assert abs(stored["ts"] - store.time()) < 2
    # Swept: re-queued, and its message published again (task id = run id).
    assert store.runs.get("dead")["status"] == "queued"
    [message] = store.redis.lrange("training", 0, -1)
    assert json.loads(message)["headers"]["id"] == "dead"
    assert store.runs.get("mine")["status"] == "running"
    hb.start()
    hb.stop(remove=True)
    assert store.redis.hget(store.keys.workers, "w1@h") is None


