"""A tenant's key against a real API process and a real worker: every hostile configuration is
refused (nothing stored, the server still answers) or harmless, and no tenant-supplied code
runs anywhere (the marker module is never imported)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
import redis as redis_py

from tests.integration.security.conftest import RUNNABLE, Rig, finished

BASE = {"name": "n", "cron_expression": "0 2 * * *"}
MARKER_PATH = "tests.learners.marker:Touch"


def cfg(**config: Any) -> dict[str, Any]:
    return {**BASE, "config": config}


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# (what, body: a JSON document or raw bytes, status, field)
HOSTILE: list[tuple[str, Any, int, str | None]] = [
    ("an import path as learner", cfg(learner="subprocess:Popen"), 422, "config.learner"),
    ("a logging handler factory", cfg(learner="logging.config:dictConfig"), 422,
     "config.learner"),
    ("the marker module", cfg(learner=MARKER_PATH), 422, "config.learner"),
    ("an unregistered name", cfg(learner="mine-now"), 422, "config.learner"),
    ("another tenant's feed", cfg(notifications={"types": ["memory"],
                                                 "memory_tenant_id": "globex"}),
     422, "config.notifications.memory_tenant_id"),
    ("another tenant in the body", {**BASE, "tenant_id": "globex"}, 403, "tenant_id"),
    ("a lone surrogate in options",
     b'{"name":"n","cron_expression":"@daily","config":{"learner_options":{"a":"\\ud800"}}}',
     422, "config.learner_options.a"),
    ("a lone surrogate in a recipient",
     b'{"name":"n","cron_expression":"@daily","config":{"notifications":{"types":["email"],'
     b'"email_smtp_host":"smtp.example.com","email_recipients":["\\udc00@example.com"]}}}',
     422, "config.notifications.email_recipients"),
    ("a lone surrogate in the cron field", b'{"name":"n","cron_expression":"\\ud800"}', 422,
     "cron_expression"),
    ("a lone surrogate in the name", b'{"name":"\\udfff","cron_expression":"@daily"}', 422,
     "name"),
    ("NaN in options", b'{"name":"n","cron_expression":"@daily",'
     b'"config":{"learner_options":{"x":NaN}}}', 422, "config.learner_options.x"),
    ("Infinity as a threshold", b'{"name":"n","cron_expression":"@daily",'
     b'"config":{"jitter_s":Infinity}}', 422, "config.jitter_s"),
    ("options nested 400 deep", cfg(learner_options={"a": nested(400)}), 422,
     "config.learner_options.a"),
    ("a body nested 100000 deep", b"[" * 100_000 + b"]" * 100_000, 400, None),
    ("100k option keys", cfg(learner_options={f"k{i}": i for i in range(100_000)}), 413, None),
    ("5 MB of options", cfg(learner_options={"x": "y" * 5_000_000}), 413, None),
    ("1001 option keys", cfg(learner_options={f"k{i}": i for i in range(1001)}), 422,
     "config.learner_options"),
    ("a file URL as webhook", cfg(notifications={"types": ["webhook"],
                                                 "webhook_url": "file:///etc/passwd"}),
     422, "config.notifications.webhook_url"),
    ("a header injection", cfg(notifications={"types": ["webhook"],
                                              "webhook_url": "https://h.example.com/",
                                              "webhook_headers": {"X-A": "v\r\nX-B: w"}}),
     422, "config.notifications.webhook_headers"),
    ("a control character in the name", {**BASE, "name": "bad\x00name"}, 422, "name"),
    ("an unknown field", cfg(run_as_root=True), 422, "config.run_as_root"),
]


def _post(client: httpx.Client, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return client.post("/schedules", content=body,
                           headers={"Content-Type": "application/json"})
    return client.post("/schedules", json=body)


def _schedule_keys(rig: Rig) -> list[str]:
    client = redis_py.Redis.from_url(rig.redis.url, decode_responses=True)
    try:
        return sorted(client.scan_iter("{tasksched}:schedule:*"))
    finally:
        client.close()


@pytest.mark.parametrize(("what", "body", "status", "field"), HOSTILE,
                         ids=[h[0] for h in HOSTILE])  # fmt: skip
def test_a_hostile_configuration_is_refused_and_nothing_is_stored(
    rig: Rig, acme: httpx.Client, admin: httpx.Client, what: str, body: Any, status: int,
    field: str | None,
) -> None:
    r = _post(acme, body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    if field is not None:  # the field named, or a place inside it
        assert error["field"].startswith(field), error
    if field == "config.learner":
        assert "registered: demo, scripted" in error["message"]
    assert _schedule_keys(rig) == []
    assert admin.get("/schedules").json()["total"] == 0
    assert admin.get("/export").json()["schedules"] == []
    assert httpx.get(rig.api_url + "/healthz").status_code == 200


def test_import_refuses_what_create_refuses(rig: Rig, admin: httpx.Client) -> None:
    def doc(**item: Any) -> dict[str, Any]:
        base = {"id": "ok-1", "tenant_id": "acme", "name": "n", "cron_expression": "@daily",
                "status": "active", "config": {}, "secrets": None}
        return {"format": "tasksched.export", "version": 1, "schedules": [{**base, **item}]}

    for item, field in (
        ({"id": "../../x y"}, "schedules[0].id"),
        ({"config": {"learner": MARKER_PATH}}, "schedules[0].config.learner"),
        ({"config": {"notifications": {"memory_tenant_id": "globex"}}},
         "schedules[0].config.notifications.memory_tenant_id"),
        ({"name": "\x07"}, "schedules[0].name"),
        ({"config": [1]}, "schedules[0].config"),
    ):
        r = admin.post("/import", json=doc(**item))
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert _schedule_keys(rig) == []


def test_no_tenant_supplied_code_runs_anywhere(rig: Rig, acme: httpx.Client) -> None:
    # Through the CLI too (its own process, same environment).
    cli = subprocess.run(
        [sys.executable, "-m", "tasksched.cli", "schedule", "create", "--tenant", "acme",
         "--name", "n", "--cron", "@daily", "--learner", MARKER_PATH],
        env=rig.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 2 and "config.learner" in cli.stderr, cli.stderr
    # A schedule stored before learners were names (written straight into Redis): it still
    # reads and exports, its update is refused, and its run is skipped, importing nothing.
    body = cfg(learner="scripted", learner_options={"count": 500}, safety_controls=RUNNABLE)
    sid = acme.post("/schedules", json=body).json()["id"]
    client = redis_py.Redis.from_url(rig.redis.url, decode_responses=True)
    key = f"{{tasksched}}:schedule:{sid}"
    stored = json.loads(client.hget(key, "config") or "{}")
    client.hset(key, "config", json.dumps({**stored, "learner": MARKER_PATH}))
    client.close()
    assert acme.get(f"/schedules/{sid}").json()["config"]["learner"] == MARKER_PATH
    upd = acme.put(f"/schedules/{sid}", json={"name": "renamed"})
    assert upd.status_code == 422 and upd.json()["error"]["field"] == "config.learner"
    run_id = acme.post(f"/schedules/{sid}/trigger", json={"force": True}).json()["run_id"]

    run = finished(acme, run_id)
    assert run["status"] == "skipped" and run["decided_by"] == "learner", run
    assert "import path" in run["reason"] and "registered: demo, scripted" in run["reason"]
    assert not rig.marker.exists(), rig.marker.read_text()
