"""Benchmark: a worker's pre-run checks, from receiving the task to calling the learner.

Measures ``PreRun.check`` (checks 1-6: the claim script with the run id and run lock, the
schedule/switch/cooldown decisions, the host reading, the learner's data count) against a
real redis-server started here, in-process, with a do-nothing learner so that only
tasksched's own cost is timed. Each run is finished (untimed) to free its lock.

    .venv/bin/python bench/worker.py [--runs 2000] [--schedules 200] [--worker-runs 40]

With ``--worker-runs N`` it also starts a real ``celery -A tasksched worker`` and reads the
``prerun_ms`` each run records (task start -> learner ready, measured by the worker itself)
and the queue-to-claim time (``started_at - queued_at``, Redis clock), one run at a time.
"""

from __future__ import annotations

import argparse
import os
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
from tasksched.gates import Evaluation
from tasksched.learners.base import RunContext
from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.resources import HostMonitor
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle
from tasksched.tasks.prerun import Outcome, PreRun, RunMessage


class NullLearner:
    """Reports data instantly; never trains (only the checks are timed)."""

    def __init__(self, options: dict[str, Any]):
        pass

    def count_available_data(self, ctx: RunContext) -> int:
        return 1000

    def backup(self, ctx: RunContext) -> str | None:
        return None

    def train(self, ctx: RunContext) -> str | None:
        return None

    def evaluate(self, ctx: RunContext, candidate: str | None) -> Evaluation:
        return Evaluation(1.0, 1.0)

    def promote(self, ctx: RunContext, candidate: str | None) -> None:
        return None

    def restore(self, ctx: RunContext, backup: str | None) -> None:
        return None


def real_worker(settings: Settings, manager: SchedulerManager, runs: int, workdir: str) -> None:
    """Runs through a real Celery worker, one at a time; figures from the run records."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKSCHED_")}
    env.update(
        TASKSCHED_REDIS_URL=settings.redis_url,
        TASKSCHED_STATE_DIR=workdir,
        TASKSCHED_LEARNERS="null=bench.worker:NullLearner",  # registered by the operator
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
        for i in range(runs + 2):
            rec = manager.trigger_training("bench", sid).wait(120, interval_s=0.02)
            if rec["status"] != "succeeded":
                raise SystemExit(f"run failed: {rec.get('reason')}")
            if i >= 2:  # the first runs warm the worker up
                prerun.append(float(rec["prerun_ms"]))
                to_claim.append((rec["started_at"] - rec["queued_at"]) * 1000.0)
        print(f"real worker (prefork, 1 slot), runs={len(prerun)}:")
        print(
            f"  checks (task start -> learner): p50={statistics.median(prerun):.3f} ms "
            f"p99={pct(prerun, 99):.3f} ms"
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
    ap.add_argument("--worker-runs", type=int, default=0)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-worker-")
    with redis_server() as url:
        settings = Settings(redis_url=url, state_dir=workdir,
                            learners="null=__main__:NullLearner")  # fmt: skip
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
            if i >= 100:
                times_ms.append(elapsed)
        print("tasksched worker pre-run checks (receive -> learner), in-process, real redis-server")
        print(machine())
        print(f"runs={len(times_ms)} schedules={len(sids)}")
        print(
            f"p50={statistics.median(times_ms):.3f} ms  p90={pct(times_ms, 90):.3f} ms  "
            f"p99={pct(times_ms, 99):.3f} ms  mean={statistics.fmean(times_ms):.3f} ms  "
            f"max={max(times_ms):.3f} ms  (goal: p50 < 5 ms)"
        )
        monitor.stop()
        if args.worker_runs:
            real_worker(settings, manager, args.worker_runs, workdir)
        store.redis.close()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
