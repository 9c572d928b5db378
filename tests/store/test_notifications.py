"""Payloads, delivery state, feeds and dead letters in Redis (fakeredis and redis-server)."""

from __future__ import annotations

import pytest

from tasksched.errors import ValidationError
from tasksched.store import Store
from tasksched.store.notifications import NotificationStore


def test_feed_is_newest_first_capped_and_paged(store: Store) -> None:
    small = Store(redis_client=store.redis, settings=store.settings.replace(feed_max=5))
    notes = NotificationStore(small)
    for i in range(8):
        notes.push_feed("acme", {"n": i})
    notes.push_feed("other", {"n": 100})
    assert len(notes.feed("acme", limit=100)) == 5
    assert [e["n"] for e in notes.feed("acme")] == [7, 6, 5, 4, 3]
    assert [e["n"] for e in notes.feed("acme", limit=2, offset=1)] == [6, 5]
    assert [e["n"] for e in notes.feed("other")] == [100]
    with pytest.raises(ValidationError) as err:
        notes.feed("acme", limit=0)
    assert err.value.field == "limit"
    with pytest.raises(ValidationError):
        notes.feed("acme", offset=-1)


def test_dead_letters_capped_and_counted(store: Store) -> None:
    small = Store(redis_client=store.redis, settings=store.settings.replace(dead_letter_max=3))
    notes = NotificationStore(small)
    for i in range(5):
        notes.add_dead_letter({"event_id": f"e{i}", "error": "boom"})
    assert [d["event_id"] for d in notes.dead_letters()] == ["e4", "e3", "e2"]
    assert notes.counters()["notifications_dead"] == 5


def test_payload_has_a_ttl_covering_every_retry(store: Store) -> None:
    notes = NotificationStore(store)
    notes.save_payload("ev", {"id": "ev", "x": 1})
    assert notes.load_payload("ev") == {"id": "ev", "x": 1}
    ttl = store.redis.ttl(store.keys.notify_payload("ev"))
    st = store.settings
    assert ttl > (st.notify_max_retries + 1) * st.notify_backoff_max_s
    assert notes.load_payload("missing") is None


def test_adhoc_config_is_encrypted_at_rest(store: Store) -> None:
    notes = NotificationStore(store)
    notes.save_adhoc_config("ev", {"email_password": "pw-in-clear-1234"}, ttl_s=60)
    raw = store.redis.get(store.keys.notify_payload("ev:config"))
    assert raw and "pw-in-clear-1234" not in raw
    assert notes.load_adhoc_config("ev") == {"email_password": "pw-in-clear-1234"}
    assert 0 < store.redis.ttl(store.keys.notify_payload("ev:config")) <= 60


def test_outcomes_and_redelivery_guard(store: Store) -> None:
    notes = NotificationStore(store)
    assert not notes.already_sent("ev", "email")
    notes.set_outcome("ev", "email", {"status": "retry"})
    assert not notes.already_sent("ev", "email")
    notes.set_outcome("ev", "email", {"status": "sent"})
    notes.set_outcome("ev", "log", {"status": "dead"})
    assert notes.already_sent("ev", "email") and not notes.already_sent("ev", "log")
    assert set(notes.outcomes("ev")) == {"email", "log"}
