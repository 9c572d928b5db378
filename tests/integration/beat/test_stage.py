"""Bursts claimed ahead of their second (tasksched.beat.stage), on a real redis-server: the run
records are written before the second, no message reaches the broker before it, the tick at
the second moves them all at once, exactly once, whichever leader ticks then; a change made in
between (an update, a pause, a delete, a restore) cancels or keeps the staged run as the
change requires."""

from __future__ import annotations

import logging

import pytest

from tasksched.beat.stage import stage_lead_s
from tasksched.beat.tick import Ticker
from tasksched.errors import NotFoundError
from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus
from tasksched.settings import Settings
from tasksched.store import Store, cron_run_id
from tasksched.store.lifecycle import RunLifecycle
from tests.beat.schedules import T0, make_many, make_schedule
from tests.integration.beat.conftest import FakeClock, TickerFactory, published_run_ids

pytestmark = pytest.mark.integration

FIRE = T0 + 10  # every schedule here fires every 10 s from T0


def staged_seconds(store: Store) -> list[float]:
    return [s for _, s in store.redis.zrange(store.keys.beat_staged, 0, -1, withscores=True)]


def staged_burst(
    store: Store, make_ticker: TickerFactory, settings: Settings
) -> tuple[list[str], FakeClock, Ticker]:
    """30 schedules due at FIRE, staged by a ticker 0.2 s before it (threshold 10)."""
    ids = make_many(store, 30, "* * * * * */10")
    clock = FakeClock(FIRE - 0.2)
    d = make_ticker(clock=clock, settings_=settings.replace(beat_stage_min=10))
    d.tick()
    assert staged_seconds(store) == [FIRE]
    return ids, clock, d


def test_a_burst_is_claimed_ahead_and_reaches_the_broker_at_its_second(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str
) -> None:
    ids = make_many(real_store, 50, "* * * * * */10")
    clock = FakeClock(FIRE - stage_lead_s(50) - 0.1)
    d = make_ticker(clock=clock, settings_=settings.replace(beat_stage_min=20))
    sleep_s = d.tick()  # leads; the burst's claims start stage_lead_s(50) before it
    assert d.is_leader and real_store.runs.count(ids[0]) == 0
    # It wakes when the claims ahead are to start (0.1 s from the tick's start), not at the
    # second nor after a whole beat_tick_s; less by the time the tick itself took.
    assert sleep_s <= 0.1
    clock.now = FIRE - stage_lead_s(50) + 0.01
    d.tick()
    expected = sorted(cron_run_id(s, FIRE) for s in ids)
    assert published_run_ids(redis_url) == []  # nothing in the broker before its second
    assert staged_seconds(real_store) == [FIRE]
    for run_id in expected:
        run = real_store.runs.get(run_id)
        assert run["status"] == RunStatus.QUEUED.value and float(run["fire_time"]) == FIRE
    assert real_store.redis.zscore(real_store.keys.due, ids[0]) == FIRE + 10
    # Until its second, the schedule shows the staged fire as its next run.
    assert real_store.schedules.get(ids[0]).next_run == FIRE
    sleep_s = d.tick()
    assert published_run_ids(redis_url) == [] and 0 < sleep_s <= 0.25
    clock.now = FIRE
    d.tick()
    assert sorted(published_run_ids(redis_url)) == expected
    assert staged_seconds(real_store) == [] and d.stats.dispatched == 50
    for _ in range(3):
        d.tick()
    assert len(published_run_ids(redis_url)) == 50
    # The next fire of the same 50 is claimed ahead as well.
    clock.now = FIRE + 10 - stage_lead_s(50) + 0.01
    d.tick()
    assert staged_seconds(real_store) == [FIRE + 10] and len(published_run_ids(redis_url)) == 50


