"""Schedules: create, list, read, partial update (ETag / If-Match), delete, pause, resume, runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from tasksched.api.deps import PREFIX, Caller, Manager, tenant_scope
from tasksched.api.errors import ApiError, etag, parse_if_match
from tasksched.api.schemas import (
    RunPage,
    RunRecord,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleHistory,
    ScheduleList,
    ScheduleUpdate,
)

router = APIRouter(tags=["schedules"])

ScheduleId = Annotated[str, Path(description="the schedule id", max_length=64)]


def _with_etag(response: Response, status: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = etag(int(status["version"]))
    return status


@router.post("/schedules", status_code=201, response_model=ScheduleDetail)
def create_schedule(
    body: ScheduleCreate, caller: Caller, manager: Manager, response: Response
) -> dict[str, Any]:
    """Create a schedule (paused with ``config.enabled: false``); 201 with its status,
    ``Location`` and ``ETag``."""
    tenant = tenant_scope(caller, body.tenant_id)
    if tenant is None:
        message = "tenant_id: required with an admin key"
        raise ApiError(422, "validation_error", message, "tenant_id")
    sid = manager.create_training_schedule(
        tenant, body.name, body.cron_expression, body.config, body.description
    )
    response.headers["Location"] = f"{PREFIX}/schedules/{sid}"
    return _with_etag(response, manager.get_schedule_status(sid))


@router.get("/schedules", response_model=ScheduleList)
def list_schedules(
    caller: Caller,
    manager: Manager,
    tenant_id: Annotated[
        str | None, Query(description="only this tenant (admin); a tenant key sees its own")
    ] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The caller's schedules (an admin: every tenant's, or ``tenant_id``'s), paged."""
    items = manager.list_schedules(tenant_scope(caller, tenant_id))
    return {
        "schedules": items[offset : offset + limit],
        "total": len(items),
        "offset": offset,
        "limit": limit,
    }


@router.get("/schedules/{schedule_id}", response_model=ScheduleDetail)
def get_schedule(
    schedule_id: ScheduleId, caller: Caller, manager: Manager, response: Response
) -> dict[str, Any]:
    """Status, counters, next run (UTC and local), last result, config (secrets masked)."""
    status = manager.get_schedule_status(schedule_id, tenant_id=caller.scope())
    return _with_etag(response, status)


@router.put(
    "/schedules/{schedule_id}",
    response_model=ScheduleDetail,
    responses={409: {"description": "stale version"}, 412: {"description": "stale If-Match"}},
)
def update_schedule(
    schedule_id: ScheduleId,
    body: ScheduleUpdate,
    caller: Caller,
    manager: Manager,
    response: Response,
    if_match: Annotated[
        str | None, Header(description='the ETag read, e.g. "3"; "*" for any version')
    ] = None,
) -> dict[str, Any]:
    """Change only the fields given; with ``If-Match`` or ``version``, only if unchanged since."""
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version", None)
    if if_match is not None:
        tagged = parse_if_match(if_match)
        if version is not None and tagged is not None and tagged != version:
            raise ApiError(422, "validation_error", "version: differs from If-Match", "version")
        version = tagged if tagged is not None else version
    status = manager.update_schedule(
        schedule_id, expected_version=version, tenant_id=caller.scope(), **changes
    )
    return _with_etag(response, status)


@router.delete("/schedules/{schedule_id}", status_code=204, response_class=Response)
def delete_schedule(schedule_id: ScheduleId, caller: Caller, manager: Manager) -> Response:
    """Delete a schedule with its run history."""
    manager.delete_schedule(schedule_id, tenant_id=caller.scope())
    return Response(status_code=204)


@router.post("/schedules/{schedule_id}/pause", response_model=ScheduleDetail)
def pause_schedule(
    schedule_id: ScheduleId, caller: Caller, manager: Manager, response: Response
) -> dict[str, Any]:
    """Pause: no more runs are dispatched; a run already queued is skipped."""
    return _with_etag(response, manager.pause_schedule(schedule_id, tenant_id=caller.scope()))


@router.post("/schedules/{schedule_id}/resume", response_model=ScheduleDetail)
def resume_schedule(
    schedule_id: ScheduleId, caller: Caller, manager: Manager, response: Response
) -> dict[str, Any]:
    """Resume from the next fire time after now."""
    return _with_etag(response, manager.resume_schedule(schedule_id, tenant_id=caller.scope()))


@router.post("/schedules/{schedule_id}/reset-failures", response_model=ScheduleDetail)
def reset_failures(
    schedule_id: ScheduleId, caller: Caller, manager: Manager, response: Response
) -> dict[str, Any]:
    """Reset the failure streak to 0 and end the cooldown (recorded in the history)."""
    status = manager.reset_failures(schedule_id, tenant_id=caller.scope(), by="api")
    return _with_etag(response, status)


@router.get("/schedules/{schedule_id}/history", response_model=ScheduleHistory)
def schedule_history(
    schedule_id: ScheduleId,
    caller: Caller,
    manager: Manager,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    """Operator actions on the schedule (such as failure resets), newest first."""
    history = manager.get_schedule_history(schedule_id, limit, tenant_id=caller.scope())
    return {"history": history, "limit": limit}


@router.get("/schedules/{schedule_id}/runs", response_model=RunPage)
def list_runs(
    schedule_id: ScheduleId,
    caller: Caller,
    manager: Manager,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """A page of the schedule's run history, newest first."""
    runs = manager.get_runs(schedule_id, offset, limit, tenant_id=caller.scope())
    return {
        "runs": runs,
        "offset": offset,
        "limit": limit,
        "next_offset": offset + limit if len(runs) == limit else None,
    }


@router.get("/runs/{run_id}", response_model=RunRecord)
def get_run(
    run_id: Annotated[str, Path(max_length=128)], caller: Caller, manager: Manager
) -> dict[str, Any]:
    """One run record."""
    return manager.get_run(run_id, tenant_id=caller.scope())
