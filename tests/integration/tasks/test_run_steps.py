"""Every gate and outcome through the worker's pipeline, in-process.

Real redis-server, real training child processes, real learners (``tests/learners/scripted.py``);
only the Celery transport is left out (``test_training.py`` runs real workers).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tasksched.tasks.prerun import RunMessage
from tasksched.tasks.run_steps import RunPipeline
from tests.helpers import wait_for

SCRIPTED = "scripted"  # registered in TASKSCHED_LEARNERS (tests.helpers.TEST_LEARNERS)


@pytest.fixture
def wsettings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.replace(
        state_dir=str(tmp_path / "state"),
        # An operator's registration whose module is missing on this host.
        learners=f"{settings.learners},missing=tests.learners.missing_module:Learner",
        training_kill_grace_s=0.5,
        defer_backoff_s=0.2,
        run_lock_ttl_s=3.0,
    )


class Rig:
    """A store, a manager and a pipeline sharing one real redis-server."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings=settings)
        self.manager = SchedulerManager(store=self.store)
        self.pipeline = RunPipeline(self.store, settings)
        self.n = 0

    def schedule(self, options: dict[str, Any] | None = None, **config: Any) -> str:
        controls = {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 400}
        controls.update(config.pop("safety_controls", {}))
        cfg = {
            "learner": SCRIPTED,
            "learner_options": options or {},
            "safety_controls": controls,
            **config,
        }
        return self.manager.create_training_schedule("acme", "s", "0 2 * * *", cfg)

    def run(
        self, sid: str, fire_time: float | None = None, forced: bool = False, **fields: Any
    ) -> tuple[Any, dict[str, Any]]:
        self.n += 1
        run_id = f"{sid}-{self.n}"
        fire = time.time() if fire_time is None else fire_time
        self.store.runs.add(
            run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON,
            fire_time=fire, queued_at=fire, forced=forced, **fields,
        )
        outcome = self.pipeline.run(RunMessage("acme", sid, run_id, fire, "cron", "w-test"))
        return outcome, self.store.runs.get(run_id)

    def model_dir(self, sid: str) -> Path:
        return Path(self.settings.state_dir) / "models" / "acme" / sid

    def calls(self, sid: str) -> list[dict[str, Any]]:
        path = self.model_dir(sid) / "calls.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def counters(self, sid: str) -> dict[str, int]:
        return self.store.schedules.get(sid).counters


@pytest.fixture
def rig(wsettings: Settings) -> Rig:
    return Rig(wsettings)


def test_success_runs_checks_in_order_trains_in_a_child_and_promotes(rig: Rig) -> None:
    sid = rig.schedule({"count": 500})
    outcome, run = rig.run(sid)
    assert outcome.status is RunStatus.SUCCEEDED, run["reason"]
    assert run["status"] == "succeeded" and run["reason"] == "promoted"
    names = [c.get("check") or c.get("gate") for c in run["checks"]]
    assert names == [
        "run_id", "run_lock", "schedule", "cooldown", "resources", "data", "quality", "validation",
    ]
    assert run["data_count"] == 500 and run["quality_score"] == 0.95
    assert float(run["prerun_ms"]) > 0 and run["worker"] == "w-test"
    calls = [c["call"] for c in rig.calls(sid)]
    assert calls == ["count", "backup", "train", "evaluate", "promote"]
    # One child process per run: every call (and the learner's construction) in it, none in
    # this process (the worker's).
    pids = {(c["pid"], c["built_pid"], c["ppid"]) for c in rig.calls(sid)}
    assert len(pids) == 1
    pid, built_pid, ppid = pids.pop()
    assert pid == built_pid != os.getpid() and ppid == os.getpid()
    assert rig.counters(sid)["successful_runs"] == 1
    assert not rig.store.redis.exists(rig.store.keys.run_lock(sid))
    # Notifications were queued as subtasks for "started" and "succeeded".
    events = sorted(
        json.loads(rig.store.redis.get(k))["event"]
        for k in rig.store.redis.scan_iter(rig.store.keys.notify_payload("*"))
    )
    assert events == ["run_started", "run_succeeded"]
    # The same run delivered again: refused, nothing changes.
    again = rig.pipeline.run(RunMessage("acme", sid, run["run_id"], None, "cron", "w2"))
    assert again.status is None and "already ended (succeeded)" in again.reason
    assert rig.counters(sid)["total_runs"] == 1


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"quality": 0.5}, "quality 0.5000 < threshold 0.7000"),
        ({"validation": 0.6}, "validation 0.6000 < threshold 0.8500"),
        ({"validation": 0.9, "baseline": 0.95}, "degraded: validation 0.9000 < current model"),
    ],
)
def test_rejected_candidates_are_rolled_back(
    rig: Rig, options: dict[str, Any], words: str
) -> None:
    sid = rig.schedule({"count": 500, **options})
    model = rig.model_dir(sid) / "model.txt"
    model.parent.mkdir(parents=True)
    model.write_text("the live model")
    outcome, run = rig.run(sid)
    assert outcome.status is RunStatus.REJECTED
    assert words in run["reason"] and "backup restored" in run["reason"]
    assert run["rolled_back"] is True
    assert model.read_text() == "the live model"  # the in-place candidate was undone
    assert [c["call"] for c in rig.calls(sid)][-1] == "restore"
    c = rig.counters(sid)
    assert c["rejected_runs"] == 1 and c["consecutive_failures"] == 0 and c["failed_runs"] == 0


