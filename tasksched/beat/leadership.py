"""A beat process's leadership: its lease deadline, term, standby, release and the direct path's
check at each new leadership (a mixin of :class:`~tasksched.beat.tick.Ticker`).

The leader keeps a local deadline (``time.monotonic()`` when the last renewal was sent, plus the
lease, minus a margin); past it, it neither claims nor publishes and becomes a standby.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from tasksched.beat.stats import DispatchStats
from tasksched.logs import log_event
from tasksched.store.beat import BeatStore, TickState

if TYPE_CHECKING:
    from tasksched.beat.publishing import RedisListPublisher

logger = logging.getLogger("tasksched.beat")


class Leadership:
    """Lease, term and standby of one beat process (state set by ``Ticker.__init__``)."""

    beat_store: BeatStore
    token: str
    lease_s: float
    is_leader: bool
    fence: int
    stats: DispatchStats
    _margin_s: float
    _deadline: float
    _outbox_dirty: bool
    _clock_ref: tuple[float, float]
    _direct: RedisListPublisher | None
    _direct_checked: bool
    _claimer: ThreadPoolExecutor | None

    @property
    def direct(self) -> bool:
        """True when the claim pushes the task messages itself (the broker is this Redis)."""
        return self._direct is not None and self._direct_checked

    def close(self, timeout_s: float = 1.0) -> None:
        """Give the lease up (if held) so a standby takes over without waiting for the TTL.

        Waits at most ``timeout_s``: when Redis is gone too (a whole stack stopping), the
        client's reconnect retries must not hold the shutdown; the lease then just expires.
        """
        if self._claimer is not None:
            self._claimer.shutdown(wait=False)
            self._claimer = None
        if not self.is_leader:
            return
        self.is_leader = False
        released = threading.Event()

        def release() -> None:
            try:
                self.beat_store.release(self.token)
                released.set()
            except Exception as exc:
                log_event(logger, logging.WARNING, "lease release failed", error=repr(exc))

        threading.Thread(target=release, name="tasksched-beat-release", daemon=True).start()
        if released.wait(timeout_s):
            log_event(logger, logging.INFO, "beat leadership released", event="beat.release")
        else:
            log_event(logger, logging.WARNING, "lease not released; it will expire",
                      event="beat.release", lease_s=self.lease_s)

    def lease_valid(self) -> bool:
        """True while this process may act as leader (local deadline not passed)."""
        return self.is_leader and time.monotonic() < self._deadline

    def _store_now(self) -> float:
        """The store's clock now, from the last reading plus local elapsed time."""
        ref_now, ref_mono = self._clock_ref
        return ref_now + (time.monotonic() - ref_mono)

    def _renewed(self, started_mono: float) -> None:
        self._deadline = started_mono + self.lease_s - self._margin_s

    def _lead(self, st: TickState) -> None:
        self.is_leader = True
        self.fence = st.fence
        self._outbox_dirty = True
        self._check_direct()
        log_event(
            logger,
            logging.INFO,
            "beat leadership acquired",
            event="beat.leader",
            beat_id=self.token,
            fence=st.fence,
            direct=self.direct,
        )

    def _check_direct(self) -> None:
        """At each new leadership: is our hand-built envelope still what kombu pushes?"""
        self._direct_checked = False
        if self._direct is None:
            return
        try:
            diff = self._direct.check_direct(self.beat_store.take_list)
        except Exception as exc:
            diff = f"the check failed: {type(exc).__name__}: {exc}"
        if diff is None:
            self._direct_checked = True
            return
        log_event(
            logger, logging.WARNING, "direct publish path off: publishing through kombu",
            event="beat.direct_off", beat_id=self.token, difference=diff,
        )  # fmt: skip

    def _check_lease(self, when: str) -> bool:
        if self.lease_valid():
            return True
        if self.is_leader:
            self._standby(f"local lease deadline passed {when}")
        return False

    def _standby(self, reason: str, holder: str | None = None) -> None:
        self.is_leader = False
        log_event(
            logger,
            logging.WARNING,
            "beat is standby",
            event="beat.standby",
            beat_id=self.token,
            reason=reason,
            holder=holder,
        )

    def _on_error(self, message: str, exc: BaseException) -> None:
        self.stats.errors += 1
        self._outbox_dirty = True
        if self.is_leader and time.monotonic() >= self._deadline:
            self._standby("lease not renewed in time (error)")
        log_event(
            logger,
            logging.WARNING,
            message,
            event="beat.error",
            beat_id=self.token,
            error=f"{type(exc).__name__}: {exc}",
        )
