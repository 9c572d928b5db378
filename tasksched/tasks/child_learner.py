"""The run's learner as the worker holds it: a proxy whose every call is a step in the child.

The worker never builds a learner: :class:`ChildLearner` keeps the operator's target, the
schedule's ``learner_options`` and the run's limits, and runs each learner method as a step
of one supervised child process per run (:class:`~tasksched.tasks.supervisor.LearnerChild`):
``load`` + ``count_available_data`` in the pre-run checks, then ``backup``, ``train`` +
``evaluate``, ``promote`` or ``restore``. Only JSON passes: the run context in, counts,
references, scores and errors out. A step that fails, crashes, runs out of time or memory
raises :class:`StepFailed` naming the step; a ``restore`` after the child was killed runs in a
fresh child.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from tasksched.learners.base import RunContext
from tasksched.tasks.supervisor import ChildResult, LearnerChild, StepResult

__all__ = ["ChildLearner", "StepFailed"]


def _no() -> bool:
    return False


class StepFailed(Exception):
    """A learner step did not complete; ``str()`` says how (an exception's type and message,
    or the limit that ended it), ``step`` names the learner method, ``stop`` the limit."""

    def __init__(self, step: str, result: StepResult, detail: str):
        super().__init__(detail)
        self.step = step
        self.result = result

    @property
    def outcome(self) -> str:
        """The supervisor's outcome (error, memory_limit, hard_time_limit, interrupted, ...)."""
        return self.result.outcome

    @property
    def stop(self) -> str | None:
        """The limit or stop that ended the step; None for the learner's own exception."""
        return None if self.outcome in ("error", "crashed") else self.outcome


class ChildLearner:
    """The learner ``target`` built with ``options``, only ever inside the run's child.

    Each step is bounded by ``step_limit_s`` (``load`` and the step after it share it) and the
    run's ``memory_budget_mb``; ``stop_requested`` turns True when this worker is asked to
    stop. ``train`` has its own limit (the schedule's ``max_training_time``).
    """

    def __init__(
        self,
        target: str,
        options: Mapping[str, Any],
        memory_budget_mb: float,
        step_limit_s: float,
        kill_grace_s: float,
        stop_requested: Callable[[], bool] = _no,
        poll_s: float = 0.1,
    ):
        self.target = target
        self.options = dict(options)
        self.memory_budget_mb = memory_budget_mb
        self.step_limit_s = step_limit_s
        self.kill_grace_s = kill_grace_s
        self.stop_requested = stop_requested
        self.poll_s = poll_s
        self.children = 0  # started for this run (a restore after a kill starts one more)
        self._child: LearnerChild | None = None
        self.method = ""  # the learner method the last train step ended in (train, evaluate)
        self._carry_s = 0.0  # the load's time, counted against the step after it
        self._peak_mb = 0.0

    @property
    def peak_memory_mb(self) -> float:
        """The highest memory of the run's children so far (MB)."""
        peak = max(self._peak_mb, self._child.peak_memory_mb if self._child else 0.0)
        return round(peak, 1)

    def close(self) -> None:
        """End the run's child (idempotent)."""
        if self._child is not None:
            self._peak_mb = max(self._peak_mb, self._child.peak_memory_mb)
            self._child.close()
            self._child = None

    def _describe(self, res: StepResult, limit_s: float) -> str:
        if res.outcome in ("error", "crashed"):
            return res.error
        if res.outcome == "memory_limit":
            return (f"memory limit exceeded ({self.peak_memory_mb:.0f} MB > budget "
                    f"{self.memory_budget_mb:.0f} MB): killed")  # fmt: skip
        if res.outcome == "interrupted":
            return "its worker was asked to stop (shutdown)"
        if res.outcome == "lease_lost":
            return "run lock lost: killed"
        how = "stopped" if res.outcome == "soft_time_limit" else "killed"
        return f"time limit reached after {res.duration_s:.1f}s (step limit {limit_s:g}s): {how}"

    def _ready(self, stoppable: bool) -> LearnerChild:
        """The run's child with the learner built; a new one if there is none (or it died)."""
        if self._child is not None and self._child.alive:
            return self._child
        self.close()
        child = LearnerChild(self.memory_budget_mb, self.kill_grace_s, self.poll_s)
        self._child = child
        self.children += 1
        res = child.call(
            "load", self.step_limit_s, {"learner": self.target, "options": self.options},
            stoppable=stoppable, stop_requested=self.stop_requested,
        )  # fmt: skip
        if not res.ok:
            detail = self._describe(res, self.step_limit_s)
            if res.outcome != "error":  # a LearnerError already names the learner
                detail = f"learner {self.target!r} could not be loaded: {detail}"
            self.close()
            raise StepFailed("load", res, detail)
        self._carry_s = res.duration_s
        return child

    def _step(self, step: str, ctx: RunContext, stoppable: bool = True, **args: Any) -> Any:
        child = self._ready(stoppable)
        # The step after a load shares its limit (the child's start-up counts against it).
        limit_s = max(self.step_limit_s - self._carry_s, 0.001)
        self._carry_s = 0.0
        res = child.call(step, limit_s, {"context": ctx.to_dict(), **args},
                         stoppable=stoppable, stop_requested=self.stop_requested)  # fmt: skip
        if not res.ok:
            raise StepFailed(res.method or step, res, self._describe(res, self.step_limit_s))
        return res.value

    # ---- the protocol, as steps ------------------------------------------------------------
    def count_available_data(self, ctx: RunContext) -> int:
        """New samples (the child starts and builds the learner first)."""
        return int(self._step("count_available_data", ctx))

    def backup(self, ctx: RunContext) -> str | None:
        """The backup's reference (str or None)."""
        ref = self._step("backup", ctx)
        return ref if isinstance(ref, str) else None

    def train(
        self, ctx: RunContext, soft_limit_s: float, lease_ok: Callable[[], bool]
    ) -> ChildResult:
        """``train`` + ``evaluate`` under ``soft_limit_s`` and the run lock; never raises for
        how the learner behaved (a failed load is an ``error`` outcome)."""
        started = time.monotonic()
        try:
            child = self._ready(True)
        except StepFailed as exc:
            return ChildResult(exc.outcome, error=str(exc), peak_memory_mb=self.peak_memory_mb,
                               duration_s=time.monotonic() - started)  # fmt: skip
        self._carry_s = 0.0
        res = child.call("train", soft_limit_s, {"context": ctx.to_dict()}, lease_ok=lease_ok,
                         stop_requested=self.stop_requested)  # fmt: skip
        self.method = res.method
        return ChildResult.of_training(res, child.exit_code, self.peak_memory_mb, res.duration_s)

    def promote(self, ctx: RunContext, candidate: str | None) -> None:
        """Promote the candidate this child trained (not cut short by a stop)."""
        self._step("promote", ctx, stoppable=False, candidate=candidate)

    def restore(self, ctx: RunContext, backup: str | None) -> str | None:
        """Put ``backup`` back; in a fresh child when the run's is gone (not cut short by a
        stop). Returns the learner's words on it, if any."""
        said = self._step("restore", ctx, stoppable=False, backup=backup)
        return said if isinstance(said, str) else None
