"""Runs a learner's steps in one child process and enforces the run's limits on each.

Why a child process: the learner is built from a tenant's ``learner_options``, and memory and
a hard time limit can only be enforced on something the worker can kill without killing
itself; a thread cannot be stopped. :class:`LearnerChild` starts
``python -m tasksched.tasks.trainer`` once and sends it one step at a time (JSON lines on a
pipe: the learner's name and options, the run context) and reads one JSON reply per step;
nothing else passes between the worker and the learner. While a step runs the child is
watched every ``poll_s``: its memory (with its own children) above the budget -> SIGKILL
(``memory_limit``); past the step's time limit -> SIGTERM, the learner gets
:class:`~tasksched.learners.base.TrainingStopped` and the step ends cleanly
(``soft_time_limit``); still running ``kill_grace_s`` later -> SIGKILL (``hard_time_limit``);
run lock lost (when the step watches it) -> SIGKILL (``lease_lost``); this worker asked to
stop (SIGTERM, e.g. Ctrl-C in ``tasksched up``) -> SIGTERM, and SIGKILL after
:data:`STOP_GRACE_S` (``interrupted``, unless the step finished within the grace). A step
that must not be cut short by a stop (``stoppable=False``: promote, restore) ignores SIGTERM
and is SIGKILLed at its time limit.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from tasksched.resources import tree_rss_mb

__all__ = ["STOP_GRACE_S", "ChildResult", "LearnerChild", "StepResult"]

# How long a step may still finish after its worker was asked to stop (seconds).
STOP_GRACE_S = 5.0
# A reply larger than this is a broken learner, not data: the child is killed.
MAX_REPLY_BYTES = 4 * 1024 * 1024
# How long a child may take to exit after its last step before it is killed (seconds).
EXIT_WAIT_S = 5.0

# What the learner never needs: the store's and broker's addresses (with their passwords), the
# secrets' key and the API keys. Left out of the child's environment (defence in depth: the
# child runs as the worker's user, it is no sandbox).
HIDDEN_VARIABLES = frozenset(
    f"TASKSCHED_{name}"
    for name in ("SECRET_KEY", "SECRET_KEY_PREVIOUS", "API_KEYS", "REDIS_URL", "BROKER_URL",
                 "RESULT_BACKEND", "BROKER_TRANSPORT_OPTIONS")
)  # fmt: skip


def _yes() -> bool:
    return True


def _no() -> bool:
    return False


@dataclass
class StepResult:
    """How one step ended.

    ``outcome``: ok | error | soft_time_limit | hard_time_limit | memory_limit | lease_lost |
    interrupted | crashed. ``value`` is the step's JSON answer; ``method`` the learner method
    that was running (``load`` while importing and building the learner).
    """

    outcome: str
    value: Any = None
    error: str = ""
    traceback: str = ""
    method: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the step completed."""
        return self.outcome == "ok"


@dataclass
class ChildResult:
    """How a training step ended (``outcome`` as :class:`StepResult`)."""

    outcome: str
    candidate: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    traceback: str = ""
    exit_code: int | None = None
    peak_memory_mb: float = 0.0
    duration_s: float = 0.0

    @classmethod
    def of_training(
        cls, res: StepResult, exit_code: int | None, peak_memory_mb: float, duration_s: float
    ) -> ChildResult:
        """The result of a ``train`` step: the candidate's path and its evaluation."""
        value = res.value if isinstance(res.value, dict) else {}
        candidate = value.get("candidate")
        return cls(
            outcome=res.outcome,
            candidate=candidate if isinstance(candidate, str) else None,
            evaluation=dict(value.get("evaluation") or {}),
            error=res.error,
            traceback=res.traceback,
            exit_code=exit_code,
            peak_memory_mb=peak_memory_mb,
            duration_s=duration_s,
        )


def _kill_tree(pid: int, sig: int) -> None:
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.Error:
        return
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            continue


def _soft_limit_exceptions() -> tuple[type[BaseException], ...]:
    try:
        from celery.exceptions import SoftTimeLimitExceeded
    except ImportError:  # pragma: no cover - celery is a dependency
        return ()
    return (SoftTimeLimitExceeded,)


