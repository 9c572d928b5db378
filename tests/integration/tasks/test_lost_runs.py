"""Real workers with the documented defaults (run lock TTL, heartbeat): a worker SIGKILLed
during the pre-run checks, a data count slower than the lock TTL, a redelivered message whose
history record was trimmed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasksched.celery import TRAIN_TASK, app_for
from tasksched.errors import NotFoundError
from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus, RunTrigger
from tasksched.settings import Settings
from tasksched.store import Store, cron_run_id
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TEST_LEARNERS, Proc, RedisServer, wait_for
from tests.integration.faults import CONTROLS, SCRIPTED
from tests.integration.procs import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Site:
    """A redis-server, a store on it and the workers a test starts (stopped at the end)."""

    def __init__(self, root: Path):
        self.root = root
        self.redis = RedisServer(root / "redis")
        self.redis.start()
        self.settings = Settings(redis_url=self.redis.url, secret_key=TEST_SECRET_KEY,
                                 learners=TEST_LEARNERS,
                                 state_dir=str(root / "state"))  # fmt: skip
        self.store = Store(settings=self.settings)
        self.manager = SchedulerManager(store=self.store)
        self.procs: list[Proc] = []

    def worker(self, name: str, queue: str = "training", **env: str) -> Proc:
        proc = start_worker(self.root, name, self.redis.url, self.store, queue=queue, **env)
        self.procs.append(proc)
        return proc

    def schedule(self, options: dict[str, Any]) -> str:
        cfg = {"learner": SCRIPTED, "learner_options": options, "safety_controls": CONTROLS}
        return self.manager.create_training_schedule("acme", "s", "0 2 * * *", cfg)

    def enqueue(self, sid: str, run_id: str, queue: str = "training") -> None:
        """What beat does: the queued record, then the task message (ids only)."""
        fire = time.time()
        self.store.runs.add(run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON,
                            score=fire, fire_time=fire, queued_at=fire)  # fmt: skip
        self.send(sid, run_id, fire, queue)

    def send(self, sid: str, run_id: str, fire: float, queue: str = "training") -> None:
        app_for(self.settings).send_task(
            TRAIN_TASK, task_id=run_id, queue=queue,
            kwargs={"tenant_id": "acme", "schedule_id": sid, "run_id": run_id,
                    "fire_time": fire, "trigger": "cron"},
        )  # fmt: skip

    def calls(self, sid: str, call: str) -> list[str]:
        path = self.root / "state" / "models" / "acme" / sid / "calls.log"
        if not path.exists():
            return []
        entries = [json.loads(x) for x in path.read_text().splitlines()]
        return [e["run_id"] for e in entries if e["call"] == call]

    def status(self, run_id: str, *statuses: str, timeout_s: float = 40) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run = self.store.runs.get(run_id)
            return run if run["status"] in statuses else None

        try:
            return wait_for(done, timeout_s, 0.05, what=f"{run_id} in {statuses}")  # type: ignore[no-any-return]
        except AssertionError:
            logs = "\n".join(p.log_path.read_text(errors="replace")[-2000:] for p in self.procs)
            raise AssertionError(f"{self.store.runs.get(run_id)}\n{logs}") from None

    def stop(self) -> None:
        for p in self.procs:
            p.stop()
        self.store.close()
        self.redis.stop()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path)
    yield s
    s.stop()


def test_a_worker_killed_in_its_pre_run_checks_is_found_within_10s_and_rerun_once(
    site: Site,
) -> None:
    site.worker("sweeper")  # a live worker: its heartbeat sweeps
    victim = site.worker("victim", queue="victim")
    sid = site.schedule({"count": 500, "count_s_first": 60})
    site.enqueue(sid, "r1", queue="victim")
    wait_for(lambda: site.calls(sid, "count") == ["r1"], 30, what="the data count under way")
    assert site.store.runs.get("r1")["status"] == "running"
    victim.kill()  # SIGKILL its whole process group, in the middle of count_available_data
    killed_at = site.store.time()
    run = site.status("r1", "succeeded")
    detected_s = float(run["lost_at"]) - killed_at
    print(f"lost detection: {detected_s:.2f} s after the SIGKILL")
    assert detected_s <= 10.0, "lost detection took over 10 s"
    assert run["lost_attempts"] == "1" and run["worker"].startswith("sweeper@")
    assert site.calls(sid, "train") == ["r1"]
    counters = site.store.schedules.get(sid).counters
    assert counters["failed_runs"] == 0 and counters["lost_runs"] == 1
    assert counters["consecutive_failures"] == 0 and counters["total_runs"] == 1


def test_a_data_count_slower_than_the_lock_ttl_keeps_its_lock_and_trains_once(
    site: Site,
) -> None:
    site.worker("a")
    site.worker("b")  # a second worker: a second run of the schedule would start here
    ttl_s = site.settings.run_lock_ttl_s
    sid = site.schedule({"count": 500, "count_s": ttl_s + 3})
    site.enqueue(sid, "r1")
    wait_for(lambda: site.calls(sid, "count") == ["r1"], 30, what="the data count under way")
    lock = site.store.keys.run_lock(sid)
    token = site.store.runs.get("r1")["lock_token"]
    time.sleep(ttl_s + 1)  # past the TTL, still counting
    assert site.store.redis.get(lock) == token  # renewed since the claim
    assert site.store.runs.get("r1")["status"] == "running"  # not swept as lost
    site.enqueue(sid, "r2")  # the schedule's next run, while r1 still counts
    other = site.status("r2", "skipped")
    assert "running" in other["reason"] or "lock" in other["reason"], other["reason"]
    run = site.status("r1", "succeeded")
    assert "lost_attempts" not in run
    assert site.calls(sid, "train") == ["r1"]
    assert not site.store.redis.exists(lock)


def test_a_redelivered_message_whose_record_was_trimmed_is_refused(site: Site) -> None:
    small = {"TASKSCHED_RUN_HISTORY_MAX": "3"}
    worker = site.worker("w", **small)
    sid = site.schedule({"count": 500})
    site.enqueue(sid, "r1")
    site.status("r1", "succeeded")
    fire = float(site.store.runs.get("r1")["fire_time"])
    # Newer runs push r1 out of the capped history (cap 3).
    capped = Store(settings=site.settings.replace(run_history_max=3))
    for i in range(4):
        at = time.time() + 60 + i
        capped.runs.add(cron_run_id(sid, at), sid, "acme", RunStatus.SUCCEEDED, RunTrigger.CRON,
                        score=at)  # fmt: skip
    with pytest.raises(NotFoundError):
        site.store.runs.get("r1")
    assert site.store.redis.get(site.store.keys.tomb("r1")) == "succeeded"
    # The broker delivers r1's message again (its ack was lost, hours later).
    site.send(sid, "r1", fire)
    wait_for(lambda: '"run_id":"r1"' in worker.output() and "already ended" in worker.output(),
             30, what="the worker refusing the redelivery")  # fmt: skip
    assert site.calls(sid, "train") == ["r1"]  # trained once
    with pytest.raises(NotFoundError):
        site.store.runs.get("r1")  # and nothing recreated
    assert site.store.schedules.get(sid).counters["total_runs"] == 1
