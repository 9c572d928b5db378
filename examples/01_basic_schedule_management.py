"""Basic schedule management, as the seed's Quick Start and "Schedule Management" show it.

Create a schedule with a config, start the scheduler (``await``), list, read the status,
pause, resume, update, run it now and delete it.

Run: ``. ~/.local/state/tasksched/up.env && python examples/01_basic_schedule_management.py``
"""

from __future__ import annotations

import asyncio

from common import clean_tenant, manager, section, show_run

from tasksched import AutonomousConfig

TENANT = "example-basic"


async def main() -> None:
    scheduler = manager()
    clean_tenant(scheduler, TENANT)

    section("create a schedule (the seed's Quick Start)")
    config = AutonomousConfig(
        enabled=True,
        training_schedule="0 2 * * *",  # Daily at 2 AM
        min_data_threshold=100,
        quality_threshold=0.7,
        validation_threshold=0.85,
    )
    schedule_id = scheduler.create_training_schedule(
        tenant_id=TENANT,
        name="Daily Training",
        cron_expression="0 2 * * *",
        config=config,
        description="Daily autonomous training",
    )
    print(f"  created {schedule_id}")
    state = await scheduler.start_scheduler()  # the global switch, for every beat process
    print(f"  scheduler running: {state['running']} (also scheduler.running: {scheduler.running})")

    section("list and status")
    schedules = scheduler.list_schedules(TENANT)
    print(f"  {len(schedules)} schedule(s): {[s['name'] for s in schedules]}")
    status = scheduler.get_schedule_status(schedule_id)
    print(f"  Status: {status['status']}")
    print(f"  Next run: {status['next_run']} (local {status['next_run_local']})")
    print(f"  Success rate: {status['successful_runs']}/{status['total_runs']}")

    section("pause, resume, update")
    print(f"  paused: {scheduler.pause_schedule(schedule_id)['status']}")
    print(f"  resumed: {scheduler.resume_schedule(schedule_id)['status']}")
    updated = scheduler.update_schedule(schedule_id, name="New Name", cron_expression="0 3 * * *")
    print(f"  updated: name={updated['name']!r} cron={updated['cron_expression']!r} "
          f"next run {updated['next_run']}")  # fmt: skip

    section("run it now (forced: the data minimum is skipped, never the gates)")
    run = await scheduler.trigger_training(TENANT, schedule_id, force=True)
    show_run(run)
    status = scheduler.get_schedule_status(schedule_id)
    print(f"  Success rate: {status['successful_runs']}/{status['total_runs']}")

    section("delete")
    scheduler.delete_schedule(schedule_id)
    print(f"  schedules left for {TENANT}: {len(scheduler.list_schedules(TENANT))}")


if __name__ == "__main__":
    asyncio.run(main())
