"""emit_event and one delivery attempt in-process (run_notification), test sends, the manager's
views; the messages go through the real broker."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tasksched.celery import NOTIFY_TASK
from tasksched.errors import NotFoundError, ValidationError
from tasksched.logs import JsonFormatter
from tasksched.manager import SchedulerManager
from tasksched.models import AutonomousConfig, NotificationEvent, ScheduleSpec
from tasksched.store import ScheduleRecord, Store
from tasksched.store.notifications import NotificationStore
from tasksched.tasks.notify import _retry_lost, emit_event, run_notification
from tests.integration.conftest import HEADER_SECRET, SMTP_PASSWORD, SMTP_USER, WEBHOOK_SECRET
from tests.tasks.test_notify import make_schedule, queued


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every tasksched log record as JSON lines, whatever else configured logging."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("tasksched")
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def open_store(real_store: Store) -> Store:
    """The real store with loopback targets allowed (as in the embedded setup), for the
    receivers these tests run on loopback; the refusals are tested in test_security.py."""
    return Store(
        redis_client=real_store.redis,
        settings=real_store.settings.replace(
            allow_private_targets=True, smtp_allow_plaintext_login=True
        ),
    )


def schedule(store: Store, tenant: str = "acme", **notifications: Any) -> ScheduleRecord:
    cfg = AutonomousConfig.model_validate({"notifications": notifications})
    return store.schedules.create(
        ScheduleSpec(tenant_id=tenant, name="Churn", cron_expression="0 2 * * *", config=cfg)
    )


def stored_event(store: Store, record: ScheduleRecord, event: NotificationEvent) -> str:
    """Emit, then take the event id from the queued payload (no worker consumes here)."""
    assert emit_event(store, event, record, {"run_id": f"{record.id}-1", "status": "failed"},
                      reason="quality too low") >= 1
    keys = [k for k in store.redis.scan_iter(store.keys.notify_payload("*"))
            if k.count(":") == 2]
    assert len(keys) == 1
    return str(keys[0]).rsplit(":", 1)[1]


SECRET_CONFIG: dict[str, Any] = {
    "types": ["log", "email", "webhook", "memory"],
    "email_smtp_host": "127.0.0.1", "email_recipients": ["ops@example.com"],
    "email_username": "mailer", "email_password": SMTP_PASSWORD,
    "webhook_url": "https://hooks.example.com/x", "webhook_secret": WEBHOOK_SECRET,
    "webhook_headers": {"Authorization": HEADER_SECRET},
    "event_filters": {"email": ["run_failed"], "memory": ["run_failed", "run_succeeded"]},
}


def test_one_subtask_per_wanted_channel_with_ids_only(real_store: Store) -> None:
    record = make_schedule(real_store, **SECRET_CONFIG)
    run = {"run_id": f"{record.id}-1700000000", "status": "succeeded"}
    n = emit_event(real_store, NotificationEvent.RUN_SUCCEEDED, record, run, duration_s=3.0)
    assert n == 3  # log, webhook, memory; email only wants run_failed
    messages = queued(real_store)
    assert len(messages) == 3
    raw_text = json.dumps(messages)
    for secret in (SMTP_PASSWORD, WEBHOOK_SECRET, HEADER_SECRET):
        assert secret not in raw_text
    channels = set()
    for msg in messages:
        assert msg["headers"]["task"] == NOTIFY_TASK
        assert msg["properties"]["delivery_info"]["routing_key"] == "notifications"
        args, kwargs, _ = json.loads(base64.b64decode(msg["body"]))
        assert args == []
        assert set(kwargs) == {"event_id", "channel", "tenant_id", "schedule_id", "run_id"}
        assert kwargs["run_id"] == run["run_id"] and kwargs["schedule_id"] == record.id
        channels.add(kwargs["channel"])
        body = base64.b64decode(msg["body"]).decode()
        for secret in (SMTP_PASSWORD, WEBHOOK_SECRET, HEADER_SECRET):
            assert secret not in body
    assert channels == {"log", "webhook", "memory"}
    payload = NotificationStore(real_store).load_payload(kwargs["event_id"])
    assert payload is not None and payload["correlation_id"] == run["run_id"]
    assert NotificationStore(real_store).counters()["notifications_queued"] == 3
    assert emit_event(real_store, NotificationEvent.RUN_FAILED, record, run) == 4


def test_log_channel_writes_a_json_line_at_the_event_level(
    real_store: Store, log_lines: io.StringIO
) -> None:
    record = schedule(real_store, types=["log"], webhook_secret=WEBHOOK_SECRET)
    event_id = stored_event(real_store, record, NotificationEvent.RUN_FAILED)
    out = run_notification(real_store, event_id, "log", record.id, 1, 3)
    assert out["status"] == "sent" and out["detail"] == "logged at ERROR"
    lines = [json.loads(x) for x in log_lines.getvalue().splitlines()]
    [line] = [x for x in lines if x["logger"] == "tasksched.events"]
    assert line["level"] == "ERROR" and line["event"] == "run_failed"
    assert line["correlation_id"] == f"{record.id}-1" and line["tenant_id"] == "acme"
    assert line["schedule_id"] == record.id and line["reason"] == "quality too low"
    assert line["message"] == "Churn (acme): training run failed: quality too low"
    assert WEBHOOK_SECRET not in log_lines.getvalue()


def test_feed_channel_keeps_the_event_with_its_importance(real_store: Store) -> None:
    record = schedule(real_store, types=["memory"], memory_importance_score=3)
    event_id = stored_event(real_store, record, NotificationEvent.RUN_FAILED)
    assert run_notification(real_store, event_id, "memory", record.id, 1, 3)["status"] == "sent"
    [entry] = SchedulerManager(store=real_store).get_notifications("acme")
    assert entry["importance"] == 3 and entry["event"] == "run_failed"
    assert entry["correlation_id"] == f"{record.id}-1" and entry["schedule_name"] == "Churn"
    assert entry["message"].startswith("Churn (acme): training run failed")
    # A redelivered task does not add the entry twice.
    again = run_notification(real_store, event_id, "memory", record.id, 1, 3)
    assert again["detail"].startswith("already delivered")
    assert len(SchedulerManager(store=real_store).get_notifications("acme")) == 1


def test_feed_stays_with_the_schedules_own_tenant(real_store: Store) -> None:
    with pytest.raises(ValidationError) as err:  # another tenant's feed: refused on create
        schedule(real_store, types=["memory"], memory_tenant_id="ui-board")
    assert err.value.field == "config.notifications.memory_tenant_id"
    own = schedule(real_store, types=["memory"], memory_tenant_id="acme")  # its own: fine
    run_notification(real_store, stored_event(real_store, own, NotificationEvent.RUN_SUCCEEDED),
                     "memory", own.id, 1, 3)  # fmt: skip
    manager = SchedulerManager(store=real_store)
    assert len(manager.get_notifications("acme")) == 1
    # A schedule stored before the rule (written straight into its hash): refused at send.
    for done in real_store.redis.scan_iter(real_store.keys.notify_payload("*")):
        real_store.redis.delete(done)
    key = real_store.keys.schedule(own.id)
    raw = json.loads(real_store.redis.hget(key, "config"))
    raw["notifications"]["memory_tenant_id"] = "ui-board"
    real_store.redis.hset(key, "config", json.dumps(raw))
    legacy = real_store.schedules.get(own.id)
    event_id = stored_event(real_store, legacy, NotificationEvent.RUN_SUCCEEDED)
    out = run_notification(real_store, event_id, "memory", own.id, 1, 3)
    assert out["status"] == "dead" and "another tenant" in out["error"]
    assert manager.get_notifications("ui-board") == []
    assert len(manager.get_notifications("acme")) == 1
    with pytest.raises(ValidationError) as err:
        manager.get_notifications("bad tenant!")
    assert err.value.field == "tenant_id"


def test_retryable_failure_then_dead_letter_with_the_last_error(
    open_store: Store, hook_factory: Any, log_lines: io.StringIO
) -> None:
    hook = hook_factory(script=[500])
    hook.echo_auth = True
    record = schedule(open_store, types=["webhook"], webhook_url=hook.url,
                      webhook_headers={"Authorization": HEADER_SECRET})
    event_id = stored_event(open_store, record, NotificationEvent.RUN_FAILED)
    first = run_notification(open_store, event_id, "webhook", record.id, 1, 2)
    assert first["status"] == "retry" and "HTTP 500" in first["error"]
    last = run_notification(open_store, event_id, "webhook", record.id, 2, 2)
    assert last["status"] == "dead"
    [dead] = SchedulerManager(store=open_store).dead_letters()
    assert dead["channel"] == "webhook" and dead["attempts"] == 2
    assert dead["event"] == "run_failed" and dead["run_id"] == f"{record.id}-1"
    assert dead["tenant_id"] == "acme" and "HTTP 500" in dead["error"]
    assert dead["time_iso"]
    # The server echoed the secret header into its error body: the answer is never relayed.
    assert "bad auth" not in dead["error"]
    assert HEADER_SECRET not in json.dumps(dead) and HEADER_SECRET not in log_lines.getvalue()
    counters = NotificationStore(open_store).counters()
    assert counters["notifications_retried:webhook"] == 1
    assert counters["notifications_dead"] == 1


def test_client_error_is_dead_at_once(open_store: Store, hook_factory: Any) -> None:
    hook = hook_factory(script=[400])
    record = schedule(open_store, types=["webhook"], webhook_url=hook.url)
    event_id = stored_event(open_store, record, NotificationEvent.RUN_FAILED)
    out = run_notification(open_store, event_id, "webhook", record.id, 1, 6)
    assert out["status"] == "dead" and len(hook.requests) == 1
    assert SchedulerManager(store=open_store).dead_letters()[0]["retryable"] is False


def test_deleted_schedule_and_expired_payload_are_dead_letters(real_store: Store) -> None:
    record = schedule(real_store, types=["log"])
    event_id = stored_event(real_store, record, NotificationEvent.RUN_FAILED)
    real_store.schedules.delete(record.id)
    out = run_notification(real_store, event_id, "log", record.id, 1, 6)
    assert out["status"] == "dead" and "deleted" in out["error"]
    gone = run_notification(real_store, "nope", "log", record.id, 1, 6)
    assert gone["status"] == "dead" and "expired" in gone["error"]
    assert len(SchedulerManager(store=real_store).dead_letters()) == 2


def test_test_send_reports_each_channel_inline(
    open_store: Store, hook_factory: Any, smtp_factory: Any
) -> None:
    hook = hook_factory(script=[400])
    smtp = smtp_factory(mode="plain")
    record = schedule(
        open_store, types=["log", "memory", "webhook", "email"], webhook_url=hook.url,
        email_smtp_host="127.0.0.1", email_smtp_port=smtp.port, email_use_tls=False,
        email_recipients=["a@example.com", "b@example.com"],
        event_filters={"email": ["run_failed"]},  # a test event passes every filter
    )
    manager = SchedulerManager(store=open_store)
    report = manager.send_test_notification(record.id, inline=True, timeout_s=5)
    assert report["complete"] is True and report["correlation_id"].startswith("test-")
    ch = report["channels"]
    assert ch["log"]["status"] == "sent"
    assert ch["memory"]["status"] == "sent"
    assert ch["email"]["status"] == "sent" and "2 recipient(s)" in ch["email"]["detail"]
    assert ch["webhook"]["status"] == "failed" and "HTTP 400" in ch["webhook"]["error"]
    assert hook.requests[0]["json"]["event"] == "test"
    assert manager.dead_letters() == []  # a failed test is reported, not dead-lettered
    [entry] = manager.get_notifications("acme")
    assert entry["event"] == "test"
    with pytest.raises(NotFoundError):
        manager.send_test_notification(record.id, tenant_id="someone-else", inline=True)


def test_test_send_with_an_adhoc_config(open_store: Store, smtp_factory: Any) -> None:
    real_store = open_store
    smtp = smtp_factory(mode="plain", auth=True)
    manager = SchedulerManager(store=real_store)
    config = {"types": ["email"], "email_smtp_host": "127.0.0.1", "email_smtp_port": smtp.port,
              "email_use_tls": False, "email_recipients": ["a@example.com"],
              "email_username": SMTP_USER, "email_password": SMTP_PASSWORD}
    report = manager.send_test_notification(config=config, tenant_id="acme", inline=True)
    assert report["channels"]["email"]["status"] == "sent", report
    assert smtp.inbox.logins == [SMTP_USER]
    for key in real_store.redis.scan_iter("*"):
        if real_store.redis.type(key) == "string":
            assert SMTP_PASSWORD not in real_store.redis.get(key)
    with pytest.raises(ValidationError) as err:
        manager.send_test_notification(config={"types": ["email"]}, inline=True)
    assert err.value.field.startswith("config")
    with pytest.raises(ValidationError) as err:
        manager.send_test_notification()
    assert err.value.field == "schedule_id"


def test_test_send_without_a_worker_reports_pending(real_store: Store) -> None:
    record = schedule(real_store, types=["log"])
    report = SchedulerManager(store=real_store).send_test_notification(record.id, timeout_s=0.2)
    assert report["complete"] is False
    assert report["channels"]["log"]["status"] == "pending"


def test_a_retry_that_cannot_be_queued_becomes_a_dead_letter(real_store: Store) -> None:
    record = schedule(real_store, types=["webhook"], webhook_url="https://hooks.example.com/x")
    event_id = stored_event(real_store, record, NotificationEvent.RUN_FAILED)
    _retry_lost(real_store, event_id, "webhook", record.id, 2, "HTTP 503",
                ConnectionError("broker down"))
    [dead] = SchedulerManager(store=real_store).dead_letters()
    assert dead["attempts"] == 2 and dead["event"] == "run_failed"
    assert "HTTP 503" in dead["error"] and "retry could not be queued" in dead["error"]
