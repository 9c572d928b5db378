"""`tasksched start|stop|status`: the global switch and the status summary."""

from __future__ import annotations

import json

from tasksched.manager import SchedulerManager
from tests.conftest import Invoke


def test_start_stop_and_status(invoke: Invoke, manager: SchedulerManager) -> None:
    manager.create_training_schedule("acme", "a", "0 3 * * *")
    paused = manager.create_training_schedule("acme", "b", "0 3 * * *")
    manager.pause_schedule(paused)
    assert invoke("stop").stdout.strip() == "dispatching: OFF"
    assert manager.scheduler_state()["enabled"] is False
    text = invoke("status")
    assert text.exit_code == 0
    assert "OFF" in text.stdout and "beat leader:" in text.stdout
    assert "active=1" in text.stdout and "paused=1" in text.stdout
    assert invoke("start").stdout.strip() == "dispatching: on"
    data = json.loads(invoke("status", "--json").stdout)
    assert data["enabled"] is True
    assert data["schedules"]["active"] == 1 and data["schedules"]["paused"] == 1


def test_status_prints_humane_numbers(invoke: Invoke, manager: SchedulerManager) -> None:
    manager.store.control.write_heartbeat(
        "w1@h1",
        {"ts": manager.store.time(), "cpu_percent": 37.25, "memory_available_mb": 23320.5,
         "memory_total_mb": 24000.0},
    )  # fmt: skip
    out = invoke("status").stdout
    assert "e+" not in out, out
    assert "22.8 GB of 23.4 GB" in out and "37%" in out
    assert "runs:" in out
