"""Through a real worker: the learner is built from a tenant's options and called only in the
run's supervised child, never in the worker's processes, for every step; a data count that
hangs is killed at the step limit and the worker goes on.

The scripted learner appends the pid (and parent pid) of every construction to
``$TASKSCHED_TEST_BUILT`` and logs the pid of every call in its model directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tasksched.celery import TRAIN_TASK, app_for
from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.settings import Settings
from tasksched.store import Store
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TEST_LEARNERS, Proc, RedisServer, wait_for
from tests.integration.procs import start_worker

pytestmark = pytest.mark.timeout(180)
STEP_S = 5.0  # TASKSCHED_LEARNER_STEP_TIMEOUT_S: above a child's start-up under load


class Site:
    """A redis-server, one real worker (step limit STEP_S) and its store."""

    def __init__(self, root: Path):
        self.root = root
        self.built = root / "built.log"
        self.redis = RedisServer(root / "redis")
        self.redis.start()
        self.settings = Settings(redis_url=self.redis.url, secret_key=TEST_SECRET_KEY,
                                 learners=TEST_LEARNERS, state_dir=str(root / "state"))  # fmt: skip
        self.store = Store(settings=self.settings)
        self.manager = SchedulerManager(store=self.store)
        self.worker: Proc = start_worker(
            root, "w", self.redis.url, self.store,
            TASKSCHED_TEST_BUILT=str(self.built),
            TASKSCHED_LEARNER_STEP_TIMEOUT_S=str(STEP_S),
            TASKSCHED_TRAINING_KILL_GRACE_S="0.5",
        )  # fmt: skip
        self.n = 0

    def schedule(self, options: dict[str, Any], **controls: Any) -> str:
        cfg = {"learner": "scripted", "learner_options": options,
               "safety_controls": {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 250,
                                   **controls}}  # fmt: skip
        return self.manager.create_training_schedule("acme", "s", "0 2 * * *", cfg)

    def run(self, sid: str, *statuses: str) -> dict[str, Any]:
        """Enqueue a run as beat does (queued record, then ids only) and wait for its end."""
        self.n += 1
        run_id, fire = f"{sid}-{self.n}", time.time()
        self.store.runs.add(run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON,
                            score=fire, fire_time=fire, queued_at=fire)  # fmt: skip
        app_for(self.settings).send_task(
            TRAIN_TASK, task_id=run_id,
            kwargs={"tenant_id": "acme", "schedule_id": sid, "run_id": run_id,
                    "fire_time": fire, "trigger": "cron"},
        )  # fmt: skip

        def ended() -> dict[str, Any] | None:
            run = self.store.runs.get(run_id)
            return run if run["status"] in statuses else None

        try:
            return wait_for(ended, 60, what=f"{run_id} in {statuses}")  # type: ignore[no-any-return]
        except AssertionError:
            raise AssertionError(f"{self.store.runs.get(run_id)}\n"
                                 f"{self.worker.output()[-3000:]}") from None  # fmt: skip

    def calls(self, sid: str) -> list[dict[str, Any]]:
        path = self.root / "state" / "models" / "acme" / sid / "calls.log"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def worker_pids(self) -> set[int]:
        """The worker's main process and its pool processes (not their learner children)."""
        main = psutil.Process(self.worker.pid)
        return {main.pid, *(p.pid for p in main.children())}

    def stop(self) -> None:
        self.worker.stop()
        self.store.close()
        self.redis.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("learner-child"))
    yield s
    s.stop()


def test_the_learner_is_built_and_called_only_in_the_runs_child(site: Site) -> None:
    workers = site.worker_pids()
    before = len(site.built.read_text().splitlines()) if site.built.exists() else 0
    ok = site.schedule({"count": 500})
    rejected = site.schedule({"count": 500, "quality": 0.5})
    killed = site.schedule({"count": 500, "memory_mb": 400, "train_s": 30})
    few = site.schedule({"count": 5})
    assert site.run(ok, "succeeded")["reason"] == "promoted"
    assert "backup restored" in site.run(rejected, "rejected")["reason"]
    run = site.run(killed, "failed")
    assert run["stop"] == "memory_limit" and "backup restored" in run["reason"], run["reason"]
    assert "below the minimum" in site.run(few, "skipped")["reason"]
    steps = {sid: [c["call"] for c in site.calls(sid)] for sid in (ok, rejected, killed, few)}
    assert steps == {
        ok: ["count", "backup", "train", "evaluate", "promote"],
        rejected: ["count", "backup", "train", "evaluate", "restore_begin", "restore"],
        killed: ["count", "backup", "train", "restore_begin", "restore"],
        few: ["count"],
    }
    assert site.worker_pids() == workers  # the worker and its pool are the same processes
    pools = workers - {site.worker.pid}
    built = [json.loads(x) for x in site.built.read_text().splitlines()[before:]]
    # Five runs' worth of children: one per run, one more for the rollback after the kill.
    assert len(built) == 5
    for b in built:
        assert b["pid"] not in workers and b["ppid"] in pools  # a child of a pool process
    for sid in (ok, rejected, killed, few):
        for call in site.calls(sid):
            assert call["pid"] == call["built_pid"] and call["pid"] not in workers, call
            # The worker's secrets and the store's address are not in the child's environment.
            assert "TASKSCHED_STATE_DIR" in call["env"], call["env"]
            assert not {"TASKSCHED_SECRET_KEY", "TASKSCHED_REDIS_URL"} & set(call["env"])
    # One child per run for every step; after the memory kill the rollback had a fresh one.
    assert len({c["pid"] for c in site.calls(ok)}) == 1
    assert len({c["pid"] for c in site.calls(rejected)}) == 1
    train, restore = (site.calls(killed)[i]["pid"] for i in (2, 4))
    assert site.calls(killed)[1]["pid"] == train != restore


def test_a_data_count_that_hangs_is_killed_at_the_step_limit_and_the_worker_goes_on(
    site: Site,
) -> None:
    workers = site.worker_pids()
    sid = site.schedule({"count": 500, "hang": "count"})
    run = site.run(sid, "failed")
    assert run["decided_by"] == "data" and run["step"] == "count_available_data"
    assert run["stop"] == "hard_time_limit", run
    assert run["reason"].startswith("count_available_data failed: time limit reached after")
    assert f"(step limit {STEP_S:g}s): killed" in run["reason"]
    assert STEP_S <= run["duration_s"] < STEP_S + 30
    hung = site.calls(sid)[0]["pid"]
    wait_for(lambda: not psutil.pid_exists(hung), 10, what="the hung child gone")
    assert not site.store.redis.exists(site.store.keys.run_lock(sid))
    assert site.worker_pids() == workers  # unharmed, and it goes on
    assert site.run(site.schedule({"count": 500}), "succeeded")["reason"] == "promoted"
