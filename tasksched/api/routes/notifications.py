"""Notifications: the tenant's feed, dead letters and a test send."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tasksched.api.deps import Caller, Manager, tenant_scope
from tasksched.api.errors import ApiError
from tasksched.api.schemas import (
    DeadLetterPage,
    NotificationPage,
    NotificationTestReport,
    NotificationTestRequest,
)

router = APIRouter(tags=["notifications"])


@router.get("/notifications", response_model=NotificationPage)
def notifications(
    caller: Caller,
    manager: Manager,
    tenant_id: Annotated[
        str | None, Query(description="required with an admin key; a tenant key's own")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """A page of the tenant's notification feed (the ``memory`` channel), newest first."""
    tenant = tenant_scope(caller, tenant_id)
    if tenant is None:
        message = "tenant_id: required with an admin key"
        raise ApiError(422, "validation_error", message, "tenant_id")
    items = manager.get_notifications(tenant, limit=limit, offset=offset)
    return {"tenant_id": tenant, "notifications": items, "offset": offset, "limit": limit}


@router.get("/dead-letters", response_model=DeadLetterPage)
def dead_letters(
    caller: Caller,
    manager: Manager,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Notifications given up after their last retry (a tenant key: its own), newest first."""
    items = manager.dead_letters(limit=limit, offset=offset, tenant_id=caller.scope())
    return {"dead_letters": items, "offset": offset, "limit": limit}


@router.post("/test-notification", response_model=NotificationTestReport)
def test_notification(
    body: NotificationTestRequest, caller: Caller, manager: Manager
) -> dict[str, Any]:
    """Send a ``test`` event through a schedule's channels or an ad-hoc config.

    Each channel is tried once by a notifications worker; the answer waits up to
    ``timeout_s`` and reports per channel ``sent``, ``failed``, ``skipped`` or ``pending``.
    """
    return manager.send_test_notification(
        schedule_id=body.schedule_id,
        config=body.config,
        tenant_id=tenant_scope(caller, body.tenant_id),
        timeout_s=body.timeout_s,
    )
