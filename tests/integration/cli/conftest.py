"""The CLI as a real process: ``python -m tasksched.cli`` against the real redis-server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import TEST_SECRET_KEY, Invoke, Result
from tests.helpers import ROOT, child_env


@pytest.fixture
def invoke_process(redis_url: str) -> Invoke:
    """Run ``python -m tasksched.cli ARGS...`` as a real process against the real redis-server."""

    def run(*args: str, input: str | None = None, **env: str) -> Result:
        environ = child_env(
            TASKSCHED_REDIS_URL=redis_url, TASKSCHED_SECRET_KEY=TEST_SECRET_KEY, **env
        )
        proc = subprocess.run(
            [sys.executable, "-m", "tasksched.cli", *args],
            env=environ, cwd=ROOT, input=input, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
