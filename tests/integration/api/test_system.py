"""Status, the switch, run counts and Redis outages through the API, read back from Redis."""

from __future__ import annotations

import json

import httpx

from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle, attempt_token
from tests.integration.api.conftest import ServedApi, new_schedule


def _beat_and_workers(store: Store) -> None:
    # The shapes the beat and worker processes write (their contracts with the API).
    now = store.time()
    store.redis.set(store.keys.beat_lock, "beat-host-1:4242", px=10_000)
    store.redis.hset(
        store.keys.beat_health,
        mapping={"leader": "beat-host-1:4242", "last_tick": repr(now - 0.5), "lag_s": "0.5",
                 "dispatch_lag_s": "0.125", "dispatched_total": "17", "missed_total": "3"},
    )
    fresh = {"ts": now - 2, "hostname": "w1", "cpu_percent": 12.5, "memory_available_mb": 900,
             "active_runs": ["secret-tenant-run"]}
    stale = {"ts": now - 600, "hostname": "w2", "cpu_percent": 1.0}
    store.redis.hset(store.keys.workers, mapping={"w1": json.dumps(fresh), "w2": json.dumps(stale)})


def test_status_reports_switch_beat_workers_schedules_queues(
    admin: httpx.Client, acme: httpx.Client, real_store: Store
) -> None:
    _beat_and_workers(real_store)
    a = new_schedule(acme)["schedule_id"]
    new_schedule(acme, name="second")
    acme.post(f"/schedules/{a}/pause")
    admin.post("/stop")
    r = admin.get("/status")
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["enabled"] is False
    assert s["beat"]["leader"] == "beat-host-1:4242" and s["beat"]["leader_present"] is True
    assert s["beat"]["dispatch_lag_s"] == 0.125 and s["beat"]["lag_s"] == 0.5
    assert s["beat"]["dispatched_total"] == 17 and s["beat"]["missed_total"] == 3
    assert 0 <= s["beat"]["last_tick_age_s"] < 60
    assert s["workers_online"] == 1
    online = {w["host"]: w["online"] for w in s["workers"]}
    assert online == {"w1": True, "w2": False}
    assert s["schedules"] == {"active": 1, "paused": 1, "total": 2}
    assert s["queues"] == {"training": 0, "notifications": 0}
    # A tenant key sees host readings but not what a worker is running for someone else.
    mine = acme.get("/status").json()
    w1 = next(w for w in mine["workers"] if w["host"] == "w1")
    assert w1["readings"]["cpu_percent"] == 12.5
    assert "active_runs" not in w1["readings"]
    assert "secret-tenant-run" not in acme.get("/status").text


def test_status_counts_runs_recorded(
    admin: httpx.Client, acme: httpx.Client, real_store: Store
) -> None:
    sid = new_schedule(acme)["schedule_id"]
    lifecycle = RunLifecycle(real_store)
    for i, outcome in enumerate((RunStatus.SKIPPED, RunStatus.FAILED, RunStatus.SUCCEEDED)):
        run_id = f"{sid}-{i}"
        real_store.runs.add(run_id, sid, "acme", RunStatus.QUEUED, RunTrigger.CRON)
        lifecycle.finish(run_id, sid, "", outcome, "test", 3, 3600.0)
    # A lost attempt (its worker died): counted apart, not a failure, not an outcome.
    real_store.runs.add(f"{sid}-9", sid, "acme", RunStatus.QUEUED, RunTrigger.CRON)
    token = attempt_token(f"{sid}-9")
    lifecycle.claim(f"{sid}-9", sid, "acme", token, "w", "cron", None)
    real_store.redis.delete(real_store.keys.run_lock(sid))
    assert lifecycle.lost(f"{sid}-9", sid, token, "died", 0.0, True).requeued
    s = admin.get("/status").json()
    assert s["runs"]["total_runs"] == 3 and s["runs"]["skipped_runs"] == 1
    assert s["runs"]["failed_runs"] == 1 and s["runs"]["successful_runs"] == 1
    assert s["runs"]["lost_runs"] == 1
    real_store.schedules.delete(sid)  # counters of finished runs never go down
    assert admin.get("/status").json()["runs"]["total_runs"] == 3


def test_the_api_fails_fast_when_redis_is_gone() -> None:
    """The app's own client (not a test double): a few retries, not ~30 s of them."""
    import time

    from tasksched.settings import Settings
    from tests.helpers import free_port
    from tests.integration.api.conftest import ADMIN_KEY, API_KEYS

    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", api_keys=API_KEYS)
    served = ServedApi(settings).start()
    try:
        with served.client(ADMIN_KEY) as c:
            t0 = time.monotonic()
            health = c.get("/healthz", timeout=30)
            assert health.status_code == 503 and health.json()["redis"] is False
            assert time.monotonic() - t0 < 10  # the long-lived default would take ~30 s
    finally:
        served.stop()


def test_redis_down_is_503_not_500(redis_url: str) -> None:
    from tasksched.settings import Settings
    from tests.helpers import free_port
    from tests.integration.api.conftest import ADMIN_KEY, API_KEYS

    # The API as deployed, configured with a Redis URL where nothing listens: Redis is down.
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", api_keys=API_KEYS)
    served = ServedApi(settings)
    served.start()
    try:
        with served.client(ADMIN_KEY) as c:
            health = c.get("/healthz")
            assert health.status_code == 503 and health.json()["redis"] is False
            r = c.get("/schedules")
            assert r.status_code == 503 and r.json()["error"]["type"] == "unavailable"
    finally:
        served.stop()
