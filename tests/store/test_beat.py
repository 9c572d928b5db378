"""BeatStore: the tick's two scripts (leader_tick, claim) against concurrent user changes."""

from __future__ import annotations

from tasksched.beat.plan import plan_claims
from tasksched.store import Store
from tasksched.store.beat import BeatStore, DueClaim, TickState
from tasksched.store.lifecycle import call_id
from tests.beat.schedules import T0, make_schedule


def test_user_update_during_a_tick_is_not_overwritten(store: Store) -> None:
    sid = make_schedule(store)
    ds = BeatStore(store)
    st = ds.leader_tick("tok", "tok", 5.0, 100, now=T0 + 10)
    assert st.leader and st.due == [(sid, T0 + 10)]
    claims = plan_claims(st.due, st.timing, st.now, 300.0)
    # The user changes the cron between the tick's read and its claim.
    store.schedules.update(sid, {"cron_expression": "* * * * * */30"}, now=T0 + 10)
    res = ds.claim("tok", st.fence, 5.0, st.now, claims, call_id())
    assert (res.lost_lease, res.claimed, res.stale, res.run_ids) == (False, 0, 1, [])
    assert store.redis.zscore(store.keys.due, sid) == T0 + 30  # the user's value
    assert store.schedules.get(sid).next_run == T0 + 30
    assert store.runs.count(sid) == 0
    assert store.redis.hlen(store.keys.outbox) == 0


def test_a_name_change_during_a_tick_also_wins_then_the_next_tick_claims(store: Store) -> None:
    sid = make_schedule(store)
    ds = BeatStore(store)
    st = ds.leader_tick("tok", "tok", 5.0, 100, now=T0 + 10)
    claims = plan_claims(st.due, st.timing, st.now, 300.0)
    store.schedules.update(sid, {"name": "renamed"})  # bumps the version only
    assert ds.claim("tok", st.fence, 5.0, st.now, claims, call_id()).stale == 1
    st = ds.leader_tick("tok", "tok", 5.0, 100, now=T0 + 10)
    claims = plan_claims(st.due, st.timing, st.now, 300.0)
    res = ds.claim("tok", st.fence, 5.0, st.now, claims, call_id())
    assert res.claimed == 1 and res.run_ids == [f"{sid}-{int(T0) + 10}"]
    assert store.schedules.get(sid).name == "renamed"


def test_pause_and_delete_during_a_tick_are_not_undone(store: Store) -> None:
    paused = make_schedule(store, name="p")
    deleted = make_schedule(store, name="d")
    ds = BeatStore(store)
    st = ds.leader_tick("tok", "tok", 5.0, 100, now=T0 + 10)
    claims = plan_claims(st.due, st.timing, st.now, 300.0)
    store.schedules.pause(paused)
    store.schedules.delete(deleted)
    res = ds.claim("tok", st.fence, 5.0, st.now, claims, call_id())
    assert (res.claimed, res.stale, res.run_ids) == (0, 2, [])
    assert store.redis.zscore(store.keys.due, paused) is None
    assert store.redis.zscore(store.keys.due, deleted) is None
    assert not store.redis.exists(store.keys.schedule(deleted))


def test_an_orphan_due_entry_is_dropped(store: Store) -> None:
    store.redis.zadd(store.keys.due, {"ghost": T0})
    ds = BeatStore(store)
    st = ds.leader_tick("tok", "tok", 5.0, 100, now=T0 + 1)
    claims = plan_claims(st.due, st.timing, st.now, 300.0)
    assert claims[0].new_score is None
    res = ds.claim("tok", st.fence, 5.0, st.now, claims, call_id())
    assert res.claimed == 1 and res.run_ids == []
    assert store.redis.zcard(store.keys.due) == 0


def test_a_claim_without_the_lease_writes_nothing(store: Store) -> None:
    sid = make_schedule(store)
    ds = BeatStore(store)
    st = ds.leader_tick("leader", "leader", 5.0, 100, now=T0 + 10)
    claims = plan_claims(st.due, st.timing, st.now, 300.0)
    res = ds.claim("impostor", st.fence, 5.0, st.now, claims, call_id())
    assert res.lost_lease
    assert store.redis.zscore(store.keys.due, sid) == T0 + 10
    assert store.runs.count(sid) == 0
    assert store.redis.hlen(store.keys.outbox) == 0
    # A standby's tick reads nothing due and does not touch the lease.
    st2 = ds.leader_tick("impostor", "impostor", 5.0, 100, now=T0 + 10)
    assert not st2.leader and st2.due == [] and st2.holder == "leader"


