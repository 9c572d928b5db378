"""One training run from delivery to outcome: checks, training, gates, finish, notifications.

Every learner call is a step in the run's one supervised child process (``prerun.py`` starts it
for the data count; here backup, training, promotion or rollback follow in it, and it ends with
the run): the worker exchanges only JSON with the learner.

:class:`RunPipeline` is what the Celery task calls (and what tests and the benchmark call
in-process). The run lock is renewed (:class:`~tasksched.tasks.lease.LeaseKeeper`) from the
claim until the record is final. A worker asked to stop ends the run as ``interrupted`` (not a
failure; the lock released) unless the training finishes within a short grace; a lost run lock
re-queues the run once (lost, not failed). Notifications and logs are after-steps around the
run: a failure there is logged, never raised into the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tasksched import gates
from tasksched.logs import log_event
from tasksched.models import NotificationEvent, RunStatus
from tasksched.resources import HostMonitor
from tasksched.settings import Settings
from tasksched.store import ScheduleRecord, Store
from tasksched.store.lifecycle import STALE_MARGIN_S
from tasksched.store.sweeps import grace_s
from tasksched.tasks.child_learner import StepFailed
from tasksched.tasks.lease import LeaseKeeper
from tasksched.tasks.prerun import Claimed, Outcome, Prepared, PreRun, RunMessage
from tasksched.tasks.requeue import publish_rerun
from tasksched.tasks.supervisor import ChildResult

__all__ = ["RunPipeline"]

logger = logging.getLogger("tasksched.worker")

_EVENTS = {
    RunStatus.SUCCEEDED: NotificationEvent.RUN_SUCCEEDED,
    RunStatus.REJECTED: NotificationEvent.RUN_REJECTED,
    RunStatus.FAILED: NotificationEvent.RUN_FAILED,
    RunStatus.LOST: NotificationEvent.RUN_LOST,
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
_WARN = (RunStatus.REJECTED, RunStatus.DEFERRED, RunStatus.LOST, RunStatus.INTERRUPTED)
_INTERRUPTED = "its worker was asked to stop (shutdown): training stopped; not a failure"


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
        if outcome.status is RunStatus.FAILED:
            level = logging.ERROR
        elif outcome.status is None or outcome.status in _WARN:
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
        elif outcome.status in _EVENTS:
            self._emit(_EVENTS[outcome.status], outcome.record, msg.run_id)
        if outcome.cooldown_entered:
            self._emit(NotificationEvent.COOLDOWN_ENTERED, outcome.record, msg.run_id)
        return outcome

    # ---- the run --------------------------------------------------------------------------
    def run(self, msg: RunMessage, stop: Callable[[], bool] = lambda: False) -> Outcome:
        """Checks, then training and gates when they pass; the outcome is recorded.

        ``stop`` turns True when this worker is asked to stop: the run then ends as
        ``interrupted`` (checks not yet done, or training not finished within the grace).
        """
        claimed = self.pre.claim(msg)
        if isinstance(claimed, Outcome):
            return self._after(msg, claimed)
        lease = self.pre.life.lease(msg.schedule_id, claimed.token)
        with LeaseKeeper(lease, self.settings.run_lock_ttl_s) as keeper:
            try:
                outcome = self._claimed(claimed, keeper, stop)
            except Exception as exc:
                # Never a crash after the claim (the run left running, later swept lost): it
                # ends failed with the reason; only a store that cannot record it raises.
                reason = f"failed after its claim: {type(exc).__name__}: {exc}"
                logger.exception("run %s %s", msg.run_id, reason)
                outcome = self.pre.end(msg, claimed.token, RunStatus.FAILED, reason, None,
                                       "worker", checks=claimed.checks, error=reason)  # fmt: skip
            finally:
                try:
                    self.pre.release(msg.run_id)
                except Exception as exc:  # its entry goes with its run lock anyway
                    log_event(logger, logging.WARNING, "admission release failed",
                              run_id=msg.run_id, error=str(exc))  # fmt: skip
            return self._after(msg, outcome)

    def _claimed(self, claimed: Claimed, keeper: LeaseKeeper, stop: Callable[[], bool]) -> Outcome:
        checked = self.pre.after_claim(claimed, stop)
        if isinstance(checked, Outcome):
            return checked
        try:
            if not keeper.ok():
                return self._lease_lost(checked)
            if stop():
                return self._end(
                    checked, RunStatus.INTERRUPTED, _INTERRUPTED, checked.record, "shutdown",
                    checks=checked.checks, stop="interrupted",
                )  # fmt: skip
            return self.train(checked, keeper, stop)
        finally:
            checked.learner.close()

    def train(
        self, p: Prepared, keeper: LeaseKeeper, stop: Callable[[], bool] = lambda: False
    ) -> Outcome:
        """Back up, train in a child under the limits, gate, then promote or roll back."""
        clamped = [c.as_dict() for c in p.limits.clamped]
        if clamped:  # stored values this worker lowers to its caps: run, and said so
            log_event(
                logger, logging.WARNING, "run limits clamped to this worker's caps",
                event="run_clamped", correlation_id=p.msg.run_id, run_id=p.msg.run_id,
                schedule_id=p.msg.schedule_id, clamped=clamped,
            )  # fmt: skip
        self.pre.life.update(
            p.msg.run_id,
            checks=p.checks,
            data_count=p.data_count,
            max_samples=p.ctx.max_samples,
            learner=p.learner_path,
            prerun_ms=round(p.prerun_ms, 3),
            memory_budget_mb=p.limits.memory_mb,
            clamped=clamped or None,
        )
        self._emit(NotificationEvent.RUN_STARTED, p.record, p.msg.run_id)
        return self._train_locked(p, keeper, p.limits.training_time_s, stop)

    def _lease_lost(self, p: Prepared, reason: str = "", **fields: Any) -> Outcome:
        """This attempt lost its run lock: re-queue the run once (a new message), else lost."""
        msg = p.msg
        p.learner.close()
        grace = grace_s(self.store, msg.schedule_id)
        why = reason or "its run lock was lost (not renewed in time)"
        lost = self.pre.life.lost(
            msg.run_id, msg.schedule_id, p.token, why,
            self.store.time() + grace + STALE_MARGIN_S, only_if_lock_gone=False,
        )  # fmt: skip
        if fields:
            self.pre.life.update(msg.run_id, **fields)
        if lost.requeued:
            publish_rerun(self.store, msg.run_id, msg.schedule_id, msg.tenant_id, msg.trigger,
                          msg.fire_time, grace)  # fmt: skip
            return Outcome(RunStatus.QUEUED, f"re-queued: {why}", check="run_lock")
        if lost.result == 2:
            return Outcome(RunStatus.LOST, why, check="run_lock", record=p.record)
        return Outcome(None, f"not applied: the run changed meanwhile ({why})", check="run_lock")

    def _end(
        self, p: Prepared, status: RunStatus, reason: str, record: ScheduleRecord, check: str,
        **fields: Any,
    ) -> Outcome:
        """Record the prepared run's outcome once its learner's child has ended (a final
        record means nothing of the run still runs)."""
        p.learner.close()
        return self.pre.end(p.msg, p.token, status, reason, record, check, **fields)

    def _fail(self, p: Prepared, reason: str, backup: str | None, **fields: Any) -> Outcome:
        rolled_back = False
        if backup is not None:
            try:
                said = p.learner.restore(p.ctx, backup)
                rolled_back = True
                reason += f"; {_restored(said)}"
            except StepFailed as exc:
                reason += f"; restoring the backup failed: {exc}"
        fields["peak_memory_mb"] = p.learner.peak_memory_mb  # every step's, the failed one's too
        return self._end(
            p, RunStatus.FAILED, reason, p.record, fields.pop("check", "training"),
            rolled_back=rolled_back, checks=p.checks, **fields,
        )

    def _train_locked(
        self, p: Prepared, keeper: LeaseKeeper, soft_limit_s: float, stop: Callable[[], bool]
    ) -> Outcome:
        controls = p.controls
        backup: str | None = None
        if controls.backup_before_training:
            try:
                backup = p.learner.backup(p.ctx)
            except StepFailed as exc:
                if exc.outcome == "interrupted":
                    return self._stopped(p, ChildResult("interrupted"), None, {"step": "backup"})
                return self._fail(p, f"backup failed: {exc}", None, **_step_facts(exc))
        ctx = replace(p.ctx, backup=backup)
        result = p.learner.train(ctx, soft_limit_s, keeper.ok)
        facts: dict[str, Any] = {
            "peak_memory_mb": result.peak_memory_mb,
            "training_s": round(result.duration_s, 3),
        }
        if backup is not None:
            facts["backup_ref"] = backup
        if result.outcome in ("lease_lost", "interrupted"):
            return self._stopped(p, result, backup, facts)
        if result.outcome != "ok":
            return self._fail(
                p, self._why(result, p), backup,
                stop=result.outcome if result.outcome in _STOPS else None,
                error=result.error or None, step=p.learner.method or "train", **facts,
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
            except StepFailed as exc:
                reason = f"promote failed: {exc}"
                return self._fail(p, reason, backup, **facts, **scores, **_step_facts(exc))
            facts["peak_memory_mb"] = p.learner.peak_memory_mb
            return self._end(
                p, RunStatus.SUCCEEDED, gd.reason, p.record, "gates",
                checks=checks, rolled_back=False, **facts, **scores,
            )
        reason = gd.reason
        rolled_back = False
        if gd.rollback:
            try:
                said = p.learner.restore(ctx, backup)
                rolled_back = True
                reason = reason.replace("; backup restored", f"; {_restored(said)}")
            except StepFailed as exc:
                return self._fail(
                    p, f"{reason}, but restoring failed: {exc}", None,
                    **facts, **scores, **_step_facts(exc),
                )
        facts["peak_memory_mb"] = p.learner.peak_memory_mb
        return self._end(
            p, RunStatus.REJECTED, reason, p.record, "gates",
            checks=checks, rolled_back=rolled_back, **facts, **scores,
        )

    def _stopped(
        self, p: Prepared, result: ChildResult, backup: str | None, facts: dict[str, Any]
    ) -> Outcome:
        """Training stopped by the worker, not by the learner: restore, then lost or
        interrupted (neither is a training failure)."""
        rolled_back = False
        if backup is not None:
            try:
                p.learner.restore(p.ctx, backup)
                rolled_back = True
            except StepFailed as exc:
                facts["error"] = f"restoring the backup failed: {exc}"
        if result.outcome == "lease_lost":
            return self._lease_lost(p, self._why(result, p), rolled_back=rolled_back, **facts)
        return self._end(
            p, RunStatus.INTERRUPTED, _INTERRUPTED, p.record, "shutdown",
            checks=p.checks, stop="interrupted", rolled_back=rolled_back, **facts,
        )  # fmt: skip

    @staticmethod
    def _why(result: ChildResult, p: Prepared) -> str:
        template = _STOPS.get(result.outcome)
        if template:
            return template.format(
                t=result.duration_s, peak=result.peak_memory_mb, budget=p.limits.memory_mb
            )
        return f"training failed: {result.error}"


def _step_facts(exc: StepFailed) -> dict[str, Any]:
    """The run record's fields for a learner step that did not complete."""
    return {"step": exc.step, "stop": exc.stop, "error": str(exc)}


def _restored(said: object) -> str:
    """What a rollback did, in the run's reason: the learner's words, else "backup restored"."""
    return said.strip() if isinstance(said, str) and said.strip() else "backup restored"
