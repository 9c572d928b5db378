"""Admission adds up (issue 14, item 8), with real prefork workers: two runs that start
together on a ``-c 2`` worker whose cap fits one are admitted one at a time; a cgroup whose
``memory.max`` (files the test writes, ``TASKSCHED_CGROUP_ROOT``) leaves less than a run's
budget defers it, whatever the host has free."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tasksched.celery import TRAIN_TASK, app_for
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tests.helpers import wait_for
from tests.integration.procs import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MIB = 1024 * 1024
ENDED = ("succeeded", "rejected", "failed", "skipped", "lost", "missed", "interrupted")


def _schedule(store: Store, name: str, budget_mb: float, **options: Any) -> str:
    from tasksched.manager import SchedulerManager

    cfg = {"learner": "scripted", "learner_options": options,
           "safety_controls": {"max_cpu_usage_percent": 100, "max_memory_usage_mb": budget_mb}}
    return SchedulerManager(store=store).create_training_schedule(
        "acme", name, "0 2 * * *", cfg
    )  # fmt: skip


def _enqueue(store: Store, sid: str, run_id: str) -> None:
    """What beat does: the queued record, then the task message (ids only)."""
    fire = time.time()
    store.runs.add(run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON, score=fire,
                   fire_time=fire, queued_at=fire)  # fmt: skip
    app_for(store.settings).send_task(
        TRAIN_TASK, task_id=run_id, queue="training",
        kwargs={"tenant_id": "acme", "schedule_id": sid, "run_id": run_id, "fire_time": fire,
                "trigger": "cron"},
    )  # fmt: skip


def _ended(store: Store, run_id: str, timeout_s: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = store.runs.get(run_id)
        return run if run["status"] in ENDED else None

    result: dict[str, Any] = wait_for(done, timeout_s, 0.1, what=f"run {run_id} to end")
    return result


def test_two_runs_starting_together_on_c2_are_admitted_within_the_worker_s_cap(
    redis_url: str, real_store: Store, tmp_path: Path
) -> None:
    # Each 300 MB budget fits the 500 MB cap alone; both together do not.
    a = _schedule(real_store, "a", 300, train_s=6)
    b = _schedule(real_store, "b", 300, train_s=6)
    worker = start_worker(tmp_path, "small", redis_url, real_store, concurrency=2,
                          TASKSCHED_WORKER_MAX_MEMORY_MB="500",
                          TASKSCHED_DEFER_BACKOFF_S="1")  # fmt: skip
    try:
        _enqueue(real_store, a, "run-a")
        _enqueue(real_store, b, "run-b")

        def one_running_one_deferred() -> dict[str, dict[str, Any]] | None:
            runs = [real_store.runs.get(r) for r in ("run-a", "run-b")]
            by_status = {run["status"]: run for run in runs}
            return by_status if set(by_status) == {"running", "deferred"} else None

        seen = wait_for(one_running_one_deferred, 60, 0.05, what="one admitted, one deferred")
        deferred = seen["deferred"]
        assert deferred["defer_check"] == "resources"
        assert ("the budgets admitted on this worker (300 MB for 1 run) plus this run's 300 MB "
                "exceed its cap 500 MB") in deferred["reason"], deferred  # fmt: skip
        first, second = seen["running"]["run_id"], deferred["run_id"]
        done_first, done_second = _ended(real_store, first), _ended(real_store, second)
    finally:
        worker.stop()
    assert done_first["status"] in ("succeeded", "rejected"), done_first
    assert done_second["status"] in ("succeeded", "rejected"), done_second
    assert int(done_second["deferrals"]) >= 1
    # Never both training: the second's attempt began after the first had ended.
    assert float(done_second["started_at"]) >= float(done_first["finished_at"])
    assert real_store.redis.hlen(_admitted_key(real_store)) == 0  # released at the end


def test_a_cgroup_memory_max_below_the_host_s_defers_the_run(
    redis_url: str, real_store: Store, tmp_path: Path
) -> None:
    cg = tmp_path / "cgroup"
    cg.mkdir()
    (cg / "cgroup.controllers").write_text("cpu memory\n")
    (cg / "memory.max").write_text(f"{512 * MIB}\n")
    (cg / "memory.current").write_text(f"{400 * MIB}\n")  # 112 MB left of the container's 512
    (cg / "memory.stat").write_text("anon 1\ninactive_file 0\n")
    sid = _schedule(real_store, "c", 200)
    worker = start_worker(tmp_path, "boxed", redis_url, real_store,
                          TASKSCHED_CGROUP_ROOT=str(cg), TASKSCHED_DEFER_BACKOFF_S="1")  # fmt: skip
    try:
        _enqueue(real_store, sid, "run-c")

        def deferred() -> dict[str, Any] | None:
            run = real_store.runs.get("run-c")
            return run if run["status"] == "deferred" else None

        run = wait_for(deferred, 60, 0.05, what="the run deferred")
        assert run["defer_check"] == "resources"
        assert f"available memory 112 MB (cgroup v2 memory.max ({cg}))" in run["reason"], run
        assert "is below the run's budget 200 MB" in run["reason"]
        # The container's memory frees up: the next attempt reads the files again and runs.
        (cg / "memory.current").write_text(f"{50 * MIB}\n")
        done = _ended(real_store, "run-c")
        # The heartbeat reports the container's memory, not the host's.
        beats = real_store.control.workers()
        assert any(w.get("memory_total_mb") == 512.0 for w in beats.values()), beats
    finally:
        worker.stop()
    assert done["status"] in ("succeeded", "rejected"), done
    assert int(done["deferrals"]) >= 1


def _admitted_key(store: Store) -> str:
    import socket

    return store.keys.admitted(socket.gethostname())


def test_a_sigkilled_pool_process_leaves_no_admission_behind(
    redis_url: str, real_store: Store, tmp_path: Path
) -> None:
    """The pool process running an admitted run is SIGKILLed (no release runs), twice: the run
    ends lost and is not run again, so nothing of its own replaces its entry. Another run, which
    does not fit the cap beside it, is deferred only until the dead attempt's lock expires; then
    the stale entry is dropped and that run is admitted."""
    from tasksched.store.admission import AdmissionLedger

    killed = _schedule(real_store, "k", 300, train_s=30)
    other = _schedule(real_store, "m", 300)
    worker = start_worker(tmp_path, "k", redis_url, real_store, concurrency=1,
                          TASKSCHED_WORKER_MAX_MEMORY_MB="500",
                          TASKSCHED_DEFER_BACKOFF_S="1")  # fmt: skip
    ledger = AdmissionLedger(real_store, _admitted_key(real_store).rsplit(":", 1)[1], 60)
    try:
        _enqueue(real_store, killed, "run-k")
        pids: list[int] = []
        for attempt in (1, 2):  # the first attempt and its one re-run
            (entry,) = wait_for(lambda: [e for e in ledger.entries() if e.pid not in pids], 60,
                                0.05, what=f"attempt {attempt} admitted")  # fmt: skip
            assert entry.run_id == "run-k" and entry.budget_mb == 300
            pids.append(entry.pid)
            os.kill(entry.pid, signal.SIGKILL)  # the pool process: no finally, no release
        _enqueue(real_store, other, "run-m")

        def deferred_beside_the_dead_run() -> dict[str, Any] | None:
            run = real_store.runs.get("run-m")
            return run if "(300 MB for 1 run)" in run.get("reason", "") else None

        wait_for(deferred_beside_the_dead_run, 60, 0.05, what="run-m deferred by run-k's entry")
        done_k = _ended(real_store, "run-k", 120)
        assert done_k["status"] == "lost", done_k  # lost twice: not run a third time
        done_m = _ended(real_store, "run-m", 120)
        assert done_m["status"] in ("succeeded", "rejected"), done_m
        assert ledger.entries() == []
    finally:
        worker.stop()
