"""RunPipeline without a child process: a redelivered message of a dead attempt."""

from __future__ import annotations

import time

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tasksched.tasks.prerun import RunMessage
from tasksched.tasks.run_steps import RunPipeline


def test_a_redelivered_message_of_a_dead_attempt_runs_it_once_more_then_it_is_lost(
    store: Store,
) -> None:
    mgr = SchedulerManager(store=store)
    sid = mgr.create_training_schedule("acme", "s", "0 2 * * *")
    mgr.pause_schedule(sid)  # each re-run ends at the schedule check: nothing trains here
    life = RunLifecycle(store)
    pipeline = RunPipeline(store, notify=False)
    store.runs.add("r1", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, fire_time=time.time())
    assert life.claim("r1", sid, "acme", attempt_token("r1"), "dead@host", "cron",
                      None).code == "claimed"  # fmt: skip
    msg = RunMessage("acme", sid, "r1", None, "cron", "w2")
    # While the old attempt's lock lives, a redelivery is a duplicate: refused.
    assert pipeline.run(msg).status is None
    store.redis.delete(store.keys.run_lock(sid))  # its TTL ran out
    outcome = pipeline.run(msg)  # runs it once more, with this delivery
    assert outcome.status is RunStatus.SKIPPED and "paused" in outcome.reason
    run = store.runs.get("r1")
    assert run["worker"] == "w2" and run["lost_attempts"] == "1" and run["attempts"] == 2
    # r2: its first attempt dies, its re-run dies too; the redelivery then ends it lost.
    store.runs.add("r2", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, fire_time=time.time())
    for worker in ("dead1@host", "dead2@host"):
        token = attempt_token("r2")
        assert life.claim("r2", sid, "acme", token, worker, "cron", None).code == "claimed"
        store.redis.delete(store.keys.run_lock(sid))
        if worker == "dead1@host":
            assert life.lost("r2", sid, token, "died", time.time() + 60, True).requeued
    outcome = pipeline.run(RunMessage("acme", sid, "r2", None, "cron", "w2"))
    assert outcome.status is RunStatus.LOST
    assert store.runs.get("r2")["status"] == "lost"
    counters = store.schedules.get(sid).counters
    assert counters["failed_runs"] == 0 and counters["consecutive_failures"] == 0
    assert counters["lost_runs"] == 3 and counters["total_runs"] == 2
    assert pipeline.run(msg).status is None  # and r1 stays as it ended
