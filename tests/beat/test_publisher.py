"""CeleryPublisher: which brokers get the direct (one-transaction) path."""

from __future__ import annotations

from celery import Celery

from tasksched.beat.publisher import CeleryPublisher
from tasksched.celery import configure
from tasksched.settings import Settings


def test_the_direct_path_only_for_the_store_s_own_plain_redis() -> None:
    # Only URLs are compared: nothing connects.
    redis_url = "redis://127.0.0.1:6379/0"
    settings = Settings(redis_url=redis_url)
    other = Celery("other")
    configure(other, settings.replace(broker_url="redis://127.0.0.1:1/0"))
    assert CeleryPublisher(other, "training").redis_queue_key(redis_url) is None
    prefixed = Celery("prefixed")
    configure(prefixed, settings)
    prefixed.conf.broker_transport_options = {"global_keyprefix": "x:"}
    assert CeleryPublisher(prefixed, "training").redis_queue_key(redis_url) is None
    amqp = Celery("amqp")
    configure(amqp, settings.replace(broker_url="amqp://guest@127.0.0.1//"))
    assert CeleryPublisher(amqp, "training").redis_queue_key(settings.redis_url) is None
