"""Tenant ids and names (the validators in models/base.py, through ScheduleSpec)."""

from __future__ import annotations

import pytest

from tasksched.errors import ValidationError
from tasksched.models import ScheduleSpec


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


def _deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"learner_options": {"a": "\ud800"}}, "config.learner_options.a"),
        ({"notifications": {"types": ["email"], "email_smtp_host": "h.example.com",
                            "email_recipients": ["\udfff@example.com"]}},
         "config.notifications.email_recipients[0]"),
        ({"learner_options": {"x": float("nan")}}, "config.learner_options.x"),
        ({"jitter_s": float("inf")}, "config.jitter_s"),
        ({"learner": "subprocess:Popen" + "\ud800"}, "config.learner"),
    ],
)
def test_text_that_would_break_reads_is_refused_naming_the_place(
    config: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        ScheduleSpec(tenant_id="acme", name="n", cron_expression="@daily", config=config)
    assert exc.value.field == field


def test_nesting_anywhere_is_bounded_at_32_levels() -> None:
    from tasksched.models import AutonomousConfig
    from tasksched.models.base import ANY_MAX_DEPTH

    # config, notifications, event_filters: 3 levels of objects, then the lists
    ok = {"notifications": {"event_filters": {"email": _deep(ANY_MAX_DEPTH - 2)}}}
    with pytest.raises(ValidationError) as exc:  # 32 levels: refused by the type, not depth
        AutonomousConfig.model_validate(ok)
    assert "nested deeper" not in exc.value.message
    too_deep = {"notifications": {"event_filters": {"email": _deep(ANY_MAX_DEPTH - 1)}}}
    with pytest.raises(ValidationError) as exc:
        AutonomousConfig.model_validate(too_deep)
    assert "nested deeper than 32" in exc.value.message


@pytest.mark.parametrize(
    ("name", "description", "ok"),
    [("x" * 128, "d" * 2000, True), ("x" * 129, "", False), ("n", "d" * 2001, False)],
)
def test_name_and_description_lengths_at_their_boundary(
    name: str, description: str, ok: bool
) -> None:
    def make() -> ScheduleSpec:
        return ScheduleSpec(tenant_id="acme", name=name, cron_expression="@daily",
                            description=description)  # fmt: skip

    if ok:
        assert make().name == name
    else:
        with pytest.raises(ValidationError):
            make()
