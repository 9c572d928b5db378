"""Real ``celery beat`` processes (tasksched's scheduler) against a real redis-server.

Schedules fire every second (the seconds field); what was dispatched is read from the broker
list and compared with what the due index says should have fired.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest
import redis

from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tasksched.store import Store
from tests.beat.schedules import store_the_old_way
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Proc, RedisServer, child_env, wait_for
from tests.integration.beat.conftest import BeatProcs, published_run_ids

EVERY_SECOND = "* * * * * *"


def _leader(store: Store) -> str | None:
    value = store.redis.get(store.keys.beat_lock)
    return None if value is None else str(value)


def _expected_ids(store: Store, created: dict[str, float]) -> list[str]:
    """Every per-second fire from each schedule's first up to (not including) its due score."""
    out = []
    for sid, created_at in created.items():
        next_due = store.redis.zscore(store.keys.due, sid)
        assert next_due is not None
        first = math.floor(created_at) + 1
        out.extend(f"{sid}-{t}" for t in range(first, int(next_due)))
    return sorted(out)


def _ids_of(store: Store, sid: str, url: str) -> list[str]:
    return [r for r in published_run_ids(url) if r.startswith(sid + "-")]


def _fire_time(run_id: str) -> int:
    return int(run_id.rsplit("-", 1)[1])


def _tick_after(store: Store, t: float, what: str, timeout_s: float = 5.0) -> None:
    """Wait until the leading beat starts a tick after Redis time ``t``.

    A beat's ticks run one after another, so by then whatever a tick begun before ``t``
    claimed has been published: nothing of it is still on its way.
    """

    def ticked() -> bool:
        last = store.redis.hget(store.keys.beat_health, "last_tick")
        return last is not None and float(last) > t

    wait_for(ticked, timeout_s, what=what)


def _beat_ticks_for(store: Store, seconds: float, what: str) -> None:
    """The window in which nothing may be dispatched: the beat goes on ticking for ``seconds``.

    Not a wait for something to happen but wall time passing, measured by the beat's own
    ticks: a beat that hung or died would not pass for a quiet one.
    """
    _tick_after(store, store.time() + seconds, what, timeout_s=seconds + 5.0)


@pytest.mark.timeout(60)
def test_dynamic_create_pause_resume_update_delete_without_restart(
    beats: BeatProcs, real_store: Store, settings: Settings, redis_url: str
) -> None:
    beat = beats.start("dyn")
    wait_for(lambda: _leader(real_store), 15, what="a beat leader")
    mgr = SchedulerManager(store=real_store)

    sid = mgr.create_training_schedule("acme", "every-second", EVERY_SECOND)
    wait_for(lambda: len(_ids_of(real_store, sid, redis_url)) >= 2, 3, what="fires after create")

    mgr.pause_schedule(sid)
    # A fire claimed just before the pause may still be on its way: one tick later it is not.
    _tick_after(real_store, real_store.time(), "a tick after the pause")
    paused_count = len(_ids_of(real_store, sid, redis_url))
    _beat_ticks_for(real_store, 1.5, "the beat ticking while paused")
    assert len(_ids_of(real_store, sid, redis_url)) == paused_count

    mgr.resume_schedule(sid)
    wait_for(lambda: len(_ids_of(real_store, sid, redis_url)) >= paused_count + 1, 2.5,
             what="fires after resume")

    mgr.update_schedule(sid, cron_expression="* * * * * */2")
    changed_at = time.time()

    def fired_since_change() -> list[int]:
        fires = [_fire_time(r) for r in _ids_of(real_store, sid, redis_url)]
        return [t for t in fires if t > changed_at + 0.5]

    wait_for(lambda: len(fired_since_change()) >= 2, 8, what="two fires after the update")
    recent = [_fire_time(r) for r in _ids_of(real_store, sid, redis_url)]
    after_change = [t for t in recent if t > changed_at + 0.5]
    assert len(after_change) >= 1 and all(t % 2 == 0 for t in after_change), recent

    mgr.delete_schedule(sid)
    _tick_after(real_store, real_store.time(), "a tick after the delete")
    deleted_count = len(_ids_of(real_store, sid, redis_url))
    _beat_ticks_for(real_store, 1.5, "the beat ticking after the delete")
    assert len(_ids_of(real_store, sid, redis_url)) == deleted_count
    assert beat.alive()
    out = beat.output()
    # One summary line per tick at INFO; the per-run lines are DEBUG.
    assert '"event":"beat.tick"' in out and '"event":"run.dispatched"' not in out


