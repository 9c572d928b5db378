"""A manual (optionally forced) run of a schedule, queued for a worker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tasksched.api.deps import PREFIX, Caller, Manager
from tasksched.api.routes.schedules import ScheduleId
from tasksched.api.schemas import TriggerRequest, TriggerResult

router = APIRouter(tags=["schedules"])


@router.post("/schedules/{schedule_id}/trigger", status_code=202, response_model=TriggerResult)
def trigger(
    schedule_id: ScheduleId,
    caller: Caller,
    manager: Manager,
    response: Response,
    body: TriggerRequest | None = None,
) -> dict[str, Any]:
    """Queue a run now (202); ``force`` bypasses cooldown, failure count and data minimum.

    The run lock, the memory limit, a paused schedule and the global switch still hold (the
    worker records such a run as skipped with the reason). Follow it at ``Location``.
    """
    force = body.force if body is not None else False
    tenant = caller.tenant_id
    if tenant is None:  # an admin acts for the schedule's own tenant
        tenant = manager.get_schedule_status(schedule_id)["tenant_id"]
    handle = manager.trigger_training(tenant, schedule_id, force=force)
    response.headers["Location"] = f"{PREFIX}/runs/{handle.run_id}"
    return {
        "run_id": handle.run_id,
        "schedule_id": schedule_id,
        "forced": force,
        "run": handle.record(),
    }
