"""The interactive docs render offline, in a real headless browser (Debian's chromium).

Swagger UI and ReDoc must draw the API's operations from assets the app serves itself: every
request the page makes to a host other than the API's is aborted (as on a machine without
internet) and recorded. The pages must render anyway, and ask no other host for a script, a
style sheet, a font or data; the one thing ReDoc's bundle itself asks for is its "API docs by
Redocly" logo image, which then shows as missing. A screenshot of each page is kept under the
test's tmp dir.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Route, sync_playwright

from tests.integration.api.conftest import ServedApi

CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); never a downloaded build
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
# The operations of /schedules, as FastAPI names them from the route functions.
SCHEDULE_OPERATIONS = ("Create Schedule", "List Schedules")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """A headless chromium with a fresh profile, for this module."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 1600},
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


def _offline_page(browser: BrowserContext, api: ServedApi, foreign: list[str]) -> Page:
    page = browser.new_page()
    own = urlsplit(api.url).netloc

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == own:
            route.continue_()
        else:
            foreign.append(f"{route.request.resource_type} {url}")
            route.abort()

    page.route("**/*", guard)
    return page


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("path", "operation_selector"),
    [
        ("/docs", ".opblock-summary-description"),  # Swagger UI: each operation's summary
        ("/redoc", "h2"),  # ReDoc: each operation's heading
    ],
    ids=["swagger-ui", "redoc"],
)
def test_docs_render_the_operations_offline(
    api: ServedApi, browser: BrowserContext, tmp_path: Path, path: str, operation_selector: str
) -> None:
    html = httpx.get(api.api_url + path, timeout=10).text
    # every URL the page names is on this server
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html), html
    assert "cdn" not in html.lower()
    foreign: list[str] = []
    page = _offline_page(browser, api, foreign)
    try:
        page.goto(api.api_url + path, wait_until="load", timeout=60_000)
        for summary in SCHEDULE_OPERATIONS:
            drawn = page.locator(operation_selector, has_text=summary).first
            drawn.wait_for(state="visible", timeout=60_000)
        text = page.inner_text("body")
        for summary in SCHEDULE_OPERATIONS:
            assert summary in text
        assert "/api/scheduler/schedules" in page.content()
        shot = tmp_path / f"docs-{path.strip('/')}.png"
        page.screenshot(path=str(shot), full_page=False)
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 10_000
    finally:
        page.close()
    needed = [f for f in foreign if not f.startswith("image ")]
    assert needed == [], f"the page needs other hosts: {foreign}"


def test_the_assets_are_swagger_ui_5(api: ServedApi) -> None:
    # FastAPI's document is OpenAPI 3.1: Swagger UI 4 shows nothing for it
    doc = httpx.get(api.api_url + "/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.1")
    js = httpx.get(api.api_url + "/docs/static/swagger-ui-bundle.js", timeout=10)
    assert js.status_code == 200
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.', js.text)
    assert version is not None and int(version.group(1)) >= 5
    assert httpx.get(api.api_url + "/docs/static/redoc.standalone.js").status_code == 200
