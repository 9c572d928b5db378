"""Every stored cron expression with the engine's reading recorded when it was written.

For ``tasksched doctor`` and the start-up check (:func:`tasksched.cron.compat.meaning_changes`):
two pipelined round trips per 1,000 schedules, reading only ``cron`` and ``cron_reading``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasksched.cron.compat import CronReading, StoredCron

if TYPE_CHECKING:
    from tasksched.store import Store

CHUNK = 1000


def stored_crons(store: Store) -> list[StoredCron]:
    """Each schedule's id, expression and recorded reading (None if written before readings)."""
    r, k = store.redis, store.keys
    tenants = sorted(r.smembers(k.tenants))
    pipe = r.pipeline(transaction=False)
    for t in tenants:
        pipe.smembers(k.tenant(t))
    ids = sorted(sid for members in pipe.execute() for sid in members)
    out: list[StoredCron] = []
    for i in range(0, len(ids), CHUNK):
        part = ids[i : i + CHUNK]
        pipe = r.pipeline(transaction=False)
        for sid in part:
            pipe.hmget(k.schedule(sid), "cron", "cron_reading")
        for sid, (cron, reading) in zip(part, pipe.execute(), strict=True):
            if cron:
                out.append(StoredCron(sid, cron, CronReading.from_text(reading)))
    return out