def test_a_second_whose_claims_ahead_began_is_staged_to_its_last_entry(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each tick hands back after its budget (here: after one entry planned, one claimed);
    the rest of the second is staged on even once fewer than beat_stage_min entries are
    left, none of it left to be claimed at the second."""
    import tasksched.beat.tick as tick_module

    monkeypatch.setattr(tick_module, "TICK_BUDGET_S", 0.0)
    monkeypatch.setattr(tick_module, "PLAN_SLICE_S", 0.0)
    make_many(real_store, 30, "* * * * * */10")
    clock = FakeClock(FIRE - 0.2)
    d = make_ticker(clock=clock, settings_=settings.replace(beat_stage_min=20))
    passes = 0
    while d.tick() == 0.0 and passes < 60:
        passes += 1
    staged = real_store.keys.beat_staged_list(repr(FIRE))
    assert passes >= 30 and real_store.redis.llen(staged) == 30
    assert published_run_ids(redis_url) == [] and real_store.redis.zcount(
        real_store.keys.due, "-inf", FIRE
    ) == 0
    clock.now = FIRE
    d.tick()
    assert len(published_run_ids(redis_url)) == 30


def test_released_messages_queue_behind_those_already_waiting_in_claim_order(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str
) -> None:
    _, clock, d = staged_burst(real_store, make_ticker, settings)
    staged = real_store.redis.lrange(real_store.keys.beat_staged_list(repr(FIRE)), 0, -1)
    assert len(staged) == 30
    # Workers are behind: two older messages wait in the queue (kombu pops the tail first).
    real_store.redis.lpush("training", "older-1", "older-2")
    clock.now = FIRE
    d.tick()
    queue = real_store.redis.lrange("training", 0, -1)
    assert queue == [*staged, "older-2", "older-1"]  # FIFO kept: the older ones go first


def test_each_run_claimed_ahead_is_a_debug_line_and_the_tick_one_info_line(
    real_store: Store, make_ticker: TickerFactory, settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="tasksched.beat")
    ids, _, _ = staged_burst(real_store, make_ticker, settings)
    staged = [r for r in caplog.records if r.getMessage().startswith("run claimed ahead")]
    assert len(staged) == len(ids) and {r.levelno for r in staged} == {logging.DEBUG}
    ticks = [r for r in caplog.records if r.getMessage().startswith("beat tick")]
    assert len(ticks) == 1 and ticks[0].levelno == logging.INFO


def test_a_second_below_the_threshold_is_claimed_at_the_second(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str
) -> None:
    ids = make_many(real_store, 19, "* * * * * */10")
    clock = FakeClock(FIRE - 0.5)
    d = make_ticker(clock=clock, settings_=settings.replace(beat_stage_min=20))
    d.tick()
    assert real_store.runs.count(ids[0]) == 0 and staged_seconds(real_store) == []
    clock.now = FIRE
    d.tick()
    assert sorted(published_run_ids(redis_url)) == sorted(cron_run_id(s, FIRE) for s in ids)


def test_staged_runs_are_released_by_whichever_leader_ticks_at_the_second(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str
) -> None:
    ids = make_many(real_store, 30, "* * * * * */10")
    s = settings.replace(beat_stage_min=10)
    clock = FakeClock(FIRE - 0.2)
    a, b = make_ticker(clock=clock, settings_=s), make_ticker(clock=clock, settings_=s)
    a.tick()
    assert a.is_leader and staged_seconds(real_store) == [FIRE]
    # A dies before the second (its lease lapses): B leads and releases what A staged.
    real_store.redis.delete(real_store.keys.beat_lock)
    clock.now = FIRE + 0.001
    b.tick()
    assert b.is_leader
    assert sorted(published_run_ids(redis_url)) == sorted(cron_run_id(x, FIRE) for x in ids)
    # A comes back: it is a standby, and nothing is published twice.
    a.tick()
    b.tick()
    assert not a.is_leader and len(published_run_ids(redis_url)) == 30


def test_staged_runs_wait_while_dispatching_is_switched_off(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str
) -> None:
    _, clock, d = staged_burst(real_store, make_ticker, settings)
    real_store.control.set_enabled(False)
    clock.now = FIRE + 1
    d.tick()
    assert published_run_ids(redis_url) == [] and staged_seconds(real_store) == [FIRE]
    real_store.control.set_enabled(True)
    d.tick()
    assert len(published_run_ids(redis_url)) == 30 and staged_seconds(real_store) == []


def test_a_change_before_the_second_cancels_the_staged_run_unless_the_fire_stays(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str
) -> None:
    names = ("kept", "described", "retimed", "paused", "deleted", "resumed")
    sids = {n: make_schedule(real_store, name=n) for n in names}
    clock = FakeClock(FIRE - 0.2)
    d = make_ticker(clock=clock, settings_=settings.replace(beat_stage_min=len(names)))
    d.tick()
    run = {n: cron_run_id(sid, FIRE) for n, sid in sids.items()}
    assert all(real_store.runs.get(r)["status"] == "queued" for r in run.values())
    now = FIRE - 0.1  # the changes, before the second
    schedules = real_store.schedules
    schedules.update(sids["described"], {"description": "same timing"}, now=now)
    schedules.update(sids["retimed"], {"cron_expression": "* * * * * */30"}, now=now)
    schedules.pause(sids["paused"], now=now)
    schedules.delete(sids["deleted"])
    schedules.pause(sids["resumed"], now=now)
    schedules.resume(sids["resumed"], now=now)
    clock.now = FIRE
    for _ in range(3):
        d.tick()
    published = published_run_ids(redis_url)
    # Every staged message is released; the cancelled ones have no record left but their
    # tombstone, which a worker's claim of the message refuses, writing nothing.
    life = RunLifecycle(real_store)
    for n in ("retimed", "paused"):
        with pytest.raises(NotFoundError):
            real_store.runs.get(run[n])
        assert real_store.redis.get(real_store.keys.tomb(run[n])) == "cancelled"
        assert real_store.runs.count(sids[n]) == 0
        assert not real_store.redis.zscore(real_store.keys.pending, run[n])
        assert published.count(run[n]) == 1
        claim = life.claim(run[n], sids[n], "t1", "attempt", "w1", "cron", FIRE)
        assert (claim.code, claim.detail) == ("done", "cancelled")
        assert real_store.runs.count(sids[n]) == 0
    assert real_store.redis.zscore(real_store.keys.due, sids["retimed"]) == T0 + 30
    assert real_store.redis.zscore(real_store.keys.due, sids["paused"]) is None
    for n in ("kept", "described"):
        assert real_store.runs.get(run[n])["status"] == "queued"
        assert published.count(run[n]) == 1
    # Paused and resumed before the second: staged run cancelled, the fire claimed at the
    # second again (a second message for the same run id; a worker trains it once).
    assert real_store.runs.get(run["resumed"])["status"] == "queued"
    assert published.count(run["resumed"]) == 2
    assert real_store.redis.get(real_store.keys.tomb(run["deleted"])) is None
    assert not real_store.schedules.exists(sids["deleted"])


def test_a_change_after_the_second_leaves_the_released_run_alone(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str
) -> None:
    sids = [make_schedule(real_store, name=f"s{i}") for i in range(3)]
    clock = FakeClock(FIRE - 0.2)
    d = make_ticker(clock=clock, settings_=settings.replace(beat_stage_min=3))
    d.tick()
    clock.now = FIRE
    d.tick()
    real_store.schedules.pause(sids[0], now=FIRE + 0.5)
    run_id = cron_run_id(sids[0], FIRE)
    assert real_store.runs.get(run_id)["status"] == "queued"
    assert real_store.redis.get(real_store.keys.tomb(run_id)) is None
    assert published_run_ids(redis_url).count(run_id) == 1


def test_a_restore_before_the_second_cancels_the_staged_runs_whose_fire_it_moved(
    real_store: Store, make_ticker: TickerFactory, settings: Settings, redis_url: str
) -> None:
    # Daily schedules created now (the store's clock, which a restore reads too): their fire,
    # hours ahead, is staged by a ticker whose clock stands just before it.
    names = ("kept", "retimed", "paused")
    now = real_store.time()
    sids = {n: make_schedule(real_store, "0 3 * * *", now=now, name=n) for n in names}
    fire = real_store.schedules.get(sids["kept"]).next_run
    assert fire is not None and fire > now
    manager = SchedulerManager(store=real_store)
    document = manager.export_schedules()
    clock = FakeClock(fire - 0.2)
    d = make_ticker(clock=clock, settings_=settings.replace(beat_stage_min=len(names)))
    d.tick()
    run = {n: cron_run_id(sid, fire) for n, sid in sids.items()}
    assert all(real_store.runs.get(r)["status"] == "queued" for r in run.values())
    by_name = {item["name"]: item for item in document["schedules"]}
    by_name["retimed"]["cron_expression"] = "0 4 * * *"
    by_name["paused"]["status"] = "paused"
    assert sorted(manager.import_schedules(document)) == sorted(sids.values())
    clock.now = fire
    for _ in range(3):
        d.tick()
    published = published_run_ids(redis_url)
    assert real_store.runs.get(run["kept"])["status"] == "queued"
    assert published.count(run["kept"]) == 1
    life = RunLifecycle(real_store)
    for n in ("retimed", "paused"):
        with pytest.raises(NotFoundError):
            real_store.runs.get(run[n])
        assert real_store.redis.get(real_store.keys.tomb(run[n])) == "cancelled"
        claim = life.claim(run[n], sids[n], "t1", "attempt", "w1", "cron", fire)
        assert (claim.code, claim.detail) == ("done", "cancelled")
        assert real_store.runs.count(sids[n]) == 0
    assert real_store.redis.zscore(real_store.keys.due, sids["retimed"]) == fire + 3600
    assert real_store.redis.zscore(real_store.keys.due, sids["paused"]) is None
    # A restore repeated (a retry) changes nothing more.
    manager.import_schedules(document)
    assert real_store.runs.get(run["kept"])["status"] == "queued"
