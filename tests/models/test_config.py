"""AutonomousConfig and ScheduleSpec: one value for mirrored thresholds (the stricter of two), one
error type."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from tasksched import AutonomousConfig, SafetyControls
from tasksched.errors import ValidationError
from tasksched.models import ScheduleSpec


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


@pytest.mark.parametrize(
    ("top", "controls", "field", "expected"),
    [
        ({"quality_threshold": 0.8}, {"quality_threshold": 0.9}, "quality_threshold", 0.9),
        ({"validation_threshold": 0.97}, {"validation_threshold": 0.9}, "validation_threshold",
         0.97),
        ({"min_data_threshold": 50}, {"min_data_threshold": 500}, "min_data_threshold", 500),
        # the seed's "Complete configuration": 60 minutes in the controls, 2 hours at the top
        ({"max_training_time": 7200}, {"max_training_time_minutes": 60}, "max_training_time",
         3600),
        ({"max_training_time": 600}, {"max_training_time_minutes": 60}, "max_training_time", 600),
        ({"auto_rollback": False}, {"rollback_on_degradation": True}, "auto_rollback", True),
        ({"backup_models": True}, {"backup_before_training": False}, "backup_models", True),
    ],
)  # fmt: skip
def test_two_different_explicit_values_the_stricter_applies(
    top: dict[str, Any], controls: dict[str, Any], field: str, expected: Any
) -> None:
    cfg = AutonomousConfig(**top, safety_controls={"level": "permissive", **controls})
    assert getattr(cfg, field) == expected
    # one value: the controls say the same, and it survives the stored form
    again = AutonomousConfig.model_validate(cfg.to_stored())
    assert getattr(again, field) == expected
    assert again.safety_controls == cfg.safety_controls


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


def test_schedule_cron_is_the_configs_training_schedule() -> None:
    spec = ScheduleSpec(
        tenant_id="acme",
        name="n",
        cron_expression="*/5 * * * *",
        config=AutonomousConfig(training_schedule="@daily"),
    )
    assert spec.config.training_schedule == "*/5 * * * *"
