"""The webhook channel against a real HTTP server on loopback."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tasksched.errors import NotificationError
from tasksched.notify import webhook
from tasksched.webhooks import WebhookVerificationError, generate_secret, verify
from tests.integration.conftest import (
    HEADER_SECRET,
    WEBHOOK_SECRET,
    Certs,
    independent_signature,
)
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
    # Standard Webhooks headers: the event id (stable across retries), this attempt's time.
    h = req["headers"]
    assert h["webhook-id"] == body["id"] and h["webhook-timestamp"] == "1700000001"
    assert h["webhook-signature"] == independent_signature(
        WEBHOOK_SECRET, body["id"], "1700000001", req["body"]
    )
    # The deprecated body-only header is still sent (docs/notifications.md says until when).
    assert h["X-Tasksched-Signature"] == webhook.signature(req["body"], WEBHOOK_SECRET)


def test_the_verify_helper_accepts_a_fresh_delivery_and_refuses_changes(
    hook_factory: Any,
) -> None:
    hook = hook_factory(secret=WEBHOOK_SECRET)
    webhook.send(payload(), config(hook.url, webhook_secret=WEBHOOK_SECRET), allow_private=True)
    [req] = hook.requests
    assert req["signature_valid"] is True  # the receiver's own, independent check
    headers, raw = req["headers"], req["body"]
    assert verify(raw, headers, WEBHOOK_SECRET)["id"] == req["json"]["id"]
    for bad_body, bad_headers, bad_secret in (
        (raw + b" ", headers, WEBHOOK_SECRET),  # the body changed
        (raw, {**headers, "webhook-id": "other"}, WEBHOOK_SECRET),  # another event's id
        (raw, headers, generate_secret()),  # another secret
        (raw, {k: v for k, v in headers.items() if k != "webhook-signature"}, WEBHOOK_SECRET),
        (raw, {**headers, "webhook-signature": "v1"}, WEBHOOK_SECRET),  # malformed
    ):
        with pytest.raises(WebhookVerificationError):
            verify(bad_body, bad_headers, bad_secret)


def test_a_replay_with_a_fresh_timestamp_fails_and_an_old_one_is_stale(
    hook_factory: Any,
) -> None:
    hook = hook_factory(secret=WEBHOOK_SECRET)
    old = time.time() - 3600
    cfg = config(hook.url, webhook_secret=WEBHOOK_SECRET)
    webhook.send(payload(), cfg, allow_private=True, now=old)
    [req] = hook.requests
    headers = req["headers"]
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(req["body"], headers, WEBHOOK_SECRET)  # captured an hour ago
    fresh = {**headers, "webhook-timestamp": str(int(time.time()))}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verify(req["body"], fresh, WEBHOOK_SECRET)  # the timestamp is signed


def test_a_plain_string_secret_signs_with_its_utf8_bytes(hook_factory: Any) -> None:
    secret = "a-plain-shared-secret"
    hook = hook_factory(secret=secret)
    webhook.send(payload(), config(hook.url, webhook_secret=secret), allow_private=True)
    [req] = hook.requests
    assert req["signature_valid"] is True
    assert verify(req["body"], req["headers"], secret)["event"] == "run_succeeded"


def test_a_configured_header_cannot_pose_as_the_signature(hook_factory: Any) -> None:
    hook = hook_factory(secret=WEBHOOK_SECRET)
    cfg = config(hook.url, webhook_secret=WEBHOOK_SECRET,
                 webhook_headers={"Webhook-Signature": "v1,forged", "webhook-id": "forged"})
    webhook.send(payload(), cfg, allow_private=True)
    [req] = hook.requests
    assert req["signature_valid"] is True and req["headers"]["webhook-id"] != "forged"


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
    assert "webhook-signature" not in hook.requests[0]["headers"]


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
