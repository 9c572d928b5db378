"""The worker's heartbeat and sweeps, run by a thread in the worker's main process.

Every ``TASKSCHED_WORKER_HEARTBEAT_S`` the worker writes its readings to ``keys.workers``
(node name -> JSON: ts (Redis time), host, CPU, memory, limits, queues, active runs), then
sweeps (:mod:`tasksched.store.sweeps`): a ``running`` run whose run lock expired (its worker
died) is re-queued and published once more, or ends ``lost``; a ``queued``/``deferred`` run
past its pending deadline (its message was lost) ends ``missed``. A clean shutdown removes the
entry. Started by Celery's ``worker_ready`` signal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any

import psutil
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from tasksched.errors import StoreError
from tasksched.logs import log_event
from tasksched.models import NotificationEvent
from tasksched.resources import HostMonitor, memory_mb
from tasksched.settings import Settings, get_settings
from tasksched.store import Store
from tasksched.store.lifecycle import RunLifecycle
from tasksched.store.sweeps import grace_s, sweep_lost, sweep_pending
from tasksched.tasks.requeue import publish_rerun

__all__ = ["Heartbeat", "heartbeat_payload"]

logger = logging.getLogger("tasksched.worker")


def heartbeat_payload(
    node: str,
    now: float,
    queues: list[str],
    limits: dict[str, float],
    active_runs: list[str],
    cpu_percent: float | None,
) -> dict[str, Any]:
    """A worker's heartbeat: who, when (Redis time), its readings, limits, queues, runs."""
    available, total = memory_mb()
    return {
        "ts": now,
        "node": node,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "cpu_percent": cpu_percent,
        "cpu_count": psutil.cpu_count() or 0,
        "memory_available_mb": round(available, 1),
        "memory_total_mb": round(total, 1),
        "limits": limits,
        "queues": queues,
        "active_runs": active_runs,
    }


class Heartbeat:
    """Publishes one worker's readings and sweeps lost runs until stopped."""

    def __init__(
        self,
        node: str,
        queues: list[str],
        settings: Settings,
        store: Store | None = None,
        app: Any = None,
    ):
        self.node = node
        self.app = app  # the worker's Celery app: a lost run's notifications follow its routes
        self.queues = queues
        self.settings = settings
        self.store = store or Store(settings=settings)
        self.life = RunLifecycle(self.store)
        self.monitor = HostMonitor.get(settings.worker_cpu_sample_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tasksched-heartbeat", daemon=True)

    def start(self) -> None:
        """Beat now, then every interval in the background."""
        self._thread.start()

    def stop(self, remove: bool = True) -> None:
        """Stop beating; remove this worker's entry (a clean shutdown)."""
        self._stop.set()
        self._thread.join(5)
        if remove:
            with contextlib.suppress(StoreError):  # shutting down anyway
                self.store.control.remove_worker(self.node)

    def _active_runs(self) -> list[str]:
        return self.life.running_on(self.node)

    def beat(self) -> dict[str, Any]:
        """Write one heartbeat and sweep once; returns the payload."""
        s = self.settings
        now = self.store.time()
        payload = heartbeat_payload(
            self.node,
            now,
            self.queues,
            {"max_memory_mb": s.worker_max_memory_mb, "max_cpu_percent": s.worker_max_cpu_percent},
            self._active_runs(),
            self.monitor.cpu_percent,
        )
        self.store.control.write_heartbeat(self.node, payload)
        try:
            self._sweep_lost(now)
        except Exception as exc:  # the pending sweep runs all the same
            log_event(logger, logging.WARNING, "lost-run sweep failed", error=str(exc))
        for swept in sweep_pending(self.store, now):
            log_event(
                logger, logging.WARNING, "run missed: its message never came", event="run_missed",
                correlation_id=swept.run_id, run_id=swept.run_id,
                schedule_id=swept.schedule_id, swept_by=self.node,
            )  # fmt: skip
        return payload

    def _sweep_lost(self, now: float) -> None:
        for swept in sweep_lost(self.store, now):
            assert swept.lost is not None
            requeued = swept.lost.requeued
            if requeued:
                try:
                    publish_rerun(self.store, swept.run_id, swept.schedule_id, swept.tenant_id,
                                  swept.trigger, swept.fire_time,
                                  grace_s(self.store, swept.schedule_id), self.app)  # fmt: skip
                except Exception as exc:  # the others are published all the same; this
                    # one's pending deadline ends it missed if no message ever comes
                    log_event(logger, logging.ERROR, "re-publishing a lost run failed",
                              run_id=swept.run_id, error=str(exc))  # fmt: skip
            log_event(
                logger, logging.WARNING,
                "run lost: its worker stopped; " + ("re-queued" if requeued else "ended lost"),
                event="run_lost", correlation_id=swept.run_id, run_id=swept.run_id,
                schedule_id=swept.schedule_id, requeued=requeued, swept_by=self.node,
            )  # fmt: skip
            if not requeued:
                _notify_lost(self.store, swept.run_id, self.app)

    def _loop(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:
                log_event(logger, logging.WARNING, "heartbeat failed", error=str(exc))
            if self._stop.wait(self.settings.worker_heartbeat_s):
                return


def _notify_lost(store: Store, run_id: str, app: Any = None) -> None:
    try:
        from tasksched.tasks.notify import emit_event

        run = store.runs.get(run_id)
        record = store.schedules.get(str(run["schedule_id"]))
        emit_event(store, NotificationEvent.RUN_LOST, record, run, app=app)
    except Exception:
        logger.exception("notification for a lost run failed")


_CURRENT: Heartbeat | None = None


@worker_ready.connect  # type: ignore[untyped-decorator,misc]
def _on_ready(sender: Any = None, **_: Any) -> None:
    global _CURRENT
    settings = get_settings()
    node = str(getattr(sender, "hostname", "") or "worker")
    try:
        queues = sorted(sender.app.amqp.queues.consume_from)
    except Exception:
        queues = [settings.training_queue]
    _CURRENT = Heartbeat(node, queues, settings, app=getattr(sender, "app", None))
    _CURRENT.start()


@worker_shutdown.connect  # type: ignore[untyped-decorator,misc]
def _on_shutdown(**_: Any) -> None:
    global _CURRENT
    if _CURRENT is not None:
        _CURRENT.stop(remove=True)
        _CURRENT = None


@worker_process_init.connect  # type: ignore[untyped-decorator,misc]
def _on_process_init(**_: Any) -> None:
    # Start CPU sampling in each pool process before its first task needs a reading.
    HostMonitor.get(get_settings().worker_cpu_sample_s)
