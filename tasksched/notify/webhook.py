"""The webhook channel: HTTP POST of the event as JSON, signed the Standard Webhooks way.

* Body: the event payload as compact JSON with sorted keys (UTF-8).
* Headers: the configured ones, then ``Content-Type: application/json``,
  ``X-Tasksched-Event``, ``X-Tasksched-Event-Id``, ``X-Tasksched-Timestamp`` (epoch seconds
  of this attempt) and, when ``webhook_secret`` is set, the Standard Webhooks headers
  ``webhook-id`` (the event id), ``webhook-timestamp`` and ``webhook-signature``
  (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, see :mod:`tasksched.webhooks`), plus
  the deprecated body-only ``X-Tasksched-Signature: sha256=<hex>``.
* 2xx is success; 429, 5xx and network errors are retryable (a ``Retry-After`` answer
  lengthens the next delay, up to the backoff cap); 3xx (redirects are not followed) and
  other 4xx are not. Error texts never echo the receiver's answer.
* The host passes the outbound guard (:mod:`tasksched.notify.outbound`); the request then
  goes to the checked address (TLS still verifies the host name), so a DNS answer that
  changes between the check and the request cannot redirect it. Environment proxies are
  not used: a proxy would make the check meaningless.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from tasksched import webhooks
from tasksched.errors import NotificationError
from tasksched.models import NotificationConfig
from tasksched.notify.outbound import check_address

CHANNEL = "webhook"
SIGNATURE_HEADER = "X-Tasksched-Signature"
TIMESTAMP_HEADER = "X-Tasksched-Timestamp"
USER_AGENT = "tasksched-webhook/1"


class WebhookError(NotificationError):
    """A failed delivery; ``retry_after_s`` is the receiver's ``Retry-After`` (seconds)."""

    def __init__(self, message: str, retryable: bool, retry_after_s: float | None = None):
        self.retry_after_s = retry_after_s
        super().__init__(CHANNEL, message, retryable)


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys sorted, UTF-8."""
    return json.dumps(
        payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str
    ).encode()


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: the old body-only HMAC (``X-Tasksched-Signature``, deprecated)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pick_address(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to; refuses a host with any non-public address (see outbound)."""
    return check_address(CHANNEL, host, port, allow_private)


class PinnedAdapter(HTTPAdapter):
    """Connects to a fixed address while the URL (Host, SNI, certificate) keeps the name."""

    def __init__(self, address: str, hostname: str):
        self._address = address
        self._hostname = hostname
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        """The pool for the pinned address; TLS checks the certificate against the name."""
        params, kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params, pool_kwargs = cast(dict[str, Any], params), cast(dict[str, Any], kwargs)
        host_params["host"] = self._address
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._hostname
            pool_kwargs["assert_hostname"] = self._hostname
        return host_params, pool_kwargs

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        """Keep the URL's host in ``Host`` (the connection itself goes to the address)."""
        if "Host" not in request.headers and request.url:
            request.headers["Host"] = urlsplit(request.url).netloc.rpartition("@")[2]


def build_headers(
    payload: Mapping[str, Any], config: NotificationConfig, body: bytes, now: float
) -> dict[str, str]:
    """The request headers: configured ones, then content type, ids, timestamp, signature."""
    # Our own headers win over configured ones of the same name (case-insensitively), so a
    # configured header can never pose as the signature or the event id.
    ours = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Tasksched-Event": str(payload.get("event")),
        "X-Tasksched-Event-Id": str(payload.get("id")),
        TIMESTAMP_HEADER: str(int(now)),
    }
    if config.webhook_secret is not None:
        secret = config.webhook_secret.get_secret_value()
        ours.update(webhooks.signed_headers(secret, str(payload.get("id")), int(now), body))
        ours[SIGNATURE_HEADER] = signature(body, secret)
    taken = {k.lower() for k in ours}
    headers = {k: v for k, v in config.webhook_headers.items() if k.lower() not in taken}
    headers.update(ours)
    return headers


def _safe_url(url: str) -> str:
    # Query strings and user info often carry tokens: keep them out of errors and logs.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def send(
    payload: Mapping[str, Any],
    config: NotificationConfig,
    allow_private: bool = False,
    now: float | None = None,
    ca_file: str | None = None,
) -> str:
    """POST the event; raises NotificationError (retryable or not).

    TLS verifies against certifi's CAs, or ``ca_file`` (PEM) when given.
    """
    url = config.webhook_url
    if not url:
        raise NotificationError(CHANNEL, "no webhook_url", retryable=False)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = pick_address(host, port, allow_private)
    body = body_bytes(payload)
    headers = build_headers(payload, config, body, time.time() if now is None else now)
    safe = _safe_url(url)
    with requests.Session() as session:
        session.trust_env = False
        adapter = PinnedAdapter(address, host)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            resp = session.post(
                url, data=body, headers=headers, timeout=config.webhook_timeout,
                allow_redirects=False, verify=ca_file or True,
            )
        except requests.exceptions.SSLError:
            raise NotificationError(CHANNEL, f"TLS error with {safe}", False) from None
        except requests.exceptions.Timeout:
            raise NotificationError(CHANNEL, f"cannot reach {safe}: timed out") from None
        except requests.RequestException:
            # One message for refused, reset and unreachable: a report is no port scanner.
            raise NotificationError(CHANNEL, f"cannot reach {safe}: connection failed") from None
        status = resp.status_code
        wait_s = retry_after_s(resp.headers.get("Retry-After"))
    if 200 <= status < 300:
        return f"HTTP {status} from {safe}"
    retryable = status == 429 or status >= 500
    # The receiver's body is not echoed: a report must not relay what a server answered.
    why = ": redirects are not followed" if 300 <= status < 400 else ""
    raise WebhookError(f"HTTP {status} from {safe}{why}", retryable, wait_s)
