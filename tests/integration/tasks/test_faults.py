"""The worker under connection faults: each script of the claim, defer, finish, lost and sweep
paths has its reply cut after Redis ran it (redis-py reconnects and sends it again).

Each test asserts the four things a lost reply must never cost: no run lost, no run trained
twice (the learner's call log), no run left non-final, no false failure counted.
"""

from __future__ import annotations

import time

import pytest

from tasksched.errors import NotFoundError
from tasksched.models import RunStatus, RunTrigger
from tasksched.runs import trigger
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tasksched.store.sweeps import sweep_lost, sweep_pending
from tasksched.tasks.heartbeat import Heartbeat
from tasksched.tasks.prerun import RunMessage
from tests.integration.faultproxy import script_sha
from tests.integration.faults import Faulty

pytestmark = pytest.mark.integration


def enqueue(f: Faulty, sid: str, run_id: str, fire: float | None = None) -> RunMessage:
    fire = time.time() if fire is None else fire
    f.direct.runs.add(run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, score=fire,
                      fire_time=fire, queued_at=fire)  # fmt: skip
    return RunMessage("acme", sid, run_id, fire, "cron", "w-test")


def no_false_failure(f: Faulty, sid: str) -> None:
    counters = f.direct.schedules.get(sid).counters
    assert counters["failed_runs"] == 0 and counters["consecutive_failures"] == 0, counters


@pytest.mark.parametrize("script", ["run_claim", "run_update", "run_finish", "lease_renew"])
def test_a_run_whose_reply_was_lost_trains_once_and_succeeds(faulty: Faulty, script: str) -> None:
    # train_s: long enough for the lock renewal (every ttl / 3 = 1 s) to be cut as well.
    sid = faulty.schedule({"count": 500, "train_s": 1.5 if script == "lease_renew" else 0})
    msg = enqueue(faulty, sid, "r1")
    rule = faulty.proxy.cut("EVALSHA", script_sha(script))
    outcome = faulty.pipeline.run(msg)
    assert rule.cuts == 1
    assert outcome.status is RunStatus.SUCCEEDED, outcome.reason
    run = faulty.direct.runs.get("r1")
    assert run["status"] == "succeeded" and run["attempts"] == 1
    assert faulty.calls(sid) == ["r1"]  # trained once
    counters = faulty.direct.schedules.get(sid).counters
    assert counters["total_runs"] == 1 and counters["successful_runs"] == 1
    no_false_failure(faulty, sid)
    assert faulty.non_final() == []
    assert not faulty.direct.redis.exists(faulty.direct.keys.run_lock(sid))


def test_a_failed_run_whose_finish_reply_was_lost_counts_one_failure(faulty: Faulty) -> None:
    sid = faulty.schedule({"count": 500, "fail": "train"},
                          safety_controls={"max_consecutive_failures": 2})  # fmt: skip
    rule = faulty.proxy.cut("EVALSHA", script_sha("run_finish"))
    outcome = faulty.pipeline.run(enqueue(faulty, sid, "r1"))
    assert rule.cuts == 1 and outcome.status is RunStatus.FAILED
    rec = faulty.direct.schedules.get(sid)
    assert rec.counters["failed_runs"] == 1 and rec.counters["consecutive_failures"] == 1
    assert rec.cooldown_until is None  # one failure of two allowed: no cooldown
    assert faulty.calls(sid) == ["r1"] and faulty.non_final() == []


@pytest.mark.parametrize("lock_busy", [False, True], ids=["resources", "lock_busy"])
def test_a_deferral_whose_reply_was_lost_is_counted_once_and_retried(
    faulty: Faulty, lock_busy: bool
) -> None:
    sid = faulty.schedule({"count": 500}, concurrency_policy="wait")
    pipeline = faulty.pipeline
    if lock_busy:
        faulty.direct.redis.set(faulty.direct.keys.run_lock(sid), "other-run|x", px=60_000)
    else:
        from tasksched.tasks.run_steps import RunPipeline

        pipeline = RunPipeline(faulty.store, faulty.settings.replace(worker_max_memory_mb=100),
                               notify=False)  # fmt: skip
    msg = enqueue(faulty, sid, "r1")
    rule = faulty.proxy.cut("EVALSHA", script_sha("run_defer"))
    outcome = pipeline.run(msg)
    assert rule.cuts == 1
    assert outcome.status is RunStatus.DEFERRED and outcome.countdown_s > 0  # re-queued
    run = faulty.direct.runs.get("r1")
    assert run["status"] == "deferred" and run["deferrals"] == 1
    assert faulty.non_final() == ["r1"]  # pending: the sweep ends it if no retry ever comes
    # The retry lands on a host that can take it.
    faulty.direct.redis.delete(faulty.direct.keys.run_lock(sid))
    assert faulty.pipeline.run(msg).status is RunStatus.SUCCEEDED
    assert faulty.calls(sid) == ["r1"] and faulty.non_final() == []
    no_false_failure(faulty, sid)


def test_a_lost_attempt_whose_reply_was_lost_is_rerun_once(faulty: Faulty) -> None:
    sid = faulty.schedule({"count": 500})
    msg = enqueue(faulty, sid, "r1")
    life = RunLifecycle(faulty.direct)
    assert life.claim("r1", sid, "acme", attempt_token("r1"), "dead@h", "cron", None).code == (
        "claimed"
    )
    faulty.direct.redis.delete(faulty.direct.keys.run_lock(sid))  # its worker died
    rule = faulty.proxy.cut("EVALSHA", script_sha("run_lost"))
    outcome = faulty.pipeline.run(msg)  # the redelivery runs it once more
    assert rule.cuts == 1 and outcome.status is RunStatus.SUCCEEDED, outcome.reason
    run = faulty.direct.runs.get("r1")
    assert run["lost_attempts"] == "1" and run["attempts"] == 2
    counters = faulty.direct.schedules.get(sid).counters
    assert counters["lost_runs"] == 1 and counters["total_runs"] == 1
    assert faulty.calls(sid) == ["r1"] and faulty.non_final() == []
    no_false_failure(faulty, sid)


