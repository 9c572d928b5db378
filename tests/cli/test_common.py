"""Bad input: exit code 2 and ONE line on stderr, ``Error: <field>: <message>``, no traceback."""

from __future__ import annotations

import pytest

from tasksched.manager import SchedulerManager
from tests.conftest import Invoke

CREATE = ("schedule", "create", "--tenant", "acme", "--name", "n")

BAD_INPUT = [
    # (argv, the field the line must name)
    ((*CREATE, "--cron", "* * * *"), "cron_expression"),
    ((*CREATE, "--cron", "61 * * * *"), "cron_expression"),
    ((*CREATE, "--cron", "0 0 30 2 *"), "cron_expression"),
    ((*CREATE, "--cron", "0 2 * * *", "--tz", "Mars/Olympus"), "config.timezone"),
    (("schedule", "create", "--tenant", "a b", "--name", "n", "--cron", "0 2 * * *"), "tenant_id"),
    ((*CREATE, "--cron", "0 2 * * *", "--config", "{nope"), "config"),
    ((*CREATE, "--cron", "0 2 * * *", "--config", "[1, 2]"), "config"),
    ((*CREATE, "--cron", "0 2 * * *", "--config", "@/does/not/exist.json"), "config"),
    ((*CREATE, "--cron", "0 2 * * *", "--config", '{"quality_threshold": 7}'),
     "config.quality_threshold"),
    ((*CREATE, "--cron", "0 2 * * *", "--config", '{"surprise": 1}'), "config.surprise"),
    ((*CREATE, "--cron", "0 2 * * *", "--learner", "not a path"), "config.learner"),
    ((*CREATE, "--cron", "0 2 * * *", "--learner", "subprocess:Popen"), "config.learner"),
    ((*CREATE, "--cron", "0 2 * * *", "--learner", "unregistered"), "config.learner"),
    ((*CREATE, "--cron", "0 2 * * *", "--config", '{"learner_options": {"a": "\\ud800"}}'),
     "config.learner_options.a"),
    ((*CREATE, "--cron", "0 2 * * *", "--config", "[" * 100000 + "]" * 100000), "config"),
    ((*CREATE, "--cron", "0 2 * * *", "--notify", "pigeon"), "config.notifications.types.0"),
    ((*CREATE, "--cron", "0 2 * * *", "--safety-level", "reckless"), "--safety-level"),
    ((*CREATE, "--cron", "0 2 * * *", "--jitter-s", "soon"), "--jitter-s"),
    (CREATE, "--cron"),
    (("schedule", "show", "missing-id"), "schedule_id"),
    (("schedule", "pause", "missing-id"), "schedule_id"),
    (("schedule", "resume", "missing-id"), "schedule_id"),
    (("schedule", "delete", "missing-id"), "schedule_id"),
    (("schedule", "update", "missing-id", "--name", "x"), "schedule_id"),
    (("schedule", "runs", "missing-id"), "schedule_id"),
    (("schedule", "show"), "schedule_id"),
    (("run", "missing-id"), "schedule_id"),
    (("cron", "every day"), "cron_expression"),
    (("cron", "0 2 * * *", "--tz", "Nowhere/Land"), "timezone"),
    (("cron", "0 2 * * *", "-n", "0"), "n"),
    (("cron", "0 2 * * *", "-n", "many"), "-n"),
    (("import", "/does/not/exist.json"), "file"),
    (("test-notification",), "schedule"),
    (("test-notification", "--config", '{"types": ["email"]}'), "config"),
]


@pytest.mark.parametrize(("argv", "field"), BAD_INPUT, ids=[" ".join(a[0][-3:]) for a in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(
    invoke: Invoke, argv: tuple[str, ...], field: str
) -> None:
    res = invoke(*argv)
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert len(res.err_lines) == 1, res.stderr
    line = res.err_lines[0]
    assert line.startswith(f"Error: {field}"), line
    assert "Traceback" not in res.stderr
    assert res.stdout == ""


def test_update_with_nothing_to_change(invoke: Invoke, manager: SchedulerManager) -> None:
    sid = manager.create_training_schedule(
        "acme", "n", "0 2 * * *"
    )
    res = invoke("schedule", "update", sid)
    assert res.exit_code == 2
    assert res.err_lines == ["Error: nothing to change: give at least one option"]


def test_bad_import_document_names_the_field(invoke: Invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "doc.json"
    path.write_text('{"format": "tasksched.export", "version": 1, "schedules": [{"id": "x", '
                    '"tenant_id": "acme", "name": "n", "cron_expression": "nope"}]}')  # fmt: skip
    res = invoke("import", str(path))
    assert res.exit_code == 2
    assert res.err_lines[0].startswith("Error: schedules[0].cron_expression: "), res.stderr
    assert len(res.err_lines) == 1
