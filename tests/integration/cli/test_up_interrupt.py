"""Ctrl-C in ``tasksched up`` while a run trains: the run ends ``interrupted`` at once (not a
failure), its run lock is released, and the schedule's next run can start right away."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tests.helpers import TEST_LEARNERS, VENV_BIN, Proc, child_env, wait_for
from tests.integration.faults import CONTROLS, SCRIPTED

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


def test_ctrl_c_mid_training_ends_the_run_interrupted_and_frees_the_lock(
    tmp_path: Path, redis_url: str
) -> None:
    env = child_env(TASKSCHED_REDIS_URL=redis_url, TASKSCHED_LEARNERS=TEST_LEARNERS)
    env["HOME"] = str(tmp_path)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    up = Proc([str(VENV_BIN / "tasksched"), "up", "--api-port", "0", "--no-demo",
               "--concurrency", "1"], env, tmp_path / "up.log")  # fmt: skip
    mgr = SchedulerManager(settings=Settings(redis_url=redis_url, learners=TEST_LEARNERS))
    try:
        wait_for(lambda: "ready." in up.output(), 90, 0.2, what="the stack to be ready")
        sid = mgr.create_training_schedule("acme", "long", "0 2 * * *", {
            "learner": SCRIPTED, "learner_options": {"count": 500, "train_s": 120},
            "safety_controls": CONTROLS,
        })  # fmt: skip
        handle = mgr.trigger_training("acme", sid)
        calls = tmp_path / "state" / "tasksched" / "models" / "acme" / sid / "calls.log"
        wait_for(lambda: calls.exists() and '"train"' in calls.read_text(), 60, 0.1,
                 what="training under way")  # fmt: skip
        os.kill(up.pid, signal.SIGINT)  # Ctrl-C
        stopped_at = time.monotonic()
        up.proc.wait(60)
        took_s = time.monotonic() - stopped_at
    finally:
        if up.alive():
            os.kill(up.pid, signal.SIGINT)
            up.proc.wait(60)
        up.stop()
    out = up.log_path.read_text(errors="replace")
    assert up.proc.returncode == 0, out
    run = handle.record()
    assert run["status"] == "interrupted", (run, out)
    assert run["stop"] == "interrupted" and "not a failure" in run["reason"]
    assert took_s < 20, f"stopping took {took_s:.1f}s"
    store = mgr.store
    assert not store.redis.exists(store.keys.run_lock(sid))  # released: no wait after a restart
    counters = store.schedules.get(sid).counters
    assert counters["failed_runs"] == 0 and counters["consecutive_failures"] == 0
    assert counters["interrupted_runs"] == 1
    assert [json.loads(x)["call"] for x in calls.read_text().splitlines()].count("train") == 1
    mgr.store.close()
