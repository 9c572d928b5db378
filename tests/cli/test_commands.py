"""`tasksched cron|export|import|status|start|stop` and the entry point as a real process."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tasksched.cron import next_fire_times
from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tests.cli.conftest import Invoke
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import VENV_BIN


def _manager(redis_url: str) -> SchedulerManager:
    return SchedulerManager(settings=Settings(redis_url=redis_url, secret_key=TEST_SECRET_KEY))


def test_cron_preview_seconds_field_last(invoke: Invoke) -> None:
    res = invoke("cron", "* * * * * */10", "-n", "4", "--json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["description"] == "Every 10 seconds"
    times = [datetime.fromisoformat(t) for t in data["next_fire_times_utc"]]
    assert len(times) == 4
    assert all(t.second % 10 == 0 for t in times)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [10] * 3


def test_cron_preview_text_in_a_timezone(invoke: Invoke) -> None:
    res = invoke("cron", "0 2 * * *", "--tz", "America/New_York", "-n", "3")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].startswith("At 02:00") and "America/New_York" in lines[0]
    assert len(lines) == 4
    # the listed local times are the engine's own, in order
    shown = [datetime.fromisoformat(line.split()[0]) for line in lines[1:]]
    start = shown[0].astimezone(UTC) - timedelta(seconds=1)
    expected = next_fire_times("0 2 * * *", "America/New_York", start, 3)
    assert shown == expected
    assert all(t.hour == 2 and t.minute == 0 for t in shown)


def test_export_import_round_trip_keeps_secrets_encrypted(
    invoke: Invoke, redis_url: str, tmp_path: Path
) -> None:
    mgr = _manager(redis_url)
    sid = mgr.create_training_schedule(
        "acme", "hooked", "0 3 * * *",
        {"notifications": {"types": ["webhook"], "webhook_url": "https://h.example.com/",
                           "webhook_secret": "very-secret-value"}},
    )  # fmt: skip
    other = mgr.create_training_schedule("globex", "plain", "0 4 * * *")
    path = tmp_path / "backup.json"
    res = invoke("export", str(path))
    assert res.exit_code == 0 and "exported 2 schedules" in res.stderr
    text = path.read_text()
    assert "very-secret-value" not in text
    doc = json.loads(text)
    assert {s["id"] for s in doc["schedules"]} == {sid, other}

    stdout = invoke("export", "-", "--tenant", "globex")
    assert [s["id"] for s in json.loads(stdout.stdout)["schedules"]] == [other]

    mgr.delete_schedule(sid)
    mgr.delete_schedule(other)
    res = invoke("import", str(path))
    assert res.exit_code == 0 and res.stdout.strip() == "imported 2 schedules"
    restored = mgr.store.schedules.config_with_secrets(mgr.store.schedules.get(sid))
    assert restored.notifications.webhook_secret is not None
    assert restored.notifications.webhook_secret.get_secret_value() == "very-secret-value"

    refused = invoke("import", str(path), "--no-replace")
    assert refused.exit_code == 2 and refused.err_lines[0].startswith("Error: schedules: ")
    piped = invoke("import", "-", "--tenant", "globex",
                   input=json.dumps(json.loads(stdout.stdout)))  # fmt: skip
    assert piped.exit_code == 0 and piped.stdout.strip() == "imported 1 schedules"


def test_start_stop_and_status(invoke: Invoke, redis_url: str) -> None:
    mgr = _manager(redis_url)
    mgr.create_training_schedule("acme", "a", "0 3 * * *")
    paused = mgr.create_training_schedule("acme", "b", "0 3 * * *")
    mgr.pause_schedule(paused)
    assert invoke("stop").stdout.strip() == "dispatching: OFF"
    assert mgr.scheduler_state()["enabled"] is False
    text = invoke("status")
    assert text.exit_code == 0
    assert "OFF" in text.stdout and "beat leader:" in text.stdout
    assert "active=1" in text.stdout and "paused=1" in text.stdout
    assert invoke("start").stdout.strip() == "dispatching: on"
    data = json.loads(invoke("status", "--json").stdout)
    assert data["enabled"] is True
    assert data["schedules"]["active"] == 1 and data["schedules"]["paused"] == 1


def test_entry_point_as_a_process(invoke_process: Invoke, redis_url: str) -> None:
    created = invoke_process("schedule", "create", "--tenant", "acme", "--name", "proc",
                             "--cron", "*/5 * * * *")  # fmt: skip
    assert created.exit_code == 0, created.stderr
    sid = created.stdout.strip()
    listed = invoke_process("schedule", "list", "--json")
    assert [s["id"] for s in json.loads(listed.stdout)] == [sid]
    bad = invoke_process("schedule", "create", "--tenant", "acme", "--name", "x", "--cron", "nope")
    assert bad.exit_code == 2
    assert bad.stderr.splitlines() == [
        "Error: cron_expression: 'nope' has 1 fields; expected 5 (minute hour day-of-month "
        "month day-of-week) or 6 (with seconds last)"
    ]


def test_installed_script(invoke_process: Invoke) -> None:
    import subprocess

    script = VENV_BIN / "tasksched"
    assert script.exists(), "pip install -e . installs the `tasksched` script"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "tasksched, version 0.1.0"
    helped = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    for command in ("up", "api", "schedule", "run", "status", "cron", "export", "import",
                    "test-notification"):  # fmt: skip
        assert f"  {command} " in helped.stdout, command


def test_run_wait_times_out_without_a_worker(invoke: Invoke, redis_url: str) -> None:
    sid = _manager(redis_url).create_training_schedule("acme", "nobody runs it", "0 3 * * *")
    res = invoke("run", sid, "--wait", "--timeout-s", "0.5")
    assert res.exit_code == 4
    assert res.err_lines[0].split()[2] == "queued"
    assert res.err_lines[-1].startswith("Error: timeout_s: run ")
    run_id = res.err_lines[0].split()[1]
    assert _manager(redis_url).get_run(run_id)["status"] == "queued"


def test_dead_letters(invoke: Invoke, redis_url: str) -> None:
    from tasksched.store.notifications import NotificationStore

    mgr = _manager(redis_url)
    assert invoke("dead-letters").stdout.strip() == "(none)"
    NotificationStore(mgr.store).add_dead_letter(
        {"channel": "webhook", "event": "run_failed", "tenant_id": "acme", "run_id": "s-1",
         "error": "HTTP 500", "attempts": 6, "time": 1700000000.0}
    )  # fmt: skip
    text = invoke("dead-letters")
    assert text.stdout.splitlines()[0].split()[:3] == ["TIME", "CHANNEL", "EVENT"]
    row = text.stdout.splitlines()[1]
    for value in ("2023-11-14 22:13:20 UTC", "webhook", "run_failed", "acme", "s-1", "6",
                  "HTTP 500"):  # fmt: skip
        assert value in row
    assert invoke("dead-letters", "--tenant", "globex").stdout.strip() == "(none)"
    assert json.loads(invoke("dead-letters", "--json").stdout)[0]["attempts"] == 6
