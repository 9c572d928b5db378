"""``tasksched cron``: an expression in words and its next fire times; ``tasksched doctor``."""

from __future__ import annotations

import sys

import click

from tasksched.cli.common import EXIT_FAILURE, JSON_OPTION, manager
from tasksched.cli.format import echo_json, short_time
from tasksched.errors import ValidationError


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


@click.command("doctor")
@JSON_OPTION
def doctor(as_json: bool) -> None:
    """List stored cron expressions the cron engine now reads differently (exit 1 if any).

    Each finding has both readings: the one recorded when the schedule was written (or, for a
    schedule written before readings were recorded, croniter 6's for a form whose meaning
    changed) and the engine's now. Exit 0 when there is none.
    """
    report = manager().cron_doctor()
    findings = report["findings"]
    if as_json:
        echo_json(report)
    else:
        click.echo(
            f"{report['engine']}: {report['schedules']} schedules checked "
            f"({report['without_reading']} written before readings were recorded), "
            f"{len(findings)} finding(s)"
        )
        for f in findings:
            click.echo(f"\nschedule {f['schedule_id']}  {f['expression']!r}: {f['reason']}")
            click.echo(f"  before: {f['before']}")
            click.echo(f"  now:    {f['now']}")
    if findings:
        sys.exit(EXIT_FAILURE)
