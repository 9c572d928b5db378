"""Beat under connection faults: each script of the claim and publish paths has its reply cut
after Redis ran it (redis-py reconnects and sends it again). Every fire is published exactly
once, recorded queued, and nothing is left in the outbox; the fence counter moves once."""

from __future__ import annotations

import pytest

from tasksched.beat.publisher import CeleryPublisher
from tasksched.beat.tick import Ticker
from tasksched.models import RunStatus
from tasksched.store import cron_run_id
from tasksched.store.beat import BeatStore
from tasksched.store.lifecycle import call_id
from tests.beat.schedules import T0, make_many
from tests.integration.beat.conftest import FakeClock, published_run_ids
from tests.integration.faultproxy import script_sha
from tests.integration.faults import Faulty

pytestmark = pytest.mark.integration

N = 40


def ticker(f: Faulty, fast_path: bool = True, now: float = T0 + 10) -> Ticker:
    return Ticker(
        f.store, CeleryPublisher(f.app, f.settings.training_queue), f.settings,
        clock=FakeClock(now), fast_path=fast_path,
    )  # fmt: skip


def assert_exactly_once(f: Faulty, ids: list[str], fire: float) -> None:
    expected = sorted(cron_run_id(sid, fire) for sid in ids)
    published = published_run_ids(f.direct.settings.redis_url)
    assert sorted(published) == expected, "a fire was lost or published twice"
    for run_id in expected:
        assert f.direct.runs.get(run_id)["status"] == RunStatus.QUEUED.value
    assert f.direct.redis.hlen(f.direct.keys.outbox) == 0
    # Every dispatched run is pending until a worker takes it: none left out of the index.
    assert f.non_final() == expected


@pytest.mark.parametrize("fast_path", [True, False], ids=["direct", "kombu"])
def test_a_claim_whose_reply_was_lost_returns_the_runs_it_claimed(
    faulty: Faulty, fast_path: bool
) -> None:
    ids = make_many(faulty.direct, N, "* * * * * */10")
    d = ticker(faulty, fast_path)
    rule = faulty.proxy.cut("EVALSHA", script_sha("claim_batch"))
    d.tick()
    assert rule.cuts == 1 and faulty.proxy.executed("EVALSHA", script_sha("claim_batch")) == 2
    assert d.is_leader and d.stats.dispatched == N and d.stats.errors == 0
    assert_exactly_once(faulty, ids, T0 + 10)
    # The next fire is claimed normally.
    d.clock = FakeClock(T0 + 20)  # type: ignore[assignment]
    d.tick()
    assert len(published_run_ids(faulty.direct.settings.redis_url)) == 2 * N


def test_a_drain_whose_reply_was_lost_pushes_nothing_twice(faulty: Faulty) -> None:
    ids = make_many(faulty.direct, N, "* * * * * */10")
    # A leader claimed into the outbox (its broker was another) and died before publishing.
    dead = BeatStore(faulty.direct)
    st = dead.leader_tick("dead", "dead", 30.0, 1000, now=T0 + 10)
    from tasksched.beat.plan import plan_claims

    claims = plan_claims(st.due, st.timing, st.now, 300.0)
    assert len(dead.claim("dead", st.fence, 30.0, st.now, claims, call_id()).run_ids) == N
    faulty.direct.redis.delete(faulty.direct.keys.beat_lock)
    rule = faulty.proxy.cut("EVALSHA", script_sha("push_and_ack"))
    d = ticker(faulty, now=T0 + 11)
    d.tick()
    assert rule.cuts == 1 and d.direct and d.is_leader
    assert_exactly_once(faulty, ids, T0 + 10)


def test_a_fence_check_whose_reply_was_lost_still_publishes_once(faulty: Faulty) -> None:
    ids = make_many(faulty.direct, N, "* * * * * */10")
    rule = faulty.proxy.cut("EVALSHA", script_sha("beat_fence"))
    d = ticker(faulty, fast_path=False)
    d.tick()
    assert rule.cuts == 1 and d.is_leader
    assert_exactly_once(faulty, ids, T0 + 10)


