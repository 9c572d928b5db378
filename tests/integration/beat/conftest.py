"""Beat fixtures: an in-process dispatcher with an injectable clock, real beat processes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from tasksched.beat.publisher import CeleryPublisher
from tasksched.beat.tick import Ticker
from tasksched.celery import configure
from tasksched.settings import Settings
from tasksched.store import Store
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Proc, child_env


class FakeClock:
    """A clock the test moves by hand (epoch seconds)."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def broker_messages(redis_url: str, queue: str = "training") -> list[dict[str, Any]]:
    """The task messages waiting in ``queue`` (kombu's Redis list), oldest first, decoded."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    out = []
    for item in reversed(raw):  # kombu LPUSHes and consumers BRPOP: the tail is the oldest
        envelope = json.loads(item)
        args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        out.append(
            {
                "id": envelope["headers"]["id"],
                "task": envelope["headers"]["task"],
                "args": args,
                "kwargs": kwargs,
                "routing_key": envelope["properties"]["delivery_info"]["routing_key"],
            }
        )
    return out


def published_run_ids(redis_url: str, queue: str = "training") -> list[str]:
    """The task ids (= run ids) published to ``queue``, with repeats, oldest first."""
    return [m["id"] for m in broker_messages(redis_url, queue)]


@pytest.fixture
def celery_app(settings: Settings) -> Iterator[Celery]:
    """A Celery app whose broker is the test's redis-server (its connections closed after)."""
    app = Celery("tasksched_beat_tests")
    configure(app, settings)
    yield app
    close_app(app)


def close_app(app: Celery) -> None:
    """Close the broker connections an app opened.

    kombu keeps them in process-wide pools keyed by broker URL (shared by every app on that
    broker); reset() closes and forgets them all, so the next app gets fresh pools. The
    process's long-lived apps in ``tasksched.celery`` (what ``trigger`` and ``emit_event``
    publish with) drop the closed pools too, or their next publish would fail.
    """
    import kombu.pools

    import tasksched.celery

    app.close()
    kombu.pools.reset()
    tasksched.celery.app.amqp._producer_pool = None
    tasksched.celery.app._pool = None
    tasksched.celery._OTHER_APPS.clear()


TickerFactory = Callable[..., Ticker]


@pytest.fixture
def make_ticker(
    real_store: Store, celery_app: Celery, settings: Settings
) -> Iterator[TickerFactory]:
    """Build in-process dispatchers on the real redis-server; each is closed at teardown."""
    made: list[Ticker] = []

    def make(
        clock: Callable[[], float] | None = None,
        settings_: Settings | None = None,
        publisher: Any = None,
        fast_path: bool = True,
    ) -> Ticker:
        s = settings_ or settings
        store = Store(settings=s)
        d = Ticker(
            store,
            publisher or CeleryPublisher(celery_app, s.training_queue),
            s,
            clock=clock,
            fast_path=fast_path,
        )
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
        d.store.redis.close()


class BeatProcs:
    """Real ``celery beat`` processes (tasksched's scheduler), stopped at teardown."""

    def __init__(self, tmp_path: Path, redis_url: str):
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.procs: list[Proc] = []

    def start(
        self,
        name: str = "beat",
        lease_s: float | None = 2.0,
        own_app: bool = False,
        loglevel: str = "INFO",
        **env: str,
    ) -> Proc:
        """``celery -A tasksched beat``; with ``own_app`` a user's app with ``-S``; with
        ``lease_s`` None the lease is the documented default (the variable unset)."""
        own = "tests.integration.beat.celery_app"
        app = ["-A", own, "beat", "-S", "tasksched.beat:RedisScheduler"]
        args = [
            *_celery(),
            *(app if own_app else ["-A", "tasksched", "beat"]),
            "-l",
            loglevel,
            "--schedule",
            str(self.tmp_path / f"{name}-schedule"),
        ]
        if lease_s is not None:
            env["TASKSCHED_BEAT_LEASE_S"] = str(lease_s)
        environment = child_env(
            TASKSCHED_REDIS_URL=self.redis_url,
            TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
            **env,
        )
        proc = Proc(args, environment, self.tmp_path / f"{name}.log")
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for p in self.procs:
            p.stop()


def _celery() -> list[str]:
    import sys

    return [sys.executable, "-m", "celery"]


@pytest.fixture
def beats(tmp_path: Path, redis_url: str) -> Iterator[BeatProcs]:
    """Start real beat processes against the test's redis-server."""
    procs = BeatProcs(tmp_path, redis_url)
    yield procs
    procs.stop_all()
