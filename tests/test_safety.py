"""The pure start/skip/defer decisions, as tables."""

from __future__ import annotations

import pytest

from tasksched import safety
from tasksched.models import ConcurrencyPolicy, SafetyControls, ScheduleStatus
from tasksched.safety import Action, HostReading

NOW = 1_000_000.0


def controls(**kw: object) -> SafetyControls:
    return SafetyControls.model_validate({"level": "moderate", **kw})


@pytest.mark.parametrize(
    ("exists", "status", "switch", "action", "words"),
    [
        (True, ScheduleStatus.ACTIVE, True, Action.START, ""),
        (False, None, True, Action.SKIP, "no longer exists"),
        (True, ScheduleStatus.PAUSED, True, Action.SKIP, "paused"),
        (True, ScheduleStatus.ACTIVE, False, Action.SKIP, "global switch off"),
        (True, ScheduleStatus.PAUSED, False, Action.SKIP, "paused"),
    ],
)
def test_check_schedule(
    exists: bool, status: ScheduleStatus | None, switch: bool, action: Action, words: str
) -> None:
    d = safety.check_schedule(exists, status, switch)
    assert d.action is action
    assert d.check == "schedule"
    assert words in d.reason


@pytest.mark.parametrize(
    ("failures", "last_failure_ago_s", "force", "action", "words"),
    [
        (0, None, False, Action.START, ""),
        (2, 10.0, False, Action.START, ""),  # under max (3)
        (3, 10.0, False, Action.SKIP, "in cooldown"),
        (5, 10.0, False, Action.SKIP, "5 consecutive failures"),
        (3, 10.0, True, Action.START, "forced past"),
        (3, 3600.0 + 1, False, Action.START, ""),  # cooldown (1 h) over
        (3, 3600.0 - 1, False, Action.SKIP, "in cooldown for 1s"),
        (3, None, False, Action.START, ""),  # no failure time recorded: no cooldown
    ],
)
def test_check_cooldown(
    failures: int, last_failure_ago_s: float | None, force: bool, action: Action, words: str
) -> None:
    c = controls(max_consecutive_failures=3, failure_cooldown_hours=1.0)
    last = None if last_failure_ago_s is None else NOW - last_failure_ago_s
    d = safety.check_cooldown(failures, last, c, NOW, force)
    assert d.action is action
    assert words in d.reason


def test_cooldown_until_uses_current_config() -> None:
    c = controls(max_consecutive_failures=2, failure_cooldown_hours=0.5)
    assert safety.cooldown_until(1, NOW, c) is None
    assert safety.cooldown_until(2, NOW, c) == NOW + 1800.0


@pytest.mark.parametrize(
    (
        "budget_mb", "worker_cap_mb", "available_mb", "cpu", "cpu_limit", "worker_cpu", "action",
        "words",
    ),
    [
        (1000, 0, 8000, 10.0, 80, 0, Action.START, ""),
        (1000, 4000, 8000, 10.0, 80, 0, Action.START, ""),
        (1000, 500, 8000, 10.0, 80, 0, Action.DEFER, "exceeds this worker's cap 500 MB"),
        (1000, 0, 900, 10.0, 80, 0, Action.DEFER, "available memory 900 MB"),
        (1000, 0, 8000, 85.0, 80, 0, Action.DEFER, "CPU use 85.0% is over the limit 80.0%"),
        (1000, 0, 8000, 50.0, 80, 40, Action.DEFER, "over the limit 40.0%"),  # worker cap wins
        (1000, 0, 8000, 30.0, 80, 40, Action.START, ""),
        (1000, 0, 8000, None, 80, 0, Action.START, ""),  # no CPU sample yet
        (1000, 500, 100, 99.0, 80, 0, Action.DEFER, "; CPU use"),  # both problems named
    ],
)
def test_check_resources(
    budget_mb: float,
    worker_cap_mb: float,
    available_mb: float,
    cpu: float | None,
    cpu_limit: float,
    worker_cpu: float,
    action: Action,
    words: str,
) -> None:
    c = controls(max_memory_usage_mb=budget_mb, max_cpu_usage_percent=cpu_limit)
    limits = safety.effective_limits(c, worker_cap_mb, worker_cpu)
    d = safety.check_resources(HostReading(available_mb, cpu), limits, NOW, NOW + 300, 5.0, 0)
    assert d.action is action
    assert words in d.reason
    if action is Action.DEFER:
        assert d.countdown_s == 5.0


