"""The tick against a real redis-server, with a clock the test moves (fake ``now``).

Messages are read back from the broker (kombu's Redis list ``training``). Daylight-saving
days go through the same claim logic at the end.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from tasksched.cron import jitter_offset_s, next_fire_times
from tasksched.models import RunStatus
from tasksched.settings import Settings
from tasksched.store import Store, cron_run_id
from tests.beat.schedules import T0, make_many, make_schedule
from tests.integration.beat.conftest import (
    FakeClock,
    TickerFactory,
    broker_messages,
    published_run_ids,
)


def _tick_until_idle(d: object, clock: FakeClock | None = None) -> None:
    from tasksched.beat.tick import Ticker

    assert isinstance(d, Ticker)
    for _ in range(50):
        if d.tick() > 0:
            return
    raise AssertionError("dispatcher never went idle")


def test_due_fires_are_claimed_recorded_and_published(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    a = make_schedule(real_store, tenant_id="acme", name="a")
    b = make_schedule(real_store, tenant_id="beta", name="b")
    clock = FakeClock(T0 + 10)
    d = make_ticker(clock=clock)
    _tick_until_idle(d)

    msgs = broker_messages(redis_url)
    assert sorted(m["id"] for m in msgs) == sorted([f"{a}-{int(T0) + 10}", f"{b}-{int(T0) + 10}"])
    by_id = {m["kwargs"]["schedule_id"]: m for m in msgs}
    assert by_id[a]["task"] == "tasksched.train"
    assert by_id[a]["args"] == []
    assert by_id[a]["routing_key"] == "training"
    assert by_id[a]["kwargs"] == {
        "tenant_id": "acme",
        "schedule_id": a,
        "run_id": f"{a}-{int(T0) + 10}",
        "fire_time": T0 + 10,
        "trigger": "cron",
    }
    run = real_store.runs.get(f"{a}-{int(T0) + 10}")
    assert run["status"] == RunStatus.QUEUED.value
    assert run["trigger"] == "cron"
    assert run["fire_time"] == T0 + 10
    assert run["queued_at"] == T0 + 10
    assert run["tenant_id"] == "acme"
    assert real_store.runs.count(a) == 1
    # The due score and next_run moved to the next fire; nothing left in the outbox.
    assert real_store.redis.zscore(real_store.keys.due, a) == T0 + 20
    assert real_store.schedules.get(a).next_run == T0 + 20
    assert real_store.redis.hlen(real_store.keys.outbox) == 0
    health = real_store.control.beat_health()
    assert health["leader"] == d.token
    assert float(health["dispatched_total"]) == 2
    assert float(health["last_tick"]) == pytest.approx(T0 + 10)

    # Nothing new until the next fire time; then exactly the next one.
    clock.now = T0 + 19.5
    _tick_until_idle(d)
    assert len(published_run_ids(redis_url)) == 2
    clock.now = T0 + 20
    _tick_until_idle(d)
    assert sorted(published_run_ids(redis_url)[2:]) == sorted(
        [f"{a}-{int(T0) + 20}", f"{b}-{int(T0) + 20}"]
    )


def test_idle_tick_is_one_script_call_and_reads_no_schedule(
    real_store: Store, make_ticker: TickerFactory
) -> None:
    make_many(real_store, 2000, "0 3 * * *")
    d = make_ticker(clock=FakeClock(T0 + 1))
    d.tick()  # becomes leader, drains the (empty) outbox
    real_store.redis.config_resetstat()
    sleep_s = d.tick()
    stats = real_store.redis.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()}
    assert calls.get("evalsha") == 1
    assert calls.get("zrangebyscore", 0) == 0  # the switch is on but nothing is due: LIMIT read
    for forbidden in ("scan", "keys", "smembers", "hmget", "zrange_full", "hscan"):
        assert forbidden not in calls
    assert sleep_s == d.tick_s


def test_an_existing_run_is_neither_reset_nor_published_again(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    from tasksched.models import RunTrigger

    sid = make_schedule(real_store)
    rid = f"{sid}-{int(T0) + 10}"
    real_store.runs.add(rid, sid, "t1", RunStatus.RUNNING, RunTrigger.CRON, score=T0 + 10,
                        fire_time=T0 + 10, worker="w1")
    d = make_ticker(clock=FakeClock(T0 + 10))
    _tick_until_idle(d)
    assert published_run_ids(redis_url) == []
    run = real_store.runs.get(rid)
    assert run["status"] == "running" and run["worker"] == "w1"
    assert real_store.redis.zscore(real_store.keys.due, sid) == T0 + 20


@pytest.mark.parametrize(
    ("policy", "grace_s", "runs", "missed"),
    [
        # Down from T0 to T0+105; fires every 10 s at T0+10 ... T0+100.
        ("skip", 0.0, [], list(range(10, 101, 10))),
        ("run_once", 0.0, [(100, "catchup")], list(range(10, 100, 10))),
        ("run_all", 0.0, [(t, "catchup") for t in range(10, 101, 10)], []),
        # Within the grace every fire runs on time, whatever the policy (a failover gap).
        ("skip", 300.0, [(t, "cron") for t in range(10, 101, 10)], []),
        # Partly late: the late ones follow the policy, the fresh ones run.
        ("skip", 40.0, [(t, "cron") for t in range(70, 101, 10)], list(range(10, 61, 10))),
        ("run_once", 40.0, [(t, "cron") for t in range(70, 101, 10)], list(range(10, 61, 10))),
        (
            "run_all",
            40.0,
            [(t, "catchup") for t in range(10, 61, 10)] + [(t, "cron") for t in range(70, 101, 10)],
            [],
        ),
    ],
)
def test_misfire_policy_after_downtime(
    real_store: Store,
    make_ticker: TickerFactory,
    redis_url: str,
    policy: str,
    grace_s: float,
    runs: list[tuple[int, str]],
    missed: list[int],
) -> None:
    sid = make_schedule(real_store, misfire_policy=policy, misfire_grace_s=grace_s)
    d = make_ticker(clock=FakeClock(T0 + 105))
    _tick_until_idle(d)
    base = int(T0)
    msgs = broker_messages(redis_url)
    assert sorted((m["id"], m["kwargs"]["trigger"]) for m in msgs) == sorted(
        (f"{sid}-{base + t}", trig) for t, trig in runs
    )
    records = {r["run_id"]: r for r in real_store.runs.list(sid, limit=100)}
    missed_ids = {rid for rid, r in records.items() if r["status"] == "missed"}
    assert missed_ids == {f"{sid}-{base + t}" for t in missed}
    for rid in missed_ids:
        assert records[rid]["reason"].startswith("misfire:")
        assert records[rid]["finished_at"] == T0 + 105
    assert real_store.redis.zscore(real_store.keys.due, sid) == T0 + 110
    assert float(real_store.control.beat_health().get("missed_total", 0)) == len(missed)


def test_run_once_after_a_long_downtime_runs_once(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    # 3,000 missed per-second fires: more than one claim examines per schedule.
    sid = make_schedule(real_store, cron="* * * * * *", misfire_policy="run_once",
                        misfire_grace_s=0.0)
    d = make_ticker(clock=FakeClock(T0 + 3000.5))
    _tick_until_idle(d)
    assert published_run_ids(redis_url) == [f"{sid}-{int(T0) + 3000}"]
    assert real_store.redis.zscore(real_store.keys.due, sid) == T0 + 3001


def test_a_history_no_worker_takes_is_trimmed_by_the_pending_sweep(
    real_store: Store, make_ticker: TickerFactory, settings: Settings
) -> None:
    from tasksched.store.sweeps import sweep_pending

    # Beat's claim leaves trimming to the worker's claim of each run; with no worker at all
    # the runs end by the pending sweep, which trims what they grew.
    small = settings.replace(run_history_max=3)
    sid = make_schedule(real_store, cron="* * * * * */10")
    clock = FakeClock(T0)
    d = make_ticker(clock=clock, settings_=small)
    for t in range(10, 70, 10):
        clock.now = T0 + t
        _tick_until_idle(d)
    runs = [cron_run_id(sid, T0 + t) for t in range(10, 70, 10)]
    assert real_store.redis.zrange(real_store.keys.runs(sid), 0, -1) == runs  # all queued
    swept = sweep_pending(Store(settings=small), T0 + 7 * 86400)
    assert sorted(s.run_id for s in swept) == sorted(runs)
    assert real_store.redis.zrange(real_store.keys.runs(sid), 0, -1) == runs[-3:]
    assert not any(real_store.redis.exists(real_store.keys.run(r)) for r in runs[:3])
    assert real_store.runs.get(runs[-1])["status"] == "missed"


def test_the_global_switch_stops_and_resumes_dispatching(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    sid = make_schedule(real_store, misfire_policy="skip", misfire_grace_s=5.0)
    clock = FakeClock(T0 + 10)
    d = make_ticker(clock=clock)
    real_store.control.set_enabled(False)
    for t in (10, 20, 30, 40, 50):
        clock.now = T0 + t
        _tick_until_idle(d)
    assert published_run_ids(redis_url) == []
    assert d.is_leader  # still leading, just not dispatching
    assert real_store.control.beat_health()["enabled"] == "0"
    real_store.control.set_enabled(True)
    clock.now = T0 + 52
    _tick_until_idle(d)
    assert published_run_ids(redis_url) == [f"{sid}-{int(T0) + 50}"]
    missed = {r["run_id"] for r in real_store.runs.list(sid) if r["status"] == "missed"}
    assert missed == {f"{sid}-{int(T0) + t}" for t in (10, 20, 30, 40)}


def test_a_burst_larger_than_a_batch_is_dispatched_in_one_tick_keeping_the_lease(
    real_store: Store, make_ticker: TickerFactory, redis_url: str, settings: Settings
) -> None:
    ids = make_many(real_store, 1000, "* * * * * */10")
    small = settings.replace(beat_batch_size=64, beat_lease_s=2.0)
    d = make_ticker(clock=FakeClock(T0 + 10), settings_=small)
    # Usually one tick (16 batches of 64, each claim renewing the lease); a slow machine may
    # hit the tick's time budget and finish in the next one.
    _tick_until_idle(d)
    got = published_run_ids(redis_url)
    assert sorted(got) == sorted(f"{s}-{int(T0) + 10}" for s in ids)
    assert real_store.redis.get(real_store.keys.beat_lock) == d.token
    assert d.is_leader and d.stats.dispatched == 1000


def test_a_backlog_of_many_pages_is_read_ahead_by_the_claims_not_by_more_ticks(
    real_store: Store,
    make_ticker: TickerFactory,
    redis_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = make_many(real_store, 1000, "* * * * * */10")
    d = make_ticker(clock=FakeClock(T0 + 10), settings_=settings.replace(beat_batch_size=64))
    reads: list[int] = []
    real_leader_tick = d.beat_store.leader_tick

    def leader_tick(*args: object, **kwargs: object) -> object:
        st = real_leader_tick(*args, **kwargs)  # type: ignore[arg-type]
        reads.append(len(st.due))
        return st

    monkeypatch.setattr(d.beat_store, "leader_tick", leader_tick)
    _tick_until_idle(d)
    assert sorted(published_run_ids(redis_url)) == sorted(f"{s}-{int(T0) + 10}" for s in ids)
    # 16 pages of 64: the first read by the tick, the others by the claims' read-ahead (a slow
    # machine may end a tick at its time budget: the next tick reads again).
    assert reads[0] == 64 and len(reads) <= 4, reads
    assert d.is_leader and d.stats.dispatched == 1000


def test_a_costly_schedule_is_planned_in_its_own_slice_and_the_lease_renewed_around_it(
    real_store: Store,
    make_ticker: TickerFactory,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    import tasksched.beat.plan as plan_module
    import tasksched.beat.tick as tick_module

    # As the issue saw it: one schedule whose plan is slower than a planning slice.
    real_plan_due = plan_module.plan_due

    def plan_due(cron: str, tz: str, *args: object, **kwargs: object) -> object:
        if tz == "Europe/Berlin":
            time.sleep(3 * tick_module.PLAN_SLICE_S)
        return real_plan_due(cron, tz, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_module, "plan_due", plan_due)
    # Entries due at one second are read in id order: the costly one sits in the middle (were
    # it last, every entry would be planned before the slice ends, in a single claim).
    berlin = make_schedule(real_store, "* * * * * *", timezone="Europe/Berlin", name="berlin",
                           schedule_id="u09b")  # fmt: skip
    utc = [make_schedule(real_store, "* * * * * *", name=f"u{i}", schedule_id=f"u{i:02d}")
           for i in range(20)]  # fmt: skip
    d = make_ticker(clock=FakeClock(T0 + 1))
    claims: list[int] = []
    real_claim = d.beat_store.claim

    def claim(token: str, fence: int, lease_s: float, now: float, batch: list,  # type: ignore[type-arg]
              *args: object, **kwargs: object) -> object:  # fmt: skip
        claims.append(len(batch))
        return real_claim(token, fence, lease_s, now, batch, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(d.beat_store, "claim", claim)
    d.tick()
    # One claim (lease renewal) per slice: the costly u09b ends its slice (u00-u09b), the rest
    # are claimed after it (a loaded machine may cut the slices finer).
    assert 11 in itertools.accumulate(claims) and sum(claims) == 21, claims
    assert sorted(published_run_ids(redis_url)) == sorted(
        f"{sid}-{int(T0) + 1}" for sid in [berlin, *utc]
    )
    assert d.is_leader and real_store.redis.get(real_store.keys.beat_lock) == d.token


def test_an_error_with_two_claims_in_flight_loses_no_run(
    real_store: Store,
    make_ticker: TickerFactory,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import time

    from tasksched.errors import StoreUnavailableError

    # The outbox path: the first claim's reply is lost (it ran), while the second claim, slower,
    # is still in flight. The tick ends in error once the second is done; the next one
    # publishes both claims' runs.
    ids = make_many(real_store, 1500, "* * * * * */10")
    d = make_ticker(clock=FakeClock(T0 + 10), fast_path=False)
    real_claim = d.beat_store.claim
    calls: list[int] = []  # each call's entries, in the order they were made
    lock = threading.Lock()

    def claim(*args: object, **kwargs: object) -> object:
        with lock:  # two claims run at once, from two threads
            calls.append(len(args[4]))  # type: ignore[arg-type]
            n = len(calls)
        if n == 2:
            time.sleep(0.3)  # reaches Redis after the first one's error was seen
        res = real_claim(*args, **kwargs)  # type: ignore[arg-type]
        if n == 1:
            raise StoreUnavailableError("reply lost")
        return res

    monkeypatch.setattr(d.beat_store, "claim", claim)
    d.tick()
    # The tick waited for the claim still in flight: both claims' runs are in the outbox.
    assert calls == [250, 750] and published_run_ids(redis_url) == []
    assert real_store.redis.hlen(real_store.keys.outbox) == 1000
    monkeypatch.setattr(d.beat_store, "claim", real_claim)
    _tick_until_idle(d)
    assert sorted(published_run_ids(redis_url)) == sorted(cron_run_id(s, T0 + 10) for s in ids)
    assert real_store.redis.hlen(real_store.keys.outbox) == 0


def test_jitter_fires_at_a_stable_offset_and_keeps_the_cron_run_id(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    # An id whose stable offset is not 0 (an offset of 0 would not test much).
    sid = next(f"jit{i:013d}" for i in range(100) if jitter_offset_s(f"jit{i:013d}", 30.0) > 0)
    offset = jitter_offset_s(sid, 30.0)
    assert 0 < offset < 30 and offset == jitter_offset_s(sid, 30.0)
    make_schedule(real_store, cron="* * * * * 0", jitter_s=30.0, schedule_id=sid)
    # Created at T0 (a minute boundary): cron time T0 fires at T0 + offset, still ahead.
    assert real_store.redis.zscore(real_store.keys.due, sid) == T0 + offset
    clock = FakeClock(T0 + offset - 0.5)
    d = make_ticker(clock=clock)
    _tick_until_idle(d)
    assert published_run_ids(redis_url) == []
    clock.now = T0 + offset
    _tick_until_idle(d)
    (msg,) = broker_messages(redis_url)
    assert msg["id"] == cron_run_id(sid, T0) == f"{sid}-{int(T0)}"
    assert msg["kwargs"]["fire_time"] == T0 + offset
    assert real_store.redis.zscore(real_store.keys.due, sid) == T0 + 60 + offset


def test_outbox_payloads_carry_ids_only(
    real_store: Store, make_ticker: TickerFactory, redis_url: str
) -> None:
    make_schedule(
        real_store,
        notifications={"types": ["log", "email"], "email_recipients": ["a@example.com"],
                       "email_password": "hunter2-secret", "email_smtp_host": "smtp.example.com"},
    )
    d = make_ticker(clock=FakeClock(T0 + 10))
    _tick_until_idle(d)
    raw = real_store.redis.lrange("training", 0, -1)
    assert raw and all("hunter2" not in r and "smtp" not in r for r in raw)
    (msg,) = broker_messages(redis_url)
    assert set(msg["kwargs"]) == {"tenant_id", "schedule_id", "run_id", "fire_time", "trigger"}
    assert json.dumps(msg["kwargs"])  # plain JSON values


# ---- daylight-saving days -------------------------------------------------------------------
STEP_S = 600.0  # the fake clock moves 10 minutes per tick; the grace (1 h) covers that


def _sweep(d_tick: object, clock: FakeClock, start: float, end: float) -> None:
    from tasksched.beat.tick import Ticker

    assert isinstance(d_tick, Ticker)
    t = start
    while t <= end:
        clock.now = t
        for _ in range(20):
            if d_tick.tick() > 0:
                break
        t += STEP_S


def _utc(s: str) -> float:
    return datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("tz", "day_start_utc", "fixed_cron", "fixed_expected_utc", "hourly_count"),
    [
        # Spring forward: 02:30 does not exist; the fixed job fires at the gap's end (03:00).
        ("America/New_York", "2024-03-10T05:00:00", "30 2 * * *", ["2024-03-10T07:00:00"], 23),
        ("Europe/Berlin", "2024-03-30T23:00:00", "30 2 * * *", ["2024-03-31T01:00:00"], 23),
        # Fall back: the repeated hour (01:xx in New York, 02:xx in Berlin) happens twice;
        # the fixed job fires once, at the first (summer time) instant.
        ("America/New_York", "2024-11-03T04:00:00", "30 1 * * *", ["2024-11-03T05:30:00"], 25),
        ("Europe/Berlin", "2024-10-26T22:00:00", "30 2 * * *", ["2024-10-27T00:30:00"], 25),
        # A fixed time outside the repeated hour is just once too (02:30 EST in New York).
        ("America/New_York", "2024-11-03T04:00:00", "30 2 * * *", ["2024-11-03T07:30:00"], 25),
    ],
)
def test_dst_day_dispatches_each_fire_once(
    real_store: Store,
    make_ticker: TickerFactory,
    redis_url: str,
    tz: str,
    day_start_utc: str,
    fixed_cron: str,
    fixed_expected_utc: list[str],
    hourly_count: int,
) -> None:
    start = _utc(day_start_utc)  # local midnight
    end = start + hourly_count * 3600  # the next local midnight (a 23 or 25 hour day)
    before = start - 60
    fixed = make_schedule(real_store, cron=fixed_cron, now=before, timezone=tz,
                          misfire_grace_s=3600.0, name="fixed")
    hourly = make_schedule(real_store, cron="0 * * * *", now=before, timezone=tz,
                           misfire_grace_s=3600.0, name="hourly")
    clock = FakeClock(before)
    d = make_ticker(clock=clock)
    _sweep(d, clock, before, end - 1)

    msgs = broker_messages(redis_url)
    ids = [m["id"] for m in msgs]
    assert len(ids) == len(set(ids)), "a fire was dispatched twice"
    fired = {
        sid: sorted(m["kwargs"]["fire_time"] for m in msgs if m["kwargs"]["schedule_id"] == sid)
        for sid in (fixed, hourly)
    }
    assert fired[fixed] == [_utc(s) for s in fixed_expected_utc]
    assert len(fired[hourly]) == hourly_count
    # Exactly what the cron engine predicts for the day, fire by fire.
    after = datetime.fromtimestamp(before, UTC)
    predicted = [t.timestamp() for t in next_fire_times("0 * * * *", tz, after, hourly_count + 1)]
    assert fired[hourly] == [t for t in predicted if t < end]
    # An hourly job keeps its rhythm in real time: one hour between fires, DST or not.
    gaps = {b - a for a, b in zip(fired[hourly], fired[hourly][1:], strict=False)}
    assert gaps == {3600.0}
    assert all(m["kwargs"]["trigger"] == "cron" for m in msgs)


@pytest.mark.parametrize(
    ("policy", "expected_utc"),
    [
        ({"duplicate_dst": "first"}, ["2024-11-03T05:30:00"]),  # 01:30 EDT
        ({"duplicate_dst": "last"}, ["2024-11-03T06:30:00"]),  # 01:30 EST
        ({"duplicate_dst": "none"}, []),
        ({}, ["2024-11-03T05:30:00"]),  # the rule: the first
    ],
    ids=["first", "last", "none", "rule"],
)
def test_a_schedules_dst_policy_reaches_beat(
    real_store: Store,
    make_ticker: TickerFactory,
    redis_url: str,
    policy: dict[str, str],
    expected_utc: list[str],
) -> None:
    start = _utc("2024-11-03T04:00:00")  # New York's local midnight; 01:xx happens twice
    before = start - 60
    sid = make_schedule(real_store, cron="30 1 * * *", now=before, timezone="America/New_York",
                        misfire_grace_s=3600.0, name="fixed", **policy)
    rec = real_store.schedules.get(sid)
    assert rec.config.duplicate_dst.value == policy.get("duplicate_dst", "auto")
    clock = FakeClock(before)
    d = make_ticker(clock=clock)
    _sweep(d, clock, before, start + 25 * 3600 - 1)
    fired = sorted(m["kwargs"]["fire_time"] for m in broker_messages(redis_url))
    assert fired == [_utc(s) for s in expected_utc]
