"""Structured JSON logging for every tasksched process.

One line per record: ``ts``, ``level``, ``logger``, ``message`` and every ``extra`` field
(``correlation_id``, ``run_id``, ``schedule_id``, ``tenant_id``, ``event``, ...). It logs what it
is given: callers must never pass secrets.

Usage::

    from tasksched.logs import configure_logging, log_event
    configure_logging("INFO")
    log_event(logger, logging.INFO, "run dispatched", event="dispatch", run_id=rid)
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["JsonFormatter", "configure_logging", "log_event", "process_log_level", "safe_url"]

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RESERVED = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}

_HANDLER_MARK = "_tasksched_json_handler"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line: fixed fields first, then the ``extra`` fields."""
        payload: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key[0] != "_":
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return _encode(payload)


_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _iso_utc(epoch_s: float) -> str:
    """ISO 8601 in UTC with milliseconds, like datetime.isoformat(timespec="milliseconds")."""
    whole = int(epoch_s)
    ms = int((epoch_s - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}+00:00"


def configure_logging(level: str = "INFO") -> None:
    """Install the JSON handler on the ``tasksched`` logger (idempotent) and set its level."""
    logger = logging.getLogger("tasksched")
    logger.setLevel(level.upper())
    for handler in logger.handlers:
        if getattr(handler, _HANDLER_MARK, False):
            return
    # The process's real stderr: Celery replaces sys.stderr with a proxy that logs each write
    # again as a WARNING record, which would wrap every JSON line in a second one.
    handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    # The JSON handler is the one output for tasksched records; avoid a second, plain-text copy.
    logger.propagate = False


def process_log_level(settings: Any) -> str:
    """tasksched's log level in this process: ``TASKSCHED_LOG_LEVEL`` when set, else the root
    logger's (what ``celery worker|beat --loglevel`` configured)."""
    configured = str(getattr(settings, "log_level", "") or "")
    if configured:
        return configured
    return logging.getLevelName(logging.getLogger().getEffectiveLevel())


def log_event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log ``message`` at ``level`` with ``fields`` as structured extra fields.

    Field names that collide with LogRecord attributes (``name``, ``msg``, ...) get a ``field_``
    prefix instead of raising.
    """
    if not logger.isEnabledFor(level):
        return
    extra = {(f"field_{k}" if k in _RESERVED else k): v for k, v in fields.items()}
    logger.log(level, message, extra=extra, stacklevel=2)


def safe_url(url: str) -> str:
    """``url`` with its password masked (``redis://user:***@host``), for logs and banners."""
    password = urlsplit(url).password
    if password is None:
        return url
    return url.replace(f":{password}@", ":***@", 1)
