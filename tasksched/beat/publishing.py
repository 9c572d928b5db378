"""Publishing claimed runs: the outbox drain, the fenced publish through kombu, and what
reached the broker (counts, lateness, DEBUG lines; a mixin of
:class:`~tasksched.beat.tick.Ticker`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from tasksched.beat.leadership import Leadership
from tasksched.beat.stats import TickSummary
from tasksched.logs import log_event

logger = logging.getLogger("tasksched.beat")

# Runs pushed to the broker per round trip; log lines follow the whole batch.
PUBLISH_CHUNK = 250


class Publisher(Protocol):
    """Publishes training task messages for claimed runs (see :mod:`tasksched.beat.publisher`)."""

    def publish(self, payloads: Sequence[Mapping[str, Any]]) -> int: ...


@runtime_checkable
class RedisListPublisher(Publisher, Protocol):
    """A publisher that can also encode messages for a broker that is the store's Redis."""

    def redis_queue_key(self, store_url: str) -> str | None: ...

    def redis_messages(self, payloads: Sequence[Mapping[str, Any]]) -> list[str]: ...

    def check_direct(self, take_list: Callable[[str], list[str]]) -> str | None: ...


class Publishing(Leadership):
    """Outbox and publish steps of the tick (state set by ``Ticker.__init__``)."""

    publisher: Publisher
    batch_size: int
    direct_queue_key: str | None
    _summary: TickSummary

    def _drain_outbox(self) -> None:
        """Publish what an earlier leader (or an earlier failed publish) left in the outbox."""
        total = 0
        for page in self.beat_store.outbox_entries(self.batch_size):
            if not self._publish([payload for _, payload in page]):
                return
            total += len(page)
        self._outbox_dirty = False
        if total:
            self._summary.drained += total
            log_event(
                logger, logging.INFO, "outbox drained", event="beat.outbox_drained", count=total
            )

    def _publish(self, payloads: list[dict[str, Any]]) -> bool:
        """Publish outbox runs and acknowledge them; False (nothing acknowledged) when the lease
        is in doubt. Fenced: on the direct path the push and the outbox removal are one script
        that checks the lease; through another broker, a fenced check precedes each chunk."""
        if not self._check_lease("before publish"):
            return False
        sent_at: list[float] = []
        for i in range(0, len(payloads), PUBLISH_CHUNK):
            chunk = payloads[i : i + PUBLISH_CHUNK]
            run_ids = [str(p["run_id"]) for p in chunk]
            t0 = time.monotonic()
            if self.direct and self.direct_queue_key is not None:
                assert self._direct is not None
                pushed = self.beat_store.fenced_push(
                    self.token, self.fence, self.lease_s, self.direct_queue_key, run_ids,
                    self._direct.redis_messages(chunk),
                )  # fmt: skip
                if pushed is None:
                    self._standby("lease lost at publish")
                    return False
            else:
                if not self.beat_store.fence_ok(self.token, self.fence, self.lease_s):
                    self._standby("lease lost at publish")
                    return False
                self._renewed(t0)
                if not self._check_lease("before publish"):
                    return False
                self.publisher.publish(chunk)
                self.beat_store.outbox_ack(run_ids)
            self._renewed(t0)
            sent_at.append(self._store_now())
        self._published(payloads, sent_at, PUBLISH_CHUNK)
        return True

    def _published(self, payloads: list[dict[str, Any]], sent_at: list[float], per: int) -> None:
        """Count, measure and (at DEBUG) log runs that reached the broker."""
        self.stats.dispatched += len(payloads)
        debug = logger.isEnabledFor(logging.DEBUG)
        worst = 0.0
        lateness_log = self.stats.lateness_s
        for i, p in enumerate(payloads):
            lateness = sent_at[min(i // per, len(sent_at) - 1)] - float(p["fire_time"])
            worst = max(worst, lateness)
            lateness_log.append(lateness)
            if debug:
                log_event(
                    logger, logging.DEBUG, "run dispatched", event="run.dispatched",
                    correlation_id=p["run_id"], run_id=p["run_id"],
                    schedule_id=p["schedule_id"], tenant_id=p["tenant_id"],
                    trigger=p["trigger"], fire_time=p["fire_time"],
                    lateness_s=round(lateness, 4),
                )  # fmt: skip
        self._summary.dispatched += len(payloads)
        self._summary.worst_lateness_s = max(self._summary.worst_lateness_s, worst)
        self.beat_store.record_dispatch_lag(worst)

    def _log_summary(self, started: float) -> None:
        s = self._summary
        if not s.busy():
            return
        log_event(
            logger, logging.INFO, "beat tick", event="beat.tick", beat_id=self.token,
            dispatched=s.dispatched, missed=s.missed, stale=s.stale, drained=s.drained,
            staged=s.staged, released=s.released,
            claims=s.claims, worst_lateness_s=round(s.worst_lateness_s, 4),
            took_ms=round((time.monotonic() - started) * 1000, 1), direct=self.direct,
        )  # fmt: skip
