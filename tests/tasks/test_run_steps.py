"""RunPipeline without a child process: a redelivered message of a dead attempt."""

from __future__ import annotations

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tasksched.tasks.prerun import RunMessage
from tasksched.tasks.run_steps import RunPipeline


def test_redelivered_message_of_a_dead_attempt_marks_it_lost(store: Store) -> None:
    sid = SchedulerManager(store=store).create_training_schedule("acme", "s", "0 2 * * *")
    store.runs.add("r1", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON)
    life = RunLifecycle(store)
    claim = life.claim("r1", sid, "acme", attempt_token("r1"), "dead@host", "cron", None)
    assert claim.code == "claimed"
    pipeline = RunPipeline(store, notify=False)
    msg = RunMessage("acme", sid, "r1", None, "cron", "w2")
    # While the old attempt's lock lives, a redelivery is a duplicate: refused.
    assert pipeline.run(msg).status is None
    store.redis.delete(store.keys.run_lock(sid))  # its TTL ran out
    outcome = pipeline.run(msg)
    assert outcome.status is RunStatus.LOST
    run = store.runs.get("r1")
    assert run["status"] == "lost" and run["worker"] == "dead@host"
    assert store.schedules.get(sid).counters["failed_runs"] == 1
    assert pipeline.run(msg).status is None  # and it stays lost
