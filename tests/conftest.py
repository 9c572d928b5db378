"""Shared fixtures: a real redis-server per session, fakeredis for fast unit tests, the CLI."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from tasksched.cli import cli
from tasksched.cli.common import CliState
from tasksched.manager import SchedulerManager
from tasksched.settings import Settings, reload_settings
from tasksched.store import Store
from tests.helpers import TEST_LEARNERS, RedisServer

TEST_SECRET_KEY = Fernet.generate_key().decode()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # In CI a skipped test is a failing test: turn skips into failures there.
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and call.when in ("setup", "call"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (a skip is a failure here): {report.longrepr}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port for the whole session."""
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The real server's URL, emptied before the test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def settings(redis_url: str) -> Settings:
    """Settings pointing at the real redis-server, with a secret key."""
    return Settings(redis_url=redis_url, secret_key=TEST_SECRET_KEY, learners=TEST_LEARNERS)


@pytest.fixture
def real_store(settings: Settings) -> Iterator[Store]:
    """A store on the real redis-server."""
    store = Store(settings=settings)
    yield store
    store.redis.close()


@pytest.fixture
def fake_store() -> Iterator[Store]:
    """A store on fakeredis (fast unit tests only)."""
    import fakeredis

    client = fakeredis.FakeRedis(decode_responses=True)
    store = Store(
        redis_client=client, settings=Settings(secret_key=TEST_SECRET_KEY, learners=TEST_LEARNERS)
    )
    yield store
    client.close()


@pytest.fixture(params=["fakeredis", pytest.param("redis-server", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> Store:
    """Tests on this fixture run twice: on fakeredis, and on the session's real redis-server
    (that variant is marked ``integration``: it needs the process)."""
    if request.param == "fakeredis":
        return request.getfixturevalue("fake_store")  # type: ignore[no-any-return]
    return request.getfixturevalue("real_store")  # type: ignore[no-any-return]


@pytest.fixture
def no_key_store(store: Store) -> Store:
    """The same Redis, but no TASKSCHED_SECRET_KEY configured."""
    return Store(redis_client=store.redis, settings=store.settings.replace(secret_key=""))


@pytest.fixture
def manager(store: Store) -> SchedulerManager:
    """A SchedulerManager on the ``store`` fixture (fakeredis or the real redis-server)."""
    return SchedulerManager(store=store)


# ---- the CLI in this process (click's runner) ----------------------------------------------
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
def invoke(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """Run ``tasksched ARGS...`` in this process (click's runner) on the ``store`` fixture.

    On fakeredis the command's manager is one on that store; on the real redis-server the
    command connects by itself (``TASKSCHED_REDIS_URL``), as the installed script does.
    """
    import fakeredis

    monkeypatch.setenv("TASKSCHED_SECRET_KEY", TEST_SECRET_KEY)
    if isinstance(store.redis, fakeredis.FakeRedis):
        monkeypatch.delenv("TASKSCHED_REDIS_URL", raising=False)
        on_store = SchedulerManager(store=store)
        monkeypatch.setattr(CliState, "manager", property(lambda _state: on_store))
    else:
        monkeypatch.setenv("TASKSCHED_REDIS_URL", store.settings.redis_url)
    reload_settings()
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        res = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)

    yield run
    monkeypatch.undo()
    reload_settings()
