"""Process caps apply where the process acts (issue 14, item 9), with real processes: an API
whose ``TASKSCHED_MAX_TRAINING_TIME_S`` is large writes what a worker with a smaller cap runs
clamped (and says so in the run); the API refuses what exceeds its own cap; stored data a
worker cannot use ends its run with the reason, and the heartbeat sweeps go on past it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tasksched.models import RunStatus, RunTrigger
from tasksched.settings import Settings
from tasksched.store import Store
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TEST_LEARNERS, Proc, child_env, free_port, wait_for
from tests.integration.procs import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

API_CAP_S = 7200  # the API's TASKSCHED_MAX_TRAINING_TIME_S: 120 minutes
WORKER_CAP_S = 3  # the worker's: 3 seconds
CONTROLS = {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 400}


@pytest.fixture
def api(redis_url: str, tmp_path: Path) -> Iterator[str]:
    """``python -m tasksched.api`` (keyless, loopback) with the large cap; yields its base URL."""
    port = free_port()
    env = child_env(TASKSCHED_REDIS_URL=redis_url, TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
                    TASKSCHED_LEARNERS=TEST_LEARNERS,
                    TASKSCHED_MAX_TRAINING_TIME_S=str(API_CAP_S))  # fmt: skip
    proc = Proc([sys.executable, "-m", "tasksched.api", "127.0.0.1", str(port)], env,
                tmp_path / "api.log")  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/scheduler"
    try:
        wait_for(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, 30,
                 what="the API")  # fmt: skip
        yield url
    finally:
        proc.stop()


def _create(url: str, minutes: float, **options: Any) -> httpx.Response:
    body = {"tenant_id": "acme", "name": f"capped {minutes}", "cron_expression": "0 2 * * *",
            "config": {"learner": "scripted", "learner_options": options,
                       "safety_controls": {**CONTROLS, "max_training_time_minutes": minutes}}}
    return httpx.post(url + "/schedules", json=body, timeout=30)


def _ended(store: Store, run_id: str, timeout_s: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = store.runs.get(run_id)
        return run if run["status"] not in ("queued", "running", "deferred") else None

    result: dict[str, Any] = wait_for(done, timeout_s, 0.1, what=f"run {run_id} to end")
    return result


def test_the_api_refuses_over_its_cap_and_a_smaller_worker_clamps_and_records_it(
    api: str, redis_url: str, real_store: Store, tmp_path: Path
) -> None:
    over = _create(api, API_CAP_S / 60 + 1)
    assert over.status_code == 422, over.text
    error = over.json()["error"]
    assert error["field"] == "config.safety_controls.max_training_time_minutes"
    assert "at most 120 minutes" in error["message"]
    assert f"TASKSCHED_MAX_TRAINING_TIME_S={API_CAP_S}" in error["message"]

    long_run = _create(api, 90, train_s=60)  # within the API's cap, far over the worker's
    short_run = _create(api, 90, train_s=0.2)
    assert long_run.status_code == short_run.status_code == 201, long_run.text
    worker = start_worker(tmp_path, "small", redis_url, real_store,
                          TASKSCHED_MAX_TRAINING_TIME_S=str(WORKER_CAP_S))  # fmt: skip
    try:
        runs = {}
        for name, created in (("long", long_run), ("short", short_run)):
            sid = created.json()["schedule_id"]
            trig = httpx.post(f"{api}/schedules/{sid}/trigger", json={"force": True}, timeout=30)
            assert trig.status_code == 202, trig.text
            runs[name] = _ended(real_store, trig.json()["run_id"])
    finally:
        worker.stop()
    clamp = {"field": "safety_controls.max_training_time_minutes", "stored": 90,
             "applied": WORKER_CAP_S / 60, "cap": "TASKSCHED_MAX_TRAINING_TIME_S"}  # fmt: skip
    long_, short = runs["long"], runs["short"]
    # Clamped, not refused: the 90-minute run was stopped at the worker's 3 s like its own limit.
    assert long_["status"] == "failed" and long_["stop"] == "soft_time_limit", long_
    assert long_["clamped"] == [clamp]
    assert long_["training_s"] < 30
    assert short["status"] in ("succeeded", "rejected"), short
    assert short["clamped"] == [clamp]


def test_a_stored_schedule_the_worker_cannot_use_ends_its_run_and_sweeps_go_on(
    redis_url: str, real_store: Store, tmp_path: Path
) -> None:
    settings = Settings(redis_url=redis_url, secret_key=TEST_SECRET_KEY, learners=TEST_LEARNERS)
    store = Store(settings=settings)
    cfg = {"learner": "scripted", "safety_controls": CONTROLS}
    good = store.schedules.create(_spec("good", cfg)).id
    bad = store.schedules.create(_spec("bad", cfg)).id
    # Data this version's schema refuses (written by hand, or by another version).
    store.redis.hset(store.keys.schedule(bad), "config",
                     json.dumps({"safety_controls": {"max_memory_usage_mb": -1}}))  # fmt: skip
    # Two runs whose worker died (marked running, their locks gone), one of each schedule:
    # the sweep must take both, whatever order it meets them in.
    for sid in (bad, good):
        run_id = f"dead-{sid}"
        store.runs.add(run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.MANUAL, score=1.0)
        claim = store_claim(store, sid, run_id)
        assert claim == "claimed"
        store.redis.delete(store.keys.run_lock(sid))
    worker = start_worker(tmp_path, "w", redis_url, real_store)
    try:
        for sid in (bad, good):
            run = _ended(store, f"dead-{sid}")
            assert run.get("lost_attempts") == "1", run  # swept: re-queued once, then ran
        bad_run, good_run = store.runs.get(f"dead-{bad}"), store.runs.get(f"dead-{good}")
        assert bad_run["status"] == "failed", bad_run
        assert bad_run["decided_by"] == "schedule"
        assert "its stored schedule cannot be used" in bad_run["reason"]
        assert "config.safety_controls.max_memory_usage_mb" in bad_run["reason"]
        assert good_run["status"] in ("succeeded", "rejected"), good_run
    finally:
        worker.stop()
        store.close()


def _spec(name: str, cfg: dict[str, Any]) -> Any:
    from tasksched.models import ScheduleSpec

    return ScheduleSpec.model_validate(
        {"tenant_id": "acme", "name": name, "cron_expression": "0 2 * * *", "config": cfg}
    )


def store_claim(store: Store, sid: str, run_id: str) -> str:
    """Claim the run as a worker that then dies would (``run_claim.lua``)."""
    from tasksched.store.lifecycle import RunLifecycle, attempt_token

    claim = RunLifecycle(store).claim(run_id, sid, "acme", attempt_token(run_id), "gone@host",
                                      "manual", None)  # fmt: skip
    return claim.code