def test_a_leader_tick_whose_reply_was_lost_takes_the_lease_once(faulty: Faulty) -> None:
    ids = make_many(faulty.direct, N, "* * * * * */10")
    rule = faulty.proxy.cut("EVALSHA", script_sha("leader_tick"))
    d = ticker(faulty)
    d.tick()
    assert rule.cuts == 1 and d.is_leader
    assert faulty.direct.redis.get(faulty.direct.keys.beat_fence) == "1"  # one new term
    assert_exactly_once(faulty, ids, T0 + 10)


def test_every_beat_script_cut_in_turn_loses_and_duplicates_nothing(faulty: Faulty) -> None:
    """Cut every beat script's reply once, tick after tick, over several fires."""
    ids = make_many(faulty.direct, N, "* * * * * */10")
    for name in ("leader_tick", "claim_batch", "lease_release"):
        faulty.proxy.cut("EVALSHA", script_sha(name), skip=1)
    d = ticker(faulty)
    for fire in (T0 + 10, T0 + 20, T0 + 30):
        d.clock = FakeClock(fire)  # type: ignore[assignment]
        d.tick()
        d.tick()
    published = published_run_ids(faulty.direct.settings.redis_url)
    expected = sorted(cron_run_id(s, t) for s in ids for t in (T0 + 10, T0 + 20, T0 + 30))
    assert sorted(published) == expected
    d.close()
    assert faulty.direct.redis.get(faulty.direct.keys.beat_lock) is None


def test_claims_reading_ahead_lose_and_duplicate_nothing_when_their_replies_are_cut(
    faulty: Faulty,
) -> None:
    """Pages of 8: each claim as a page runs out reads the next one; three of them are cut
    (one whose read-ahead starts after an entry it claims itself, so its retry leaves the rest
    to the next tick)."""
    ids = make_many(faulty.direct, N, "* * * * * */10")
    rule = faulty.proxy.cut("EVALSHA", script_sha("claim_batch"), skip=1, times=3)
    d = Ticker(
        faulty.store, CeleryPublisher(faulty.app, faulty.settings.training_queue),
        faulty.settings.replace(beat_batch_size=8), clock=FakeClock(T0 + 10),
    )  # fmt: skip
    for _ in range(10):
        if d.tick() > 0:
            break
    assert rule.cuts == 3 and d.is_leader and d.stats.errors == 0
    assert d.stats.dispatched == N
    assert_exactly_once(faulty, ids, T0 + 10)


def staging_ticker(f: Faulty, clock: FakeClock) -> Ticker:
    """A ticker that claims every second of N entries ahead of it."""
    return Ticker(
        f.store, CeleryPublisher(f.app, f.settings.training_queue),
        f.settings.replace(beat_stage_min=N), clock=clock,
    )  # fmt: skip


@pytest.mark.parametrize("script", ["claim_batch", "leader_tick"], ids=["stage", "release"])
def test_a_burst_claimed_ahead_loses_and_duplicates_nothing_when_a_reply_is_cut(
    faulty: Faulty, script: str
) -> None:
    """The claim that stages the burst (retried: the same claim id answers the same), or the
    tick that releases it at its second (retried: what was moved is no longer staged)."""
    ids = make_many(faulty.direct, N, "* * * * * */10")
    clock = FakeClock(T0 + 9.9)
    d = staging_ticker(faulty, clock)
    stage_cut = (
        faulty.proxy.cut("EVALSHA", script_sha("claim_batch")) if script == "claim_batch" else None
    )
    d.tick()  # leads, claims the burst ahead
    staged = faulty.direct.keys.beat_staged_list(repr(T0 + 10))
    assert faulty.direct.redis.llen(staged) == N
    assert published_run_ids(faulty.direct.settings.redis_url) == []
    release_cut = (
        faulty.proxy.cut("EVALSHA", script_sha("leader_tick")) if script == "leader_tick" else None
    )
    clock.now = T0 + 10
    d.tick()
    rule = stage_cut or release_cut
    assert rule is not None and rule.cuts == 1
    assert d.is_leader and d.stats.errors == 0
    # (A release whose reply was lost is not in this process's count: its retry moved nothing.)
    assert d.stats.dispatched == (N if script == "claim_batch" else 0)
    assert_exactly_once(faulty, ids, T0 + 10)
    assert not faulty.direct.redis.exists(staged)
