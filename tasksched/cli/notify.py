"""``tasksched test-notification``, ``notifications`` (a tenant's feed) and ``dead-letters``."""

from __future__ import annotations

import sys

import click

from tasksched.cli.common import EXIT_FAILURE, JSON_OPTION, manager, parse_json_object
from tasksched.cli.format import echo_json, short_time, table
from tasksched.errors import ValidationError


@click.command("notifications")
@click.option("--tenant", "tenant_id", required=True, help="Whose feed.")
@click.option("--limit", default=20, show_default=True, help="How many entries.")
@click.option("--offset", default=0, show_default=True, help="Skip this many newest entries.")
@JSON_OPTION
def notifications(tenant_id: str, limit: int, offset: int, as_json: bool) -> None:
    """A tenant's notification feed (the `memory` channel), newest first."""
    items = manager().get_notifications(tenant_id, limit=limit, offset=offset)
    if as_json:
        echo_json(items)
        return
    click.echo(
        table(
            ("TIME", "EVENT", "SCHEDULE", "RUN", "MESSAGE"),
            [
                [short_time(n["time"]), n["event"], n["schedule_name"], n["correlation_id"],
                 n["title"]]
                for n in items
            ],
        )
    )


@click.command("dead-letters")
@click.option("--tenant", "tenant_id", help="Only this tenant's.")
@click.option("--limit", default=20, show_default=True, help="How many entries.")
@JSON_OPTION
def dead_letters(tenant_id: str | None, limit: int, as_json: bool) -> None:
    """Notifications given up after their last retry, with the last error."""
    items = manager().dead_letters(limit=limit, tenant_id=tenant_id)
    if as_json:
        echo_json(items)
        return
    click.echo(
        table(
            ("TIME", "CHANNEL", "EVENT", "TENANT", "RUN", "ATTEMPTS", "LAST ERROR"),
            [
                [short_time(d["time"]), d["channel"], d["event"], d["tenant_id"],
                 d["run_id"] or d["correlation_id"], d["attempts"], d["error"]]
                for d in items
            ],
        )
    )


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
    result = manager().send_test_notification(
        schedule_id=schedule_id, config=config, tenant_id=tenant_id, timeout_s=timeout_s,
        inline=inline,
    )  # fmt: skip
    channels = result["channels"]
    if as_json:
        echo_json(result)
    else:
        rows = [[ch, o["status"], o.get("error") or o.get("detail")] for ch, o in channels.items()]
        click.echo(table(("CHANNEL", "STATUS", "DETAIL"), rows))
    if any(o["status"] in ("failed", "pending") for o in channels.values()):
        sys.exit(EXIT_FAILURE)
