"""The API over a live system: real beat and worker processes, the demo learner, real runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Proc, child_env, wait_for
from tests.integration.api.conftest import new_schedule

TERMINAL = {"succeeded", "rejected", "failed", "skipped", "missed", "lost"}


def _celery(args: list[str], redis_url: str, log: Path, **env: str) -> Proc:
    environment = child_env(
        TASKSCHED_REDIS_URL=redis_url, TASKSCHED_SECRET_KEY=TEST_SECRET_KEY, **env
    )
    return Proc([sys.executable, "-m", "celery", "-A", "tasksched", *args], environment, log)


@pytest.mark.timeout(120)
def test_status_runs_and_metrics_of_a_live_system(
    acme: httpx.Client, admin: httpx.Client, redis_url: str, tmp_path: Path
) -> None:
    worker = _celery(
        ["worker", "-Q", "training,notifications", "-n", "api-live@%h", "-c", "1",
         "--pool", "prefork", "-l", "INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        redis_url, tmp_path / "worker.log",
        TASKSCHED_STATE_DIR=str(tmp_path / "state"), TASKSCHED_WORKER_HEARTBEAT_S="0.5",
        TASKSCHED_WORKER_CPU_SAMPLE_S="0.5",
    )
    beat = _celery(
        ["beat", "-l", "INFO", "--schedule", str(tmp_path / "beat-schedule")],
        redis_url, tmp_path / "beat.log", TASKSCHED_BEAT_LEASE_S="2",
    )
    try:
        def live() -> dict[str, Any] | None:
            s: dict[str, Any] = admin.get("/status").json()
            return s if s["beat"]["leader_present"] and s["workers_online"] >= 1 else None

        status = wait_for(live, 60, interval_s=0.2, what="beat leader and a worker online")
        readings = status["workers"][0]["readings"]
        assert readings["memory_total_mb"] > 0 and "training" in readings["queues"]
        config = {
            "learner": "demo",
            "learner_options": {"initial_samples": 600,
                                "growth_per_hour": 0},
            "safety_controls": {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 4000},
        }
        sid = new_schedule(acme, cron_expression="* * * * * *", config=config)["schedule_id"]

        def cron_run() -> dict[str, Any] | None:
            runs = acme.get(f"/schedules/{sid}/runs").json()["runs"]
            done = [r for r in runs if r["trigger"] == "cron" and r["status"] in TERMINAL]
            return done[0] if done else None

        first = wait_for(cron_run, 60, interval_s=0.2, what="a cron run dispatched by beat")
        assert first["tenant_id"] == "acme"
        assert acme.post(f"/schedules/{sid}/pause").json()["status"] == "paused"
        run_id = acme.post(f"/schedules/{sid}/trigger", json={"force": True}).json()["run_id"]

        def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = acme.get(f"/runs/{run_id}").json()
            return run if run["status"] in TERMINAL else None

        run = wait_for(finished, 60, interval_s=0.2, what="the triggered run")
        # Paused: the forced run is still refused by the worker, with the reason recorded.
        assert run["status"] == "skipped" and "paused" in run["reason"]
        assert acme.post(f"/schedules/{sid}/resume").status_code == 200
        detail = acme.get(f"/schedules/{sid}").json()
        assert detail["total_runs"] >= 1 and detail["last_run"] is not None
        metrics = admin.get("/metrics").text
        assert "tasksched_beat_leader_present 1.0" in metrics
        assert 'tasksched_runs_total{outcome="all"}' in metrics
        assert "tasksched_dispatched_total" in metrics
    finally:
        beat.stop()
        worker.stop()
