"""`tasksched dead-letters`: the table, tenant scope and JSON."""

from __future__ import annotations

import json

from tasksched.manager import SchedulerManager
from tests.conftest import Invoke


def test_dead_letters(invoke: Invoke, manager: SchedulerManager) -> None:
    from tasksched.store.notifications import NotificationStore

    assert invoke("dead-letters").stdout.strip() == "(none)"
    NotificationStore(manager.store).add_dead_letter(
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
