"""The worker heartbeat: readings in Redis, the sweep of lost runs, leaving on stop."""

from __future__ import annotations

import json
import time

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tasksched.tasks.heartbeat import Heartbeat


def test_heartbeat_writes_readings_sweeps_and_leaves_on_stop(store: Store) -> None:
    mgr = SchedulerManager(store=store)
    sid = mgr.create_training_schedule("acme", "s", "0 2 * * *")
    other = mgr.create_training_schedule("acme", "o", "0 2 * * *")
    life = RunLifecycle(store)
    for rid, node, s in (("mine", "w1@h", sid), ("dead", "w9@h", other)):
        store.runs.add(rid, s, "acme", RunStatus.QUEUED, RunTrigger.CRON, fire_time=time.time())
        life.claim(rid, s, "acme", attempt_token(rid), node, "cron", None)
    # "dead" was already re-run once after a lost attempt: this loss ends it (no message).
    store.redis.hset(store.keys.run("dead"), "lost_attempts", 1)
    store.redis.delete(store.keys.run_lock(other))
    hb = Heartbeat("w1@h", ["training"], store.settings, store=store)
    payload = hb.beat()
    assert payload["active_runs"] == ["mine"] and payload["node"] == "w1@h"
    stored = json.loads(store.redis.hget(store.keys.workers, "w1@h"))
    assert stored["queues"] == ["training"] and stored["memory_total_mb"] > 0
    assert abs(stored["ts"] - store.time()) < 2
    assert store.runs.get("dead")["status"] == "lost"  # swept
    assert store.runs.get("mine")["status"] == "running"
    assert store.schedules.get(other).counters["failed_runs"] == 0
    hb.start()
    hb.stop(remove=True)
    assert store.redis.hget(store.keys.workers, "w1@h") is None
