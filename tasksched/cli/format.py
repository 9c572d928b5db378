"""Output helpers for the ``tasksched`` command: tables, key/value blocks, JSON, times.

Pure formatting (strings in, strings out) plus :func:`echo_json`; the commands decide what to show.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

MAX_CELL = 48


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def short_time(value: Any, now: datetime | None = None) -> str:
    """An ISO time (or epoch seconds) as ``YYYY-MM-DD HH:MM:SS UTC``; '-' when empty."""
    if value in (None, ""):
        return "-"
    try:
        if isinstance(value, int | float):
            when = datetime.fromtimestamp(float(value), UTC)
        else:
            when = datetime.fromisoformat(str(value)).astimezone(UTC)
    except (TypeError, ValueError):
        return str(value)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def cell(value: Any, width: int = MAX_CELL) -> str:
    """One table cell: None as '-', floats trimmed, long text cut with an ellipsis."""
    if value is None or value == "":
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        # never 2.332e+04: large values with thousands separators, small ones to 4 digits
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    elif isinstance(value, Mapping | list):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def megabytes(value: Any) -> str:
    """A size in MB for people: ``512 MB``, ``22.1 GB``; '-' when unknown."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return f"{value / 1024:.1f} GB" if value >= 1024 else f"{value:.0f} MB"


def percent(value: Any) -> str:
    """A percentage for people: ``42%``; '-' when unknown."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return f"{value:.0f}%"


@contextmanager
def progress(label: str) -> Iterator[None]:
    """While the block runs, show ``<label> 3.2s`` on stderr, if stderr is a terminal.

    Updated every 0.2 s and cleared at the end; when stderr is not a TTY nothing is printed.
    """
    if not sys.stderr.isatty():
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def show() -> None:
        while not done.wait(0.2):
            click.echo(f"\r{label} {time.monotonic() - started:5.1f}s", nl=False, err=True)

    thread = threading.Thread(target=show, name="tasksched-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        click.echo("\r\033[K", nl=False, err=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain aligned text table with a header line; '(none)' when there are no rows."""
    cells = [[cell(v) for v in row] for row in rows]
    if not cells:
        return "(none)"
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in cells:
        lines.append("  ".join(t.ljust(widths[i]) for i, t in enumerate(row)).rstrip())
    return "\n".join(lines)


def key_values(pairs: Iterable[tuple[str, Any]]) -> str:
    """Aligned ``key: value`` lines."""
    items = [(k, cell(v, width=200)) for k, v in pairs]
    if not items:
        return ""
    width = max(len(k) for k, _ in items)
    return "\n".join(f"{(k + ':').ljust(width + 1)} {v}" for k, v in items)


def result_text(result: Any) -> str:
    """A schedule's ``last_result`` as short text: status and reason."""
    if not isinstance(result, Mapping):
        return cell(result)
    status = result.get("status") or "-"
    reason = result.get("reason")
    return f"{status} ({reason})" if reason else str(status)


def schedule_rows(items: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """Rows of the schedule list table."""
    return [
        [
            s.get("id"),
            s.get("tenant_id"),
            s.get("name"),
            s.get("cron_expression"),
            s.get("timezone"),
            s.get("safety_level"),
            s.get("status"),
            short_time(s.get("next_run")),
            f"{s.get('successful_runs', 0)}/{s.get('total_runs', 0)}",
            result_text(s.get("last_result")),
        ]
        for s in items
    ]


SCHEDULE_HEADERS = (
    "ID", "TENANT", "NAME", "CRON", "TZ", "SAFETY", "STATUS", "NEXT RUN", "OK/RUNS", "LAST RESULT",
)  # fmt: skip

RUN_HEADERS = ("RUN ID", "TRIGGER", "STATUS", "FIRE TIME", "DURATION", "QUALITY", "REASON")


def run_row(run: Mapping[str, Any]) -> list[Any]:
    """One row of a run table."""
    duration = run.get("duration_s")
    return [
        run.get("run_id"),
        run.get("trigger"),
        run.get("status"),
        short_time(run.get("fire_time") or run.get("queued_at")),
        f"{float(duration):.2f}s" if duration not in (None, "") else None,
        run.get("quality_score"),
        run.get("reason") or run.get("skip_reason") or run.get("error"),
    ]


def run_line(
    run: Mapping[str, Any], now: datetime | None = None, schedule: str | None = None
) -> str:
    """One line describing a run's current state (for progress and the live view).

    ``schedule`` (e.g. ``tenant/name``) is shown after the status when given.
    """
    stamp = (now or datetime.now(UTC)).astimezone().strftime("%H:%M:%S")
    parts = [stamp, str(run.get("run_id", "?")), str(run.get("status", "?"))]
    if schedule:
        parts.append(f"schedule={schedule}")
    trigger = run.get("trigger")
    if trigger:
        parts.append(f"trigger={trigger}")
    if run.get("worker"):
        parts.append(f"worker={run['worker']}")
    for key, label in (("quality_score", "quality"), ("validation_score", "validation")):
        value = run.get(key)
        if isinstance(value, int | float):
            parts.append(f"{label}={value:.3f}")
    if isinstance(run.get("data_count"), int):
        parts.append(f"samples={run['data_count']}")
    duration = run.get("duration_s")
    if isinstance(duration, int | float):
        parts.append(f"{duration:.2f}s")
    reason = run.get("reason") or run.get("skip_reason") or run.get("error")
    if reason:
        parts.append(f"({cell(reason, 80)})")
    return "  ".join(parts)
