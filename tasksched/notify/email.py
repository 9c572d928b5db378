"""The email channel: SMTP with STARTTLS, implicit TLS or plain, text and HTML parts.

* ``email_use_ssl``: implicit TLS (``SMTP_SSL``, usually port 465);
  ``email_use_tls``: STARTTLS, required (a server that does not offer it is an error, never
  a silent downgrade); neither: plain SMTP, for a local relay.
* TLS verifies the server's certificate and host name against the system's CAs plus
  ``TASKSCHED_SMTP_CA_FILE`` when set.
* Login when ``email_username`` is set. One message to every recipient.

* The host passes the outbound guard (:mod:`tasksched.notify.outbound`) and the connection
  goes to the checked address; a login over plain SMTP is refused unless the operator allows it.

Errors: connection problems, timeouts and 4xx replies are retryable; authentication
failures, refused recipients, 5xx replies, certificate failures and refused targets are not.
"""

from __future__ import annotations

import html
import json
import smtplib
import socket
import ssl
from collections.abc import Collection, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from tasksched.errors import NotificationError
from tasksched.models import NotificationConfig
from tasksched.notify.events import summary_line
from tasksched.notify.outbound import check_address

CHANNEL = "email"


def subject(payload: Mapping[str, Any]) -> str:
    """'[tasksched] <schedule>: <title> (<tenant>)', on one line."""
    text = (
        f"[tasksched] {payload.get('schedule_name')}: {payload.get('title')} "
        f"({payload.get('tenant_id')})"
    )
    return " ".join(text.split())[:200]


def _rows(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("Event", str(payload.get("event"))),
        ("Outcome", str(payload.get("outcome"))),
        ("Schedule", f"{payload.get('schedule_name')} ({payload.get('schedule_id')})"),
        ("Tenant", str(payload.get("tenant_id"))),
        ("Run (correlation id)", str(payload.get("correlation_id"))),
    ]
    for label, key in (("Reason", "reason"), ("Error", "error")):
        if payload.get(key):
            rows.append((label, str(payload[key])))
    for name, value in (payload.get("scores") or {}).items():
        if value is not None:
            rows.append((f"{name.capitalize()} score", f"{value:.4g}"))
    for name, value in (payload.get("timings") or {}).items():
        if value is not None:
            rows.append((name.replace("_", " ").capitalize(), str(value)))
    rows.append(("Sent at", str(payload.get("time"))))
    return rows


def text_body(payload: Mapping[str, Any]) -> str:
    """The plain-text body: a summary line, then one 'label: value' per fact."""
    rows = _rows(payload)
    width = max(len(label) for label, _ in rows)
    lines = [summary_line(payload), ""]
    lines += [f"{label.ljust(width)}  {value}" for label, value in rows]
    lines += ["", "Payload:", json.dumps(dict(payload), indent=2, default=str)]
    return "\n".join(lines) + "\n"


def html_body(payload: Mapping[str, Any]) -> str:
    """The HTML alternative: the same facts in a table (every value escaped)."""
    cells = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in _rows(payload)
    )
    return (
        "<html><body>"
        f"<p><strong>{html.escape(summary_line(payload))}</strong></p>"
        f"<table cellpadding='4'>{cells}</table>"
        "</body></html>"
    )