def test_a_sweep_whose_replies_were_lost_requeues_and_publishes_once(faulty: Faulty) -> None:
    sid = faulty.schedule({"count": 500})
    enqueue(faulty, sid, "r1")
    life = RunLifecycle(faulty.direct)
    life.claim("r1", sid, "acme", attempt_token("r1"), "dead@h", "cron", None)
    faulty.direct.redis.delete(faulty.direct.keys.run_lock(sid))
    # The sweep's read pipeline and its lost script, each cut once.
    rules = [faulty.proxy.cut("EVALSHA", script_sha("run_lost")), faulty.proxy.cut("HMGET")]
    hb = Heartbeat("w1@h", ["training"], faulty.settings, store=faulty.store)
    hb.beat()
    assert all(r.cuts == 1 for r in rules)
    messages = faulty.direct.redis.lrange("training", 0, -1)
    assert len(messages) == 1  # published once
    run = faulty.direct.runs.get("r1")
    assert run["status"] == "queued" and run["lost_attempts"] == "1"
    hb.beat()  # nothing more to do
    assert len(faulty.direct.redis.lrange("training", 0, -1)) == 1
    assert faulty.direct.schedules.get(sid).counters["lost_runs"] == 1
    no_false_failure(faulty, sid)
    # Its re-run trains once.
    msg = RunMessage("acme", sid, "r1", None, "cron", "w-test")
    assert faulty.pipeline.run(msg).status is RunStatus.SUCCEEDED
    assert faulty.calls(sid) == ["r1"] and faulty.non_final() == []
    assert sweep_lost(faulty.direct, faulty.direct.time()) == []


def test_a_pending_sweep_whose_reply_was_lost_ends_the_run_once(faulty: Faulty) -> None:
    sid = faulty.schedule({"count": 500})
    enqueue(faulty, sid, "r1")
    deadline = faulty.direct.redis.zscore(faulty.direct.keys.pending, "r1")
    rule = faulty.proxy.cut("EVALSHA", script_sha("run_finish"))
    [swept] = sweep_pending(faulty.store, deadline + 1)
    assert rule.cuts == 1 and swept.run_id == "r1"
    assert faulty.direct.runs.get("r1")["status"] == "missed"
    assert faulty.direct.redis.hget(faulty.direct.keys.metrics, "runs_missed") == "1"
    assert faulty.non_final() == []
    no_false_failure(faulty, sid)


def test_a_manual_trigger_whose_reply_was_lost_writes_one_run(faulty: Faulty) -> None:
    sid = faulty.schedule({"count": 500})
    rule = faulty.proxy.cut("EVALSHA", script_sha("add_run"))
    handle = trigger(faulty.store, "acme", sid)
    assert rule.cuts == 1
    assert faulty.direct.runs.count(sid) == 1
    assert faulty.direct.runs.get(handle.run_id)["status"] == "queued"
    assert len(faulty.direct.redis.lrange("training", 0, -1)) == 1


def test_a_delete_whose_reply_was_lost_answers_deleted(faulty: Faulty) -> None:
    sid = faulty.schedule({"count": 500})
    enqueue(faulty, sid, "r1")
    rule = faulty.proxy.cut("EVALSHA", script_sha("delete_schedule"))
    faulty.store.schedules.delete(sid)  # no NotFoundError for its own retry
    assert rule.cuts == 1
    with pytest.raises(NotFoundError):
        faulty.store.schedules.get(sid)
    with pytest.raises(NotFoundError):
        faulty.store.schedules.delete("0123456789abcdef")
    assert faulty.non_final() == []


def test_an_update_whose_reply_was_lost_is_not_a_conflict(faulty: Faulty) -> None:
    sid = faulty.schedule({"count": 500})
    before = faulty.direct.schedules.get(sid).version
    rule = faulty.proxy.cut("EVALSHA", script_sha("update_schedule"))
    faulty.manager.update_schedule(sid, name="renamed")
    assert rule.cuts == 1
    rec = faulty.direct.schedules.get(sid)
    assert rec.name == "renamed" and rec.version == before + 1


def test_a_failure_reset_whose_reply_was_lost_is_recorded_once(faulty: Faulty) -> None:
    sid = faulty.schedule({"count": 500})
    streak = {"consecutive_failures": "3", "cooldown_until": "2e9"}
    faulty.direct.redis.hset(faulty.direct.keys.schedule(sid), mapping=streak)
    before = faulty.direct.schedules.get(sid).version
    rule = faulty.proxy.cut("EVALSHA", script_sha("reset_failures"))
    status = faulty.manager.reset_failures(sid)
    assert rule.cuts == 1 and faulty.proxy.executed("EVALSHA", script_sha("reset_failures")) == 2
    history = [e for e in faulty.direct.schedules.history(sid) if e["event"] == "failures_reset"]
    assert len(history) == 1, history  # the retry wrote no second entry
    assert history[0]["previous_consecutive_failures"] == 3 and status["consecutive_failures"] == 0
    rec = faulty.direct.schedules.get(sid)
    assert rec.counters["consecutive_failures"] == 0 and rec.cooldown_until is None
    assert rec.version == before + 1  # bumped once
    # A second reset is a call of its own: recorded again.
    faulty.manager.update_schedule(sid, consecutive_failures=0)
    assert [e["event"] for e in faulty.direct.schedules.history(sid)].count("failures_reset") == 2
