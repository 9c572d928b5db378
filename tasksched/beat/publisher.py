"""Publishing claimed runs as Celery task messages, many at a time.

Messages are built by Celery itself (``app.amqp.create_task_message``, protocol 2) and sent
through one kombu producer inside ``Producer.batch()``: on the Redis transport kombu buffers
them in one pipeline (one round trip per batch); on other transports ``batch()`` publishes each
message at once, so the same code is correct for every broker. Each message goes where
Celery's router sends the task (:func:`destination`: ``task_routes``, the exchange and routing
key by Celery's own rule), so beat, ``trigger_training`` and notifications agree. The task id
is the run id; the arguments are ids only (keyword arguments, never secrets or configs).

When the broker is the store's own Redis (the default), :meth:`CeleryPublisher.redis_messages`
encodes the same messages in kombu's Redis format (what kombu's ``_put`` would ``LPUSH``) so that
beat pushes them inside its fenced claim script: a crash or a lost reply can then neither lose
nor duplicate a publish. The envelope is built from a template that Celery made for a probe run
(only the run's id, arguments, expiry and delivery tag change per message; about 5 times faster
than building each with Celery). :meth:`CeleryPublisher.check_direct` compares it, at each new
leadership, with what kombu itself pushes for the same run (a real publish to a probe queue); any
difference turns the direct path off and beat publishes through kombu instead. Tests check a real
Celery worker consumes them.

Every message carries ``expires`` (the run's fire time plus its misfire grace plus twice the
staleness margin): a worker discards what comes later still (the pending sweep then ends the run).

Not sent: Celery's ``task-sent`` event and the ``before/after_task_publish`` signals, which
``send_task`` would emit; they cost more than the publish itself at 10,000 runs a second
(``bench/beat_events.py``: 290 ms or more per 10,000 against about 50 ms for the messages).
"""

from __future__ import annotations

import base64
import json
import operator
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from celery import Celery
from celery.app.routes import MapRoute
from kombu import Exchange, Queue
from kombu.utils.json import dumps as kombu_json

from tasksched.celery import TRAIN_TASK

# kombu flushes its Redis pipeline after this many commands.
PUBLISH_BATCH = 2000
# The keyword arguments of the training task, in this order.
TASK_KWARGS = ("tenant_id", "schedule_id", "run_id", "fire_time", "trigger")


