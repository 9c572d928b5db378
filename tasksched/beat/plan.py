"""What a tick claims for each due entry: the misfire plan turned into runs and missed fires.

Pure apart from logging: :func:`plan_claims` takes the due entries with their timing fields and
the store's time, and returns one :class:`~tasksched.store.beat.DueClaim` per entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tasksched.cron import MisfirePolicy, jitter_offset_s, plan_due
from tasksched.errors import TaskschedError
from tasksched.logs import log_event
from tasksched.models import RunTrigger
from tasksched.store import cron_run_id
from tasksched.store.beat import DueClaim
from tasksched.store.lifecycle import STALE_MARGIN_S

logger = logging.getLogger("tasksched.beat")

# Fires examined per schedule per claim; older ones are left due for the next batch.
MAX_FIRES_PER_CLAIM = 100
# A schedule whose stored cron cannot be read is looked at again after this long.
PARK_S = 300.0

_CRON, _CATCHUP = RunTrigger.CRON.value, RunTrigger.CATCHUP.value


def plan_claims(
    due: Sequence[tuple[str, float]],
    rows: Sequence[Sequence[str | None]],
    now: float,
    default_grace_s: float,
    max_fires: int = MAX_FIRES_PER_CLAIM,
    deadline: float | None = None,
) -> list[DueClaim]:
    """Decide, for each due entry and its timing fields, what the claim writes (pure).

    With ``deadline`` (a ``time.monotonic()`` value) planning stops once it has passed, after
    at least one entry: the claims are for a prefix of ``due``; the rest stay due, for the next
    slice. So no entry, however costly its cron, holds a claim (and the lease renewal it
    carries) for long.
    """
    claims: list[DueClaim] = []
    # Schedules sharing their timing (cron, zone, policy, jitter offset, due score) share their
    # plan: 100,000 schedules due at the same second on one cron are planned once, and each
    # entry costs a dictionary lookup and its run ids.
    plans: dict[tuple[str | float | None, ...], _Plan] = {}
    for (sid, score), row in zip(due, rows, strict=True):
        if deadline is not None and claims and time.monotonic() > deadline:
            break
        cron, tz, jitter, misfire, version, tenant, status, *more = row
        if cron is None or status != "active" or not tenant:
            # Deleted or paused meanwhile: the claim drops it unless it changed again.
            claims.append(DueClaim(sid, score, version or "", None))
            continue
        offset = jitter_offset_s(sid, float(jitter)) if jitter else 0.0
        dst = (more[0] if more else None) or ""  # "" (or absent): the documented DST rule
        key = (cron, tz, misfire, dst, score, offset)
        planned = plans.get(key)
        if planned is None:
            try:
                planned = _plan(cron, tz, misfire, dst, score, offset, now, default_grace_s,
                                max_fires)  # fmt: skip
            except (TaskschedError, ValueError) as exc:
                log_event(
                    logger,
                    logging.ERROR,
                    "unreadable schedule timing; parked",
                    event="beat.park",
                    schedule_id=sid,
                    tenant_id=tenant,
                    error=str(exc),
                )
                claims.append(DueClaim(sid, score, version or "", now + PARK_S, tenant))
                continue
            plans[key] = planned
        claim = DueClaim(sid, score, version or "", planned.next_fire, tenant)
        runs, kwargs = claim.runs, claim.kwargs
        for suffix, fire, trigger, stale_at, expires in planned.runs:
            run_id = sid + suffix
            runs.append((run_id, fire, trigger, stale_at))
            kwargs.append({
                "tenant_id": tenant,
                "schedule_id": sid,
                "run_id": run_id,
                "fire_time": fire,
                "trigger": trigger,
                "expires": expires,
            })  # fmt: skip
        for suffix, fire, reason in planned.missed:
            claim.missed.append((sid + suffix, fire, reason))
        claims.append(claim)
    return claims


@dataclass(frozen=True)
class _Plan:
    """One misfire plan, shared by the entries with the same timing: run ids as suffixes to
    the schedule id (``cron_run_id`` of an empty id)."""

    next_fire: float
    # (run id suffix, fire time, trigger, stale after, message expires)
    runs: list[tuple[str, float, str, float, float]]
    missed: list[tuple[str, float, str]]  # (run id suffix, fire time, reason)


def _plan(
    cron: str,
    tz: str | None,
    misfire: str | None,
    dst: str,
    score: float,
    offset: float,
    now: float,
    default_grace_s: float,
    max_fires: int,
) -> _Plan:
    policy, _, grace = (misfire or "").partition(":")
    grace_s = float(grace) if grace else default_grace_s
    plan = plan_due(
        cron,
        tz or "UTC",
        score,
        now,
        policy or MisfirePolicy.RUN_ONCE,
        grace_s,
        offset,
        max_fires=max_fires,
        dst=dst,
    )
    runs = []
    for fire in plan.run:
        trigger = _CATCHUP if now - fire > grace_s else _CRON
        # A worker refuses it as too late after this (run_claim.lua counts a catch-up from
        # now, when it is queued); its message expires one margin later still.
        stale_at = (now if trigger == _CATCHUP else fire) + grace_s + STALE_MARGIN_S
        runs.append((cron_run_id("", fire - offset), fire, trigger, stale_at,
                     stale_at + STALE_MARGIN_S))  # fmt: skip
    missed = [(cron_run_id("", fire - offset), fire, reason) for fire, reason in plan.missed]
    return _Plan(plan.next_fire, runs, missed)


def bounded(claims: Sequence[DueClaim], max_records: int) -> list[list[DueClaim]]:
    """Split ``claims`` into chunks writing at most ``max_records`` run records each (a single
    entry with more fires than that is a chunk of its own)."""
    chunks: list[list[DueClaim]] = []
    current: list[DueClaim] = []
    size = 0
    for c in claims:
        n = len(c.runs) + len(c.missed)
        if current and size + n > max_records:
            chunks.append(current)
            current, size = [], 0
        current.append(c)
        size += n
    if current:
        chunks.append(current)
    return chunks
