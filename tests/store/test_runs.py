"""The run store: history capped and newest first, write-once records."""

from __future__ import annotations

import json
import re

from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store, cron_run_id
from tasksched.store.runs import decode_run
from tests.store.test_schedules import NOW, spec


def test_run_history_is_capped_and_newest_first(store: Store) -> None:
    small = Store(redis_client=store.redis, settings=store.settings.replace(run_history_max=5))
    rec = small.schedules.create(spec(), now=NOW)
    for i in range(8):
        small.runs.add(
            cron_run_id(rec.id, NOW + i),
            rec.id,
            "acme",
            RunStatus.SUCCEEDED,
            RunTrigger.CRON,
            score=NOW + i,
            fire_time=NOW + i,
        )
    assert small.runs.count(rec.id) == 5
    runs = small.runs.list(rec.id, 0, 10)
    assert [r["fire_time"] for r in runs] == [NOW + i for i in (7, 6, 5, 4, 3)]
    # trimmed run records are gone, not just unindexed
    assert not small.redis.exists(small.keys.run(cron_run_id(rec.id, NOW)))
    assert small.runs.list(rec.id, 2, 2)[0]["fire_time"] == NOW + 5


def test_a_run_written_only_if_new_is_written_once(store: Store) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    rid = cron_run_id(rec.id, NOW)
    first = store.runs.add(rid, rec.id, "acme", RunStatus.QUEUED, RunTrigger.MANUAL, score=NOW,
                           only_new=True, fire_time=NOW, reason="first")
    again = store.runs.add(rid, rec.id, "acme", RunStatus.FAILED, RunTrigger.MANUAL, score=NOW,
                           only_new=True, fire_time=NOW, reason="again")
    assert (first, again) == (True, False)
    run = store.runs.get(rid)
    assert run["status"] == "queued" and run["reason"] == "first"
    assert run["fire_time_iso"] == "2026-01-01T00:00:00+00:00"


# A finished run's hash as a worker left it (every value a string), from `tasksched up`.
STORED_RUN = {
    "run_id": "7e9d-1796127070", "trigger": "cron", "decided_by": "gates", "attempts": "1",
    "deferrals": "2", "training_s": "2.777", "prerun_ms": "1.326", "worker": "w@vm",
    "fire_time": "1796127070.0", "backup_ref": "/m/backups/7e9d-1796127070",
    "memory_budget_mb": "4096.0", "peak_memory_mb": "156.0", "reason": "promoted",
    "schedule_id": "7e9d", "rolled_back": "0", "queued_at": "1796127070.000214",
    "validation_score": "0.958217270194986", "metrics": '{"test_samples":160}', "degraded": "0",
    "finished_at": "1796127072.794692", "baseline_score": "0.9554317548746518",
    "tenant_id": "demo", "status": "succeeded", "data_count": "200", "duration_s": "2.788254",
    "quality_score": "0.96875", "started_at": "1796127070.006438", "max_samples": "5000",
    "next_attempt_at": "1796127075.0", "cooldown_entered": "1", "forced": "1",
    "lost_at": "1796127080.5", "requeued_at": "1796127081.25", "stop": "soft_time_limit",
}  # fmt: skip
NUMBER_OR_FLAG = re.compile(r"^-?\d+(\.\d+)?(e[-+]?\d+)?$")


def test_run_records_come_back_typed() -> None:
    run = decode_run(STORED_RUN)
    assert run["training_s"] == 2.777 and run["peak_memory_mb"] == 156.0
    assert run["attempts"] == 1 and run["deferrals"] == 2 and run["max_samples"] == 5000
    assert run["rolled_back"] is False and run["degraded"] is False
    assert run["forced"] is True and run["cooldown_entered"] is True
    assert run["metrics"] == {"test_samples": 160}
    assert run["next_attempt_at_iso"].endswith("+00:00")
    # fields typed by their units' names: a time field added later comes back typed too
    assert run["lost_at"] == 1796127080.5 and run["requeued_at_iso"].endswith("+00:00")
    assert run["stop"] == "soft_time_limit"
    # no number or flag is left as a string (the JSON of REST and --json is the same dict)
    strings = {k: v for k, v in run.items() if isinstance(v, str) and NUMBER_OR_FLAG.match(v)}
    assert strings == {}
    assert json.loads(json.dumps(run)) == run
