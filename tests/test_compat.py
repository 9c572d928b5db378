"""The seed's API shapes (tasksched.compat) and the asyncio face (tasksched.aio), both faces.

On fakeredis and the real redis-server (the ``store`` fixture). The seed is the guide of the
single-process scheduler tasksched replaces; its snippets are quoted where they are tested.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from typing import Any

import pytest

from tasksched import (
    AsyncSchedulerManager,
    AutonomousConfig,
    NotificationConfig,
    NotificationType,
    SafetyControls,
    SafetyLevel,
    SchedulerManager,
    ScheduleStatus,
    SeedCompatibilityWarning,
    ValidationError,
)
from tasksched.models import RunStatus, RunTrigger
from tasksched.store import Store


def _failing(manager: SchedulerManager, sid: str, failures: int = 3) -> None:
    """Put a schedule in a failure streak with a cooldown, as the finish script would."""
    key = manager.store.keys.schedule(sid)
    now = manager.store.time()
    manager.store.redis.hset(
        key,
        mapping={"consecutive_failures": failures, "cooldown_until": repr(now + 3600)},
    )


def test_seed_constructor_keywords_warn_and_name_the_replacement(store: Store) -> None:
    with pytest.warns(SeedCompatibilityWarning) as record:
        m = SchedulerManager(store=store, autonomous_learner=object(), memory_service=object())
    messages = [str(w.message) for w in record]
    assert any("autonomous_learner" in t and "AutonomousConfig(learner=" in t for t in messages)
    assert any("memory_service" in t and "get_notifications" in t for t in messages)
    assert m.list_schedules() == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SchedulerManager(store=store)  # nothing to warn about
    with pytest.raises(TypeError):
        SchedulerManager(store=store, no_such_keyword=1)  # type: ignore[call-arg]


def test_complete_configuration_of_the_seed_constructs_and_stores(
    manager: SchedulerManager,
) -> None:
    # the seed's "Advanced Configuration" and "Complete configuration", as written
    safety_controls = SafetyControls(
        level=SafetyLevel.STRICT, min_data_threshold=500, max_data_threshold=10000,
        quality_threshold=0.8, max_training_time_minutes=60, validation_threshold=0.9,
        rollback_on_degradation=True, max_memory_usage_mb=2048, max_cpu_usage_percent=75.0,
        max_consecutive_failures=2, failure_cooldown_hours=24,
    )  # fmt: skip
    notifications = NotificationConfig(
        enabled=True,
        types=[NotificationType.LOG, NotificationType.EMAIL, NotificationType.WEBHOOK],
        email_smtp_host="smtp.example.com", email_smtp_port=587,
        email_username="your-email@example.com", email_password="your-app-password",
        email_recipients=["admin@example.com"],
        webhook_url="https://hooks.example.com/services/YOUR/WEBHOOK/URL",
        webhook_headers={"Authorization": "Bearer your-token"},
    )  # fmt: skip
    config = AutonomousConfig(
        enabled=True, training_schedule="0 3 * * 0", timezone="UTC",
        safety_controls=safety_controls, notifications=notifications,
        max_training_time=7200, backup_models=True, auto_rollback=True,
    )  # fmt: skip
    assert config.max_training_time == 3600  # the stricter of 60 minutes and 2 hours
    sid = manager.create_training_schedule("your-tenant", "Weekly", "0 3 * * 0", config)
    stored = manager.get_schedule_status(sid)["config"]
    assert stored["max_training_time"] == 3600
    assert stored["safety_controls"]["max_training_time_minutes"] == 60
    assert stored["safety_controls"]["quality_threshold"] == 0.8
    assert stored["notifications"]["email_password"] == "********"


def test_update_schedule_consecutive_failures_0_resets_streak_and_cooldown(
    manager: SchedulerManager,
) -> None:
    sid = manager.create_training_schedule("acme", "nightly", "0 2 * * *")
    _failing(manager, sid)
    before = manager.get_schedule_status(sid)
    assert before["consecutive_failures"] == 3 and before["in_cooldown"] is True
    # the seed's "Manual Recovery", as written
    schedules = manager.list_schedules()
    failed_schedules = [s for s in schedules if s["consecutive_failures"] > 0]
    assert [s["id"] for s in failed_schedules] == [sid]
    manager.update_schedule(sid, consecutive_failures=0)
    after = manager.get_schedule_status(sid)
    assert after["consecutive_failures"] == 0
    assert after["in_cooldown"] is False and after["cooldown_until"] is None
    (entry,) = manager.get_schedule_history(sid)
    assert entry["event"] == "failures_reset"
    assert entry["previous_consecutive_failures"] == 3
    assert entry["previous_cooldown_until"] > entry["at"]
    assert entry["by"] == "update_schedule"
    # the clearer name does the same and is recorded too
    _failing(manager, sid, 1)
    assert manager.reset_failures(sid)["consecutive_failures"] == 0
    assert [e["by"] for e in manager.get_schedule_history(sid)] == ["api", "update_schedule"]


def test_consecutive_failures_other_than_0_is_refused_and_nothing_changes(
    manager: SchedulerManager,
) -> None:
    sid = manager.create_training_schedule("acme", "nightly", "0 2 * * *")
    _failing(manager, sid)
    with pytest.raises(ValidationError) as exc:
        manager.update_schedule(sid, consecutive_failures=5, name="renamed")
    assert exc.value.field == "consecutive_failures"
    st = manager.get_schedule_status(sid)
    assert st["consecutive_failures"] == 3 and st["name"] == "nightly"
    assert manager.get_schedule_history(sid) == []
    # with other changes, both apply
    manager.update_schedule(sid, consecutive_failures=0, name="renamed")
    st = manager.get_schedule_status(sid)
    assert st["consecutive_failures"] == 0 and st["name"] == "renamed"


def test_system_status_attributes_as_the_seed_uses_them(manager: SchedulerManager) -> None:
    a = manager.create_training_schedule("acme", "a", "0 2 * * *")
    b = manager.create_training_schedule("globex", "b", "0 3 * * *")
    manager.pause_schedule(b)
    manager.store.runs.add("run-1", a, "acme", RunStatus.RUNNING, RunTrigger.MANUAL)
    manager.store.redis.zadd(manager.store.keys.running, {"run-1": manager.store.time()})
    scheduler = manager
    # the seed's "System Status", as written
    system_status = {
        "scheduler_running": scheduler.running,
        "total_schedules": len(scheduler.schedules),
        "active_schedules": sum(1 for s in scheduler.schedules.values()
                               if s.status == ScheduleStatus.ACTIVE),
        "running_tasks": len(scheduler.running_tasks)
    }  # fmt: skip
    assert system_status == {
        "scheduler_running": True, "total_schedules": 2, "active_schedules": 1,
        "running_tasks": 1,
    }  # fmt: skip
    assert scheduler.running_tasks["run-1"]["schedule_id"] == a
    # a second manager (another process) sees the same: it is all read from Redis
    other = SchedulerManager(store=manager.store)
    other.stop_scheduler()
    assert scheduler.running is False


def test_start_and_stop_are_dicts_and_awaitable(manager: SchedulerManager) -> None:
    state = manager.stop_scheduler()
    assert state["enabled"] is False and isinstance(state, dict)
    assert json.loads(json.dumps(state))["running"] is False

    async def seed_quick_start() -> dict[str, Any]:
        scheduler = manager
        return await scheduler.start_scheduler()  # the seed's Quick Start line

    assert asyncio.run(seed_quick_start())["enabled"] is True
    assert manager.running is True


def _heartbeat(store: Store, node: str, age_s: float, **reading: Any) -> None:
    payload = {"ts": store.time() - age_s, "node": node, "hostname": "h1", **reading}
    store.control.write_heartbeat(node, payload)


def test_resource_monitor_reads_this_host_and_the_workers(manager: SchedulerManager) -> None:
    _heartbeat(manager.store, "w1@h1", 1.0, cpu_percent=42.0, memory_available_mb=1000.0,
               memory_total_mb=4000.0, active_runs=["r1"])  # fmt: skip
    _heartbeat(manager.store, "w2@h2", 300.0, cpu_percent=5.0, memory_available_mb=3000.0,
               memory_total_mb=4000.0)  # fmt: skip

    async def seed_resource_monitoring() -> dict[str, Any]:
        scheduler = manager
        # the seed's "Resource Monitoring", as written
        usage = await scheduler.resource_monitor.get_current_usage()
        print(f"Memory: {usage['memory_mb']} MB ({usage['memory_percent']}%)")
        print(f"CPU: {usage['cpu_percent']}%")
        return usage

    usage = asyncio.run(seed_resource_monitoring())
    assert usage["memory_mb"] > 0 and 0 < usage["memory_percent"] <= 100
    assert 0 <= usage["cpu_percent"] <= 100
    assert usage["memory_mb"] < usage["memory_total_mb"]
    w1, w2 = usage["workers"]["w1@h1"], usage["workers"]["w2@h2"]
    assert (w1["memory_mb"], w1["memory_percent"], w1["cpu_percent"]) == (3000.0, 75.0, 42.0)
    assert w1["online"] is True and w1["active_runs"] == ["r1"]
    assert w2["online"] is False and w2["memory_percent"] == 25.0
    assert manager.resource_monitor.get_current_usage()["workers"].keys() == {"w1@h1", "w2@h2"}


def test_trigger_learning_cycle_by_tenant(manager: SchedulerManager) -> None:
    with pytest.raises(ValidationError) as exc:
        manager.trigger_learning_cycle("acme", force_training=True)
    assert exc.value.field == "tenant_id" and "no schedule" in exc.value.message
    a = manager.create_training_schedule("acme", "a", "0 2 * * *")
    b = manager.create_training_schedule("acme", "b", "0 3 * * *")
    with pytest.raises(ValidationError) as exc:
        manager.trigger_learning_cycle(tenant_id="acme", force_training=True)
    assert exc.value.field == "schedule_id"
    assert a in exc.value.message and b in exc.value.message
    assert manager.store.redis.keys(manager.store.keys.run("*")) == []  # nothing queued


def test_the_async_face_has_every_method_and_runs_them_off_the_loop(store: Store) -> None:
    async def main() -> None:
        with pytest.warns(SeedCompatibilityWarning):
            m = AsyncSchedulerManager(store=store, autonomous_learner=object())
        sid = await m.create_training_schedule("acme", "nightly", "0 2 * * *")
        assert (await m.get_schedule_status(sid))["status"] == "active"
        assert [s["id"] for s in await m.list_schedules("acme")] == [sid]
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(m.get_schedule_status(sid) for _ in range(20)))
        task.cancel()
        assert len(results) == 20 and ticks > 0  # the loop ran while Redis was asked
        assert (await m.stop_scheduler())["enabled"] is False
        assert m.running is False
        assert (await m.start_scheduler())["enabled"] is True
        await m.update_schedule(sid, consecutive_failures=0)
        assert (await m.get_schedule_history(sid))[0]["event"] == "failures_reset"
        usage = await m.resource_monitor.get_current_usage()
        assert {"memory_mb", "memory_percent", "cpu_percent"} <= usage.keys()
        assert len(m.schedules) == 1 and m.running_tasks == {}
        with pytest.raises(ValidationError):
            await m.update_schedule(sid, name="")
        await m.delete_schedule(sid)
        assert await m.list_schedules() == []
        assert m.preview_cron("0 2 * * *", count=1)["next_fire_times"]

    asyncio.run(main())
    missing = [
        name for name in dir(SchedulerManager)
        if not name.startswith("_") and callable(getattr(SchedulerManager, name))
        and not hasattr(AsyncSchedulerManager, name)
    ]  # fmt: skip
    assert missing == []


def test_the_repository_copy_of_the_seed_guide_is_the_one_users_arrive_with() -> None:
    # The snippet tests read the copy (a clone has no ../shared); where the original sits
    # beside the clone, the copy must still be it, word for word.
    from tests.helpers import ROOT

    copy = ROOT / "tests" / "data" / "seed_scheduler_manager.md"
    assert "SchedulerManager" in copy.read_text(encoding="utf-8")
    original = ROOT.parent / "shared" / "seed" / "scheduler_manager.md"
    if original.exists():
        assert copy.read_bytes() == original.read_bytes()
