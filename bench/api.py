"""REST API benchmark: GET /schedules/{id} and POST /schedules under concurrent clients.

    .venv/bin/python bench/api.py                    # 16 clients, 20 s per phase (the issue's)
    .venv/bin/python bench/api.py --duration 3       # a quick smoke run
    .venv/bin/python bench/api.py --workers 2        # two uvicorn worker processes

A throwaway redis-server and the API (``uvicorn tasksched.api.app:app``, access log off) run
in subprocesses; the clients are asyncio tasks in this process, each on its own keep-alive
connection with a minimal HTTP/1.1 client (they still share the machine's cores with the
server). Goal (issue 6): p99 of the read
under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from cryptography.fernet import Fernet

from bench._machine import free_port, machine, median, pct, redis_server
from tasksched import AutonomousConfig, SchedulerManager
from tasksched.settings import Settings

KEY = "bench-tenant-key-0123456789abcdef"
PREFIX = "/api/scheduler"


class _Conn:
    """One keep-alive HTTP/1.1 connection with a minimal client: little CPU taken from the
    server it measures (httpx costs about as much per request as the server does)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {PREFIX}{path} HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n"
            + ("Content-Type: application/json\r\n" if body else "")
            + "\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), payload


async def _phase(
    port: int, clients: int, duration_s: float, kind: str, ids: list[str]
) -> tuple[list[float], int, float]:
    """Run ``clients`` loops for ``duration_s``; latencies in ms, error count, elapsed s."""
    latencies: list[float] = []
    errors = 0
    conns = [_Conn(*await asyncio.open_connection("127.0.0.1", port)) for _ in range(clients)]
    deadline = time.perf_counter() + duration_s

    async def loop(n: int) -> None:
        nonlocal errors
        conn, i = conns[n], n
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            if kind == "read":
                status, _ = await conn.request("GET", f"/schedules/{ids[i % len(ids)]}")
                ok = status == 200
            else:
                body = json.dumps(
                    {"name": f"bench-{n}-{i}", "cron_expression": "*/15 * * * *",
                     "config": {"safety_controls": {"level": "strict"}}}
                ).encode()
                status, _ = await conn.request("POST", "/schedules", body)
                ok = status == 201
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not ok
            i += clients

    start = time.perf_counter()
    await asyncio.gather(*(loop(n) for n in range(clients)))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.writer.close()
    return latencies, errors, elapsed


def _report(name: str, lat: list[float], errors: int, elapsed: float) -> None:
    print(
        f"{name:<34} requests={len(lat):>6}  {len(lat) / elapsed:>7.0f} req/s  "
        f"p50={median(lat):6.2f} ms  p90={pct(lat, 90):6.2f} ms  p99={pct(lat, 99):6.2f} ms  "
        f"max={max(lat):7.2f} ms  errors={errors}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--schedules", type=int, default=1000, help="schedules read at random")
    ap.add_argument("--http", default="auto", help="uvicorn HTTP parser: auto, h11, httptools")
    args = ap.parse_args()
    print(machine())
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"{args.clients} concurrent clients, {args.duration:g} s per phase, "
          f"{args.workers} uvicorn worker(s), HTTP parser {args.http}")
    with redis_server() as url:
        secret = Fernet.generate_key().decode()
        m = SchedulerManager(settings=Settings(redis_url=url, secret_key=secret))
        cfg = AutonomousConfig(
            notifications={"types": ["webhook"], "webhook_url": "https://h.example/x",
                           "webhook_secret": "s"},
        )
        ids = m.create_training_schedules(
            {"tenant_id": "bench", "name": f"s{i}", "cron_expression": "0 2 * * *",
             "config": cfg}
            for i in range(args.schedules)
        )
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TASKSCHED_")},
            "TASKSCHED_REDIS_URL": url,
            "TASKSCHED_SECRET_KEY": secret,
            "TASKSCHED_API_KEYS": f"{KEY}=bench",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tasksched.api.app:app", "--port", str(port),
             "--workers", str(args.workers), "--log-level", "warning", "--no-access-log",
             "--http", args.http],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            asyncio.run(_phase(port, args.clients, min(2.0, args.duration), "read", ids))  # warm
            lat, err, el = asyncio.run(_phase(port, args.clients, args.duration, "read", ids))
            _report("GET  /api/scheduler/schedules/{id}", lat, err, el)
            read_p99 = pct(lat, 99)
            lat, err, el = asyncio.run(_phase(port, args.clients, args.duration, "create", ids))
            _report("POST /api/scheduler/schedules", lat, err, el)
            verdict = "met" if read_p99 < 50 else "NOT met"
            print(f"goal: read p99 < 50 ms: {verdict} ({read_p99:.2f} ms)")
        finally:
            server.terminate()
            server.wait(15)


if __name__ == "__main__":
    main()
