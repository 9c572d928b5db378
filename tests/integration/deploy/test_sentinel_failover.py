"""A Sentinel failover under a running deployment: every schedule kept, dispatch resumes.

Store and broker both go through Sentinel (``TASKSCHED_REDIS_URL=sentinel://...`` only); the
failover is Sentinel's own (``SENTINEL FAILOVER``): the replica becomes the master and the old
master its replica, and every client is disconnected and has to find the new master."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests.helpers import wait_for
from tests.integration.deploy.conftest import SentinelGroup

pytestmark = pytest.mark.timeout(300)


def _role(port: int) -> str:
    client = redis.Redis(port=port, decode_responses=True, socket_timeout=2)
    try:
        return str(client.info("replication")["role"])
    finally:
        client.close()


def test_a_failover_keeps_every_schedule_and_dispatch_resumes(
    deploy: Any, sentinels: SentinelGroup
) -> None:
    d = deploy({"TASKSCHED_REDIS_URL": sentinels.tasksched_url()})
    d.start_worker()
    d.start_beat()
    d.cron_and_forced_run()
    ids = d.manager.create_training_schedules(
        {"tenant_id": "acme", "name": f"kept {i}", "cron_expression": "0 3 * * *"}
        for i in range(200)
    )
    old = redis.Redis(port=sentinels.master.port, decode_responses=True)
    try:
        # Replication is asynchronous: the replica has every write before it takes over.
        assert old.execute_command("WAIT", 1, 10_000) == 1
    finally:
        old.close()
    before = {s["id"] for s in d.manager.list_schedules("acme")}

    client = sentinels.client()
    try:
        assert client.execute_command("SENTINEL", "FAILOVER", "mymaster")
    finally:
        client.close()
    wait_for(lambda: sentinels.master_port() == sentinels.replica.port, 60, 0.2,
             what="the replica to be the master")  # fmt: skip
    wait_for(lambda: _role(sentinels.master.port) == "slave", 60, 0.2,
             what="the old master to follow the new one")  # fmt: skip

    after = d.wait(lambda: {s["id"] for s in d.manager.list_schedules("acme")}, 60,
                   "the store through the new master")  # fmt: skip
    assert set(ids) <= after and after == before
    # Beat and the worker found the new master by themselves: a new cron run and a forced
    # run go through the whole way.
    d.cron_and_forced_run()
    assert d.manager.system_status()["beat"]["leader_present"]
