"""Fixtures for the CLI tests: the command through click's runner and as a real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from tasksched.cli import cli
from tasksched.settings import reload_settings
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import ROOT, child_env


@dataclass
class Result:
    """What a CLI invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """Run ``tasksched ARGS...`` in this process (click's runner) against the real redis-server."""
    monkeypatch.setenv("TASKSCHED_REDIS_URL", redis_url)
    monkeypatch.setenv("TASKSCHED_SECRET_KEY", TEST_SECRET_KEY)
    reload_settings()
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        res = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)

    yield run
    monkeypatch.undo()
    reload_settings()


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
