"""Claims prepared before their second (tasksched.beat.prepare), on a real redis-server: the tick
just before a due second writes nothing, the tick at the second sends what it planned, and
whatever changed in between wins."""

from __future__ import annotations

import redis

from tasksched.beat.prepare import PREPARE_LEAD_S
from tasksched.models import RunStatus
from tasksched.store import Store, cron_run_id
from tests.beat.schedules import T0, make_many, make_schedule
from tests.integration.beat.conftest import FakeClock, TickerFactory, published_run_ids

# The tick before the fire at T0 + 10 (every schedule here fires every 10 s from T0).
BEFORE = T0 + 10 - PREPARE_LEAD_S / 2


def state(store: Store) -> tuple[object, ...]:
    """What a tick could have written: every key but beat's own health and lease keys."""
    r: redis.Redis = store.redis
    k = store.keys
    skip = {k.beat_health, k.beat_lock, k.beat_fence}
    keys = sorted(str(x) for x in r.scan_iter("*") if str(x) not in skip)
    return tuple((key, r.type(key), r.dump(key)) for key in keys)


def test_the_tick_before_a_second_writes_nothing_and_the_tick_at_it_sends_each_run_once(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    ids = make_many(real_store, 300, "* * * * * */10")
    clock = FakeClock(T0 + 9)
    d = make_ticker(clock=clock)
    d.tick()  # leads; nothing due for a second
    before = state(real_store)
    clock.now = BEFORE
    sleep_s = d.tick()
    assert d._prepared is not None and d._prepared.planned == 300  # read and planned ahead
    assert state(real_store) == before  # ... and nothing written
    assert 0 < sleep_s <= PREPARE_LEAD_S
    clock.now = T0 + 10
    d.tick()
    assert sorted(published_run_ids(redis_url)) == sorted(cron_run_id(s, T0 + 10) for s in ids)
    assert real_store.redis.zcount(real_store.keys.due, "-inf", T0 + 10) == 0
    for _ in range(3):
        d.tick()
    assert len(published_run_ids(redis_url)) == 300 and d.stats.dispatched == 300


def test_a_change_between_the_prepare_and_the_second_wins(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    names = ("kept", "updated", "paused", "deleted")
    kept, updated, paused, deleted = (make_schedule(real_store, name=n) for n in names)
    clock = FakeClock(BEFORE)
    d = make_ticker(clock=clock)
    d.tick()
    assert d._prepared is not None and d._prepared.planned == 4
    real_store.schedules.update(updated, {"cron_expression": "* * * * * */30"}, now=BEFORE)
    real_store.schedules.pause(paused)
    real_store.schedules.delete(deleted)
    clock.now = T0 + 10
    for _ in range(3):
        d.tick()
    assert published_run_ids(redis_url) == [cron_run_id(kept, T0 + 10)]
    assert real_store.redis.zscore(real_store.keys.due, updated) == T0 + 30
    assert real_store.runs.count(updated) == real_store.runs.count(paused) == 0
    assert real_store.redis.zscore(real_store.keys.due, paused) is None
    assert real_store.runs.get(cron_run_id(kept, T0 + 10))["status"] == RunStatus.QUEUED.value


def test_claims_prepared_in_an_earlier_term_are_dropped(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    ids = make_many(real_store, 5, "* * * * * */10")
    clock = FakeClock(BEFORE)
    a, b = make_ticker(clock=clock), make_ticker(clock=clock)
    a.tick()
    assert a.is_leader and a._prepared is not None
    # A's lease lapses (a pause): B leads and dispatches the second, then hands over.
    real_store.redis.delete(real_store.keys.beat_lock)
    clock.now = T0 + 10
    b.tick()
    assert b.is_leader and sorted(published_run_ids(redis_url)) == sorted(
        cron_run_id(s, T0 + 10) for s in ids
    )
    b.close()
    # A leads again, in a new term: what it prepared in its old one is not sent.
    clock.now = T0 + 10.5
    a.tick()
    assert a.is_leader and a._prepared is None
    assert len(published_run_ids(redis_url)) == 5 and a.stats.dispatched == 0


def test_a_tick_before_the_second_keeps_what_was_prepared(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    sid = make_schedule(real_store)
    clock = FakeClock(BEFORE)
    d = make_ticker(clock=clock)
    d.tick()
    prepared = d._prepared
    assert prepared is not None
    clock.now = BEFORE + 0.01  # woke early: still before the second
    d.tick()
    assert d._prepared is prepared and published_run_ids(redis_url) == []
    clock.now = T0 + 10
    d.tick()
    assert published_run_ids(redis_url) == [cron_run_id(sid, T0 + 10)] and d._prepared is None
