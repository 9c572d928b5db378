"""The fault tests' rig: a fault-injecting proxy in front of the session's redis-server, and a
store, a Celery app and a worker pipeline that talk to Redis only through it (fixtures
``proxy`` and ``faulty``, registered by tests/integration/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from tasksched.celery import configure
from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.tasks.run_steps import RunPipeline
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TEST_LEARNERS, RedisServer
from tests.integration.beat.conftest import close_app
from tests.integration.faultproxy import FaultProxy, load_scripts

SCRIPTED = "scripted"  # registered in TASKSCHED_LEARNERS (tests.helpers.TEST_LEARNERS)
CONTROLS = {"max_cpu_usage_percent": 100, "max_memory_usage_mb": 400}


@pytest.fixture
def proxy(redis_server: RedisServer, redis_url: str) -> Iterator[FaultProxy]:
    """A fault proxy in front of the (emptied) session redis-server."""
    with FaultProxy(redis_server.port) as p:
        yield p


class Faulty:
    """Everything a fault test needs, its Redis traffic through ``proxy``."""

    def __init__(self, proxy: FaultProxy, direct_url: str, tmp_path: Path):
        self.proxy = proxy
        self.settings = Settings(
            redis_url=proxy.url,
            secret_key=TEST_SECRET_KEY,
            learners=TEST_LEARNERS,
            state_dir=str(tmp_path / "state"),
            training_kill_grace_s=0.5,
            defer_backoff_s=0.2,
            run_lock_ttl_s=3.0,
        )
        self.store = Store(settings=self.settings)
        # Assertions read Redis directly, not through the proxy.
        self.direct = Store(settings=self.settings.replace(redis_url=direct_url))
        load_scripts(self.direct.redis)
        self.manager = SchedulerManager(store=self.store)
        self.app = Celery("tasksched_fault_tests")
        configure(self.app, self.settings)
        self.pipeline = RunPipeline(self.store, self.settings, notify=False)

    def schedule(self, options: dict[str, Any] | None = None, cron: str = "0 2 * * *",
                 **config: Any) -> str:  # fmt: skip
        controls = {**CONTROLS, **config.pop("safety_controls", {})}
        cfg = {"learner": SCRIPTED, "learner_options": options or {},
               "safety_controls": controls, **config}  # fmt: skip
        return self.manager.create_training_schedule("acme", "s", cron, cfg)

    def calls(self, sid: str, call: str = "train") -> list[str]:
        """Run ids of the learner's ``call`` entries (its call log), in order."""
        path = Path(self.settings.state_dir) / "models" / "acme" / sid / "calls.log"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        return [e["run_id"] for e in entries if e["call"] == call]

    def non_final(self) -> list[str]:
        """Run ids indexed as running or pending (not final) right now."""
        r, k = self.direct.redis, self.direct.keys
        return sorted(set(r.zrange(k.running, 0, -1)) | set(r.zrange(k.pending, 0, -1)))

    def close(self) -> None:
        close_app(self.app)
        self.store.close()
        self.direct.close()


@pytest.fixture
def faulty(proxy: FaultProxy, redis_url: str, tmp_path: Path) -> Iterator[Faulty]:
    f = Faulty(proxy, redis_url, tmp_path)
    yield f
    f.close()