def test_degradation_without_rollback_is_promoted_and_noted(rig: Rig) -> None:
    sid = rig.schedule(
        {"count": 500, "validation": 0.9, "baseline": 0.95},
        safety_controls={"rollback_on_degradation": False},
    )
    outcome, run = rig.run(sid)
    assert outcome.status is RunStatus.SUCCEEDED
    assert "rollback_on_degradation is off" in run["reason"] and run["degraded"] is True


@pytest.mark.parametrize(
    ("options", "stop", "words"),
    [
        ({"fail": "train"}, None, "RuntimeError: scripted failure in train"),
        ({"fail": "promote"}, None, "promote failed: RuntimeError"),
        ({"bad_evaluation": True}, None, "ValueError: quality_score must be a finite number"),
        ({"memory_mb": 300, "train_s": 20}, "memory_limit", "memory limit exceeded"),
    ],
)
def test_failures_are_recorded_and_the_backup_restored(
    rig: Rig, options: dict[str, Any], stop: str | None, words: str
) -> None:
    sid = rig.schedule({"count": 500, **options}, safety_controls={"max_memory_usage_mb": 250})
    model = rig.model_dir(sid) / "model.txt"
    model.parent.mkdir(parents=True)
    model.write_text("v1")
    t0 = time.monotonic()
    outcome, run = rig.run(sid)
    assert outcome.status is RunStatus.FAILED
    assert words in run["reason"] and "backup restored" in run["reason"]
    assert run.get("stop") == stop
    assert model.read_text() == "v1"
    assert time.monotonic() - t0 < 15  # the memory watchdog did not wait for train_s
    c = rig.counters(sid)
    assert c["failed_runs"] == 1 and c["consecutive_failures"] == 1
    if stop == "memory_limit":
        assert run["peak_memory_mb"] > 250


def test_soft_time_limit_stops_cleanly_and_hard_limit_kills(rig: Rig) -> None:
    soft = rig.schedule({"count": 500, "train_s": 30}, max_training_time=1.0)
    outcome, run = rig.run(soft)
    assert outcome.status is RunStatus.FAILED
    assert run["stop"] == "soft_time_limit" and "stopped cleanly" in run["reason"]
    assert 0.9 < run["training_s"] < 10

    hard = rig.schedule({"count": 500, "train_s": 30, "ignore_term": True}, max_training_time=1.0)
    outcome, run = rig.run(hard)
    assert outcome.status is RunStatus.FAILED
    assert run["stop"] == "hard_time_limit" and "training killed" in run["reason"]
    assert 1.4 < run["training_s"] < 10  # soft limit + kill grace (0.5 s)


def test_learner_that_cannot_be_imported_fails_the_run_not_the_worker(rig: Rig) -> None:
    sid = rig.schedule(learner="missing")
    outcome, run = rig.run(sid)
    assert outcome.status is RunStatus.FAILED
    assert "cannot be imported: ModuleNotFoundError" in run["reason"]
    ok = rig.schedule({"count": 500})
    assert rig.run(ok)[0].status is RunStatus.SUCCEEDED  # the same pipeline goes on


def test_paused_schedule_and_global_switch_skip(rig: Rig) -> None:
    sid = rig.schedule({"count": 500})
    rig.manager.pause_schedule(sid)
    outcome, run = rig.run(sid)
    assert outcome.status is RunStatus.SKIPPED and run["reason"] == "the schedule is paused"
    rig.manager.resume_schedule(sid)
    rig.manager.stop_scheduler()
    outcome, run = rig.run(sid)
    assert outcome.status is RunStatus.SKIPPED and "global switch off" in run["reason"]
    assert rig.counters(sid)["skipped_runs"] == 2 and rig.calls(sid) == []


