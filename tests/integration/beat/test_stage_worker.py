"""A real beat that claims every second ahead (``TASKSCHED_BEAT_STAGE_MIN=1``) and a real
worker: each fire is trained once, never before its fire time, and recorded as any other."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from tasksched.manager import SchedulerManager
from tasksched.store import Store, cron_run_id
from tests.helpers import wait_for
from tests.integration.beat.conftest import BeatProcs
from tests.integration.faults import CONTROLS, SCRIPTED
from tests.integration.procs import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_runs_claimed_ahead_train_once_each_and_never_before_their_fire_time(
    real_store: Store, redis_url: str, tmp_path: Path
) -> None:
    worker = start_worker(tmp_path, "staged", redis_url, real_store, concurrency=2)
    beats = BeatProcs(tmp_path, redis_url)
    try:
        beat = beats.start("beat", TASKSCHED_BEAT_STAGE_MIN="1")
        mgr = SchedulerManager(store=real_store)
        cfg = {"learner": SCRIPTED, "learner_options": {"count": 500, "train_s": 0.1},
               "safety_controls": CONTROLS}  # fmt: skip
        sids = [
            mgr.create_training_schedule("acme", f"s{i}", "* * * * * */2", cfg)
            for i in range(3)
        ]
        # Each one's creation time on the store's clock, the one its first fire is counted
        # from (the test's own clock, read after the call, can be in the next second).
        created = {sid: real_store.schedules.get(sid).created_at for sid in sids}

        def fires_done() -> bool:
            return all(
                sum(r["status"] == "succeeded" for r in real_store.runs.list(sid, limit=50)) >= 3
                for sid in created
            )

        wait_for(fires_done, 40, 0.2, what="three fires trained per schedule")
        beats.stop_all()
        stopped_at = time.time()
        k = real_store.keys

        def settled() -> bool:
            # What is still pending was claimed ahead for a second after beat stopped (a
            # beat leading then releases it; else the pending sweep ends it).
            pending = real_store.redis.zrange(k.pending, 0, -1)
            later = all(float(real_store.runs.get(r)["fire_time"]) > stopped_at for r in pending)
            return not real_store.redis.zcard(k.running) and later

        wait_for(settled, 30, 0.2, what="every run final")
    finally:
        beats.stop_all()
        worker.stop()
    beat_log = beat.log_path.read_text(errors="replace")
    assert '"staged":' in beat_log and "Traceback" not in beat_log, beat_log[-3000:]
    for sid, created_at in created.items():
        runs = {r["run_id"]: r for r in real_store.runs.list(sid, limit=500)}
        next_due = real_store.redis.zscore(real_store.keys.due, sid)
        assert next_due is not None
        for run in runs.values():
            assert run["trigger"] == "cron"
            if run["status"] == "queued":
                assert float(run["fire_time"]) > stopped_at  # its second had not come
                continue
            assert run["status"] == "succeeded", run
            assert float(run["started_at"]) >= float(run["fire_time"]), "trained before its time"
        succeeded = sorted(r for r, v in runs.items() if v["status"] == "succeeded")
        # Every fire from creation to the due score beat left has its run: none lost.
        fires = [t for t in range(math.floor(created_at) + 1, int(next_due)) if t % 2 == 0]
        assert sorted(runs) == sorted(cron_run_id(sid, t) for t in fires)
        calls_log = tmp_path / "state" / "models" / "acme" / sid / "calls.log"
        calls = [json.loads(line) for line in calls_log.read_text().splitlines()]
        trained = [e["run_id"] for e in calls if e["call"] == "train"]
        assert sorted(trained) == succeeded, "a run trained twice, or one not recorded"
