"""Notifications through the API with a real notifications worker: test send, feed, dead letters."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Proc, child_env, wait_for
from tests.integration.api.conftest import new_schedule


def test_admin_must_name_the_tenant_of_a_feed(admin: httpx.Client, acme: httpx.Client) -> None:
    r = admin.get("/notifications")
    assert r.status_code == 422 and r.json()["error"]["field"] == "tenant_id"
    assert admin.get("/notifications", params={"tenant_id": "acme"}).json()["notifications"] == []
    assert acme.get("/notifications", params={"tenant_id": "globex"}).status_code == 403
    assert acme.get("/dead-letters").json()["dead_letters"] == []


def test_test_notification_needs_a_schedule_or_a_config(acme: httpx.Client) -> None:
    r = acme.post("/test-notification", json={})
    assert r.status_code == 422 and r.json()["error"]["field"] == "schedule_id"
    bad = acme.post("/test-notification", json={"config": {"types": ["webhook"]}})
    assert bad.status_code == 422 and bad.json()["error"]["field"].startswith("config")


@pytest.mark.timeout(90)
def test_test_send_reaches_the_feed_through_a_real_worker(
    acme: httpx.Client, globex: httpx.Client, redis_url: str, tmp_path: Path
) -> None:
    # Without a worker the send is reported pending, not lost and not an error.
    nobody = acme.post(
        "/test-notification", json={"config": {"types": ["memory"]}, "timeout_s": 0}
    )
    assert nobody.status_code == 200, nobody.text
    assert nobody.json()["channels"]["memory"]["status"] == "pending"
    worker = Proc(
        [sys.executable, "-m", "celery", "-A", "tasksched", "worker", "-Q", "notifications",
         "-P", "threads", "-c", "2", "--loglevel=INFO", "-n", "api-notify@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        child_env(TASKSCHED_REDIS_URL=redis_url, TASKSCHED_SECRET_KEY=TEST_SECRET_KEY),
        tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: "ready" in worker.output(), 60, what="the notifications worker")
        # The pending send above is delivered once a worker runs.
        feed = wait_for(
            lambda: acme.get("/notifications").json()["notifications"], 30, what="the feed"
        )
        assert feed[0]["event"] == "test"
        sid = new_schedule(acme, config={"notifications": {"types": ["memory", "log"]}})[
            "schedule_id"
        ]
        r = acme.post("/test-notification", json={"schedule_id": sid, "timeout_s": 20})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["complete"] is True, report
        assert report["channels"]["memory"]["status"] == "sent"
        assert report["channels"]["log"]["status"] == "sent"
        entries = acme.get("/notifications", params={"limit": 10}).json()["notifications"]
        assert entries[0]["event"] == "test" and entries[0]["schedule_id"] == sid
        # Another tenant's feed holds none of it, and it cannot test acme's schedule.
        assert globex.get("/notifications").json()["notifications"] == []
        other = globex.post("/test-notification", json={"schedule_id": sid})
        assert other.status_code == 404
    finally:
        worker.stop()
