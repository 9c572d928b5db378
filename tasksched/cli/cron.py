"""``tasksched cron``: an expression in words and its next fire times."""

from __future__ import annotations

import click

from tasksched.cli.common import JSON_OPTION, manager
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
