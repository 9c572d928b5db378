"""The notification subtask (``tasksched.notify``) and :func:`emit_event`, which queues it.

One subtask per (event, channel) on the ``notifications`` queue: a slow SMTP server never
delays training and a failing channel never touches the run or the other channels. Task
arguments are ids only; the payload is read from Redis and secrets are decrypted at send
time. A failed send is retried with exponential backoff and jitter up to
``notify_max_retries`` times, then kept as a dead letter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from celery import Celery, Task
from celery.exceptions import Ignore, Retry
from celery.signals import worker_init

from tasksched.celery import NOTIFY_TASK, app, publishing_app
from tasksched.errors import NotFoundError, NotificationError
from tasksched.logs import configure_logging, log_event
from tasksched.models import NotificationConfig, NotificationEvent, NotificationType
from tasksched.notify.channels import deliver, redact
from tasksched.notify.events import build_payload, make_payload
from tasksched.settings import get_settings
from tasksched.store import ScheduleRecord, Store
from tasksched.store import notifications as counters
from tasksched.store.notifications import NotificationStore

__all__ = ["emit_event", "notify", "queue_event", "run_notification", "send_test"]

logger = logging.getLogger("tasksched.notify")


def new_event_id() -> str:
    """A random 16-hex-character event id."""
    return os.urandom(8).hex()


def queue_event(
    store: Store,
    payload: dict[str, Any],
    channels: list[NotificationType],
    schedule_id: str | None,
    app: Celery | None = None,
) -> int:
    """Store ``payload`` and queue one subtask per channel; returns how many were queued.

    The subtasks go where the publishing app's router sends ``tasksched.notify`` (see
    :func:`tasksched.celery.publishing_app` for which app publishes).
    """
    notes = NotificationStore(store)
    event_id = str(payload["id"])
    notes.save_payload(event_id, payload)
    sender = publishing_app(store.settings, app)
    queued = 0
    for channel in channels:
        sender.send_task(
            NOTIFY_TASK,
            kwargs={
                "event_id": event_id,
                "channel": channel.value,
                "tenant_id": payload["tenant_id"],
                "schedule_id": schedule_id,
                "run_id": payload.get("run_id"),
            },
        )
        queued += 1
    if queued:
        notes.count(counters.QUEUED, by=queued)
    return queued


def emit_event(
    store: Store,
    event: NotificationEvent,
    schedule: ScheduleRecord,
    run: Mapping[str, Any] | None = None,
    app: Celery | None = None,
    **details: Any,
) -> int:
    """Queue one ``tasksched.notify`` subtask per channel that wants ``event`` (with ``app``,
    see :func:`queue_event`).

    Returns how many subtasks were queued. Never raises: a failure is logged and counted
    (``notifications_emit_errors``), so a notification problem never fails a run.
    """
    try:
        event = NotificationEvent(event)
        cfg = schedule.config.notifications
        channels = [t for t in cfg.types if cfg.wants(t, event)]
        if not channels:
            return 0
        payload = build_payload(new_event_id(), event, schedule, run, **details)
        return queue_event(store, payload, channels, schedule.id, app)
    except Exception as exc:  # a notification must never fail the run
        log_event(
            logger,
            logging.ERROR,
            "notification could not be queued",
            event=str(getattr(event, "value", event)),
            schedule_id=getattr(schedule, "id", None),
            tenant_id=getattr(schedule, "tenant_id", None),
            correlation_id=(run or {}).get("run_id"),
            error=f"{type(exc).__name__}: {exc}",
        )
        with contextlib.suppress(Exception):  # Redis itself may be the problem
            NotificationStore(store).count(counters.EMIT_ERRORS)
        return 0


# ---- the worker side ---------------------------------------------------------------------
def _json_logs(sender: Any = None, **_: Any) -> None:
    # The log channel's lines are structured: a worker that runs this task logs JSON
    # (idempotent, so the training side may call it too), at the worker's --loglevel unless
    # TASKSCHED_LOG_LEVEL says otherwise.
    level = getattr(sender, "loglevel", None)
    configure_logging(get_settings().log_level or logging.getLevelName(level or logging.INFO))


worker_init.connect(_json_logs, weak=False)


@lru_cache(maxsize=1)
def _worker_store() -> Store:
    return Store(settings=get_settings())


def _config_for(
    store: Store, payload: Mapping[str, Any], schedule_id: str | None
) -> NotificationConfig:
    """The channel config with secrets: the schedule's, or a test send's ad-hoc config."""
    if payload.get("adhoc_config"):
        raw = NotificationStore(store).load_adhoc_config(str(payload["id"]))
        if raw is None:
            raise NotificationError("config", "the test send's config expired", retryable=False)
        return NotificationConfig.model_validate(raw)
    if not schedule_id:
        raise NotificationError("config", "no schedule and no ad-hoc config", retryable=False)
    try:
        record = store.schedules.get(schedule_id)
    except NotFoundError:
        raise NotificationError("config", "the schedule was deleted", retryable=False) from None
    return store.schedules.config_with_secrets(record).notifications


def run_notification(
    store: Store,
    event_id: str,
    channel: str,
    schedule_id: str | None,
    attempt: int,
    max_attempts: int,
) -> dict[str, Any]:
    """Deliver one event on one channel once; record and return the outcome.

    The outcome's ``status`` is ``sent``, ``retry`` (the caller retries), ``failed`` (a test
    send, not retried) or ``dead`` (kept as a dead letter). Never raises for a channel failure.
    """
    notes = NotificationStore(store)
    started = time.monotonic()
    hint_s: float | None = None
    payload = notes.load_payload(event_id)
    secrets: list[str] = []
    base: dict[str, Any] = {"channel": channel, "attempts": attempt}
    if payload is not None and notes.already_sent(event_id, channel):
        return {**base, "status": "sent", "detail": "already delivered (redelivered task)"}
    try:
        if payload is None:
            raise NotificationError(channel, "the event payload expired", retryable=False)
        cfg = _config_for(store, payload, schedule_id)
        secrets = _secret_values(cfg)
        detail = deliver(NotificationType(channel), payload, cfg, store)
    except NotificationError as exc:
        error, retryable = redact(str(exc), secrets), exc.retryable
        hint_s = getattr(exc, "retry_after_s", None)
    except Exception as exc:  # any channel bug is a failed send, not a crash
        error, retryable = redact(f"{type(exc).__name__}: {exc}", secrets), True
    else:
        out = {**base, "status": "sent", "detail": redact(detail, secrets)}
        out["duration_s"] = round(time.monotonic() - started, 3)
        notes.set_outcome(event_id, channel, out)
        notes.count(counters.SENT, channel)
        return out
    out = {**base, "error": error, "duration_s": round(time.monotonic() - started, 3)}
    if hint_s is not None:
        out["retry_after_s"] = hint_s
    payload = payload or {}
    ids = {
        "event_id": event_id,
        "event": payload.get("event"),
        "correlation_id": payload.get("correlation_id"),
        "tenant_id": payload.get("tenant_id"),
        "schedule_id": schedule_id,
        "channel": channel,
    }
    is_test = payload.get("event") == NotificationEvent.TEST.value
    if retryable and attempt < max_attempts and not is_test:
        out["status"] = "retry"
        notes.set_outcome(event_id, channel, out)
        notes.count(counters.RETRIED, channel)
        log_event(logger, logging.WARNING, "notification failed, will retry", **ids,
                  attempts=attempt, error=error)
        return out
    notes.count(counters.FAILED, channel)
    if is_test:
        out["status"] = "failed"
        notes.set_outcome(event_id, channel, out)
        log_event(logger, logging.WARNING, "test notification failed", **ids, error=error)
        return out
    out["status"] = "dead"
    notes.set_outcome(event_id, channel, out)
    notes.add_dead_letter(
        {**ids, "run_id": payload.get("run_id"), "error": error, "attempts": attempt,
         "retryable": retryable, "time": time.time(),
         "time_iso": _iso_now()}
    )
    log_event(logger, logging.ERROR, "notification dead-lettered", **ids, attempts=attempt,
              error=error)
    return out


def _iso_now() -> str:
    from tasksched.models import utc_iso

    return str(utc_iso(time.time()))


def _secret_values(cfg: NotificationConfig) -> list[str]:
    out: list[str] = []
    for value in cfg.secrets().values():
        if isinstance(value, dict):
            out.extend(str(v) for v in value.values())
        else:
            out.append(str(value))
    return out


class NotifyTask(Task):  # type: ignore[misc]
    """The notify task's class: a retry that cannot be queued becomes a dead letter at once."""

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's retry; when the broker refuses it, dead-letter instead of losing the event."""
        try:
            return super().retry(*args, **kwargs)
        except Retry:
            raise
        except Exception as exc:  # the retry could not be queued (broker down)
            request = self.request
            error = str(kwargs.get("exc") or "").split(": ", 1)[-1]
            _retry_lost(
                _worker_store(), request.kwargs.get("event_id", ""),
                request.kwargs.get("channel", ""), request.kwargs.get("schedule_id"),
                int(request.retries) + 1, error, exc,
            )  # fmt: skip
            raise Ignore() from None