def build_message(payload: Mapping[str, Any], config: NotificationConfig) -> EmailMessage:
    """The message for ``payload``: subject, sender, every recipient, text and HTML parts."""
    sender = config.email_sender or config.email_username or "tasksched@localhost"
    msg = EmailMessage()
    msg["Subject"] = subject(payload)
    msg["From"] = sender
    msg["To"] = ", ".join(config.email_recipients)
    msg["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(idstring=str(payload.get("id", "")), domain=domain)
    msg["X-Tasksched-Event"] = str(payload.get("event"))
    msg["X-Tasksched-Correlation-Id"] = str(payload.get("correlation_id"))
    msg.set_content(text_body(payload))
    msg.add_alternative(html_body(payload), subtype="html")
    return msg


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying client context: system CAs plus ``ca_file`` when given."""
    ctx = ssl.create_default_context()
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    return ctx


def _mode(config: NotificationConfig) -> str:
    if config.email_use_ssl:
        return "implicit TLS"
    return "STARTTLS" if config.email_use_tls else "plain"


class _PinnedSMTP(smtplib.SMTP):
    """SMTP to the address the outbound guard checked; the name stays for TLS and EHLO."""

    def __init__(self, address: str, **kwargs: Any):
        self._address = address
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._address, port), timeout, self.source_address)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """Implicit TLS to the checked address; the certificate is verified against the name."""

    def __init__(self, address: str, **kwargs: Any):
        self._address = address
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection((self._address, port), timeout, self.source_address)
        return self.context.wrap_socket(raw, server_hostname=self._host)  # type: ignore[attr-defined]


def send(
    payload: Mapping[str, Any],
    config: NotificationConfig,
    timeout_s: float = 30.0,
    ca_file: str | None = None,
    allow_private: bool = False,
    allowed_hosts: Collection[str] = (),
    allow_plaintext_login: bool = False,
) -> str:
    """Send the event by email; raises NotificationError (retryable or not).

    The host passes the outbound guard first (``allow_private``, ``allowed_hosts``: the
    operator's ``TASKSCHED_ALLOW_PRIVATE_TARGETS`` and ``TASKSCHED_SMTP_ALLOWED_HOSTS``); a
    login over plain SMTP is refused unless ``allow_plaintext_login``. Error texts tell what
    failed, never what the server answered (no banners, no reply texts, no closed-versus-
    filtered difference between ports).
    """
    host = config.email_smtp_host
    if not host or not config.email_recipients:
        raise NotificationError(CHANNEL, "no SMTP host or no recipients", retryable=False)
    port = config.email_smtp_port
    plain = not config.email_use_ssl and not config.email_use_tls
    if plain and config.email_username and not allow_plaintext_login:
        raise NotificationError(
            CHANNEL,
            "refusing to send a password over plain SMTP: use email_use_tls or email_use_ssl "
            "(the operator may allow it: TASKSCHED_SMTP_ALLOW_PLAINTEXT_LOGIN)",
            retryable=False,
        )
    address = check_address(CHANNEL, host, port, allow_private, allowed_hosts)
    msg = build_message(payload, config)
    try:
        ctx = tls_context(ca_file)
        client: smtplib.SMTP
        if config.email_use_ssl:
            client = _PinnedSMTPSSL(address, host=host, port=port, timeout=timeout_s, context=ctx)
        else:
            client = _PinnedSMTP(address, host=host, port=port, timeout=timeout_s)
        with client:
            client.ehlo()
            if config.email_use_tls and not config.email_use_ssl:
                client.starttls(context=ctx)
                client.ehlo()
            if config.email_username:
                password = (
                    config.email_password.get_secret_value() if config.email_password else ""
                )
                client.login(config.email_username, password)
            refused = client.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise NotificationError(CHANNEL, f"login refused ({exc.smtp_code})", False) from None
    except smtplib.SMTPNotSupportedError:
        raise NotificationError(
            CHANNEL, "the server does not support what the config asks (STARTTLS or AUTH)", False
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotificationError(
            CHANNEL, f"every recipient refused: {sorted(exc.recipients)}", retryable=False
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise NotificationError(
            CHANNEL, f"server replied {exc.smtp_code}", retryable=400 <= exc.smtp_code < 500
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise NotificationError(
            CHANNEL, f"TLS certificate of {host} not trusted: {exc.verify_message}", False
        ) from None
    except (smtplib.SMTPException, OSError):
        # Refused, reset, timed out or garbled: one message, so that a test send cannot tell
        # a closed port from a filtered one or read a service's banner.
        raise NotificationError(CHANNEL, f"cannot deliver via {host}:{port}") from None
    rejected = f", refused: {sorted(refused)}" if refused else ""
    return (
        f"sent to {len(config.email_recipients) - len(refused)} recipient(s) via "
        f"{host}:{port} ({_mode(config)}){rejected}"
    )
