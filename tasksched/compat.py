"""The seed's API shapes on top of the distributed design (mixed into :class:`SchedulerManager`).

Users arrive with the single-process scheduler's guide. What it shows works here as written:

* ``await scheduler.start_scheduler()``, ``await resource_monitor.get_current_usage()``:
  these return an :class:`AwaitableDict`, a plain dict that may also be awaited (the work is
  done when the method is called: one Redis round trip; awaiting it only hands the dict back).
  For a face that never blocks an event loop use :class:`tasksched.AsyncSchedulerManager`.
* ``scheduler.running``, ``scheduler.schedules``, ``scheduler.running_tasks``: cluster-wide,
  read from Redis at each access (not a copy held by this process).
* ``update_schedule(sid, consecutive_failures=0)`` and :meth:`SeedFaces.reset_failures`.
* ``trigger_learning_cycle(tenant_id, force_training=True)``: a forced run of the tenant's
  schedule (the seed asked its learner object; here learners run on the workers).
* ``SchedulerManager(autonomous_learner=..., memory_service=...)``: accepted with a
  :class:`SeedCompatibilityWarning` that says what replaces them.
"""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from tasksched.errors import NotFoundError, ValidationError
from tasksched.resources import HostMonitor, cpu_percent_now, memory_mb, process_rss_mb

if TYPE_CHECKING:
    from tasksched.runs import RunHandle
    from tasksched.store import ScheduleRecord, Store

__all__ = ["AwaitableDict", "ResourceMonitor", "SeedCompatibilityWarning", "SeedFaces"]

SEED_KEYWORDS: dict[str, str] = {
    "autonomous_learner": (
        "learners run on the training workers, not in this process: register the learner "
        "with the workers (see docs/learners.md) and name it in the schedule's "
        "AutonomousConfig(learner=...); trigger runs with "
        "SchedulerManager.trigger_learning_cycle(tenant_id, force_training=True)"
    ),
    "memory_service": (
        "notifications of the 'memory' channel go to each tenant's feed in Redis: read it "
        "with SchedulerManager.get_notifications(tenant_id) (or GET /api/scheduler/notifications)"
    ),
}


class SeedCompatibilityWarning(UserWarning):
    """Warned when a keyword of the single-process scheduler is given that has no role here."""


def warn_seed_keywords(given: dict[str, Any], stacklevel: int = 3) -> None:
    """One warning per seed keyword that was given a value, naming its replacement."""
    for name, instead in SEED_KEYWORDS.items():
        if given.get(name) is not None:
            warnings.warn(
                f"SchedulerManager({name}=...) is ignored in tasksched: {instead}",
                SeedCompatibilityWarning,
                stacklevel=stacklevel,
            )


class AwaitableDict(dict[str, Any]):
    """A dict that may also be awaited, giving itself: ``d = f()`` and ``d = await f()`` work."""

    def __await__(self) -> Generator[Any, None, AwaitableDict]:
        return self
        yield  # a generator: awaiting it finishes at once with the dict


class ResourceMonitor:
    """``get_current_usage()``: this host's memory and CPU, and each worker's latest readings."""

    def __init__(self, store: Store, worker_stale_s: float = 30.0):
        self.store = store
        self.worker_stale_s = worker_stale_s

    def get_current_usage(self) -> AwaitableDict:
        """``memory_mb`` (used), ``memory_percent``, ``cpu_percent`` of this host, plus workers.

        ``workers`` maps each worker (node name) to its last heartbeat's readings with the same
        three keys, ``age_s`` and ``online`` (heartbeat younger than ``worker_stale_s``). The
        limits a run is checked against are the worker's, on the host that would run it.
        """
        available, total = memory_mb()
        used = total - available
        monitor = HostMonitor.get()
        cpu = monitor.cpu_percent
        if cpu is None:  # the background sampler has no value yet: take one short sample
            cpu = cpu_percent_now(0.1)
        now = self.store.time()
        workers: dict[str, Any] = {}
        for node, reading in sorted(self.store.control.workers().items()):
            if not isinstance(reading, dict):
                continue
            w_total = float(reading.get("memory_total_mb") or 0.0)
            w_used = w_total - float(reading.get("memory_available_mb") or 0.0)
            ts = reading.get("ts")
            age_s = now - float(ts) if isinstance(ts, int | float) else None
            workers[node] = {
                "hostname": reading.get("hostname"),
                "memory_mb": round(w_used, 1),
                "memory_percent": round(100.0 * w_used / w_total, 1) if w_total else None,
                "cpu_percent": reading.get("cpu_percent"),
                "active_runs": reading.get("active_runs", []),
                "age_s": round(age_s, 3) if age_s is not None else None,
                "online": age_s is not None and age_s <= self.worker_stale_s,
            }
        return AwaitableDict(
            host=socket.gethostname(),
            memory_mb=round(used, 1),
            memory_percent=round(100.0 * used / total, 1) if total else 0.0,
            memory_total_mb=round(total, 1),
            cpu_percent=round(float(cpu), 1),
            process_memory_mb=round(process_rss_mb(), 1),
            workers=workers,
            time=time.time(),
        )