_SETTINGS = get_settings()


# Retries are Celery's own (autoretry_for, retry_backoff, retry_backoff_max, retry_jitter):
# exponential from TASKSCHED_NOTIFY_BACKOFF_S (whole seconds), capped, with full jitter.
@app.task(  # type: ignore[untyped-decorator,misc]
    name=NOTIFY_TASK,
    base=NotifyTask,
    bind=True,
    acks_late=True,
    ignore_result=True,
    time_limit=900,
    autoretry_for=(NotificationError,),
    retry_backoff=_SETTINGS.notify_backoff_s,
    retry_backoff_max=int(_SETTINGS.notify_backoff_max_s),
    retry_jitter=True,
    max_retries=_SETTINGS.notify_max_retries,
)
def notify(
    self: Task,
    event_id: str,
    channel: str,
    tenant_id: str | None = None,
    schedule_id: str | None = None,
    run_id: str | None = None,
) -> str:
    """Send event ``event_id`` on ``channel``; retried by Celery with backoff, then dead-lettered.

    A receiver's ``Retry-After`` (webhook) lengthens the next pause, up to the backoff cap.
    """
    settings = get_settings()
    store = _worker_store()
    attempt = int(self.request.retries) + 1
    out = run_notification(
        store, event_id, channel, schedule_id, attempt, settings.notify_max_retries + 1
    )
    if out["status"] != "retry":
        return str(out["status"])
    error = NotificationError(channel, str(out["error"]).removeprefix(f"{channel}: "))
    if out.get("retry_after_s") is not None:  # the receiver asked for a pause
        countdown = min(float(out["retry_after_s"]), settings.notify_backoff_max_s)
        raise self.retry(countdown=countdown, exc=error)
    raise error  # autoretry_for: Celery's backoff


