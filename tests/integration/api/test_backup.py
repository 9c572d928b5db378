"""Export and import through the API."""

from __future__ import annotations

import httpx

from tests.integration.api.conftest import new_schedule


def test_export_import_round_trip(admin: httpx.Client, acme: httpx.Client) -> None:
    a = new_schedule(
        acme,
        name="with-secret",
        config={"notifications": {"types": ["webhook"], "webhook_url": "https://h.example/x",
                                  "webhook_secret": "round-trip-secret"}},
    )["schedule_id"]
    b = new_schedule(admin, tenant_id="globex", name="g")["schedule_id"]
    admin.post(f"/schedules/{b}/pause")
    doc = admin.get("/export").json()
    assert doc["format"] == "tasksched.export" and doc["tenant_id"] is None
    assert {s["id"] for s in doc["schedules"]} == {a, b}
    assert "round-trip-secret" not in admin.get("/export").text
    for sid in (a, b):
        assert admin.delete(f"/schedules/{sid}").status_code == 204
    r = admin.post("/import", json=doc)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["imported"]) == sorted([a, b]) and r.json()["count"] == 2
    assert acme.get(f"/schedules/{a}").json()["config"]["notifications"]["webhook_secret"] == (
        "********"
    )
    assert admin.get(f"/schedules/{b}").json()["status"] == "paused"
    # Without replace an existing id is refused, and nothing is written.
    again = admin.post("/import", json=doc, params={"replace": "false"})
    assert again.status_code == 422 and again.json()["error"]["field"] == "schedules"
    # Limited to one tenant, a document holding another tenant's schedule is refused whole.
    scoped = admin.post("/import", json=doc, params={"tenant_id": "acme"})
    assert scoped.status_code == 422
    assert scoped.json()["error"]["field"].endswith(".tenant_id")
