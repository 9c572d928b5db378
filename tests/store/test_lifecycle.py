"""Run transitions in Redis (claim, defer, finish, sweep), on fakeredis and a real redis-server."""

from __future__ import annotations

import json
import time

import pytest

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token, holder_run_id


@pytest.fixture
def life(store: Store) -> RunLifecycle:
    return RunLifecycle(store)


@pytest.fixture
def sid(store: Store) -> str:
    return SchedulerManager(store=store).create_training_schedule("acme", "s", "0 2 * * *")


def queued(store: Store, sid: str, run_id: str) -> None:
    store.runs.add(run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, fire_time=time.time())


def claim(life: RunLifecycle, sid: str, run_id: str, token: str) -> str:
    return life.claim(run_id, sid, "acme", token, "w1", "cron", None).code


def test_claim_takes_the_lock_once_and_refuses_duplicates(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    t1, t2 = attempt_token("r1"), attempt_token("r1")
    c = life.claim("r1", sid, "acme", t1, "w1", "cron", None)
    assert c.code == "claimed" and c.switch_on
    assert c.schedule["id"] == sid and c.run["status"] == "running"
    assert store.redis.get(store.keys.run_lock(sid)) == t1
    assert holder_run_id(t1) == "r1"
    # The same run delivered again while it runs: refused, nothing changes.
    assert claim(life, sid, "r1", t2) == "duplicate"
    assert store.runs.get("r1")["lock_token"] == t1
    # Another run of the schedule meanwhile: the lock is busy.
    queued(store, sid, "r2")
    c2 = life.claim("r2", sid, "acme", attempt_token("r2"), "w2", "cron", None)
    assert c2.code == "locked" and holder_run_id(c2.detail) == "r1"
    assert store.runs.get("r2")["status"] == "queued"
    assert life.running_runs()[0][0] == "r1"


def test_finish_counts_outcomes_and_enters_cooldown(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    def run_once(run_id: str, status: RunStatus) -> object:
        queued(store, sid, run_id)
        token = attempt_token(run_id)
        assert claim(life, sid, run_id, token) == "claimed"
        return life.finish(run_id, sid, token, status, f"{status.value}!", 2, 60.0, data_count=5)

    f = run_once("a", RunStatus.FAILED)
    assert f.applied and not f.cooldown_entered and f.consecutive_failures == 1
    f = run_once("b", RunStatus.REJECTED)  # not a failure, not a success
    assert f.consecutive_failures == 1
    f = run_once("c", RunStatus.LOST)  # a lost run is a failure
    assert f.cooldown_entered and f.consecutive_failures == 2
    rec = store.schedules.get(sid)
    assert rec.cooldown_until == pytest.approx(f.now + 60.0, abs=0.01)
    assert rec.counters == {
        "total_runs": 3,
        "successful_runs": 0,
        "failed_runs": 2,
        "skipped_runs": 0,
        "rejected_runs": 1,
        "consecutive_failures": 2,
    }
    f = run_once("d", RunStatus.SUCCEEDED)
    rec = store.schedules.get(sid)
    assert rec.counters["consecutive_failures"] == 0 and rec.cooldown_until is None
    assert rec.last_result is not None
    assert rec.last_result["status"] == "succeeded" and rec.last_result["run_id"] == "d"
    assert rec.last_run is not None
    run = store.runs.get("d")
    assert run["status"] == "succeeded" and run["data_count"] == 5 and run["duration_s"] >= 0
    assert not store.redis.exists(store.keys.run_lock(sid))
    assert life.running_runs() == []
    metrics = store.redis.hgetall(store.keys.metrics)
    assert metrics["runs_failed"] == "1" and metrics["runs_lost"] == "1"


def test_finish_by_a_stale_attempt_changes_nothing(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    token = attempt_token("r1")
    claim(life, sid, "r1", token)
    f = life.finish("r1", sid, "someone-else", RunStatus.SUCCEEDED, "x", 3, 1.0)
    assert not f.applied
    assert store.runs.get("r1")["status"] == "running"
    assert store.schedules.get(sid).counters["total_runs"] == 0


def test_defer_releases_the_lock_and_counts(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    token = attempt_token("r1")
    claim(life, sid, "r1", token)
    assert life.defer("r1", sid, token, "too little memory", 2.0, "resources") == 1
    run = store.runs.get("r1")
    assert run["status"] == "deferred" and run["reason"] == "too little memory"
    assert run["deferrals"] == 1 and "lock_token" not in run
    assert not store.redis.exists(store.keys.run_lock(sid))
    # A deferred run is claimed again by its next delivery.
    token2 = attempt_token("r1")
    assert claim(life, sid, "r1", token2) == "claimed"
    assert store.runs.get("r1")["attempts"] == 2
    assert store.schedules.get(sid).counters["total_runs"] == 0  # deferral: no outcome


def test_defer_writes_its_fields_in_the_same_script_and_only_when_applied(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    token = attempt_token("r1")
    claim(life, sid, "r1", token)
    checks = [{"check": "run_id", "ok": True}]
    assert life.defer("r1", sid, "not-ours", "busy", 2.0, "resources", checks=checks) is None
    assert "checks" not in store.runs.get("r1")
    assert life.defer("r1", sid, token, "busy", 2.0, "resources", checks=checks) == 1
    assert store.runs.get("r1")["checks"] == checks


def test_missing_record_is_created_and_finished_runs_refused(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    token = attempt_token("old")
    c = life.claim("old", sid, "acme", token, "w1", "cron", 1234.0)
    assert c.code == "claimed"
    run = store.runs.get("old")
    assert run["fire_time"] == 1234.0 and run["schedule_id"] == sid
    assert "old" in store.redis.zrange(store.keys.runs(sid), 0, -1)
    life.finish("old", sid, token, RunStatus.SKIPPED, "paused", 3, 1.0)
    assert claim(life, sid, "old", attempt_token("old")) == "done"


def test_sweep_marks_runs_whose_lock_expired_as_lost(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "dead")
    token = attempt_token("dead")
    claim(life, sid, "dead", token)
    assert life.sweep() == []  # its lock is alive
    store.redis.delete(store.keys.run_lock(sid))  # the TTL ran out
    assert life.sweep() == ["dead"]
    run = store.runs.get("dead")
    assert run["status"] == "lost" and "lock expired" in run["reason"]
    rec = store.schedules.get(sid)
    assert rec.counters["failed_runs"] == 1
    assert json.loads(store.redis.hget(store.keys.schedule(sid), "last_result"))[
        "status"
    ] == "lost"
    assert life.sweep() == []
    # A redelivery of a run whose old attempt died: claim reports it stale.
    queued(store, sid, "dead2")
    token2 = attempt_token("dead2")
    claim(life, sid, "dead2", token2)
    store.redis.delete(store.keys.run_lock(sid))
    c = life.claim("dead2", sid, "acme", attempt_token("dead2"), "w2", "cron", None)
    assert c.code == "stale" and c.detail == token2


def test_finish_of_a_deleted_schedule_touches_no_schedule(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    token = attempt_token("r1")
    claim(life, sid, "r1", token)
    store.redis.delete(store.keys.schedule(sid))
    assert life.finish("r1", sid, token, RunStatus.SKIPPED, "gone", 3, 1.0).applied
    assert not store.redis.exists(store.keys.schedule(sid))