class SeedFaces:
    """The seed's attributes and recovery calls; needs ``self.store`` and the manager's methods."""

    store: Store

    if TYPE_CHECKING:

        def _get(self, schedule_id: str, tenant_id: str | None = None) -> ScheduleRecord: ...

        def trigger_training(
            self, tenant_id: str, schedule_id: str, force: bool = False
        ) -> RunHandle: ...

    # ---- System Status --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while dispatching is on (the cluster's global switch, read from Redis)."""
        return bool(self.store.control.state()["enabled"])

    @property
    def schedules(self) -> dict[str, ScheduleRecord]:
        """Every schedule in Redis by id; each has ``.status`` (a ScheduleStatus), ``.name``, ..."""
        return {r.id: r for r in self.store.schedules.list()}

    @property
    def running_tasks(self) -> dict[str, dict[str, Any]]:
        """The runs now training on any worker, by run id (their run records)."""
        from tasksched.store.lifecycle import RunLifecycle

        out: dict[str, dict[str, Any]] = {}
        for run_id, _started in RunLifecycle(self.store).running_runs():
            try:
                out[run_id] = self.store.runs.get(run_id)
            except NotFoundError:  # finished and trimmed since the index was read
                continue
        return out

    # ---- Manual recovery ------------------------------------------------------------------
    def reset_failures(
        self, schedule_id: str, tenant_id: str | None = None, by: str = "api"
    ) -> dict[str, Any]:
        """Reset the failure streak to 0 and end the cooldown; recorded in the history.

        Returns the schedule's new status. The history entry (``get_schedule_history``)
        keeps the streak and the cooldown end it replaced.
        """
        self._get(schedule_id, tenant_id)
        self.store.schedules.reset_failures(schedule_id, by=by)
        return self._get(schedule_id, tenant_id).status_dict()

    def get_schedule_history(
        self, schedule_id: str, limit: int = 50, tenant_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Operator actions on the schedule (such as failure resets), newest first."""
        if not 1 <= limit <= 100:
            raise ValidationError("limit", "must be between 1 and 100")
        self._get(schedule_id, tenant_id)
        return self.store.schedules.history(schedule_id, limit)

    def trigger_learning_cycle(
        self, tenant_id: str, force_training: bool = True, schedule_id: str | None = None
    ) -> RunHandle:
        """Run the tenant's schedule now (forced by default); returns the run's handle.

        Without ``schedule_id`` the tenant must have exactly one schedule. ``await`` the
        handle (or call ``.wait()``) for the finished run record.
        """
        if schedule_id is None:
            mine = self.store.schedules.list(tenant_id)
            if not mine:
                raise ValidationError("tenant_id", f"tenant {tenant_id!r} has no schedule")
            if len(mine) > 1:
                ids = ", ".join(f"{r.id} ({r.name})" for r in mine[:5])
                raise ValidationError(
                    "schedule_id",
                    f"tenant {tenant_id!r} has {len(mine)} schedules ({ids}"
                    f"{', ...' if len(mine) > 5 else ''}): name one with schedule_id=",
                )
            schedule_id = mine[0].id
        return self.trigger_training(tenant_id, schedule_id, force=force_training)
