"""The two publishing paths produce the same Celery messages (kombu's Redis format)."""

from __future__ import annotations

import json

import redis
from celery import Celery

from tasksched.beat.publisher import CeleryPublisher
from tasksched.store import Store
from tests.beat.schedules import T0, make_many
from tests.integration.beat.conftest import FakeClock, TickerFactory, broker_messages

PAYLOAD = {
    "tenant_id": "acme",
    "schedule_id": "abc",
    "run_id": "abc-1800000010",
    "fire_time": 1800000010.0,
    "trigger": "cron",
}


def _raw(url: str) -> list[dict[str, object]]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return [json.loads(x) for x in reversed(client.lrange("training", 0, -1))]
    finally:
        client.close()


def test_direct_messages_equal_what_kombu_publishes(
    celery_app: Celery, redis_url: str, real_store: Store
) -> None:
    pub = CeleryPublisher(celery_app, "training")
    assert pub.redis_queue_key(redis_url) == "training"
    pub.publish([PAYLOAD])  # kombu's own path (Producer.batch)
    real_store.redis.lpush("training", *pub.redis_messages([PAYLOAD]))
    via_kombu, direct = _raw(redis_url)
    for env in (via_kombu, direct):
        env["properties"].pop("delivery_tag")  # type: ignore[union-attr]
    assert direct == via_kombu
    (m1, m2) = broker_messages(redis_url)
    assert m1 == m2 and m1["id"] == PAYLOAD["run_id"] and m1["kwargs"] == PAYLOAD


def test_a_tick_through_the_general_path(
    real_store: Store, make_ticker: TickerFactory, redis_url: str, celery_app: Celery
) -> None:
    ids = make_many(real_store, 30, "* * * * * */10")
    d = make_ticker(clock=FakeClock(T0 + 10))
    d_general = type(d)(d.store, CeleryPublisher(celery_app, "training"), d.settings,
                        clock=FakeClock(T0 + 10), fast_path=False)
    assert d.direct_queue_key == "training" and d_general.direct_queue_key is None
    d_general.tick()
    assert sorted(m["id"] for m in broker_messages(redis_url)) == sorted(
        f"{s}-{int(T0) + 10}" for s in ids
    )
    assert real_store.redis.hlen(real_store.keys.outbox) == 0
    d_general.close()
