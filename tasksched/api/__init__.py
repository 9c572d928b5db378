"""The REST API (FastAPI): ``create_app()``; serve with ``uvicorn tasksched.api.app:app``."""

from __future__ import annotations

from tasksched.api.app import create_app

__all__ = ["create_app"]
