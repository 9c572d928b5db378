"""A real API process and a real training worker, as a tenant's attacker meets them.

Both processes (and every Python process they start: training children, pool workers) load
``connect_guard/sitecustomize.py``: a connection to anything but loopback raises and is logged,
so no test traffic can leave loopback. Tasksched's own outbound guard is on (no private
targets allowed), so the tests can tell its refusals (the guard log stays empty) from the
test guard's. ``tests.learners.marker`` leaves a marker file if any process imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TEST_LEARNERS, Proc, RedisServer, child_env, free_port, wait_for

HERE = Path(__file__).resolve().parent
GUARD_DIR = HERE / "connect_guard"
ACME_KEY = "acme-key-sec-0123456789abcdef"
GLOBEX_KEY = "globex-key-sec-0123456789abcdef"
ADMIN_KEY = "admin-key-sec-0123456789abcdef"
API_KEYS = f"{ACME_KEY}=acme,{GLOBEX_KEY}=globex,{ADMIN_KEY}=*"
PREFIX = "/api/scheduler"
TERMINAL = {"succeeded", "rejected", "failed", "skipped", "missed", "lost"}
# Loose host limits: the machine under test may be busy; these tests are about boundaries.
RUNNABLE = {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 4000}


def finished(client: httpx.Client, run_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The run record once it reached a terminal status."""

    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = client.get(f"/runs/{run_id}").json()
        return run if run["status"] in TERMINAL else None

    return wait_for(done, timeout_s, 0.2, what=f"run {run_id} to finish")  # type: ignore[no-any-return]


@dataclass
class Rig:
    """The processes and the files the tests look at afterwards."""

    root: Path
    redis: RedisServer
    api_url: str
    api: Proc
    worker: Proc
    marker: Path
    guard_log: Path
    state_dir: Path
    env: dict[str, str]

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.api_url + PREFIX, headers=headers, timeout=30)

    def alive(self) -> None:
        for proc in (self.api, self.worker):
            assert proc.alive(), proc.output()[-3000:]


def guarded_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of every process under test: the connect guard and the marker."""
    return child_env(
        PYTHONPATH=str(GUARD_DIR),
        CONNECT_GUARD_LOG=str(root / "connect-guard.log"),
        TASKSCHED_TEST_MARKER=str(root / "marker"),
        **extra,
    )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("security")
    redis = RedisServer(root / "redis")
    redis.start()
    state_dir = root / "state"
    env = guarded_env(
        root,
        TASKSCHED_REDIS_URL=redis.url,
        TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
        TASKSCHED_API_KEYS=API_KEYS,
        TASKSCHED_LEARNERS=TEST_LEARNERS,
        TASKSCHED_STATE_DIR=str(state_dir),
        TASKSCHED_WORKER_HEARTBEAT_S="0.5",
        TASKSCHED_WORKER_CPU_SAMPLE_S="0.5",
        TASKSCHED_SMTP_TIMEOUT_S="3",
    )
    port = free_port()
    api = Proc([sys.executable, "-m", "tasksched.cli", "api", "--host", "127.0.0.1",
                "--port", str(port)], env, root / "api.log")  # fmt: skip
    worker = Proc(
        [sys.executable, "-m", "celery", "-A", "tasksched", "worker",
         "-Q", "training,notifications", "-n", "security@%h", "-c", "2", "--pool", "prefork",
         "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env, root / "worker.log",
    )  # fmt: skip
    r = Rig(root, redis, f"http://127.0.0.1:{port}", api, worker, root / "marker",
            root / "connect-guard.log", state_dir, env)  # fmt: skip
    try:
        with r.client(ADMIN_KEY) as admin:
            def ready() -> bool:
                r.alive()
                return bool(admin.get("/status").json()["workers_online"] >= 1)

            wait_for(ready, 90, 0.2, what="the API and a worker")
        yield r
    finally:
        worker.stop()
        api.stop()
        redis.stop()


@pytest.fixture
def acme(rig: Rig) -> Iterator[httpx.Client]:
    with rig.client(ACME_KEY) as c:
        yield c


@pytest.fixture
def globex(rig: Rig) -> Iterator[httpx.Client]:
    with rig.client(GLOBEX_KEY) as c:
        yield c


@pytest.fixture
def admin(rig: Rig) -> Iterator[httpx.Client]:
    with rig.client(ADMIN_KEY) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_schedules_left(rig: Rig) -> Iterator[None]:
    """Each test starts and ends with an empty store (and a live API and worker)."""
    import redis as redis_py

    client = redis_py.Redis.from_url(rig.redis.url, decode_responses=True)
    for key in client.scan_iter("{tasksched}:*"):
        if not key.startswith("{tasksched}:workers"):
            client.delete(key)
    yield
    client.close()
    rig.alive()
