"""A real beat and a real worker whose every Redis connection goes through the fault proxy.

Each script of the beat's claim path and the worker's claim, renew, update and finish paths has
one reply cut after Redis ran it, while schedules fire every two seconds. Every fire must run
exactly once: a record for each, none trained twice, all final, no failure counted.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import pytest

from tasksched.manager import SchedulerManager
from tasksched.store import Store, cron_run_id
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Proc, child_env, wait_for
from tests.integration.faultproxy import FaultProxy, load_scripts, script_sha
from tests.integration.faults import CONTROLS, SCRIPTED
from tests.integration.procs import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

CUTS = {  # script -> how many of its calls pass before the one whose reply is cut
    "leader_tick": 8,
    "claim_batch": 1,
    "run_claim": 1,
    "lease_renew": 0,
    "run_update": 1,
    "run_finish": 1,
}


def test_a_beat_and_a_worker_behind_a_faulty_network_run_every_fire_exactly_once(
    proxy: FaultProxy, real_store: Store, tmp_path: Path
) -> None:
    load_scripts(real_store.redis)  # a cut EVALSHA is then the real call, not a NOSCRIPT
    rules = {name: proxy.cut("EVALSHA", script_sha(name), skip=skip) for name, skip in CUTS.items()}
    worker = start_worker(tmp_path, "faulty", proxy.url, real_store, concurrency=2,
                          TASKSCHED_RUN_LOCK_TTL_S="3")  # fmt: skip
    beat = Proc(
        [sys.executable, "-m", "celery", "-A", "tasksched", "beat", "-l", "INFO",
         "--schedule", str(tmp_path / "beat-schedule")],
        child_env(TASKSCHED_REDIS_URL=proxy.url, TASKSCHED_SECRET_KEY=TEST_SECRET_KEY),
        tmp_path / "beat.log",
    )  # fmt: skip
    try:
        mgr = SchedulerManager(store=real_store)
        cfg = {"learner": SCRIPTED, "learner_options": {"count": 500, "train_s": 1.2},
               "safety_controls": CONTROLS}  # fmt: skip
        sids = [
            mgr.create_training_schedule("acme", f"s{i}", "* * * * * */2", cfg)
            for i in range(2)
        ]
        # Each one's creation time on the store's clock, the one its first fire is counted
        # from (the test's own clock, read after the call, can be in the next second).
        created = {sid: real_store.schedules.get(sid).created_at for sid in sids}
        wait_for(lambda: all(r.cuts for r in rules.values()), 60, 0.2,
                 what=f"every cut made: { {n: r.cuts for n, r in rules.items()} }")  # fmt: skip
        time.sleep(2.0)
        beat.stop()  # the due scores stop moving
        beat_log = beat.log_path.read_text(errors="replace")

        def settled() -> bool:
            k = real_store.keys
            return not real_store.redis.zcard(k.running) and not real_store.redis.zcard(k.pending)

        wait_for(settled, 40, 0.2, what="every run final")
    finally:
        beat.stop()
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert "Traceback" not in beat_log, beat_log[-3000:]
    for sid, created_at in created.items():
        next_due = real_store.redis.zscore(real_store.keys.due, sid)
        assert next_due is not None
        fires = [t for t in range(math.floor(created_at) + 1, int(next_due)) if t % 2 == 0]
        assert len(fires) >= 3
        runs = {r["run_id"]: r for r in real_store.runs.list(sid, limit=500)}
        for t in fires:
            run_id = cron_run_id(sid, t)
            assert run_id in runs, f"fire {t} lost\n{log[-3000:]}"
            assert runs[run_id]["status"] in ("succeeded", "skipped"), runs[run_id]
        assert len(runs) == len(fires), "a run that no fire explains"
        trained = _trained(tmp_path, sid)
        assert len(trained) == len(set(trained)), "a run trained twice"
        succeeded = sorted(r for r, v in runs.items() if v["status"] == "succeeded")
        assert sorted(trained) == succeeded
        counters = real_store.schedules.get(sid).counters
        assert counters["failed_runs"] == 0 and counters["lost_runs"] == 0, counters
        assert counters["total_runs"] == len(fires)


def _trained(root: Path, sid: str) -> list[str]:
    import json

    path = root / "state" / "models" / "acme" / sid / "calls.log"
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e["run_id"] for e in entries if e["call"] == "train"]
