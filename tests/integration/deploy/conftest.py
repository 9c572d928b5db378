"""Deployments as an operator runs them (docs/operations.md, "Topologies").

``celery -A tasksched beat`` and ``celery -A tasksched worker`` start with the ``TASKSCHED_*``
variables the docs name for the topology. Besides those the processes get only what makes a
test quick and self-contained (a short beat lease, quick heartbeats, their own state
directory); none of these says where Redis or the broker is. The test's own manager reads
the same variables (``Settings.from_env``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tasksched.store import cron_run_id
from tests.helpers import (
    Proc,
    RedisServer,
    child_env,
    free_port,
    redis_server_binary,
    wait_for,
    wait_for_server,
)
from tests.integration.conftest import Certs

QUICK = {
    "TASKSCHED_BEAT_LEASE_S": "2",
    "TASKSCHED_WORKER_HEARTBEAT_S": "0.5",
    "TASKSCHED_WORKER_CPU_SAMPLE_S": "0.5",
}
DEMO_CONFIG: dict[str, Any] = {
    "learner_options": {"model": "dummy", "initial_samples": 300},
    "safety_controls": {"level": "permissive", "max_cpu_usage_percent": 100},
}
OUTCOMES = ("succeeded", "rejected")  # the demo learner's gates may keep the old model


def cron_at(epoch_s: int) -> str:
    """A daily cron firing at the UTC second ``epoch_s`` (six fields, seconds last)."""
    t = datetime.fromtimestamp(epoch_s, UTC)
    return f"{t.minute} {t.hour} * * * {t.second}"


class Deployment:
    """Real beat and worker processes started with ``variables`` (plus :data:`QUICK`)."""

    def __init__(self, root: Path, variables: dict[str, str], app: str = "tasksched"):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.variables = dict(variables)
        self.app = app
        environment = {**self.variables, **QUICK, "TASKSCHED_STATE_DIR": str(root / "state")}
        self.env = child_env(**environment)
        self.settings = Settings.from_env(environment)
        self.manager = SchedulerManager(settings=self.settings)
        self.procs: dict[str, Proc] = {}

    def _celery(self, name: str, *args: str) -> Proc:
        proc = Proc([sys.executable, "-m", "celery", "-A", self.app, *args], self.env,
                    self.root / f"{name}.log")  # fmt: skip
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str = "w", queues: str = "training,notifications",
                     concurrency: int = 1, *extra: str) -> Proc:  # fmt: skip
        """``celery -A <app> worker -Q <queues> -n <name>@%h``; returns once it heartbeats."""
        proc = self._celery(name, "worker", "-Q", queues, "-n", f"{name}@%h",
                            "-c", str(concurrency), "-l", "INFO", *extra)  # fmt: skip
        self.wait(lambda: self.node(name), 60, f"worker {name}")
        return proc

    def wait(self, predicate: Any, timeout_s: float, what: str) -> Any:
        """:func:`tests.helpers.wait_for`; on a timeout the processes' logs say why."""
        try:
            return wait_for(predicate, timeout_s, 0.1, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def node(self, name: str) -> str | None:
        """The worker node whose name starts with ``name@``, once it wrote a heartbeat."""
        return next((n for n in self.manager.store.control.workers() if n.startswith(name + "@")),
                    None)  # fmt: skip

    def start_beat(self, name: str = "beat", *extra: str) -> Proc:
        """``celery -A <app> beat`` (its own schedule file); returns once a beat leads."""
        proc = self._celery(name, "beat", "-l", "INFO", "--schedule",
                            str(self.root / f"{name}-schedule"), *extra)  # fmt: skip
        self.wait(lambda: self.manager.store.control.beat_health().get("leader"), 60,
                  "a beat leader")  # fmt: skip
        return proc

    def logs(self) -> str:
        """The tails of every process's log (for assertion messages)."""
        return "\n".join(f"--- {n}\n{p.output()[-3000:]}" for n, p in self.procs.items())

    def schedule_firing_soon(self, delay_s: int = 2, **config: Any) -> tuple[str, str]:
        """A schedule whose cron fires once, ``delay_s`` from now; returns (id, cron run id)."""
        fire = int(self.manager.store.time()) + delay_s
        sid = self.manager.create_training_schedule(
            "acme", f"deploy {fire}", cron_at(fire), {**DEMO_CONFIG, **config}
        )
        return sid, cron_run_id(sid, fire)

    def wait_run(self, run_id: str, timeout_s: float = 90) -> dict[str, Any]:
        """The run's record once it ended (it must have succeeded or been rejected)."""

        def ended() -> dict[str, Any] | None:
            run = self.manager.get_run(run_id)
            return run if run["status"] not in ("queued", "running", "deferred") else None

        run: dict[str, Any] = self.wait(ended, timeout_s, f"run {run_id}")
        assert run["status"] in OUTCOMES, f"{run}\n{self.logs()}"
        return run

    def cron_and_forced_run(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A cron run dispatched by beat and a forced run, each ended on the worker."""
        sid, run_id = self.schedule_firing_soon()
        cron = self.wait_run(run_id)
        assert cron["trigger"] == "cron"
        forced = self.wait_run(self.manager.trigger_training("acme", sid, force=True).run_id)
        assert forced["trigger"] == "manual"
        return cron, forced

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.manager.store.close()


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Any]:
    """``deploy(variables, app=...)`` -> a :class:`Deployment`; every one is stopped after."""
    made: list[Deployment] = []

    def make(variables: dict[str, str], app: str = "tasksched") -> Deployment:
        d = Deployment(tmp_path / f"deploy{len(made)}", variables, app)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


# ---- Sentinel ------------------------------------------------------------------------------
@dataclass
class SentinelGroup:
    """A master, a replica and two real Sentinels watching them as ``mymaster``."""

    root: Path
    master: RedisServer
    replica: RedisServer
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def client(self, i: int = 0) -> redis.Redis:
        return redis.Redis(port=self.ports[i], decode_responses=True, socket_timeout=5)

    def master_port(self) -> int:
        client = self.client()
        try:
            return int(client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[1])
        finally:
            client.close()

    def tasksched_url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        return f"sentinel://{hosts}/mymaster"

    def kombu_url(self) -> str:
        return ";".join(f"sentinel://127.0.0.1:{p}" for p in self.ports)

    def replicas_known(self) -> bool:
        """Every sentinel sees the replica as up (a failover needs one)."""
        for i in range(len(self.ports)):
            client = self.client(i)
            try:
                replicas = client.execute_command("SENTINEL", "REPLICAS", "mymaster")
            finally:
                client.close()
            # redis-py parses the reply into one dict per replica; "slave" alone: up, in sync
            if not any(r.get("flags") == "slave" for r in replicas):
                return False
        return True

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(10)
        self.replica.stop()
        self.master.stop()


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A master with one replica, watched by two ``redis-server --sentinel`` processes."""
    master = RedisServer(tmp_path / "master")
    master.start()
    replica = RedisServer(tmp_path / "replica",
                          extra_args=["--replicaof", "127.0.0.1", str(master.port)])  # fmt: skip
    replica.start()
    group = SentinelGroup(tmp_path, master, replica)
    try:
        for i in range(2):
            port = free_port()
            conf = tmp_path / f"sentinel{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
                "sentinel down-after-milliseconds mymaster 2000\n"
                "sentinel failover-timeout mymaster 10000\n"
            )
            group.procs.append(subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"],
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL))  # fmt: skip
            group.ports.append(port)
        wait_for(group.replicas_known, 30, 0.2, what="the sentinels to see the replica")
        yield group
    finally:
        group.stop()


