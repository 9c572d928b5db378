"""One training run from delivery to outcome: checks, training, gates, finish, notifications.

:class:`RunPipeline` is what the Celery task calls (and what tests and the benchmark call
in-process). Notifications and logs are after-steps around the run: a failure there is
logged, never raised into the run.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

from tasksched import gates
from tasksched.logs import log_event
from tasksched.models import NotificationEvent, RunStatus
from tasksched.resources import HostMonitor
from tasksched.settings import Settings
from tasksched.store import ScheduleRecord, Store
from tasksched.store.locks import Lease
from tasksched.tasks.prerun import Outcome, Prepared, PreRun, RunMessage
from tasksched.tasks.supervisor import ChildResult, run_child

__all__ = ["LeaseKeeper", "RunPipeline"]

logger = logging.getLogger("tasksched.worker")

_EVENTS = {
    RunStatus.SUCCEEDED: NotificationEvent.RUN_SUCCEEDED,
    RunStatus.REJECTED: NotificationEvent.RUN_REJECTED,
    RunStatus.FAILED: NotificationEvent.RUN_FAILED,
    RunStatus.LOST: NotificationEvent.RUN_FAILED,
    RunStatus.SKIPPED: NotificationEvent.RUN_SKIPPED,
}

_STOPS = {
    "soft_time_limit": "soft time limit reached after {t:.1f}s: training stopped cleanly",
    "hard_time_limit": "hard time limit reached after {t:.1f}s: training killed",
    "memory_limit": (
        "memory limit exceeded ({peak:.0f} MB > budget {budget:.0f} MB): training killed"
    ),
    "lease_lost": "run lock lost while training (another run may start): training killed",
}


class LeaseKeeper:
    """Renews a run lock every third of its TTL in a thread; :meth:`ok` turns False if lost."""

    def __init__(self, lease: Lease, ttl_s: float):
        self.lease = lease
        self.ttl_s = ttl_s
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._last_ok = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="tasksched-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3.0):
            try:
                if self.lease.renew():
                    self._last_ok = time.monotonic()
                else:
                    self._lost.set()
                    return
            except Exception:
                if time.monotonic() - self._last_ok > self.ttl_s:
                    self._lost.set()
                    return

    def ok(self) -> bool:
        """False once the lease was lost."""
        return not self._lost.is_set()


class RunPipeline:
    """Everything one worker process does for a delivered run."""

    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        monitor: HostMonitor | None = None,
        notify: bool = True,
    ):
        self.store = store
        self.settings = settings or store.settings
        self.pre = PreRun(store, self.settings, monitor)
        self.notify_enabled = notify

    # ---- after-steps ----------------------------------------------------------------------
    def _emit(
        self, event: NotificationEvent, record: ScheduleRecord | None, run_id: str, **details: Any
    ) -> None:
        if not self.notify_enabled or record is None:
            return
        try:
            from tasksched.tasks.notify import emit_event

            run = self.store.runs.get(run_id)
            emit_event(self.store, event, record, run, **details)
        except Exception as exc:
            log_event(
                logger, logging.ERROR, "notification failed", event=event.value,
                correlation_id=run_id, run_id=run_id, error=f"{type(exc).__name__}: {exc}",
            )

    def _after(self, msg: RunMessage, outcome: Outcome) -> Outcome:
        level = logging.INFO
        if outcome.status in (RunStatus.FAILED, RunStatus.LOST):
            level = logging.ERROR
        elif outcome.status in (RunStatus.REJECTED, RunStatus.DEFERRED) or outcome.status is None:
            level = logging.WARNING
        log_event(
            logger, level, f"run {outcome.status.value if outcome.status else 'refused'}",
            event="run_outcome", correlation_id=msg.run_id, run_id=msg.run_id,
            schedule_id=msg.schedule_id, tenant_id=msg.tenant_id, worker=msg.worker,
            status=outcome.status.value if outcome.status else "refused", reason=outcome.reason,
            check=outcome.check,
        )
        if outcome.status is RunStatus.DEFERRED:
            if outcome.deferrals == 1:  # once per run, not at every retry
                self._emit(NotificationEvent.RUN_DEFERRED, outcome.record, msg.run_id)
        elif outcome.status is not None:
            self._emit(_EVENTS[outcome.status], outcome.record, msg.run_id)
        if outcome.cooldown_entered:
            self._emit(NotificationEvent.COOLDOWN_ENTERED, outcome.record, msg.run_id)
        return outcome

    # ---- the run --------------------------------------------------------------------------
    def run(self, msg: RunMessage) -> Outcome:
        """Checks, then training and gates when they pass; the outcome is recorded."""
        checked = self.pre.check(msg)
        if isinstance(checked, Outcome):
            return self._after(msg, checked)
        return self._after(msg, self.train(checked))

    def train(self, p: Prepared) -> Outcome:
        """Back up, train in a child under the limits, gate, then promote or roll back."""
        controls = p.controls
        self.pre.life.update(
            p.msg.run_id,
            checks=p.checks,
            data_count=p.data_count,
            max_samples=p.ctx.max_samples,
            learner=p.learner_path,
            prerun_ms=round(p.prerun_ms, 3),
            memory_budget_mb=p.limits.memory_mb,
        )
        self._emit(NotificationEvent.RUN_STARTED, p.record, p.msg.run_id)
        lease = self.pre.life.lease(p.msg.schedule_id, p.token)
        with LeaseKeeper(lease, self.settings.run_lock_ttl_s) as keeper:
            return self._train_locked(p, keeper, controls.max_training_time_minutes * 60.0)

    def _fail(self, p: Prepared, reason: str, backup: str | None, **fields: Any) -> Outcome:
        rolled_back = False
        if backup is not None:
            try:
                p.learner.restore(p.ctx, backup)
                rolled_back = True
                reason += "; backup restored"
            except Exception as exc:
                reason += f"; restoring the backup failed: {type(exc).__name__}: {exc}"
        return self.pre.end(
            p.msg, p.token, RunStatus.FAILED, reason, p.record, fields.pop("check", "training"),
            rolled_back=rolled_back, checks=p.checks, **fields,
        )

    def _train_locked(self, p: Prepared, keeper: LeaseKeeper, soft_limit_s: float) -> Outcome:
        controls = p.controls
        backup: str | None = None
        if controls.backup_before_training:
            try:
                backup = p.learner.backup(p.ctx)
            except Exception as exc:
                return self._fail(p, f"backup failed: {type(exc).__name__}: {exc}", None)
        ctx = replace(p.ctx, backup=backup)
        job = {"learner": p.learner_path, "options": ctx.options, "context": ctx.to_dict()}
        result = run_child(
            job,
            memory_budget_mb=p.limits.memory_mb,
            soft_limit_s=soft_limit_s,
            kill_grace_s=self.settings.training_kill_grace_s,
            lease_ok=keeper.ok,
        )
        facts: dict[str, Any] = {
            "peak_memory_mb": result.peak_memory_mb,
            "training_s": round(result.duration_s, 3),
        }
        if backup is not None:
            facts["backup_ref"] = backup
        if result.outcome != "ok":
            return self._fail(
                p, self._why(result, p), backup,
                stop=result.outcome if result.outcome in _STOPS else None,
                error=result.error or None, **facts,
            )
        try:
            ev = gates.Evaluation.from_any(result.evaluation)
        except ValueError as exc:
            return self._fail(p, f"evaluate() broke the protocol: {exc}", backup, **facts)
        tolerance = float(ctx.options.get("degradation_tolerance", 0.0))
        gd = gates.decide(ev, controls, backup is not None, tolerance)
        scores = {
            "quality_score": ev.quality_score,
            "validation_score": ev.validation_score,
            "baseline_score": ev.baseline_score,
            "metrics": ev.metrics,
            "degraded": gd.degraded,
        }
        checks = [*p.checks, *gd.gates]
        if gd.promote:
            try:
                p.learner.promote(ctx, result.candidate)
            except Exception as exc:
                reason = f"promote failed: {type(exc).__name__}: {exc}"
                return self._fail(p, reason, backup, **facts, **scores)
            return self.pre.end(
                p.msg, p.token, RunStatus.SUCCEEDED, gd.reason, p.record, "gates",
                checks=checks, rolled_back=False, **facts, **scores,
            )
        reason = gd.reason
        rolled_back = False
        if gd.rollback:
            try:
                p.learner.restore(ctx, backup)
                rolled_back = True
            except Exception as exc:
                return self._fail(
                    p, f"{reason}, but restoring failed: {type(exc).__name__}: {exc}", None,
                    **facts, **scores,
                )
        return self.pre.end(
            p.msg, p.token, RunStatus.REJECTED, reason, p.record, "gates",
            checks=checks, rolled_back=rolled_back, **facts, **scores,
        )

    @staticmethod
    def _why(result: ChildResult, p: Prepared) -> str:
        template = _STOPS.get(result.outcome)
        if template:
            return template.format(
                t=result.duration_s, peak=result.peak_memory_mb, budget=p.limits.memory_mb
            )
        return f"training failed: {result.error}"
