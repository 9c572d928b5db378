"""Real Celery workers on a real redis-server: placement by memory, forced runs, cooldown,
heartbeats, SIGKILL mid-training, and the demo learner's gates and rollback.

Workers run as ``python -m celery -A tasksched worker`` subprocesses (prefork, one slot)
with their limits in ``TASKSCHED_*`` variables; runs are enqueued like beat does (queued
record first, then the task with ids only) or with ``trigger_training``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tasksched.celery import TRAIN_TASK, app_for
from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.settings import Settings, reload_settings
from tasksched.store import Store, cron_run_id
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TEST_LEARNERS, Proc, RedisServer, child_env, wait_for

pytestmark = pytest.mark.timeout(120)
SCRIPTED = "scripted"  # registered in TASKSCHED_LEARNERS (tests.helpers.TEST_LEARNERS)


class Cluster:
    """One redis-server and the workers started on it (stopped at the end)."""

    def __init__(self, root: Path):
        self.root = root
        self.redis = RedisServer(root / "redis")
        self.redis.start()
        self.settings = Settings(
            redis_url=self.redis.url, secret_key=TEST_SECRET_KEY, state_dir=str(root / "state"),
            learners=TEST_LEARNERS,
        )
        self.store = Store(settings=self.settings)
        self.manager = SchedulerManager(store=self.store)
        self.workers: dict[str, Proc] = {}
        self.sent = 0

    def start(self, name: str, max_memory_mb: int, queue: str = "training") -> Proc:
        env = child_env(
            TASKSCHED_REDIS_URL=self.redis.url,
            TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
            TASKSCHED_LEARNERS=TEST_LEARNERS,
            TASKSCHED_WORKER_MAX_MEMORY_MB=str(max_memory_mb),
            TASKSCHED_STATE_DIR=str(self.root / "state"),
            TASKSCHED_TRAINING_QUEUE=queue,
            TASKSCHED_RUN_LOCK_TTL_S="1.5",
            TASKSCHED_WORKER_HEARTBEAT_S="0.5",
            TASKSCHED_WORKER_CPU_SAMPLE_S="0.5",
            TASKSCHED_DEFER_BACKOFF_S="0.3",
            TASKSCHED_TRAINING_KILL_GRACE_S="0.5",
        )
        args = [
            sys.executable, "-m", "celery", "-A", "tasksched", "worker", "-Q", queue,
            "-n", f"{name}@%h", "-c", "1", "--pool", "prefork", "-l", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
        proc = Proc(args, env, self.root / f"{name}.log")
        self.workers[name] = proc
        try:
            wait_for(lambda: self.node(name), 30, what=f"worker {name} heartbeat")
        except AssertionError:
            raise AssertionError(proc.log_path.read_text(errors="replace")[-3000:]) from None
        return proc

    def ensure(self, name: str, max_memory_mb: int) -> Proc:
        proc = self.workers.get(name)
        if proc is not None and proc.alive():
            return proc
        return self.start(name, max_memory_mb)

    def node(self, name: str) -> str | None:
        for node in self.store.control.workers():
            if node.startswith(f"{name}@"):
                return node
        return None

    def stop(self) -> None:
        for proc in self.workers.values():
            proc.stop()
        self.store.redis.close()
        self.redis.stop()

    def schedule(self, options: dict[str, Any], **config: Any) -> str:
        controls = {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 400}
        controls.update(config.pop("safety_controls", {}))
        cfg = {"learner": SCRIPTED, "learner_options": options, "safety_controls": controls}
        cfg.update(config)
        return self.manager.create_training_schedule("acme", "s", "*/5 * * * *", cfg)

    def enqueue(self, sid: str, queue: str = "training") -> str:
        """What beat does: the queued record (NX), then the task with ids only."""
        fire = time.time()
        self.sent += 1
        # Distinct ids even for two fires within one second (cron_run_id rounds to seconds).
        run_id = f"{cron_run_id(sid, fire)}-{self.sent}"
        self.store.runs.add(
            run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON,
            score=fire, only_new=True, fire_time=fire, queued_at=fire,
        )
        app_for(self.store.settings).send_task(
            TRAIN_TASK,
            kwargs={
                "tenant_id": "acme", "schedule_id": sid, "run_id": run_id,
                "fire_time": fire, "trigger": "cron",
            },
            task_id=run_id,
            queue=queue,
        )
        return run_id

    def wait_status(self, run_id: str, *statuses: str, timeout_s: float = 30) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run = self.store.runs.get(run_id)
            return run if run["status"] in statuses else None

        try:
            return wait_for(done, timeout_s, what=f"run {run_id} in {statuses}")  # type: ignore[no-any-return]
        except AssertionError:
            logs = "\n".join(
                f"--- {n}\n{p.log_path.read_text(errors='replace')[-2000:]}"
                for n, p in self.workers.items()
            )
            raise AssertionError(f"{self.store.runs.get(run_id)}\n{logs}") from None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("workers"))
    yield c
    c.stop()


def test_a_run_too_big_for_one_worker_is_deferred_and_lands_on_the_other(
    cluster: Cluster,
) -> None:
    small = cluster.ensure("small", max_memory_mb=300)
    sid = cluster.schedule({"count": 500}, safety_controls={"max_memory_usage_mb": 1000})
    run_id = cluster.enqueue(sid)
    run = cluster.wait_status(run_id, "deferred")
    assert "exceeds this worker's cap 300 MB" in run["reason"]
    assert run["worker"].startswith("small@")
    cluster.ensure("big", max_memory_mb=8000)
    run = cluster.wait_status(run_id, "succeeded")
    assert run["worker"].startswith("big@") and run["deferrals"] >= 1
    assert cluster.store.schedules.get(sid).counters["successful_runs"] == 1
    # Heartbeats: both workers report their limits; a clean stop removes the entry.
    workers = cluster.store.control.workers()
    small_node = cluster.node("small")
    assert small_node is not None
    beat = workers[small_node]
    assert beat["limits"]["max_memory_mb"] == 300 and beat["queues"] == ["training"]
    assert beat["memory_total_mb"] > beat["memory_available_mb"] > 0
    assert abs(beat["ts"] - cluster.store.time()) < 5
    small.stop()
    assert cluster.node("small") is None
    assert "run succeeded" in cluster.workers["big"].output()


def test_forced_run_cooldown_entry_and_expiry(cluster: Cluster) -> None:
    cluster.ensure("big", max_memory_mb=8000)
    sid = cluster.schedule(
        {"count": 500, "fail": "train"},
        safety_controls={"max_consecutive_failures": 1, "failure_cooldown_hours": 3.0 / 3600},
    )
    failed = cluster.manager.trigger_training("acme", sid).wait(30)
    assert failed["status"] == "failed" and failed["trigger"] == "manual"
    rec = cluster.store.schedules.get(sid)
    assert rec.cooldown_until is not None and rec.counters["consecutive_failures"] == 1
    cluster.manager.update_schedule(sid, config={"learner_options": {"fail": "nowhere"}})
    skipped = cluster.manager.trigger_training("acme", sid).wait(30)
    assert skipped["status"] == "skipped" and "in cooldown" in skipped["reason"]
    handle = cluster.manager.trigger_training("acme", sid, force=True)
    assert handle.record()["forced"] is True
    forced = handle.wait(30)
    assert forced["status"] == "succeeded"  # force bypasses the cooldown
    assert cluster.store.schedules.get(sid).counters["consecutive_failures"] == 0


def test_cooldown_expires(cluster: Cluster) -> None:
    cluster.ensure("big", max_memory_mb=8000)
    sid = cluster.schedule(
        {"count": 500, "fail": "train"},
        safety_controls={"max_consecutive_failures": 1, "failure_cooldown_hours": 5.0 / 3600},
    )
    cluster.wait_status(cluster.enqueue(sid), "failed")
    skipped = cluster.wait_status(cluster.enqueue(sid), "skipped")
    assert "in cooldown" in skipped["reason"]
    until = cluster.store.schedules.get(sid).cooldown_until
    assert until is not None
    wait_for(lambda: cluster.store.time() > until, 15, what="the cooldown to pass (Redis's clock)")
    after = cluster.wait_status(cluster.enqueue(sid), "failed", "skipped")
    assert after["status"] == "failed"  # it ran again once the cooldown was over


def test_trigger_training_from_the_environment(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasksched

    cluster.ensure("big", max_memory_mb=8000)
    sid = cluster.schedule({"count": 500})
    monkeypatch.setenv("TASKSCHED_REDIS_URL", cluster.redis.url)
    monkeypatch.setenv("TASKSCHED_SECRET_KEY", TEST_SECRET_KEY)
    reload_settings()
    try:
        handle = tasksched.trigger_training("acme", sid, force=True)
        assert handle.wait(30)["status"] == "succeeded"
        with pytest.raises(tasksched.NotFoundError):
            tasksched.trigger_training("globex", sid)
    finally:
        monkeypatch.undo()
        reload_settings()


def test_sigkill_mid_training_reruns_the_run_once_elsewhere_and_counts_no_failure(
    cluster: Cluster,
) -> None:
    cluster.ensure("big", max_memory_mb=8000)  # a live worker: its sweep finds the lost run
    victim = cluster.start("victim", max_memory_mb=8000, queue="victim")
    sid = cluster.schedule({"count": 500, "train_s": 3})
    run_id = cluster.enqueue(sid, queue="victim")
    cluster.wait_status(run_id, "running")
    model_dir = Path(cluster.settings.state_dir) / "models" / "acme" / sid
    train_pid = wait_for(
        lambda: next(
            (json.loads(x)["pid"] for x in (model_dir / "calls.log").read_text().splitlines()
             if json.loads(x)["call"] == "train"),
            None,
        ),
        20,
        what="training child started",
    )
    victim.kill()  # SIGKILL: no cleanup runs
    # Its lock expires, a live worker's sweep re-queues the run and publishes it once more;
    # the other worker runs it.
    run = cluster.wait_status(run_id, "succeeded", timeout_s=40)
    assert run["lost_attempts"] == "1" and run["worker"].startswith("big@")
    assert "lock expired" in run["lost_reason"]
    rec = cluster.store.schedules.get(sid)
    assert rec.counters["failed_runs"] == 0 and rec.counters["consecutive_failures"] == 0
    assert rec.counters["lost_runs"] == 1 and rec.counters["total_runs"] == 1
    assert not cluster.store.redis.exists(cluster.store.keys.run_lock(sid))
    wait_for(lambda: not psutil.pid_exists(train_pid), 10, what="training child gone")


def test_pool_and_training_processes_die_with_their_worker(cluster: Cluster) -> None:
    cluster.ensure("big", max_memory_mb=8000)  # a live worker: its sweep finds the lost run
    victim = cluster.start("orphaner", max_memory_mb=8000, queue="orphaner")
    sid = cluster.schedule({"count": 500, "train_s": 5})
    run_id = cluster.enqueue(sid, queue="orphaner")
    cluster.wait_status(run_id, "running")
    # "running" is set at the claim; the training child starts after the pre-run checks.
    def pool_and_child() -> list[psutil.Process]:
        found = psutil.Process(victim.pid).children(recursive=True)
        return found if len(found) >= 2 else []

    family: list[psutil.Process] = wait_for(
        pool_and_child, 30, what="the pool process and its training child"
    )

    def alive() -> list[psutil.Process]:
        return [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    os.kill(victim.pid, signal.SIGKILL)  # the worker's main process only, not its group
    wait_for(lambda: not alive(), 15, what="pool and training processes gone")
    run = cluster.wait_status(run_id, "succeeded", timeout_s=40)
    assert run["lost_attempts"] == "1"
    assert not cluster.store.redis.exists(cluster.store.keys.run_lock(sid))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_learner_promotes_then_rejects_a_worse_model_and_rolls_back(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.ensure("big", max_memory_mb=8000)
    options = {"initial_samples": 600, "growth_per_hour": 0}
    sid = cluster.manager.create_training_schedule(
        "acme",
        "demo",
        "0 * * * *",
        {
            "learner": "demo",
            "learner_options": options,
            "safety_controls": {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 1500},
        },
    )
    model_dir = Path(cluster.settings.state_dir) / "models" / "acme" / sid  # derived
    first = cluster.manager.trigger_training("acme", sid).wait(60)
    assert first["status"] == "succeeded", first["reason"]
    assert first["validation_score"] > 0.85 and first.get("baseline_score") is None
    promoted = _digest(model_dir / "model.joblib")
    cluster.manager.update_schedule(
        sid, config={"learner_options": {**options, "label_noise": 0.9}}
    )
    second = cluster.manager.trigger_training("acme", sid).wait(60)
    assert second["status"] == "rejected", second["reason"]
    assert "degraded" in second["reason"] and "backup restored" in second["reason"]
    assert second["baseline_score"] == pytest.approx(first["validation_score"])
    assert _digest(model_dir / "model.joblib") == promoted  # rolled back for real
    counters = cluster.store.schedules.get(sid).counters
    assert counters["successful_runs"] == 1 and counters["rejected_runs"] == 1


def test_a_rejected_first_run_says_no_previous_model(cluster: Cluster, tmp_path: Path) -> None:
    cluster.ensure("big", max_memory_mb=8000)
    sid = cluster.manager.create_training_schedule(
        "acme",
        "strict demo",
        "0 * * * *",
        {
            "learner": "demo",
            "learner_options": {"growth_per_hour": 0},
            # validation 0.999: no model of the demo's first 400 samples reaches it
            "safety_controls": {"level": "strict", "validation_threshold": 0.999,
                                "max_cpu_usage_percent": 100, "max_memory_usage_mb": 1500},
        },
    )  # fmt: skip
    model_dir = Path(cluster.settings.state_dir) / "models" / "acme" / sid  # derived
    run = cluster.manager.trigger_training("acme", sid, force=True).wait(60)
    assert run["status"] == "rejected", run["reason"]
    assert "no previous model" in run["reason"] and "backup restored" not in run["reason"]
    assert run["rolled_back"] is True and isinstance(run["training_s"], float)
    assert not (model_dir / "model.joblib").exists()  # the candidate was removed
