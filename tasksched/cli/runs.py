"""``tasksched run``: trigger a training run now and, with ``--wait``, follow it."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from tasksched.cli.common import EXIT_FAILURE, JSON_OPTION, manager
from tasksched.cli.format import echo_json, run_line
from tasksched.models import RunStatus

EXIT_WAIT_TIMEOUT = 4


def _is_terminal(status: Any) -> bool:
    try:
        return RunStatus(status).terminal
    except ValueError:
        return False


@click.command("run")
@click.argument("schedule_id")
@click.option("--force", is_flag=True, help="Bypass cooldown, failure streak and data minimum.")
@click.option("--wait", is_flag=True, help="Wait for the run to finish, showing its progress.")
@click.option("--timeout-s", default=3600.0, show_default=True, help="How long --wait waits.")
@JSON_OPTION
def run(schedule_id: str, force: bool, wait: bool, timeout_s: float, as_json: bool) -> None:
    """Trigger a training run of SCHEDULE_ID now.

    With --wait the exit code is 0 when the run succeeded, 1 when it ended otherwise (failed,
    rejected, skipped, lost) and 4 when the wait timed out.
    """
    mgr = manager()
    tenant_id = mgr.get_schedule_status(schedule_id)["tenant_id"]
    handle = mgr.trigger_training(tenant_id, schedule_id, force=force)
    run_id = str(handle.run_id)
    if not wait:
        if as_json:
            echo_json(mgr.get_run(run_id))
        else:
            click.echo(run_id)
        return
    record = _follow(run_id, timeout_s, quiet=as_json)
    if as_json:
        echo_json(record)
    if not _is_terminal(record.get("status")):
        click.echo(f"Error: timeout_s: run {run_id} not finished after {timeout_s:g}s", err=True)
        sys.exit(EXIT_WAIT_TIMEOUT)
    if record.get("status") != RunStatus.SUCCEEDED.value:
        sys.exit(EXIT_FAILURE)


def _follow(run_id: str, timeout_s: float, quiet: bool) -> dict[str, Any]:
    """Poll the run record until it is terminal, printing each change of status to stderr."""
    mgr = manager()
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    last_status = None
    tty = sys.stderr.isatty() and not quiet
    record: dict[str, Any] = {}
    spinner = "|/-\\"
    tick = 0
    while True:
        record = mgr.get_run(run_id)
        status = record.get("status")
        if status != last_status and not quiet:
            if tty:
                click.echo("\r\033[K", nl=False, err=True)
            click.echo(run_line(record), err=True)
            last_status = status
        if _is_terminal(status) or time.monotonic() >= deadline:
            return record
        if tty:
            elapsed = time.monotonic() - started
            click.echo(f"\r{spinner[tick % 4]} {status} {elapsed:5.1f}s", nl=False, err=True)
            tick += 1
        time.sleep(0.2)
