"""Route one payload to one channel; redaction of secrets from error texts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tasksched.errors import NotificationError
from tasksched.models import SECRET_MASK, NotificationConfig, NotificationType

if TYPE_CHECKING:
    from tasksched.store import Store


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (4+ characters) replaced by a mask."""
    for value in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, SECRET_MASK)
    return text


def deliver(
    channel: NotificationType,
    payload: Mapping[str, Any],
    config: NotificationConfig,
    store: Store,
) -> str:
    """Send ``payload`` on ``channel``; return a short description of what was done.

    Raises :class:`NotificationError` (``retryable`` says whether a retry may help).
    """
    settings = store.settings
    if channel is NotificationType.LOG:
        from tasksched.notify import log

        return log.send(payload)
    if channel is NotificationType.EMAIL:
        from tasksched.notify import email

        return email.send(
            payload, config, timeout_s=settings.smtp_timeout_s,
            ca_file=settings.smtp_ca_file or None,
            allow_private=settings.allow_private_targets,
            allowed_hosts=settings.smtp_allowed_host_set,
            allow_plaintext_login=settings.smtp_allow_plaintext_login,
        )  # fmt: skip
    if channel is NotificationType.WEBHOOK:
        from tasksched.notify import webhook

        return webhook.send(payload, config, allow_private=settings.webhook_private_allowed,
                            ca_file=settings.webhook_ca_file or None)
    if channel is NotificationType.MEMORY:
        from tasksched.notify import feed

        return feed.send(payload, config, store)
    raise NotificationError(str(channel), "unknown channel", retryable=False)
