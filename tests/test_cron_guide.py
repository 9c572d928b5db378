"""Every cron example of the seed's guide is accepted and fires when its comment says.

The expected times are written out by hand from the comments (not computed by the cron
engine), starting after Wednesday 2026-03-04 12:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tasksched import AutonomousConfig, SchedulerManager, next_fire_times

AFTER = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday

# (expression, the guide's comment, the next three fire times "Day MM-DD HH:MM" in UTC)
GUIDE = [
    # "Common Examples"
    ("0 2 * * *", "Daily at 2:00 AM", ["Thu 03-05 02:00", "Fri 03-06 02:00", "Sat 03-07 02:00"]),
    ("0 */6 * * *", "Every 6 hours", ["Wed 03-04 18:00", "Thu 03-05 00:00", "Thu 03-05 06:00"]),
    ("30 14 * * 1", "Every Monday at 2:30 PM",
     ["Mon 03-09 14:30", "Mon 03-16 14:30", "Mon 03-23 14:30"]),
    ("0 9 1 * *", "First day of every month at 9:00 AM",
     ["Wed 04-01 09:00", "Fri 05-01 09:00", "Mon 06-01 09:00"]),
    ("0 0 * * 0", "Every Sunday at midnight",
     ["Sun 03-08 00:00", "Sun 03-15 00:00", "Sun 03-22 00:00"]),
    ("15 10 * * 1-5", "Weekdays at 10:15 AM",
     ["Thu 03-05 10:15", "Fri 03-06 10:15", "Mon 03-09 10:15"]),
    ("0 */4 * * *", "Every 4 hours", ["Wed 03-04 16:00", "Wed 03-04 20:00", "Thu 03-05 00:00"]),
    # "Format": day of week 0-7, 0 (and 7) = Sunday
    ("0 0 * * 7", "7 is Sunday too", ["Sun 03-08 00:00", "Sun 03-15 00:00", "Sun 03-22 00:00"]),
    # "Schedule Design" and the Quick Start / REST examples
    ("0 3 * * 0", "Weekly deep training: Sunday 3 AM",
     ["Sun 03-08 03:00", "Sun 03-15 03:00", "Sun 03-22 03:00"]),
    ("0 4 1 * *", "Monthly comprehensive: 1st of month 4 AM",
     ["Wed 04-01 04:00", "Fri 05-01 04:00", "Mon 06-01 04:00"]),
    ("0 2 * * 6", "Production training, weekly (Saturday 2 AM)",
     ["Sat 03-07 02:00", "Sat 03-14 02:00", "Sat 03-21 02:00"]),
    ("0 3 * * 6", "Updated: Saturday 3 AM",
     ["Sat 03-07 03:00", "Sat 03-14 03:00", "Sat 03-21 03:00"]),
]  # fmt: skip


@pytest.mark.parametrize(("expr", "comment", "expected"), GUIDE, ids=[g[0] for g in GUIDE])
def test_the_guide_examples_fire_as_their_comments_say(
    expr: str, comment: str, expected: list[str]
) -> None:
    times = next_fire_times(expr, "UTC", AFTER, 3)
    assert [t.strftime("%a %m-%d %H:%M") for t in times] == expected, comment
    # and a schedule accepts it as written
    assert AutonomousConfig(training_schedule=expr).training_schedule
    preview = SchedulerManager.preview_cron(expr, "UTC", 3, AFTER)
    assert [t[:16] for t in preview["next_fire_times_utc"]] == [
        t.strftime("%Y-%m-%dT%H:%M") for t in times
    ]