def task_kwargs(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The training task's keyword arguments from an outbox payload (ids only)."""
    return {name: payload[name] for name in TASK_KWARGS}


def destination(
    app: Celery, task_name: str, kwargs: Mapping[str, Any], queue: str | None = None
) -> tuple[Queue, str, str]:
    """Where ``app.send_task(task_name, kwargs=kwargs, queue=queue)`` would send the message.

    Celery's router (``task_routes``, then ``task_default_queue``) picks the queue; the
    exchange and routing key follow Celery's own rule: a direct exchange without both an
    exchange and a routing key in the route becomes the anonymous exchange with the queue's
    name (what AMQP and kombu's Redis transport deliver to that queue), else the route's or
    the queue's exchange and routing key. Returns (queue, exchange name, routing key).
    """
    route = app.amqp.router.route({"queue": queue} if queue else {}, task_name, (), kwargs)
    q = route.get("queue") or app.amqp.default_queue
    exchange = route.get("exchange")
    exchange_type = route.get("exchange_type")
    if isinstance(exchange, Exchange):
        exchange_type = exchange_type or exchange.type
        exchange = exchange.name
    routing_key = route.get("routing_key")
    exchange_type = exchange_type or getattr(q.exchange, "type", None) or "direct"
    if (not exchange or not routing_key) and exchange_type == "direct":
        return q, "", str(q.name)
    if exchange is None:
        exchange = q.exchange.name or app.conf.task_default_exchange
        routing_key = routing_key or q.routing_key or app.conf.task_default_routing_key
    return q, str(exchange or ""), str(routing_key or "")


def expires_at(payload: Mapping[str, Any]) -> datetime | None:
    """The message's expiry (payload ``expires``, epoch seconds) as Celery takes it."""
    value = payload.get("expires")
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


_MARK = "@@tasksched-{}@@"
_FIELDS = ("id", "kwargsrepr", "expires", "body", "tag")
_SPLIT = re.compile('"(' + "|".join(re.escape(_MARK.format(f)) for f in _FIELDS) + ')"')
_json_str = json.JSONEncoder(ensure_ascii=True).encode
# kombu's JSON (kombu.utils.json.dumps) for the body: the standard separators.
_json_body = json.JSONEncoder(separators=(", ", ": ")).encode


class _Template:
    """kombu Redis envelopes for the training task, from one made by Celery for a probe run."""

    def __init__(self, app: Celery, task_name: str, routing_key: str):
        m = {f: _MARK.format(f) for f in _FIELDS}
        probe = {name: name for name in TASK_KWARGS}
        message = app.amqp.create_task_message(
            m["id"], task_name, (), probe, argsrepr="()", kwargsrepr=m["kwargsrepr"],
            expires=m["expires"],
        )
        self.embed = message.body[2]
        properties = dict(message.properties)
        properties.update(
            delivery_mode=2,
            delivery_info={"exchange": "", "routing_key": routing_key},
            priority=0,
            body_encoding="base64",
            delivery_tag=m["tag"],
        )
        envelope = {
            "body": m["body"],
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": message.headers,
            "properties": properties,
        }
        text = kombu_json(envelope)
        parts = _SPLIT.split(text)
        # parts: literal, field, literal, field, ... literal
        self.literals = parts[0::2]
        self.fields = parts[1::2]
        if sorted(set(self.fields)) != sorted(m.values()):
            raise ValueError("Celery's message has a field the template does not know")

        order = {f: i for i, f in enumerate(m.values())}
        self._slots = [order[f] for f in self.fields]
        self._join = self._joiner()
        embed = _json_body(self.embed)
        # The body's JSON with the keyword arguments in TASK_KWARGS order (as Celery writes it).
        self._body = "[[], {" + ", ".join(f'"{k}": %s' for k in TASK_KWARGS) + "}, " + embed + "]"
        self._kwrepr = "{" + ", ".join(f"'{k}': %s" for k in TASK_KWARGS) + "}"
        self._expires: dict[float, str] = {}

    def _joiner(self) -> Callable[[str, str, str, str, str], str]:
        """The envelope from its values (id, kwargsrepr, expires, body, tag) and the literals.

        kombu 5 writes the fields in the order below: one ``str.join`` of a tuple (about 8
        times faster than a %-format of the 1.2 KB envelope); any other order, the %-format.
        """
        if len(self.literals) == 8 and self._slots == [3, 0, 2, 0, 1, 0, 4]:
            l0, l1, l2, l3, l4, l5, l6, l7 = self.literals

            def join(jr: str, kwrepr: str, expires: str, body: str, tag: str) -> str:
                return "".join((l0, body, l1, jr, l2, expires, l3, jr, l4, kwrepr, l5, jr, l6,
                                tag, l7))  # fmt: skip

            return join
        fmt = "%s".join(part.replace("%", "%%") for part in self.literals)
        pick = operator.itemgetter(*self._slots)
        return lambda *values: fmt % pick(values)

    def encode_many(self, payloads: Sequence[Mapping[str, Any]]) -> list[str]:
        """One envelope per payload (outbox payload: TASK_KWARGS and ``expires``)."""
        join = self._join
        body_f, kwrepr_f, expires_cache = self._body, self._kwrepr, self._expires
        safe, b64, variant = _SAFE.match, base64.b64encode, _VARIANT
        tags = os.urandom(16 * len(payloads)).hex()
        out = []
        for n, p in enumerate(payloads):
            t, s, r, f, g = (p["tenant_id"], p["schedule_id"], p["run_id"], p["fire_time"],
                             p["trigger"])
            fire = repr(float(f))
            if safe(f"{t}{s}{r}{g}"):  # one character class: safe iff each one is
                jt, js, jr, jg = f'"{t}"', f'"{s}"', f'"{r}"', f'"{g}"'
                kwrepr = '"' + kwrepr_f % (f"'{t}'", f"'{s}'", f"'{r}'", fire, f"'{g}'") + '"'
            else:
                jt, js, jr, jg = _json_str(t), _json_str(s), _json_str(r), _json_str(g)
                kwrepr = _json_str(kwrepr_f % (repr(t), repr(s), repr(r), fire, repr(g)))
            exp = p.get("expires")
            if exp is None:
                expires = "null"
            else:
                expires = expires_cache.get(exp)  # type: ignore[assignment]
                if expires is None:
                    if len(expires_cache) > 4096:
                        expires_cache.clear()
                    expires = f'"{datetime.fromtimestamp(float(exp), UTC).isoformat()}"'
                    expires_cache[exp] = expires
            body = b64((body_f % (jt, js, jr, fire, jg)).encode()).decode()
            h = tags[32 * n : 32 * n + 32]
            tag = f'"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:]}"'
            out.append(join(jr, kwrepr, expires, f'"{body}"', tag))
        return out


# Strings that JSON and repr() write as they are between quotes.
_SAFE = re.compile(r"[A-Za-z0-9_.:@+-]*\Z")
# The variant nibble of a version-4 UUID (RFC 4122: 10xx).
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class CeleryPublisher:
    """Publish training task messages for claimed runs to ``app``'s broker.

    Messages go where Celery's router sends ``task_name`` (the app's ``task_routes``; see
    :func:`destination`), or to ``queue`` when one is given (like ``send_task(queue=...)``).
    """

    def __init__(self, app: Celery, queue: str | None = None, task_name: str = TRAIN_TASK):
        self.app = app
        self.queue_name = queue
        self.task_name = task_name
        self._template: _Template | None = None

    def _name_routed(self) -> bool:
        """True when every router looks at the task's name only (a mapping or a glob)."""
        return all(isinstance(r, MapRoute) for r in self.app.amqp.routes)

    def _queue(self) -> str:
        """The queue a name-routed task goes to (the direct path's list)."""
        return str(destination(self.app, self.task_name, {}, self.queue_name)[0].name)

    def publish(self, payloads: Sequence[Mapping[str, Any]]) -> int:
        """Publish one message per payload; returns how many. Raises on broker errors.

        A failure part-way leaves the broker with some of them: the caller keeps the batch
        (in the outbox) and publishes it again; the run id is the task id, so a worker can
        tell a repeat.
        """
        if not payloads:
            return 0
        name_routed = self._name_routed()
        with self.app.producer_or_acquire() as producer:
            where = destination(self.app, self.task_name, task_kwargs(payloads[0]), self.queue_name)
            producer.maybe_declare(where[0])
            declared = {where[0].name}
            with producer.batch(max_size=PUBLISH_BATCH):
                for payload in payloads:
                    if not name_routed:  # a router that reads the arguments: ask per message
                        where = destination(
                            self.app, self.task_name, task_kwargs(payload), self.queue_name
                        )
                        if where[0].name not in declared:
                            producer.maybe_declare(where[0])
                            declared.add(where[0].name)
                    self._publish_one(producer, payload, where[2], where[1])
        return len(payloads)

    def _publish_one(
        self, producer: Any, payload: Mapping[str, Any], routing_key: str, exchange: str = ""
    ) -> None:
        kwargs = task_kwargs(payload)
        message = self.app.amqp.create_task_message(
            str(kwargs["run_id"]),
            self.task_name,
            (),
            kwargs,
            argsrepr="()",
            kwargsrepr=repr(kwargs),
            expires=expires_at(payload),
        )
        producer.publish(
            message.body,
            exchange=exchange,
            routing_key=routing_key,
            headers=message.headers,
            serializer=self.app.conf.task_serializer,
            retry=False,
            **message.properties,
        )

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
        if not self._name_routed():  # routes that read arguments: kombu's path, per message
            return None
        queue, exchange, _ = destination(self.app, self.task_name, {}, self.queue_name)
        if exchange:  # a named exchange: kombu's bindings decide which lists get it
            return None
        if queue.expires or queue.max_priority or (queue.queue_arguments or {}):
            return None
        return str(queue.name)

    def redis_messages(self, payloads: Sequence[Mapping[str, Any]]) -> list[str]:
        """The task messages in kombu's Redis list format (for :meth:`redis_queue_key`)."""
        if self._template is None:
            self._template = _Template(self.app, self.task_name, self._queue())
        return self._template.encode_many(payloads)

    def check_direct(self, take_list: Callable[[str], list[str]]) -> str | None:
        """Compare :meth:`redis_messages` with what kombu itself pushes; None when they agree.

        Publishes one probe run through kombu to a throwaway queue of the broker, reads it
        back with ``take_list`` (read and delete a Redis list) and compares the decoded
        envelopes (all but the random delivery tag). Returns the first difference otherwise.
        """
        probe_queue = f"{self._queue()}.tasksched-probe.{os.urandom(4).hex()}"
        payload = {
            "tenant_id": "probe", "schedule_id": "probe", "run_id": f"probe-{os.urandom(4).hex()}",
            "fire_time": 1.5, "trigger": "cron", "expires": 4102444800.25,
        }
        with self.app.producer_or_acquire() as producer:
            self._publish_one(producer, payload, probe_queue)
        pushed = take_list(probe_queue)
        if len(pushed) != 1:
            return f"kombu pushed {len(pushed)} messages for one probe"
        template = _Template(self.app, self.task_name, probe_queue)
        ours = json.loads(template.encode_many([payload])[0])
        theirs = json.loads(pushed[0])
        for env in (ours, theirs):
            env.get("properties", {}).pop("delivery_tag", None)
        return _first_difference(theirs, ours)


def _first_difference(expected: Any, got: Any, path: str = "message") -> str | None:
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(set(expected) | set(got)):
            if key not in got or key not in expected:
                return f"{path}.{key}: only in {'kombu' if key in expected else 'ours'}"
            diff = _first_difference(expected[key], got[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if expected != got:
        return f"{path}: kombu {expected!r}, ours {got!r}"
    return None
