"""tasksched.webhooks: Standard Webhooks signatures, checked against the specification's own
example and an implementation written here, and verify() for receivers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from tasksched.webhooks import (
    WebhookVerificationError,
    generate_secret,
    sign,
    signed_headers,
    verify,
)

# The example of the Standard Webhooks specification (and of the libraries implementing it).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def by_hand(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_the_specifications_example() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    assert by_hand(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


@pytest.mark.parametrize("secret", [generate_secret(), "a plain shared secret", "whsec_" + "A" * 4])
def test_signatures_match_an_independent_implementation(secret: str) -> None:
    body = '{"event":"run_failed","tenant_id":"acme","x":"é"}'.encode()
    assert sign(secret, "ev1", 1700000000, body) == by_hand(secret, "ev1", 1700000000, body)


def test_verify_accepts_a_fresh_delivery_and_refuses_the_rest() -> None:
    secret, body, now = generate_secret(), b'{"id":"ev1","event":"test"}', int(time.time())
    headers = signed_headers(secret, "ev1", now, body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert verify(body, headers, secret) == {"id": "ev1", "event": "test"}
    upper = {k.title(): v for k, v in headers.items()}  # header names in any case
    assert verify(body.decode(), upper, secret)["id"] == "ev1"
    stale = signed_headers(secret, "ev1", now - 301, body)
    refusals = [
        (body + b" ", headers, secret),
        (body, {**headers, "webhook-timestamp": str(now + 1)}, secret),  # timestamp is signed
        (body, {**headers, "webhook-id": "ev2"}, secret),  # so is the id
        (body, headers, generate_secret()),
        (body, stale, secret),  # older than five minutes: a replay
        (body, signed_headers(secret, "ev1", now + 301, body), secret),  # from the future
        (body, {"webhook-id": "ev1"}, secret),  # headers missing
        (body, {**headers, "webhook-signature": "v1,!!!"}, secret),  # not base64
        (body, {**headers, "webhook-signature": "nonsense"}, secret),
        (body, {**headers, "webhook-timestamp": "soon"}, secret),
    ]
    for data, hdrs, key in refusals:
        with pytest.raises(WebhookVerificationError):
            verify(data, hdrs, key)


def test_generated_secrets_have_the_standard_form() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert generate_secret() != secret
