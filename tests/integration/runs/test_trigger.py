"""trigger() and RunHandle: tenant and schedule checks, the published message, waiting."""

from __future__ import annotations

import json

import pytest

from tasksched.errors import NotFoundError
from tasksched.manager import SchedulerManager
from tasksched.models import RunStatus
from tasksched.runs import RunHandle, trigger
from tasksched.store import Store


def test_trigger_checks_tenant_and_schedule_and_handle_waits(real_store: Store) -> None:
    sid = SchedulerManager(store=real_store).create_training_schedule("acme", "s", "0 2 * * *")
    with pytest.raises(NotFoundError):
        trigger(real_store, "globex", sid)
    with pytest.raises(NotFoundError):
        trigger(real_store, "acme", "nope")
    handle = trigger(real_store, "acme", sid, force=True)
    rec = handle.record()
    assert rec["status"] == "queued" and rec["trigger"] == "manual" and rec["forced"] is True
    assert handle.status is RunStatus.QUEUED
    with pytest.raises(TimeoutError, match="still queued"):
        handle.wait(timeout_s=0.2, interval_s=0.05)
    # The published message carries ids only, never the config or a secret.
    raw = real_store.redis.lrange("training", 0, -1)
    assert len(raw) == 1
    body = json.loads(raw[0])
    assert body["headers"]["id"] == handle.run_id
    assert "forced" not in raw[0] and "safety_controls" not in raw[0]
    real_store.runs.update(handle.run_id, status="succeeded")
    assert RunHandle(real_store, handle.run_id, sid, "acme").wait(1)["status"] == "succeeded"