@pytest.mark.timeout(60)
def test_leader_sigkilled_mid_window_no_duplicate_no_miss(
    beats: BeatProcs, real_store: Store, redis_url: str
) -> None:
    a = beats.start("a", lease_s=2.0)
    wait_for(lambda: _leader(real_store), 15, what="a leader")
    b = beats.start("b", lease_s=2.0)
    wait_for(lambda: len([k for k in real_store.control.beat_health() if k.startswith("seen:")])
             >= 2, 15, what="both beats alive")
    mgr = SchedulerManager(store=real_store)
    sids = [mgr.create_training_schedule(f"t{i % 3}", f"s{i}", EVERY_SECOND) for i in range(20)]
    # On the store's clock, which the first fire is counted from.
    created = {sid: real_store.schedules.get(sid).created_at for sid in sids}
    # The leader dispatches for a while (two fires of each schedule) before it is killed.
    wait_for(lambda: len(published_run_ids(redis_url)) >= 2 * len(created), 10,
             what="the leader dispatching")
    leader_token = _leader(real_store)
    assert leader_token is not None
    leader, standby = (a, b) if f":{a.pid}:" in leader_token else (b, a)
    leader.kill()  # SIGKILL: no release, the lease must run out
    killed_at = time.time()
    wait_for(lambda: _leader(real_store) not in (None, leader_token), 6,
             what="the standby taking over")
    took_over_s = time.time() - killed_at
    # The new leader dispatches (the gap's fires, then two more of each) before it stops.
    at_takeover = len(published_run_ids(redis_url))
    wait_for(lambda: len(published_run_ids(redis_url)) >= at_takeover + 2 * len(created), 10,
             what="the new leader dispatching")
    standby.stop()  # SIGTERM: a clean stop; the due scores stop moving
    assert took_over_s < 2.0 + 1.5

    got = published_run_ids(redis_url)
    assert len(got) == len(set(got)), "a run was published twice"
    assert sorted(got) == _expected_ids(real_store, created)
    assert real_store.redis.hlen(real_store.keys.outbox) == 0


@pytest.mark.timeout(90)
def test_redis_restart_with_aof_under_a_running_beat(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "aof", appendonly=True)
    server.start()
    try:
        settings = Settings(redis_url=server.url, secret_key=TEST_SECRET_KEY)
        store = Store(settings=settings)
        own = BeatProcs(tmp_path, server.url)
        beat = own.start("aof", lease_s=2.0)
        try:
            wait_for(lambda: _leader(store), 15, what="a leader")
            mgr = SchedulerManager(store=store)
            sids = [
                mgr.create_training_schedule("acme", f"s{i}", EVERY_SECOND)
                for i in range(5)
            ]
            # Each one's creation time on the store's clock, the one its first fire is counted
            # from (the test's own clock, read after the call, can be in the next second).
            created = {sid: store.schedules.get(sid).created_at for sid in sids}
            wait_for(lambda: len(published_run_ids(server.url)) >= 2 * len(created), 10,
                     what="the beat dispatching before the restart")
            server.stop()  # SIGTERM: the AOF (appendfsync always) has every write
            # The outage itself (not a wait): fires fall due while Redis is down.
            time.sleep(1.5)
            server.start()  # same port, same directory: the AOF is replayed
            wait_for(lambda: store.redis.hget(store.keys.beat_health, "last_tick"), 10)
            restarted_at = time.time()
            wait_for(lambda: float(store.redis.hget(store.keys.beat_health, "last_tick") or 0)
                     > restarted_at + 1, 20, what="beat ticking again after the restart")

            def dispatched_while_down() -> list[str]:
                return [r for r in published_run_ids(server.url)
                        if restarted_at - 3.5 <= _fire_time(r) < restarted_at]

            wait_for(dispatched_while_down, 10, what="the fires due while Redis was down")
            assert beat.alive()  # the same process went on: no exit, no restart
            own.stop_all()
            got = published_run_ids(server.url)
            assert len(got) == len(set(got)), "a run was published twice"
            assert sorted(got) == _expected_ids(store, created)
            # Fires due while Redis was down were dispatched after it came back (in the grace).
            down = [r for r in got if restarted_at - 3.5 <= _fire_time(r) < restarted_at]
            assert down
        finally:
            own.stop_all()
            store.redis.close()
    finally:
        server.stop()


@pytest.mark.timeout(60)
def test_the_global_switch_with_a_running_beat(
    beats: BeatProcs, real_store: Store, redis_url: str
) -> None:
    beats.start("switch", own_app=True)  # a user's own Celery app with -S
    wait_for(lambda: _leader(real_store), 15, what="a leader")
    mgr = SchedulerManager(store=real_store)
    sid = mgr.create_training_schedule(
        "acme", "s", EVERY_SECOND, config={"misfire_policy": "skip", "misfire_grace_s": 0.5}
    )
    wait_for(lambda: len(_ids_of(real_store, sid, redis_url)) >= 1, 3, what="a first fire")
    mgr.stop_scheduler()
    _tick_after(real_store, real_store.time(), "a tick after the switch went off")
    before = len(_ids_of(real_store, sid, redis_url))
    _beat_ticks_for(real_store, 2.2, "the beat ticking with the switch off")
    assert len(_ids_of(real_store, sid, redis_url)) == before
    assert real_store.control.beat_health()["enabled"] == "0"
    mgr.start_scheduler()
    wait_for(lambda: len(_ids_of(real_store, sid, redis_url)) > before, 3,
             what="fires after the switch is on again")
    missed = [r for r in real_store.runs.list(sid, limit=50) if r["status"] == "missed"]
    assert len(missed) >= 1 and all("skipped" in r["reason"] for r in missed)


