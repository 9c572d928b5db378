"""The API as its own process: ``uvicorn tasksched.api.app:app`` and ``python -m tasksched.api``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Proc, child_env, free_port, wait_for
from tests.integration.api.conftest import ADMIN_KEY, API_KEYS


def _ready(url: str) -> bool:
    return httpx.get(url + "/healthz", timeout=1).status_code == 200


@pytest.mark.timeout(60)
def test_uvicorn_serves_the_module_app_with_keys(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = child_env(
        TASKSCHED_REDIS_URL=redis_url, TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
        TASKSCHED_API_KEYS=API_KEYS,
    )
    proc = Proc(
        [sys.executable, "-m", "uvicorn", "tasksched.api.app:app", "--port", str(port)],
        env, tmp_path / "uvicorn.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(url), 20, what="uvicorn")
        assert httpx.get(url + "/api/scheduler/schedules").status_code == 401
        ok = httpx.get(
            url + "/api/scheduler/schedules", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        assert ok.status_code == 200 and ok.json()["total"] == 0
        doc = httpx.get(url + "/api/scheduler/openapi.json").json()
        assert "/api/scheduler/schedules/{schedule_id}" in doc["paths"]
        assert "no API keys configured" not in proc.output()
    finally:
        proc.stop()


@pytest.mark.timeout(60)
def test_without_keys_it_says_so_and_serves_loopback_only(redis_url: str, tmp_path: Path) -> None:
    env = child_env(TASKSCHED_REDIS_URL=redis_url)
    refused = subprocess.run(
        [sys.executable, "-m", "tasksched.api", "0.0.0.0", str(free_port())],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("Error: TASKSCHED_API_HOST:")
    # `tasksched api` applies the same rule (it does not go through tasksched.api.server).
    refused = subprocess.run(
        [sys.executable, "-m", "tasksched.cli", "api", "--host", "0.0.0.0", "--port",
         str(free_port())],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("Error: TASKSCHED_API_HOST:"), refused.stderr
    port = free_port()
    proc = Proc(
        [sys.executable, "-m", "tasksched.api", "127.0.0.1", str(port)], env, tmp_path / "api.log"
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(url), 20, what="the API")
        wait_for(lambda: "no API keys configured" in proc.output(), 5, what="the log line")
        bare = httpx.post(url + "/api/scheduler/stop")  # what a web page's form could send
        assert bare.status_code == 415 and bare.json()["error"]["field"] == "Content-Type"
        # admin without a key, on loopback, with a header no simple cross-site request has
        r = httpx.post(url + "/api/scheduler/stop", headers={"X-Tasksched-Client": "t"})
        assert r.status_code == 200 and r.json()["enabled"] is False
    finally:
        proc.stop()