@pytest.mark.parametrize(
    ("deferrals", "left_s", "action", "countdown_s"),
    [
        (0, 300.0, Action.DEFER, 5.0),
        (1, 300.0, Action.DEFER, 10.0),
        (3, 300.0, Action.DEFER, 40.0),
        (3, 12.0, Action.DEFER, 12.0),  # never past the deadline
        (0, 0.0, Action.SKIP, 0.0),  # the grace is over: skipped
        (4, -5.0, Action.SKIP, 0.0),
    ],
)
def test_resource_deferral_backoff_until_grace_ends(
    deferrals: int, left_s: float, action: Action, countdown_s: float
) -> None:
    c = controls(max_memory_usage_mb=1000)
    limits = safety.effective_limits(c, 100, 0)
    d = safety.check_resources(HostReading(8000, 1.0), limits, NOW, NOW + left_s, 5.0, deferrals)
    assert d.action is action
    assert d.countdown_s == pytest.approx(countdown_s)
    if action is Action.SKIP:
        assert "misfire grace ended" in d.reason


@pytest.mark.parametrize(
    ("available", "force", "action", "max_samples", "words"),
    [
        (500, False, Action.START, None, "500 new samples"),
        (99, False, Action.SKIP, None, "below the minimum 100"),
        (99, True, Action.START, None, "forced past"),
        (0, True, Action.START, None, "forced past"),
        (100, False, Action.START, None, ""),
        (20000, False, Action.START, 10000, "using at most 10000"),
        (10000, False, Action.START, None, ""),
    ],
)
def test_check_data(
    available: int, force: bool, action: Action, max_samples: int | None, words: str
) -> None:
    c = controls(min_data_threshold=100, max_data_threshold=10000)
    d = safety.check_data(available, c, force)
    assert d.action is action
    assert d.max_samples == max_samples
    assert words in d.reason


@pytest.mark.parametrize(
    ("policy", "left_s", "action"),
    [
        (ConcurrencyPolicy.SKIP, 300.0, Action.SKIP),
        (ConcurrencyPolicy.WAIT, 300.0, Action.DEFER),
        (ConcurrencyPolicy.WAIT, 0.0, Action.SKIP),
    ],
)
def test_check_lock_busy(policy: ConcurrencyPolicy, left_s: float, action: Action) -> None:
    d = safety.check_lock_busy(policy, "other-run", NOW, NOW + left_s, 2.0, 0)
    assert d.action is action
    assert "other-run" in d.reason
    assert d.check == "run_lock"


def test_backoff_is_capped() -> None:
    assert safety.defer_backoff_s(5.0, 0) == 5.0
    assert safety.defer_backoff_s(5.0, 2) == 20.0
    assert safety.defer_backoff_s(5.0, 50) == 300.0


def test_decision_as_dict() -> None:
    d = safety.Decision(Action.DEFER, "resources", "busy", countdown_s=2.5)
    assert d.as_dict() == {"check": "resources", "ok": False, "detail": "busy", "countdown_s": 2.5}
    assert safety.Decision(Action.START, "schedule").as_dict() == {"check": "schedule", "ok": True}


@pytest.mark.parametrize(
    ("minutes", "cpu", "worker_cpu", "cap_s", "training_s", "applied_cpu", "clamped"),
    [
        (60, 80, 0, 0, 3600.0, 80, []),  # no caps
        (60, 80, 0, 7200, 3600.0, 80, []),  # under the cap: as stored
        (60, 80, 0, 3600, 3600.0, 80, []),  # at the cap
        (90, 80, 0, 3600, 3600.0, 80,
         [("safety_controls.max_training_time_minutes", 90, 60.0,
           "TASKSCHED_MAX_TRAINING_TIME_S")]),
        (60, 80, 50, 0, 3600.0, 50,
         [("safety_controls.max_cpu_usage_percent", 80, 50, "TASKSCHED_WORKER_MAX_CPU_PERCENT")]),
        (60, 40, 50, 0, 3600.0, 40, []),  # the schedule's is already lower
        (90, 80, 50, 60, 60.0, 50, [("safety_controls.max_cpu_usage_percent", 80, 50, ""),
                                     ("safety_controls.max_training_time_minutes", 90, 1.0, "")]),
    ],
)  # fmt: skip
def test_a_worker_clamps_stored_limits_to_its_caps_and_says_which(
    minutes: float,
    cpu: float,
    worker_cpu: float,
    cap_s: float,
    training_s: float,
    applied_cpu: float,
    clamped: list[tuple[str, float, float, str]],
) -> None:
    c = controls(max_training_time_minutes=minutes, max_cpu_usage_percent=cpu)
    limits = safety.effective_limits(c, 0, worker_cpu, cap_s)
    assert limits.training_time_s == training_s
    assert limits.cpu_percent == applied_cpu
    got = [(k.field, k.stored, k.applied, k.cap) for k in limits.clamped]
    assert [g[:3] for g in got] == [w[:3] for w in clamped]
    for g, w in zip(got, clamped, strict=True):
        assert not w[3] or g[3] == w[3]
    assert all(set(k.as_dict()) == {"field", "stored", "applied", "cap"} for k in limits.clamped)


