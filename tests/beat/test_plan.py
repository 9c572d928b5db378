"""Pure parts: the misfire plan under truncation and the claim plan for odd rows."""

from __future__ import annotations

from tasksched.beat.plan import plan_claims
from tasksched.cron import plan_due


def test_run_once_runs_one_catch_up_even_when_the_plan_is_chunked() -> None:
    # 2,500 missed per-second fires, examined 1,000 at a time: one run in total, the latest.
    due, now = 0.0, 2500.5
    runs: list[float] = []
    missed = 0
    while due <= now:
        plan = plan_due("* * * * * *", "UTC", due, now, "run_once", 0.0, max_fires=1000)
        runs.extend(plan.run)
        missed += len(plan.missed)
        due = plan.next_fire
    assert runs == [2500.0]
    assert missed == 2500


def test_skip_and_run_all_are_unchanged_by_chunking() -> None:
    for policy, n_runs in (("skip", 0), ("run_all", 31)):
        due, now, runs = 0.0, 30.5, 0
        while due <= now:
            plan = plan_due("* * * * * *", "UTC", due, now, policy, 0.0, max_fires=7)
            runs += len(plan.run)
            due = plan.next_fire
        assert runs == n_runs


def test_plan_claims_drops_deleted_and_paused_and_parks_unreadable() -> None:
    due = [("gone", 10.0), ("paused", 10.0), ("bad", 10.0), ("ok", 10.0)]
    rows: list[list[str | None]] = [
        [None] * 7,
        ["* * * * * *", "UTC", "", "skip:300.0", "3", "t", "paused"],
        ["not a cron", "UTC", "", "skip:300.0", "2", "t", "active"],
        ["* * * * * *", "UTC", "", "skip:300.0", "5", "t", "active"],
    ]
    gone, paused, bad, ok = plan_claims(due, rows, now=10.5, default_grace_s=300.0)
    assert (gone.new_score, gone.version) == (None, "")
    assert (paused.new_score, paused.version) == (None, "3")
    assert bad.new_score == 10.5 + 300.0 and bad.runs == []
    assert ok.new_score == 11.0 and ok.version == "5" and ok.tenant_id == "t"
    assert [(r[0], r[1], r[2]) for r in ok.runs] == [("ok-10", 10.0, "cron")]


def test_plan_claims_stops_at_its_deadline_after_one_entry() -> None:
    due = [(f"s{i}", 10.0) for i in range(5)]
    rows = [["* * * * * *", "Europe/Berlin", "", "skip:300.0", "1", "t", "active"]] * 5
    assert len(plan_claims(due, rows, now=10.5, default_grace_s=300.0, deadline=0.0)) == 1
    assert len(plan_claims(due, rows, now=10.5, default_grace_s=300.0, deadline=None)) == 5
