"""`tasksched schedule ...` against a real redis-server: the full life of a schedule."""

from __future__ import annotations

import json

from tasksched.manager import SchedulerManager
from tests.conftest import Invoke


def test_create_prints_the_id_and_stores_every_flag(
    invoke: Invoke, manager: SchedulerManager
) -> None:
    res = invoke(
        "schedule", "create", "--tenant", "acme", "--name", "nightly", "--cron", "0 2 * * *",
        "--tz", "Europe/Paris", "--safety-level", "strict", "--learner", "demo",
        "--notify", "log,memory", "--misfire", "skip", "--jitter-s", "30",
        "--config", '{"quality_threshold": 0.95, "learner_options": {"n": 3}}',
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    sid = res.stdout.strip()
    status = manager.get_schedule_status(sid)
    assert status["tenant_id"] == "acme"
    assert status["name"] == "nightly"
    assert status["cron_expression"] == "0 2 * * *"
    assert status["timezone"] == "Europe/Paris"
    cfg = status["config"]
    assert cfg["safety_controls"]["level"] == "strict"
    assert cfg["quality_threshold"] == 0.95
    assert cfg["learner"] == "demo"
    assert cfg["learner_options"] == {"n": 3}
    assert cfg["notifications"]["types"] == ["log", "memory"]
    assert cfg["misfire_policy"] == "skip"
    assert cfg["jitter_s"] == 30
    assert "next run" in res.stderr


def test_config_from_a_file(invoke: Invoke, manager: SchedulerManager, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cfg.json"
    config = {"safety_controls": {"level": "permissive"}, "timezone": "Asia/Tokyo"}
    path.write_text(json.dumps(config))
    res = invoke("schedule", "create", "--tenant", "t1", "--name", "n", "--cron", "*/5 * * * *",
                 "--config", f"@{path}")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    status = manager.get_schedule_status(res.stdout.strip())
    assert status["config"]["safety_controls"]["level"] == "permissive"
    assert status["timezone"] == "Asia/Tokyo"


def test_list_is_a_table_and_json(invoke: Invoke) -> None:
    a = invoke("schedule", "create", "--tenant", "acme", "--name", "alpha", "--cron", "0 * * * *")
    b = invoke("schedule", "create", "--tenant", "globex", "--name", "beta", "--cron", "5 * * * *")
    table = invoke("schedule", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "TENANT", "NAME", "CRON"]
    assert any(a.stdout.strip() in line and "alpha" in line for line in lines[1:])
    assert any(b.stdout.strip() in line and "beta" in line for line in lines[1:])
    only = invoke("schedule", "list", "--tenant", "globex", "--json")
    items = json.loads(only.stdout)
    assert [i["name"] for i in items] == ["beta"]
    empty = invoke("schedule", "list", "--tenant", "nobody")
    assert empty.stdout.strip() == "(none)"


def test_show_masks_secrets(invoke: Invoke) -> None:
    config = {
        "notifications": {
            "types": ["webhook"],
            "webhook_url": "https://hooks.example.com/x",
            "webhook_secret": "s3cr3t-signing",
            "webhook_headers": {"Authorization": "Bearer tok-123"},
        }
    }
    sid = invoke("schedule", "create", "--tenant", "acme", "--name", "n", "--cron", "0 1 * * *",
                 "--config", json.dumps(config)).stdout.strip()  # fmt: skip
    text = invoke("schedule", "show", sid)
    js = invoke("schedule", "show", sid, "--json")
    assert text.exit_code == js.exit_code == 0
    for out in (text.stdout, js.stdout):
        assert "s3cr3t-signing" not in out
        assert "tok-123" not in out
    data = json.loads(js.stdout)
    assert data["config"]["notifications"]["webhook_secret"] == "********"
    assert data["recent_runs"] == []
    assert "webhook" in text.stdout and "recent runs:" in text.stdout


def test_update_pause_resume_delete(invoke: Invoke, manager: SchedulerManager) -> None:
    sid = invoke("schedule", "create", "--tenant", "acme", "--name", "n",
                 "--cron", "0 1 * * *").stdout.strip()  # fmt: skip
    up = invoke("schedule", "update", sid, "--cron", "30 4 * * *", "--name", "renamed",
                "--safety-level", "strict", "--expected-version", "1", "--json")  # fmt: skip
    assert up.exit_code == 0, up.stderr
    data = json.loads(up.stdout)
    assert (data["cron_expression"], data["name"], data["version"]) == ("30 4 * * *", "renamed", 2)
    assert data["config"]["safety_controls"]["level"] == "strict"

    stale = invoke("schedule", "update", sid, "--name", "x", "--expected-version", "1")
    assert stale.exit_code == 2
    assert stale.err_lines == [stale.err_lines[0]]
    assert stale.err_lines[0].startswith("Error: expected_version: ")
    assert manager.get_schedule_status(sid)["name"] == "renamed"

    paused = invoke("schedule", "pause", sid)
    assert paused.exit_code == 0 and "paused" in paused.stdout
    assert manager.get_schedule_status(sid)["status"] == "paused"
    resumed = invoke("schedule", "resume", sid, "--json")
    assert json.loads(resumed.stdout)["status"] == "active"

    deleted = invoke("schedule", "delete", sid)
    assert deleted.exit_code == 0
    assert manager.list_schedules() == []
    again = invoke("schedule", "delete", sid)
    assert again.exit_code == 2
    assert again.err_lines == [f"Error: schedule_id: schedule {sid!r} not found"]


def test_runs_lists_the_history(invoke: Invoke, manager: SchedulerManager) -> None:
    from tasksched.models import RunStatus, RunTrigger

    sid = manager.create_training_schedule("acme", "n", "0 1 * * *")
    manager.store.runs.add(
        f"{sid}-100", sid, "acme", RunStatus.SUCCEEDED, RunTrigger.CRON,
        score=100.0, fire_time=100.0, duration_s=1.5, quality_score=0.93,
    )  # fmt: skip
    manager.store.runs.add(f"{sid}-200", sid, "acme", RunStatus.SKIPPED, RunTrigger.CRON,
                       score=200.0, fire_time=200.0, reason="too little data")  # fmt: skip
    res = invoke("schedule", "runs", sid)
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN", "ID", "TRIGGER"]
    assert f"{sid}-200" in lines[1] and "skipped" in lines[1] and "too little data" in lines[1]
    assert f"{sid}-100" in lines[2] and "1.50s" in lines[2] and "0.93" in lines[2]
    js = json.loads(invoke("schedule", "runs", sid, "--json", "--limit", "1").stdout)
    assert [r["run_id"] for r in js] == [f"{sid}-200"]


def test_reset_failures_and_history(invoke: Invoke, manager: SchedulerManager) -> None:
    sid = manager.create_training_schedule("acme", "n", "0 1 * * *")
    manager.store.redis.hset(
        manager.store.keys.schedule(sid),
        mapping={"consecutive_failures": 4, "cooldown_until": repr(manager.store.time() + 600)},
    )
    assert "(none)" in invoke("schedule", "history", sid).stdout
    res = invoke("schedule", "reset-failures", sid)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"{sid}: failures reset, active")
    st = manager.get_schedule_status(sid)
    assert st["consecutive_failures"] == 0 and st["in_cooldown"] is False
    lines = invoke("schedule", "history", sid).stdout.splitlines()
    assert lines[0].split() == ["AT", "EVENT", "BY", "DETAIL"]
    assert "failures_reset" in lines[1] and "cli" in lines[1] and "was 4 in a row" in lines[1]
    (entry,) = json.loads(invoke("schedule", "history", sid, "--json").stdout)
    assert entry["by"] == "cli"
    bad = invoke("schedule", "history", sid, "--limit", "0")
    assert bad.exit_code == 2 and "limit" in bad.stderr
    missing = invoke("schedule", "reset-failures", "nope")
    assert missing.exit_code != 0 and len(missing.stderr.strip().splitlines()) == 1


def test_create_paused(invoke: Invoke, manager: SchedulerManager) -> None:
    for flags in (["--paused"], ["--config", '{"enabled": false}']):
        res = invoke("schedule", "create", "--tenant", "acme", "--name", f"off{len(flags)}",
                     "--cron", "0 2 * * *", *flags)  # fmt: skip
        assert res.exit_code == 0, res.stderr
        status = manager.get_schedule_status(res.stdout.strip())
        assert (status["status"], status["config"]["enabled"]) == ("paused", False)
        assert "paused" in res.stderr
        res = invoke("schedule", "resume", status["id"], "--json")
        assert res.exit_code == 0, res.stderr
        assert json.loads(res.stdout)["config"]["enabled"] is True


def test_over_the_deployment_s_training_time_cap_is_one_line_and_exit_2(
    invoke: Invoke, manager: SchedulerManager
) -> None:
    res = invoke("schedule", "create", "--tenant", "acme", "--name", "long", "--cron",
                 "0 2 * * *", "--config", '{"max_training_time": 15000}')  # fmt: skip
    assert res.exit_code == 2
    assert len(res.err_lines) == 1, res.stderr
    line = res.err_lines[0]
    assert "config.safety_controls.max_training_time_minutes" in line
    assert "at most 240 minutes" in line and "TASKSCHED_MAX_TRAINING_TIME_S=14400" in line
    assert manager.list_schedules() == []  # nothing written
