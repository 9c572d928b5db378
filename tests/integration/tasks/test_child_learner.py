"""Every learner step in the run's supervised child: a learner that raises, hangs, crashes or
exhausts memory in any step ends the run failed with the step named, and the process running
the pipeline (the worker's) goes on.

Real redis-server, real child processes, the scripted learner (``tests/learners/scripted.py``)
in-process through ``RunPipeline``; ``test_learner_child.py`` does the same through a real
worker.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.tasks.prerun import RunMessage
from tasksched.tasks.run_steps import RunPipeline
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(180)
STEP_S = 4.0  # TASKSCHED_LEARNER_STEP_TIMEOUT_S here: above a child's start-up under load
BUDGET_MB = 250


class Rig:
    """A pipeline on a real redis-server, with a short step limit and kill grace."""

    def __init__(self, settings: Settings, root: Path):
        self.settings = settings.replace(
            state_dir=str(root / "state"), learner_step_timeout_s=STEP_S,
            training_kill_grace_s=0.5,
        )  # fmt: skip
        self.store = Store(settings=self.settings)
        self.manager = SchedulerManager(store=self.store)
        self.pipeline = RunPipeline(self.store, self.settings, notify=False)
        self.n = 0

    def schedule(self, options: dict[str, Any]) -> str:
        cfg = {"learner": "scripted", "learner_options": options,
               "safety_controls": {"max_cpu_usage_percent": 100,
                                   "max_memory_usage_mb": BUDGET_MB}}  # fmt: skip
        return self.manager.create_training_schedule("acme", "s", "0 2 * * *", cfg)

    def run(self, sid: str, stop: Any = lambda: False) -> tuple[Any, dict[str, Any]]:
        self.n += 1
        run_id = f"{sid}-{self.n}"
        now = time.time()
        self.store.runs.add(run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON,
                            fire_time=now, queued_at=now)  # fmt: skip
        outcome = self.pipeline.run(RunMessage("acme", sid, run_id, now, "cron", "w"), stop)
        return outcome, self.store.runs.get(run_id)

    def model(self, sid: str) -> Path:
        return Path(self.settings.state_dir) / "models" / "acme" / sid / "model.txt"

    def calls(self, sid: str) -> list[dict[str, Any]]:
        path = self.model(sid).with_name("calls.log")
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _learner_children() -> list[psutil.Process]:
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "tasksched.tasks.trainer" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def rig(settings: Settings, tmp_path: Path) -> Rig:
    return Rig(settings, tmp_path)


# (where, what the run's reason starts with, the step recorded)
STEPS = [
    ("init", "learner 'tests.learners.scripted:Scripted'", "load"),
    ("count", "count_available_data failed: ", "count_available_data"),
    ("backup", "backup failed: ", "backup"),
    ("promote", "promote failed: ", "promote"),
    ("restore", "but restoring failed: ", "restore"),  # the rejected candidate's rollback
]
# (fault, words in the reason, the run's stop field)
FAULTS = [
    ("fail", "RuntimeError: scripted failure in", None),
    ("hang", "time limit reached after", "hard_time_limit"),
    ("crash", "the learner's process died (exit code 9)", None),
    ("bloat", "memory limit exceeded", "memory_limit"),
]


@pytest.mark.parametrize(("fault", "words", "stop"), FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize(("where", "prefix", "step"), STEPS, ids=[s[0] for s in STEPS])
def test_a_fault_in_any_step_fails_the_run_naming_the_step(
    rig: Rig, where: str, prefix: str, step: str, fault: str, words: str, stop: str | None
) -> None:
    options: dict[str, Any] = {"count": 500, fault: where, "bloat_mb": 400}
    if where == "restore":
        options["quality"] = 0.5  # rejected: the rollback restores the backup
    sid = rig.schedule(options)
    rig.model(sid).parent.mkdir(parents=True)
    rig.model(sid).write_text("v1")
    t0 = time.monotonic()
    outcome, run = rig.run(sid)
    took = time.monotonic() - t0
    assert outcome.status is RunStatus.FAILED, run["reason"]
    assert prefix in run["reason"] and words in run["reason"], run["reason"]
    assert run["step"] == step and run.get("stop") == stop
    if fault == "hang":
        assert f"(step limit {STEP_S:g}s): killed" in run["reason"]
        assert STEP_S <= took < STEP_S + 30
    if fault == "bloat":
        assert run["peak_memory_mb"] > BUDGET_MB and took < 30
    if where in ("backup", "promote"):
        assert run["rolled_back"] is (where == "promote")
    if where == "promote":  # the failed promotion's rollback: a fresh child after a kill
        assert "backup restored" in run["reason"]
    assert rig.model(sid).read_text() == ("trained by " + run["run_id"] if where == "restore"
                                          else "v1")  # fmt: skip
    # No learner process is left behind, and none ran in this process.
    for call in rig.calls(sid):
        assert call["pid"] != os.getpid() and call["built_pid"] == call["pid"]
        wait_for(lambda c=call: not psutil.pid_exists(c["pid"]), 10, what="the child gone")
    assert not _learner_children()
    # The same pipeline goes on with the next run.
    ok = rig.schedule({"count": 500})
    assert rig.run(ok)[0].status is RunStatus.SUCCEEDED


def test_a_stop_during_count_available_data_interrupts_the_run(rig: Rig) -> None:
    sid = rig.schedule({"count": 500, "count_s": 60})
    counting = lambda: bool(rig.calls(sid))  # noqa: E731 - the stop arrives mid-count
    t0 = time.monotonic()
    outcome, run = rig.run(sid, stop=counting)
    assert outcome.status is RunStatus.INTERRUPTED, run["reason"]
    assert run["stop"] == "interrupted" and run["step"] == "count_available_data"
    assert "not a failure" in run["reason"] and time.monotonic() - t0 < 30
    assert rig.store.schedules.get(sid).counters["failed_runs"] == 0


def test_a_stop_during_a_backup_that_ignores_it_is_killed_after_the_grace(rig: Rig) -> None:
    from tasksched.tasks.supervisor import STOP_GRACE_S

    sid = rig.schedule({"count": 500, "hang": "backup"})
    backing_up = lambda: any(c["call"] == "backup" for c in rig.calls(sid))  # noqa: E731
    t0 = time.monotonic()
    outcome, run = rig.run(sid, stop=backing_up)
    took = time.monotonic() - t0
    assert outcome.status is RunStatus.INTERRUPTED, run["reason"]
    assert run["stop"] == "interrupted" and run["step"] == "backup"
    assert run["rolled_back"] is False and STOP_GRACE_S <= took < STOP_GRACE_S + 30
    assert not _learner_children()
    assert rig.store.schedules.get(sid).counters["failed_runs"] == 0
