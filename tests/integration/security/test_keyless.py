"""Keyless mode (no TASKSCHED_API_KEYS) on a developer's machine: `tasksched api` as a real
process. A web page's simple cross-site requests (a form post, a text/plain fetch) cannot
change anything, and a foreign Host (DNS rebinding) is refused even for reads."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import Proc, RedisServer, child_env, free_port, wait_for

SMALL_LIMIT = 4096  # TASKSCHED_API_MAX_BODY_BYTES of this process


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("keyless")
    redis = RedisServer(root / "redis")
    redis.start()
    port = free_port()
    env = child_env(TASKSCHED_REDIS_URL=redis.url,
                    TASKSCHED_API_MAX_BODY_BYTES=str(SMALL_LIMIT))  # fmt: skip
    proc = Proc([sys.executable, "-m", "tasksched.cli", "api", "--host", "127.0.0.1",
                 "--port", str(port)], env, root / "api.log")  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/scheduler"
    try:
        wait_for(lambda: httpx.get(url + "/healthz").status_code == 200, 30, what="the API")
        yield url
    finally:
        proc.stop()
        redis.stop()


def _switch(url: str) -> bool:
    return bool(httpx.get(url + "/status").json()["enabled"])


def test_a_cross_site_form_post_cannot_stop_the_scheduler(keyless: str) -> None:
    assert _switch(keyless) is True
    for headers, content in (
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=1"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--"),
        ({"Content-Type": "text/plain"}, b'{"force": true}'),
        ({}, b""),
    ):
        r = httpx.post(keyless + "/stop", headers={"Origin": "https://evil.example", **headers},
                       content=content)  # fmt: skip
        assert r.status_code == 415 and r.json()["error"]["field"] == "Content-Type", r.text
    assert _switch(keyless) is True  # nothing changed


def test_state_changes_need_json_or_the_client_header(keyless: str) -> None:
    created = httpx.post(keyless + "/schedules", json={
        "tenant_id": "dev", "name": "n", "cron_expression": "@daily"})  # fmt: skip
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    for method, path in (("POST", f"/schedules/{sid}/pause"), ("POST", f"/schedules/{sid}/trigger"),
                         ("DELETE", f"/schedules/{sid}"), ("POST", "/stop")):  # fmt: skip
        bare = httpx.request(method, keyless + path, content=b"",
                             headers={"Content-Type": "text/plain"})  # fmt: skip
        assert bare.status_code == 415, (method, path, bare.text)
    assert httpx.get(keyless + f"/schedules/{sid}").json()["status"] == "active"
    paused = httpx.post(keyless + f"/schedules/{sid}/pause", headers={"X-Tasksched-Client": "cli"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io",
                                  "localhost.evil.example", "10.0.0.5"])
def test_a_foreign_host_is_refused_even_for_reads(keyless: str, host: str) -> None:
    for r in (httpx.get(keyless + "/schedules", headers={"Host": host}),
              httpx.post(keyless + "/stop", headers={"Host": host}, json={})):  # fmt: skip
        assert r.status_code == 400, r.text
    assert _switch(keyless) is True


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST:8000", "[::1]:8000"])
def test_loopback_host_names_are_served(keyless: str, host: str) -> None:
    assert httpx.get(keyless + "/schedules", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(("size", "status"), [(SMALL_LIMIT, 422), (SMALL_LIMIT + 1, 413)])
def test_the_documented_variable_sets_the_body_limit(keyless: str, size: int, status: int) -> None:
    head, tail = b'{"tenant_id":"dev","name":"n","cron_expression":"@daily","description":"', b'"}'
    body = head + b"x" * (size - len(head) - len(tail)) + tail
    r = httpx.post(keyless + "/schedules", content=body,
                   headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == status, r.text[:200]
