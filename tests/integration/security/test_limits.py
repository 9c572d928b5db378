"""Every limit at exactly its boundary, through the real API process (default settings):
the body limit (1 MiB, by Content-Length and chunked, answered before the body is read), the
key checked before the body, and the JSON limits of ``learner_options``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tasksched.models.base import JSON_MAX_BYTES, JSON_MAX_DEPTH, JSON_MAX_ITEMS, JSON_MAX_STRING
from tests.integration.security.conftest import ACME_KEY, Rig

LIMIT = 1024 * 1024  # TASKSCHED_API_MAX_BODY_BYTES's default


def body_of(size: int) -> bytes:
    """A JSON schedule body of exactly ``size`` bytes (its description is too long: 422)."""
    head, tail = b'{"name":"n","cron_expression":"@daily","description":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def chunks(data: bytes, n: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(data), n):
        yield data[i : i + n]


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 422), (LIMIT + 1, 413)])
def test_the_body_limit_by_content_length(acme: httpx.Client, size: int, status: int) -> None:
    r = acme.post("/schedules", content=body_of(size), headers=JSON)
    assert r.status_code == status, r.text[:300]
    if status == 413:
        assert r.json()["error"]["type"] == "payload_too_large"
    else:
        assert r.json()["error"]["field"] == "description"  # read and validated


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 422), (LIMIT + 1, 413)])
def test_the_body_limit_of_a_chunked_body(acme: httpx.Client, size: int, status: int) -> None:
    r = acme.post("/schedules", content=chunks(body_of(size)), headers=JSON)
    assert "content-length" not in r.request.headers  # streamed: Transfer-Encoding: chunked
    assert r.status_code == status, r.text[:300]


def _raw(rig: Rig, head: str, body: bytes = b"", timeout_s: float = 10) -> tuple[str, float]:
    url = urlsplit(rig.api_url)
    t0 = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=timeout_s) as s:
        s.sendall(head.encode() + body)
        reply = s.recv(65536).decode(errors="replace")
    return reply, time.monotonic() - t0


def test_a_huge_content_length_is_answered_413_before_any_body_is_sent(rig: Rig) -> None:
    head = (f"POST /api/scheduler/schedules HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {ACME_KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n")  # fmt: skip
    reply, took_s = _raw(rig, head)  # not one byte of the 50 MB follows
    assert reply.startswith("HTTP/1.1 413"), reply
    assert took_s < 5


@pytest.mark.parametrize(
    ("headers", "body"),
    [({}, b"{not json"), ({"Authorization": "Bearer wrong"}, b"{not json"),
     ({"Authorization": "Bearer wrong"}, b'{"name": "n", "cron_expression": "@daily"}'),
     ({}, b"[" * 50_000)],
)
def test_the_key_is_checked_before_the_body(
    rig: Rig, headers: dict[str, str], body: bytes
) -> None:
    r = httpx.post(rig.api_url + "/api/scheduler/schedules", content=body,
                   headers={**JSON, **headers})  # fmt: skip
    assert r.status_code == 401 and r.json()["error"]["field"] == "Authorization"


def options_of_size(size: int) -> dict[str, Any]:
    """Options whose compact JSON is exactly ``size`` bytes, in strings of legal length."""
    n_keys = size // 8000 + 1
    opts = {f"k{i}": "" for i in range(n_keys)}
    room = size - len(json.dumps(opts, separators=(",", ":")))
    for i in range(n_keys):
        take = min(room, JSON_MAX_STRING)
        opts[f"k{i}"] = "x" * take
        room -= take
    assert room == 0 and len(json.dumps(opts, separators=(",", ":"))) == size
    return opts


def nested(levels: int) -> dict[str, Any]:
    """Options that are ``levels`` levels of objects (the options object is level 1)."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("options", "ok"),
    [
        (options_of_size(JSON_MAX_BYTES), True),
        (options_of_size(JSON_MAX_BYTES + 1), False),
        (nested(JSON_MAX_DEPTH), True),
        (nested(JSON_MAX_DEPTH + 1), False),
        ({f"k{i}": 0 for i in range(JSON_MAX_ITEMS)}, True),
        ({f"k{i}": 0 for i in range(JSON_MAX_ITEMS + 1)}, False),
        ({"s": "x" * JSON_MAX_STRING}, True),
        ({"s": "x" * (JSON_MAX_STRING + 1)}, False),
        ({"k" * 128: 1}, True),
        ({"k" * 129: 1}, False),
    ],
    ids=["bytes", "bytes+1", "depth", "depth+1", "items", "items+1", "string", "string+1",
         "key", "key+1"],
)
def test_learner_option_limits_at_their_boundary(
    acme: httpx.Client, options: dict[str, Any], ok: bool
) -> None:
    body = {"name": "n", "cron_expression": "@daily", "config": {"learner_options": options}}
    r = acme.post("/schedules", json=body)
    if ok:
        assert r.status_code == 201, r.text[:300]
        stored = acme.get(f"/schedules/{r.json()['id']}").json()["config"]["learner_options"]
        assert stored == options  # and it reads back
    else:
        assert r.status_code == 422, r.text[:300]
        assert r.json()["error"]["field"].startswith("config.learner_options")
        assert acme.get("/schedules").json()["total"] == 0
