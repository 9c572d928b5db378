"""Beat's store calls through a real Sentinel (``sentinel://`` URL)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from tasksched.beat.publisher import CeleryPublisher
from tasksched.beat.tick import Ticker
from tasksched.celery import configure
from tasksched.settings import Settings
from tasksched.store import Store
from tests.beat.schedules import T0, make_schedule
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import RedisServer, free_port, redis_server_binary, wait_for
from tests.integration.beat.conftest import FakeClock, broker_messages, close_app


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[RedisServer, int]]:
    """A redis-server and a real Sentinel watching it as ``mymaster``."""
    master = RedisServer(tmp_path / "master")
    master.start()
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
    )
    proc = subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, decode_responses=True)
        wait_for(lambda: client.execute_command("SENTINEL", "MASTERS"), 10, what="sentinel")
        client.close()
        yield master, port
    finally:
        proc.terminate()
        proc.wait(10)
        master.stop()


@pytest.mark.timeout(30)
def test_a_tick_through_sentinel(sentinel: tuple[RedisServer, int]) -> None:
    master, port = sentinel
    direct = Settings(redis_url=master.url, secret_key=TEST_SECRET_KEY)
    via_sentinel = direct.replace(redis_url=f"sentinel://127.0.0.1:{port}/mymaster")
    store = Store(settings=via_sentinel)
    sid = make_schedule(store)
    app = Celery("sentinel-test")
    configure(app, direct.replace(broker_url=master.url))
    d = Ticker(store, CeleryPublisher(app, "training"), via_sentinel, clock=FakeClock(T0 + 10))
    try:
        d.tick()
        assert d.is_leader and d.direct_queue_key is None  # broker URL differs: kombu's path
        assert [m["id"] for m in broker_messages(master.url)] == [f"{sid}-{int(T0) + 10}"]
        assert store.runs.get(f"{sid}-{int(T0) + 10}")["status"] == "queued"
    finally:
        d.close()
        store.redis.close()
        close_app(app)
