"""Benchmark: a worker's pre-run checks, and the learner child each run starts.

1. ``PreRun.check`` (checks 1-6: the claim script with the run id and run lock, the
   schedule/switch/cooldown decisions, the host reading and the host's admission ledger, the
   data count) against a real redis-server started here, in-process, with the learner's child
   replaced by an in-process stub, so that only tasksched's own checks are timed. Each run is
   finished (untimed).
2. The learner child (``ChildLearner``, what every run starts since the learner is only built
   there): spawn -> learner built -> ``count_available_data`` answered, and its exit, with a
   do-nothing learner; median of ``--child-runs``, with the CPU time it costs the host and the
   interpreter's own start (``python -c pass``) for scale.

    .venv/bin/python bench/worker.py [--runs 2000] [--schedules 200] [--child-runs 30]
                                     [--worker-runs 40]

With ``--worker-runs N`` it also starts a real ``celery -A tasksched worker`` and reads the
``prerun_ms`` each run records (task start -> data counted, the child's start included,
measured by the worker itself), the queue-to-claim time (``started_at - queued_at``, Redis
clock) and queued -> finished for a run that trains (the do-nothing learner), one at a time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine, pct, redis_server
from tasksched.learners.base import RunContext
from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.resources import HostMonitor
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle
from tasksched.tasks import prerun
from tasksched.tasks.child_learner import ChildLearner
from tasksched.tasks.prerun import Outcome, PreRun, RunMessage


class InProcessStub:
    """Stands in for the learner's child in part 1 (only tasksched's checks are timed)."""

    def __init__(self, target: str, options: dict[str, Any], *args: Any) -> None:
        self.target = target

    def count_available_data(self, ctx: RunContext) -> int:
        return 1000

    def close(self) -> None:
        return None


def _cpu_children_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def child_startup(runs: int, workdir: str) -> None:
    """The learner child of a run: start -> built -> counted, then its exit (median of N)."""
    ctx = RunContext("bench", "s", "r", str(Path(workdir) / "m"))
    start_ms: list[float] = []
    close_ms: list[float] = []
    cpu_ms: list[float] = []
    python_ms: list[float] = []
    for i in range(runs + 2):
        cpu0 = _cpu_children_s()
        t0 = time.perf_counter()
        learner = ChildLearner("bench.null_learner:NullLearner", {}, 512.0, 60.0, 5.0)
        if learner.count_available_data(ctx) != 1000:
            raise SystemExit("the child counted wrong")
        t1 = time.perf_counter()
        learner.close()
        t2 = time.perf_counter()
        cpu = _cpu_children_s() - cpu0
        t3 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        t4 = time.perf_counter()
        if i >= 2:  # the first ones warm the page cache up
            start_ms.append((t1 - t0) * 1000.0)
            close_ms.append((t2 - t1) * 1000.0)
            cpu_ms.append(cpu * 1000.0)
            python_ms.append((t4 - t3) * 1000.0)
    print(f"learner child per run (one per run, every learner step in it), runs={len(start_ms)}:")
    print(
        f"  start -> learner built -> count answered: p50={statistics.median(start_ms):.1f} ms "
        f"p90={pct(start_ms, 90):.1f} ms; exit p50={statistics.median(close_ms):.1f} ms; "
        f"CPU p50={statistics.median(cpu_ms):.1f} ms"
    )
    print(f"  (python -c pass on this machine: p50={statistics.median(python_ms):.1f} ms)")


def real_worker(settings: Settings, manager: SchedulerManager, runs: int, workdir: str) -> None:
    """Runs through a real Celery worker, one at a time; figures from the run records."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKSCHED_")}
    env.update(
        TASKSCHED_REDIS_URL=settings.redis_url,
        TASKSCHED_STATE_DIR=workdir,
        TASKSCHED_LEARNERS="null=bench.null_learner:NullLearner",  # registered by the operator
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    log = open(Path(workdir) / "worker.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasksched", "worker", "-Q", "training",
         "-n", "bench@%h", "-c", "1", "--pool", "prefork", "-l", "WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=str(Path(__file__).resolve().parent.parent), stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        cfg = {
            "learner": "null",
            "safety_controls": {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 256},
        }
        sid = manager.create_training_schedule("bench", "real", "0 * * * *", cfg)
        prerun: list[float] = []
        to_claim: list[float] = []
        to_end: list[float] = []
        for i in range(runs + 2):
            rec = manager.trigger_training("bench", sid).wait(120, interval_s=0.02)
            if rec["status"] != "succeeded":
                raise SystemExit(f"run failed: {rec.get('reason')}")
            if i >= 2:  # the first runs warm the worker up
                prerun.append(float(rec["prerun_ms"]))
                to_claim.append((rec["started_at"] - rec["queued_at"]) * 1000.0)
                to_end.append((rec["finished_at"] - rec["queued_at"]) * 1000.0)
        print(f"real worker (prefork, 1 slot), runs={len(prerun)}:")
        print(
            f"  checks (task start -> data counted in the child): "
            f"p50={statistics.median(prerun):.3f} ms p99={pct(prerun, 99):.3f} ms"
        )
        print(
            f"  queued -> finished (a run that trains, do-nothing learner): "
            f"p50={statistics.median(to_end):.1f} ms p99={pct(to_end, 99):.1f} ms"
        )
        print(
            f"  queued -> claimed (broker + worker, idle queue): "
            f"p50={statistics.median(to_claim):.3f} ms p99={pct(to_claim, 99):.3f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--schedules", type=int, default=200)
    ap.add_argument("--child-runs", type=int, default=30)
    ap.add_argument("--worker-runs", type=int, default=0)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-worker-")
    with redis_server() as url:
        settings = Settings(redis_url=url, state_dir=workdir,
                            learners="null=bench.null_learner:NullLearner")  # fmt: skip
        store = Store(settings=settings)
        manager = SchedulerManager(store=store)
        cfg = {
            "learner": "null",
            "safety_controls": {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 64},
        }
        sids = manager.create_training_schedules(
            [
                {"tenant_id": "bench", "name": f"s{i}", "cron_expression": "0 * * * *",
                 "config": cfg}
                for i in range(args.schedules)
            ]
        )
        monitor = HostMonitor.get(settings.worker_cpu_sample_s)
        pre = PreRun(store, settings, monitor)
        prerun.ChildLearner = InProcessStub  # type: ignore[misc,assignment]  # part 1 only
        life = RunLifecycle(store)
        times_ms: list[float] = []
        total = args.runs + 100  # the first 100 warm up (imports, script loading, caches)
        for i in range(total):
            sid = sids[i % len(sids)]
            run_id = f"{sid}-{i}"
            now = time.time()
            store.runs.add(
                run_id, sid, "bench", RunStatus.QUEUED, RunTrigger.CRON,
                fire_time=now, queued_at=now,
            )
            msg = RunMessage("bench", sid, run_id, now, "cron", "bench@host")
            t0 = time.perf_counter()
            result = pre.check(msg)
            elapsed = (time.perf_counter() - t0) * 1000.0
            if isinstance(result, Outcome):
                raise SystemExit(f"run {run_id} did not pass its checks: {result.reason}")
            life.finish(run_id, sid, result.token, RunStatus.SUCCEEDED, "bench", 3, 60.0)
            pre.release(run_id)  # as the pipeline does at the run's end (untimed)
            if i >= 100:
                times_ms.append(elapsed)
        prerun.ChildLearner = ChildLearner  # type: ignore[misc]
        print("tasksched worker pre-run checks (receive -> data counted), in-process, "
              "real redis-server, the learner's child stubbed")  # fmt: skip
        print(machine())
        print(f"runs={len(times_ms)} schedules={len(sids)}")
        print(
            f"p50={statistics.median(times_ms):.3f} ms  p90={pct(times_ms, 90):.3f} ms  "
            f"p99={pct(times_ms, 99):.3f} ms  mean={statistics.fmean(times_ms):.3f} ms  "
            f"max={max(times_ms):.3f} ms  (goal: p50 < 5 ms)"
        )
        monitor.stop()
        if args.child_runs:
            child_startup(args.child_runs, workdir)
        if args.worker_runs:
            real_worker(settings, manager, args.worker_runs, workdir)
        store.redis.close()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
