"""Manual triggers through the API: a forced run queued in the broker, tenant scoping."""

from __future__ import annotations

import httpx

from tests.integration.api.conftest import new_schedule


def test_trigger_queues_a_forced_run(acme: httpx.Client, admin: httpx.Client) -> None:
    sid = new_schedule(acme)["schedule_id"]
    r = acme.post(f"/schedules/{sid}/trigger", json={"force": True})
    assert r.status_code == 202, r.text
    body = r.json()
    run_id = body["run_id"]
    assert body["forced"] is True and body["run"]["status"] == "queued"
    assert body["run"]["trigger"] == "manual" and body["run"]["forced"] is True
    assert r.headers["Location"] == f"/api/scheduler/runs/{run_id}"
    # The run is in the history and its message waits in the broker's training queue.
    runs = acme.get(f"/schedules/{sid}/runs").json()["runs"]
    assert [x["run_id"] for x in runs] == [run_id]
    assert admin.get("/status").json()["queues"]["training"] == 1
    plain = admin.post(f"/schedules/{sid}/trigger")  # no body: not forced; admin acts for acme
    assert plain.status_code == 202 and plain.json()["forced"] is False
    assert plain.json()["run"]["tenant_id"] == "acme"


def test_trigger_of_another_tenants_schedule_is_404(
    acme: httpx.Client, globex: httpx.Client
) -> None:
    sid = new_schedule(globex)["schedule_id"]
    r = acme.post(f"/schedules/{sid}/trigger", json={"force": True})
    assert r.status_code == 404
    assert globex.get(f"/schedules/{sid}/runs").json()["runs"] == []
