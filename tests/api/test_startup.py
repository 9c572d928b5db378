"""At start-up the API logs every stored cron expression the engine now reads differently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from fastapi import FastAPI

from tasksched.api import create_app
from tasksched.manager import SchedulerManager
from tasksched.store import Store
from tests.beat.schedules import store_the_old_way
from tests.helpers import wait_for


def _started(app: FastAPI, while_up: Callable[[], object]) -> None:
    """Run the app's start-up and shut-down (its lifespan), calling ``while_up`` between."""

    async def run() -> None:
        async with app.router.lifespan_context(app):
            while_up()

    asyncio.run(run())


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "cron.meaning_changed"]


def test_the_api_logs_a_changed_meaning_with_both_readings_at_start(
    fake_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    old = store_the_old_way(fake_store, "* * * * 6/1")
    app = create_app(fake_store.settings, SchedulerManager(store=fake_store))
    with caplog.at_level(logging.INFO, logger="tasksched.api"):
        _started(app, lambda: wait_for(lambda: _warnings(caplog), 10, what="the cron check"))
    (record,) = _warnings(caplog)
    assert record.levelno == logging.WARNING
    assert record.schedule_id == old  # type: ignore[attr-defined]
    assert "croniter 6" in record.before and "every day" not in record.before  # type: ignore[attr-defined]
    assert "2026-01-03 00:00:00" in record.now  # type: ignore[attr-defined]  # Saturday only
    assert "6/1" in record.getMessage()


def test_the_check_can_be_turned_off(
    fake_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store_the_old_way(fake_store, "59/15 * * * *")
    threads = []
    for on in (True, False):
        settings = fake_store.settings.replace(cron_check_at_start=on)
        app = create_app(settings, SchedulerManager(store=fake_store))
        with caplog.at_level(logging.INFO, logger="tasksched.api"):
            _started(app, lambda app=app: threads.append(app.state.cron_check))  # type: ignore[misc]
    on_thread, off_thread = threads
    assert on_thread is not None and off_thread is None
    on_thread.join(10)
    assert len(_warnings(caplog)) == 1  # from the run with the check on only