@pytest.mark.timeout(120)
def test_a_real_celery_worker_consumes_what_beat_publishes(
    beats: BeatProcs, real_store: Store, redis_url: str, tmp_path: Path
) -> None:
    beats.start("pub")
    mgr = SchedulerManager(store=real_store)
    ids = mgr.create_training_schedules(
        [{"tenant_id": "acme", "name": f"s{i}", "cron_expression": EVERY_SECOND}
         for i in range(50)]
    )
    wait_for(lambda: len(published_run_ids(redis_url)) >= 100, 20, what="published runs")
    worker = Proc(
        [sys.executable, "-m", "celery", "-A", "tests.integration.beat.worker_app", "worker",
         "-Q", "training", "-P", "solo", "-c", "1", "-l", "WARNING", "--without-gossip",
         "--without-mingle", "--without-heartbeat"],
        child_env(TASKSCHED_REDIS_URL=redis_url, TASKSCHED_SECRET_KEY=TEST_SECRET_KEY),
        tmp_path / "worker.log",
    )
    try:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        wait_for(lambda: client.llen("beat-test:consumed") >= 100, 60, what="consumed runs")
        consumed = [json.loads(x) for x in client.lrange("beat-test:consumed", 0, -1)]
        client.close()
    finally:
        worker.stop()
    for item in consumed:
        kw = item["kwargs"]
        assert item["id"] == kw["run_id"]
        assert kw["schedule_id"] in ids and kw["tenant_id"] == "acme"
        assert kw["run_id"] == f"{kw['schedule_id']}-{int(kw['fire_time'])}"
        assert kw["trigger"] in ("cron", "catchup")


@pytest.mark.timeout(90)
def test_a_per_second_schedule_in_berlin_stalls_no_one(
    beats: BeatProcs, real_store: Store, redis_url: str
) -> None:
    """Issue 13: one per-second schedule outside UTC once took seconds per fire time to plan,
    holding up every schedule; now each fires every second, dispatched within about a second.
    """
    beat = beats.start("stall", lease_s=2.0)
    wait_for(lambda: _leader(real_store), 15, what="a beat leader")
    mgr = SchedulerManager(store=real_store)
    created: dict[str, float] = {}
    created[mgr.create_training_schedule(
        "berlin", "every-second", EVERY_SECOND, {"timezone": "Europe/Berlin"}
    )] = real_store.time()
    for i in range(20):
        created[mgr.create_training_schedule(f"t{i % 4}", f"s{i}", EVERY_SECOND)] = (
            real_store.time()
        )
    # Watch the broker for 6 s: when each run first shows up, against its fire time.
    first_seen: dict[str, float] = {}
    end = time.time() + 6.0
    while time.time() < end:
        now = time.time()
        for run_id in published_run_ids(redis_url):
            first_seen.setdefault(run_id, now)
        time.sleep(0.1)  # sampling interval of the watch, not a synchronisation
    beat.stop()  # SIGTERM: the due scores stop moving

    got = published_run_ids(redis_url)
    assert len(got) == len(set(got)), "a run was published twice"
    assert sorted(got) == _expected_ids(real_store, created)  # every second, no gap
    for sid in created:
        assert len([r for r in got if r.startswith(sid + "-")]) >= 5, sid
    late = {r: first_seen[r] - _fire_time(r) for r in first_seen}
    worst = max(late, key=late.__getitem__)
    assert late[worst] < 1.5, (worst, late[worst])


@pytest.mark.timeout(60)
def test_beat_logs_a_schedule_stored_before_whose_meaning_changed(
    beats: BeatProcs, real_store: Store
) -> None:
    old = store_the_old_way(real_store, "59/15 * * * *")
    beat = beats.start("doctor")
    wait_for(lambda: "cron meaning changed" in beat.output(), 20, what="the start-up cron check")
    line = next(x for x in beat.output().splitlines() if "cron meaning changed" in x)
    assert "WARNING" in line and old in line and "59/15" in line
    assert "croniter 6" in line and "00:15:00" in line and "00:59:00" in line  # both readings
    wait_for(lambda: _leader(real_store), 15, what="beat leading all the same")
