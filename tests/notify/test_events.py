"""The event payload, its summary line and log levels (pure)."""

from __future__ import annotations

import json
import logging

import pytest

from tasksched.models import AutonomousConfig, NotificationEvent, ScheduleSpec
from tasksched.notify.events import build_payload, level_for, summary_line
from tasksched.store import Store


def test_payload_from_schedule_and_run(fake_store: Store) -> None:
    spec = ScheduleSpec(
        tenant_id="acme", name="Churn", cron_expression="0 2 * * *",
        config=AutonomousConfig.model_validate(
            {"notifications": {"types": ["log"], "memory_importance_score": 9,
                               "webhook_secret": "never-in-payload"}}
        ),
    )
    record = fake_store.schedules.create(spec, now=1_700_000_000.0)
    run = {"run_id": f"{record.id}-1700006400", "status": "rejected", "trigger": "cron",
           "fire_time": 1700006400.0, "started_at": 1700006401.0, "finished_at": 1700006461.25,
           "quality_score": 0.66, "validation_score": "0.7", "baseline_score": 0.8,
           "attempts": 1, "metrics": {"secretish": "not copied"}}
    p = build_payload("e1", NotificationEvent.RUN_REJECTED, record, run, now=1700006462.0,
                      reason="quality 0.66 < 0.7", error=None)
    assert p["correlation_id"] == run["run_id"] == p["run_id"]
    assert (p["tenant_id"], p["schedule_id"], p["schedule_name"]) == ("acme", record.id, "Churn")
    assert p["event"] == "run_rejected" and p["outcome"] == "rejected"
    assert p["reason"] == "quality 0.66 < 0.7" and p["error"] is None
    assert p["scores"] == {"quality": 0.66, "validation": 0.7, "baseline": 0.8}
    assert p["timings"]["duration_s"] == 60.25
    assert p["timings"]["started_at"] == "2023-11-15T00:00:01+00:00"
    assert p["run"] == {"trigger": "cron", "status": "rejected", "attempts": 1}
    assert p["importance"] == 9 and p["time"] == "2023-11-15T00:01:02+00:00"
    text = json.dumps(p)
    assert "never-in-payload" not in text and "secretish" not in text
    assert summary_line(p) == "Churn (acme): new model rejected (rolled back): quality 0.66 < 0.7"


def test_payload_without_run_uses_the_event(fake_store: Store) -> None:
    record = fake_store.schedules.create(
        ScheduleSpec(tenant_id="t", name="n", cron_expression="* * * * *")
    )
    p = build_payload("e2", NotificationEvent.SCHEDULE_PAUSED, record, None,
                      reason="3 consecutive failures")
    assert p["correlation_id"] == "e2" and p["run_id"] is None
    assert p["outcome"] == "paused" and p["details"] == {"reason": "3 consecutive failures"}


@pytest.mark.parametrize(
    ("event", "level"),
    [("run_failed", logging.ERROR), ("run_succeeded", logging.INFO),
     ("run_rejected", logging.WARNING), ("cooldown_entered", logging.WARNING),
     ("schedule_paused", logging.ERROR), ("run_skipped", logging.INFO),
     ("unknown", logging.INFO)],
)
def test_levels(event: str, level: int) -> None:
    assert level_for(event) == level
