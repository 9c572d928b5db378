"""Whether a run may start: the pure start/skip/defer decisions (no I/O).

The worker reads a snapshot (the schedule, the switch, the host's readings, the learner's data
count) and asks these functions, in the order of the pre-run checks:

3. :func:`check_schedule` - the schedule exists, is active, the global switch is on;
4. :func:`check_cooldown` - not in its failure cooldown (``force`` bypasses);
5. :func:`check_resources` - this host can take the run now, else DEFER until the grace ends;
6. :func:`check_data` - enough new data (``force`` bypasses the minimum), capped at the maximum.

Checks 1 and 2 (the run id, the run lock) are atomic in Redis (``store/lifecycle.py``);
:func:`check_lock_busy` decides what a run does when the lock is held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from tasksched.models import ConcurrencyPolicy, SafetyControls, ScheduleStatus

__all__ = [
    "Action",
    "Admitted",
    "Clamp",
    "Decision",
    "HostReading",
    "Limits",
    "check_cooldown",
    "check_data",
    "check_lock_busy",
    "check_resources",
    "check_schedule",
    "cooldown_until",
    "defer_backoff_s",
    "effective_limits",
]


class Action(StrEnum):
    """What a check decided."""

    START = "start"  # this check passes
    SKIP = "skip"  # the run ends as skipped (not a failure)
    DEFER = "defer"  # re-queue the run with ``countdown_s`` so any host may take it


@dataclass(frozen=True)
class Decision:
    """A check's outcome: the action, the check's name, why, and for DEFER the delay."""

    action: Action
    check: str
    reason: str = ""
    countdown_s: float = 0.0
    max_samples: int | None = None  # check_data: the learner may use at most this many

    @property
    def ok(self) -> bool:
        """True when the check passes."""
        return self.action is Action.START

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form kept in the run record's ``checks`` list."""
        d: dict[str, object] = {"check": self.check, "ok": self.ok}
        if self.reason:
            d["detail"] = self.reason
        if self.action is Action.DEFER:
            d["countdown_s"] = round(self.countdown_s, 3)
        return d


@dataclass(frozen=True)
class Clamp:
    """A stored value this worker applies lower, to its own cap (kept in the run's ``clamped``)."""

    field: str  # the config field, e.g. ``safety_controls.max_training_time_minutes``
    stored: float
    applied: float
    cap: str  # the setting that capped it

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"field": self.field, "stored": self.stored, "applied": self.applied,
                "cap": self.cap}  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """What one run may use on this host: its memory budget, the CPU use it tolerates and its
    training time (seconds, 0: not computed), with the stored values clamped to get them."""

    memory_mb: float
    cpu_percent: float
    worker_memory_mb: float = 0.0  # the worker's own cap (0: none)
    training_time_s: float = 0.0
    clamped: tuple[Clamp, ...] = ()


@dataclass(frozen=True)
class HostReading:
    """This host's readings now; ``cpu_percent`` is None before the first background sample.
    ``memory_source`` says where the memory figures come from (the host, or a cgroup)."""

    memory_available_mb: float
    cpu_percent: float | None
    extra: dict[str, float] = field(default_factory=dict)
    memory_limit_mb: float = 0.0  # the total or the cgroup's limit (0: unknown)
    memory_source: str = "host"


@dataclass(frozen=True)
class Admitted:
    """A run already admitted on this host: its memory budget, what it uses now, and whether
    this worker admitted it (a worker's cap counts its own runs only)."""

    run_id: str
    budget_mb: float
    used_mb: float = 0.0
    this_worker: bool = True

    @property
    def unused_mb(self) -> float:
        """Memory promised to the run that it does not use yet (it may any moment)."""
        return max(self.budget_mb - self.used_mb, 0.0)


