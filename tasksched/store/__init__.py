"""The only package that talks to Redis: keys, schedules, runs, locks, scripts.

``Store`` bundles a client, the key names, the secret box and the settings; its parts
(:attr:`Store.schedules`, :attr:`Store.runs`, :attr:`Store.control`) share them.
"""

from __future__ import annotations

from functools import cached_property

import redis

from tasksched.settings import Settings, get_settings
from tasksched.store.client import connect
from tasksched.store.control import ControlStore
from tasksched.store.keys import Keys
from tasksched.store.records import ScheduleRecord
from tasksched.store.runs import RunStore, cron_run_id, manual_run_id
from tasksched.store.schedules import ScheduleStore
from tasksched.store.scripts import Scripts
from tasksched.store.secrets import SecretBox

__all__ = [
    "Keys",
    "ScheduleRecord",
    "Store",
    "connect",
    "cron_run_id",
    "manual_run_id",
]


class Store:
    """One deployment's Redis store: ``settings.redis_url`` (or ``redis_client``)."""

    def __init__(
        self,
        redis_client: redis.Redis | None = None,
        settings: Settings | None = None,
        redis_retries: int | None = None,
    ):
        self.settings = settings or get_settings()
        url = self.settings.redis_url
        master = self.settings.sentinel_master
        self.redis: redis.Redis = redis_client or (
            connect(url, master_name=master)
            if redis_retries is None
            else connect(url, redis_retries, master_name=master)
        )
        self.keys = Keys(self.settings.key_prefix)
        self.box = SecretBox(self.settings.secret_key, self.settings.secret_key_previous)
        self.scripts = Scripts(self.redis)

    @cached_property
    def schedules(self) -> ScheduleStore:
        """Schedules."""
        return ScheduleStore(self)

    @cached_property
    def runs(self) -> RunStore:
        """Run records."""
        return RunStore(self)

    @cached_property
    def control(self) -> ControlStore:
        """The global switch, beat health and worker heartbeats."""
        return ControlStore(self)

    def time(self) -> float:
        """Redis's clock (``TIME``) in epoch seconds: the one clock all hosts agree on."""
        sec, usec = self.redis.time()
        return float(sec) + float(usec) / 1e6

    def ping(self) -> bool:
        """True when Redis answers (raises StoreUnavailableError when it cannot be reached)."""
        return bool(self.redis.ping())

    def close(self) -> None:
        """Close this store's connections (they reopen on the next command)."""
        self.redis.close()
