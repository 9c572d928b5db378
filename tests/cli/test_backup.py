"""`tasksched export` and `tasksched import`: round trip with secrets kept encrypted."""

from __future__ import annotations

import json
from pathlib import Path

from tasksched.manager import SchedulerManager
from tests.conftest import Invoke


def test_export_import_round_trip_keeps_secrets_encrypted(
    invoke: Invoke, manager: SchedulerManager, tmp_path: Path
) -> None:
    sid = manager.create_training_schedule(
        "acme", "hooked", "0 3 * * *",
        {"notifications": {"types": ["webhook"], "webhook_url": "https://h.example.com/",
                           "webhook_secret": "very-secret-value"}},
    )  # fmt: skip
    other = manager.create_training_schedule("globex", "plain", "0 4 * * *")
    path = tmp_path / "backup.json"
    res = invoke("export", str(path))
    assert res.exit_code == 0 and "exported 2 schedules" in res.stderr
    text = path.read_text()
    assert "very-secret-value" not in text
    doc = json.loads(text)
    assert {s["id"] for s in doc["schedules"]} == {sid, other}

    stdout = invoke("export", "-", "--tenant", "globex")
    assert [s["id"] for s in json.loads(stdout.stdout)["schedules"]] == [other]

    manager.delete_schedule(sid)
    manager.delete_schedule(other)
    res = invoke("import", str(path))
    assert res.exit_code == 0 and res.stdout.strip() == "imported 2 schedules"
    restored = manager.store.schedules.config_with_secrets(manager.store.schedules.get(sid))
    assert restored.notifications.webhook_secret is not None
    assert restored.notifications.webhook_secret.get_secret_value() == "very-secret-value"

    refused = invoke("import", str(path), "--no-replace")
    assert refused.exit_code == 2 and refused.err_lines[0].startswith("Error: schedules: ")
    piped = invoke("import", "-", "--tenant", "globex",
                   input=json.dumps(json.loads(stdout.stdout)))  # fmt: skip
    assert piped.exit_code == 0 and piped.stdout.strip() == "imported 1 schedules"
