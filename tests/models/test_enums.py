"""The enums: lower-case string values."""

from __future__ import annotations

from tasksched import NotificationType, SafetyLevel, ScheduleStatus


def test_enum_values_are_lower_case_strings() -> None:
    assert SafetyLevel.STRICT.value == "strict"
    assert NotificationType.WEBHOOK.value == "webhook"
    assert ScheduleStatus.ACTIVE.value == "active"
    assert {t.value for t in NotificationType} == {"log", "email", "webhook", "memory"}