def _retry_lost(
    store: Store,
    event_id: str,
    channel: str,
    schedule_id: str | None,
    attempt: int,
    error: str,
    exc: Exception,
) -> None:
    # Rather a dead letter now than a retry that silently never happens.
    ids = {"event_id": event_id, "channel": channel, "schedule_id": schedule_id}
    log_event(logger, logging.ERROR, "notification retry could not be queued", **ids,
              attempts=attempt, error=error, retry_error=f"{type(exc).__name__}: {exc}")
    with contextlib.suppress(Exception):  # Redis may be down along with the broker
        payload = NotificationStore(store).load_payload(event_id) or {}
        NotificationStore(store).add_dead_letter(
            {**ids, "event": payload.get("event"), "tenant_id": payload.get("tenant_id"),
             "correlation_id": payload.get("correlation_id"), "run_id": payload.get("run_id"),
             "error": f"{error} (and the retry could not be queued: {type(exc).__name__})",
             "attempts": attempt, "retryable": True, "time": time.time(),
             "time_iso": _iso_now()}
        )


# ---- test sends --------------------------------------------------------------------------
def _adhoc_document(config: NotificationConfig) -> dict[str, Any]:
    doc = config.model_dump(mode="json", exclude=set(NotificationConfig.SECRET_FIELDS))
    doc.update(config.secrets())
    return doc


def send_test(
    store: Store,
    schedule: ScheduleRecord | None = None,
    config: NotificationConfig | None = None,
    tenant_id: str | None = None,
    timeout_s: float = 30.0,
    inline: bool = False,
    poll_s: float = 0.05,
) -> dict[str, Any]:
    """Send a ``test`` event through a schedule's channels, or through ``config``.

    Each channel gets one attempt (no retries) on a notifications worker, or in this process
    with ``inline``. Waits up to ``timeout_s`` and reports per channel: ``sent`` (with what
    was done), ``failed`` (with the error), ``skipped`` or ``pending`` (no worker answered).
    """
    event_id = new_event_id()
    if schedule is not None:
        cfg = schedule.config.notifications
        tenant, sid, name = schedule.tenant_id, schedule.id, schedule.name
    elif config is not None:
        cfg, sid, name = config, None, "test notification"
        tenant = tenant_id or config.memory_tenant_id or "test"
    else:
        raise ValueError("send_test needs a schedule or a config")
    payload = make_payload(
        event_id, NotificationEvent.TEST, tenant_id=tenant, schedule_id=sid, schedule_name=name,
        importance=cfg.memory_importance_score, reason="a test sent on request",
    )
    payload["correlation_id"] = f"test-{event_id}"
    report: dict[str, Any] = {
        "event_id": event_id, "correlation_id": payload["correlation_id"], "inline": inline,
    }
    channels = list(cfg.types) if cfg.enabled else []
    if not channels:
        detail = "notifications are disabled" if not cfg.enabled else "no channel configured"
        report["channels"] = {t.value: {"status": "skipped", "detail": detail} for t in cfg.types}
        report["complete"] = True
        return report
    notes = NotificationStore(store)
    if config is not None:
        payload["adhoc_config"] = True
        notes.save_adhoc_config(event_id, _adhoc_document(config), int(max(timeout_s, 60) * 2))
    if inline:
        notes.save_payload(event_id, payload, ttl_s=int(max(timeout_s, 60) * 2))
        for ch in channels:
            run_notification(store, event_id, ch.value, sid, 1, 1)
    else:
        queue_event(store, payload, channels, sid)
    deadline = time.monotonic() + max(timeout_s, 0.0)
    outcomes = notes.outcomes(event_id)
    while len(outcomes) < len(channels) and time.monotonic() < deadline:
        time.sleep(poll_s)
        outcomes = notes.outcomes(event_id)
    waiting = {"status": "pending", "detail": f"no notifications worker answered in {timeout_s}s"}
    report["channels"] = {ch.value: outcomes.get(ch.value, waiting) for ch in channels}
    report["complete"] = len(outcomes) >= len(channels)
    return report
