"""One child process of ``tasksched up`` and the loopback ports it listens on.

A :class:`Child` runs in its own process group with its output appended to a log file; it
gets a signal when ``tasksched up`` dies (even by SIGKILL, through ``PR_SET_PDEATHSIG``), and
:meth:`Child.stop` reaps the whole group and any descendants it saw (prefork pool processes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from functools import partial
from pathlib import Path
from typing import IO

import psutil

from tasksched.process import die_with_parent

STOP_GRACE_S = 20.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


class Child:
    """A child process in its own process group, its output in a log file."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        log_path: Path,
        orphan_signal: int = signal.SIGTERM,
    ):
        self.name = name
        self.orphan_signal = orphan_signal
        self.args = args
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.known_pids: set[int] = set()

    def start(self) -> None:
        """Start the process (stdout and stderr appended to the log file)."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The child gets orphan_signal when `tasksched up` dies (even by SIGKILL).
            preexec_fn=partial(die_with_parent, self.orphan_signal),
        )
        self.known_pids.add(self.proc.pid)

    @property
    def pid(self) -> int:
        """The process id (0 before start)."""
        return self.proc.pid if self.proc else 0

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def remember_descendants(self) -> None:
        """Note the current descendants (e.g. prefork pool processes) to check them at stop."""
        if not self.alive():
            return
        with contextlib.suppress(psutil.Error):
            for p in psutil.Process(self.pid).children(recursive=True):
                self.known_pids.add(p.pid)

    def tail(self, lines: int = 15) -> str:
        """The last lines of the log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_s``, reap, close the log."""
        if self.proc is None:
            return
        self.remember_descendants()
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(10)
        self._signal_group(signal.SIGKILL)  # stragglers left in the group
        for pid in self.known_pids - {self.proc.pid}:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def leftovers(self) -> list[int]:
        """Pids of this child (or its known descendants) that still run."""
        out = []
        for pid in self.known_pids:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    out.append(pid)
        return out
