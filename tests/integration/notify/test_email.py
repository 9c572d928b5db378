"""The email channel against a real SMTP server (aiosmtpd) on loopback (allowed explicitly)."""

from __future__ import annotations

from typing import Any

import pytest

from tasksched.errors import NotificationError
from tasksched.notify import email as email_channel
from tests.integration.conftest import SMTP_PASSWORD, SMTP_USER, Certs
from tests.notify.test_email import RECIPIENTS, config, parse, payload


def test_plain_smtp_delivers_to_every_recipient_with_text_and_html(smtp_factory: Any) -> None:
    server = smtp_factory(mode="plain")
    detail = email_channel.send(payload(), config(server.port), allow_private=True)
    assert "sent to 2 recipient(s)" in detail and "(plain)" in detail
    [got] = server.inbox.messages
    assert got["rcpt_tos"] == RECIPIENTS and got["tls"] is False
    msg = parse(got["data"])
    assert msg["Subject"] == "[tasksched] Nightly <churn> model: training run failed (acme)"
    assert msg["To"] == ", ".join(RECIPIENTS)
    assert msg["X-Tasksched-Correlation-Id"] == "s1-1700000000"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "quality below threshold" in text and "s1-1700000000" in text
    assert "Quality score" in text and "0.61" in text
    assert "Nightly &lt;churn&gt; model" in html and "<churn>" not in html


def test_starttls_with_login_and_private_ca(smtp_factory: Any, certs: Certs) -> None:
    server = smtp_factory(certs, mode="starttls", auth=True)
    cfg = config(server.port, email_use_tls=True, email_username=SMTP_USER,
                 email_password=SMTP_PASSWORD)
    detail = email_channel.send(payload(), cfg, ca_file=str(certs.ca_file), allow_private=True)
    assert "(STARTTLS)" in detail
    [got] = server.inbox.messages
    assert got["tls"] is True and got["login"] == SMTP_USER
    assert server.inbox.logins == [SMTP_USER]


def test_implicit_tls_with_login(smtp_factory: Any, certs: Certs) -> None:
    server = smtp_factory(certs, mode="ssl", auth=True)
    cfg = config(server.port, email_use_ssl=True, email_username=SMTP_USER,
                 email_password=SMTP_PASSWORD)
    detail = email_channel.send(payload(), cfg, ca_file=str(certs.ca_file), allow_private=True)
    assert "(implicit TLS)" in detail
    [got] = server.inbox.messages
    assert got["login"] == SMTP_USER and len(got["rcpt_tos"]) == 2 and got["tls"] is True


def test_untrusted_certificate_is_refused_without_retry(smtp_factory: Any, certs: Certs) -> None:
    server = smtp_factory(certs, mode="starttls")
    with pytest.raises(NotificationError) as err:
        email_channel.send(payload(), config(server.port, email_use_tls=True), allow_private=True)
    assert err.value.retryable is False and "not trusted" in str(err.value)
    assert server.inbox.messages == []


def test_wrong_password_is_not_retried_and_not_echoed(smtp_factory: Any, certs: Certs) -> None:
    server = smtp_factory(certs, mode="starttls", auth=True)
    cfg = config(server.port, email_use_tls=True, email_username=SMTP_USER,
                 email_password="wrong-password-xyz")
    with pytest.raises(NotificationError) as err:
        email_channel.send(payload(), cfg, ca_file=str(certs.ca_file), allow_private=True)
    assert err.value.retryable is False and "login refused" in str(err.value)
    assert "wrong-password-xyz" not in str(err.value)
    assert server.inbox.messages == []


def test_starttls_required_but_not_offered_is_an_error(smtp_factory: Any) -> None:
    server = smtp_factory(mode="plain")
    with pytest.raises(NotificationError) as err:
        email_channel.send(payload(), config(server.port, email_use_tls=True), allow_private=True)
    assert err.value.retryable is False and "STARTTLS" in str(err.value)
    assert server.inbox.messages == []
