"""A run seen from outside the worker: :class:`RunHandle` reads its record and waits for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from tasksched.models import RunStatus

if TYPE_CHECKING:
    from tasksched.store import Store

__all__ = ["RunHandle"]


class RunHandle:
    """A queued run: ``run_id``, :meth:`record`, :meth:`wait` (polls the store).

    ``await handle`` waits in a thread (the event loop keeps running) and gives the finished
    record, as ``wait()`` with its default timeout does.
    """

    def __init__(self, store: Store, run_id: str, schedule_id: str, tenant_id: str):
        self.store = store
        self.run_id = run_id
        self.schedule_id = schedule_id
        self.tenant_id = tenant_id

    def __repr__(self) -> str:
        return f"RunHandle(run_id={self.run_id!r}, schedule_id={self.schedule_id!r})"

    def record(self) -> dict[str, Any]:
        """The run record as it is now (JSON-ready dict)."""
        return self.store.runs.get(self.run_id)

    @property
    def status(self) -> RunStatus:
        """The run's current status."""
        return RunStatus(self.record()["status"])

    def wait(self, timeout_s: float = 600.0, interval_s: float = 0.2) -> dict[str, Any]:
        """Poll until the run is terminal and return its record (TimeoutError on timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            rec = self.record()
            if RunStatus(rec["status"]).terminal:
                return rec
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"run {self.run_id} still {rec['status']} after {timeout_s:g}s"
                )
            time.sleep(interval_s)

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        return asyncio.to_thread(self.wait).__await__()
