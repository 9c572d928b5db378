"""Every documented error: JSON ``{"error": {type, message, field, errors}}``, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tasksched.settings import Settings
from tests.integration.api.conftest import ADMIN_KEY, API_KEYS, ServedApi, new_schedule


def _error(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert set(err) == {"type", "message", "field", "errors"}
    if field is not None:
        assert err["field"] == field, err
        assert err["errors"][0]["field"] == field
    return err


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron_expression": "@daily"}, "name"),
        ({"name": "x"}, "cron_expression"),
        ({"name": "x", "cron_expression": "61 * * * *"}, "cron_expression"),
        ({"name": "x", "cron_expression": "0 0 30 2 *"}, "cron_expression"),
        ({"name": " ", "cron_expression": "@daily"}, "name"),
        ({"name": "x" * 200, "cron_expression": "@daily"}, "name"),
        ({"name": 5, "cron_expression": "@daily"}, "name"),
        ({"name": "x", "cron_expression": "@daily", "colour": "red"}, "colour"),
        ({"name": "x", "cron_expression": "@daily", "config": {"timezone": "Mars/Base"}},
         "config.timezone"),
        ({"name": "x", "cron_expression": "@daily", "config": {"quality_threshold": 1.5}},
         "config.quality_threshold"),
        ({"name": "x", "cron_expression": "@daily",
          "config": {"safety_controls": {"level": "reckless"}}}, "config.safety_controls.level"),
        ({"name": "x", "cron_expression": "@daily",
          "config": {"notifications": {"types": ["webhook"]}}}, "config.notifications"),
        ({"name": "x", "cron_expression": "@daily",
          "config": {"notifications": {"email_recipients": ["not-an-address"]}}},
         "config.notifications.email_recipients"),
    ],
)
def test_invalid_create_is_422_naming_the_field(
    acme: httpx.Client, body: dict[str, Any], field: str
) -> None:
    err = _error(acme.post("/schedules", json=body), 422, field)
    assert err["type"] == "validation_error"
    assert err["message"].startswith(field)


def test_two_values_for_one_threshold_store_the_stricter(acme: httpx.Client) -> None:
    body = {"name": "x", "cron_expression": "@daily",
            "config": {"quality_threshold": 0.8, "safety_controls": {"quality_threshold": 0.9}}}
    r = acme.post("/schedules", json=body)
    assert r.status_code == 201, r.text
    config = acme.get(f"/schedules/{r.json()['id']}").json()["config"]
    assert config["quality_threshold"] == config["safety_controls"]["quality_threshold"] == 0.9


def test_admin_naming_a_bad_tenant_is_422(admin: httpx.Client) -> None:
    body = {"name": "x", "cron_expression": "@daily", "tenant_id": "bad tenant!"}
    _error(admin.post("/schedules", json=body), 422, "tenant_id")
    _error(admin.get("/schedules", params={"tenant_id": "bad tenant!"}), 422, "tenant_id")


def test_malformed_json_is_422(acme: httpx.Client) -> None:
    r = acme.post(
        "/schedules", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    _error(r, 422)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"cron_expression": "every day"}, "cron_expression"),
        ({"timezone": "Nowhere/Land"}, "timezone"),
        ({"config": {"safety_controls": {"max_cpu_usage_percent": 300}}},
         "config.safety_controls.max_cpu_usage_percent"),
        ({"config": {"nonsense": 1}}, "config.nonsense"),
        ({"version": 0}, "version"),
        ({"tenant_id": "globex"}, "tenant_id"),
    ],
)
def test_invalid_update_is_422_naming_the_field(
    acme: httpx.Client, body: dict[str, Any], field: str
) -> None:
    sid = new_schedule(acme)["schedule_id"]
    _error(acme.put(f"/schedules/{sid}", json=body), 422, field)
    assert acme.get(f"/schedules/{sid}").json()["version"] == 1  # nothing written


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/schedules", {"limit": 0}, "limit"),
        ("/schedules", {"limit": 5000}, "limit"),
        ("/schedules", {"offset": -1}, "offset"),
        ("/cron/preview", {"expression": "0 2 * *"}, "expression"),
        ("/cron/preview", {"expression": "@daily", "timezone": "Mars/Base"}, "timezone"),
        ("/cron/preview", {"expression": "@daily", "count": 0}, "count"),
        ("/cron/preview", {}, "expression"),
        ("/cron/preview", {"expression": "@daily", "after": "2030-01-01T00:00:00"}, "after"),
    ],
)
def test_invalid_query_is_422(
    acme: httpx.Client, path: str, params: dict[str, Any], field: str
) -> None:
    _error(acme.get(path, params=params), 422, field)


def test_runs_paging_limits(acme: httpx.Client) -> None:
    sid = new_schedule(acme)["schedule_id"]
    _error(acme.get(f"/schedules/{sid}/runs", params={"limit": 1001}), 422, "limit")
    _error(acme.get(f"/schedules/{sid}/runs", params={"offset": -5}), 422, "offset")


def test_not_found_and_unknown_routes(acme: httpx.Client) -> None:
    err = _error(acme.get("/schedules/0123456789abcdef"), 404, "schedule_id")
    assert err["type"] == "not_found"
    assert _error(acme.get("/nothing-here"), 404)["type"] == "not_found"
    assert _error(acme.patch("/start"), 405)["type"] == "method_not_allowed"


def test_bad_import_documents_are_422(admin: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"format": "other", "version": 1, "schedules": []}, "format"),
        ({"format": "tasksched.export", "version": 9, "schedules": []}, "version"),
        ({"format": "tasksched.export", "version": 1, "schedules": [{"id": "a"}]},
         "schedules[0].tenant_id"),
        ({"format": "tasksched.export", "version": 1}, "schedules"),
    ]
    for doc, field in cases:
        _error(admin.post("/import", json=doc), 422, field)
    assert admin.get("/schedules").json()["total"] == 0


def test_secret_without_secret_key_is_422_naming_it(redis_url: str) -> None:
    served = ServedApi(Settings(redis_url=redis_url, api_keys=API_KEYS)).start()
    try:
        with served.client(ADMIN_KEY) as c:
            r = c.post(
                "/schedules",
                json={
                    "tenant_id": "acme",
                    "name": "x",
                    "cron_expression": "@daily",
                    "config": {"notifications": {"webhook_secret": "s"}},
                },
            )
            err = _error(r, 422, "TASKSCHED_SECRET_KEY")
            assert err["type"] == "secret_key_missing"
            assert "TASKSCHED_SECRET_KEY" in err["message"]
            assert c.get("/schedules").json()["total"] == 0
    finally:
        served.stop()
