"""The pre-run checks of a training run, in their fixed order, each recorded with its reason.

1. run id already started -> refused (a duplicate delivery changes nothing);
2. per-schedule run lock -> skip or wait (defer) per ``concurrency_policy``;
3. schedule exists, is active, global switch on -> else skipped;
4. failure cooldown -> skipped (``force`` bypasses);
5. host resources -> deferred until the misfire grace ends, then skipped (never bypassed);
6. new data -> below the minimum skipped (``force`` bypasses), above the maximum capped.

Checks 1 and 2 and the reads for 3 and 4 are one Redis script (``run_claim.lua``), which also
refuses a run id remembered by its tombstone, records nothing for a deleted schedule and records
a cron run received past its misfire grace (plus a margin) as missed; 5 reads this host and
the runs it admitted (``tasks/admission.py``); 6 asks the learner, in the run's supervised child
process (started here, kept for the rest of the run: the worker never builds a learner).
:meth:`PreRun.claim` does checks 1 and 2 and returns a :class:`Claimed` run (lock held, status
``running``: the caller renews the lock from here on) or a final :class:`Outcome`;
:meth:`PreRun.after_claim` does 3-6 and returns a :class:`Prepared` run or an :class:`Outcome`.
:meth:`PreRun.check` is both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tasksched import safety
from tasksched.errors import LearnerError, ValidationError
from tasksched.learners.base import RunContext, learner_target, model_dir
from tasksched.models import AutonomousConfig, ConcurrencyPolicy, RunStatus, SafetyControls
from tasksched.resources import HostMonitor
from tasksched.safety import Action, Decision
from tasksched.settings import Settings
from tasksched.store import ScheduleRecord, Store
from tasksched.store.lifecycle import (
    STALE_MARGIN_S,
    RunClaim,
    RunLifecycle,
    attempt_token,
    failure_limits,
    holder_run_id,
)
from tasksched.tasks.admission import Admission
from tasksched.tasks.child_learner import ChildLearner, StepFailed

__all__ = ["Claimed", "Outcome", "PreRun", "Prepared", "RunMessage", "schedule_record"]


@dataclass(frozen=True)
class RunMessage:
    """The task's arguments (ids only) plus the worker that received it."""

    tenant_id: str
    schedule_id: str
    run_id: str
    fire_time: float | None
    trigger: str
    worker: str


@dataclass
class Outcome:
    """How a delivery ended. ``status`` None: refused (duplicate); DEFERRED: re-queue."""

    status: RunStatus | None
    reason: str
    countdown_s: float = 0.0
    check: str = ""
    cooldown_entered: bool = False
    record: ScheduleRecord | None = None
    deferrals: int = 0


@dataclass
class Claimed:
    """A run whose checks 1 and 2 passed: the lock is held with ``token``, status ``running``."""

    msg: RunMessage
    token: str
    claim: RunClaim
    record: ScheduleRecord | None
    checks: list[dict[str, Any]]
    forced: bool
    deadline: float
    deferrals: int
    t0: float


@dataclass
class Prepared:
    """A run that passed every check: the lock is held with ``token``, status ``running``."""

    msg: RunMessage
    token: str
    record: ScheduleRecord
    learner_path: str
    learner: ChildLearner  # its child runs (the caller closes it)
    ctx: RunContext
    limits: safety.Limits
    checks: list[dict[str, Any]]
    data_count: int
    prerun_ms: float
    forced: bool
    started_at: float

    @property
    def controls(self) -> SafetyControls:
        """The schedule's safety controls."""
        return self.record.config.safety_controls


_CONFIGS: dict[tuple[str, str, str, str], AutonomousConfig] = {}


def schedule_record(h: dict[str, str]) -> ScheduleRecord | None:
    """The schedule from its hash, its parsed config cached by (id, version, config)."""
    if not h or "cron" not in h:
        return None
    record = ScheduleRecord.from_hash(h)
    key = (record.id, h.get("version", ""), h.get("config", ""), h.get("misfire", ""))
    cfg = _CONFIGS.get(key)
    if cfg is None:
        if len(_CONFIGS) > 4096:
            _CONFIGS.clear()
        cfg = record.config
        _CONFIGS[key] = cfg
    record._config = cfg
    return record