class LearnerChild:
    """One supervised child process that runs a run's learner steps in sequence.

    ``memory_budget_mb`` bounds the child (with its own children) during every step;
    ``kill_grace_s`` is the time between a step's soft and hard time limit. Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, memory_budget_mb: float, kill_grace_s: float, poll_s: float = 0.1):
        self.memory_budget_mb = memory_budget_mb
        self.kill_grace_s = kill_grace_s
        self.poll_s = poll_s
        self.peak_memory_mb = 0.0
        self.exit_code: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._cmd_fd = -1
        self._reply_fd = -1
        self._buf = b""
        self._eof = False

    # ---- lifetime -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the child (it then waits for its first step)."""
        cmd_r, cmd_w = os.pipe()
        reply_r, reply_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tasksched.tasks.trainer",
                 str(os.getpid()), str(cmd_r), str(reply_w)],
                pass_fds=(cmd_r, reply_w), stdin=subprocess.DEVNULL, cwd=os.getcwd(),
                env={k: v for k, v in os.environ.items() if k not in HIDDEN_VARIABLES},
            )  # fmt: skip
        except BaseException:
            for fd in (cmd_r, cmd_w, reply_r, reply_w):
                os.close(fd)
            raise
        os.close(cmd_r)
        os.close(reply_w)
        self._cmd_fd, self._reply_fd = cmd_w, reply_r

    @property
    def alive(self) -> bool:
        """True while the child runs (started, not killed, not exited)."""
        return self.proc is not None and self.proc.poll() is None and not self._eof

    def close(self) -> int | None:
        """End the child: no more steps (it exits), killed if it lingers; its exit code."""
        proc = self.proc
        if proc is None:
            return self.exit_code
        if self._cmd_fd >= 0:
            os.close(self._cmd_fd)  # end of its input: the child returns
            self._cmd_fd = -1
        try:
            proc.wait(EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if self._reply_fd >= 0:
                os.close(self._reply_fd)
                self._reply_fd = -1
        self.exit_code = proc.returncode
        return self.exit_code

    def __enter__(self) -> LearnerChild:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _kill_tree(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._eof = True

    # ---- the pipe -------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            n = os.write(self._cmd_fd, view)
            view = view[n:]

    def _receive(self, timeout_s: float) -> dict[str, Any] | None:
        """The next message, if one arrives within ``timeout_s``; raises ValueError for a
        message that is not a JSON object or too large."""
        if b"\n" not in self._buf and not self._eof:
            ready, _, _ = select.select([self._reply_fd], [], [], timeout_s)
            if ready:
                chunk = os.read(self._reply_fd, 65536)
                if chunk:
                    self._buf += chunk
                else:
                    self._eof = True
        line, sep, rest = self._buf.partition(b"\n")
        if not sep:
            if len(self._buf) > MAX_REPLY_BYTES:
                raise ValueError(f"a reply over {MAX_REPLY_BYTES} bytes")
            return None
        self._buf = rest
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("a reply that is not a JSON object")
        return message

    # ---- one step -------------------------------------------------------------------------
    def call(
        self,
        step: str,
        limit_s: float,
        args: dict[str, Any] | None = None,
        *,
        stoppable: bool = True,
        lease_ok: Callable[[], bool] = _yes,
        stop_requested: Callable[[], bool] = _no,
    ) -> StepResult:
        """Run ``step`` with ``args`` (JSON) in the child under the limits; never raises for
        how the learner behaved."""
        if self.proc is None:
            self.start()
        started = time.monotonic()
        if not self.alive:
            return StepResult("crashed", error=self._died(), method=step)
        try:
            self._send({"step": step, "stoppable": stoppable, **(args or {})})
        except OSError:
            self._kill()
            return StepResult("crashed", error=self._died(), method=step)
        method = step
        killed_for = ""
        term_at: float | None = None  # the step's soft time limit: SIGTERM sent
        stop_at: float | None = None  # this worker was asked to stop
        reply: dict[str, Any] | None = None
        soft_exc = _soft_limit_exceptions()
        assert self.proc is not None
        while True:
            try:
                rss = tree_rss_mb(self.proc.pid)
                self.peak_memory_mb = max(self.peak_memory_mb, rss)
                now = time.monotonic()
                if stoppable and stop_at is None and stop_requested():
                    stop_at = now
                    _kill_tree(self.proc.pid, signal.SIGTERM)
                if rss > self.memory_budget_mb:
                    killed_for = "memory_limit"
                elif not lease_ok():
                    killed_for = "lease_lost"
                elif stop_at is not None and now - stop_at >= STOP_GRACE_S:
                    killed_for = "interrupted"
                elif term_at is not None and now - term_at >= self.kill_grace_s:
                    killed_for = "hard_time_limit"
                elif term_at is None and stop_at is None and now - started >= limit_s:
                    if stoppable:
                        term_at = now
                        _kill_tree(self.proc.pid, signal.SIGTERM)
                    else:  # it ignores SIGTERM (a stop must not cut it short)
                        killed_for = "hard_time_limit"
                if killed_for:
                    self._kill()
                    break
                try:
                    message = self._receive(self.poll_s)
                except ValueError as exc:
                    self._kill()
                    error = f"{method}() broke the protocol: {exc}"
                    return StepResult("error", error=error, method=method,
                                      duration_s=time.monotonic() - started)  # fmt: skip
                if message is not None:
                    if message.get("event") == "method":  # progress: train -> evaluate
                        method = str(message.get("method") or method)
                        continue
                    reply = message
                    break
                if self._eof or self.proc.poll() is not None:
                    if b"\n" in self._buf:
                        continue  # its last words are still to be read
                    self._kill()
                    break
            except soft_exc:
                # Celery's own soft limit (a backstop above ours): stop cleanly all the same.
                if term_at is None and stoppable:
                    term_at = time.monotonic()
                    _kill_tree(self.proc.pid, signal.SIGTERM)
        duration = time.monotonic() - started
        done = {"method": str((reply or {}).get("method") or method), "duration_s": duration}
        if killed_for:
            return StepResult(killed_for, **done)  # type: ignore[arg-type]
        if reply is None:
            return StepResult("crashed", error=self._died(), **done)  # type: ignore[arg-type]
        if reply.get("ok"):
            return StepResult("ok", value=reply.get("value"), **done)  # type: ignore[arg-type]
        if stop_at is not None or (reply.get("stopped") and term_at is None):
            # Asked to stop, or stopped by a SIGTERM that was not ours (its process group was
            # told to stop): an interruption, not the learner's failure.
            return StepResult("interrupted", **done)  # type: ignore[arg-type]
        if reply.get("stopped") or term_at is not None:
            return StepResult("soft_time_limit", **done)  # type: ignore[arg-type]
        return StepResult(
            "error",
            error=str(reply.get("error") or "unknown error"),
            traceback=str(reply.get("traceback") or ""),
            **done,  # type: ignore[arg-type]
        )

    def _died(self) -> str:
        code = None if self.proc is None else self.proc.poll()
        if code is not None:
            self.exit_code = code
        return f"the learner's process died (exit code {code})"
