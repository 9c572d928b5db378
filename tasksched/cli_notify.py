"""``tasksched notifications`` (a tenant's feed) and ``tasksched dead-letters``."""

from __future__ import annotations

import click

from tasksched.cli_common import manager, require_manager_method
from tasksched.cli_format import echo_json, short_time, table
from tasksched.cli_schedule import JSON_OPTION


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
                [short_time(n.get("time") or n.get("ts")), n.get("event"),
                 n.get("schedule_name") or n.get("schedule_id"), n.get("correlation_id"),
                 n.get("title") or n.get("message")]
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
    items = require_manager_method("dead_letters")(limit=limit, tenant_id=tenant_id)
    if as_json:
        echo_json(items)
        return
    click.echo(
        table(
            ("TIME", "CHANNEL", "EVENT", "TENANT", "RUN", "ATTEMPTS", "LAST ERROR"),
            [
                [short_time(d.get("time") or d.get("ts") or d.get("failed_at")), d.get("channel"),
                 d.get("event"), d.get("tenant_id"), d.get("run_id") or d.get("correlation_id"),
                 d.get("attempts"), d.get("error") or d.get("last_error")]
                for d in items
            ],
        )
    )