def usable_record(h: dict[str, str]) -> tuple[ScheduleRecord | None, str]:
    """:func:`schedule_record`, or (None, why) when the stored hash cannot be used here (a
    config the schema refuses, a field missing): the run then ends with that reason."""
    try:
        return schedule_record(h), ""
    except ValidationError as exc:  # the stored config (models raise ours, naming the field)
        return None, f"its stored schedule cannot be used: config.{exc.field}: {exc.message}"
    except (ValueError, KeyError, TypeError) as exc:
        what = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return None, f"its stored schedule cannot be used: {what}"


def _float(v: str | None) -> float | None:
    return float(v) if v else None


class PreRun:
    """Runs the checks for one worker process (``store``, ``settings``, host ``monitor``)."""

    def __init__(self, store: Store, settings: Settings, monitor: HostMonitor | None = None):
        self.store = store
        self.settings = settings
        self.life = RunLifecycle(store)
        self.monitor = monitor or HostMonitor.get(settings.worker_cpu_sample_s)
        self.admission = Admission(store, settings, self.monitor)

    def release(self, run_id: str) -> None:
        """The run's attempt is over: its admitted budget is free again (no-op if none)."""
        self.admission.release(run_id)

    # ---- endings --------------------------------------------------------------------------
    def end(
        self,
        msg: RunMessage,
        token: str,
        status: RunStatus,
        reason: str,
        record: ScheduleRecord | None,
        check: str = "",
        **fields: Any,
    ) -> Outcome:
        """Finish the run with ``status`` (counters, lock released) and describe it."""
        max_failures, cooldown_s = failure_limits(record)
        if check:
            fields.setdefault("decided_by", check)
        done = self.life.finish(
            msg.run_id, msg.schedule_id, token, status, reason, max_failures, cooldown_s, **fields
        )
        if not done.applied:
            return Outcome(None, f"not applied: the run changed meanwhile ({reason})", check=check)
        return Outcome(
            status, reason, check=check, cooldown_entered=done.cooldown_entered, record=record
        )

    def _defer_or_skip(
        self,
        msg: RunMessage,
        token: str,
        held: bool,
        d: Decision,
        record: ScheduleRecord | None,
        checks: list[dict[str, Any]],
        deadline: float,
    ) -> Outcome:
        checks.append(d.as_dict())
        if d.action is Action.SKIP:
            return self.end(
                msg, token if held else "", RunStatus.SKIPPED, d.reason, record, d.check,
                checks=checks,
            )  # fmt: skip
        n = self.life.defer(
            msg.run_id, msg.schedule_id, token, held, d.reason, d.countdown_s, d.check,
            deadline + STALE_MARGIN_S, checks=checks,
        )  # fmt: skip
        if n is None:
            reason = f"not deferred: the run changed meanwhile ({d.reason})"
            return Outcome(None, reason, check=d.check)
        return Outcome(
            RunStatus.DEFERRED, d.reason, d.countdown_s, d.check, record=record, deferrals=n
        )

    # ---- the checks ----------------------------------------------------------------------
    def check(self, msg: RunMessage) -> Prepared | Outcome:
        """Run checks 1-6; a Prepared run holds the lock and is ``running`` (close its
        ``learner``)."""
        claimed = self.claim(msg)
        if isinstance(claimed, Outcome):
            return claimed
        return self.after_claim(claimed)

    def claim(self, msg: RunMessage, _rerun: bool = False) -> Claimed | Outcome:
        """Checks 1 and 2 (one script); a Claimed run holds the lock and is ``running``."""
        t0 = time.perf_counter()
        token = attempt_token(msg.run_id)
        claim = self.life.claim(
            msg.run_id,
            msg.schedule_id,
            msg.tenant_id,
            token,
            msg.worker,
            msg.trigger,
            msg.fire_time,
        )
        record, unusable = usable_record(claim.schedule)
        checks: list[dict[str, Any]] = []
        if claim.code == "duplicate":
            return Outcome(None, "refused: this run is running on another worker", check="run_id")
        if claim.code == "done":
            reason = f"refused: this run already ended ({claim.detail})"
            return Outcome(None, reason, check="run_id")
        if claim.code == "gone":
            return Outcome(None, "refused: its schedule was deleted; nothing recorded",
                           check="run_id")  # fmt: skip
        if claim.code == "expired":
            return Outcome(RunStatus.MISSED, claim.detail, check="staleness", record=record)
        grace_s = self.settings.beat_default_grace_s
        if record is not None and record.config.misfire_grace_s is not None:
            grace_s = record.config.misfire_grace_s
        if claim.code == "stale":
            # A redelivered message of an attempt whose worker died: run it once more (here,
            # with this delivery), or end it as lost; never a training failure.
            lost = self.life.lost(
                msg.run_id, msg.schedule_id, claim.detail,
                "the worker running it stopped (its run lock expired); redelivered message",
                claim.now + grace_s + STALE_MARGIN_S, only_if_lock_gone=True,
            )  # fmt: skip
            if lost.result == 2:
                return Outcome(RunStatus.LOST, "the worker running it stopped twice; not run "
                               "again", check="run_id", record=record)  # fmt: skip
            if not _rerun:
                return self.claim(msg, _rerun=True)
            return Outcome(None, "refused: the run changed meanwhile", check="run_id")
        checks.append({"check": "run_id", "ok": True})
        forced = claim.run.get("forced") == "1"
        deferrals = int(claim.run.get("deferrals") or 0)
        origin = msg.fire_time or _float(claim.run.get("fire_time")) or _float(
            claim.run.get("queued_at")
        ) or claim.now
        deadline = origin + grace_s
        if claim.code == "locked":
            policy = record.config.concurrency_policy if record else None
            d = safety.check_lock_busy(
                policy or ConcurrencyPolicy.SKIP,
                holder_run_id(claim.detail),
                claim.now,
                deadline,
                self.settings.defer_backoff_s,
                deferrals,
            )
            return self._defer_or_skip(msg, token, False, d, record, checks, deadline)
        checks.append({"check": "run_lock", "ok": True})
        if unusable:
            # Never a crash after the claim: the run ends with the reason, its lock released.
            checks.append({"check": "schedule", "ok": False, "detail": unusable})
            return self.end(msg, token, RunStatus.FAILED, unusable, None, "schedule",
                            checks=checks, error=unusable)  # fmt: skip
        return Claimed(msg, token, claim, record, checks, forced, deadline, deferrals, t0)

    def after_claim(
        self, c: Claimed, stop: Callable[[], bool] = lambda: False
    ) -> Prepared | Outcome:
        """Checks 3-6 of a claimed run (its lock renewed by the caller meanwhile); ``stop``
        turns True when this worker is asked to stop."""
        return self._after_lock(
            c.msg, c.token, c.claim, c.record, c.checks, c.forced, c.deadline, c.deferrals, c.t0,
            stop,
        )

    def _after_lock(
        self,
        msg: RunMessage,
        token: str,
        claim: RunClaim,
        record: ScheduleRecord | None,
        checks: list[dict[str, Any]],
        forced: bool,
        deadline: float,
        deferrals: int,
        t0: float,
        stop: Callable[[], bool] = lambda: False,
    ) -> Prepared | Outcome:
        d = safety.check_schedule(
            record is not None, record.status if record else None, claim.switch_on
        )
        if not d.ok or record is None:
            checks.append(d.as_dict())
            return self.end(msg, token, RunStatus.SKIPPED, d.reason, record, d.check, checks=checks)
        checks.append(d.as_dict())
        if record.tenant_id != msg.tenant_id:
            # The stored schedule says whose run this is; a message naming another tenant is
            # refused, never trained under the wrong tenant's name or directories.
            reason = "refused: the message names another tenant than the schedule's"
            checks.append({"check": "tenant", "ok": False, "detail": reason})
            return self.end(
                msg, token, RunStatus.SKIPPED, reason, record, "tenant", checks=checks,
                tenant_id=record.tenant_id,  # the record is the schedule's, not the message's
            )
        controls = record.config.safety_controls
        d = safety.check_cooldown(
            record.counters.get("consecutive_failures", 0),
            record.last_failure_at,
            controls,
            claim.now,
            forced,
        )
        checks.append(d.as_dict())
        if not d.ok:
            return self.end(msg, token, RunStatus.SKIPPED, d.reason, record, d.check, checks=checks)
        limits = safety.effective_limits(
            controls, self.settings.worker_max_memory_mb, self.settings.worker_max_cpu_percent,
            self.settings.max_training_time_s,
        )  # fmt: skip
        d = self.admission.check(msg.run_id, msg.schedule_id, msg.worker, token, limits,
                                 claim.now, deadline, deferrals)  # fmt: skip
        if not d.ok:
            return self._defer_or_skip(msg, token, True, d, record, checks, deadline)
        checks.append(d.as_dict())
        cfg = record.config
        name = cfg.learner or self.settings.learner
        try:
            # Only the operator's registry is imported, never a path a schedule stored.
            learner_path = learner_target(name, self.settings.learners)
        except LearnerError as exc:
            checks.append({"check": "learner", "ok": False, "detail": str(exc)})
            return self.end(
                msg, token, RunStatus.SKIPPED, f"learner {exc}", record, "learner",
                checks=checks, learner=name,
            )
        ctx = RunContext(
            tenant_id=record.tenant_id,
            schedule_id=record.id,
            run_id=msg.run_id,
            # Derived, never an option: a tenant's run writes under its own directory only.
            model_dir=str(model_dir(self.settings.state_dir, record.tenant_id, record.id)),
            options=dict(cfg.learner_options),
            forced=forced,
        )
        # The tenant's options reach the learner only in the run's supervised child (limits:
        # this step's time, the run's memory budget); the worker gets the count back.
        learner = ChildLearner(
            learner_path, cfg.learner_options, limits.memory_mb,
            self.settings.learner_step_timeout_s, self.settings.training_kill_grace_s, stop,
        )  # fmt: skip
        try:
            available = learner.count_available_data(ctx)
        except StepFailed as exc:
            learner.close()
            return self._count_failed(msg, token, record, checks, learner, exc)
        d = safety.check_data(available, controls, forced)
        checks.append(d.as_dict())
        if not d.ok:
            learner.close()
            return self.end(
                msg, token, RunStatus.SKIPPED, d.reason, record, d.check,
                checks=checks, data_count=available, learner=learner_path,
            )
        return Prepared(
            msg=msg,
            token=token,
            record=record,
            learner_path=learner_path,
            learner=learner,
            ctx=replace(ctx, max_samples=d.max_samples),
            limits=limits,
            checks=checks,
            data_count=available,
            prerun_ms=(time.perf_counter() - t0) * 1000.0,
            forced=forced,
            started_at=claim.now,
        )

    def _count_failed(
        self,
        msg: RunMessage,
        token: str,
        record: ScheduleRecord,
        checks: list[dict[str, Any]],
        learner: ChildLearner,
        exc: StepFailed,
    ) -> Outcome:
        """Building the learner or counting its data did not complete: failed (the step and
        the limit named), or interrupted when this worker is stopping."""
        facts: dict[str, Any] = {"learner": learner.target, "step": exc.step,
                                 "peak_memory_mb": learner.peak_memory_mb}  # fmt: skip
        if exc.stop:
            facts["stop"] = exc.stop
        if exc.outcome == "interrupted":
            reason = f"its worker was asked to stop (shutdown) in {exc.step}; not a failure"
            return self.end(msg, token, RunStatus.INTERRUPTED, reason, record, "shutdown",
                            checks=checks, **facts)  # fmt: skip
        check = "learner" if exc.step == "load" else "data"
        reason = str(exc) if exc.step == "load" else f"count_available_data failed: {exc}"
        checks.append({"check": check, "ok": False, "detail": reason})
        return self.end(msg, token, RunStatus.FAILED, reason, record, check,
                        checks=checks, error=reason, **facts)  # fmt: skip

