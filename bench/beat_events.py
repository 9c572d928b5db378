"""What Celery's ``task-sent`` events would cost beat's burst (why beat does not send them).

    .venv/bin/python bench/beat_events.py            # 10,000 runs, median of 5 rounds

Against a throwaway redis-server with one subscriber on the event channel (as Flower is), for
the 10,000 runs of the burst figure in docs/beat.md:

1. encoding the 10,000 task messages on beat's direct path (what a burst already pays);
2. 10,000 ``task-sent`` events built from a template and PUBLISHed in pipelines of 2,000 (the
   cheapest way beat could send them);
3. the same events through Celery's own ``EventDispatcher`` (what ``send_task`` does).

Compare 2 and 3 with the burst's budget (docs/beat.md, "Figures").
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from kombu.utils.json import dumps as kombu_json

from bench._machine import machine, median, redis_server
from tasksched.beat.publisher import TASK_KWARGS, CeleryPublisher
from tasksched.celery import TRAIN_TASK, create_app
from tasksched.settings import Settings

HOST = "celerybeat@bench"


def payloads(n: int) -> list[dict[str, Any]]:
    """Outbox payloads like a burst's (ids only, an expiry)."""
    return [
        {"tenant_id": f"t{i % 1000}", "schedule_id": f"{i:016x}", "run_id": f"{i:016x}-1796000000",
         "fire_time": 1796000000.0, "trigger": "cron", "expires": 1796000400.0}
        for i in range(n)
    ]  # fmt: skip


def timed(fn: Callable[[], None], rounds: int) -> float:
    """Median seconds of ``rounds`` calls."""
    costs = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        costs.append(time.perf_counter() - t)
    return median(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="runs in the burst")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (median)")
    args = parser.parse_args()
    print(machine())
    runs = payloads(args.n)
    with redis_server() as url:
        app = create_app(Settings(redis_url=url))
        publisher = CeleryPublisher(app)
        client = redis.Redis.from_url(url)
        subscriber = client.pubsub()
        subscriber.subscribe("/0.celeryev/task.sent")  # Flower's side: PUBLISH pays per listener

        def messages() -> None:
            for i in range(0, len(runs), 250):
                publisher.redis_messages(runs[i : i + 250])

        def template_events() -> None:
            pipe = client.pipeline(transaction=False)
            head = {"hostname": HOST, "utcoffset": 0, "pid": os.getpid(), "timestamp": time.time(),
                    "type": "task-sent", "name": TRAIN_TASK, "args": "()", "retries": 0,
                    "eta": None, "expires": None, "queue": "training", "exchange": "",
                    "routing_key": "training", "parent_id": None}  # fmt: skip
            for n, p in enumerate(runs):
                body = dict(head, uuid=p["run_id"], root_id=p["run_id"], clock=n,
                            kwargs=repr({k: p[k] for k in TASK_KWARGS}))  # fmt: skip
                envelope = {
                    "body": base64.b64encode(json.dumps(body).encode()).decode(),
                    "content-encoding": "utf-8", "content-type": "application/json",
                    "headers": {"hostname": HOST},
                    "properties": {"delivery_mode": 1, "priority": 0, "body_encoding": "base64",
                                   "delivery_info": {"exchange": "celeryev",
                                                     "routing_key": "task.sent"},
                                   "delivery_tag": str(uuid.uuid4())},
                }  # fmt: skip
                pipe.publish("/0.celeryev/task.sent", kombu_json(envelope))
                if n % 2000 == 1999:
                    pipe.execute()
            pipe.execute()

        def celery_events() -> None:
            with app.connection_for_write() as conn:
                dispatcher = app.events.Dispatcher(conn, hostname=HOST, enabled=True)
                for p in runs:
                    dispatcher.send(
                        "task-sent", uuid=p["run_id"], root_id=p["run_id"], parent_id=None,
                        name=TRAIN_TASK, args="()", kwargs=repr({k: p[k] for k in TASK_KWARGS}),
                        retries=0, eta=None, expires=None, queue="training", exchange="",
                        routing_key="training",
                    )
                dispatcher.close()

        n = f"{args.n:,}"
        print(f"[1] encode {n} task messages (direct path): "
              f"median {timed(messages, args.repeat) * 1000:.0f} ms")  # fmt: skip
        print(f"[2] {n} task-sent events, template + pipelined PUBLISH: "
              f"median {timed(template_events, args.repeat) * 1000:.0f} ms")  # fmt: skip
        print(f"[3] {n} task-sent events, Celery's EventDispatcher: "
              f"median {timed(celery_events, max(args.repeat // 2, 1)) * 1000:.0f} ms")  # fmt: skip
        subscriber.close()
        client.close()
        app.close()


if __name__ == "__main__":
    main()
