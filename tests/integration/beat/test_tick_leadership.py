"""Leadership: one leader, standbys, lease loss, the local deadline and the outbox handover."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from celery import Celery

from tasksched.beat.plan import plan_claims
from tasksched.beat.publisher import CeleryPublisher
from tasksched.beat.tick import Ticker
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.store.beat import BeatStore
from tasksched.store.lifecycle import call_id
from tests.beat.schedules import T0, make_many, make_schedule
from tests.helpers import RedisServer
from tests.integration.beat.conftest import FakeClock, TickerFactory, published_run_ids


def test_one_leader_among_many_and_standbys_stay_quiet(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    sid = make_schedule(real_store)
    clock = FakeClock(T0 + 10)
    ds = [make_ticker(clock=clock) for _ in range(3)]
    for d in ds:
        d.tick()
    assert [d.is_leader for d in ds] == [True, False, False]
    assert published_run_ids(redis_url) == [f"{sid}-{int(T0) + 10}"]
    ds[0].tick()  # the leader counts the beats it has seen
    health = real_store.control.beat_health()
    assert health["leader"] == ds[0].token
    assert {k for k in health if k.startswith("seen:")} == {f"seen:{d.token}" for d in ds}
    assert int(health["beats"]) == 3


def test_a_leader_whose_lease_was_taken_becomes_standby(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    sid = make_schedule(real_store)
    clock = FakeClock(T0 + 10)
    a, b = make_ticker(clock=clock), make_ticker(clock=clock)
    a.tick()
    assert a.is_leader
    # A network cut longer than the lease: the key expires and b takes it.
    real_store.redis.delete(real_store.keys.beat_lock)
    clock.now = T0 + 20
    b.tick()
    assert b.is_leader
    sleep_s = a.tick()  # no exception, no exit: it simply stands by
    assert not a.is_leader and sleep_s == a.tick_s
    assert real_store.redis.get(real_store.keys.beat_lock) == b.token
    assert published_run_ids(redis_url) == [f"{sid}-{int(T0) + 10}", f"{sid}-{int(T0) + 20}"]
    assert real_store.redis.get(real_store.keys.beat_fence) == "2"


def _pause_after_claim(ticker: Ticker, pause_s: float) -> Any:
    real_claim = ticker.beat_store.claim

    def claim_then_pause(*args: Any, **kwargs: Any) -> Any:
        res = real_claim(*args, **kwargs)
        # The pause under test (not a wait): stop-the-world, longer than the lease, right after
        # the claim. The lease runs on Redis's clock, so wall time must really pass.
        time.sleep(pause_s)
        return res

    ticker.beat_store.claim = claim_then_pause  # type: ignore[method-assign]
    return real_claim


def test_a_paused_leader_stops_before_its_lease_could_pass_and_the_next_one_drains_the_outbox(
    real_store: Store, make_ticker: TickerFactory, redis_url: str, settings: Settings
) -> None:
    # Through kombu (another broker): the claim writes the outbox, the publish comes after.
    ids = make_many(real_store, 5, "* * * * * */10")
    short = settings.replace(beat_lease_s=0.5)
    clock = FakeClock(T0 + 10)
    a = make_ticker(clock=clock, settings_=short, fast_path=False)
    real_claim = _pause_after_claim(a, 0.6)
    a.tick()
    assert not a.is_leader  # it noticed its local deadline had passed: nothing published
    assert published_run_ids(redis_url) == []
    assert real_store.redis.hlen(real_store.keys.outbox) == 5
    assert real_store.redis.get(real_store.keys.beat_lock) is None  # expired in Redis

    b = make_ticker(clock=clock, settings_=short, fast_path=False)
    b.tick()
    assert b.is_leader
    expected = sorted(f"{s}-{int(T0) + 10}" for s in ids)
    assert sorted(published_run_ids(redis_url)) == expected
    assert real_store.redis.hlen(real_store.keys.outbox) == 0
    # The old leader comes back as a standby and publishes nothing again.
    a.beat_store.claim = real_claim  # type: ignore[method-assign]
    a.tick()
    assert not a.is_leader
    assert sorted(published_run_ids(redis_url)) == expected


def test_a_paused_leader_on_the_direct_path_published_with_its_claim_and_nothing_twice(
    real_store: Store, make_ticker: TickerFactory, redis_url: str, settings: Settings
) -> None:
    ids = make_many(real_store, 5, "* * * * * */10")
    short = settings.replace(beat_lease_s=0.5)
    clock = FakeClock(T0 + 10)
    a = make_ticker(clock=clock, settings_=short)
    _pause_after_claim(a, 0.6)
    a.tick()
    # The claim script pushed the messages itself: the pause came too late to matter.
    expected = sorted(f"{s}-{int(T0) + 10}" for s in ids)
    assert sorted(published_run_ids(redis_url)) == expected
    assert real_store.redis.hlen(real_store.keys.outbox) == 0
    b = make_ticker(clock=clock, settings_=short)
    b.tick()
    assert b.is_leader and b.direct
    assert sorted(published_run_ids(redis_url)) == expected


def test_a_leader_paused_after_its_deadline_check_cannot_publish_after_its_successor(
    real_store: Store, make_ticker: TickerFactory, redis_url: str, settings: Settings
) -> None:
    # The pause falls between the local deadline check and the publish: the fence in Redis
    # refuses the old leader, on both publish paths.
    for fast_path in (False, True):
        real_store.redis.flushdb()
        make_many(real_store, 4, "* * * * * */10")
        short = settings.replace(beat_lease_s=0.5)
        clock = FakeClock(T0 + 10)
        old = make_ticker(clock=clock, settings_=short, fast_path=fast_path)
        old.publisher = _Refusing()  # type: ignore[assignment]  # its publish fails: outbox kept
        old.direct_queue_key = None
        old._direct = None
        old.tick()
        assert real_store.redis.hlen(real_store.keys.outbox) == 4
        time.sleep(0.6)  # the pause under test: its lease expires on Redis's clock
        new = make_ticker(clock=clock, settings_=short, fast_path=fast_path)
        new.tick()  # drains the outbox
        drained = published_run_ids(redis_url)
        assert len(drained) == 4 and real_store.redis.hlen(real_store.keys.outbox) == 0
        # The old leader wakes up past its check and tries to publish its batch again.
        old.publisher = new.publisher
        old.direct_queue_key, old._direct = new.direct_queue_key, new._direct
        old._direct_checked = new._direct_checked
        assert old.direct is fast_path
        old._deadline = time.monotonic() + 60  # "its deadline check passed"
        payloads = [{"tenant_id": "t", "schedule_id": "s", "run_id": r, "fire_time": T0 + 10,
                     "trigger": "cron"} for r in drained]  # fmt: skip
        assert old._publish(payloads) is False
        assert not old.is_leader
        assert published_run_ids(redis_url) == drained


class _Refusing:
    def publish(self, payloads: Any) -> int:
        raise ConnectionError("broker down")


def test_a_new_leader_publishes_what_a_crashed_leader_claimed(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    ids = make_many(real_store, 3, "* * * * * */10")
    dead = BeatStore(real_store)
    st = dead.leader_tick("dead", "dead", 30.0, 100, now=T0 + 10)
    claims = plan_claims(st.due, st.timing, st.now, 300.0)
    assert len(dead.claim("dead", st.fence, 30.0, st.now, claims, call_id()).run_ids) == 3
    # ... and it died before publishing. Its lease runs out:
    real_store.redis.delete(real_store.keys.beat_lock)
    d = make_ticker(clock=FakeClock(T0 + 11))
    d.tick()
    assert sorted(published_run_ids(redis_url)) == sorted(f"{s}-{int(T0) + 10}" for s in ids)
    assert real_store.redis.hlen(real_store.keys.outbox) == 0
    for s in ids:
        assert real_store.runs.get(f"{s}-{int(T0) + 10}")["status"] == "queued"


def test_a_broker_failure_keeps_the_runs_in_the_outbox_until_published(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    sid = make_schedule(real_store)

    class BrokerDown:
        def publish(self, payloads: Any) -> int:
            raise ConnectionError("broker unreachable")

    clock = FakeClock(T0 + 10)
    down = make_ticker(clock=clock, publisher=BrokerDown())
    assert down.tick() == down.tick_s  # logged, not raised
    assert down.is_leader and down.stats.errors == 1
    assert real_store.redis.hlen(real_store.keys.outbox) == 1
    # The same process with the broker back: the next tick publishes the outbox first.
    from tasksched.beat.publisher import CeleryPublisher

    down.publisher = CeleryPublisher(make_ticker().publisher.app, "training")  # type: ignore[attr-defined]
    down.tick()
    assert published_run_ids(redis_url) == [f"{sid}-{int(T0) + 10}"]
    assert real_store.redis.hlen(real_store.keys.outbox) == 0


def test_close_releases_the_lease_for_an_immediate_takeover(
    real_store: Store, make_ticker: TickerFactory
) -> None:
    a, b = make_ticker(), make_ticker()
    a.tick()
    b.tick()
    assert a.is_leader and not b.is_leader
    a.close()
    assert real_store.redis.get(real_store.keys.beat_lock) is None
    b.tick()
    assert b.is_leader


def test_store_outage_is_survived_as_standby(
    settings: Settings, make_ticker: TickerFactory
) -> None:
    # A Redis that does not answer: the tick logs, returns, and the process carries on.
    import redis

    from tests.helpers import free_port

    dead = settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    from tasksched.store import Store as StoreCls

    d = make_ticker(settings_=dead)
    # A client without redis-py's retries (the store's own client retries for ~30 s).
    d.store = StoreCls(redis_client=redis.Redis.from_url(dead.redis_url), settings=dead)
    d.beat_store = BeatStore(d.store)
    assert d.tick() == d.tick_s
    assert not d.is_leader and d.stats.errors == 1
    assert d.tick() == d.tick_s
    assert d.stats.errors == 2


def test_close_does_not_hang_when_redis_is_gone_too(tmp_path: Path, celery_app: Celery) -> None:
    # A whole stack stopping: Redis dies with beat; the client's reconnect retries must not
    # hold beat's shutdown (the lease simply expires).
    server = RedisServer(tmp_path / "r")
    server.start()
    try:
        s = Settings(redis_url=server.url)
        d = Ticker(Store(settings=s), CeleryPublisher(celery_app, "training"), s)
        d.tick()
        assert d.is_leader
        server.stop()
        started = time.monotonic()
        d.close(timeout_s=1.0)
        assert time.monotonic() - started < 3.0
        assert not d.is_leader
        d.store.redis.close()
    finally:
        server.stop()