# ---- TLS and a unix socket -----------------------------------------------------------------
@dataclass
class TlsRedis:
    """A redis-server that speaks TLS only, with a certificate from the test's own CA."""

    port: int
    proc: subprocess.Popen[bytes]
    certs: Certs

    @property
    def url(self) -> str:
        return (f"rediss://127.0.0.1:{self.port}/0?ssl_cert_reqs=required"
                f"&ssl_ca_certs={self.certs.ca_file}")  # fmt: skip


@pytest.fixture
def tls_redis(tmp_path: Path, certs: Certs) -> Iterator[TlsRedis]:
    """Debian's redis-server is built with TLS: ``--port 0 --tls-port N``."""
    port = free_port()
    log = tmp_path / "redis-tls.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [redis_server_binary(), "--port", "0", "--tls-port", str(port), "--bind",
             "127.0.0.1", "--dir", str(tmp_path), "--save", "", "--tls-cert-file",
             str(certs.cert_file), "--tls-key-file", str(certs.key_file),
             "--tls-ca-cert-file", str(certs.ca_file), "--tls-auth-clients", "no"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = TlsRedis(port, proc, certs)
    client = redis.Redis.from_url(server.url, socket_connect_timeout=0.5)
    try:
        wait_for_server(client.ping, proc, log, "redis-server over TLS")
        yield server
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def socket_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server on a unix socket only; yields the socket's path."""
    path = tmp_path / "redis.sock"
    log = tmp_path / "redis-unix.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [redis_server_binary(), "--port", "0", "--unixsocket", str(path),
             "--unixsocketperm", "700", "--dir", str(tmp_path), "--save", ""],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    client = redis.Redis(unix_socket_path=str(path), socket_connect_timeout=0.5)
    try:
        wait_for_server(client.ping, proc, log, "redis-server on a unix socket")
        yield str(path)
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