def effective_limits(
    controls: SafetyControls,
    worker_max_memory_mb: float,
    worker_max_cpu_percent: float,
    max_training_time_s: float = 0.0,
) -> Limits:
    """The run's limits: the schedule's safety controls capped by the worker's own limits.

    The CPU limit and the training time are the lower of the schedule's and the worker's
    (``TASKSCHED_WORKER_MAX_CPU_PERCENT``, ``TASKSCHED_MAX_TRAINING_TIME_S``); each value
    lowered is a :class:`Clamp`: stored data valid by the schema runs, within this worker's
    caps, and says so. The memory budget stays the schedule's (the run is stopped when it uses
    more; a lower one would kill a run that needs what it asked for): a worker whose cap is
    below it cannot host the run (see :func:`check_resources`), and the run is deferred to one
    that can. A worker limit of 0 means "no cap".
    """
    clamped: list[Clamp] = []
    cpu = controls.max_cpu_usage_percent
    if 0 < worker_max_cpu_percent < cpu:
        clamped.append(Clamp(
            "safety_controls.max_cpu_usage_percent", cpu, worker_max_cpu_percent,
            "TASKSCHED_WORKER_MAX_CPU_PERCENT",
        ))  # fmt: skip
        cpu = worker_max_cpu_percent
    minutes = controls.max_training_time_minutes
    training_s = minutes * 60.0
    if 0 < max_training_time_s < training_s:
        clamped.append(Clamp(
            "safety_controls.max_training_time_minutes", minutes, max_training_time_s / 60.0,
            "TASKSCHED_MAX_TRAINING_TIME_S",
        ))  # fmt: skip
        training_s = max_training_time_s
    return Limits(
        memory_mb=controls.max_memory_usage_mb,
        cpu_percent=cpu,
        worker_memory_mb=max(worker_max_memory_mb, 0.0),
        training_time_s=training_s,
        clamped=tuple(clamped),
    )


def defer_backoff_s(base_s: float, deferrals: int, cap_s: float = 300.0) -> float:
    """Exponential backoff for the ``deferrals``-th deferral (0-based), capped at ``cap_s``."""
    return float(min(base_s * (2 ** min(max(deferrals, 0), 16)), cap_s))


def _defer_or_skip(
    check: str, reason: str, now: float, deadline: float, base_s: float, deferrals: int
) -> Decision:
    remaining = deadline - now
    if remaining <= 0:
        return Decision(Action.SKIP, check, f"{reason}; gave up: the misfire grace ended")
    countdown = min(defer_backoff_s(base_s, deferrals), remaining)
    return Decision(Action.DEFER, check, reason, countdown_s=max(countdown, 0.05))


def check_lock_busy(
    policy: ConcurrencyPolicy,
    holder_run_id: str | None,
    now: float,
    deadline: float,
    backoff_base_s: float,
    deferrals: int,
) -> Decision:
    """The run lock is held by another run: skip, or wait (defer) until the grace ends."""
    reason = f"another run of this schedule holds the run lock ({holder_run_id or 'unknown'})"
    if policy is ConcurrencyPolicy.SKIP:
        return Decision(Action.SKIP, "run_lock", reason)
    return _defer_or_skip("run_lock", reason, now, deadline, backoff_base_s, deferrals)


def check_schedule(exists: bool, status: ScheduleStatus | None, switch_on: bool) -> Decision:
    """Check 3: the schedule still exists and is active, and the global switch is on."""
    if not exists:
        return Decision(Action.SKIP, "schedule", "the schedule no longer exists")
    if status is not ScheduleStatus.ACTIVE:
        state = status.value if status is not None else "unknown"
        return Decision(Action.SKIP, "schedule", f"the schedule is {state}")
    if not switch_on:
        return Decision(Action.SKIP, "schedule", "the scheduler is stopped (global switch off)")
    return Decision(Action.START, "schedule")


def cooldown_until(
    consecutive_failures: int, last_failure_at: float | None, controls: SafetyControls
) -> float | None:
    """When the cooldown ends; None with fewer failures in a row than allowed."""
    if consecutive_failures < controls.max_consecutive_failures or last_failure_at is None:
        return None
    return last_failure_at + controls.failure_cooldown_hours * 3600.0


