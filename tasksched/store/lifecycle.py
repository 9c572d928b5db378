"""A training run's life in Redis: claim, defer, finish, lost, and the sweeps.

Every transition is one Lua script (``scripts/run_*.lua``), so two deliveries of one run, two
workers racing for one schedule, or a worker that died, never leave a half-written state:

* :meth:`RunLifecycle.claim` - pre-run checks 1 and 2: the run id was not started (its record,
  or its tombstone once the record was trimmed), the message is not older than the misfire
  grace, the per-schedule run lock is free; on success the run is ``running`` and the lock is
  ours. It returns the schedule hash and the switch with it (one round trip).
* :meth:`RunLifecycle.defer` - ``deferred``, lock released, deferral counted.
* :meth:`RunLifecycle.finish` - the outcome, the schedule's counters, cooldown, last result,
  lock released, tombstone written.
* :meth:`RunLifecycle.lost` - an attempt whose worker stopped: re-queued once, then ``lost``;
  never a training failure.

Each script is idempotent: it carries its caller's token (the attempt token, or an id made per
call), and the same token asking again - redis-py retrying a call whose reply was lost - gets
the first answer and changes nothing. That is what makes the client's reconnect-and-retry safe
on this path (see docs/worker.md, "Retries").

Running runs are indexed in the sorted set :attr:`Keys.running` (run id -> start time) and
queued or deferred ones in :attr:`Keys.pending` (run id -> when to give up on its message), so
the sweeps (:mod:`tasksched.store.sweeps`) never scan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasksched.models import RunStatus
from tasksched.store.locks import Lease, new_token
from tasksched.store.records import ScheduleRecord
from tasksched.store.runs import encode_fields

if TYPE_CHECKING:
    from tasksched.store import Store

__all__ = [
    "LOST_RERUNS",
    "STALE_MARGIN_S",
    "Finish",
    "Lost",
    "RunClaim",
    "RunLifecycle",
    "attempt_token",
    "failure_limits",
]

# A cron or catch-up run received later than its misfire grace plus this margin is recorded
# missed, not trained (seconds); its message expires this much later again.
STALE_MARGIN_S = 60.0
# A run whose attempt was lost (its worker died) runs once more; a second loss ends it as lost.
LOST_RERUNS = 1


def call_id() -> str:
    """A unique id for one store call, so that a retried call is recognised as the same one."""
    return os.urandom(8).hex()


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
    """What :meth:`RunLifecycle.claim` found.

    ``code``: claimed|duplicate|stale|done|gone|expired|locked (see ``scripts/run_claim.lua``).
    """

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


@dataclass(frozen=True)
class Lost:
    """What :meth:`RunLifecycle.lost` did: ``result`` 0 not applied, 1 re-queued, 2 ended."""

    result: int
    attempts: int

    @property
    def requeued(self) -> bool:
        """The run is ``queued`` again and needs a message (or its current delivery runs it)."""
        return self.result == 1


class RunLifecycle:
    """Run transitions for one store."""

    def __init__(self, store: Store):
        self.store = store
        self.keys = store.keys
        self.running = store.keys.running
        self._tomb_ms = store.settings.tombstone_ttl_s * 1000

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
                k.pending,
                k.tomb(run_id),
                k.metrics,
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
                self._tomb_ms,
                repr(float(self.store.settings.beat_default_grace_s)),
                repr(STALE_MARGIN_S),
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
        held: bool,
        reason: str,
        countdown_s: float,
        check: str,
        pending_until: float,
        **fields: Any,
    ) -> int | None:
        """Mark the run deferred (lock released if ``held`` by ``token``), setting ``fields`` on
        it in the same script; returns its deferral count, None if not ours. The pending sweep
        ends it at ``pending_until`` if no worker took it by then."""
        args: list[Any] = [
            run_id, token, "1" if held else "0", reason, repr(float(countdown_s)), check,
            repr(float(pending_until)),
        ]
        for name, value in encode_fields(fields).items():
            args.extend((name, value))
        k = self.keys
        n = int(
            self.store.scripts.run(
                "run_defer", [k.run(run_id), k.run_lock(schedule_id), self.running, k.pending],
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
        args: list[Any] = [
            run_id,
            token,
            status.value,
            max(int(max_consecutive_failures), 1),
            repr(float(cooldown_s)),
            reason,
            call_id(),
            self._tomb_ms,
        ]
        for name, value in encode_fields(fields).items():
            args.extend((name, value))
        res = self.store.scripts.run(
            "run_finish",
            self._ending_keys(run_id, schedule_id),
            args,
        )
        return Finish(
            applied=bool(int(res[0])),
            cooldown_entered=bool(int(res[1])),
            consecutive_failures=int(res[2]),
            now=float(res[3]) if res[3] else None,
        )

    def _ending_keys(self, run_id: str, schedule_id: str) -> list[str]:
        """KEYS of the scripts that end an attempt (``run_finish``, ``run_lost``), in order."""
        k = self.keys
        return [
            k.run(run_id), k.schedule(schedule_id), k.run_lock(schedule_id), self.running,
            k.metrics, k.pending, k.tomb(run_id),
        ]  # fmt: skip

    def lost(
        self,
        run_id: str,
        schedule_id: str,
        token: str,
        reason: str,
        pending_until: float,
        only_if_lock_gone: bool,
    ) -> Lost:
        """The attempt holding ``token`` stopped: re-queue the run once, else end it ``lost``
        (see ``scripts/run_lost.lua``). ``only_if_lock_gone``: a sweep's judgement, refused
        while the attempt still holds its lock."""
        res = self.store.scripts.run(
            "run_lost",
            self._ending_keys(run_id, schedule_id),
            [
                run_id,
                token,
                reason,
                call_id(),
                LOST_RERUNS,
                repr(float(pending_until)),
                self._tomb_ms,
                "1" if only_if_lock_gone else "0",
            ],
        )
        return Lost(result=int(res[0]), attempts=int(res[1]))

    def update(self, run_id: str, **fields: Any) -> bool:
        """Set fields on the run record (progress notes while it runs), only while it exists."""
        return self.store.runs.update(run_id, **fields)

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
