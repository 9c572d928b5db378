"""Route dependencies: the manager, the caller (API key) and the admin check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tasksched.api.auth import KeyRing, Principal
from tasksched.api.errors import ApiError
from tasksched.api.gate import OPEN, Refusal, identify
from tasksched.errors import ValidationError
from tasksched.manager import SchedulerManager
from tasksched.models import validate_tenant_id

PREFIX = "/api/scheduler"
# Dependencies are ``async def``: they never block, and FastAPI would run a plain ``def``
# dependency in the thread pool (one hop per dependency per request).

bearer = HTTPBearer(auto_error=False, description="an API key from TASKSCHED_API_KEYS")

__all__ = ["OPEN", "PREFIX", "Admin", "Caller", "Manager", "authenticate", "tenant_scope"]


async def get_manager(request: Request) -> SchedulerManager:
    """The app's :class:`SchedulerManager`."""
    manager: SchedulerManager = request.app.state.manager
    return manager


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller: checked by the gate (:mod:`tasksched.api.gate`) before the body was read.

    ``credentials`` is declared for the OpenAPI document only. An app served without the
    gate (never by :func:`~tasksched.api.app.create_app`) checks the headers here.
    """
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    keys: KeyRing = request.app.state.keys
    client = request.client.host if request.client else None
    try:
        principal = identify(keys, request.headers, client)
    except Refusal as exc:
        raise ApiError(exc.status, exc.type, exc.message, exc.field, exc.headers or None) from None
    request.state.key_id = principal.key_id
    return principal


async def require_admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """The caller, who must hold an admin key (403 otherwise)."""
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "this operation needs an admin key")
    return principal


def tenant_scope(principal: Principal, requested: str | None) -> str | None:
    """The tenant a call is limited to; a tenant key naming another tenant gets 403."""
    if requested is not None:
        try:
            validate_tenant_id(requested)
        except ValueError as exc:
            raise ValidationError("tenant_id", str(exc)) from None
    if requested is not None and not principal.is_admin and requested != principal.tenant_id:
        raise ApiError(403, "forbidden", "this key is bound to another tenant", "tenant_id")
    return principal.scope(requested)


Manager = Annotated[SchedulerManager, Depends(get_manager)]
Caller = Annotated[Principal, Depends(authenticate)]
Admin = Annotated[Principal, Depends(require_admin)]
