"""The email channel without a server: an unreachable one is retryable; the helpers."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest

from tasksched.errors import NotificationError
from tasksched.models import NotificationConfig, NotificationEvent
from tasksched.notify import email as email_channel
from tasksched.notify.events import make_payload
from tests.helpers import free_port

RECIPIENTS = ["ops@example.com", "ml-team@example.org"]


def payload(**details: Any) -> dict[str, Any]:
    return make_payload(
        "ev1", NotificationEvent.RUN_FAILED, tenant_id="acme", schedule_id="s1",
        schedule_name="Nightly <churn> model", importance=9,
        run={"run_id": "s1-1700000000", "status": "failed", "started_at": 1700000000.0,
             "finished_at": 1700000042.5, "quality_score": 0.61},
        now=1700000050.0, reason="quality below threshold", **details,
    )


def config(port: int, **kw: Any) -> NotificationConfig:
    base: dict[str, Any] = {
        "types": ["email"], "email_smtp_host": "127.0.0.1", "email_smtp_port": port,
        "email_recipients": RECIPIENTS, "email_sender": "tasksched@example.com",
        "email_use_tls": False,
    }
    base.update(kw)
    return NotificationConfig.model_validate(base)


def parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_unreachable_server_is_retryable() -> None:
    with pytest.raises(NotificationError) as err:
        email_channel.send(payload(), config(free_port()), timeout_s=2, allow_private=True)
    assert err.value.retryable is True and "cannot deliver via" in str(err.value)


def test_a_loopback_relay_is_refused_unless_allowed_or_listed() -> None:
    port = free_port()  # nothing listens: a refusal must come before any connection
    with pytest.raises(NotificationError) as err:
        email_channel.send(payload(), config(port), timeout_s=2)
    assert err.value.retryable is False and "loopback" in str(err.value)
    with pytest.raises(NotificationError) as err:  # listed: the guard lets it through
        email_channel.send(payload(), config(port), timeout_s=2, allowed_hosts={"127.0.0.1"})
    assert "cannot deliver via" in str(err.value)


def test_a_password_over_plain_smtp_is_refused_before_connecting() -> None:
    cfg = config(free_port(), email_username="u", email_password="pw-over-plain")
    with pytest.raises(NotificationError) as err:
        email_channel.send(payload(), cfg, timeout_s=2, allow_private=True)
    assert err.value.retryable is False and "plain SMTP" in str(err.value)
    with pytest.raises(NotificationError) as err:  # allowed by the operator: it tries
        email_channel.send(payload(), cfg, timeout_s=2, allow_private=True,
                           allow_plaintext_login=True)
    assert "cannot deliver via" in str(err.value)


def test_a_closed_port_and_a_silent_one_read_the_same() -> None:
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never says a word
    try:
        texts = []
        for port in (free_port(), silent.getsockname()[1]):
            with pytest.raises(NotificationError) as err:
                email_channel.send(payload(), config(port), timeout_s=1, allow_private=True)
            texts.append(str(err.value).replace(str(port), "PORT"))
        assert texts[0] == texts[1] == "email: cannot deliver via 127.0.0.1:PORT"
    finally:
        silent.close()
