"""Every stored cron expression with the engine's reading recorded when it was written.

For ``tasksched doctor`` and the start-up check (:func:`tasksched.cron.compat.meaning_changes`):
streamed, a pipeline per 1,000 schedules, reading only ``cron`` and ``cron_reading``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
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


def stored_crons(store: Store) -> Iterator[StoredCron]:
    """Each schedule's id, expression and recorded reading (None if written before readings).

    A stream, read ``CHUNK`` schedules at a time (SSCAN per tenant, then one pipeline of HMGETs):
    memory stays flat whatever the number of schedules.
    """
    r, k = store.redis, store.keys
    for tenant in r.sscan_iter(k.tenants, count=CHUNK):
        ids: list[str] = []
        for sid in r.sscan_iter(k.tenant(tenant), count=CHUNK):
            ids.append(sid)
            if len(ids) >= CHUNK:
                yield from _read_chunk(store, ids)
                ids = []
        if ids:
            yield from _read_chunk(store, ids)


def _read_chunk(store: Store, ids: list[str]) -> Iterator[StoredCron]:
    pipe = store.redis.pipeline(transaction=False)
    for sid in ids:
        pipe.hmget(store.keys.schedule(sid), "cron", "cron_reading")
    for sid, (cron, reading) in zip(ids, pipe.execute(), strict=True):
        if cron:
            yield StoredCron(sid, cron, CronReading.from_text(reading))


@dataclass
class CronScan:
    """What one pass over every stored expression found."""

    schedules: int = 0
    without_reading: int = 0
    findings: list[MeaningChange] = field(default_factory=list)


def scan_cron_meanings(store: Store) -> CronScan:
    """Count every stored expression and keep only the changed meanings (flat memory)."""
    scan = CronScan()

    def counted() -> Iterator[StoredCron]:
        for s in stored_crons(store):
            scan.schedules += 1
            scan.without_reading += s.reading is None
            yield s

    scan.findings = sorted(meaning_changes(counted()), key=lambda f: f.schedule_id)
    return scan


def check_cron_meanings(store: Store, logger: logging.Logger) -> list[MeaningChange]:
    """Log a WARNING for each stored expression the engine now reads differently.

    Run at start-up by the API and beat (in a background thread: it reads every schedule) and
    by ``tasksched doctor``; each line carries both readings. Never raises: a store that cannot
    be read is logged, and the check is simply not done.
    """
    try:
        scan = scan_cron_meanings(store)
    except Exception as exc:
        log_event(logger, logging.WARNING, "cron check not done", event="cron.check_failed",
                  error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        return []
    findings = scan.findings
    for f in findings:
        log_event(logger, logging.WARNING, f"cron meaning changed: {f.line()}",
                  event="cron.meaning_changed", **f.as_dict())  # fmt: skip
    log_event(logger, logging.INFO if not findings else logging.WARNING,
              "cron check done", event="cron.check", engine=engine_name(),
              schedules=scan.schedules, findings=len(findings))  # fmt: skip
    return findings


def check_in_background(store: Store, logger: logging.Logger) -> threading.Thread:
    """:func:`check_cron_meanings` in a daemon thread, so start-up does not wait for it."""
    thread = threading.Thread(
        target=check_cron_meanings, args=(store, logger), name="tasksched-cron-check", daemon=True
    )
    thread.start()
    return thread
