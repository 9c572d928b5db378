"""The webhook channel without a receiver: address rules, body, Retry-After, server down."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasksched.errors import NotificationError
from tasksched.models import NotificationConfig, NotificationEvent
from tasksched.notify import webhook
from tasksched.notify.events import make_payload
from tests.helpers import free_port


def payload() -> dict[str, Any]:
    return make_payload(
        "ev2", NotificationEvent.RUN_SUCCEEDED, tenant_id="acme", schedule_id="s1",
        schedule_name="Nightly", importance=5,
        run={"run_id": "s1-1700000000", "quality_score": 0.93, "validation_score": 0.91},
        now=1700000000.0,
    )


def config(url: str, **kw: Any) -> NotificationConfig:
    return NotificationConfig.model_validate(
        {"types": ["webhook"], "webhook_url": url, "webhook_timeout": 5, **kw}
    )


def test_server_down_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook?token=q-secret-123"
    with pytest.raises(NotificationError) as err:
        webhook.send(payload(), config(url), allow_private=True)
    assert err.value.retryable is True and "cannot reach" in str(err.value)
    assert "q-secret-123" not in str(err.value)


def test_a_loopback_receiver_is_refused_unless_allowed() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(NotificationError) as err:
        webhook.send(payload(), config(url))
    assert err.value.retryable is False and "loopback" in str(err.value)


def test_body_is_the_signed_compact_json() -> None:
    p = payload()
    body = webhook.body_bytes(p)
    assert json.loads(body) == json.loads(json.dumps(p))
    assert body == webhook.body_bytes(dict(reversed(list(p.items()))))  # keys sorted


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("120", 120.0), ("soon", None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    assert webhook.retry_after_s(value) == expected
