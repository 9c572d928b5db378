"""SchedulerManager through its public methods, on fakeredis and a real redis-server."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tasksched import (
    AutonomousConfig,
    ConflictError,
    CronError,
    NotFoundError,
    SafetyControls,
    SafetyLevel,
    SchedulerManager,
    ValidationError,
)
from tasksched.store.notifications import NotificationStore

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


def _keys(m: SchedulerManager) -> dict[str, Any]:
    r = m.store.redis
    return {k: r.dump(k) for k in r.keys("*")}


def test_create_and_status_use_strings_and_utc_iso_times(manager: SchedulerManager) -> None:
    cfg = AutonomousConfig(
        timezone="America/New_York",
        safety_controls=SafetyControls(level=SafetyLevel.STRICT, max_memory_usage_mb=800),
    )
    sid = manager.create_training_schedule("acme", "nightly retrain", "30 2 * * *", cfg, "desc")
    st = manager.get_schedule_status(sid)
    for key in (
        "status",
        "next_run",
        "last_run",
        "total_runs",
        "successful_runs",
        "failed_runs",
        "skipped_runs",
        "consecutive_failures",
        "last_result",
    ):
        assert key in st
    assert st["status"] == "active"
    assert st["config"]["safety_controls"]["level"] == "strict"
    assert st["config"]["safety_controls"]["max_memory_usage_mb"] == 800
    assert st["config"]["training_schedule"] == "30 2 * * *"
    assert ISO_UTC.match(st["next_run"]) and ISO_UTC.match(st["created_at"])
    assert st["next_run_local"].endswith(("-05:00", "-04:00"))
    nxt = datetime.fromisoformat(st["next_run"])
    assert nxt > datetime.now(UTC)
    assert st["total_runs"] == 0 and st["last_run"] is None and st["description"] == "desc"


def test_config_as_a_dict_and_cron_wins_over_training_schedule(manager: SchedulerManager) -> None:
    sid = manager.create_training_schedule(
        "acme", "n", "*/30 * * * *", {"training_schedule": "@daily", "quality_threshold": 0.8}
    )
    st = manager.get_schedule_status(sid)
    assert st["cron_expression"] == "*/30 * * * *"
    assert st["config"]["training_schedule"] == "*/30 * * * *"
    assert st["config"]["quality_threshold"] == 0.8
    assert st["config"]["safety_controls"]["quality_threshold"] == 0.8


@pytest.mark.parametrize(
    ("args", "field", "error"),
    [
        (("", "n", "@daily", None), "tenant_id", ValidationError),
        (("acme", "", "@daily", None), "name", ValidationError),
        (("acme", "n", "70 * * * *", None), "cron_expression", ValidationError),
        (("acme", "n", "@daily", {"timezone": "Moon/Base"}), "config.timezone", ValidationError),
        (
            ("acme", "n", "@daily", {"quality_threshold": 7}),
            "config.quality_threshold",
            ValidationError,
        ),
    ],
)
def test_bad_input_is_a_typed_error_and_nothing_is_stored(
    manager: SchedulerManager, args: tuple[Any, ...], field: str, error: type[Exception]
) -> None:
    before = _keys(manager)
    with pytest.raises(error) as exc:
        manager.create_training_schedule(*args)
    assert exc.value.field == field  # type: ignore[attr-defined]
    assert _keys(manager) == before


def test_cron_errors_are_validation_errors(manager: SchedulerManager) -> None:
    assert issubclass(CronError, ValidationError)
    with pytest.raises(CronError):
        manager.preview_cron("bad", "UTC")


def test_unknown_ids_raise_not_found(manager: SchedulerManager) -> None:
    for call in (
        lambda: manager.get_schedule_status("missing"),
        lambda: manager.update_schedule("missing", name="x"),
        lambda: manager.pause_schedule("missing"),
        lambda: manager.resume_schedule("missing"),
        lambda: manager.delete_schedule("missing"),
        lambda: manager.get_runs("missing"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_tenant_scope_hides_other_tenants(manager: SchedulerManager) -> None:
    sid = manager.create_training_schedule("acme", "n", "@daily")
    with pytest.raises(NotFoundError):
        manager.get_schedule_status(sid, tenant_id="globex")
    with pytest.raises(NotFoundError):
        manager.delete_schedule(sid, tenant_id="globex")
    assert manager.get_schedule_status(sid, tenant_id="acme")["id"] == sid
    assert manager.list_schedules("globex") == []


def test_update_pause_resume_delete(manager: SchedulerManager) -> None:
    sid = manager.create_training_schedule("acme", "n", "@daily")
    st = manager.update_schedule(sid, expected_version=1, name="renamed", cron_expression="@hourly")
    assert st["name"] == "renamed" and st["version"] == 2 and st["cron_expression"] == "@hourly"
    with pytest.raises(ConflictError):
        manager.update_schedule(sid, expected_version=1, name="stale")
    assert manager.pause_schedule(sid)["status"] == "paused"
    assert manager.get_schedule_status(sid)["next_run"] is None
    assert manager.resume_schedule(sid)["status"] == "active"
    manager.delete_schedule(sid)
    assert manager.list_schedules() == []


def test_bulk_create_validates_all_before_writing(manager: SchedulerManager) -> None:
    items = [{"tenant_id": "acme", "name": f"s{i}", "cron_expression": "@daily"} for i in range(10)]
    items[7]["cron_expression"] = "nope"
    with pytest.raises(ValidationError) as exc:
        manager.create_training_schedules(items)
    assert exc.value.field == "items[7].cron_expression"
    assert manager.list_schedules() == []
    items[7]["cron_expression"] = "@hourly"
    assert len(manager.create_training_schedules(items)) == 10
    assert len(manager.list_schedules("acme")) == 10


def test_global_switch(manager: SchedulerManager) -> None:
    assert manager.scheduler_state()["enabled"] is True
    assert manager.stop_scheduler()["enabled"] is False
    assert manager.store.control.state()["enabled"] is False
    assert manager.start_scheduler()["enabled"] is True


def test_export_import_through_the_manager(manager: SchedulerManager) -> None:
    sid = manager.create_training_schedule("acme", "n", "@daily")
    doc = manager.export_schedules()
    manager.delete_schedule(sid)
    assert manager.import_schedules(doc) == [sid]
    assert manager.get_schedule_status(sid)["name"] == "n"


def test_preview_cron() -> None:
    p = SchedulerManager.preview_cron(
        "0 9 * * mon-fri", "Europe/Paris", 3, after=datetime(2026, 1, 2, tzinfo=UTC)
    )
    assert p["description"].startswith("At 09:00")
    assert p["next_fire_times"] == [
        "2026-01-02T09:00:00+01:00",
        "2026-01-05T09:00:00+01:00",
        "2026-01-06T09:00:00+01:00",
    ]
    assert p["next_fire_times_utc"][0] == "2026-01-02T08:00:00+00:00"


def test_runs_paging_is_validated(manager: SchedulerManager) -> None:
    sid = manager.create_training_schedule("acme", "n", "@daily")
    assert manager.get_runs(sid) == []
    with pytest.raises(ValidationError) as exc:
        manager.get_runs(sid, limit=0)
    assert exc.value.field == "limit"


def test_bulk_create_with_a_shared_config_object(manager: SchedulerManager) -> None:
    shared = AutonomousConfig(timezone="Europe/Berlin", quality_threshold=0.8)
    items = [
        {"tenant_id": "acme", "name": f"s{i}", "cron_expression": c, "config": shared}
        for i, c in enumerate(["@daily", "*/5 * * * *", "@daily"])
    ]
    bad = [
        *items,
        {"tenant_id": "bad tenant", "name": "x", "cron_expression": "@daily", "config": shared},
    ]
    with pytest.raises(ValidationError) as exc:
        manager.create_training_schedules(bad)
    assert exc.value.field == "items[3].tenant_id"
    assert manager.list_schedules() == []
    ids = manager.create_training_schedules(items)
    crons = [manager.get_schedule_status(i)["config"]["training_schedule"] for i in ids]
    assert crons == ["@daily", "*/5 * * * *", "@daily"]
    assert shared.training_schedule == "0 2 * * *"  # the caller's object is not changed
    assert manager.get_schedule_status(ids[1])["config"]["quality_threshold"] == 0.8


def test_dead_letters_scoped_by_tenant(manager: SchedulerManager) -> None:
    notes = NotificationStore(manager.store)
    for i, tenant in enumerate(["a", "b", "a"]):
        notes.add_dead_letter({"event_id": f"e{i}", "tenant_id": tenant})
    assert [d["event_id"] for d in manager.dead_letters(tenant_id="a")] == ["e2", "e0"]
    assert [d["event_id"] for d in manager.dead_letters(limit=1, offset=1)] == ["e1"]


def test_enabled_false_creates_the_schedule_paused_and_enabled_follows_its_status(
    manager: SchedulerManager,
) -> None:
    due = manager.store.keys.due
    sid = manager.create_training_schedule(
        "acme", "off", "0 2 * * *", AutonomousConfig(enabled=False)
    )
    status = manager.get_schedule_status(sid)
    assert (status["status"], status["config"]["enabled"], status["next_run"]) == (
        "paused", False, None,
    )  # fmt: skip
    assert manager.store.redis.zscore(due, sid) is None  # beat never sees it
    resumed = manager.resume_schedule(sid)
    assert (resumed["status"], resumed["config"]["enabled"]) == ("active", True)
    assert manager.store.redis.zscore(due, sid) is not None
    paused = manager.pause_schedule(sid)
    assert (paused["status"], paused["config"]["enabled"]) == ("paused", False)
    # An update that gives enabled resumes or pauses; one that does not keeps the status.
    on = manager.update_schedule(sid, config={"enabled": True})
    assert (on["status"], on["config"]["enabled"]) == ("active", True) and on["next_run"]
    assert manager.store.redis.zscore(due, sid) is not None
    kept = manager.update_schedule(sid, config={"quality_threshold": 0.9})
    assert kept["status"] == "active"
    off = manager.update_schedule(sid, config={"enabled": False})
    assert (off["status"], off["config"]["enabled"], off["next_run"]) == ("paused", False, None)
    assert manager.store.redis.zscore(due, sid) is None
    kept = manager.update_schedule(sid, config=AutonomousConfig(quality_threshold=0.8))
    assert kept["status"] == "paused"  # a whole config object that leaves enabled unset
    # Bulk creation and a dict config, and the way back through export and import.
    a, b = manager.create_training_schedules([
        {"tenant_id": "acme", "name": "a", "cron_expression": "@daily",
         "config": {"enabled": False}},
        {"tenant_id": "acme", "name": "b", "cron_expression": "@daily"},
    ])  # fmt: skip
    assert manager.get_schedule_status(a)["status"] == "paused"
    assert manager.get_schedule_status(b)["status"] == "active"
    doc = manager.export_schedules()
    manager.delete_schedule(a)
    manager.import_schedules(doc)
    assert manager.get_schedule_status(a)["config"]["enabled"] is False
    assert manager.get_schedule_status(a)["status"] == "paused"
