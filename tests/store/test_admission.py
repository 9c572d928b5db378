"""The host's admission ledger: entries tied to their run lock, released at the end, and two
processes admitting at once decided one after the other."""

from __future__ import annotations

import threading
import time

import pytest

from tasksched.store import Store
from tasksched.store.admission import AdmissionLedger, Entry


def entry(run_id: str, token: str = "", budget_mb: float = 300, sid: str = "") -> Entry:
    return Entry(run_id, "w@host", budget_mb, 1, token or f"{run_id}|tok",
                 sid or f"s-{run_id}", time.time())  # fmt: skip


def hold(store: Store, e: Entry) -> None:
    """The attempt holds its schedule's run lock (as a claimed run does)."""
    store.redis.set(store.keys.run_lock(e.schedule_id), e.token, px=60_000)


def test_admit_release_and_the_ttl(store: Store) -> None:
    ledger = AdmissionLedger(store, "host-a", 3600)
    first = entry("r1")
    assert ledger.admit(first, lambda live: live == [])
    hold(store, first)
    seen: list[list[str]] = []
    assert not ledger.admit(entry("r2"), lambda live: bool(seen.append([e.run_id for e in live])))
    assert seen == [["r1"]]
    assert [e.run_id for e in ledger.entries()] == ["r1"]  # a refused run writes nothing
    assert 3_500_000 < store.redis.pttl(ledger.key) <= 3_600_000
    ledger.release("r1")
    assert ledger.entries() == []
    assert ledger.key == store.keys.admitted("host-a")


def test_an_entry_whose_run_lock_is_gone_or_another_s_is_dropped(store: Store) -> None:
    ledger = AdmissionLedger(store, "host-a", 3600)
    dead, replaced, alive = entry("dead"), entry("replaced"), entry("alive")
    for e in (dead, replaced, alive):
        assert ledger.admit(e, lambda live: True)
    hold(store, alive)
    store.redis.set(store.keys.run_lock(replaced.schedule_id), "another|attempt")
    # "dead": its process was SIGKILLed and its lock expired; nothing released its entry.
    seen: list[str] = []

    def decide(live: list[Entry]) -> bool:
        seen.extend(e.run_id for e in live)
        return True

    assert ledger.admit(entry("new"), decide)
    assert seen == ["alive"]
    assert sorted(e.run_id for e in ledger.entries()) == ["alive", "new"]


def test_an_unreadable_entry_is_dropped(store: Store) -> None:
    ledger = AdmissionLedger(store, "host-a", 3600)
    store.redis.hset(ledger.key, "junk", "{not json")
    assert ledger.admit(entry("r1"), lambda live: live == [])
    assert [e.run_id for e in ledger.entries()] == ["r1"]


@pytest.mark.integration
def test_two_processes_admitting_at_once_see_each_other(real_store: Store) -> None:
    """Each decides with a pause inside its WATCH (as a pool process measuring memory): the
    one whose hash changed meanwhile decides again and sees the other's entry."""
    ledger = AdmissionLedger(real_store, "host-b", 3600)
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}
    calls: dict[str, int] = {"a": 0, "b": 0}

    def admit(name: str) -> None:
        e = entry(name)
        hold(real_store, e)

        def decide(live: list[Entry]) -> bool:
            calls[name] += 1
            if calls[name] == 1:
                barrier.wait(5)  # both have read the (empty) hash
                time.sleep(0.05)
            return sum(x.budget_mb for x in live) + e.budget_mb <= 500  # a 500 MB cap

        results[name] = ledger.admit(e, decide)

    threads = [threading.Thread(target=admit, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results.values()) == [False, True], results
    assert sorted(calls.values()) == [1, 2]  # the loser decided again, seeing the winner
    winner = next(n for n, ok in results.items() if ok)
    assert [e.run_id for e in ledger.entries()] == [winner]