def test_a_claim_reads_the_page_after_the_entry_it_was_given(store: Store) -> None:
    """The read-ahead: entries that follow ``read_after`` in the due index, read before the
    claim (so ``read_after`` may be in the claim itself), as leader_tick reads them."""
    sids = [make_schedule(store, name=f"s{i}") for i in range(5)]
    later = make_schedule(store, cron="* * * * * */30", name="later")  # due at T0 + 30
    ds = BeatStore(store)
    first = ds.leader_tick("tok", "tok", 5.0, 2, now=T0 + 10)
    everything = ds.leader_tick("tok", "tok", 5.0, 100, now=T0 + 10)
    assert len(first.due) == 2 and len(everything.due) == 5 and later not in dict(everything.due)
    claims = plan_claims(first.due, first.timing, first.now, 300.0)
    res = ds.claim("tok", first.fence, 5.0, first.now, claims, call_id(),
                   read_after=first.due[-1], read_limit=2)  # fmt: skip
    assert res.claimed == 2 and res.read
    assert res.due == everything.due[2:4] and res.timing == everything.timing[2:4]
    # The last page stops at the tick's time: the schedule due later is not in it.
    claims = plan_claims(res.due, res.timing, first.now, 300.0)
    res = ds.claim("tok", first.fence, 5.0, first.now, claims, call_id(),
                   read_after=res.due[-1], read_limit=10)  # fmt: skip
    assert res.claimed == 2 and res.read and res.due == everything.due[4:]
    claims = plan_claims(res.due, res.timing, first.now, 300.0)
    assert ds.claim("tok", first.fence, 5.0, first.now, claims, call_id()).claimed == 1
    assert sorted(store.runs.count(s) for s in sids) == [1] * 5


def due_claims(store: Store, n: int, limit: int) -> tuple[BeatStore, TickState, list[DueClaim]]:
    """``n`` schedules due at T0 + 10; a leader's tick reading ``limit`` of them, and their
    claims as planned."""
    for i in range(n):
        make_schedule(store, name=f"s{i}")
    ds = BeatStore(store)
    st = ds.leader_tick("tok", "tok", 5.0, limit, now=T0 + 10)
    return ds, st, plan_claims(st.due, st.timing, st.now, 300.0)


def test_the_read_ahead_is_left_to_the_next_tick_when_its_entry_moved(store: Store) -> None:
    ds, st, claims = due_claims(store, 3, 1)
    store.schedules.pause(st.due[0][0])  # the entry the read-ahead starts after leaves the index
    res = ds.claim("tok", st.fence, 5.0, st.now, claims, call_id(),
                   read_after=st.due[-1], read_limit=5)  # fmt: skip
    assert (res.stale, res.read, res.due) == (1, False, [])
    assert len(ds.leader_tick("tok", "tok", 5.0, 100, now=T0 + 10).due) == 2


def test_a_retried_claim_answers_the_same_and_reads_ahead_again(store: Store) -> None:
    ds, st, claims = due_claims(store, 4, 2)
    again = call_id()
    first = ds.claim("tok", st.fence, 5.0, st.now, claims, again, read_after=st.due[-1],
                     read_limit=5)  # fmt: skip
    # The same call again (its reply lost): the same runs, nothing written twice. Its
    # read-ahead started after an entry the first call claimed: left to the next tick.
    second = ds.claim("tok", st.fence, 5.0, st.now, claims, again, read_after=st.due[-1],
                      read_limit=5)  # fmt: skip
    assert first.read and len(first.due) == 2
    assert second.run_ids == first.run_ids and len(second.run_ids) == 2
    assert (second.read, second.due) == (False, [])
    assert store.redis.zcard(store.keys.pending) == 2


def test_a_retried_claim_gets_its_first_answer_while_the_next_claim_is_done_too(
    store: Store,
) -> None:
    # The tick keeps two claims in flight: a lost reply's retry may come after the next claim.
    a, b = make_schedule(store, name="a"), make_schedule(store, name="b")
    ds = BeatStore(store)
    st = ds.leader_tick("tok", "tok", 5.0, 100, now=T0 + 10)
    claims = {c.schedule_id: c for c in plan_claims(st.due, st.timing, st.now, 300.0)}
    first_id, next_id = call_id(), call_id()
    first = ds.claim("tok", st.fence, 5.0, st.now, [claims[a]], first_id)
    ds.claim("tok", st.fence, 5.0, st.now, [claims[b]], next_id)
    outbox = store.redis.hgetall(store.keys.outbox)
    assert len(outbox) == 2
    again = ds.claim("tok", st.fence, 5.0, st.now, [claims[a]], first_id)
    assert again.run_ids == first.run_ids == [f"{a}-{int(T0) + 10}"]
    assert (again.claimed, again.stale) == (1, 0)
    assert store.redis.hgetall(store.keys.outbox) == outbox and store.runs.count(a) == 1
