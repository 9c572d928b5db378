"""Interactive API docs that work offline: Swagger UI 5 and ReDoc from an installed package.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so on a machine without internet it
is blank. The assets come from the ``fastapi-offline`` package instead (it bundles Swagger UI
5.x, which renders FastAPI's OpenAPI 3.1 documents — Swagger UI 4 renders nothing for them —,
and ReDoc 2.x). Only its static files are used: the pages are FastAPI's own HTML helpers
pointed at them, served under ``/api/scheduler/docs``, ``/api/scheduler/redoc`` and
``/api/scheduler/docs/static/``. No page names a host other than the one serving it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"


def assets_dir() -> Path:
    """The directory of the bundled Swagger UI and ReDoc files (inside ``fastapi_offline``)."""
    return Path(str(files("fastapi_offline") / "static"))


def public_paths(prefix: str) -> frozenset[str]:
    """The docs pages and their assets: served without a key (they hold no data)."""
    static = f"{prefix}/docs/static"
    assets = {f"{static}/{name}" for name in (SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON)}
    return frozenset(
        {f"{prefix}/docs", f"{prefix}/redoc", f"{prefix}/docs/oauth2-redirect", *assets}
    )


def install(app: FastAPI, prefix: str) -> None:
    """Serve Swagger UI at ``<prefix>/docs`` and ReDoc at ``<prefix>/redoc``, assets local.

    The app must be built with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off).
    """
    static = f"{prefix}/docs/static"
    openapi_url = app.openapi_url or f"{prefix}/openapi.json"
    oauth2_url = f"{prefix}/docs/oauth2-redirect"
    app.mount(static, StaticFiles(directory=assets_dir()), name="docs-static")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=base + oauth2_url,
            swagger_js_url=f"{base}{static}/{SWAGGER_JS}",
            swagger_css_url=f"{base}{static}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{base}{static}/{FAVICON}",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return get_redoc_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{static}/{REDOC_JS}",
            redoc_favicon_url=f"{base}{static}/{FAVICON}",
            with_google_fonts=False,  # a font CDN: the page must not need the internet
        )

    app.add_api_route(f"{prefix}/docs", swagger_ui, include_in_schema=False)
    app.add_api_route(oauth2_url, oauth2_redirect, include_in_schema=False)
    app.add_api_route(f"{prefix}/redoc", redoc, include_in_schema=False)
