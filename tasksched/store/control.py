"""The global start/stop switch and the status readings kept beside it."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasksched.store import Store


class ControlStore:
    """Global switch (``control`` hash), beat health and worker heartbeats."""

    def __init__(self, store: Store):
        self._s = store
        self._r = store.redis
        self._k = store.keys
        self._broker: Any = None

    def set_enabled(self, enabled: bool, now: float | None = None) -> None:
        """Turn dispatching on or off for every beat process."""
        now = time.time() if now is None else now
        self._r.hset(
            self._k.control,
            mapping={"enabled": "1" if enabled else "0", "changed_at": repr(now)},
        )

    def state(self) -> dict[str, Any]:
        """The switch as a dict: enabled and when it last changed."""
        h = self._r.hgetall(self._k.control)
        changed = h.get("changed_at")
        return {
            "enabled": h.get("enabled") != "0",
            "changed_at": float(changed) if changed else None,
        }

    def beat_health(self) -> dict[str, Any]:
        """Beat's own health as the leader last wrote it (leader id, last tick, lag)."""
        h = self._r.hgetall(self._k.beat_health)
        out: dict[str, Any] = dict(h)
        for f in ("last_tick", "lag_s", "lease_s", "dispatched_total"):
            if h.get(f):
                out[f] = float(h[f])
        # Written by beat (tasksched/store/scripts/leader_tick.lua and claim_batch.lua).
        for f in ("missed_total", "dispatch_lag_s"):
            if h.get(f):
                out[f] = float(h[f])
        for f in ("fence", "beats"):
            if h.get(f):
                out[f] = int(h[f])
        out["beats_seen"] = {k[5:]: float(v) for k, v in h.items() if k.startswith("seen:")}
        out["leader"] = self._r.get(self._k.beat_lock)
        return out

    def write_heartbeat(self, node: str, payload: dict[str, Any]) -> None:
        """Record a worker's latest readings (its heartbeat) under its node name."""
        self._r.hset(self._k.workers, node, json.dumps(payload))

    def remove_worker(self, node: str) -> None:
        """Forget a worker (its clean shutdown)."""
        self._r.hdel(self._k.workers, node)

    def workers(self) -> dict[str, Any]:
        """Worker hosts and their last readings (heartbeats written by workers)."""
        return {host: json.loads(v) for host, v in self._r.hgetall(self._k.workers).items()}

    def counters(self) -> dict[str, int]:
        """Global counters (the `metrics` hash): runs by outcome (`runs_<status>`), and more."""
        return {k: int(float(v)) for k, v in self._r.hgetall(self._k.metrics).items()}

    def queue_depths(self) -> dict[str, int | None]:
        """Messages waiting in the training and notification queues (None: not a Redis broker).

        The broker is this store's Redis when ``broker_url`` is empty (Sentinel included);
        another Redis broker (plain, TLS, socket or Sentinel in either form) is read too.
        """
        settings = self._s.settings
        names = (settings.training_queue, settings.notifications_queue)
        url = settings.broker_url
        if not url or url == settings.redis_url:
            client = self._r
        elif url.split("://", 1)[0].lower() in ("redis", "rediss", "unix", "sentinel"):
            if self._broker is None:
                from tasksched.store.client import connect

                self._broker = connect(url, master_name=settings.sentinel_master)
            client = self._broker
        else:
            return dict.fromkeys(names)
        pipe = client.pipeline(transaction=False)
        for name in names:
            # kombu's Redis transport keeps one list per queue and priority step.
            for key in (name, *(f"{name}\x06\x16{p}" for p in (3, 6, 9))):
                pipe.llen(key)
        n = pipe.execute()
        return {name: sum(int(x) for x in n[i * 4 : i * 4 + 4]) for i, name in enumerate(names)}
