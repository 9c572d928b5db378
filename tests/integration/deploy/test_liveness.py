"""Beat's liveness, the Celery 5.7 way: ``celery -A tasksched inspect ping -d celerybeat@HOST``
answers while beat's loop ticks and stops when it wedges; the same loop feeds systemd's
watchdog. Wedged twice for real: the beat process SIGSTOPped, and its store's redis-server
SIGSTOPped (beat's loop hangs in a Redis call while the process, and its broker, live on)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, RedisServer, wait_for

pytestmark = pytest.mark.timeout(240)
NODE = "celerybeat@livetest"


def _answers(d: Any, tool: str) -> bool:
    """Does NODE answer, asked by ``tool``: Celery's own CLI or ``tasksched health``?"""
    if tool == "celery":
        args = [sys.executable, "-m", "celery", "-A", "tasksched", "inspect", "ping",
                "-d", NODE, "-t", "2"]  # fmt: skip
    else:
        args = [sys.executable, "-m", "tasksched.cli", "health", "--no-beat", "--ping", NODE,
                "--timeout-s", "2"]  # fmt: skip
    proc = subprocess.run(args, env=d.env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    return proc.returncode == 0


class Watchdog:
    """systemd's side of sd_notify: a datagram socket collecting what beat sends."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = path

    def received(self, within_s: float) -> set[str]:
        """The distinct messages received during ``within_s`` seconds."""
        got: set[str] = set()
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                got.add(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        return got


def test_ping_and_the_watchdog_follow_beat_s_loop(deploy: Any, redis_url: str,
                                                  tmp_path: Path) -> None:  # fmt: skip
    broker = RedisServer(tmp_path / "broker")
    broker.start()
    store = RedisServer(tmp_path / "store")
    store.start()
    watchdog = Watchdog(tmp_path / "notify.sock")
    try:
        d = deploy({"TASKSCHED_REDIS_URL": store.url, "TASKSCHED_BROKER_URL": broker.url,
                    "TASKSCHED_BEAT_MAX_TICK_AGE_S": "3"})  # fmt: skip
        d.env["NOTIFY_SOCKET"] = str(watchdog.path)
        beat = d.start_beat("beat", "-n", NODE)
        assert {"READY=1", "WATCHDOG=1"} <= watchdog.received(2.0)
        assert d.wait(lambda: _answers(d, "celery"), 60, "beat to answer ping")
        assert _answers(d, "tasksched")

        # 1. The whole process stopped: no answer, no watchdog; it answers again when resumed.
        os.kill(beat.pid, signal.SIGSTOP)
        try:
            watchdog.received(0.3)  # what was sent before the stop
            assert watchdog.received(1.5) == set()
            assert not _answers(d, "celery") and not _answers(d, "tasksched")
        finally:
            os.kill(beat.pid, signal.SIGCONT)
        d.wait(lambda: _answers(d, "celery"), 60, "beat to answer again")

        # 2. The loop wedged in a store call (its Redis stopped, the broker fine): the process
        # still runs its control thread, but stays silent once the loop is 3 s overdue.
        watchdog.received(0.5)  # drain
        assert store.proc is not None
        store.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: not _answers(d, "celery"), 60, 0.5, what="ping to go silent")
            assert beat.alive()
            assert "WATCHDOG=1" not in watchdog.received(1.5)
            assert "not answering ping" in beat.output()
        finally:
            store.proc.send_signal(signal.SIGCONT)
        d.wait(lambda: _answers(d, "celery"), 60, "beat to answer after its Redis came back")
        assert "WATCHDOG=1" in watchdog.received(2.0)
    finally:
        watchdog.sock.close()
        store.stop()
        broker.stop()
