"""The worker heartbeat: readings in Redis, the sweep of lost runs, leaving on stop."""

from __future__ import annotations

import json

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tasksched.tasks.heartbeat import Heartbeat


def test_heartbeat_writes_readings_sweeps_and_leaves_on_stop(store: Store) -> None:
    sid = SchedulerManager(store=store).create_training_schedule("acme", "s", "0 2 * * *")
    life = RunLifecycle(store)
    for rid, node in (("mine", "w1@h"), ("dead", "w9@h")):
        store.runs.add(rid, sid if rid == "mine" else "other", "acme", RunStatus.QUEUED,
                            RunTrigger.CRON)
        life.claim(rid, sid if rid == "mine" else "other", "acme", attempt_token(rid), node,
                   "cron", None)
    store.redis.delete(store.keys.run_lock("other"))
    hb = Heartbeat("w1@h", ["training"], store.settings, store=store)
    payload = hb.beat()
    assert payload["active_runs"] == ["mine"] and payload["node"] == "w1@h"
    stored = json.loads(store.redis.hget(store.keys.workers, "w1@h"))
    assert stored["queues"] == ["training"] and stored["memory_total_mb"] > 0
    assert abs(stored["ts"] - store.time()) < 2
    assert store.runs.get("dead")["status"] == "lost"  # swept
    assert store.runs.get("mine")["status"] == "running"
    hb.start()
    hb.stop(remove=True)
    assert store.redis.hget(store.keys.workers, "w1@h") is None
