"""Scripted learners for the tests (importable by worker subprocesses: cwd is the repo root).

``Scripted`` does what its options say: how much data it reports, the scores it returns, how
long and with how much memory it trains, where it fails. It trains in place over
``model.txt`` and keeps a call log, so tests can see backups, rollbacks and promotions, and
in which process each call ran (``pid``, ``ppid``) and the instance was built (``built_pid``),
and the ``TASKSCHED_*`` variables it saw (``env``).

Faults by step (the option's value names the method: ``init``, ``count``, ``backup``, ``train``,
``evaluate``, ``promote``, ``restore``): ``fail`` raises, ``hang`` sleeps ignoring SIGTERM,
``crash`` ends the process without a word, ``bloat`` holds ``bloat_mb`` MB and waits.
With ``$TASKSCHED_TEST_BUILT`` set, every construction appends its pid and parent's pid there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from tasksched.gates import Evaluation
from tasksched.learners.base import RunContext

MB = 1024 * 1024


class Scripted:
    """A learner driven by its options (see the module docstring)."""

    def __init__(self, options: dict[str, Any]):
        self.o = dict(options)
        self.built_pid = os.getpid()
        built = os.environ.get("TASKSCHED_TEST_BUILT")
        if built:
            with open(built, "a") as fh:
                fh.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}) + "\n")
        self._fail("init")

    def _dir(self, ctx: RunContext) -> Path:
        path = Path(ctx.model_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _log(self, ctx: RunContext, call: str, **info: Any) -> None:
        with open(self._dir(ctx) / "calls.log", "a") as fh:
            entry = {"call": call, "run_id": ctx.run_id, "pid": os.getpid(),
                     "ppid": os.getppid(), "built_pid": self.built_pid,
                     "env": sorted(k for k in os.environ if k.startswith("TASKSCHED_")),
                     **info}  # fmt: skip
            fh.write(json.dumps(entry) + "\n")

    def _fail(self, where: str) -> None:
        if self.o.get("fail") == where:
            raise RuntimeError(f"scripted failure in {where}")
        if self.o.get("crash") == where:
            os._exit(9)  # dies without a word (like a segfault)
        if self.o.get("bloat") == where:
            ballast = b"x" * int(float(self.o.get("bloat_mb", 300)) * MB)  # written: resident
            self._wait(60.0)
            del ballast
        if self.o.get("hang") == where:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a clean stop is not enough
            self._wait(3600.0)

    @staticmethod
    def _wait(seconds: float) -> None:
        # Wall time spent "working" (not synchronisation), in small steps so that a signal is
        # handled promptly.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.02)

    def count_available_data(self, ctx: RunContext) -> int:
        first = not any(c["run_id"] == ctx.run_id for c in self.log_entries(ctx, "count"))
        self._log(ctx, "count")
        self._fail("count")
        # count_s: a slow data source; count_s_first: slow on a run's first attempt only.
        slow = float(self.o.get("count_s", 0)) or (float(self.o.get("count_s_first", 0))
                                                   if first else 0.0)  # fmt: skip
        deadline = time.monotonic() + slow
        while time.monotonic() < deadline:
            time.sleep(0.02)
        return int(self.o.get("count", 1000))

    def log_entries(self, ctx: RunContext, call: str) -> list[dict[str, Any]]:
        path = self._dir(ctx) / "calls.log"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        return [e for e in entries if e["call"] == call]

    def backup(self, ctx: RunContext) -> str | None:
        root = self._dir(ctx)
        dest = root / "backups" / f"{ctx.run_id}.txt"
        dest.parent.mkdir(exist_ok=True)
        model = root / "model.txt"
        dest.write_text(model.read_text() if model.exists() else "")
        self._log(ctx, "backup")
        self._fail("backup")
        return str(dest)

    def train(self, ctx: RunContext) -> str | None:
        self._log(ctx, "train", max_samples=ctx.max_samples, forced=ctx.forced)
        (self._dir(ctx) / "model.txt").write_text(f"trained by {ctx.run_id}")  # in place
        ballast = b""
        if self.o.get("memory_mb"):
            ballast = b"x" * int(float(self.o["memory_mb"]) * MB)  # written: resident
        if self.o.get("ignore_term"):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # The "training" itself (not synchronisation): train_s seconds of wall time, in small
        # steps so that a signal (the soft limit's SIGTERM) is handled promptly.
        deadline = time.monotonic() + float(self.o.get("train_s", 0))
        while time.monotonic() < deadline:
            time.sleep(0.02)
        self._fail("train")
        if self.o.get("exit_code") is not None:
            os._exit(int(self.o["exit_code"]))  # dies without a word (like a segfault)
        del ballast
        return "model.txt"

    def evaluate(self, ctx: RunContext, candidate: str | None) -> Evaluation | dict[str, Any]:
        self._log(ctx, "evaluate")
        self._fail("evaluate")
        if self.o.get("bad_evaluation"):
            return {"quality_score": "high"}
        return Evaluation(
            quality_score=float(self.o.get("quality", 0.95)),
            validation_score=float(self.o.get("validation", 0.95)),
            baseline_score=self.o.get("baseline"),
            metrics={"pid": os.getpid()},
        )

    def promote(self, ctx: RunContext, candidate: str | None) -> None:
        self._log(ctx, "promote")
        self._fail("promote")

    def restore(self, ctx: RunContext, backup: str | None) -> None:
        self._log(ctx, "restore_begin")
        self._fail("restore")
        assert backup is not None
        shutil.copyfile(backup, self._dir(ctx) / "model.txt")
        self._log(ctx, "restore")


class BrokenInit:
    """A learner whose constructor raises."""

    def __init__(self, options: dict[str, Any]):
        raise ValueError("no such model kind")


class Incomplete:
    """A learner missing most of the protocol."""

    def __init__(self, options: dict[str, Any]):
        pass

    def count_available_data(self, ctx: RunContext) -> int:
        return 1
