"""`tasksched cron`: the preview in words, seconds last, in a timezone."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from tasksched.cron import next_fire_times
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
