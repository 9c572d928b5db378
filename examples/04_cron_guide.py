"""The seed's cron guide: every example, described and with its next fire times.

Pure computation (no Redis needed): ``python examples/04_cron_guide.py``. With a timezone,
fire times follow that zone's daylight-saving rules (docs/schedules.md, "Cron").
"""

from __future__ import annotations

from tasksched import SchedulerManager, describe

GUIDE = [
    ("0 2 * * *", "Daily at 2:00 AM"),
    ("0 */6 * * *", "Every 6 hours"),
    ("30 14 * * 1", "Every Monday at 2:30 PM"),
    ("0 9 1 * *", "First day of every month at 9:00 AM"),
    ("0 0 * * 0", "Every Sunday at midnight"),
    ("15 10 * * 1-5", "Weekdays at 10:15 AM"),
    ("0 */4 * * *", "Every 4 hours"),
    # "Schedule Design"
    ("0 3 * * 0", "Weekly deep training (Sunday 3 AM)"),
    ("0 4 1 * *", "Monthly comprehensive (1st of month 4 AM)"),
    # beyond the seed: seconds as a sixth field, last; macros
    ("* * * * * */15", "Every 15 seconds"),
    ("@daily", "Once a day at midnight"),
]


def main() -> None:
    for expr, comment in GUIDE:
        preview = SchedulerManager.preview_cron(expr, "Europe/Berlin", count=3)
        times = ", ".join(t[:19].replace("T", " ") for t in preview["next_fire_times"])
        print(f"{expr:<16} # {comment}\n{'':<16}   {describe(expr)}; next in Berlin: {times}")


if __name__ == "__main__":
    main()
