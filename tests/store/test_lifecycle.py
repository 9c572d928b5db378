"""Run transitions in Redis (claim, defer, finish, lost, sweeps), on fakeredis and a real
redis-server."""

from __future__ import annotations

import json
import time

import pytest

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token, holder_run_id
from tasksched.store.sweeps import sweep_lost, sweep_pending

LATER = time.time() + 3600


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
    f = run_once("i", RunStatus.INTERRUPTED)  # a worker's shutdown is not a failure
    assert f.applied and not f.cooldown_entered and f.consecutive_failures == 1
    f = run_once("c", RunStatus.FAILED)
    assert f.cooldown_entered and f.consecutive_failures == 2
    rec = store.schedules.get(sid)
    assert rec.cooldown_until == pytest.approx(f.now + 60.0, abs=0.01)
    assert rec.counters == {
        "total_runs": 4,
        "successful_runs": 0,
        "failed_runs": 2,
        "skipped_runs": 0,
        "rejected_runs": 1,
        "lost_runs": 0,
        "interrupted_runs": 1,
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
    assert metrics["runs_failed"] == "2" and metrics["runs_interrupted"] == "1"
    assert store.redis.get(store.keys.tomb("d")) == "succeeded"


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
    assert life.defer("r1", sid, token, True, "too little memory", 2.0, "resources", LATER) == 1
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
    other = attempt_token("r1")
    assert life.defer("r1", sid, other, True, "busy", 2.0, "resources", LATER,
                      checks=checks) is None  # fmt: skip
    assert "checks" not in store.runs.get("r1")
    assert life.defer("r1", sid, token, True, "busy", 2.0, "resources", LATER,
                      checks=checks) == 1  # fmt: skip
    assert store.runs.get("r1")["checks"] == checks


def test_missing_record_is_created_and_finished_runs_refused(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    token = attempt_token("old")
    fire = time.time() - 10
    c = life.claim("old", sid, "acme", token, "w1", "cron", fire)
    assert c.code == "claimed"
    run = store.runs.get("old")
    assert run["fire_time"] == fire and run["schedule_id"] == sid
    assert "old" in store.redis.zrange(store.keys.runs(sid), 0, -1)
    life.finish("old", sid, token, RunStatus.SKIPPED, "paused", 3, 1.0)
    assert claim(life, sid, "old", attempt_token("old")) == "done"


def test_a_lost_attempt_is_rerun_once_then_lost_and_never_a_failure(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "dead")
    token = attempt_token("dead")
    claim(life, sid, "dead", token)
    now = store.time()
    assert sweep_lost(store, now) == []  # its lock is alive
    store.redis.delete(store.keys.run_lock(sid))  # the TTL ran out
    [swept] = sweep_lost(store, now)
    assert swept.run_id == "dead" and swept.lost is not None and swept.lost.requeued
    run = store.runs.get("dead")
    assert run["status"] == "queued" and "lock expired" in run["reason"]
    assert store.redis.zscore(store.keys.pending, "dead") is not None
    assert sweep_lost(store, now) == []
    # The re-run starts and its worker dies too: now it ends lost.
    token2 = attempt_token("dead")
    assert claim(life, sid, "dead", token2) == "claimed"
    store.redis.delete(store.keys.run_lock(sid))
    [swept] = sweep_lost(store, now)
    assert swept.lost is not None and swept.lost.result == 2
    run = store.runs.get("dead")
    assert run["status"] == "lost" and run["lost_attempts"] == "2"
    rec = store.schedules.get(sid)
    assert rec.counters["failed_runs"] == 0 and rec.counters["consecutive_failures"] == 0
    assert rec.counters["lost_runs"] == 2 and rec.counters["total_runs"] == 1
    assert json.loads(store.redis.hget(store.keys.schedule(sid), "last_result"))[
        "status"
    ] == "lost"
    assert store.redis.hget(store.keys.metrics, "runs_lost") == "2"
    # A redelivery of a run whose old attempt died: claim reports it stale.
    queued(store, sid, "dead2")
    token3 = attempt_token("dead2")
    claim(life, sid, "dead2", token3)
    store.redis.delete(store.keys.run_lock(sid))
    c = life.claim("dead2", sid, "acme", attempt_token("dead2"), "w2", "cron", None)
    assert c.code == "stale" and c.detail == token3


def test_lost_is_refused_while_the_attempt_holds_its_lock(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    token = attempt_token("r1")
    claim(life, sid, "r1", token)
    assert life.lost("r1", sid, token, "x", LATER, only_if_lock_gone=True).result == 0
    assert store.runs.get("r1")["status"] == "running"
    # The owner itself gives it up (its keeper lost the lock): re-queued, lock released.
    assert life.lost("r1", sid, token, "x", LATER, only_if_lock_gone=False).requeued
    assert not store.redis.exists(store.keys.run_lock(sid))


def test_a_cron_message_later_than_its_grace_is_recorded_missed_not_run(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    fire = time.time() - 3600  # the schedule's grace is the default 300 s
    store.runs.add("late", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, fire_time=fire)
    c = life.claim("late", sid, "acme", attempt_token("late"), "w1", "cron", fire)
    assert c.code == "expired" and "300s misfire grace + 60s margin" in c.detail
    run = store.runs.get("late")
    assert run["status"] == "missed" and run["reason"] == c.detail
    assert not store.redis.exists(store.keys.run_lock(sid))
    assert store.redis.zscore(store.keys.pending, "late") is None
    assert store.schedules.get(sid).counters["total_runs"] == 0
    # A manual run has no staleness bound.
    store.runs.add("m", sid, "acme", RunStatus.QUEUED, RunTrigger.MANUAL, fire_time=fire)
    assert claim(life, sid, "m", attempt_token("m")) == "claimed"


def test_the_pending_sweep_ends_a_run_whose_message_never_came(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    deadline = store.redis.zscore(store.keys.pending, "r1")
    assert deadline == pytest.approx(time.time() + store.settings.
                                     effective_visibility_timeout_s, abs=5)  # fmt: skip
    assert sweep_pending(store, time.time()) == []
    [swept] = sweep_pending(store, deadline + 1)
    assert swept.run_id == "r1"
    run = store.runs.get("r1")
    assert run["status"] == "missed" and "message was lost" in run["reason"]
    assert store.redis.zcard(store.keys.pending) == 0
    assert sweep_pending(store, deadline + 1) == []


def test_finish_of_a_deleted_schedule_touches_no_schedule(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    token = attempt_token("r1")
    claim(life, sid, "r1", token)
    store.redis.delete(store.keys.schedule(sid))
    assert life.finish("r1", sid, token, RunStatus.SKIPPED, "gone", 3, 1.0).applied
    assert not store.redis.exists(store.keys.schedule(sid))


def test_a_late_message_of_a_deleted_schedule_records_nothing(
    store: Store, life: RunLifecycle, sid: str
) -> None:
    queued(store, sid, "r1")
    store.schedules.delete(sid)
    c = life.claim("r1", sid, "acme", attempt_token("r1"), "w1", "cron", time.time())
    assert c.code == "gone"
    assert not store.redis.exists(store.keys.run("r1"), store.keys.runs(sid),
                                  store.keys.run_lock(sid))  # fmt: skip
    assert store.redis.zcard(store.keys.pending) == 0


def test_history_trimming_never_removes_a_run_that_is_not_final(store: Store) -> None:
    small = Store(redis_client=store.redis, settings=store.settings.replace(run_history_max=3))
    sid = SchedulerManager(store=small).create_training_schedule("acme", "s", "0 2 * * *")
    life = RunLifecycle(small)
    small.runs.add("old-running", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, score=1.0,
                   fire_time=time.time())  # fmt: skip
    small.runs.add("old-queued", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, score=2.0)
    token = attempt_token("old-running")
    assert life.claim("old-running", sid, "acme", token, "w1", "cron", None).code == "claimed"
    for i in range(5):
        small.runs.add(f"done-{i}", sid, "acme", RunStatus.SUCCEEDED, RunTrigger.CRON,
                       score=10.0 + i)  # fmt: skip
    kept = small.redis.zrange(small.keys.runs(sid), 0, -1)
    assert "old-running" in kept and "old-queued" in kept  # older than the cap, not final
    assert [r for r in kept if r.startswith("done-")] == ["done-2", "done-3", "done-4"]
    # The running one finishes: its record is there to write to, then it may go.
    assert life.finish("old-running", sid, token, RunStatus.SUCCEEDED, "ok", 3, 1.0).applied
    assert small.redis.get(small.keys.tomb("old-running")) == "succeeded"
