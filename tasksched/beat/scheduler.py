"""tasksched's Celery beat scheduler: ``celery -A tasksched beat`` (configured by the app).

In a user's own Celery app: ``celery -A theirs beat -S tasksched.beat:RedisScheduler``. Any
number of beat processes may run; the one holding the Redis lease dispatches (see
:mod:`tasksched.beat.tick`), the others wait as standbys. The app's own ``beat_schedule``
entries, if any, are sent by the leader only.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery
from celery.beat import Scheduler

from tasksched.beat.publisher import CeleryPublisher
from tasksched.beat.tick import Ticker
from tasksched.logs import configure_logging, log_event, process_log_level, safe_url
from tasksched.process import sd_notify
from tasksched.settings import Settings, get_settings
from tasksched.store import Store
from tasksched.store.crons import check_in_background

logger = logging.getLogger("tasksched.beat")


class RedisScheduler(Scheduler):  # type: ignore[misc]
    """A Celery beat ``Scheduler`` that dispatches tasksched's schedules from Redis."""

    #: Set by tests or embedding code to use other settings than the environment's.
    settings: Settings | None = None
    max_interval: float  # set by Celery's Scheduler

    def __init__(self, app: Celery, *args: Any, **kwargs: Any):
        self.ticker: Ticker | None = None
        self._alive_at = 0.0  # monotonic time of the last WATCHDOG=1 to systemd
        super().__init__(app, *args, **kwargs)

    def setup_schedule(self) -> None:
        """Connect to the store and build the ticker (not run for lazy instances)."""
        super().setup_schedule()
        settings = self.settings or get_settings()
        # The process's level (celery beat --loglevel), unless TASKSCHED_LOG_LEVEL says.
        configure_logging(process_log_level(settings))
        store = Store(settings=settings)
        publisher = CeleryPublisher(self.app)  # where the app's router sends tasksched.train
        self.ticker = Ticker(store, publisher, settings)
        self.max_interval = min(float(self.max_interval), settings.beat_tick_s)
        log_event(
            logger,
            logging.INFO,
            "beat started",
            event="beat.start",
            beat_id=self.ticker.token,
            redis=safe_url(settings.redis_url),
            queue=settings.training_queue,
            lease_s=settings.beat_lease_s,
        )
        if settings.cron_check_at_start:
            # Stored crons the engine now reads differently, logged with both readings.
            check_in_background(store, logger)
        sd_notify("READY=1")  # Type=notify units (ops/systemd): started

    def install_default_entries(self, data: Any) -> None:
        """Celery's result cleanup entry only when a result backend is configured."""
        if self.app.conf.result_backend:
            super().install_default_entries(data)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One dispatch tick; the app's own beat entries too while this beat leads."""
        if self.ticker is None:
            return float(self.max_interval)
        interval = self.ticker.tick()
        now = time.monotonic()
        if now - self._alive_at >= 1.0:
            # systemd's watchdog (WatchdogSec): the loop ticks. A wedged loop stops this, and
            # systemd restarts the process, as `celery inspect ping` stops answering.
            sd_notify("WATCHDOG=1")
            self._alive_at = now
        if self.ticker.is_leader and self.schedule:
            own = super().tick(*args, **kwargs)
            if own is not None:
                interval = min(interval, float(own))
        return interval

    def close(self) -> None:
        """Release the lease (a standby takes over at once), then Celery's own cleanup."""
        if self.ticker is not None:
            self.ticker.close()
        super().close()

    @property
    def info(self) -> str:
        """Shown in ``celery beat``'s banner."""
        settings = self.settings or get_settings()
        return f"tasksched Redis scheduler: {safe_url(settings.redis_url)}"
