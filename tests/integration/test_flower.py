"""Flower (`celery -A tasksched flower`) shows tasksched's tasks by name, ids in their arguments."""

from __future__ import annotations

import base64
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TEST_LEARNERS, Proc, child_env, free_port, wait_for

SECRETS = ("flower-smtp-password-123", "flower-signing-secret-456", "Bearer flower-tok-789")
AUTH = "admin:flower-test-pw"


def _get(url: str) -> Any:
    req = urllib.request.Request(url)
    req.add_header("Authorization", "Basic " + base64.b64encode(AUTH.encode()).decode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


@pytest.mark.timeout(120)
def test_flower_shows_a_finished_training_task(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    env = child_env(
        TASKSCHED_REDIS_URL=redis_url,
        TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
        TASKSCHED_STATE_DIR=str(tmp_path / "state"),
        FLOWER_BASIC_AUTH=AUTH,
    )
    base = f"http://127.0.0.1:{port}"
    flower = Proc([sys.executable, "-m", "celery", "-A", "tasksched", "flower", f"--port={port}",
                   "--address=127.0.0.1"], env, tmp_path / "flower.log")  # fmt: skip
    worker: Proc | None = None
    mgr = SchedulerManager(settings=Settings(redis_url=redis_url, secret_key=TEST_SECRET_KEY))
    try:
        wait_for(lambda: _get(base + "/api/workers?refresh=false") is not None, 30, 0.2,
                 what="flower's API")  # fmt: skip
        worker = Proc([sys.executable, "-m", "celery", "-A", "tasksched", "worker",
                       "-Q", "training,notifications", "-n", "flower-w@%h", "-c", "1",
                       "--pool", "solo", "-l", "INFO"], env, tmp_path / "worker.log")  # fmt: skip
        wait_for(lambda: mgr.store.control.workers(), 30, 0.2, what="worker heartbeat")
        sid = mgr.create_training_schedule(
            "acme", "flower demo", "0 3 * * *",
            {
                "learner": "demo",
                "learner_options": {"model": "dummy", "initial_samples": 300},
                "safety_controls": {"level": "permissive", "max_cpu_usage_percent": 100},
                "notifications": {
                    "types": ["memory"],
                    "email_password": SECRETS[0],
                    "webhook_secret": SECRETS[1],
                    "webhook_headers": {"Authorization": SECRETS[2]},
                },
            },
        )  # fmt: skip
        handle = mgr.trigger_training("acme", sid, force=True)
        record = handle.wait(60)
        assert record["status"] in ("succeeded", "rejected"), record

        def finished_task() -> dict[str, Any] | None:
            task = _get(f"{base}/api/tasks").get(handle.run_id)
            expected = "SUCCESS" if record["status"] == "succeeded" else "NOT_PROMOTED"
            return task if task and task.get("state") == expected else None

        task = wait_for(finished_task, 30, 0.3, what="the training task in flower")
        assert task["name"] == "tasksched.train"
        assert task["uuid"] == handle.run_id
        for value in ("acme", sid, handle.run_id):
            assert value in task["kwargs"], task["kwargs"]
        assert task["worker"].startswith("flower-w@")

        # the notification subtasks are there too, by name, with ids only
        def notify_tasks() -> list[dict[str, Any]]:
            tasks = _get(f"{base}/api/tasks?taskname=tasksched.notify").values()
            return [t for t in tasks if t.get("state") == "SUCCESS"]

        notes = wait_for(notify_tasks, 30, 0.3, what="tasksched.notify tasks in flower")
        assert all(n["name"] == "tasksched.notify" for n in notes)
        everything = json.dumps(_get(f"{base}/api/tasks"))
        for secret in SECRETS:
            assert secret not in everything
        assert "learner_options" not in everything and "safety_controls" not in everything
    finally:
        if worker is not None:
            worker.stop()
        flower.stop()
        mgr.store.redis.close()


@pytest.mark.timeout(180)
def test_flower_tells_each_outcome_apart_in_the_task_list(tmp_path: Path, redis_url: str) -> None:
    """Promoted, rejected, failed and skipped runs, each with the state Flower's list shows."""
    port = free_port()
    env = child_env(
        TASKSCHED_REDIS_URL=redis_url,
        TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
        TASKSCHED_STATE_DIR=str(tmp_path / "state"),
        TASKSCHED_LEARNERS=TEST_LEARNERS,
        FLOWER_BASIC_AUTH=AUTH,
    )
    base = f"http://127.0.0.1:{port}"
    flower = Proc([sys.executable, "-m", "celery", "-A", "tasksched", "flower", f"--port={port}",
                   "--address=127.0.0.1"], env, tmp_path / "flower.log")  # fmt: skip
    worker: Proc | None = None
    mgr = SchedulerManager(settings=Settings(redis_url=redis_url, secret_key=TEST_SECRET_KEY,
                                             learners=TEST_LEARNERS))  # fmt: skip
    try:
        wait_for(lambda: _get(base + "/api/workers?refresh=false") is not None, 30, 0.2,
                 what="flower's API")  # fmt: skip
        worker = Proc([sys.executable, "-m", "celery", "-A", "tasksched", "worker",
                       "-Q", "training,notifications", "-n", "outcomes@%h", "-c", "1",
                       "-l", "INFO"], env, tmp_path / "worker.log")  # fmt: skip
        wait_for(lambda: mgr.store.control.workers(), 30, 0.2, what="worker heartbeat")
        controls = {"level": "permissive", "max_cpu_usage_percent": 100}

        def schedule(name: str, **options: Any) -> str:
            cfg = {"learner": "scripted", "learner_options": {"count": 500, **options},
                   "safety_controls": controls}  # fmt: skip
            return mgr.create_training_schedule("acme", name, "0 3 * * *", cfg)

        promoted = schedule("promoted")
        rejected = schedule("rejected", quality=0.1, validation=0.1)
        failed = schedule("failed", fail="train")
        skipped = schedule("skipped")
        mgr.pause_schedule(skipped)  # a run of a paused schedule is recorded as skipped
        runs = {sid: mgr.trigger_training("acme", sid, force=True) for sid in
                (promoted, rejected, failed, skipped)}  # fmt: skip
        records = {sid: h.wait(60) for sid, h in runs.items()}
        assert [records[s]["status"] for s in (promoted, rejected, failed, skipped)] == [
            "succeeded", "rejected", "failed", "skipped"
        ], records
        expected = {promoted: "SUCCESS", rejected: "NOT_PROMOTED", failed: "FAILURE",
                    skipped: "SKIPPED"}  # fmt: skip

        def states() -> dict[str, Any] | None:
            tasks = _get(f"{base}/api/tasks?taskname=tasksched.train")
            got = {sid: tasks.get(h.run_id, {}) for sid, h in runs.items()}
            ok = all(got[sid].get("state") == state for sid, state in expected.items())
            return got if ok else None

        tasks = wait_for(states, 30, 0.3, what="each run's state in flower")
        # a failed run carries its reason; the others say theirs in the result
        assert "RunFailed" in tasks[failed]["exception"]
        assert "scripted failure in train" in tasks[failed]["exception"]
        assert "rejected" in tasks[rejected]["result"]
        assert "paused" in tasks[skipped]["result"]
        # the state column is what Flower's task list shows by default
        with urllib.request.urlopen(urllib.request.Request(
                f"{base}/tasks/datatable?draw=1&start=0&length=50&search[value]=&"
                "order[0][column]=0&order[0][dir]=asc&columns[0][data]=name",
                headers={"Authorization": "Basic " + base64.b64encode(AUTH.encode()).decode()}),
                timeout=5) as resp:  # fmt: skip
            rows = json.load(resp)["data"]
        listed = {row["uuid"]: row["state"] for row in rows}
        assert {listed[h.run_id] for h in runs.values()} == set(expected.values())
    finally:
        if worker is not None:
            worker.stop()
        flower.stop()
        mgr.store.redis.close()
