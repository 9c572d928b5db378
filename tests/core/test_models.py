"""Configuration models: presets, explicit overrides, one value for mirrored thresholds, errors."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from tasksched import (
    AutonomousConfig,
    NotificationConfig,
    NotificationEvent,
    NotificationType,
    SafetyControls,
    SafetyLevel,
    ScheduleStatus,
)
from tasksched.errors import ValidationError
from tasksched.models import PRESETS, ScheduleSpec

PRESET_TABLE = [
    # level, data min-max, quality, validation, minutes, MB, CPU %, failures, cooldown h, rollback
    (SafetyLevel.STRICT, 500, 5000, 0.9, 0.95, 30, 1024, 60, 1, 48, True),
    (SafetyLevel.MODERATE, 100, 10000, 0.7, 0.85, 60, 2048, 80, 3, 24, True),
    (SafetyLevel.PERMISSIVE, 50, 50000, 0.5, 0.7, 120, 4096, 95, 5, 12, False),
]


@pytest.mark.parametrize("row", PRESET_TABLE, ids=lambda r: r[0].value)
def test_each_level_is_a_preset_with_real_numbers(row: tuple[Any, ...]) -> None:
    level, dmin, dmax, q, v, minutes, mb, cpu, fails, cool, rollback = row
    sc = SafetyControls(level=level)
    assert (sc.min_data_threshold, sc.max_data_threshold) == (dmin, dmax)
    assert (sc.quality_threshold, sc.validation_threshold) == (q, v)
    assert sc.max_training_time_minutes == minutes
    assert sc.max_memory_usage_mb == mb
    assert sc.max_cpu_usage_percent == cpu
    assert sc.max_consecutive_failures == fails
    assert sc.failure_cooldown_hours == cool
    assert sc.rollback_on_degradation is rollback
    assert sc.explicit_fields == frozenset()


def test_moderate_is_the_default() -> None:
    assert SafetyControls().level is SafetyLevel.MODERATE
    assert AutonomousConfig().safety_controls.quality_threshold == 0.7


def test_explicit_fields_win_over_the_preset() -> None:
    sc = SafetyControls(level=SafetyLevel.STRICT, max_memory_usage_mb=512, quality_threshold=0.5)
    assert sc.max_memory_usage_mb == 512
    assert sc.quality_threshold == 0.5
    assert sc.validation_threshold == 0.95  # still the strict preset
    assert sc.explicit_fields == {"max_memory_usage_mb", "quality_threshold"}
    assert sc.to_stored() == {
        "level": "strict",
        "max_memory_usage_mb": 512.0,
        "quality_threshold": 0.5,
    }


def test_enum_values_are_lower_case_strings() -> None:
    assert SafetyLevel.STRICT.value == "strict"
    assert NotificationType.WEBHOOK.value == "webhook"
    assert ScheduleStatus.ACTIVE.value == "active"
    assert {t.value for t in NotificationType} == {"log", "email", "webhook", "memory"}


def test_top_level_threshold_sets_the_safety_control_too() -> None:
    cfg = AutonomousConfig(quality_threshold=0.8, safety_controls=SafetyControls(level="strict"))
    assert cfg.quality_threshold == 0.8
    assert cfg.safety_controls.quality_threshold == 0.8
    assert cfg.safety_controls.validation_threshold == 0.95


def test_safety_control_sets_the_top_level_threshold_too() -> None:
    cfg = AutonomousConfig(safety_controls={"level": "permissive", "min_data_threshold": 70})
    assert cfg.min_data_threshold == 70
    assert cfg.quality_threshold == 0.5
    assert cfg.auto_rollback is False
    assert cfg.max_training_time == 120 * 60  # seconds at the top, minutes in the controls


def test_max_training_time_seconds_and_minutes_are_one_value() -> None:
    cfg = AutonomousConfig(max_training_time=900)
    assert cfg.safety_controls.max_training_time_minutes == 15


def test_two_different_explicit_values_are_an_error_naming_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        AutonomousConfig(quality_threshold=0.8, safety_controls={"quality_threshold": 0.9})
    err = exc.value
    assert err.field == "quality_threshold"
    assert "safety_controls.quality_threshold" in err.message


def test_equal_explicit_values_are_fine() -> None:
    cfg = AutonomousConfig(validation_threshold=0.9, safety_controls={"validation_threshold": 0.9})
    assert cfg.validation_threshold == 0.9


BAD_CONFIGS = [
    ({"quality_threshold": 1.5}, "quality_threshold"),
    ({"validation_threshold": -0.1}, "validation_threshold"),
    ({"safety_controls": {"quality_threshold": 2}}, "safety_controls.quality_threshold"),
    ({"safety_controls": {"min_data_threshold": 10, "max_data_threshold": 5}}, "safety_controls"),
    ({"safety_controls": {"max_memory_usage_mb": 0}}, "safety_controls.max_memory_usage_mb"),
    ({"safety_controls": {"max_cpu_usage_percent": 150}}, "safety_controls.max_cpu_usage_percent"),
    (
        {"safety_controls": {"max_consecutive_failures": 0}},
        "safety_controls.max_consecutive_failures",
    ),
    ({"safety_controls": {"level": "reckless"}}, "safety_controls.level"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"training_schedule": "61 * * * *"}, "training_schedule"),
    ({"max_training_time": -5}, "max_training_time"),
    ({"learner": "not an import path"}, "learner"),
    ({"misfire_policy": "sometimes"}, "misfire_policy"),
    ({"jitter_s": -1}, "jitter_s"),
    (
        {"notifications": {"types": ["webhook"], "webhook_url": "ftp://x"}},
        "notifications.webhook_url",
    ),
    ({"notifications": {"types": ["webhook"]}}, "notifications"),
    ({"notifications": {"types": ["email"], "email_smtp_host": "h"}}, "notifications"),
    ({"notifications": {"email_recipients": ["not-an-address"]}}, "notifications.email_recipients"),
    ({"notifications": {"types": ["pager"]}}, "notifications.types.0"),
    ({"notifications": {"email_smtp_port": 70000}}, "notifications.email_smtp_port"),
    ({"notifications": {"webhook_headers": {"Bad Header": "x"}}}, "notifications.webhook_headers"),
    ({"unknown_field": 1}, "unknown_field"),
]


@pytest.mark.parametrize(("data", "field"), BAD_CONFIGS, ids=[f for _, f in BAD_CONFIGS])
@pytest.mark.parametrize("how", ["constructor", "model_validate"])
def test_bad_config_is_one_error_type_naming_the_field(
    data: dict[str, Any], field: str, how: str
) -> None:
    # tasksched's ValidationError, never pydantic's, however the config is built.
    with pytest.raises(ValidationError) as exc:
        if how == "constructor":
            AutonomousConfig(**data)
        else:
            AutonomousConfig.model_validate(data)
    assert not isinstance(exc.value, pydantic.ValidationError)
    assert exc.value.field == field
    assert str(exc.value).startswith(f"{field}: ")
    err = exc.value.prefixed("config")
    assert err.field == f"config.{field}"
    assert str(err).startswith(f"config.{field}: ")


@pytest.mark.parametrize(
    ("tenant", "name", "field"),
    [
        ("", "n", "tenant_id"),
        ("acme corp", "n", "tenant_id"),
        ("a" * 65, "n", "tenant_id"),
        ("-acme", "n", "tenant_id"),
        ("acme", "", "name"),
        ("acme", "   ", "name"),
        ("acme", "x" * 129, "name"),
        ("acme", "bad\x00name", "name"),
    ],
)
def test_tenant_and_name_must_be_sane(tenant: str, name: str, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ScheduleSpec(tenant_id=tenant, name=name, cron_expression="@daily")
    assert exc.value.field == field


def test_schedule_cron_is_the_configs_training_schedule() -> None:
    spec = ScheduleSpec(
        tenant_id="acme",
        name="n",
        cron_expression="*/5 * * * *",
        config=AutonomousConfig(training_schedule="@daily"),
    )
    assert spec.config.training_schedule == "*/5 * * * *"


def test_secrets_are_masked_in_the_public_view() -> None:
    notif = NotificationConfig(
        types=["webhook", "email"],
        webhook_url="https://hooks.example.com/x",
        webhook_headers={"Authorization": "Bearer tok123"},
        webhook_secret="sig-secret",
        email_smtp_host="smtp.example.com",
        email_recipients=["ops@example.com"],
        email_password="hunter2",
    )
    public = str(notif.public_dict())
    for secret in ("tok123", "sig-secret", "hunter2"):
        assert secret not in public
        assert secret not in repr(notif)
    assert notif.public_dict()["webhook_headers"] == {"Authorization": "********"}
    assert notif.secrets()["email_password"] == "hunter2"


def test_event_filters_choose_which_events_reach_a_channel() -> None:
    notif = NotificationConfig(types=["log", "memory"], event_filters={"memory": ["run_failed"]})
    assert notif.wants(NotificationType.LOG, NotificationEvent.RUN_SUCCEEDED)
    assert notif.wants(NotificationType.MEMORY, NotificationEvent.RUN_FAILED)
    assert not notif.wants(NotificationType.MEMORY, NotificationEvent.RUN_SUCCEEDED)
    assert not notif.wants(NotificationType.WEBHOOK, NotificationEvent.RUN_FAILED)


def test_presets_table_covers_every_field() -> None:
    fields = set(SafetyControls.model_fields) - {"level"}
    for level in SafetyLevel:
        assert set(PRESETS[level]) == fields
