"""Error handling and recovery, as the seed's "Manual Recovery" shows it.

A schedule whose training fails (its learner option is wrong) enters its failure cooldown; the
next cron run would be skipped. Typed errors name the field; the seed's recovery resets the
streak (``update_schedule(..., consecutive_failures=0)``, recorded in the schedule's
history), the config is fixed, and a forced learning cycle runs the tenant's schedule.

Run: ``. ~/.local/state/tasksched/up.env && python examples/05_error_handling_and_recovery.py``
"""

from __future__ import annotations

import asyncio

from common import clean_tenant, manager, section, show_run

from tasksched import AutonomousConfig, NotFoundError, SafetyControls, ValidationError

TENANT = "example-recovery"


async def main() -> None:
    scheduler = manager()
    clean_tenant(scheduler, TENANT)

    section("bad input is a typed error naming the field; nothing is written")
    for bad in ({"quality_threshold": 1.5}, {"timezone": "Mars/Olympus"}):
        try:
            scheduler.create_training_schedule(TENANT, "bad", "0 2 * * *", bad)
        except ValidationError as exc:
            print(f"  ValidationError: {exc.field}: {exc.message}")
    try:
        scheduler.get_schedule_status("0000000000000000")
    except NotFoundError as exc:
        print(f"  NotFoundError: {exc}")
    print(f"  schedules written: {len(scheduler.list_schedules(TENANT))}")

    section("a schedule whose training fails")
    config = AutonomousConfig(
        safety_controls=SafetyControls(max_consecutive_failures=1, failure_cooldown_hours=24),
        learner_options={"model": "no-such-model"},  # the demo learner refuses it
    )
    schedule_id = scheduler.create_training_schedule(TENANT, "fragile", "0 2 * * *", config)
    run = await scheduler.trigger_learning_cycle(tenant_id=TENANT, force_training=True)
    show_run(run)

    section("the seed's manual recovery")
    schedules = scheduler.list_schedules(TENANT)
    failed_schedules = [s for s in schedules if s["consecutive_failures"] > 0]
    for s in failed_schedules:
        status = scheduler.get_schedule_status(str(s["id"]))
        print(f"  {s['name']}: {s['consecutive_failures']} consecutive failure(s), "
              f"cooldown until {status['cooldown_until']}")  # fmt: skip
    scheduler.update_schedule(schedule_id, consecutive_failures=0)  # reset the failure count
    status = scheduler.get_schedule_status(schedule_id)
    print(f"  after the reset: {status['consecutive_failures']} failures, "
          f"in cooldown: {status['in_cooldown']}")  # fmt: skip
    for entry in scheduler.get_schedule_history(schedule_id):
        print(f"  history: {entry['event']} at {entry['at_iso']} "
              f"(was {entry['previous_consecutive_failures']})")  # fmt: skip

    section("fix the cause, then force a learning cycle")
    scheduler.update_schedule(schedule_id, config={"learner_options": {"model": "logreg"}})
    result = await scheduler.trigger_learning_cycle(tenant_id=TENANT, force_training=True)
    show_run(result)
    scheduler.delete_schedule(schedule_id)


if __name__ == "__main__":
    asyncio.run(main())
