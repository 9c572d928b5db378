"""Safety presets (SafetyControls): real numbers per level, explicit fields win."""

from __future__ import annotations

from typing import Any

import pytest

from tasksched import AutonomousConfig, SafetyControls, SafetyLevel
from tasksched.models import PRESETS

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


def test_presets_table_covers_every_field() -> None:
    fields = set(SafetyControls.model_fields) - {"level"}
    for level in SafetyLevel:
        assert set(PRESETS[level]) == fields
