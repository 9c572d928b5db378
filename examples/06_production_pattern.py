"""A production pattern: declared schedules, strict and weekly, checked, backed up.

* Schedules are declared in code and applied idempotently (create, or update when one of that
  name exists), for many tenants at once.
* Strict safety, weekly training at a quiet hour in each tenant's timezone, alerts by log and
  feed (add email and webhook as in 03_notifications.py).
* Before relying on it: the cluster's status (dispatching, beat leader, workers online) and
  the resources the workers report; an export kept as a backup.

Run: ``. ~/.local/state/tasksched/up.env && python examples/06_production_pattern.py``
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from common import clean_tenant, manager, section

from tasksched import AsyncSchedulerManager, SchedulerManager, ScheduleStatus

TENANTS = {"example-prod-eu": "Europe/Berlin", "example-prod-us": "America/New_York"}
DESIRED: dict[str, Any] = {
    "name": "weekly production retrain",
    "cron_expression": "0 3 * * 0",  # Sunday 3 AM, local time
    "config": {
        "safety_controls": {"level": "strict"},
        "notifications": {"types": ["log", "memory"]},
        "misfire_policy": "run_once",
        "jitter_s": 600,  # spread the tenants' starts over 10 minutes
    },
}


def apply(scheduler: SchedulerManager, tenant_id: str, timezone: str) -> str:
    """Create the tenant's schedule or bring it to the declared state; returns its id."""
    config = {**DESIRED["config"], "timezone": timezone}
    for item in scheduler.list_schedules(tenant_id):
        if item["name"] == DESIRED["name"]:
            sid = str(item["id"])
            scheduler.update_schedule(
                sid, expected_version=item["version"], cron_expression=DESIRED["cron_expression"],
                config=config,
            )  # fmt: skip
            return sid
    return scheduler.create_training_schedule(
        tenant_id, DESIRED["name"], DESIRED["cron_expression"], config
    )


async def check(scheduler: SchedulerManager) -> None:
    """The cluster as an operator sees it first, through the asyncio face."""
    async_face = AsyncSchedulerManager(manager=scheduler)
    status = await async_face.system_status()
    usage = await async_face.resource_monitor.get_current_usage()
    print(f"  dispatching: {status['enabled']}, beat leader: {status['beat']['leader']}, "
          f"workers online: {status['workers_online']}")  # fmt: skip
    for node, reading in usage["workers"].items():
        print(f"  worker {node}: cpu {reading['cpu_percent']}%, memory {reading['memory_mb']} MB "
              f"({reading['memory_percent']}%), online {reading['online']}")  # fmt: skip
    system_status = {
        "scheduler_running": scheduler.running,
        "total_schedules": len(scheduler.schedules),
        "active_schedules": sum(1 for s in scheduler.schedules.values()
                                if s.status == ScheduleStatus.ACTIVE),
        "running_tasks": len(scheduler.running_tasks),
    }  # fmt: skip
    print(f"  {system_status}")


def main() -> None:
    scheduler = manager()
    for tenant in TENANTS:
        clean_tenant(scheduler, tenant)

    section("apply the declared schedules (twice: the second pass updates the same ones)")
    ids = {t: apply(scheduler, t, tz) for t, tz in TENANTS.items()}
    again = {t: apply(scheduler, t, tz) for t, tz in TENANTS.items()}
    print(f"  same schedules after a second pass: {ids == again}; "
          f"{sum(len(scheduler.list_schedules(t)) for t in TENANTS)} in all")  # fmt: skip
    for tenant, sid in ids.items():
        st = scheduler.get_schedule_status(sid)
        print(f"  {tenant}: next run {st['next_run_local']} "
              f"(strict: validation >= {st['config']['validation_threshold']})")  # fmt: skip

    section("check the cluster")
    asyncio.run(check(scheduler))

    section("back up")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "backup.json"
        document = scheduler.export_schedules()
        path.write_text(json.dumps(document))
        mine = [s for s in document["schedules"] if s["tenant_id"] in TENANTS]
        print(f"  exported {len(document['schedules'])} schedules ({len(mine)} of these tenants)"
              f", {path.stat().st_size} bytes; secrets stay encrypted")  # fmt: skip
    for tenant in TENANTS:
        clean_tenant(scheduler, tenant)


if __name__ == "__main__":
    main()
