"""SchedulerManager connecting by itself: a URL given is the URL used, end to end (store,
broker, queue depths), whatever this process's environment says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tasksched import SchedulerManager
from tests.helpers import RedisServer
from tests.integration.deploy.conftest import DEMO_CONFIG, Deployment


def test_connects_with_a_redis_url(redis_url: str) -> None:
    m = SchedulerManager(redis_url=redis_url)
    assert m.store.ping()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("separate_broker", [False, True], ids=["one-redis", "own-broker"])
def test_every_method_talks_to_what_the_manager_was_given(
    tmp_path: Path, redis_url: str, separate_broker: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process's environment names nothing that answers.
    monkeypatch.setenv("TASKSCHED_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("TASKSCHED_BROKER_URL", "redis://127.0.0.1:1/1")
    broker: RedisServer | None = None
    variables = {"TASKSCHED_REDIS_URL": redis_url}
    if separate_broker:
        broker = RedisServer(tmp_path / "broker")
        broker.start()
        variables["TASKSCHED_BROKER_URL"] = broker.url
    d = Deployment(tmp_path / "deploy", variables)
    try:
        m: Any = SchedulerManager(redis_url=redis_url, broker_url=broker.url if broker else None)
        sid = m.create_training_schedule("acme", "given", "0 3 * * *", DEMO_CONFIG)
        handle = m.trigger_training("acme", sid, force=True)
        # published to the given broker, and counted there
        assert m.system_status()["queues"] == {"training": 1, "notifications": 0}
        d.start_worker()
        record = handle.wait(60)
        assert record["status"] in ("succeeded", "rejected"), record
        # the broker's lists as the manager reads them: drained once the worker took the
        # run's notifications too
        d.wait(lambda: m.system_status()["queues"] == {"training": 0, "notifications": 0}, 30,
               "empty queues")  # fmt: skip
        assert m.system_status()["workers_online"] == 1
        m.store.close()
    finally:
        d.stop()
        if broker is not None:
            broker.stop()
