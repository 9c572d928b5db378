"""`tasksched cron`: the preview in words, seconds last, in a timezone."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from tasksched.cron import next_fire_times
from tasksched.models import ScheduleSpec
from tasksched.store import Store
from tests.beat.schedules import store_the_old_way
from tests.conftest import Invoke


def test_cron_preview_seconds_field_last(invoke: Invoke) -> None:
    res = invoke("cron", "* * * * * */10", "-n", "4", "--json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["description"] == "Every 10 seconds"
    times = [datetime.fromisoformat(t) for t in data["next_fire_times_utc"]]
    assert len(times) == 4
    assert all(t.second % 10 == 0 for t in times)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [10] * 3


def test_cron_preview_text_in_a_timezone(invoke: Invoke) -> None:
    res = invoke("cron", "0 2 * * *", "--tz", "America/New_York", "-n", "3")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].startswith("At 02:00") and "America/New_York" in lines[0]
    assert len(lines) == 4
    # the listed local times are the engine's own, in order
    shown = [datetime.fromisoformat(line.split()[0]) for line in lines[1:]]
    start = shown[0].astimezone(UTC) - timedelta(seconds=1)
    expected = next_fire_times("0 2 * * *", "America/New_York", start, 3)
    assert shown == expected
    assert all(t.hour == 2 and t.minute == 0 for t in shown)


def test_doctor_finds_a_schedule_stored_before_with_both_readings(
    invoke: Invoke, store: Store
) -> None:
    clean = invoke("doctor")
    assert clean.exit_code == 0 and "0 finding(s)" in clean.stdout
    store.schedules.create(
        ScheduleSpec(tenant_id="acme", name="fine", cron_expression="*/15 * * * *")
    )
    old = store_the_old_way(store, "59/15 * * * *")
    res = invoke("doctor")
    assert res.exit_code == 1
    assert f"schedule {old}  '59/15 * * * *'" in res.stdout
    before = next(line for line in res.stdout.splitlines() if line.startswith("  before:"))
    now = next(line for line in res.stdout.splitlines() if line.startswith("  now:"))
    assert "croniter 6" in before and "00:15:00" in before  # read as */15
    assert "croniter 7" in now and "00:59:00" in now  # read as 59
    data = json.loads(invoke("doctor", "--json").stdout)
    assert data["schedules"] == 2 and data["without_reading"] == 1
    assert [f["schedule_id"] for f in data["findings"]] == [old]
