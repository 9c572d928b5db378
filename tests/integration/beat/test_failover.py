"""Beat processes under crashes: the leader SIGKILLed again and again among three beats, with
the default lease; Redis itself SIGKILLed mid-burst and restarted from its AOF."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tasksched.store import Store
from tests.beat.schedules import make_many
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import RedisServer, wait_for
from tests.integration.beat.conftest import BeatProcs, published_run_ids

pytestmark = pytest.mark.integration
EVERY_SECOND = "* * * * * *"


def _leader(store: Store) -> str | None:
    value = store.redis.get(store.keys.beat_lock)
    return None if value is None else str(value)


@pytest.mark.timeout(120)
def test_three_beats_lose_their_leader_three_times_without_a_duplicate_or_a_miss(
    tmp_path: Path, real_store: Store, redis_url: str
) -> None:
    beats = BeatProcs(tmp_path, redis_url)
    try:
        # The documented default lease: TASKSCHED_BEAT_LEASE_S is not set.
        procs = {name: beats.start(name, lease_s=None) for name in ("a", "b", "c")}
        wait_for(lambda: _leader(real_store), 20, what="a leader")
        wait_for(lambda: real_store.control.beat_health().get("beats") == 3, 20,
                 what="three beats seen")  # fmt: skip
        mgr = SchedulerManager(store=real_store)
        sids = [
            mgr.create_training_schedule(f"t{i % 3}", f"s{i}", EVERY_SECOND)
            for i in range(20)
        ]
        # Each one's creation time on the store's clock, the one its first fire is counted
        # from (the test's own clock, read after the call, can be in the next second).
        created = {sid: real_store.schedules.get(sid).created_at for sid in sids}
        takeovers = []
        for _ in range(3):
            time.sleep(1.5)
            token = _leader(real_store)
            assert token is not None
            [name] = [n for n, p in procs.items() if p.alive() and f":{p.pid}:" in token]
            procs.pop(name).kill()  # SIGKILL: no release; the lease must run out
            killed_at = time.time()
            wait_for(lambda t=token: _leader(real_store) not in (None, t), 6,  # type: ignore[misc]
                     0.02, what="a standby taking over")  # fmt: skip
            takeovers.append(time.time() - killed_at)
            if len(procs) < 2:
                procs["d"] = beats.start("d", lease_s=None)  # a standby for the next kill
                wait_for(lambda: real_store.control.beat_health().get("beats", 0) >= 2, 20)
        time.sleep(1.5)
        beats.stop_all()  # clean stops: the due scores stop moving
    finally:
        beats.stop_all()
    assert max(takeovers) < 3.0, takeovers  # the default lease (2 s) plus a tick
    got = published_run_ids(redis_url)
    assert len(got) == len(set(got)), "a fire was published twice"
    expected = []
    for sid, created_at in created.items():
        next_due = real_store.redis.zscore(real_store.keys.due, sid)
        assert next_due is not None
        expected.extend(f"{sid}-{t}" for t in range(math.floor(created_at) + 1, int(next_due)))
    assert sorted(got) == sorted(expected), "a fire was missed"
    assert real_store.redis.hlen(real_store.keys.outbox) == 0


@pytest.mark.timeout(120)
def test_the_leader_sigkilled_while_claiming_a_burst_ahead_loses_and_duplicates_nothing(
    tmp_path: Path, real_store: Store, redis_url: str
) -> None:
    """Two beats with the documented defaults; the leader dies with the burst's staged list
    part filled: the standby takes over, claims the rest (ahead, or at the second if too late)
    and the whole burst reaches the broker once, none of it before its second."""
    n = 20_000
    beats = BeatProcs(tmp_path, redis_url)
    try:
        procs = {name: beats.start(name, lease_s=None) for name in ("a", "b")}
        wait_for(lambda: _leader(real_store), 20, what="a leader")
        wait_for(lambda: real_store.control.beat_health().get("beats") == 2, 20,
                 what="two beats seen")  # fmt: skip
        due = math.ceil(time.time() + 4 + n / 10_000)
        make_many(real_store, n, _daily_at(due), now=time.time())
        assert time.time() < due - 3, "creating took too long"
        staged = real_store.keys.beat_staged_list(repr(float(due)))
        wait_for(lambda: real_store.redis.llen(staged) >= n // 10, due - time.time(), 0.005,
                 what="the burst being claimed ahead")  # fmt: skip
        token = _leader(real_store)
        assert token is not None
        [name] = [k for k, p in procs.items() if f":{p.pid}:" in token]
        procs[name].kill()  # SIGKILL: no release; the lease must run out
        in_staged = real_store.redis.llen(staged)
        assert in_staged < n and time.time() < due, "the claims ahead ended before the kill"
        while time.time() < due - 0.05:  # nothing in the broker before the second
            assert real_store.redis.llen("training") == 0
            time.sleep(0.01)
        wait_for(lambda: len(published_run_ids(redis_url)) >= n, 30, 0.1,
                 what="the whole burst in the broker")  # fmt: skip
        wait_for(lambda: _leader(real_store) not in (None, token), 5, what="the standby leading")
        beats.stop_all()
    finally:
        beats.stop_all()
    got = published_run_ids(redis_url)
    assert len(got) == n and len(set(got)) == n, (len(got), len(set(got)))
    assert not real_store.redis.exists(staged)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("ahead", [False, True], ids=["at-its-second", "claimed-ahead"])
def test_redis_killed_mid_burst_and_restarted_from_its_aof_publishes_every_fire_once(
    tmp_path: Path, ahead: bool
) -> None:
    """Redis SIGKILLed while a burst is being claimed: at its second (claiming ahead switched
    off), or ahead of it (the default: killed while the staged list fills)."""
    server = RedisServer(tmp_path / "aof", appendonly=True)  # appendfsync always
    server.start()
    n = 20_000
    try:
        settings = Settings(redis_url=server.url, secret_key=TEST_SECRET_KEY)
        store = Store(settings=settings)
        beats = BeatProcs(tmp_path, server.url)
        try:
            beats.start("burst", **({} if ahead else {"TASKSCHED_BEAT_STAGE_MIN": "0"}))
            wait_for(lambda: _leader(store), 20, what="a leader")
            due = math.ceil(time.time() + 4 + n / 10_000)
            make_many(store, n, _daily_at(due), now=time.time())
            assert time.time() < due - 3, "creating took too long"
            import redis

            raw = redis.Redis(port=server.port)
            # Messages waiting: in the broker's queue, or in the burst's staged list.
            where = store.keys.beat_staged_list(repr(float(due))) if ahead else "training"
            wait_for(lambda: raw.llen(where) >= n // 10, due - time.time() + 10, 0.005,
                     what="the burst under way")  # fmt: skip
            in_flight = raw.llen(where)
            raw.close()
            server.stop(sig=9)  # SIGKILL mid-burst: only the AOF remains
            assert in_flight < n, "the burst's claims ended before Redis was killed"
            assert not ahead or time.time() < due, "claimed ahead, but not before its second"
            server.start()  # same port and directory: the AOF is replayed
            wait_for(lambda: len(published_run_ids(server.url)) >= n, 60, 0.2,
                     what="the whole burst in the broker")  # fmt: skip
            time.sleep(1.0)  # a duplicate would come now
            got = published_run_ids(server.url)
        finally:
            beats.stop_all()
            store.close()
    finally:
        server.stop()
    assert len(got) == n and len(set(got)) == n, (len(got), len(set(got)))


def _daily_at(epoch_s: int) -> str:
    from datetime import UTC, datetime

    t = datetime.fromtimestamp(epoch_s, UTC)
    return f"{t.minute} {t.hour} * * * {t.second}"

