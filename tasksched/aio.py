"""AsyncSchedulerManager: the same methods as :class:`SchedulerManager`, as coroutines.

For asyncio applications. Each method runs the synchronous manager's method in a worker thread
(``asyncio.to_thread``), so the event loop never waits on Redis or on the broker, and there is
one implementation of every rule (validation, Lua scripts, encryption, publishing).

Why threads and not ``redis.asyncio``: a run is published through Celery's publisher (kombu),
which is synchronous, and the store's writes are Lua scripts with encryption around them; an
asyncio copy of the store would be a second implementation to keep in step with the first.
redis-py's client is thread-safe and pools its connections, so concurrent calls share them.

``running``, ``schedules`` and ``running_tasks`` stay attributes (one short Redis read in the
calling thread), as in the seed's System Status snippet.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tasksched.compat import ResourceMonitor, warn_seed_keywords
from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tasksched.store import ScheduleRecord, Store

__all__ = ["AsyncResourceMonitor", "AsyncSchedulerManager"]



def _async_methods() -> tuple[str, ...]:
    """Every public method of SchedulerManager (not its properties or static helpers)."""
    names = []
    for name in dir(SchedulerManager):
        attr = inspect.getattr_static(SchedulerManager, name)
        if name.startswith("_") or isinstance(attr, staticmethod | classmethod | property):
            continue
        if callable(attr):
            names.append(name)
    return tuple(names)


# Awaitable here under the same name; derived, so a method added there is here too.
ASYNC_METHODS = _async_methods()


def _offload(name: str) -> Callable[..., Awaitable[Any]]:
    sync = getattr(SchedulerManager, name)

    @functools.wraps(sync)
    async def method(self: AsyncSchedulerManager, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.sync, name), *args, **kwargs)

    return method


class AsyncResourceMonitor:
    """``await get_current_usage()`` without blocking the loop (see :class:`ResourceMonitor`)."""

    def __init__(self, monitor: ResourceMonitor):
        self.monitor = monitor

    async def get_current_usage(self) -> dict[str, Any]:
        """This host's ``memory_mb``, ``memory_percent``, ``cpu_percent`` and the workers'."""
        return dict(await asyncio.to_thread(self.monitor.get_current_usage))


class AsyncSchedulerManager:
    """``await m.create_training_schedule(...)``, ``await m.start_scheduler()``, ... .

    Takes the same arguments as :class:`SchedulerManager` (or ``manager=`` to wrap one);
    ``m.sync`` is the synchronous manager underneath.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        settings: Settings | None = None,
        store: Store | None = None,
        redis_retries: int | None = None,
        broker_url: str | None = None,
        celery_app: Any = None,
        autonomous_learner: Any = None,
        memory_service: Any = None,
        manager: SchedulerManager | None = None,
    ):
        warn_seed_keywords(
            {"autonomous_learner": autonomous_learner, "memory_service": memory_service}
        )
        self.sync = manager or SchedulerManager(
            redis_url=redis_url, settings=settings, store=store, redis_retries=redis_retries,
            broker_url=broker_url, celery_app=celery_app,
        )  # fmt: skip
        self.store = self.sync.store
        self.resource_monitor = AsyncResourceMonitor(self.sync.resource_monitor)

    if TYPE_CHECKING:  # the methods of ASYNC_METHODS, attached below

        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]: ...

    @property
    def running(self) -> bool:
        """True while dispatching is on (cluster-wide, read from Redis)."""
        return self.sync.running

    @property
    def schedules(self) -> dict[str, ScheduleRecord]:
        """Every schedule by id (read from Redis)."""
        return self.sync.schedules

    @property
    def running_tasks(self) -> dict[str, dict[str, Any]]:
        """The runs now training on any worker, by run id."""
        return self.sync.running_tasks

    @staticmethod
    def preview_cron(*args: Any, **kwargs: Any) -> dict[str, Any]:
        """Pure computation, no I/O: see :meth:`SchedulerManager.preview_cron`."""
        return SchedulerManager.preview_cron(*args, **kwargs)

    async def close(self) -> None:
        """Close the Redis connections."""
        await asyncio.to_thread(self.store.close)

    async def __aenter__(self) -> AsyncSchedulerManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


for _name in ASYNC_METHODS:
    setattr(AsyncSchedulerManager, _name, _offload(_name))
