"""Safety levels as presets with real numbers, and SafetyControls."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    model_validator,
)

from tasksched.models.base import Model
from tasksched.models.enums import SafetyLevel

PRESETS: dict[SafetyLevel, dict[str, Any]] = {
    SafetyLevel.STRICT: {
        "min_data_threshold": 500,
        "max_data_threshold": 5000,
        "quality_threshold": 0.9,
        "validation_threshold": 0.95,
        "max_training_time_minutes": 30,
        "rollback_on_degradation": True,
        "max_memory_usage_mb": 1024,
        "max_cpu_usage_percent": 60.0,
        "max_consecutive_failures": 1,
        "failure_cooldown_hours": 48.0,
        "backup_before_training": True,
    },
    SafetyLevel.MODERATE: {
        "min_data_threshold": 100,
        "max_data_threshold": 10000,
        "quality_threshold": 0.7,
        "validation_threshold": 0.85,
        "max_training_time_minutes": 60,
        "rollback_on_degradation": True,
        "max_memory_usage_mb": 2048,
        "max_cpu_usage_percent": 80.0,
        "max_consecutive_failures": 3,
        "failure_cooldown_hours": 24.0,
        "backup_before_training": True,
    },
    SafetyLevel.PERMISSIVE: {
        "min_data_threshold": 50,
        "max_data_threshold": 50000,
        "quality_threshold": 0.5,
        "validation_threshold": 0.7,
        "max_training_time_minutes": 120,
        "rollback_on_degradation": False,
        "max_memory_usage_mb": 4096,
        "max_cpu_usage_percent": 95.0,
        "max_consecutive_failures": 5,
        "failure_cooldown_hours": 12.0,
        "backup_before_training": True,
    },
}


class SafetyControls(Model):
    """Limits that decide whether a run may start and whether its model may be promoted.

    ``level`` picks a preset; every field not given explicitly is taken from it, explicit
    fields win: ``SafetyControls(level=SafetyLevel.STRICT, max_memory_usage_mb=512)``.
    """

    level: SafetyLevel = SafetyLevel.MODERATE
    min_data_threshold: int = Field(ge=0)
    max_data_threshold: int = Field(gt=0)
    quality_threshold: float = Field(ge=0.0, le=1.0)
    validation_threshold: float = Field(ge=0.0, le=1.0)
    max_training_time_minutes: float = Field(gt=0)
    rollback_on_degradation: bool
    max_memory_usage_mb: float = Field(gt=0)
    max_cpu_usage_percent: float = Field(gt=0, le=100)
    max_consecutive_failures: int = Field(ge=1)
    failure_cooldown_hours: float = Field(ge=0)
    backup_before_training: bool

    _explicit: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="wrap")
    @classmethod
    def _apply_preset(cls, data: Any, handler: Any) -> Any:
        if isinstance(data, SafetyControls):
            return data
        if not isinstance(data, dict):
            return handler(data)
        given = {k: v for k, v in data.items() if v is not None}
        raw_level = given.get("level", SafetyLevel.MODERATE)
        try:
            level = SafetyLevel(raw_level)
        except ValueError:
            return handler(given)  # let pydantic report the bad level
        explicit = frozenset(k for k in given if k != "level")
        model = handler({**PRESETS[level], **given, "level": level})
        model._explicit = explicit
        return model

    @model_validator(mode="after")
    def _check_ranges(self) -> SafetyControls:
        if self.min_data_threshold > self.max_data_threshold:
            raise ValueError(
                f"min_data_threshold ({self.min_data_threshold}) must not exceed "
                f"max_data_threshold ({self.max_data_threshold})"
            )
        return self

    @property
    def explicit_fields(self) -> frozenset[str]:
        """The fields the user set explicitly (the rest come from the level's preset)."""
        return self._explicit

    def with_overrides(self, **changes: Any) -> SafetyControls:
        """A copy with ``changes`` applied as explicit values."""
        data = {k: getattr(self, k) for k in self._explicit}
        data.update(changes)
        return SafetyControls.model_validate({"level": self.level, **data})

    def to_stored(self) -> dict[str, Any]:
        """The level and the explicit fields only, so a preset change reaches the rest."""
        dumped = self.model_dump(mode="json")
        return {"level": dumped["level"], **{k: dumped[k] for k in sorted(self._explicit)}}
