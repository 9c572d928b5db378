"""`tasksched run` and `tasksched test-notification` with a real worker on the real redis-server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tests.conftest import TEST_SECRET_KEY, Invoke
from tests.helpers import Proc, child_env, wait_for

DEMO = {
    "learner": "demo",
    "learner_options": {"model": "tree", "initial_samples": 300},
    # low bars: a tree on 300 digits passes them, the dummy model (about 0.1) does not
    "safety_controls": {"level": "permissive", "max_cpu_usage_percent": 100,
                        "quality_threshold": 0.3, "validation_threshold": 0.3},
    "notifications": {"types": ["memory"]},
}


@pytest.mark.timeout(120)
def test_run_wait_and_test_notification(
    tmp_path: Path, redis_url: str, invoke_process: Invoke
) -> None:
    env = child_env(TASKSCHED_REDIS_URL=redis_url, TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
                    TASKSCHED_STATE_DIR=str(tmp_path / "state"))  # fmt: skip
    mgr = SchedulerManager(settings=Settings(redis_url=redis_url, secret_key=TEST_SECRET_KEY))
    sid = mgr.create_training_schedule("acme", "cli run", "0 3 * * *", DEMO)
    worker = Proc([sys.executable, "-m", "celery", "-A", "tasksched", "worker",
                   "-Q", "training,notifications", "-n", "cli-run@%h", "-c", "1",
                   "--pool", "solo", "-l", "INFO"], env, tmp_path / "worker.log")  # fmt: skip
    try:
        wait_for(lambda: mgr.store.control.workers(), 30, 0.2, what="worker heartbeat")

        waited = invoke_process("run", sid, "--force", "--wait", "--timeout-s", "60",
                                TASKSCHED_STATE_DIR=str(tmp_path / "state"))  # fmt: skip
        assert waited.exit_code == 0, (waited.stdout, waited.stderr, worker.output()[-2000:])
        progress = waited.stderr.splitlines()
        run_id = progress[0].split()[1]
        assert run_id.startswith(sid)
        assert [line.split()[2] for line in progress][-1] == "succeeded"
        assert len(progress) >= 2, "each change of status is shown"
        record = mgr.get_run(run_id)
        assert record["status"] == "succeeded" and record["forced"] is True

        queued = invoke_process("run", sid, "--force", "--json")
        assert queued.exit_code == 0
        second = json.loads(queued.stdout)
        assert second["run_id"] != run_id and second["trigger"] == "manual"
        wait_for(lambda: mgr.get_run(second["run_id"])["status"] == "succeeded", 60,
                 what="the second run")  # fmt: skip

        # a candidate the gates reject: --wait ends with exit code 1 and says why
        mgr.update_schedule(sid, config={"learner_options": {"model": "dummy"}})
        rejected = invoke_process("run", sid, "--force", "--wait", "--timeout-s", "60")
        assert rejected.exit_code == 1
        last = rejected.stderr.splitlines()[-1]
        assert " rejected " in last and "threshold" in last

        sent = invoke_process("test-notification", "--schedule", sid, "--json")
        assert sent.exit_code == 0, sent.stderr
        assert json.loads(sent.stdout)["channels"]["memory"]["status"] == "sent"
        feed = mgr.get_notifications("acme")
        assert any(n.get("event") == "test" for n in feed)
        # the first run's own notification is a subtask: wait for it before the CLI lists the feed
        wait_for(lambda: any(n.get("event") == "run_succeeded" and n.get("correlation_id") == run_id
                             for n in mgr.get_notifications("acme")), 30, what="run_succeeded")
        shown = invoke_process("notifications", "--tenant", "acme")
        assert shown.exit_code == 0
        assert shown.stdout.splitlines()[0].split()[:2] == ["TIME", "EVENT"]
        assert any(" test " in line for line in shown.stdout.splitlines()[1:])
        lines = shown.stdout.splitlines()
        assert any(" run_succeeded " in line and run_id in line for line in lines), lines

        table = invoke_process("test-notification", "--config",
                               '{"types": ["webhook"], "webhook_url": "http://127.0.0.1:9/x"}',
                               "--inline", "--timeout-s", "5")  # fmt: skip
        assert table.exit_code == 1, (table.stdout, table.stderr)
        assert table.stdout.splitlines()[0].split() == ["CHANNEL", "STATUS", "DETAIL"]
        assert "webhook" in table.stdout and "failed" in table.stdout
    finally:
        worker.stop()
        mgr.store.redis.close()


def test_run_wait_times_out_without_a_worker(
    invoke: Invoke, manager: SchedulerManager
) -> None:
    sid = manager.create_training_schedule("acme", "nobody runs it", "0 3 * * *")
    res = invoke("run", sid, "--wait", "--timeout-s", "0.5")
    assert res.exit_code == 4
    assert res.err_lines[0].split()[2] == "queued"
    assert res.err_lines[-1].startswith("Error: timeout_s: run ")
    run_id = res.err_lines[0].split()[1]
    assert manager.get_run(run_id)["status"] == "queued"
