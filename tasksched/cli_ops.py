"""``tasksched run|status|start|stop|cron|export|import|test-notification``."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from tasksched.cli_common import manager, parse_json_arg, parse_json_object, require_manager_method
from tasksched.cli_format import echo_json, key_values, run_line, short_time, table
from tasksched.cli_schedule import JSON_OPTION
from tasksched.errors import ValidationError
from tasksched.models import RunStatus

EXIT_RUN_NOT_OK = 1
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
    trigger = require_manager_method("trigger_training")
    handle = trigger(tenant_id, schedule_id, force=force)
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
        sys.exit(EXIT_RUN_NOT_OK)


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


@click.command("status")
@JSON_OPTION
def status(as_json: bool) -> None:
    """The global switch, beat's leader and lag, workers and schedule counts."""
    mgr = manager()
    system_status = getattr(mgr, "system_status", None)
    state: dict[str, Any] = system_status() if system_status else mgr.scheduler_state()
    if as_json:
        echo_json(state)
        return
    beat = state.get("beat") or {}
    pairs: list[tuple[str, Any]] = [
        ("dispatching", "on" if state.get("enabled", state.get("running")) else "OFF (stopped)"),
        ("beat leader", beat.get("leader") or "none"),
        ("beat last tick", short_time(beat.get("last_tick"))),
        ("beat lag", f"{beat['lag_s']:.3f}s" if isinstance(beat.get("lag_s"), float) else "-"),
    ]
    for key in ("schedules", "queues", "queue_depths"):
        if isinstance(state.get(key), dict):
            pairs.append((key, ", ".join(f"{k}={v}" for k, v in state[key].items()) or "-"))
    click.echo(key_values(pairs))
    workers = state.get("workers")
    if isinstance(workers, dict):  # older manager: host -> readings
        workers = [{"host": h, "readings": r} for h, r in workers.items()]
    if isinstance(workers, list):
        click.echo("\nworkers:")
        rows = []
        for w in workers:
            readings = w.get("readings") or {}
            age = w.get("age_s")
            rows.append(
                [
                    w.get("host"),
                    w.get("online"),
                    readings.get("cpu_percent"),
                    readings.get("memory_available_mb"),
                    f"{age:.0f}s ago" if isinstance(age, int | float) else None,
                ]
            )
        click.echo(table(("HOST", "ONLINE", "CPU %", "MEM AVAIL MB", "LAST SEEN"), rows))


@click.command("health")
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="Also require a beat leader with a recent tick.")  # fmt: skip
@click.option("--max-tick-age-s", type=float,
              help="Oldest acceptable leader tick (default 3 x beat lease).")  # fmt: skip
def health(beat: bool, max_tick_age_s: float | None) -> None:
    """Exit 0 when Redis answers (and a beat leader ticks), else 1: for healthchecks."""
    mgr = manager()
    mgr.store.ping()
    if beat:
        limit_s = max_tick_age_s or 3 * mgr.store.settings.beat_lease_s
        info = mgr.system_status()["beat"] if hasattr(mgr, "system_status") else {}
        age = info.get("last_tick_age_s")
        if not info.get("leader_present"):
            click.echo("unhealthy: no beat leader", err=True)
            sys.exit(EXIT_RUN_NOT_OK)
        if not isinstance(age, int | float) or age > limit_s:
            click.echo(f"unhealthy: leader's last tick {age}s ago (limit {limit_s:g}s)", err=True)
            sys.exit(EXIT_RUN_NOT_OK)
    click.echo("ok")


@click.command("start")
@JSON_OPTION
def start(as_json: bool) -> None:
    """Turn dispatching on for every beat process (the global switch)."""
    state = manager().start_scheduler()
    echo_json(state) if as_json else click.echo("dispatching: on")


@click.command("stop")
@JSON_OPTION
def stop(as_json: bool) -> None:
    """Turn dispatching off for every beat process; processes keep running and wait."""
    state = manager().stop_scheduler()
    echo_json(state) if as_json else click.echo("dispatching: OFF")


