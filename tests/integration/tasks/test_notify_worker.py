"""The tasksched.notify task through a real Celery worker subprocess: retries, dead letters,
email and feed, test sends, and no secret in the worker's output."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasksched.manager import SchedulerManager
from tasksched.models import AutonomousConfig, NotificationEvent, ScheduleSpec
from tasksched.settings import Settings
from tasksched.store import ScheduleRecord, Store
from tasksched.store.notifications import NotificationStore
from tasksched.tasks.notify import emit_event
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Proc, RedisServer, child_env, wait_for
from tests.integration.conftest import (
    HEADER_SECRET,
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    Certs,
)

pytestmark = pytest.mark.timeout(120)

MAX_RETRIES = 3
SECRETS = (SMTP_PASSWORD, WEBHOOK_SECRET, HEADER_SECRET)


class Env:
    """A redis-server of this module's own, a notifications worker on it, and a store."""

    def __init__(self, redis: RedisServer, worker: Proc, store: Store):
        self.redis, self.worker, self.store = redis, worker, store

    def clean(self) -> None:
        # Only tasksched's keys: the broker's own keys (kombu bindings) stay.
        keys = list(self.store.redis.scan_iter(self.store.keys.base + "*"))
        if keys:
            self.store.redis.delete(*keys)

    def assert_no_secret_in_output(self) -> None:
        out = self.worker.output()
        for secret in SECRETS:
            assert secret not in out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("notify-worker")
    redis = RedisServer(workdir / "redis")
    redis.start()
    worker: Proc | None = None
    try:
        environ = child_env(
            TASKSCHED_REDIS_URL=redis.url,
            TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
            TASKSCHED_ALLOW_PRIVATE_TARGETS="1",  # the receivers here run on loopback
            TASKSCHED_SMTP_ALLOW_PLAINTEXT_LOGIN="1",
            # Celery's backoff counts whole seconds: 1 s, then at most 2 s, full jitter.
            TASKSCHED_NOTIFY_BACKOFF_S="1",
            TASKSCHED_NOTIFY_BACKOFF_MAX_S="2",
            TASKSCHED_NOTIFY_MAX_RETRIES=str(MAX_RETRIES),
            TASKSCHED_SMTP_CA_FILE=str(certs.ca_file),
            TASKSCHED_SMTP_TIMEOUT_S="5",
        )
        worker = Proc(
            [sys.executable, "-m", "celery", "-A", "tasksched", "worker", "-Q", "notifications",
             "-P", "threads", "-c", "4", "--loglevel=INFO", "-n", "notify-test@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            environ,
            Path(workdir / "worker.log"),
        )
        settings = Settings(redis_url=redis.url, secret_key=TEST_SECRET_KEY,
                            allow_private_targets=True)
        store = Store(settings=settings)
        # Ready when a test send through the worker comes back.
        rec = store.schedules.create(ScheduleSpec(tenant_id="boot", name="boot",
                                                  cron_expression="0 0 * * *"))

        def ready() -> bool:
            assert worker is not None and worker.alive(), worker.output() if worker else ""
            report = SchedulerManager(store=store).send_test_notification(rec.id, timeout_s=1)
            return bool(report["complete"])

        wait_for(ready, timeout_s=60, interval_s=0.1, what="the notifications worker")
        yield Env(redis, worker, store)
        store.redis.close()
    finally:
        if worker is not None:
            worker.stop()
        redis.stop()


def schedule(env: Env, **notifications: Any) -> ScheduleRecord:
    env.clean()
    cfg = AutonomousConfig.model_validate({"notifications": notifications})
    return env.store.schedules.create(
        ScheduleSpec(tenant_id="acme", name="Churn", cron_expression="0 2 * * *", config=cfg)
    )


def outcome(env: Env, channel: str, final: tuple[str, ...] = ("sent", "dead")) -> dict[str, Any]:
    """Wait for the only event's final outcome on ``channel``."""

    def find() -> dict[str, Any] | None:
        for key in env.store.redis.scan_iter(env.store.keys.notify_payload("*:state")):
            raw = NotificationStore(env.store).outcomes(key.split(":")[-2])
            if raw.get(channel, {}).get("status") in final:
                return raw[channel]
        return None

    result: dict[str, Any] = wait_for(find, timeout_s=30, what=f"{channel} outcome")
    return result


def test_webhook_failing_twice_then_succeeding_is_retried(env: Env, hook_factory: Any) -> None:
    hook = hook_factory(secret=WEBHOOK_SECRET, script=[500, 500, 200])
    rec = schedule(env, types=["webhook"], webhook_url=hook.url, webhook_secret=WEBHOOK_SECRET,
                   webhook_headers={"Authorization": HEADER_SECRET})
    run = {"run_id": f"{rec.id}-1700000000", "status": "failed"}
    assert emit_event(env.store, NotificationEvent.RUN_FAILED, rec, run, error="OOM") == 1
    out = outcome(env, "webhook")
    assert out["status"] == "sent" and out["attempts"] == 3
    assert [r["status"] for r in hook.requests] == [500, 500, 200]
    gaps = [b["at"] - a["at"] for a, b in zip(hook.requests, hook.requests[1:], strict=False)]
    # Celery's backoff: at most min(BACKOFF_MAX_S, BACKOFF_S * 2**n) s each (plus delivery).
    assert gaps[0] < 1.0 + 1.5 and gaps[1] < 2.0 + 1.5
    assert all(r["signature_valid"] for r in hook.requests)
    assert all(r["headers"]["Authorization"] == HEADER_SECRET for r in hook.requests)
    assert {r["json"]["correlation_id"] for r in hook.requests} == {run["run_id"]}
    assert NotificationStore(env.store).dead_letters() == []
    assert NotificationStore(env.store).counters()["notifications_retried:webhook"] == 2
    env.assert_no_secret_in_output()


def test_retry_after_lengthens_the_pause_up_to_the_cap(env: Env, hook_factory: Any) -> None:
    hook = hook_factory(script=[429, 200])
    hook.retry_after = "30"
    rec = schedule(env, types=["webhook"], webhook_url=hook.url)
    emit_event(env.store, NotificationEvent.RUN_SUCCEEDED, rec, {"run_id": f"{rec.id}-9"})
    out = outcome(env, "webhook")
    assert out["status"] == "sent" and out["attempts"] == 2
    gap = hook.requests[1]["at"] - hook.requests[0]["at"]
    # Retry-After (30 s) capped at TASKSCHED_NOTIFY_BACKOFF_MAX_S (2 s); the plain backoff of a
    # first retry is at most BACKOFF_S (1 s, whole seconds), so only Retry-After waits this long.
    assert gap >= 1.8


def test_client_error_is_not_retried(env: Env, hook_factory: Any) -> None:
    hook = hook_factory(script=[400])
    rec = schedule(env, types=["webhook"], webhook_url=hook.url)
    emit_event(env.store, NotificationEvent.RUN_SUCCEEDED, rec, {"run_id": f"{rec.id}-2"})
    out = outcome(env, "webhook")
    assert out["status"] == "dead" and out["attempts"] == 1
    # A window, not a wait: longer than a first retry's backoff here (at most
    # TASKSCHED_NOTIFY_BACKOFF_S, 1 s, plus delivery), so a retry would have come by now.
    time.sleep(1.5)
    assert len(hook.requests) == 1
    [dead] = SchedulerManager(store=env.store).dead_letters()
    assert dead["attempts"] == 1 and "HTTP 400" in dead["error"] and dead["retryable"] is False


def test_dead_letter_after_the_maximum_retries(env: Env, hook_factory: Any) -> None:
    hook = hook_factory(script=[503])
    rec = schedule(env, types=["webhook", "log"], webhook_url=hook.url)
    emit_event(env.store, NotificationEvent.COOLDOWN_ENTERED, rec, None, reason="3 failures")
    out = outcome(env, "webhook")
    assert out["status"] == "dead" and out["attempts"] == MAX_RETRIES + 1
    assert len(hook.requests) == MAX_RETRIES + 1
    times = [r["json"]["time"] for r in hook.requests]
    assert len(set(times)) == 1  # the same event each time
    [dead] = SchedulerManager(store=env.store).dead_letters()
    assert dead["channel"] == "webhook" and dead["event"] == "cooldown_entered"
    assert dead["attempts"] == MAX_RETRIES + 1 and "HTTP 503" in dead["error"]
    assert dead["tenant_id"] == "acme" and dead["schedule_id"] == rec.id
    assert outcome(env, "log")["status"] == "sent"  # the other channel is unaffected
    lines = [json.loads(x) for x in env.worker.output().splitlines() if x.startswith("{")]
    [logged] = [x for x in lines if x.get("event") == "cooldown_entered"
                and x["logger"] == "tasksched.events"]
    assert logged["level"] == "WARNING" and logged["schedule_id"] == rec.id
    assert logged["reason"] == "3 failures" and logged["correlation_id"]
    [gave_up] = [x for x in lines if x["message"] == "notification dead-lettered"
                 and x["schedule_id"] == rec.id]
    assert gave_up["level"] == "ERROR" and gave_up["attempts"] == MAX_RETRIES + 1


def test_email_and_feed_through_the_worker(
    env: Env, smtp_factory: Any, certs: Certs
) -> None:
    smtp = smtp_factory(certs, mode="starttls", auth=True)
    rec = schedule(
        env, types=["email", "memory"], email_smtp_host="127.0.0.1", email_smtp_port=smtp.port,
        email_username=SMTP_USER, email_password=SMTP_PASSWORD,
        email_recipients=["a@example.com", "b@example.com"], memory_importance_score=10,
    )
    emit_event(env.store, NotificationEvent.RUN_REJECTED, rec, {"run_id": f"{rec.id}-3"},
               reason="validation 0.6 < 0.85", quality_score=0.6)
    assert outcome(env, "email")["status"] == "sent"
    assert outcome(env, "memory")["status"] == "sent"
    [msg] = smtp.inbox.messages
    assert msg["tls"] is True and msg["login"] == SMTP_USER
    assert msg["rcpt_tos"] == ["a@example.com", "b@example.com"]
    [entry] = SchedulerManager(store=env.store).get_notifications("acme")
    assert entry["importance"] == 10 and entry["reason"] == "validation 0.6 < 0.85"
    assert entry["scores"]["quality"] == 0.6
    env.assert_no_secret_in_output()


def test_test_notification_reports_per_channel(env: Env, hook_factory: Any) -> None:
    hook = hook_factory(script=[400])
    rec = schedule(env, types=["log", "memory", "webhook"], webhook_url=hook.url,
                   webhook_secret=WEBHOOK_SECRET)
    report = SchedulerManager(store=env.store).send_test_notification(rec.id, timeout_s=20)
    assert report["complete"] is True
    statuses = {ch: r["status"] for ch, r in report["channels"].items()}
    assert statuses == {"log": "sent", "memory": "sent", "webhook": "failed"}
    assert len(hook.requests) == 1  # a test is tried once
    assert NotificationStore(env.store).dead_letters() == []


def test_adhoc_test_send_through_the_worker(env: Env, smtp_factory: Any) -> None:
    env.clean()
    smtp = smtp_factory(mode="plain", auth=True)
    config = {"types": ["email"], "email_smtp_host": "127.0.0.1", "email_smtp_port": smtp.port,
              "email_use_tls": False, "email_recipients": ["a@example.com"],
              "email_username": SMTP_USER, "email_password": SMTP_PASSWORD}
    report = SchedulerManager(store=env.store).send_test_notification(
        config=config, tenant_id="acme", timeout_s=20
    )
    assert report["channels"]["email"]["status"] == "sent", report
    assert smtp.inbox.logins == [SMTP_USER]
    env.assert_no_secret_in_output()