def test_data_minimum_skips_unless_forced_and_maximum_caps(rig: Rig) -> None:
    sid = rig.schedule({"count": 40})
    outcome, run = rig.run(sid)
    assert outcome.status is RunStatus.SKIPPED
    assert run["reason"] == "40 new samples, below the minimum 100" and run["data_count"] == 40
    outcome, run = rig.run(sid, forced=True)
    assert outcome.status is RunStatus.SUCCEEDED
    train = [c for c in rig.calls(sid) if c["call"] == "train"]
    assert train[-1]["forced"] is True and train[-1]["max_samples"] is None
    big = rig.schedule({"count": 50000})
    rig.run(big)
    assert next(c for c in rig.calls(big) if c["call"] == "train")["max_samples"] == 10000


def test_cooldown_entry_skip_force_and_expiry(rig: Rig) -> None:
    sid = rig.schedule(
        {"count": 500, "fail": "train"},
        safety_controls={"max_consecutive_failures": 2, "failure_cooldown_hours": 2.0 / 3600},
    )
    first, _ = rig.run(sid)
    assert first.status is RunStatus.FAILED and not first.cooldown_entered
    second, _ = rig.run(sid)
    assert second.status is RunStatus.FAILED and second.cooldown_entered
    assert rig.store.schedules.get(sid).cooldown_until is not None
    skipped, run = rig.run(sid)
    assert skipped.status is RunStatus.SKIPPED and "in cooldown" in run["reason"]
    forced, run = rig.run(sid, forced=True)  # force bypasses the cooldown
    assert forced.status is RunStatus.FAILED
    assert any("forced past" in c.get("detail", "") for c in run["checks"])
    until = rig.store.schedules.get(sid).cooldown_until
    assert until is not None
    wait_for(lambda: rig.store.time() > until, 10, what="the cooldown to pass (Redis's clock)")
    rig.manager.update_schedule(sid, config={"learner_options": {"fail": "nowhere"}})
    after, run = rig.run(sid)
    assert after.status is RunStatus.SUCCEEDED, run["reason"]
    rec = rig.store.schedules.get(sid)
    assert rec.counters["consecutive_failures"] == 0 and rec.cooldown_until is None


def test_host_over_its_limits_defers_until_the_grace_ends(rig: Rig) -> None:
    small = RunPipeline(rig.store, rig.settings.replace(worker_max_memory_mb=100))
    sid = rig.schedule({"count": 500}, misfire_grace_s=60)
    fire = time.time()
    rig.store.runs.add(
        "d1", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, fire_time=fire, queued_at=fire
    )
    msg = RunMessage("acme", sid, "d1", fire, "cron", "small")
    outcome = small.run(msg)
    assert outcome.status is RunStatus.DEFERRED and outcome.countdown_s == pytest.approx(0.2)
    run = rig.store.runs.get("d1")
    assert run["status"] == "deferred" and "exceeds this worker's cap 100 MB" in run["reason"]
    assert run["deferrals"] == 1
    assert not rig.store.redis.exists(rig.store.keys.run_lock(sid))
    second = small.run(msg)
    assert second.countdown_s == pytest.approx(0.4)  # backoff doubles
    # A bigger host takes the redelivered run.
    big = rig.pipeline.run(replace(msg, worker="big"))
    assert big.status is RunStatus.SUCCEEDED
    assert rig.store.runs.get("d1")["worker"] == "big"
    # Past the misfire grace a deferral becomes a skip (within the staleness margin: past that
    # too the message is refused as too late, see test_a_cron_message_later_than_its_grace...).
    old = fire - 90
    rig.store.runs.add(
        "d2", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, fire_time=old, queued_at=old
    )
    late = small.run(RunMessage("acme", sid, "d2", old, "cron", "small"))
    assert late.status is RunStatus.SKIPPED and "misfire grace ended" in late.reason
    assert rig.counters(sid)["skipped_runs"] == 1


@pytest.mark.parametrize(("policy", "status"), [("skip", "skipped"), ("wait", "deferred")])
def test_run_lock_held_by_another_run(rig: Rig, policy: str, status: str) -> None:
    sid = rig.schedule({"count": 500}, concurrency_policy=policy)
    life = RunLifecycle(rig.store)
    rig.store.runs.add("busy", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON)
    claim = life.claim("busy", sid, "acme", attempt_token("busy"), "w0", "cron", None)
    assert claim.code == "claimed"
    _, run = rig.run(sid)
    assert run["status"] == status
    assert "holds the run lock (busy)" in run["reason"]
    assert rig.calls(sid) == []  # never ran beside the other one
    assert rig.store.runs.get("busy")["status"] == "running"
