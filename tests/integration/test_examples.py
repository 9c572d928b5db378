"""examples/ and the seed's own snippets, run against a real `tasksched up`.

One stack for the module (embedded Redis, a worker, beat, the API), started as a user would
from a clean HOME; each example runs as its own process in a shell that sourced up.env. Then
every Python block of the seed document (tests/data/seed_scheduler_manager.md, a copy of the
guide users arrive with) runs as written, but for its import line (``from tasksched import``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, VENV_BIN, Proc, child_env, wait_for

EXAMPLES = ROOT / "examples"
SEED = ROOT / "tests" / "data" / "seed_scheduler_manager.md"
SEED_IMPORT = re.compile(r"from ai_karen_engine\.core\.response\.scheduler_manager import")


def _source(env_file: Path, home: Path) -> dict[str, str]:
    """The environment of a shell that ran `. up.env`."""
    env = child_env()
    env["HOME"] = str(home)
    out = subprocess.run(
        ["bash", "-c", f". {env_file} && env -0"], capture_output=True, text=True, check=True,
        env=env,
    ).stdout  # fmt: skip
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


@pytest.fixture(scope="module")
def up_shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running `tasksched up --no-demo`; yields the environment of a shell that sourced up.env."""
    home = tmp_path_factory.mktemp("home")
    env = child_env()
    env["HOME"] = str(home)
    env["XDG_STATE_HOME"] = str(home / "state")
    proc = Proc([str(VENV_BIN / "tasksched"), "up", "--api-port", "0", "--no-demo"], env,
                home / "up.log", cwd=home)  # fmt: skip
    try:
        wait_for(lambda: "ready." in proc.output(), 120, 0.2, what="tasksched up")
        yield _source(home / "state" / "tasksched" / "up.env", home)
    finally:
        if proc.alive():
            os.kill(proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.proc.wait(60)
        proc.stop()
    out = proc.log_path.read_text(errors="replace")
    assert "stopped: no process left running." in out, out


def _run(args: list[str], env: dict[str, str], timeout_s: float = 400) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout_s,
                          cwd=ROOT)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out, out
    return out


# (example, lines its output must contain)
EXPECTED = {
    "01_basic_schedule_management.py": [
        "scheduler running: True", "paused: paused", "resumed: active", "name='New Name'",
        "Success rate: 1/1", "schedules left for example-basic: 0",
    ],
    "02_strict_safety.py": [
        "max training time: 3600 s (60 min)", "gate validation:",
        "promoted: False, rolled back: True",
    ],
    "03_notifications.py": [
        "email: sent", "webhook: sent", "memory: sent", "(Authorization sent)",
        "notified: training run started", "feed: ['run_",
    ],
    "04_cron_guide.py": ["Every 6 hours", "Monday through Friday", "Every 15 seconds"],
    "05_error_handling_and_recovery.py": [
        "ValidationError: config.quality_threshold", "could not be created",
        "after the reset: 0 failures, in cooldown: False", "history: failures_reset",
    ],
    "06_production_pattern.py": [
        "same schedules after a second pass: True", "workers online: 1",
        "'scheduler_running': True", "secrets stay encrypted",
    ],
}  # fmt: skip


def test_every_example_is_tested() -> None:
    scripts = {p.name for p in EXAMPLES.glob("[0-9]*.py")}
    assert scripts == set(EXPECTED)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_against_tasksched_up(up_shell: dict[str, str], name: str) -> None:
    # `python` as the user types it: up.env put the venv's bin first on PATH
    out = _run(["python", str(EXAMPLES / name)], up_shell)
    print(out)
    for line in EXPECTED[name]:
        assert line in out, f"{line!r} missing from:\n{out}"
    if name == "05_error_handling_and_recovery.py":
        assert out.rstrip().splitlines()[-1].split(": ")[1].startswith("succeeded"), out


SEED_RUNNER = r"""
import ast, asyncio, inspect, json, sys, time
from tasksched import SchedulerManager, SafetyLevel, NotificationType, ScheduleStatus

blocks = json.load(open(sys.argv[1]))
# One session, as the guide reads: names a block defines stay for the next ones. The names the
# seed uses without defining them: the enums, its learner and memory service objects, and a
# schedule of "your-tenant" (made anew before each block, which may have deleted it).
ns = {"SafetyLevel": SafetyLevel, "NotificationType": NotificationType,
      "ScheduleStatus": ScheduleStatus, "your_learner": object(), "your_memory_service": object()}
admin = SchedulerManager()
for i, block in enumerate(blocks):
    for item in admin.list_schedules("your-tenant"):
        admin.delete_schedule(item["id"])
    ns["schedule_id"] = admin.create_training_schedule("your-tenant", "Daily Training", "0 2 * * *")
    ns.setdefault("scheduler", admin)
    # the seed's learner object triggers cycles; here that is the scheduler's job
    ns["autonomous_learner"] = ns["scheduler"]
    started = time.monotonic()
    code = compile(block, f"<seed block {i}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, ns)
    if inspect.iscoroutine(result):
        asyncio.run(result)
    print(f"seed block {i}: ok ({time.monotonic() - started:.1f} s)", flush=True)
for item in admin.list_schedules("your-tenant"):
    admin.delete_schedule(item["id"])
"""


def _seed_blocks() -> tuple[list[str], list[str]]:
    text = SEED.read_text(encoding="utf-8")
    runnable, not_python = [], []
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        block = SEED_IMPORT.sub("from tasksched import", block)
        try:
            compile(block, "<seed>", "exec", flags=0x2000)  # PyCF_ALLOW_TOP_LEVEL_AWAIT
        except SyntaxError:
            not_python.append(block)
            continue
        runnable.append(block)
    return runnable, not_python


@pytest.mark.timeout(600)
def test_every_python_snippet_of_the_seed_runs(up_shell: dict[str, str], tmp_path: Path) -> None:
    runnable, not_python = _seed_blocks()
    # the one block marked python that is not: the REST endpoints (HTTP lines)
    assert len(not_python) == 1 and "POST /api/scheduler/schedules" in not_python[0]
    assert len(runnable) >= 12
    assert any("await scheduler.start_scheduler()" in b for b in runnable)
    assert any("consecutive_failures=0" in b for b in runnable)
    blocks_file = tmp_path / "blocks.json"
    blocks_file.write_text(json.dumps(runnable))
    out = _run([sys.executable, "-c", SEED_RUNNER, str(blocks_file)], up_shell)
    print(out)
    assert out.count(": ok (") == len(runnable), out
    # what the seed prints, with real values
    assert re.search(r"Memory: [\d.]+ MB \([\d.]+%\)", out), out
    assert re.search(r"Success rate: \d+/\d+", out), out
    assert "SeedCompatibilityWarning" in out and "autonomous_learner" in out
