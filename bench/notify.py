"""Notification benchmark: emit_event cost and end-to-end delivery through a real worker.

    .venv/bin/python bench/notify.py                    # 2,000 emits, 500 events delivered
    .venv/bin/python bench/notify.py --emits 500 --events 100 --repeat 1   # a quick run

1. ``emit_event`` for a schedule with 3 channels (log, memory, webhook): per-call latency
   (store the payload once, publish 3 subtasks), median and p95.
2. Delivery: a real ``celery worker -Q notifications -P threads`` drains ``--events`` events
   x 3 channels (webhook to a loopback HTTP server, the feed, the log); the time from the
   first emit to the last outcome, as subtasks/s. Median over ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.fernet import Fernet

from bench._machine import free_port, machine, median, pct, redis_server
from tasksched.models import AutonomousConfig, NotificationEvent, ScheduleSpec
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.store.notifications import NotificationStore
from tasksched.tasks.notify import emit_event


def http_sink() -> tuple[ThreadingHTTPServer, list[int]]:
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append(1)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--emits", type=int, default=2000)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    print(machine())
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    key = Fernet.generate_key().decode()
    sink, hits = http_sink()
    with redis_server() as url:
        settings = Settings(redis_url=url, secret_key=key, allow_private_targets=True)
        store = Store(settings=settings)
        cfg = AutonomousConfig.model_validate(
            {"notifications": {
                "types": ["log", "memory", "webhook"],
                "webhook_url": f"http://127.0.0.1:{sink.server_port}/hook",
                "webhook_secret": "bench-secret",
            }}
        )
        rec = store.schedules.create(
            ScheduleSpec(tenant_id="bench", name="bench", cron_expression="0 2 * * *", config=cfg)
        )
        run = {"run_id": f"{rec.id}-1", "status": "succeeded", "quality_score": 0.9}

        # 1. emit latency (no worker: messages wait in the queue)
        emit_event(store, NotificationEvent.RUN_SUCCEEDED, rec, run)  # warm the connection
        lat_ms: list[float] = []
        for _ in range(args.emits):
            t0 = time.perf_counter()
            n = emit_event(store, NotificationEvent.RUN_SUCCEEDED, rec, run)
            lat_ms.append((time.perf_counter() - t0) * 1000)
            assert n == 3
        print(
            f"emit_event (3 channels): median {median(lat_ms):.3f} ms, "
            f"p95 {pct(lat_ms, 95):.3f} ms over {args.emits} calls"
        )
        store.redis.flushall()
        rec = store.schedules.create(
            ScheduleSpec(tenant_id="bench", name="bench", cron_expression="0 2 * * *", config=cfg)
        )

        # 2. delivery through a real worker
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKSCHED_")}
        env.update(
            TASKSCHED_REDIS_URL=url, TASKSCHED_SECRET_KEY=key,
            TASKSCHED_ALLOW_PRIVATE_TARGETS="1", TASKSCHED_FEED_MAX="100000",
        )
        log = tempfile.NamedTemporaryFile(prefix="bench-notify-worker-", suffix=".log")  # noqa: SIM115
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasksched", "worker", "-Q", "notifications",
             "-P", "threads", "-c", str(args.concurrency), "--loglevel=WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        notes = NotificationStore(store)
        try:
            rates: list[float] = []
            for _ in range(args.repeat + 1):  # the first round warms the worker up
                store.redis.delete(store.keys.metrics)
                hits.clear()
                t0 = time.perf_counter()
                for _ in range(args.events):
                    emit_event(store, NotificationEvent.RUN_SUCCEEDED, rec, run)
                want = args.events * 3
                deadline = time.monotonic() + 300
                while notes.counters().get("notifications_sent", 0) < want:
                    if time.monotonic() > deadline or worker.poll() is not None:
                        raise SystemExit("worker did not deliver in time; see " + log.name)
                    time.sleep(0.01)
                rates.append(want / (time.perf_counter() - t0))
            print(
                f"delivery via worker (-P threads -c {args.concurrency}), {args.events} events x 3 "
                f"channels: median {median(rates[1:]):.0f} subtasks/s over {args.repeat} rounds "
                f"(rounds: {', '.join(f'{r:.0f}' for r in rates[1:])})"
            )
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(20)
            log.close()
            sink.shutdown()


if __name__ == "__main__":
    main()
