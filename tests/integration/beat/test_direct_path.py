"""The direct publish path: hand-built envelopes checked against kombu at each leadership,
the fallback when they differ, message expiry, and claims bounded per script call."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime

import pytest
from celery import Celery

from tasksched.beat import publisher as publisher_module
from tasksched.beat.plan import bounded
from tasksched.beat.publisher import CeleryPublisher
from tasksched.store import Store
from tasksched.store.beat import DueClaim
from tasksched.store.lifecycle import STALE_MARGIN_S
from tests.beat.schedules import T0, make_many, make_schedule
from tests.integration.beat.conftest import FakeClock, TickerFactory, published_run_ids

TRICKY = {
    "tenant_id": 'tén"ant\\x',
    "schedule_id": "abc",
    "run_id": "abc-1800000010",
    "fire_time": 1800000010.25,
    "trigger": "catchup",
    "expires": 1800000430.5,
}


def _envelope_without_tag(raw: str) -> dict[str, object]:
    env = json.loads(raw)
    env["properties"].pop("delivery_tag")
    return env  # type: ignore[no-any-return]


def test_the_template_matches_celery_s_own_message_for_any_text(
    celery_app: Celery, redis_url: str, real_store: Store
) -> None:
    pub = CeleryPublisher(celery_app, "training")
    pub.publish([TRICKY])  # kombu's own path
    [via_kombu] = real_store.redis.lrange("training", 0, -1)
    [direct] = pub.redis_messages([TRICKY])
    assert _envelope_without_tag(direct) == _envelope_without_tag(via_kombu)
    env = json.loads(direct)
    assert datetime.fromisoformat(env["headers"]["expires"]).timestamp() == TRICKY["expires"]
    _args, kwargs, _embed = json.loads(base64.b64decode(env["body"]))
    assert kwargs == {k: v for k, v in TRICKY.items() if k != "expires"}
    tags = {json.loads(m)["properties"]["delivery_tag"] for m in pub.redis_messages([TRICKY] * 50)}
    assert len(tags) == 50  # unique delivery tags


def test_the_start_up_check_agrees_with_kombu(celery_app: Celery, real_store: Store) -> None:
    from tasksched.store.beat import BeatStore

    assert CeleryPublisher(celery_app, "training").check_direct(
        BeatStore(real_store).take_list
    ) is None
    assert [k for k in real_store.redis.keys("*") if "probe" in k] == []  # nothing left behind


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_differing_envelope_turns_the_direct_path_off(
    real_store: Store, make_ticker: TickerFactory, redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ids = make_many(real_store, 20, "* * * * * */10")
    d = make_ticker(clock=FakeClock(T0 + 10))
    template_encode = publisher_module._Template.encode_many

    def drifted(self: object, payloads: object) -> list[str]:
        out = []
        for raw in template_encode(self, payloads):  # type: ignore[arg-type]
            env = json.loads(raw)
            env["headers"]["retries"] = 7  # what a kombu/Celery upgrade could change
            out.append(json.dumps(env))
        return out

    monkeypatch.setattr(publisher_module._Template, "encode_many", drifted)
    seen = _Records()
    logger = logging.getLogger("tasksched.beat")
    logger.addHandler(seen)
    try:
        d.tick()
    finally:
        logger.removeHandler(seen)
    assert d.is_leader and not d.direct
    [off] = [r for r in seen.records if getattr(r, "event", "") == "beat.direct_off"]
    assert "retries" in off.difference  # type: ignore[attr-defined]
    published = published_run_ids(redis_url)
    assert sorted(published) == sorted(f"{s}-{int(T0) + 10}" for s in ids)  # through kombu
    for raw in real_store.redis.lrange("training", 0, -1):
        assert json.loads(raw)["headers"]["retries"] == 0


def test_every_message_expires_after_its_grace_plus_twice_the_margin(
    real_store: Store, make_ticker: TickerFactory
) -> None:
    sid = make_schedule(real_store, misfire_grace_s=120.0)
    d = make_ticker(clock=FakeClock(T0 + 10))
    d.tick()
    [raw] = real_store.redis.lrange("training", 0, -1)
    expires = datetime.fromisoformat(json.loads(raw)["headers"]["expires"]).timestamp()
    assert expires == T0 + 10 + 120.0 + 2 * STALE_MARGIN_S
    deadline = real_store.redis.zscore(real_store.keys.pending, f"{sid}-{int(T0) + 10}")
    assert deadline == T0 + 10 + 120.0 + STALE_MARGIN_S  # the pending sweep's


def test_claims_are_bounded_per_script_call() -> None:
    def claim(n: int) -> DueClaim:
        c = DueClaim("s", 0.0, "1", 1.0)
        c.runs.extend(("r", 0.0, "cron", "{}", 0.0) for _ in range(n))
        return c

    chunks = bounded([claim(100), claim(100), claim(30), claim(250), claim(1)], 200)
    assert [[len(c.runs) for c in chunk] for chunk in chunks] == [[100, 100], [30], [250], [1]]


def test_a_run_all_catch_up_after_downtime_writes_at_most_a_batch_per_call(
    real_store: Store, make_ticker: TickerFactory, settings: object
) -> None:
    # 30 schedules x 100 examined fires each: 3,000 records, in calls of at most 500.
    make_many(real_store, 30, "* * * * * *", misfire_policy="run_all", misfire_grace_s=0.0)
    small = real_store.settings.replace(beat_batch_size=500)
    d = make_ticker(clock=FakeClock(T0 + 100.5), settings_=small)
    sizes: list[int] = []
    real_claim = d.beat_store.claim

    def spy(*args: object, **kwargs: object) -> object:
        claims = args[4]
        sizes.append(sum(len(c.runs) + len(c.missed) for c in claims))  # type: ignore[attr-defined]
        return real_claim(*args, **kwargs)  # type: ignore[arg-type]

    d.beat_store.claim = spy  # type: ignore[method-assign]
    d.tick()
    assert sizes and max(sizes) <= 500 and sum(sizes) == 3000
