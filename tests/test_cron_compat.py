"""Forms cron libraries read differently: refused on write, and found in stored schedules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tasksched.cron.compat import (
    CronReading,
    StoredCron,
    ambiguous_terms,
    engine_name,
    meaning_changes,
    read,
    refuse_ambiguous,
)
from tasksched.errors import CronError, ValidationError
from tasksched.models import ScheduleSpec

# (expression, croniter 6's reading of the term, croniter 7's, what the message must offer)
CHANGED = [
    ("59/15 * * * *", "*/15", "59", ["'*/15'", "'59'"]),
    ("* * * * 6/1", "*", "6", ["'*'", "'6'"]),
    ("* * * * sat/1", "*", "6", ["'*'", "'6'"]),
    ("0 23/2 * * *", "*/2", "23", ["'*/2'", "'23'"]),
    ("0 0 31/10 * *", "*/10", "31", ["'*/10'", "'31'"]),
    ("0 0 1 dec/2 *", "*/2", "12", ["'*/2'", "'12'"]),
    ("* * * * * 59/20", "*/20", "59", ["'*/20'", "'59'"]),
]


@pytest.mark.parametrize(("expr", "old", "new", "offers"), CHANGED, ids=[c[0] for c in CHANGED])
def test_a_value_step_at_the_top_of_its_field_is_refused_with_both_meanings(
    expr: str, old: str, new: str, offers: list[str]
) -> None:
    (term,) = ambiguous_terms(expr)
    assert (term.croniter6, term.croniter7) == (old, new) and term.changed
    with pytest.raises(CronError) as exc:
        refuse_ambiguous(expr)
    assert exc.value.field == "cron_expression"
    msg = exc.value.message
    assert "croniter 6" in msg and "croniter 7" in msg
    assert all(o in msg for o in offers), msg


# Same meaning in croniter 6 and 7, still refused: other libraries and standard cron differ.
SAME = [
    ("5/15 * * * *", "'5-59/15'"),
    ("* 2/6 * * *", "'2-23/6'"),
    ("* * * * 1/2", "'1-6/2'"),
    ("59-59/15 * * * *", "'*/15' or '59'"),  # croniter reads a one-value top range as all
    ("* * * * 7/2", "'*/2' or '0'"),
]


@pytest.mark.parametrize(("expr", "offer"), SAME, ids=[s[0] for s in SAME])
def test_other_value_steps_are_refused_with_the_spelling_that_means_the_same(
    expr: str, offer: str
) -> None:
    (term,) = ambiguous_terms(expr)
    assert not term.changed
    with pytest.raises(CronError) as exc:
        refuse_ambiguous(expr)
    assert offer in exc.value.message


@pytest.mark.parametrize(
    "expr",
    ["*/15 * * * *", "5-59/15 * * * *", "0 0-23/6 * * *", "58-59/15 * * * *", "0 9 * * mon-fri",
     "@hourly", "* * * * * */15", "0 0 1,15 * *"],
)
def test_plain_forms_pass(expr: str) -> None:
    assert ambiguous_terms(expr) == []
    assert refuse_ambiguous(expr) == expr


def test_create_refuses_and_update_keeps_an_unchanged_stored_expression() -> None:
    with pytest.raises(ValidationError) as exc:
        ScheduleSpec(tenant_id="t", name="n", cron_expression="59/15 * * * *")
    assert exc.value.field == "cron_expression" and "croniter 7" in exc.value.message
    kept = ScheduleSpec.model_validate(
        {"tenant_id": "t", "name": "n", "cron_expression": "59/15 * * * *"},
        context={"stored_cron": "59/15 * * * *"},
    )
    assert kept.cron_expression == "59/15 * * * *"
    with pytest.raises(ValidationError):
        ScheduleSpec.model_validate(
            {"tenant_id": "t", "name": "n", "cron_expression": "* * * * 6/1"},
            context={"stored_cron": "59/15 * * * *"},
        )


def test_a_reading_round_trips_and_is_in_utc() -> None:
    r = read("30 2 * * *")
    assert r.engine == engine_name() and r.engine.startswith("croniter 7.")
    assert CronReading.from_text(r.to_text()) == r
    assert len(r.to_text()) < 80  # stored in every schedule's hash
    assert r.first[0] == 1767234600  # 2026-01-01T02:30:00Z, whatever the schedule's zone
    assert CronReading.from_text("") is None and CronReading.from_text("a|b|x") is None
    assert read("30 2 * * *").digest != read("30 3 * * *").digest


def test_meaning_changes_lists_old_forms_with_both_readings() -> None:
    stored = [
        StoredCron("old-59", "59/15 * * * *"),
        StoredCron("old-sat", "* * * * 6/1"),
        StoredCron("old-same", "5/15 * * * *"),  # same meaning in 6 and 7: not a finding
        StoredCron("plain", "*/5 * * * *"),
    ]
    found = {f.schedule_id: f for f in meaning_changes(stored)}
    assert set(found) == {"old-59", "old-sat"}
    f = found["old-59"]
    assert "croniter 6" in f.before and "*/15 * * * *" in f.before
    assert "2026-01-01 00:15:00" in f.before  # croniter 6: every 15 minutes
    assert "2026-01-01 00:59:00" in f.now  # croniter 7: minute 59 only
    assert "2026-01-03 00:00:00" in found["old-sat"].now  # Saturday only
    assert f.as_dict()["schedule_id"] == "old-59" and "59/15" in f.line()


def test_meaning_changes_compares_recorded_fire_times() -> None:
    recorded_elsewhere = replace(read("*/10 * * * *"), engine="croniter 8.0.0")
    stored = [
        StoredCron("same", "*/5 * * * *", read("*/5 * * * *")),
        StoredCron("moved", "*/5 * * * *", recorded_elsewhere),
        # Recorded and unchanged: an old form is no finding once its reading is recorded.
        StoredCron("recorded-59", "59/15 * * * *", read("59/15 * * * *")),
    ]
    (f,) = meaning_changes(stored)
    assert f.schedule_id == "moved" and "croniter 8.0.0" in f.before
    assert engine_name() in f.now


def test_meaning_changes_lists_an_expression_the_engine_now_refuses() -> None:
    def refusing(expr: str) -> CronReading:
        raise CronError("cron_expression", "not any more")

    (f,) = meaning_changes([StoredCron("x", "*/5 * * * *")], current=refusing)
    assert f.reason == "no longer valid" and "not any more" in f.now


def test_a_new_engine_reading_differently_is_found() -> None:
    # As if an upgrade started reading */5 as */10: the recorded reading shows it.
    def upgraded(expr: str) -> CronReading:
        return replace(read("*/10 * * * *"), engine="croniter 99")

    (f,) = meaning_changes([StoredCron("s", "*/5 * * * *", read("*/5 * * * *"))], upgraded)
    assert "croniter 99" in f.now and "00:05:00" in f.before


def test_preview_refuses_like_create() -> None:
    from tasksched.manager import SchedulerManager

    with pytest.raises(CronError) as exc:
        SchedulerManager.preview_cron("59/15 * * * *")
    assert exc.value.field == "cron_expression" and "'59'" in exc.value.message
    assert SchedulerManager.preview_cron("59 * * * *", count=1)["next_fire_times"]
