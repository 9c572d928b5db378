"""The `tasksched` entry point as a real process: the installed script, one-line errors."""

from __future__ import annotations

import json

from tests.conftest import Invoke
from tests.helpers import VENV_BIN


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


def test_bad_setting_in_the_environment(invoke_process: Invoke) -> None:
    res = invoke_process("schedule", "list", TASKSCHED_BEAT_LEASE_S="ten")
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        "Error: TASKSCHED_BEAT_LEASE_S: invalid value 'ten': Input should be a valid number, "
        "unable to parse string as a number"
    ]


def test_unreachable_redis_is_one_line_exit_1(invoke_process: Invoke) -> None:
    from tests.helpers import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    res = invoke_process("--redis-url", url, "schedule", "list")
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: redis: "), res.stderr
    assert url.split("//")[1] in lines[0]
