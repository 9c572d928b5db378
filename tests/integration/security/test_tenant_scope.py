"""Tenant scope through the real API and worker: model directories, the run's tenant, feeds and
what ``/status`` shows a tenant key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tasksched.celery import TRAIN_TASK, app_for
from tasksched.settings import Settings
from tests.helpers import wait_for
from tests.integration.security.conftest import RUNNABLE, Rig, finished


def _scripted(client: httpx.Client, **options: Any) -> str:
    body = {"name": "n", "cron_expression": "0 2 * * *",
            "config": {"learner": "scripted", "learner_options": {"count": 500, **options},
                       "safety_controls": RUNNABLE}}  # fmt: skip
    r = client.post("/schedules", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def test_a_run_writes_only_under_its_own_derived_directory(
    rig: Rig, acme: httpx.Client, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "globex-models"
    # A model_dir option is only data to the learner: the run's directory is derived.
    sid = _scripted(acme, model_dir=str(elsewhere))
    run = finished(acme, acme.post(f"/schedules/{sid}/trigger", json={}).json()["run_id"])
    assert run["status"] == "succeeded", run
    own = rig.state_dir / "models" / "acme" / sid
    assert (own / "calls.log").exists() and (own / "model.txt").exists()
    assert not elsewhere.exists()
    assert {p.name for p in (rig.state_dir / "models").iterdir()} == {"acme"}


def test_a_message_naming_another_tenant_is_refused_by_the_worker(
    rig: Rig, acme: httpx.Client, globex: httpx.Client
) -> None:
    sid = _scripted(acme)
    settings = Settings(redis_url=rig.redis.url)
    run_id = f"{sid}-forged"
    # What someone with broker access could send: acme's schedule under globex's name.
    app_for(settings).send_task(
        TRAIN_TASK, kwargs={"tenant_id": "globex", "schedule_id": sid, "run_id": run_id,
                            "fire_time": None, "trigger": "manual"},
        task_id=run_id, queue=settings.training_queue,
    )  # fmt: skip
    import redis as redis_py

    client = redis_py.Redis.from_url(rig.redis.url, decode_responses=True)

    def recorded() -> dict[str, str] | None:
        run = client.hgetall(f"{{tasksched}}:run:{run_id}")
        return run if run.get("status") in ("skipped", "failed", "succeeded") else None

    run = wait_for(recorded, 60, 0.2, what="the forged run's record")
    client.close()
    assert run["status"] == "skipped" and run["decided_by"] == "tenant", run
    assert "another tenant" in run["reason"]
    assert run["tenant_id"] == "acme"  # the run belongs to the schedule's tenant
    assert globex.get(f"/runs/{run_id}").status_code == 404
    assert acme.get(f"/runs/{run_id}").json()["status"] == "skipped"
    assert not (rig.state_dir / "models" / "globex").exists()
    assert not (rig.state_dir / "models" / "acme" / sid / "calls.log").exists()  # not trained


def test_feeds_are_isolated(
    rig: Rig, acme: httpx.Client, globex: httpx.Client
) -> None:
    sid = acme.post("/schedules", json={
        "name": "n", "cron_expression": "0 2 * * *",
        "config": {"notifications": {"types": ["memory"], "memory_tenant_id": "acme"}},
    }).json()["id"]  # fmt: skip
    report = acme.post("/test-notification", json={"schedule_id": sid, "timeout_s": 20}).json()
    assert report["channels"]["memory"]["status"] == "sent", report
    assert len(acme.get("/notifications").json()["notifications"]) == 1
    assert globex.get("/notifications").json()["notifications"] == []
    peek = acme.get("/notifications", params={"tenant_id": "globex"})
    assert peek.status_code == 403 and peek.json()["error"]["field"] == "tenant_id"
    # An ad-hoc test send may not target another tenant's feed either.
    adhoc = acme.post("/test-notification", json={
        "config": {"types": ["memory"], "memory_tenant_id": "globex"}, "timeout_s": 5,
    })  # fmt: skip
    assert adhoc.status_code == 422, adhoc.text
    assert globex.get("/notifications").json()["notifications"] == []
    # globex cannot see, change or trigger acme's schedule: it does not exist for globex.
    for r in (globex.get(f"/schedules/{sid}"), globex.post(f"/schedules/{sid}/trigger", json={}),
              globex.put(f"/schedules/{sid}", json={"name": "x"})):  # fmt: skip
        assert r.status_code == 404, r.text


def test_status_shows_a_tenant_its_own_tenant_only(
    rig: Rig, acme: httpx.Client, globex: httpx.Client, admin: httpx.Client
) -> None:
    for _ in range(2):
        _scripted(globex)
    _scripted(acme)
    mine = acme.get("/status").json()
    assert mine["schedules"] == {"active": 1, "paused": 0, "total": 1}
    assert mine["queues"] == {} and "counters" not in mine and "runs" not in mine
    assert set(mine["beat"]) <= {"leader_present", "last_tick", "last_tick_age_s", "lag_s"}
    for worker in mine["workers"]:
        assert "active_runs" not in worker["readings"] and "running" not in worker["readings"]
    everything = admin.get("/status").json()
    assert everything["schedules"]["total"] == 3 and "counters" in everything
    assert acme.get("/metrics").status_code == 403
