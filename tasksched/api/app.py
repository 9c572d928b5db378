"""The FastAPI app: ``uvicorn tasksched.api.app:app`` or :func:`create_app` for your own server.

Every route lives under ``/api/scheduler`` (OpenAPI at ``/api/scheduler/openapi.json``, Swagger
UI at ``/api/scheduler/docs`` and ReDoc at ``/api/scheduler/redoc``, both from local assets).
``/healthz`` and ``/metrics`` are also served at the root for probes and scrapers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from tasksched.api import docs, errors
from tasksched.api.auth import KeyRing
from tasksched.api.deps import PREFIX
from tasksched.api.errors import AsciiJSONResponse
from tasksched.api.gate import LOOPBACK_HOSTS, Gate
from tasksched.api.routes import backup, cron, notifications, schedules, system, trigger
from tasksched.api.schemas import ErrorResponse
from tasksched.manager import SchedulerManager
from tasksched.settings import Settings, get_settings
from tasksched.store.crons import check_in_background

log = logging.getLogger("tasksched.api")

OPEN_MODE_MESSAGE = (
    "no API keys configured (TASKSCHED_API_KEYS): serving loopback clients only, "
    "every request acts as admin"
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (401, "missing or invalid API key"),
        (403, "the key may not do this"),
        (404, "not found (or another tenant's)"),
        (413, "the body is larger than TASKSCHED_API_MAX_BODY_BYTES"),
        (422, "invalid input; the field is named"),
    )
}


def create_app(
    settings: Settings | None = None, manager: SchedulerManager | None = None
) -> FastAPI:
    """A configured app. Keys come from ``settings.api_keys``; Redis from ``settings``."""
    settings = settings or get_settings()
    keys = KeyRing.from_setting(settings.api_keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if keys.open:
            log.warning(OPEN_MODE_MESSAGE)
        else:
            log.info("API keys loaded: %d", len(keys))
        app.state.cron_check = None
        if settings.cron_check_at_start:
            # Stored crons the engine now reads differently, logged with both readings.
            app.state.cron_check = check_in_background(app.state.manager.store, log)
        yield

    app = FastAPI(
        title="tasksched",
        version=_version(),
        description="Scheduled, safe, autonomous model retraining for many tenants.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,  # FastAPI's pages load from a CDN; docs.install serves local assets
        redoc_url=None,
        lifespan=lifespan,
        responses=_ERRORS,
        default_response_class=AsciiJSONResponse,
    )
    app.state.settings = settings
    app.state.keys = keys
    # A request answers 503 within a second when Redis is gone, not after ~30 s of retries.
    app.state.manager = manager or SchedulerManager(settings=settings, redis_retries=3)
    errors.install(app)
    docs.install(app, PREFIX)
    public = frozenset(
        {"/healthz", f"{PREFIX}/healthz", f"{PREFIX}/openapi.json", *docs.public_paths(PREFIX)}
    )
    # Added last = outermost: the Host check, then size and key before any body is read.
    app.add_middleware(
        Gate, keys=keys, max_body_bytes=settings.api_max_body_bytes, public_paths=public
    )
    if keys.open:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_HOSTS))
    api = APIRouter(prefix=PREFIX)
    for module in (schedules, trigger, system, cron, notifications, backup):
        api.include_router(module.router)
    app.include_router(api)
    app.add_api_route("/healthz", system.healthz, include_in_schema=False)
    app.add_api_route("/metrics", system.metrics, include_in_schema=False)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        # SafetyControls takes every field it is not given from its level's preset.
        controls = doc.get("components", {}).get("schemas", {}).get("SafetyControls")
        if controls is not None:
            controls.pop("required", None)
        app.openapi_schema = doc
    return app.openapi_schema


def _version() -> str:
    from tasksched import __version__

    return __version__


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    # ``app`` is built on first access (uvicorn's import), not when tests import this module.
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)
