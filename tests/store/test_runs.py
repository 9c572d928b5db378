"""The run store: history capped and newest first, write-once records."""

from __future__ import annotations

from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store, cron_run_id
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
