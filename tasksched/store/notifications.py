"""Notification state in Redis: event payloads, delivery state, the feed, dead letters.

* An event's payload is stored once (``Keys.notify_payload(event_id)``, JSON, with a TTL) and
  read by every channel's subtask, so task arguments carry ids only.
* An ad-hoc config for a test send is kept encrypted (``SecretBox``) beside it, with a TTL.
* Per event, a hash records each channel's outcome (``<event_id>:state``): a redelivered task
  whose channel already succeeded does not send twice, and a test send reads its results there.
* The feed (``Keys.feed(tenant)``) and the dead letters (``Keys.dead_letters``) are lists,
  newest first, capped by ``feed_max`` and ``dead_letter_max``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tasksched.errors import ValidationError

if TYPE_CHECKING:
    from tasksched.store import Store

# Metrics counter names (fields of ``Keys.metrics``).
QUEUED = "notifications_queued"
SENT = "notifications_sent"
RETRIED = "notifications_retried"
FAILED = "notifications_failed"
DEAD = "notifications_dead"
EMIT_ERRORS = "notifications_emit_errors"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _page(offset: int, limit: int) -> None:
    if offset < 0:
        raise ValidationError("offset", "must be >= 0")
    if not 1 <= limit <= 1000:
        raise ValidationError("limit", "must be between 1 and 1000")


class NotificationStore:
    """Payloads, delivery state, per-tenant feeds and dead letters."""

    def __init__(self, store: Store):
        self._s = store
        self._r = store.redis
        self._k = store.keys

    # ---- payloads -------------------------------------------------------------------------
    def payload_ttl_s(self) -> int:
        """How long a payload outlives its event: every retry fits, with a day to spare."""
        st = self._s.settings
        return int(86400 + (st.notify_max_retries + 1) * st.notify_backoff_max_s)

    def save_payload(
        self, event_id: str, payload: dict[str, Any], ttl_s: int | None = None, pipe: Any = None
    ) -> None:
        """Store an event's payload (JSON) for its subtasks to read."""
        client = pipe if pipe is not None else self._r
        client.set(
            self._k.notify_payload(event_id), _dumps(payload), ex=ttl_s or self.payload_ttl_s()
        )

    def load_payload(self, event_id: str) -> dict[str, Any] | None:
        """An event's payload, or None once it expired."""
        raw = self._r.get(self._k.notify_payload(event_id))
        return json.loads(raw) if raw else None

    def save_adhoc_config(self, event_id: str, config: dict[str, Any], ttl_s: int) -> None:
        """Keep a test send's config (secrets included) encrypted, for its subtasks only."""
        token = self._s.box.encrypt(config)
        self._r.set(self._k.notify_payload(f"{event_id}:config"), token, ex=ttl_s)

    def load_adhoc_config(self, event_id: str) -> dict[str, Any] | None:
        """The decrypted ad-hoc config of a test send, or None when absent or expired."""
        token = self._r.get(self._k.notify_payload(f"{event_id}:config"))
        return self._s.box.decrypt(token) if token else None

    # ---- delivery state -------------------------------------------------------------------
    def _state_key(self, event_id: str) -> str:
        return self._k.notify_payload(f"{event_id}:state")

    def set_outcome(self, event_id: str, channel: str, outcome: dict[str, Any]) -> None:
        """Record a channel's outcome for an event (sent, failed, dead, retrying)."""
        key = self._state_key(event_id)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(key, channel, _dumps(outcome))
        pipe.expire(key, self.payload_ttl_s())
        pipe.execute()

    def outcomes(self, event_id: str) -> dict[str, dict[str, Any]]:
        """Every channel's last recorded outcome for an event."""
        raw = self._r.hgetall(self._state_key(event_id))
        return {ch: json.loads(v) for ch, v in raw.items()}

    def already_sent(self, event_id: str, channel: str) -> bool:
        """True when the channel already delivered this event (a redelivered task)."""
        raw = self._r.hget(self._state_key(event_id), channel)
        return bool(raw) and json.loads(raw).get("status") == "sent"

    # ---- feed -----------------------------------------------------------------------------
    def push_feed(self, tenant_id: str, entry: dict[str, Any]) -> int:
        """Add an entry at the head of a tenant's feed, trimmed to ``feed_max``; its length."""
        key = self._k.feed(tenant_id)
        pipe = self._r.pipeline(transaction=True)
        pipe.lpush(key, _dumps(entry))
        pipe.ltrim(key, 0, max(self._s.settings.feed_max, 1) - 1)
        pipe.llen(key)
        return int(pipe.execute()[-1])

    def feed(self, tenant_id: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """A page of a tenant's feed, newest first."""
        _page(offset, limit)
        raw = self._r.lrange(self._k.feed(tenant_id), offset, offset + limit - 1)
        return [json.loads(x) for x in raw]

    # ---- dead letters ---------------------------------------------------------------------
    def add_dead_letter(self, record: dict[str, Any]) -> None:
        """Keep a notification that will not be retried again, newest first, capped."""
        key = self._k.dead_letters
        pipe = self._r.pipeline(transaction=True)
        pipe.lpush(key, _dumps(record))
        pipe.ltrim(key, 0, max(self._s.settings.dead_letter_max, 1) - 1)
        pipe.hincrby(self._k.metrics, DEAD, 1)
        pipe.execute()

    def dead_letters(self, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """A page of dead letters, newest first."""
        _page(offset, limit)
        raw = self._r.lrange(self._k.dead_letters, offset, offset + limit - 1)
        return [json.loads(x) for x in raw]

    # ---- metrics --------------------------------------------------------------------------
    def count(self, name: str, channel: str | None = None, by: int = 1) -> None:
        """Add to a counter in ``Keys.metrics`` (and to its ``<name>:<channel>`` twin)."""
        pipe = self._r.pipeline(transaction=False)
        pipe.hincrby(self._k.metrics, name, by)
        if channel:
            pipe.hincrby(self._k.metrics, f"{name}:{channel}", by)
        pipe.execute()

    def counters(self) -> dict[str, int]:
        """Every notification counter."""
        raw = self._r.hgetall(self._k.metrics)
        return {k: int(v) for k, v in raw.items() if k.startswith("notifications_")}
