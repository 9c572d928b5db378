"""Notification channels: log, email, webhook and the per-tenant feed ("memory").

:func:`tasksched.notify.channels.deliver` sends one event payload on one channel and raises
:class:`~tasksched.errors.NotificationError` (with ``retryable``) when it cannot.
"""

from __future__ import annotations

from tasksched.notify.channels import deliver, redact
from tasksched.notify.events import build_payload, level_for, summary_line

__all__ = ["build_payload", "deliver", "level_for", "redact", "summary_line"]
