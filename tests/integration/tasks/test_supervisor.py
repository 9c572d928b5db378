"""The training supervisor (LearnerChild): a real child process per run, its outcomes and kills."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasksched.learners.base import RunContext
from tasksched.tasks.supervisor import ChildResult, LearnerChild


def run_child(
    job: dict[str, Any],
    memory_budget_mb: float,
    soft_limit_s: float,
    kill_grace_s: float,
    lease_ok: Callable[[], bool] = lambda: True,
    poll_s: float = 0.1,
    stop_requested: Callable[[], bool] = lambda: False,
) -> ChildResult:
    """Build the learner and train + evaluate it in a :class:`LearnerChild` of its own (as a
    run does, without the data count and backup) under the limits
    (``job``: ``learner``, ``options``, ``context``); never raises for how it ended."""
    child = LearnerChild(memory_budget_mb, kill_grace_s, poll_s)
    started = time.monotonic()
    with child:
        res = child.call(
            "load", soft_limit_s,
            {"learner": job["learner"], "options": job.get("options") or {}},
            lease_ok=lease_ok, stop_requested=stop_requested,
        )  # fmt: skip
        if res.ok:
            res = child.call("train", soft_limit_s - (time.monotonic() - started),
                             {"context": job["context"]}, lease_ok=lease_ok,
                             stop_requested=stop_requested)  # fmt: skip
    return ChildResult.of_training(
        res, child.exit_code, round(child.peak_memory_mb, 1), time.monotonic() - started
    )


def job(tmp_path: Path, **options: object) -> dict[str, object]:
    ctx = RunContext("acme", "s1", "r1", str(tmp_path / "m"), options=dict(options))
    learner = "tests.learners.scripted:Scripted"
    return {"learner": learner, "options": options, "context": ctx.to_dict()}


def test_child_ok_reports_the_evaluation(tmp_path: Path) -> None:
    res = run_child(job(tmp_path, quality=0.8), 500, 30, 1)
    assert res.outcome == "ok" and res.evaluation["quality_score"] == 0.8
    assert res.candidate == "model.txt" and res.exit_code == 0 and res.peak_memory_mb > 0


def test_child_that_dies_silently_is_reported_crashed(tmp_path: Path) -> None:
    res = run_child(job(tmp_path, exit_code=9), 500, 30, 1)
    assert res.outcome == "crashed" and "exit code 9" in res.error


def test_child_is_killed_when_the_run_lock_is_lost(tmp_path: Path) -> None:
    t0 = time.monotonic()
    lost_at = t0 + 0.5
    res = run_child(
        job(tmp_path, train_s=30), 500, 60, 1, lease_ok=lambda: time.monotonic() < lost_at
    )
    assert res.outcome == "lease_lost" and time.monotonic() - t0 < 10


def test_a_stop_request_ends_the_training_as_interrupted(tmp_path: Path) -> None:
    t0 = time.monotonic()
    asked_at = t0 + 0.5
    res = run_child(job(tmp_path, train_s=30), 500, 60, 1,
                    stop_requested=lambda: time.monotonic() >= asked_at)  # fmt: skip
    assert res.outcome == "interrupted" and time.monotonic() - t0 < 10


def _once_training(tmp_path: Path) -> Callable[[], bool]:
    """True from a moment after the learner's train() began (it then ignores SIGTERM)."""
    started: list[float] = []

    def asked() -> bool:
        if not started and '"train"' in _calls(tmp_path):
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] > 0.3

    return asked


def _calls(tmp_path: Path) -> str:
    path = tmp_path / "m" / "calls.log"
    return path.read_text() if path.exists() else ""


def test_a_training_that_ignores_the_stop_is_killed_after_the_grace(tmp_path: Path) -> None:
    from tasksched.tasks.supervisor import STOP_GRACE_S

    t0 = time.monotonic()
    res = run_child(job(tmp_path, train_s=60, ignore_term=True), 500, 120, 1,
                    stop_requested=_once_training(tmp_path))  # fmt: skip
    took = time.monotonic() - t0
    assert res.outcome == "interrupted" and STOP_GRACE_S <= took < STOP_GRACE_S + 10


def test_a_training_finishing_within_the_grace_keeps_its_result(tmp_path: Path) -> None:
    res = run_child(job(tmp_path, train_s=1.5, ignore_term=True, quality=0.9), 500, 60, 1,
                    stop_requested=_once_training(tmp_path))  # fmt: skip
    assert res.outcome == "ok" and res.evaluation["quality_score"] == 0.9
