"""Every topology of docs/operations.md from TASKSCHED_* variables alone, with real processes:
``celery -A tasksched beat`` dispatches a cron run and ``celery -A tasksched worker`` runs it and
a forced run to the end."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from tests.helpers import RedisServer
from tests.integration.deploy.conftest import SentinelGroup, TlsRedis

pytestmark = pytest.mark.timeout(240)


def _run_both(deployment: Any) -> None:
    deployment.start_worker()
    deployment.start_beat()
    deployment.cron_and_forced_run()


def test_one_redis(deploy: Any, redis_url: str) -> None:
    _run_both(deploy({"TASKSCHED_REDIS_URL": redis_url}))


def test_store_and_broker_on_two_redis_servers(deploy: Any, redis_url: str,
                                               tmp_path: Any) -> None:  # fmt: skip
    broker = RedisServer(tmp_path / "broker")
    broker.start()
    try:
        d = deploy({"TASKSCHED_REDIS_URL": redis_url, "TASKSCHED_BROKER_URL": broker.url})
        _run_both(d)
        store_side = redis.Redis.from_url(redis_url)
        broker_side = redis.Redis.from_url(broker.url)
        try:
            # The task messages travelled through the broker's Redis, never the store's.
            assert broker_side.exists("_kombu.binding.training")
            assert not store_side.exists("_kombu.binding.training")
        finally:
            store_side.close()
            broker_side.close()
        assert d.manager.system_status()["queues"] == {"training": 0, "notifications": 0}
    finally:
        broker.stop()


def test_sentinel_in_tasksched_s_form(deploy: Any, sentinels: SentinelGroup) -> None:
    d = deploy({"TASKSCHED_REDIS_URL": sentinels.tasksched_url()})
    _run_both(d)
    assert d.manager.system_status()["queues"]["training"] == 0


def test_sentinel_in_kombu_s_form(deploy: Any, sentinels: SentinelGroup) -> None:
    _run_both(deploy({
        "TASKSCHED_REDIS_URL": sentinels.kombu_url(),
        "TASKSCHED_BROKER_TRANSPORT_OPTIONS": json.dumps({"master_name": "mymaster"}),
    }))  # fmt: skip


def test_tls(deploy: Any, tls_redis: TlsRedis) -> None:
    _run_both(deploy({"TASKSCHED_REDIS_URL": tls_redis.url}))


def test_a_unix_socket(deploy: Any, socket_redis: str) -> None:
    _run_both(deploy({"TASKSCHED_REDIS_URL": f"unix://{socket_redis}?db=0"}))