@click.command("cron")
@click.argument("expression")
@click.option("--tz", "timezone", default="UTC", show_default=True, help="IANA timezone.")
@click.option("-n", "count", default=5, show_default=True, help="How many fire times.")
@JSON_OPTION
def cron(expression: str, timezone: str, count: int, as_json: bool) -> None:
    """Describe a cron EXPRESSION and list its next fire times (seconds field last)."""
    if not 1 <= count <= 1000:
        raise ValidationError("n", "must be between 1 and 1000")
    preview = manager().preview_cron(expression, timezone, count)
    if as_json:
        echo_json(preview)
        return
    click.echo(f"{preview['description']}  ({preview['cron_expression']}, {timezone})")
    for local, utc in zip(
        preview["next_fire_times"], preview["next_fire_times_utc"], strict=True
    ):
        click.echo(f"  {local}   {short_time(utc)}")


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--tenant", "tenant_id", help="Only this tenant's schedules.")
def export(file: str, tenant_id: str | None) -> None:
    """Write all schedules (or one tenant's) to FILE as JSON ('-' for stdout).

    Secrets stay encrypted in the file: restore them under the same TASKSCHED_SECRET_KEY.
    """
    document = manager().export_schedules(tenant_id)
    text = json.dumps(document, indent=2) + "\n"
    if file == "-":
        click.echo(text, nl=False)
        return
    try:
        with open(file, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ValidationError("file", f"cannot write {file!r}: {exc.strerror}") from None
    click.echo(f"exported {len(document['schedules'])} schedules to {file}", err=True)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--tenant", "tenant_id", help="Every schedule must belong to this tenant.")
@click.option(
    "--replace/--no-replace", default=True, show_default=True, help="Replace existing ids."
)
def import_(file: str, tenant_id: str | None, replace: bool) -> None:
    """Read schedules from FILE (from `tasksched export`); all are written or none."""
    raw = sys.stdin.read() if file == "-" else "@" + file
    document = parse_json_arg("file", raw)
    ids = manager().import_schedules(document, replace=replace, tenant_id=tenant_id)
    click.echo(f"imported {len(ids)} schedules")


@click.command("test-notification")
@click.option("--schedule", "schedule_id", help="Send through this schedule's channels.")
@click.option(
    "--config", "config_json", metavar="JSON|@FILE", help="An ad-hoc NotificationConfig."
)
@click.option("--tenant", "tenant_id", help="Tenant scope.")
@click.option("--timeout-s", default=30.0, show_default=True, help="How long to wait.")
@click.option("--inline", is_flag=True, help="Send from this process, not a notifications worker.")
@JSON_OPTION
def test_notification(
    schedule_id: str | None,
    config_json: str | None,
    tenant_id: str | None,
    timeout_s: float,
    inline: bool,
    as_json: bool,
) -> None:
    """Send a test event through a schedule's channels (or an ad-hoc config).

    Exit code 0 when every channel sent it (or skipped it), 1 when one failed or did not
    answer in time.
    """
    config = parse_json_object("config", config_json)
    if schedule_id is None and config is None:
        raise ValidationError("schedule", "give --schedule or --config")
    send = require_manager_method("send_test_notification")
    result = send(
        schedule_id=schedule_id, config=config, tenant_id=tenant_id, timeout_s=timeout_s,
        inline=inline,
    )  # fmt: skip
    channels = result.get("channels", {}) if isinstance(result, dict) else {}
    if as_json:
        echo_json(result)
    else:
        rows = [
            [name, o.get("status"), o.get("error") or o.get("detail")]
            for name, o in channels.items()
            if isinstance(o, dict)
        ]
        click.echo(table(("CHANNEL", "STATUS", "DETAIL"), rows))
    if any(not isinstance(o, dict) or o.get("status") in ("failed", "pending")
           for o in channels.values()):  # fmt: skip
        sys.exit(EXIT_RUN_NOT_OK)
