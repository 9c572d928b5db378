"""Output helpers: humane numbers, and progress only on a terminal."""

from __future__ import annotations

import io
import sys
import time

import pytest

from tasksched.cli.format import cell, megabytes, percent, progress, run_line


def test_numbers_are_for_people() -> None:
    assert cell(23320.5) == "23,320" and cell(0.93315) == "0.9332"
    assert megabytes(23320.5) == "22.8 GB" and megabytes(512.0) == "512 MB"
    assert megabytes(None) == "-" and percent(37.25) == "37%" and percent(True) == "-"


def test_run_line_names_the_schedule_when_asked() -> None:
    line = run_line({"run_id": "r1", "status": "succeeded"}, schedule="acme/nightly")
    assert line.split()[1:4] == ["r1", "succeeded", "schedule=acme/nightly"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_quiet_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress("importing 3 schedules..."):
        time.sleep(0.3)
    assert err.getvalue() == ""


def test_progress_shows_elapsed_time_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    with progress("importing 3 schedules..."):
        deadline = time.monotonic() + 5
        while "importing 3 schedules..." not in err.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    text = err.getvalue()
    assert "\rimporting 3 schedules...   0." in text
    assert text.endswith("\r\033[K")  # the line is cleared when done
