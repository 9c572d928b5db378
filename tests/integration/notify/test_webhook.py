"""The webhook channel against a real HTTP server on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from tasksched.errors import NotificationError
from tasksched.notify import webhook
from tests.integration.conftest import HEADER_SECRET, WEBHOOK_SECRET, Certs
from tests.notify.test_webhook import config, payload


def test_signed_post_with_configured_headers(hook_factory: Any) -> None:
    hook = hook_factory(secret=WEBHOOK_SECRET)
    cfg = config(hook.url, webhook_secret=WEBHOOK_SECRET,
                 webhook_headers={"Authorization": HEADER_SECRET, "X-Team": "ml"})
    detail = webhook.send(payload(), cfg, allow_private=True, now=1700000001.0)
    assert detail.startswith("HTTP 200")
    assert "q-secret-123" not in detail  # the query string stays out of reports
    [req] = hook.requests
    assert req["signature_valid"] is True
    assert req["headers"]["Authorization"] == HEADER_SECRET
    assert req["headers"]["X-Team"] == "ml"
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["headers"]["X-Tasksched-Event"] == "run_succeeded"
    assert req["headers"]["X-Tasksched-Timestamp"] == "1700000001"
    assert req["headers"]["Host"] == f"127.0.0.1:{hook.port}"
    assert req["path"] == "/hook?token=q-secret-123"
    body = req["json"]
    assert body["correlation_id"] == "s1-1700000000" and body["schedule_name"] == "Nightly"
    assert body["scores"] == {"quality": 0.93, "validation": 0.91, "baseline": None}
    # The documented receiver check passes on the exact bytes, fails on any change.
    sig = req["headers"]["X-Tasksched-Signature"]
    assert webhook.verify_signature(req["body"], WEBHOOK_SECRET, sig)
    assert not webhook.verify_signature(req["body"] + b" ", WEBHOOK_SECRET, sig)
    assert not webhook.verify_signature(req["body"], "other-secret", sig)


def test_wrong_secret_gets_rejected_by_the_receiver(hook_factory: Any) -> None:
    hook = hook_factory(secret=WEBHOOK_SECRET)
    with pytest.raises(NotificationError) as err:
        webhook.send(payload(), config(hook.url, webhook_secret="not-it"), allow_private=True)
    assert "HTTP 401" in str(err.value) and err.value.retryable is False
    assert hook.requests[0]["signature_valid"] is False


def test_unsigned_without_a_secret(hook_factory: Any) -> None:
    hook = hook_factory()
    webhook.send(payload(), config(hook.url), allow_private=True)
    assert "X-Tasksched-Signature" not in hook.requests[0]["headers"]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (400, False), (404, False), (302, False)],
)
def test_status_classification(hook_factory: Any, status: int, retryable: bool) -> None:
    hook = hook_factory(script=[status])
    with pytest.raises(NotificationError) as err:
        webhook.send(payload(), config(hook.url), allow_private=True)
    assert err.value.retryable is retryable and f"HTTP {status}" in str(err.value)
    assert len(hook.requests) == 1  # no hidden retries, no redirect followed
    assert "q-secret-123" not in str(err.value)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.10", "169.254.169.254", "[::1]",
             "[::ffff:127.0.0.1]", "0.0.0.0", "224.0.0.1", "100.64.0.1"],
)
def test_private_destinations_refused_by_default(hook_factory: Any, host: str) -> None:
    hook = hook_factory()
    url = f"http://{host}:{hook.port}/hook"
    with pytest.raises(NotificationError) as err:
        webhook.send(payload(), config(url))
    assert err.value.retryable is False and "refusing" in str(err.value)
    assert hook.requests == []


def test_name_resolving_to_loopback_is_refused_but_allowed_by_setting(hook_factory: Any) -> None:
    hook = hook_factory()
    url = f"http://localhost:{hook.port}/hook"
    with pytest.raises(NotificationError):
        webhook.send(payload(), config(url), allow_private=False)
    webhook.send(payload(), config(url), allow_private=True)
    assert len(hook.requests) == 1
    assert hook.requests[0]["headers"]["Host"] == f"localhost:{hook.port}"


def test_https_by_name_is_pinned_to_the_checked_address_and_verified(
    hook_factory: Any, certs: Certs
) -> None:
    hook = hook_factory(secret=WEBHOOK_SECRET, certs=certs)
    url = f"https://localhost:{hook.port}/hook"
    cfg = config(url, webhook_secret=WEBHOOK_SECRET)
    detail = webhook.send(payload(), cfg, allow_private=True, ca_file=str(certs.ca_file))
    assert detail.startswith("HTTP 200")
    assert hook.requests[0]["signature_valid"] is True
    assert hook.requests[0]["headers"]["Host"] == f"localhost:{hook.port}"
    # Without the private CA the certificate is not trusted: not retried.
    with pytest.raises(NotificationError) as err:
        webhook.send(payload(), cfg, allow_private=True)
    assert err.value.retryable is False and "TLS" in str(err.value)


def test_https_certificate_must_match_the_url_host(hook_factory: Any, certs: Certs) -> None:
    # The certificate names localhost and 127.0.0.1, not 127.0.0.2.
    hook = hook_factory(certs=certs, host="127.0.0.2")
    with pytest.raises(NotificationError) as err:
        webhook.send(payload(), config(hook.url), allow_private=True, ca_file=str(certs.ca_file))
    assert err.value.retryable is False and "TLS" in str(err.value)
    assert hook.requests == []


def test_pinned_adapter_connects_to_the_checked_address_not_to_dns(hook_factory: Any) -> None:
    # "receiver.invalid" cannot resolve: the request reaches the server only because the
    # adapter connects to the address checked earlier.
    import requests

    hook = hook_factory()
    with requests.Session() as session:
        session.trust_env = False
        session.mount("http://", webhook.PinnedAdapter("127.0.0.1", "receiver.invalid"))
        resp = session.post(f"http://receiver.invalid:{hook.port}/hook", data=b"{}", timeout=5)
    assert resp.status_code == 200
    assert hook.requests[0]["headers"]["Host"] == f"receiver.invalid:{hook.port}"


def test_retry_after_is_reported(hook_factory: Any) -> None:
    hook = hook_factory(script=[429])
    hook.retry_after = "7"
    with pytest.raises(webhook.WebhookError) as err:
        webhook.send(payload(), config(hook.url), allow_private=True)
    assert err.value.retryable is True and err.value.retry_after_s == 7.0
