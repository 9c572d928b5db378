"""emit_event never raising and queueing nothing unwanted; the notify task's retry options."""

from __future__ import annotations

import json
import random
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasksched.models import AutonomousConfig, NotificationEvent, ScheduleSpec
from tasksched.store import ScheduleRecord, Store
from tasksched.tasks.notify import emit_event


def make_schedule(store: Store, **notifications: Any) -> ScheduleRecord:
    cfg = AutonomousConfig.model_validate({"notifications": notifications})
    return store.schedules.create(
        ScheduleSpec(tenant_id="acme", name="Churn", cron_expression="0 2 * * *", config=cfg)
    )


def queued(store: Store) -> list[dict[str, Any]]:
    """The raw messages waiting on the notifications queue (kombu's Redis list)."""
    return [json.loads(m) for m in store.redis.lrange(store.settings.notifications_queue, 0, -1)]


def test_nothing_queued_when_disabled_or_filtered(store: Store) -> None:
    off = make_schedule(store, enabled=False, types=["log"])
    assert emit_event(store, NotificationEvent.RUN_FAILED, off) == 0
    picky = make_schedule(store, types=["log"], event_filters={"log": ["run_failed"]})
    assert emit_event(store, NotificationEvent.RUN_STARTED, picky) == 0
    assert queued(store) == []


def test_never_raises_when_redis_is_gone(store: Store) -> None:
    record = make_schedule(store, types=["log"])
    dead = Store(
        redis_client=redis.Redis(
            port=1, socket_connect_timeout=0.2, decode_responses=True,
            retry=Retry(NoBackoff(), 0),
        ),
        settings=store.settings,
    )
    assert emit_event(dead, NotificationEvent.RUN_FAILED, record) == 0


def test_never_raises_on_bad_input(store: Store) -> None:
    assert emit_event(store, "no-such-event", None) == 0  # type: ignore[arg-type]


def test_retries_follow_the_documented_schedule_with_celerys_own_backoff() -> None:
    # docs/notifications.md: min(BACKOFF_MAX_S, BACKOFF_S * 2^(n-1)) with full jitter, at most
    # NOTIFY_MAX_RETRIES times: Celery computes it from the task's options.
    from celery.utils.time import get_exponential_backoff_interval

    from tasksched.errors import NotificationError
    from tasksched.settings import get_settings
    from tasksched.tasks.notify import notify

    st = get_settings()
    assert notify.autoretry_for == (NotificationError,)
    assert notify.max_retries == st.notify_max_retries and notify.retry_jitter is True
    rng_state = random.getstate()
    try:
        random.seed(7)
        for retries in range(12):
            full = min(st.notify_backoff_max_s, st.notify_backoff_s * 2**retries)
            values = [
                get_exponential_backoff_interval(
                    int(notify.retry_backoff), retries, notify.retry_backoff_max, True
                )
                for _ in range(200)
            ]
            assert all(0 <= v <= full for v in values)
            if full >= 4:
                assert max(values) - min(values) >= full / 4  # jittered, not lockstep
    finally:
        random.setstate(rng_state)
