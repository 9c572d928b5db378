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
