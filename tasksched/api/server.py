"""Serving the API: refuse a non-loopback bind when no API key is configured."""

from __future__ import annotations

import logging

from tasksched.settings import Settings, check_api_bind, get_settings

log = logging.getLogger("tasksched.api")


def check_bind(settings: Settings, host: str) -> None:
    """Raise ValidationError (``TASKSCHED_API_HOST``) for a non-loopback host without keys."""
    check_api_bind(settings, host)


def serve(
    settings: Settings | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Run uvicorn on ``tasksched.api.app:app`` (blocks until stopped)."""
    import uvicorn

    settings = settings or get_settings()
    host = host or settings.api_host
    check_bind(settings, host)
    uvicorn.run(
        "tasksched.api.app:app",
        host=host,
        port=settings.api_port if port is None else port,
        workers=workers,
        log_level=log_level,
        # Client addresses are the socket's: the loopback rule must not trust headers.
        proxy_headers=False,
    )
