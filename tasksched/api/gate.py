"""What every request passes before a route sees it: its size, its key, and (keyless) its origin.

An ASGI middleware, so each rule holds before the body is read:

1. **Size.** A ``Content-Length`` above ``TASKSCHED_API_MAX_BODY_BYTES`` is answered 413 at
   once; a body without one (chunked) is counted as it arrives and answered 413 as soon as it
   passes the limit. Nothing past the limit is read or kept.
2. **Key.** The API key is checked from the headers alone: a missing or wrong key is 401
   whatever the body holds (the body is never parsed for an unauthenticated caller).
3. **Keyless mode** (no ``TASKSCHED_API_KEYS``): only direct loopback clients, and a
   state-changing request (POST, PUT, PATCH, DELETE) must say ``Content-Type:
   application/json`` or carry ``X-Tasksched-Client``. A web page can send neither without a
   CORS preflight, which this API never grants, so a page the developer visits cannot drive
   the scheduler. Starlette's TrustedHostMiddleware in front of this one admits loopback
   ``Host`` values only (DNS rebinding).

The caller's :class:`~tasksched.api.auth.Principal` is left in ``scope["state"]["principal"]``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tasksched.api.auth import KeyRing, Principal, is_loopback
from tasksched.api.errors import error_body

CLIENT_HEADER = "x-tasksched-client"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN = Principal(None, "open")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


class BodyTooLarge(HTTPException):
    """Raised inside ``receive`` when a streamed body passes the limit (answered 413)."""

    def __init__(self, limit: int):
        super().__init__(
            413, f"the request body is larger than {limit} bytes (TASKSCHED_API_MAX_BODY_BYTES)"
        )


class Refusal(Exception):
    """Why the gate answers a request itself (status, type, message, field, headers)."""

    def __init__(self, status: int, type_: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):  # fmt: skip
        self.status, self.type, self.message = status, type_, message
        self.field, self.headers = field, headers or {}
        super().__init__(message)


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tasksched"'}


def identify(keys: KeyRing, headers: Headers, client_host: str | None) -> Principal:
    """The caller, from ``Authorization: Bearer <key>``; raises Refusal (401/403)."""
    if keys.open:
        proxied = "forwarded" in headers or "x-forwarded-for" in headers
        if not is_loopback(client_host) or proxied:
            raise Refusal(
                403, "forbidden", "no API keys are configured (TASKSCHED_API_KEYS): only "
                "direct loopback clients are served",
            )  # fmt: skip
        return OPEN
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Refusal(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                      "Authorization", _CHALLENGE)  # fmt: skip
    principal = keys.lookup(credentials.strip())
    if principal is None:
        raise Refusal(401, "unauthorized", "invalid API key", "Authorization", _CHALLENGE)
    return principal


def _cross_site_safe(headers: Headers) -> bool:
    # A simple cross-site request (a form post, fetch without preflight) can send neither a
    # JSON content type nor a custom header.
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or CLIENT_HEADER in headers


async def _reply(send: Send, refusal: Refusal) -> None:
    body = json.dumps(error_body(refusal.type, refusal.message, refusal.field)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in refusal.headers.items()),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, keys: KeyRing, max_body_bytes: int,
                 public_paths: frozenset[str]):  # fmt: skip
        self.app = app
        self.keys = keys
        self.max_body_bytes = max_body_bytes
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            self._check(scope, headers)
        except Refusal as refusal:
            await _reply(send, refusal)
            return
        limit = self.max_body_bytes
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _reply(send, Refusal(413, "payload_too_large", str(exc.detail)))

    def _check(self, scope: Scope, headers: Headers) -> None:
        method = scope.get("method", "GET")
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise Refusal(400, "bad_request", "Content-Length is not a number")
            if int(length) > self.max_body_bytes:
                raise Refusal(
                    413, "payload_too_large", f"the request body is larger than "
                    f"{self.max_body_bytes} bytes (TASKSCHED_API_MAX_BODY_BYTES)",
                )  # fmt: skip
        if scope.get("path", "") in self.public_paths:
            return
        client = scope.get("client")
        principal = identify(self.keys, headers, client[0] if client else None)
        if self.keys.open and method in UNSAFE_METHODS and not _cross_site_safe(headers):
            raise Refusal(
                415, "unsupported_media_type", "without API keys a state-changing request "
                "must send 'Content-Type: application/json' (or an X-Tasksched-Client "
                "header): a web page cannot, so no page can drive this API",
                "Content-Type",
            )  # fmt: skip
        state: dict[str, Any] = scope.setdefault("state", {})
        state["principal"] = principal
        state["key_id"] = principal.key_id
