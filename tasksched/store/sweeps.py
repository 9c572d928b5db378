"""The sweeps any live worker runs each heartbeat: lost attempts and runs whose message is gone.

* :func:`sweep_lost` - a ``running`` run whose run lock is gone (or another's) was being run by a
  worker that stopped (SIGKILL, OOM, host gone): it is re-queued once (the caller publishes its
  message) or ended ``lost`` (:meth:`RunLifecycle.lost`). The lock is renewed every third of its
  TTL from the claim on, so this finds a dead worker's run within the TTL plus one heartbeat.
* :func:`sweep_pending` - a ``queued`` or ``deferred`` run that no worker took by its pending
  deadline (a cron run: its fire time plus the misfire grace and a margin; a manual run: the
  broker's visibility timeout) had its message lost (a purge, a broker without AOF) or it would
  be refused as too late anyway: it ends ``missed`` with the reason. No run stays non-final.

Both read indexes (``running``, ``pending``), never scan, and change state only through the
lifecycle scripts, so two workers sweeping at once, or a sweep retried after a lost reply, do
each thing once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasksched.errors import NotFoundError, StoreError
from tasksched.models import RunStatus
from tasksched.store.lifecycle import STALE_MARGIN_S, Lost, RunLifecycle

if TYPE_CHECKING:
    from tasksched.store import Store

__all__ = ["Swept", "grace_s", "sweep_lost", "sweep_pending"]

logger = logging.getLogger("tasksched.worker")

_PENDING = (RunStatus.QUEUED.value, RunStatus.DEFERRED.value)


@dataclass(frozen=True)
class Swept:
    """One run a sweep changed: its ids, and for a lost attempt what :meth:`lost` did."""

    run_id: str
    schedule_id: str
    tenant_id: str
    trigger: str
    fire_time: float | None
    lost: Lost | None = None


def grace_s(store: Store, schedule_id: str) -> float:
    """The schedule's misfire grace (the default for a schedule that is gone or has none, or
    whose stored data this process cannot use: a sweep never stops at one schedule)."""
    try:
        g = store.schedules.get(schedule_id).config.misfire_grace_s
    except (NotFoundError, ValueError, KeyError, TypeError):
        return store.settings.beat_default_grace_s
    return store.settings.beat_default_grace_s if g is None else float(g)


def sweep_lost(store: Store, now: float) -> list[Swept]:
    """Re-queue (once) or end as lost every ``running`` run whose lock is gone; what changed."""
    life = RunLifecycle(store)
    entries = life.running_runs()
    if not entries:
        return []
    r, k = store.redis, store.keys
    pipe = r.pipeline(transaction=False)
    for run_id, _ in entries:
        pipe.hmget(k.run(run_id), ["status", "lock_token", "schedule_id", "tenant_id",
                                   "trigger", "fire_time"])
    rows = pipe.execute()
    pipe = r.pipeline(transaction=False)
    for row in rows:
        pipe.get(k.run_lock(row[2] or ""))
    holders = pipe.execute()
    out: list[Swept] = []
    for (run_id, _), row, holder in zip(entries, rows, holders, strict=True):
        status, token, schedule_id, tenant_id, trigger, fire = row
        if status != RunStatus.RUNNING.value or not schedule_id:
            r.zrem(life.running, run_id)  # a stale index entry
            continue
        if holder == token:
            continue
        try:
            lost = life.lost(
                run_id,
                schedule_id,
                token or "",
                "the worker running it stopped (its run lock expired)",
                now + grace_s(store, schedule_id) + STALE_MARGIN_S,
                only_if_lock_gone=True,
            )
        except StoreError:
            raise  # Redis is away: the next heartbeat sweeps again
        except Exception:
            # One run's data must not stop the sweep of the others (every heartbeat).
            logger.exception("sweeping the lost run %s failed", run_id)
            continue
        if lost.result:
            out.append(Swept(run_id, schedule_id, tenant_id or "", trigger or "cron",
                             float(fire) if fire else None, lost))
    return out


def sweep_pending(store: Store, now: float, limit: int = 500) -> list[Swept]:
    """End as ``missed`` the queued/deferred runs past their pending deadline; what changed."""
    life = RunLifecycle(store)
    r, k = store.redis, store.keys
    ids = [str(x) for x in r.zrangebyscore(k.pending, "-inf", now, start=0, num=limit)]
    if not ids:
        return []
    pipe = r.pipeline(transaction=False)
    for run_id in ids:
        pipe.hmget(k.run(run_id), ["status", "schedule_id", "tenant_id", "trigger",
                                   "fire_time", "queued_at"])
        pipe.hexists(k.outbox, run_id)
    res = pipe.execute()
    out: list[Swept] = []
    ended: set[str] = set()
    for i, run_id in enumerate(ids):
        (status, schedule_id, tenant_id, trigger, fire, queued), in_outbox = res[2 * i : 2 * i + 2]
        if status not in _PENDING or not schedule_id:
            r.zrem(k.pending, run_id)  # ended meanwhile, or gone: a stale index entry
            continue
        if in_outbox:
            # Not published yet (no leader, or the broker is down): beat still owns it. Look
            # again later; the worker refuses it as too late if it comes after its grace.
            r.zadd(k.pending, {run_id: now + STALE_MARGIN_S})
            continue
        since = float(queued or fire or now)
        reason = (
            f"not started within {now - since:.0f}s of being queued: its message was lost "
            f"(a purged queue, a broker restart without AOF) or it would come too late; "
            f"ended by the pending sweep ({status})"
        )
        done = life.finish(run_id, schedule_id, "", RunStatus.MISSED, reason, 1, 0.0,
                           decided_by="pending_sweep")
        if done.applied:
            ended.add(schedule_id)
            out.append(Swept(run_id, schedule_id, tenant_id or "", trigger or "cron",
                             float(fire) if fire else None))
    # Beat's claim leaves trimming to the worker's claim of each run: the runs no worker took
    # (all workers down for days) are trimmed here instead.
    if ended:
        trims = r.pipeline(transaction=False)  # one round trip (each trim is idempotent)
        cap = store.settings.run_history_max
        for schedule_id in ended:
            store.scripts.run("trim_runs", [k.runs(schedule_id)], [k.run(""), cap], client=trims)
        trims.execute()
    return out
