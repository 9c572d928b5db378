"""tasksched.logs: one JSON object per line with the extra fields; idempotent setup."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tasksched.logs import JsonFormatter, configure_logging, log_event, safe_url


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    lg = logging.getLogger("tasksched.test_logs")
    lg.addHandler(handler)
    lg.setLevel(logging.DEBUG)
    yield buf
    lg.removeHandler(handler)


def test_a_line_carries_the_fixed_and_the_extra_fields(captured: io.StringIO) -> None:
    lg = logging.getLogger("tasksched.test_logs")
    log_event(lg, logging.INFO, "run dispatched", event="run.dispatched", run_id="r1",
              correlation_id="r1", schedule_id="s1", tenant_id="t1", fire_time=1.5)
    line = json.loads(captured.getvalue().strip())
    assert line["message"] == "run dispatched"
    assert line["level"] == "INFO" and line["logger"] == "tasksched.test_logs"
    assert line["ts"].endswith("+00:00")
    assert {k: line[k] for k in ("event", "run_id", "correlation_id", "schedule_id", "tenant_id",
                                 "fire_time")} == {
        "event": "run.dispatched", "run_id": "r1", "correlation_id": "r1",
        "schedule_id": "s1", "tenant_id": "t1", "fire_time": 1.5,
    }


def test_reserved_names_do_not_raise_and_odd_values_are_stringified(
    captured: io.StringIO,
) -> None:
    lg = logging.getLogger("tasksched.test_logs")
    log_event(lg, logging.WARNING, "x", name="n", msg="m", obj=object())
    line = json.loads(captured.getvalue().strip())
    assert line["field_name"] == "n" and line["field_msg"] == "m"
    assert line["obj"].startswith("<object object")


def test_exceptions_are_one_json_line(captured: io.StringIO) -> None:
    lg = logging.getLogger("tasksched.test_logs")
    try:
        raise ValueError("boom")
    except ValueError:
        lg.exception("failed", extra={"run_id": "r2"})
    out = captured.getvalue().strip()
    assert "\n" not in out
    line = json.loads(out)
    assert line["run_id"] == "r2" and "ValueError: boom" in line["exc_info"]


def test_below_level_nothing_is_formatted(captured: io.StringIO) -> None:
    lg = logging.getLogger("tasksched.test_logs")
    lg.setLevel(logging.WARNING)
    log_event(lg, logging.INFO, "quiet")
    assert captured.getvalue() == ""


def test_configure_logging_is_idempotent() -> None:
    root = logging.getLogger("tasksched")
    before = list(root.handlers)
    propagate, level = root.propagate, root.level
    try:
        configure_logging("DEBUG")
        configure_logging("INFO")
        added = [h for h in root.handlers if h not in before]
        assert len(added) <= 1
        assert sum(isinstance(h.formatter, JsonFormatter) for h in root.handlers) == 1
        assert root.level == logging.INFO
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
        root.propagate = propagate
        root.setLevel(level)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:s3cret@host/0", "redis://user:***@host/0"),
        ("sentinel://:s3cret@h1:26379,h2:26379/mymaster", "sentinel://:***@h1:26379,h2:26379/mymaster"),
    ],
)
def test_safe_url_masks_the_password_only(url: str, shown: str) -> None:
    assert safe_url(url) == shown
