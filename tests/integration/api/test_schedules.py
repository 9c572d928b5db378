"""Schedules through real HTTP: create, read, list, update with ETag/If-Match, delete, runs."""

from __future__ import annotations

import httpx

from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store
from tests.integration.api.conftest import ServedApi, new_schedule

WEBHOOK_SECRET = "whsec-do-not-leak-42"
SMTP_PASSWORD = "smtp-pass-do-not-leak-43"
HEADER_VALUE = "Bearer header-do-not-leak-44"


def _secret_config() -> dict[str, object]:
    return {
        "safety_controls": {"level": "strict"},
        "notifications": {
            "types": ["webhook", "email"],
            "webhook_url": "https://hooks.example.com/x",
            "webhook_secret": WEBHOOK_SECRET,
            "webhook_headers": {"Authorization": HEADER_VALUE},
            "email_smtp_host": "smtp.example.com",
            "email_recipients": ["ops@example.com"],
            "email_password": SMTP_PASSWORD,
        },
    }


def _no_secrets(text: str) -> None:
    for secret in (WEBHOOK_SECRET, SMTP_PASSWORD, HEADER_VALUE):
        assert secret not in text


def test_create_returns_201_with_id_location_and_etag(acme: httpx.Client) -> None:
    r = acme.post(
        "/schedules",
        json={"name": "nightly", "cron_expression": "30 1 * * *", "description": "churn"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    sid = body["schedule_id"]
    assert body["id"] == sid and body["tenant_id"] == "acme"
    assert body["status"] == "active" and body["version"] == 1
    assert body["cron_expression"] == "30 1 * * *" and body["description"] == "churn"
    assert body["config"]["safety_controls"]["level"] == "moderate"
    assert body["next_run"] is not None
    assert r.headers["Location"] == f"/api/scheduler/schedules/{sid}"
    assert r.headers["ETag"] == '"1"'
    got = acme.get(f"/schedules/{sid}")
    assert got.status_code == 200 and got.json()["name"] == "nightly"
    assert got.headers["ETag"] == '"1"'


def test_admin_creates_for_any_tenant_and_must_name_it(admin: httpx.Client) -> None:
    body = new_schedule(admin, tenant_id="initech")
    assert body["tenant_id"] == "initech"
    r = admin.post("/schedules", json={"name": "x", "cron_expression": "* * * * *"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "tenant_id"


def test_secrets_are_stored_but_never_returned(
    acme: httpx.Client, api: ServedApi, real_store: Store
) -> None:
    r = acme.post(
        "/schedules",
        json={"name": "alerts", "cron_expression": "@hourly", "config": _secret_config()},
    )
    assert r.status_code == 201, r.text
    _no_secrets(r.text)
    sid = r.json()["schedule_id"]
    notif = r.json()["config"]["notifications"]
    assert notif["webhook_secret"] == "********"
    assert notif["email_password"] == "********"
    assert notif["webhook_headers"] == {"Authorization": "********"}
    for path in (f"/schedules/{sid}", "/schedules", "/export"):
        got = acme.get(path)
        assert got.status_code == 200
        _no_secrets(got.text)
    # An update that sends the mask back keeps the stored secret.
    r = acme.put(f"/schedules/{sid}", json={"config": {"notifications": notif}})
    assert r.status_code == 200, r.text
    _no_secrets(r.text)
    rec = real_store.schedules.get(sid)
    cfg = real_store.schedules.config_with_secrets(rec)
    assert cfg.notifications.webhook_secret is not None
    assert cfg.notifications.webhook_secret.get_secret_value() == WEBHOOK_SECRET
    assert cfg.notifications.webhook_headers == {"Authorization": HEADER_VALUE}


def test_list_is_paged_and_sorted(acme: httpx.Client) -> None:
    for name in ("c", "a", "b"):
        new_schedule(acme, name=name)
    r = acme.get("/schedules", params={"limit": 2})
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [s["name"] for s in page["schedules"]] == ["a", "b"]
    rest = acme.get("/schedules", params={"offset": 2, "limit": 2}).json()
    assert [s["name"] for s in rest["schedules"]] == ["c"]


def test_partial_update_changes_only_given_fields(acme: httpx.Client) -> None:
    sid = new_schedule(acme, description="keep me")["schedule_id"]
    r = acme.put(
        f"/schedules/{sid}",
        json={
            "cron_expression": "15 3 * * 1-5",
            "timezone": "Europe/Berlin",
            "config": {"safety_controls": {"max_memory_usage_mb": 512}},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cron_expression"] == "15 3 * * 1-5" and body["timezone"] == "Europe/Berlin"
    assert body["description"] == "keep me" and body["name"] == "nightly"
    assert body["config"]["safety_controls"]["max_memory_usage_mb"] == 512
    assert body["config"]["safety_controls"]["quality_threshold"] == 0.7  # moderate preset kept
    assert body["version"] == 2 and r.headers["ETag"] == '"2"'
    assert body["next_run_local"].endswith(("+01:00", "+02:00"))


def test_if_match_flow(acme: httpx.Client) -> None:
    sid = new_schedule(acme)["schedule_id"]
    tag = acme.get(f"/schedules/{sid}").headers["ETag"]
    first = acme.put(f"/schedules/{sid}", json={"name": "one"}, headers={"If-Match": tag})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    stale = acme.put(f"/schedules/{sid}", json={"name": "two"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    err = stale.json()["error"]
    assert err["type"] == "precondition_failed" and err["field"] == "If-Match"
    assert stale.headers["ETag"] == '"2"'
    assert acme.get(f"/schedules/{sid}").json()["name"] == "one"
    weak = acme.put(f"/schedules/{sid}", json={"name": "two"}, headers={"If-Match": 'W/"2"'})
    assert weak.status_code == 200
    anyv = acme.put(f"/schedules/{sid}", json={"name": "three"}, headers={"If-Match": "*"})
    assert anyv.status_code == 200 and anyv.json()["version"] == 4
    bad = acme.put(f"/schedules/{sid}", json={"name": "x"}, headers={"If-Match": "abc"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "If-Match"


def test_version_field_conflict_is_409(acme: httpx.Client) -> None:
    sid = new_schedule(acme)["schedule_id"]
    ok = acme.put(f"/schedules/{sid}", json={"name": "one", "version": 1})
    assert ok.status_code == 200
    stale = acme.put(f"/schedules/{sid}", json={"name": "two", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["error"]["type"] == "conflict"
    assert stale.json()["error"]["field"] == "version"
    both = acme.put(
        f"/schedules/{sid}", json={"name": "two", "version": 1}, headers={"If-Match": '"2"'}
    )
    assert both.status_code == 422 and both.json()["error"]["field"] == "version"


def test_pause_resume_delete(acme: httpx.Client) -> None:
    sid = new_schedule(acme)["schedule_id"]
    paused = acme.post(f"/schedules/{sid}/pause")
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused" and paused.json()["next_run"] is None
    resumed = acme.post(f"/schedules/{sid}/resume")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "active" and resumed.json()["next_run"] is not None
    gone = acme.delete(f"/schedules/{sid}")
    assert gone.status_code == 204 and gone.content == b""
    assert acme.get(f"/schedules/{sid}").status_code == 404
    assert acme.delete(f"/schedules/{sid}").status_code == 404


def test_enabled_false_creates_it_paused_and_follows_pause_resume_and_updates(
    acme: httpx.Client,
) -> None:
    created = new_schedule(acme, config={"enabled": False})
    sid = created["schedule_id"]
    assert created["status"] == "paused" and created["next_run"] is None
    assert created["config"]["enabled"] is False  # type: ignore[index]
    resumed = acme.post(f"/schedules/{sid}/resume").json()
    assert resumed["status"] == "active" and resumed["config"]["enabled"] is True
    paused = acme.post(f"/schedules/{sid}/pause").json()
    assert paused["status"] == "paused" and paused["config"]["enabled"] is False
    on = acme.put(f"/schedules/{sid}", json={"config": {"enabled": True}})
    assert on.status_code == 200, on.text
    assert on.json()["status"] == "active" and on.json()["next_run"] is not None
    off = acme.put(f"/schedules/{sid}", json={"config": {"enabled": False}}).json()
    assert off["status"] == "paused" and off["next_run"] is None


def test_runs_are_paged_newest_first(acme: httpx.Client, real_store: Store) -> None:
    sid = new_schedule(acme)["schedule_id"]
    for i in range(5):
        real_store.runs.add(
            f"{sid}-{i}", sid, "acme", RunStatus.SUCCEEDED, RunTrigger.CRON, score=1000.0 + i
        )
    first = acme.get(f"/schedules/{sid}/runs", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [r["run_id"] for r in page["runs"]] == [f"{sid}-4", f"{sid}-3"]
    assert page["next_offset"] == 2
    last = acme.get(f"/schedules/{sid}/runs", params={"offset": 4, "limit": 2}).json()
    assert [r["run_id"] for r in last["runs"]] == [f"{sid}-0"] and last["next_offset"] is None
    one = acme.get(f"/runs/{sid}-1")
    assert one.status_code == 200 and one.json()["status"] == "succeeded"
    assert acme.get(f"/runs/{sid}-99").status_code == 404


def _failing(store: Store, sid: str, failures: int = 3) -> None:
    """A failure streak with a cooldown, as the finish script leaves it."""
    key = store.keys.schedule(sid)
    store.redis.hset(
        key, mapping={"consecutive_failures": failures, "cooldown_until": repr(store.time() + 3600)}
    )


def test_reset_failures_ends_the_streak_and_the_history_says_who(
    acme: httpx.Client, globex: httpx.Client, real_store: Store
) -> None:
    sid = new_schedule(acme)["schedule_id"]
    _failing(real_store, sid)
    assert acme.get(f"/schedules/{sid}").json()["in_cooldown"] is True
    # another tenant's key neither resets nor reads it
    assert globex.post(f"/schedules/{sid}/reset-failures").status_code == 404
    assert globex.get(f"/schedules/{sid}/history").status_code == 404
    assert real_store.schedules.get(sid).counters["consecutive_failures"] == 3
    r = acme.post(f"/schedules/{sid}/reset-failures")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["consecutive_failures"] == 0 and body["in_cooldown"] is False
    assert r.headers["ETag"] == f'"{body["version"]}"'
    h = acme.get(f"/schedules/{sid}/history", params={"limit": 10})
    assert h.status_code == 200, h.text
    (entry,) = h.json()["history"]
    assert entry["event"] == "failures_reset" and entry["by"] == "api"
    assert entry["previous_consecutive_failures"] == 3
    assert acme.get(f"/schedules/{sid}/history", params={"limit": 0}).status_code == 422


def test_put_consecutive_failures_0_resets_and_any_other_value_is_refused(
    acme: httpx.Client, real_store: Store
) -> None:
    sid = new_schedule(acme)["schedule_id"]
    _failing(real_store, sid)
    bad = acme.put(f"/schedules/{sid}", json={"consecutive_failures": 2, "name": "renamed"})
    assert bad.status_code == 422 and "consecutive_failures" in bad.text
    rec = real_store.schedules.get(sid)
    assert rec.counters["consecutive_failures"] == 3 and rec.name != "renamed"
    ok = acme.put(f"/schedules/{sid}", json={"consecutive_failures": 0, "name": "renamed"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["consecutive_failures"] == 0 and ok.json()["name"] == "renamed"
    (entry,) = acme.get(f"/schedules/{sid}/history").json()["history"]
    assert entry["by"] == "update_schedule"