A = safety.Admitted


@pytest.mark.parametrize(
    ("budget", "cap", "available", "admitted", "action", "words"),
    [
        # The worker's cap: its own admitted budgets plus this one.
        (1000, 1500, 8000, [], Action.START, ""),
        (1000, 1500, 8000, [A("r1", 1000, 900)], Action.DEFER,
         "the budgets admitted on this worker (1000 MB for 1 run) plus this run's 1000 MB "
         "exceed its cap 1500 MB"),
        (500, 1500, 8000, [A("r1", 1000, 900)], Action.START, "admitted beside 1 run"),
        (500, 1500, 8000, [A("r1", 600), A("r2", 600)], Action.DEFER, "(1200 MB for 2 runs)"),
        # Another worker's runs on this host do not count against this worker's cap...
        (1000, 1500, 8000, [A("r1", 1000, 1000, this_worker=False)], Action.START, ""),
        # ...but what they were promised and do not use yet counts against available memory.
        (1000, 0, 2400, [A("r1", 2000, 500, this_worker=False)], Action.DEFER,
         "available memory 2400 MB, less 1500 MB promised to 1 admitted run not using it "
         "yet, is below the run's budget 1000 MB"),
        (1000, 0, 2500, [A("r1", 2000, 500, this_worker=False)], Action.START, ""),  # just fits
        (1000, 0, 1500, [A("r1", 2000, 1600)], Action.START, ""),  # it uses most: counted
        (1000, 0, 3000, [A("r1", 1000), A("r2", 1000)], Action.START, ""),  # 3000-2000 fits
        (1000, 0, 2999, [A("r1", 1000), A("r2", 1000)], Action.DEFER, "2 admitted runs"),
        (1000, 0, 900, [], Action.DEFER, "available memory 900 MB is below"),
        (2000, 1000, 8000, [], Action.DEFER, "exceeds this worker's cap 1000 MB"),
    ],
)  # fmt: skip
def test_admission_adds_up(
    budget: float,
    cap: float,
    available: float,
    admitted: list[safety.Admitted],
    action: Action,
    words: str,
) -> None:
    c = controls(max_memory_usage_mb=budget, max_cpu_usage_percent=100)
    limits = safety.effective_limits(c, cap, 0)
    d = safety.check_resources(HostReading(available, 10.0), limits, NOW, NOW + 300, 5.0, 0,
                               admitted)  # fmt: skip
    assert d.action is action, d.reason
    assert words in d.reason


def test_two_2_gb_runs_in_a_3_gb_container() -> None:
    """The issue's case: the container's limit is 3 GB, nothing used yet, two 2 GB runs."""
    c = controls(max_memory_usage_mb=2048, max_cpu_usage_percent=100)
    limits = safety.effective_limits(c, 0, 0)
    reading = HostReading(3072, 5.0, memory_limit_mb=3072,
                          memory_source="cgroup v2 memory.max (/sys/fs/cgroup)")  # fmt: skip
    first = safety.check_resources(reading, limits, NOW, NOW + 300, 5.0, 0, [])
    assert first.ok
    second = safety.check_resources(reading, limits, NOW, NOW + 300, 5.0, 0, [A("r1", 2048, 0)])
    assert second.action is Action.DEFER
    assert "(cgroup v2 memory.max (/sys/fs/cgroup))" in second.reason