def check_cooldown(
    consecutive_failures: int,
    last_failure_at: float | None,
    controls: SafetyControls,
    now: float,
    force: bool,
) -> Decision:
    """Check 4: after ``max_consecutive_failures`` failures in a row, skip until the cooldown ends.

    Computed from the counters and the current config, so a changed config applies at once.
    ``force`` bypasses it.
    """
    until = cooldown_until(consecutive_failures, last_failure_at, controls)
    if until is None or now >= until:
        return Decision(Action.START, "cooldown")
    reason = (
        f"in cooldown for {until - now:.0f}s more after {consecutive_failures} consecutive "
        f"failures (max {controls.max_consecutive_failures})"
    )
    if force:
        return Decision(Action.START, "cooldown", f"forced past: {reason}")
    return Decision(Action.SKIP, "cooldown", reason)


def check_resources(
    reading: HostReading,
    limits: Limits,
    now: float,
    deadline: float,
    backoff_base_s: float,
    deferrals: int,
    admitted: Sequence[Admitted] = (),
) -> Decision:
    """Check 5: this run's memory budget must fit with the runs already admitted, and the CPU
    be under its limit.

    * **The worker's cap** (``limits.worker_memory_mb``): the budgets of the runs this worker
      admitted plus this one's fit it. A budget over the cap alone never fits here.
    * **The memory available** (the host's, or its cgroup's when tighter): it covers this
      budget plus what the admitted runs were promised and do not use yet (budget minus their
      memory now): a run admitted a moment ago has allocated nothing, and one using its whole
      budget is already counted in what is available.

    A host that cannot DEFERs the run (any host may take it later) until ``deadline`` (its
    fire time plus the misfire grace), then it is skipped. ``force`` never bypasses this.
    """
    problems: list[str] = []
    budget, cap = limits.memory_mb, limits.worker_memory_mb
    mine = [a for a in admitted if a.this_worker]
    mine_mb = sum(a.budget_mb for a in mine)
    if cap and budget > cap:
        problems.append(
            f"the run's memory budget {budget:.0f} MB exceeds this worker's cap {cap:.0f} MB"
        )
    elif cap and mine_mb + budget > cap:
        problems.append(
            f"the budgets admitted on this worker ({mine_mb:.0f} MB for {len(mine)} run"
            f"{'s' if len(mine) != 1 else ''}) plus this run's {budget:.0f} MB exceed its cap "
            f"{cap:.0f} MB"
        )
    else:
        promised = sum(a.unused_mb for a in admitted)
        free = reading.memory_available_mb - promised
        if free < budget:
            where = "" if reading.memory_source == "host" else f" ({reading.memory_source})"
            held = (
                f", less {promised:.0f} MB promised to {len(admitted)} admitted run"
                f"{'s' if len(admitted) != 1 else ''} not using it yet,"
                if promised > 0
                else ""
            )
            problems.append(
                f"available memory {reading.memory_available_mb:.0f} MB{where}{held} is below "
                f"the run's budget {budget:.0f} MB"
            )
    if reading.cpu_percent is not None and reading.cpu_percent > limits.cpu_percent:
        problems.append(
            f"CPU use {reading.cpu_percent:.1f}% is over the limit {limits.cpu_percent:.1f}%"
        )
    if not problems:
        if not admitted:
            return Decision(Action.START, "resources")
        total = sum(a.budget_mb for a in admitted)
        return Decision(Action.START, "resources", f"{budget:.0f} MB admitted beside "
                        f"{len(admitted)} run{'s' if len(admitted) != 1 else ''} holding "
                        f"{total:.0f} MB on this host")  # fmt: skip
    reason = "; ".join(problems)
    return _defer_or_skip("resources", reason, now, deadline, backoff_base_s, deferrals)


def check_data(
    available: int, controls: SafetyControls, force: bool
) -> Decision:
    """Check 6: at least the minimum of new data (``force`` bypasses), use at most the maximum."""
    cap = controls.max_data_threshold if available > controls.max_data_threshold else None
    if available < controls.min_data_threshold:
        reason = f"{available} new samples, below the minimum {controls.min_data_threshold}"
        if not force:
            return Decision(Action.SKIP, "data", reason)
        return Decision(Action.START, "data", f"forced past: {reason}", max_samples=cap)
    detail = f"{available} new samples"
    if cap is not None:
        detail += f"; using at most {cap}"
    return Decision(Action.START, "data", detail, max_samples=cap)
