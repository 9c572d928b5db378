"""Runs a learner's ``train`` + ``evaluate`` in a child process and enforces the run's limits.

Why a child process: memory and a hard time limit can only be enforced on something the
worker can kill without killing itself; a thread cannot be stopped. The child is watched
every ``poll_s``: its memory (with its own children) above the budget -> SIGKILL
(``memory_limit``); past the soft time limit -> SIGTERM, the learner gets
:class:`~tasksched.learners.base.TrainingStopped` and the child exits cleanly
(``soft_time_limit``); still alive ``kill_grace_s`` later -> SIGKILL (``hard_time_limit``);
run lock lost -> SIGKILL (``lease_lost``); this worker asked to stop (SIGTERM, e.g. Ctrl-C in
``tasksched up``) -> SIGTERM, and SIGKILL after :data:`STOP_GRACE_S` (``interrupted``, unless
the training finished within the grace).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from tasksched.resources import tree_rss_mb

__all__ = ["STOP_GRACE_S", "ChildResult", "run_child"]

# How long a training may still finish after its worker was asked to stop (seconds).
STOP_GRACE_S = 5.0


@dataclass
class ChildResult:
    """How the training child ended.

    ``outcome``: ok | error | soft_time_limit | hard_time_limit | memory_limit | lease_lost |
    interrupted | crashed.
    """

    outcome: str
    candidate: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    traceback: str = ""
    exit_code: int | None = None
    peak_memory_mb: float = 0.0
    duration_s: float = 0.0


def _kill_tree(pid: int, sig: int) -> None:
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.Error:
        return
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            continue


def _soft_limit_exceptions() -> tuple[type[BaseException], ...]:
    try:
        from celery.exceptions import SoftTimeLimitExceeded
    except ImportError:  # pragma: no cover - celery is a dependency
        return ()
    return (SoftTimeLimitExceeded,)


def run_child(
    job: dict[str, Any],
    memory_budget_mb: float,
    soft_limit_s: float,
    kill_grace_s: float,
    lease_ok: Callable[[], bool] = lambda: True,
    poll_s: float = 0.1,
    stop_requested: Callable[[], bool] = lambda: False,
) -> ChildResult:
    """Train in a child process under the limits; returns how it ended (never raises for it)."""
    workdir = tempfile.mkdtemp(prefix="tasksched-train-")
    job = {**job, "result_path": os.path.join(workdir, "result.json"), "parent_pid": os.getpid()}
    job_path = os.path.join(workdir, "job.json")
    with open(job_path, "w") as fh:
        json.dump(job, fh)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tasksched.tasks.trainer", job_path], cwd=os.getcwd()
    )
    peak = 0.0
    killed_for = ""
    term_sent_at: float | None = None
    stop_at: float | None = None  # when this worker was asked to stop
    soft_exc = _soft_limit_exceptions()
    try:
        while True:
            try:
                if proc.poll() is not None:
                    break
                rss = tree_rss_mb(proc.pid)
                peak = max(peak, rss)
                elapsed = time.monotonic() - started
                if stop_at is None and stop_requested():
                    stop_at = time.monotonic()
                    _kill_tree(proc.pid, signal.SIGTERM)
                if rss > memory_budget_mb:
                    killed_for = "memory_limit"
                elif not lease_ok():
                    killed_for = "lease_lost"
                elif stop_at is not None and time.monotonic() - stop_at >= STOP_GRACE_S:
                    killed_for = "interrupted"
                elif term_sent_at is not None and time.monotonic() - term_sent_at >= kill_grace_s:
                    killed_for = "hard_time_limit"
                elif term_sent_at is None and stop_at is None and elapsed >= soft_limit_s:
                    term_sent_at = time.monotonic()
                    _kill_tree(proc.pid, signal.SIGTERM)
                if killed_for:
                    _kill_tree(proc.pid, signal.SIGKILL)
                    proc.wait(10)
                    break
                time.sleep(poll_s)
            except soft_exc:
                # Celery's own soft limit (a backstop above ours): stop cleanly all the same.
                if term_sent_at is None:
                    term_sent_at = time.monotonic()
                    _kill_tree(proc.pid, signal.SIGTERM)
        result = _read(job["result_path"])
    finally:
        if proc.poll() is None:
            _kill_tree(proc.pid, signal.SIGKILL)
            proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    duration = time.monotonic() - started
    base = {"exit_code": proc.returncode, "peak_memory_mb": round(peak, 1), "duration_s": duration}
    if killed_for:
        return ChildResult(outcome=killed_for, **base)  # type: ignore[arg-type]
    if not result.get("ok") and (
        stop_at is not None or (result.get("stopped") and term_sent_at is None)
    ):
        # Asked to stop, or stopped by a SIGTERM that was not ours (its process group was
        # told to stop): an interruption, not a training failure.
        return ChildResult(outcome="interrupted", **base)  # type: ignore[arg-type]
    if result.get("ok"):
        return ChildResult(
            outcome="ok",
            candidate=result.get("candidate"),
            evaluation=dict(result.get("evaluation") or {}),
            **base,  # type: ignore[arg-type]
        )
    if result.get("stopped") or term_sent_at is not None:
        return ChildResult(outcome="soft_time_limit", **base)  # type: ignore[arg-type]
    if result.get("error"):
        return ChildResult(
            outcome="error",
            error=str(result["error"]),
            traceback=str(result.get("traceback", "")),
            **base,  # type: ignore[arg-type]
        )
    return ChildResult(
        outcome="crashed", error=f"training process died (exit code {proc.returncode})", **base  # type: ignore[arg-type]
    )


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
