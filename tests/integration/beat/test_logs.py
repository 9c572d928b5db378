"""Beat's logs follow the process's level: ``celery beat --loglevel`` or TASKSCHED_LOG_LEVEL;
one INFO line per tick that dispatched, the per-run lines at DEBUG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasksched.manager import SchedulerManager
from tasksched.store import Store
from tests.helpers import wait_for
from tests.integration.beat.conftest import BeatProcs, published_run_ids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def _events(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line).get("event", ""))
    return out


@pytest.mark.parametrize(
    ("level", "env", "dispatch_lines", "tick_lines"),
    [
        ("WARNING", {}, False, False),
        ("INFO", {}, False, True),
        ("WARNING", {"TASKSCHED_LOG_LEVEL": "DEBUG"}, True, True),
    ],
    ids=["loglevel-warning", "loglevel-info", "env-debug"],
)
def test_beat_logs_at_the_process_level(
    tmp_path: Path, real_store: Store, redis_url: str, level: str, env: dict[str, str],
    dispatch_lines: bool, tick_lines: bool,
) -> None:  # fmt: skip
    beats = BeatProcs(tmp_path, redis_url)
    try:
        proc = beats.start("logs", loglevel=level, **env)
        wait_for(lambda: real_store.redis.get(real_store.keys.beat_lock), 20, what="a leader")
        mgr = SchedulerManager(store=real_store)
        for i in range(30):
            mgr.create_training_schedule("acme", f"s{i}", "* * * * * *")
        wait_for(lambda: len(published_run_ids(redis_url)) >= 60, 10, what="dispatches")
    finally:
        beats.stop_all()
    events = _events(proc.log_path.read_text(errors="replace"))
    assert ("run.dispatched" in events) is dispatch_lines
    assert ("beat.tick" in events) is tick_lines
    if tick_lines:
        # One summary per tick, not one per run: far fewer lines than runs dispatched.
        assert events.count("beat.tick") < len(published_run_ids(redis_url)) / 10
