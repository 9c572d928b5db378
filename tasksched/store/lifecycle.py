"""A training run's life in Redis: claim, defer, finish, and the sweep for lost runs.

Every transition is one Lua script (``scripts/run_*.lua``), so two deliveries of one run, two
workers racing for one schedule, or a worker that died, never leave a half-written state:

* :meth:`RunLifecycle.claim` - pre-run checks 1 and 2: the run id was not started, the
  per-schedule run lock is free; on success the run is ``running`` and the lock is ours. It
  returns the schedule hash and the switch with it (one round trip).
* :meth:`RunLifecycle.defer` - ``deferred``, lock released, deferral counted.
* :meth:`RunLifecycle.finish` - the outcome, the schedule's counters, cooldown, last result,
  lock released.
* :meth:`RunLifecycle.sweep` - ``running`` runs whose run lock expired (their worker died)
  become ``lost``.

Running runs are indexed in the sorted set :attr:`Keys.running` (run id -> start time), so the
sweep never scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasksched.errors import NotFoundError
from tasksched.models import RunStatus
from tasksched.store.locks import Lease, new_token
from tasksched.store.records import ScheduleRecord
from tasksched.store.runs import encode_fields

if TYPE_CHECKING:
    from tasksched.store import Store

__all__ = ["Finish", "RunClaim", "RunLifecycle", "attempt_token", "failure_limits"]


def attempt_token(run_id: str) -> str:
    """A unique token for one attempt at a run; the run lock holds it (run id readable)."""
    return f"{run_id}|{new_token()}"


def holder_run_id(token: str) -> str | None:
    """The run id inside a lock token made by :func:`attempt_token`."""
    return token.split("|", 1)[0] if token else None


def failure_limits(record: ScheduleRecord | None) -> tuple[int, float]:
    """(max consecutive failures, cooldown seconds) that :meth:`RunLifecycle.finish` applies;
    without a schedule, limits that never start a cooldown."""
    if record is None:
        return 1_000_000, 0.0
    c = record.config.safety_controls
    return c.max_consecutive_failures, c.failure_cooldown_hours * 3600.0


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


@dataclass(frozen=True)
class RunClaim:
    """What :meth:`RunLifecycle.claim` found. ``code``: claimed|duplicate|stale|done|locked."""

    code: str
    now: float
    detail: str
    run: dict[str, str]
    schedule: dict[str, str]
    switch_on: bool


@dataclass(frozen=True)
class Finish:
    """What :meth:`RunLifecycle.finish` did."""

    applied: bool
    cooldown_entered: bool
    consecutive_failures: int
    now: float | None


class RunLifecycle:
    """Run transitions for one store."""

    def __init__(self, store: Store):
        self.store = store
        self.keys = store.keys
        self.running = store.keys.running

    def lease(self, schedule_id: str, token: str) -> Lease:
        """The schedule's run lock as held by ``token``."""
        return Lease(
            self.store, self.keys.run_lock(schedule_id), token, self.store.settings.run_lock_ttl_s
        )

    def claim(
        self,
        run_id: str,
        schedule_id: str,
        tenant_id: str,
        token: str,
        worker: str,
        trigger: str,
        fire_time: float | None,
    ) -> RunClaim:
        """Checks 1 and 2 in one script; see ``scripts/run_claim.lua``."""
        k = self.keys
        ttl_ms = max(int(self.store.settings.run_lock_ttl_s * 1000), 1)
        res = self.store.scripts.run(
            "run_claim",
            [
                k.run(run_id),
                k.runs(schedule_id),
                k.run_lock(schedule_id),
                k.schedule(schedule_id),
                k.control,
                self.running,
            ],
            [
                run_id,
                token,
                ttl_ms,
                worker,
                self.store.settings.run_history_max,
                k.run(""),
                schedule_id,
                tenant_id,
                trigger,
                "" if fire_time is None else repr(float(fire_time)),
            ],
        )
        return RunClaim(
            code=str(res[0]),
            now=float(res[1]),
            detail=str(res[2]),
            run=_pairs(res[3]),
            schedule=_pairs(res[4]),
            switch_on=str(res[5]) != "0",
        )

    def defer(
        self,
        run_id: str,
        schedule_id: str,
        token: str,
        reason: str,
        countdown_s: float,
        check: str,
        **fields: Any,
    ) -> int | None:
        """Mark the run deferred (lock released), setting ``fields`` on it in the same script;
        returns its deferral count, None if not ours."""
        args: list[Any] = [run_id, token, reason, repr(float(countdown_s)), check]
        for name, value in encode_fields(fields).items():
            args.extend((name, value))
        n = int(
            self.store.scripts.run(
                "run_defer",
                [self.keys.run(run_id), self.keys.run_lock(schedule_id), self.running],
                args,
            )
        )
        return None if n < 0 else n

    def finish(
        self,
        run_id: str,
        schedule_id: str,
        token: str,
        status: RunStatus,
        reason: str,
        max_consecutive_failures: int,
        cooldown_s: float,
        **fields: Any,
    ) -> Finish:
        """End the run with ``status``; counters, cooldown and last result change with it."""
        k = self.keys
        args: list[Any] = [
            run_id,
            token,
            status.value,
            max(int(max_consecutive_failures), 1),
            repr(float(cooldown_s)),
            reason,
        ]
        for name, value in encode_fields(fields).items():
            args.extend((name, value))
        res = self.store.scripts.run(
            "run_finish",
            [
                k.run(run_id),
                k.schedule(schedule_id),
                k.run_lock(schedule_id),
                self.running,
                k.metrics,
            ],
            args,
        )
        return Finish(
            applied=bool(int(res[0])),
            cooldown_entered=bool(int(res[1])),
            consecutive_failures=int(res[2]),
            now=float(res[3]) if res[3] else None,
        )

    def update(self, run_id: str, **fields: Any) -> None:
        """Set fields on the run record (progress notes while it runs)."""
        self.store.runs.update(run_id, **fields)

    def running_runs(self) -> list[tuple[str, float]]:
        """(run id, start time) of every run indexed as running."""
        rows = self.store.redis.zrange(self.running, 0, -1, withscores=True)
        return [(str(r), float(s)) for r, s in rows]

    def running_on(self, worker: str) -> list[str]:
        """Ids of the runs indexed as running whose record names ``worker``."""
        ids = [rid for rid, _ in self.running_runs()]
        if not ids:
            return []
        pipe = self.store.redis.pipeline(transaction=False)
        for rid in ids:
            pipe.hget(self.keys.run(rid), "worker")
        return [rid for rid, w in zip(ids, pipe.execute(), strict=True) if w == worker]

    def sweep(self) -> list[str]:
        """Mark ``running`` runs whose run lock is gone (or another's) as ``lost``; their ids."""
        entries = self.running_runs()
        if not entries:
            return []
        r, k = self.store.redis, self.keys
        pipe = r.pipeline(transaction=False)
        for run_id, _ in entries:
            pipe.hmget(k.run(run_id), ["status", "lock_token", "schedule_id"])
        rows = pipe.execute()
        pipe = r.pipeline(transaction=False)
        for _status, _token, schedule_id in rows:
            pipe.get(k.run_lock(schedule_id or ""))
        holders = pipe.execute()
        lost: list[str] = []
        for (run_id, _), row, holder in zip(entries, rows, holders, strict=True):
            status, token, schedule_id = row
            if status != RunStatus.RUNNING.value or not schedule_id:
                r.zrem(self.running, run_id)  # a stale index entry
                continue
            if holder == token:
                continue
            try:
                record: ScheduleRecord | None = self.store.schedules.get(schedule_id)
            except NotFoundError:
                record = None
            max_failures, cooldown_s = failure_limits(record)
            done = self.finish(
                run_id,
                schedule_id,
                token or "",
                RunStatus.LOST,
                "the worker running it stopped (its run lock expired)",
                max_failures,
                cooldown_s,
                stop="lost",
            )
            if done.applied:
                lost.append(run_id)
        return lost
