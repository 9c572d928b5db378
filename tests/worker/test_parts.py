"""The supervisor, heartbeat, run handle and redelivery paths, with real processes and Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tasksched.errors import NotFoundError
from tasksched.learners.base import RunContext
from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.runs import RunHandle, trigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tasksched.tasks.heartbeat import Heartbeat
from tasksched.tasks.prerun import RunMessage
from tasksched.tasks.run_steps import RunPipeline
from tasksched.tasks.supervisor import run_child

pytestmark = pytest.mark.integration


def job(tmp_path: Path, **options: object) -> dict[str, object]:
    ctx = RunContext("acme", "s1", "r1", str(tmp_path / "m"), options=dict(options))
    learner = "tests.worker.learners:Scripted"
    return {"learner": learner, "options": options, "context": ctx.to_dict()}


def test_child_ok_reports_the_evaluation(tmp_path: Path) -> None:
    res = run_child(job(tmp_path, quality=0.8), 500, 30, 1)
    assert res.outcome == "ok" and res.evaluation["quality_score"] == 0.8
    assert res.candidate == "model.txt" and res.exit_code == 0 and res.peak_memory_mb > 0


def test_child_that_dies_silently_is_reported_crashed(tmp_path: Path) -> None:
    res = run_child(job(tmp_path, exit_code=9), 500, 30, 1)
    assert res.outcome == "crashed" and "exit code 9" in res.error


def test_child_is_killed_when_the_run_lock_is_lost(tmp_path: Path) -> None:
    t0 = time.monotonic()
    lost_at = t0 + 0.5
    res = run_child(
        job(tmp_path, train_s=30), 500, 60, 1, lease_ok=lambda: time.monotonic() < lost_at
    )
    assert res.outcome == "lease_lost" and time.monotonic() - t0 < 10


def test_redelivered_message_of_a_dead_attempt_marks_it_lost(real_store: Store) -> None:
    sid = SchedulerManager(store=real_store).create_training_schedule("acme", "s", "0 2 * * *")
    real_store.runs.add("r1", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON)
    life = RunLifecycle(real_store)
    claim = life.claim("r1", sid, "acme", attempt_token("r1"), "dead@host", "cron", None)
    assert claim.code == "claimed"
    pipeline = RunPipeline(real_store, notify=False)
    msg = RunMessage("acme", sid, "r1", None, "cron", "w2")
    # While the old attempt's lock lives, a redelivery is a duplicate: refused.
    assert pipeline.run(msg).status is None
    real_store.redis.delete(real_store.keys.run_lock(sid))  # its TTL ran out
    outcome = pipeline.run(msg)
    assert outcome.status is RunStatus.LOST
    run = real_store.runs.get("r1")
    assert run["status"] == "lost" and run["worker"] == "dead@host"
    assert real_store.schedules.get(sid).counters["failed_runs"] == 1
    assert pipeline.run(msg).status is None  # and it stays lost


def test_heartbeat_writes_readings_sweeps_and_leaves_on_stop(real_store: Store) -> None:
    sid = SchedulerManager(store=real_store).create_training_schedule("acme", "s", "0 2 * * *")
    life = RunLifecycle(real_store)
    for rid, node in (("mine", "w1@h"), ("dead", "w9@h")):
        real_store.runs.add(rid, sid if rid == "mine" else "other", "acme", RunStatus.QUEUED,
                            RunTrigger.CRON)
        life.claim(rid, sid if rid == "mine" else "other", "acme", attempt_token(rid), node,
                   "cron", None)
    real_store.redis.delete(real_store.keys.run_lock("other"))
    hb = Heartbeat("w1@h", ["training"], real_store.settings, store=real_store)
    payload = hb.beat()
    assert payload["active_runs"] == ["mine"] and payload["node"] == "w1@h"
    stored = json.loads(real_store.redis.hget(real_store.keys.workers, "w1@h"))
    assert stored["queues"] == ["training"] and stored["memory_total_mb"] > 0
    assert abs(stored["ts"] - real_store.time()) < 2
    assert real_store.runs.get("dead")["status"] == "lost"  # swept
    assert real_store.runs.get("mine")["status"] == "running"
    hb.start()
    hb.stop(remove=True)
    assert real_store.redis.hget(real_store.keys.workers, "w1@h") is None


def test_trigger_checks_tenant_and_schedule_and_handle_waits(real_store: Store) -> None:
    sid = SchedulerManager(store=real_store).create_training_schedule("acme", "s", "0 2 * * *")
    with pytest.raises(NotFoundError):
        trigger(real_store, "globex", sid)
    with pytest.raises(NotFoundError):
        trigger(real_store, "acme", "nope")
    handle = trigger(real_store, "acme", sid, force=True)
    rec = handle.record()
    assert rec["status"] == "queued" and rec["trigger"] == "manual" and rec["forced"] is True
    assert handle.status is RunStatus.QUEUED
    with pytest.raises(TimeoutError, match="still queued"):
        handle.wait(timeout_s=0.2, interval_s=0.05)
    # The published message carries ids only, never the config or a secret.
    raw = real_store.redis.lrange("training", 0, -1)
    assert len(raw) == 1
    body = json.loads(raw[0])
    assert body["headers"]["id"] == handle.run_id
    assert "forced" not in raw[0] and "safety_controls" not in raw[0]
    real_store.runs.update(handle.run_id, status="succeeded")
    assert RunHandle(real_store, handle.run_id, sid, "acme").wait(1)["status"] == "succeeded"
