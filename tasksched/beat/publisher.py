"""Publishing claimed runs as Celery task messages, many at a time.

Messages are built by Celery itself (``app.amqp.create_task_message``, protocol 2) and sent
through one kombu producer inside ``Producer.batch()``: on the Redis transport kombu buffers
them in one pipeline (one round trip per batch); on other transports ``batch()`` publishes each
message at once, so the same code is correct for every broker. The task id is the run id;
the arguments are ids only (keyword arguments, never secrets or configs).

When the broker is the store's own Redis (the default), :meth:`CeleryPublisher.redis_messages`
encodes the same messages in kombu's Redis format (what kombu's ``_put`` would ``LPUSH``) so
that beat pushes them and removes them from the outbox in one MULTI/EXEC: a crash can then
neither lose nor duplicate a publish. Tests check a real Celery worker consumes them.

Not sent: Celery's ``task-sent`` event and the ``before/after_task_publish`` signals, which
``send_task`` would emit; they cost more than the publish itself at 10,000 runs a second.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from celery import Celery
from kombu.serialization import dumps as kombu_serialize
from kombu.utils.json import dumps as kombu_json

from tasksched.celery import TRAIN_TASK

# kombu flushes its Redis pipeline after this many commands.
PUBLISH_BATCH = 2000
# The keyword arguments of the training task, in this order.
TASK_KWARGS = ("tenant_id", "schedule_id", "run_id", "fire_time", "trigger")


def task_kwargs(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The training task's keyword arguments from an outbox payload (ids only)."""
    return {name: payload[name] for name in TASK_KWARGS}


class CeleryPublisher:
    """Publish training task messages for claimed runs to ``queue`` of ``app``'s broker."""

    def __init__(self, app: Celery, queue: str, task_name: str = TRAIN_TASK):
        self.app = app
        self.queue_name = queue
        self.task_name = task_name

    def publish(self, payloads: Sequence[Mapping[str, Any]]) -> int:
        """Publish one message per payload; returns how many. Raises on broker errors.

        A failure part-way leaves the broker with some of them: the caller keeps the batch
        (in the outbox) and publishes it again; the run id is the task id, so a worker can
        tell a repeat.
        """
        if not payloads:
            return 0
        amqp = self.app.amqp
        queue = amqp.queues[self.queue_name]
        serializer = self.app.conf.task_serializer
        with self.app.producer_or_acquire() as producer:
            producer.maybe_declare(queue)
            with producer.batch(max_size=PUBLISH_BATCH):
                for payload in payloads:
                    kwargs = task_kwargs(payload)
                    run_id = str(kwargs["run_id"])
                    message = amqp.create_task_message(
                        run_id,
                        self.task_name,
                        (),
                        kwargs,
                        argsrepr="()",
                        kwargsrepr=repr(kwargs),
                    )
                    producer.publish(
                        message.body,
                        exchange="",
                        routing_key=queue.routing_key or self.queue_name,
                        headers=message.headers,
                        serializer=serializer,
                        retry=False,
                        **message.properties,
                    )
        return len(payloads)

    def redis_queue_key(self, store_url: str) -> str | None:
        """The Redis list kombu delivers ``queue`` to, if beat may push there itself.

        Only when the broker is the store's Redis (same URL), the transport is kombu's plain
        Redis transport without a global key prefix, and the queue has neither priorities nor
        expiry; otherwise None, and :meth:`publish` (kombu's own path) is used.
        """
        conf = self.app.conf
        broker = str(conf.broker_url or "")
        if not broker or broker != store_url:
            return None
        if urlsplit(broker).scheme not in ("redis", "rediss", "unix"):
            return None
        options = conf.broker_transport_options or {}
        if options.get("global_keyprefix") or options.get("priority_steps"):
            return None
        if conf.task_compression or conf.task_serializer != "json":
            return None
        queue = self.app.amqp.queues[self.queue_name]
        if queue.expires or queue.max_priority or (queue.queue_arguments or {}):
            return None
        return str(self.queue_name)

    def redis_messages(self, payloads: Sequence[Mapping[str, Any]]) -> list[str]:
        """The task messages in kombu's Redis list format (for :meth:`redis_queue_key`)."""
        amqp = self.app.amqp
        out: list[str] = []
        delivery_info = {"exchange": "", "routing_key": self.queue_name}
        for payload in payloads:
            kwargs = task_kwargs(payload)
            run_id = str(kwargs["run_id"])
            message = amqp.create_task_message(
                run_id, self.task_name, (), kwargs, argsrepr="()", kwargsrepr=repr(kwargs)
            )
            content_type, content_encoding, body = kombu_serialize(message.body, "json")
            if isinstance(body, str):
                body = body.encode(content_encoding)
            properties = dict(message.properties)
            properties.update(
                delivery_mode=2,
                delivery_info=delivery_info,
                priority=0,
                body_encoding="base64",
                delivery_tag=str(uuid.uuid4()),
            )
            envelope = {
                "body": base64.b64encode(body).decode(),
                "content-encoding": content_encoding,
                "content-type": content_type,
                "headers": message.headers,
                "properties": properties,
            }
            out.append(kombu_json(envelope))
        return out
