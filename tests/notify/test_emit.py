"""emit_event: one queued subtask per wanted channel, ids only, never raising."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasksched.celery import NOTIFY_TASK
from tasksched.models import AutonomousConfig, NotificationEvent, ScheduleSpec
from tasksched.store import ScheduleRecord, Store
from tasksched.store.notifications import NotificationStore
from tasksched.tasks.notify import emit_event
from tests.notify.conftest import HEADER_SECRET, SMTP_PASSWORD, WEBHOOK_SECRET


def make_schedule(store: Store, **notifications: Any) -> ScheduleRecord:
    cfg = AutonomousConfig.model_validate({"notifications": notifications})
    return store.schedules.create(
        ScheduleSpec(tenant_id="acme", name="Churn", cron_expression="0 2 * * *", config=cfg)
    )


def queued(store: Store) -> list[dict[str, Any]]:
    """The raw messages waiting on the notifications queue (kombu's Redis list)."""
    return [json.loads(m) for m in store.redis.lrange(store.settings.notifications_queue, 0, -1)]


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


def test_nothing_queued_when_disabled_or_filtered(real_store: Store) -> None:
    off = make_schedule(real_store, enabled=False, types=["log"])
    assert emit_event(real_store, NotificationEvent.RUN_FAILED, off) == 0
    picky = make_schedule(real_store, types=["log"], event_filters={"log": ["run_failed"]})
    assert emit_event(real_store, NotificationEvent.RUN_STARTED, picky) == 0
    assert queued(real_store) == []


def test_never_raises_when_redis_is_gone(real_store: Store) -> None:
    record = make_schedule(real_store, types=["log"])
    dead = Store(
        redis_client=redis.Redis(
            port=1, socket_connect_timeout=0.2, decode_responses=True,
            retry=Retry(NoBackoff(), 0),
        ),
        settings=real_store.settings,
    )
    assert emit_event(dead, NotificationEvent.RUN_FAILED, record) == 0


def test_never_raises_on_bad_input(real_store: Store) -> None:
    assert emit_event(real_store, "no-such-event", None) == 0  # type: ignore[arg-type]
