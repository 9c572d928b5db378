"""SchedulerManager connecting by itself, with a Redis URL (the real redis-server)."""

from __future__ import annotations

from tasksched import SchedulerManager


def test_connects_with_a_redis_url(redis_url: str) -> None:
    m = SchedulerManager(redis_url=redis_url)
    assert m.store.ping()
