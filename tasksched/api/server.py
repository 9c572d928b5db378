"""Serving the API: refuse a non-loopback bind when no API key is configured."""

from __future__ import annotations

import ipaddress
import logging

from tasksched.api.auth import KeyRing
from tasksched.errors import ValidationError
from tasksched.settings import Settings, get_settings

log = logging.getLogger("tasksched.api")


def check_bind(settings: Settings, host: str) -> None:
    """Raise ValidationError (``TASKSCHED_API_HOST``) for a non-loopback host without keys."""
    if not KeyRing.from_setting(settings.api_keys).open:
        return
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValidationError(
            "TASKSCHED_API_HOST",
            f"cannot listen on {host!r} without TASKSCHED_API_KEYS: with no keys the API "
            "serves loopback only (use 127.0.0.1, or configure keys)",
        )


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
