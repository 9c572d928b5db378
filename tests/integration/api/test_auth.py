"""API keys: tenant isolation with two tenant keys and an admin key, 401/403, key files."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tasksched.api import create_app
from tasksched.settings import Settings
from tests.integration.api.conftest import ACME_KEY, ServedApi, new_schedule


def test_missing_or_wrong_key_is_401(anon: httpx.Client, api: ServedApi) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {ACME_KEY}"},
                    {"Authorization": f"Bearer {ACME_KEY}x"}):
        r = anon.get("/schedules", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["type"] == "unauthorized"
        assert r.json()["error"]["field"] == "Authorization"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert anon.post("/start").status_code == 401
    assert anon.get("/export").status_code == 401


def test_tenant_sees_and_changes_only_its_own(
    acme: httpx.Client, globex: httpx.Client, admin: httpx.Client
) -> None:
    a = new_schedule(acme, name="acme-job")["schedule_id"]
    g = new_schedule(globex, name="globex-job")["schedule_id"]
    assert [s["name"] for s in acme.get("/schedules").json()["schedules"]] == ["acme-job"]
    assert [s["name"] for s in globex.get("/schedules").json()["schedules"]] == ["globex-job"]
    # Another tenant's schedule does not exist for this key: every verb is 404.
    calls = [
        ("GET", f"/schedules/{g}", None),
        ("PUT", f"/schedules/{g}", {"name": "stolen"}),
        ("DELETE", f"/schedules/{g}", None),
        ("POST", f"/schedules/{g}/pause", None),
        ("POST", f"/schedules/{g}/resume", None),
        ("GET", f"/schedules/{g}/runs", None),
    ]
    for method, path, body in calls:
        r = acme.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["type"] == "not_found"
    g_state = admin.get(f"/schedules/{g}").json()
    assert g_state["name"] == "globex-job" and g_state["status"] == "active"
    assert g_state["version"] == 1
    # Naming another tenant is refused (403), in a body or a query.
    body = {"tenant_id": "globex", "name": "x", "cron_expression": "@daily"}
    r = acme.post("/schedules", json=body)
    assert r.status_code == 403 and r.json()["error"]["field"] == "tenant_id"
    assert acme.get("/schedules", params={"tenant_id": "globex"}).status_code == 403
    assert acme.get("/export", params={"tenant_id": "globex"}).status_code == 403
    # Naming one's own tenant is fine.
    assert acme.get("/schedules", params={"tenant_id": "acme"}).json()["total"] == 1
    # The admin sees every tenant, or one.
    everyone = admin.get("/schedules").json()
    assert {s["schedule_id"] for s in everyone["schedules"]} == {a, g}
    only = admin.get("/schedules", params={"tenant_id": "globex"}).json()
    assert [s["schedule_id"] for s in only["schedules"]] == [g]
    assert admin.put(f"/schedules/{a}", json={"name": "by-admin"}).status_code == 200
    # An export by a tenant holds only its own schedules.
    doc = globex.get("/export").json()
    assert doc["tenant_id"] == "globex" and [s["id"] for s in doc["schedules"]] == [g]


def test_admin_only_operations_are_403_for_tenants(acme: httpx.Client, admin: httpx.Client) -> None:
    doc = admin.get("/export").json()
    for method, path, body in (
        ("POST", "/start", None),
        ("POST", "/stop", None),
        ("POST", "/import", doc),
        ("GET", "/metrics", None),
    ):
        r = acme.request(method, path, json=body)
        assert r.status_code == 403, path
        assert r.json()["error"]["type"] == "forbidden"
    stopped = admin.post("/stop")
    assert stopped.status_code == 200 and stopped.json()["enabled"] is False
    started = admin.post("/start")
    assert started.status_code == 200 and started.json()["enabled"] is True


def test_healthz_needs_no_key(anon: httpx.Client, api: ServedApi) -> None:
    r = anon.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "redis": True}
    root = httpx.get(api.url + "/healthz")
    assert root.status_code == 200


def test_open_mode_serves_loopback_as_admin_and_refuses_others(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(redis_url=redis_url)
    served = ServedApi(settings)
    with caplog.at_level("WARNING", logger="tasksched.api"):
        served.start()
    try:
        assert any("no API keys configured" in r.getMessage() for r in caplog.records)
        with served.client() as c:
            created = c.post(
                "/schedules", json={"tenant_id": "t1", "name": "n", "cron_expression": "@daily"}
            )
            assert created.status_code == 201
            # admin in open mode, for a request a web page could not send cross-site
            assert c.post("/stop", headers={"X-Tasksched-Client": "test"}).status_code == 200
            assert c.post("/start", json={}).status_code == 200
            proxied = c.get("/schedules", headers={"X-Forwarded-For": "203.0.113.9"})
            assert proxied.status_code == 403
    finally:
        served.stop()

    async def from_remote() -> int:
        transport = httpx.ASGITransport(app=create_app(settings), client=("203.0.113.9", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            r = await c.get("/api/scheduler/schedules")
            assert r.json()["error"]["type"] == "forbidden"
            return r.status_code

    assert asyncio.run(from_remote()) == 403
