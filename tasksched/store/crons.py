"""Every stored cron expression with the engine's reading recorded when it was written.

For ``tasksched doctor`` and the start-up check (:func:`tasksched.cron.compat.meaning_changes`):
two pipelined round trips per 1,000 schedules, reading only ``cron`` and ``cron_reading``.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from tasksched.cron.compat import (
    CronReading,
    MeaningChange,
    StoredCron,
    engine_name,
    meaning_changes,
)
from tasksched.logs import log_event

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


def check_cron_meanings(store: Store, logger: logging.Logger) -> list[MeaningChange]:
    """Log a WARNING for each stored expression the engine now reads differently.

    Run at start-up by the API and beat (in a background thread: it reads every schedule) and
    by ``tasksched doctor``; each line carries both readings. Never raises: a store that cannot
    be read is logged, and the check is simply not done.
    """
    try:
        stored = stored_crons(store)
        findings = meaning_changes(stored)
    except Exception as exc:
        log_event(logger, logging.WARNING, "cron check not done", event="cron.check_failed",
                  error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        return []
    for f in findings:
        log_event(logger, logging.WARNING, f"cron meaning changed: {f.line()}",
                  event="cron.meaning_changed", **f.as_dict())  # fmt: skip
    log_event(logger, logging.INFO if not findings else logging.WARNING,
              "cron check done", event="cron.check", engine=engine_name(),
              schedules=len(stored), findings=len(findings))  # fmt: skip
    return findings


def check_in_background(store: Store, logger: logging.Logger) -> threading.Thread:
    """:func:`check_cron_meanings` in a daemon thread, so start-up does not wait for it."""
    thread = threading.Thread(
        target=check_cron_meanings, args=(store, logger), name="tasksched-cron-check", daemon=True
    )
    thread.start()
    return thread
