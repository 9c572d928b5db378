"""Webhook signatures, the Standard Webhooks way: what tasksched signs and what a receiver checks.

Every delivery carries three headers (https://www.standardwebhooks.com):

* ``webhook-id`` - the event id, the same on every retry of that event (deduplicate on it);
* ``webhook-timestamp`` - epoch seconds of this attempt;
* ``webhook-signature`` - ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``.

The secret is the schedule's ``webhook_secret``: ``whsec_<base64>`` (the Standard Webhooks
form; the key is the decoded bytes), or any other string, whose UTF-8 bytes are the key.
A receiver calls :func:`verify` with the raw body and the headers; it refuses a bad
signature and a timestamp more than five minutes away from now, so a captured delivery
cannot be replayed later. Remember the ids seen in the last ten minutes to refuse a replay
inside that window too.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import standardwebhooks

from tasksched.errors import TaskschedError

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookVerificationError",
    "generate_secret",
    "sign",
    "signed_headers",
    "verify",
]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"


class WebhookVerificationError(TaskschedError):
    """Raised by :func:`verify` when a delivery's signature or timestamp does not hold."""


def _hook(secret: str) -> standardwebhooks.Webhook:
    if secret.startswith(SECRET_PREFIX):
        return standardwebhooks.Webhook(secret)  # base64 after the prefix
    return standardwebhooks.Webhook(secret.encode("utf-8"))  # the raw bytes are the key


def generate_secret(n_bytes: int = 32) -> str:
    """A new random secret in the Standard Webhooks form ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(n_bytes)).decode()


def sign(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``<msg_id>.<timestamp_s>.<body>`` under ``secret``."""
    when = datetime.fromtimestamp(timestamp_s, UTC)
    return _hook(secret).sign(msg_id, when, body.decode("utf-8"))


def signed_headers(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(int(timestamp_s)),
        SIGNATURE_HEADER: sign(secret, msg_id, int(timestamp_s), body),
    }


def verify(body: bytes | str, headers: Mapping[str, str], secret: str) -> Any:
    """Check a delivery; return the parsed JSON payload, or raise WebhookVerificationError.

    ``body`` is the raw request body exactly as received (not re-serialised JSON);
    ``headers`` any mapping of the request's headers (names are matched case-insensitively).
    """
    data = body if isinstance(body, str) else body.decode("utf-8", "strict")
    try:
        return _hook(secret).verify(data, {str(k): str(v) for k, v in headers.items()})
    except standardwebhooks.WebhookVerificationError as exc:
        raise WebhookVerificationError(str(exc)) from None
    except (ValueError, TypeError) as exc:  # a malformed signature header or secret
        raise WebhookVerificationError(f"malformed webhook headers: {exc}") from None
