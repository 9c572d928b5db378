"""/metrics: read from Redis at scrape time, the same from every process."""

from __future__ import annotations

import re

import httpx

from tasksched.store import Store
from tests.integration.api.conftest import ServedApi, new_schedule
from tests.integration.api.test_system import _beat_and_workers


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.M)
    assert match, f"{name}{{{labels}}} not in:\n{text}"
    return float(match.group(1))


def test_metrics_are_read_from_redis_at_scrape_time(
    admin: httpx.Client, acme: httpx.Client, real_store: Store, api: ServedApi
) -> None:
    _beat_and_workers(real_store)
    a = new_schedule(acme)["schedule_id"]
    b = new_schedule(acme, name="b")["schedule_id"]
    acme.post(f"/schedules/{b}/pause")
    acme.post(f"/schedules/{a}/trigger")
    # Global counters as the workers' finish script keeps them (runs_<outcome>).
    real_store.redis.hset(
        real_store.keys.metrics,
        mapping={"runs_succeeded": 3, "runs_failed": 1, "runs_skipped": 1, "runs_rejected": 2},
    )
    real_store.redis.hincrby(real_store.keys.metrics, "notifications_sent:webhook", 4)
    r = admin.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    t = r.text
    assert _metric(t, "tasksched_scheduler_enabled") == 1
    assert _metric(t, "tasksched_beat_leader_present") == 1
    assert _metric(t, "tasksched_dispatch_lag_seconds") == 0.125
    assert _metric(t, "tasksched_due_backlog_seconds") == 0.5
    assert _metric(t, "tasksched_dispatched_total") == 17
    assert _metric(t, "tasksched_missed_total") == 3
    assert _metric(t, "tasksched_workers_online") == 1
    assert _metric(t, "tasksched_schedules", 'status="active"') == 1
    assert _metric(t, "tasksched_schedules", 'status="paused"') == 1
    assert _metric(t, "tasksched_queue_depth", 'queue="training"') == 1
    assert _metric(t, "tasksched_runs_total", 'outcome="all"') == 7
    assert _metric(t, "tasksched_runs_total", 'outcome="succeeded"') == 3
    assert _metric(t, "tasksched_runs_total", 'outcome="failed"') == 1
    assert _metric(t, "tasksched_runs_total", 'outcome="rejected"') == 2
    assert _metric(t, "tasksched_events_total", 'detail="webhook",name="notifications_sent"') == 4
    # A second process (here: a second app on the same Redis) reports the same numbers.
    second = ServedApi(api.settings).start()
    try:
        with second.client(None) as c:
            other = c.get("/metrics", headers=admin.headers)
            assert _metric(other.text, "tasksched_runs_total", 'outcome="all"') == 7
    finally:
        second.stop()
    # After the leader goes away the scrape says so.
    real_store.redis.delete(real_store.keys.beat_lock)
    assert _metric(admin.get("/metrics").text, "tasksched_beat_leader_present") == 0
    root = httpx.get(api.url + "/metrics", headers=admin.headers)
    assert root.status_code == 200 and "tasksched_schedules" in root.text
