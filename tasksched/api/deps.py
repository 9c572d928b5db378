"""Route dependencies: the manager, the caller (API key) and the admin check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tasksched.api.auth import KeyRing, Principal, is_loopback
from tasksched.api.errors import ApiError
from tasksched.errors import ValidationError
from tasksched.manager import SchedulerManager
from tasksched.models import validate_tenant_id

PREFIX = "/api/scheduler"
# Dependencies are ``async def``: they never block, and FastAPI would run a plain ``def``
# dependency in the thread pool (one hop per dependency per request).

bearer = HTTPBearer(auto_error=False, description="an API key from TASKSCHED_API_KEYS")

OPEN = Principal(None, "open")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tasksched"'}


async def get_manager(request: Request) -> SchedulerManager:
    """The app's :class:`SchedulerManager`."""
    manager: SchedulerManager = request.app.state.manager
    return manager


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <key>``; 401 when missing or wrong.

    In open mode (no keys configured) only loopback clients are served, as admin; a request
    that came through a proxy (Forwarded / X-Forwarded-For) is refused, since behind a local
    proxy every client would look like loopback.
    """
    keys: KeyRing = request.app.state.keys
    if keys.open:
        client = request.client.host if request.client else None
        proxied = "forwarded" in request.headers or "x-forwarded-for" in request.headers
        if not is_loopback(client) or proxied:
            raise ApiError(
                403,
                "forbidden",
                "no API keys are configured (TASKSCHED_API_KEYS): only direct loopback "
                "clients are served",
            )
        return OPEN
    if credentials is None:
        raise ApiError(
            401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
            "Authorization", _CHALLENGE,
        )
    principal = keys.lookup(credentials.credentials)
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid API key", "Authorization", _CHALLENGE)
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
        raise ApiError(
            403, "forbidden", "this key is bound to another tenant", "tenant_id"
        )
    return principal.scope(requested)


Manager = Annotated[SchedulerManager, Depends(get_manager)]
Caller = Annotated[Principal, Depends(authenticate)]
Admin = Annotated[Principal, Depends(require_admin)]
