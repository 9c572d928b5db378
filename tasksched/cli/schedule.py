"""``tasksched schedule ...``: create, list, show, update, pause, resume, reset-failures,
history, delete, runs."""

from __future__ import annotations

from typing import Any

import click

from tasksched.cli.common import JSON_OPTION, manager, parse_json_object
from tasksched.cli.format import (
    RUN_HEADERS,
    SCHEDULE_HEADERS,
    echo_json,
    key_values,
    result_text,
    run_row,
    schedule_rows,
    short_time,
    table,
)
from tasksched.models import MisfirePolicy, NotificationType, SafetyLevel

SAFETY_CHOICE = click.Choice([s.value for s in SafetyLevel])
MISFIRE_CHOICE = click.Choice([m.value for m in MisfirePolicy])


@click.group("schedule")
def schedule() -> None:
    """Create and manage training schedules."""


def _config_from_flags(
    base: dict[str, Any] | None,
    tz: str | None = None,
    safety_level: str | None = None,
    learner: str | None = None,
    notify: str | None = None,
    misfire: str | None = None,
    jitter_s: float | None = None,
) -> dict[str, Any]:
    """Merge the convenience flags into a config dict (flags win over ``--config``)."""
    config: dict[str, Any] = dict(base or {})
    if tz is not None:
        config["timezone"] = tz
    if safety_level is not None:
        controls = dict(config.get("safety_controls") or {})
        controls["level"] = safety_level
        config["safety_controls"] = controls
    if learner is not None:
        config["learner"] = learner
    if notify is not None:
        notifications = dict(config.get("notifications") or {})
        types = [t.strip() for t in notify.split(",") if t.strip()]
        notifications["types"] = types
        config["notifications"] = notifications
    if misfire is not None:
        config["misfire_policy"] = misfire
    if jitter_s is not None:
        config["jitter_s"] = jitter_s
    return config


def _config_options(fn: Any) -> Any:
    options = [
        click.option("--tz", "tz", help="IANA timezone of the cron expression (default UTC)."),
        click.option("--safety-level", type=SAFETY_CHOICE, help="Safety preset."),
        click.option("--learner", help="A registered learner's name (e.g. demo)."),
        click.option(
            "--notify",
            help="Notification channels, comma separated: "
            + ", ".join(t.value for t in NotificationType),
        ),
        click.option("--misfire", type=MISFIRE_CHOICE, help="Policy for fires missed in downtime."),
        click.option("--jitter-s", type=float, help="Spread the fire time by up to this many s."),
        click.option(
            "--config",
            "config_json",
            metavar="JSON|@FILE",
            help="Training config (AutonomousConfig fields) as JSON or @file.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@schedule.command("create")
@click.option("--tenant", "tenant_id", required=True, help="Tenant id.")
@click.option("--name", required=True, help="Schedule name.")
@click.option("--cron", "cron_expression", required=True, help="Cron expression (seconds last).")
@click.option("--description", default="", help="Free text.")
@click.option("--paused", is_flag=True, help="Create it paused (config enabled=false).")
@_config_options
@JSON_OPTION
def create(
    tenant_id: str,
    name: str,
    cron_expression: str,
    description: str,
    paused: bool,
    tz: str | None,
    safety_level: str | None,
    learner: str | None,
    notify: str | None,
    misfire: str | None,
    jitter_s: float | None,
    config_json: str | None,
    as_json: bool,
) -> None:
    """Create a schedule (paused with --paused or enabled=false); prints its id."""
    config = _config_from_flags(
        parse_json_object("config", config_json), tz, safety_level, learner, notify, misfire,
        jitter_s,
    )  # fmt: skip
    if paused:
        config["enabled"] = False
    mgr = manager()
    sid = mgr.create_training_schedule(tenant_id, name, cron_expression, config, description)
    if as_json:
        echo_json(mgr.get_schedule_status(sid))
        return
    click.echo(sid)
    status = mgr.get_schedule_status(sid)
    when = f"next run {short_time(status['next_run'])}"
    if status["status"] == "paused":
        when = "paused"
    click.echo(f"created {status['name']!r} for tenant {tenant_id}, {when}", err=True)


@schedule.command("list")
@click.option("--tenant", "tenant_id", help="Only this tenant's schedules.")
@JSON_OPTION
def list_(tenant_id: str | None, as_json: bool) -> None:
    """List schedules (all tenants unless --tenant)."""
    items = manager().list_schedules(tenant_id)
    if as_json:
        echo_json(items)
    else:
        click.echo(table(SCHEDULE_HEADERS, schedule_rows(items)))


@schedule.command("show")
@click.argument("schedule_id")
@click.option("--runs", "run_count", default=5, show_default=True, help="Recent runs to show.")
@JSON_OPTION
def show(schedule_id: str, run_count: int, as_json: bool) -> None:
    """Show a schedule's status, counters, config and recent runs."""
    mgr = manager()
    status = mgr.get_schedule_status(schedule_id)
    runs = mgr.get_runs(schedule_id, limit=run_count) if run_count > 0 else []
    if as_json:
        echo_json({**status, "recent_runs": runs})
        return
    config = status.get("config", {})
    controls = config.get("safety_controls", {})
    click.echo(
        key_values(
            [
                ("id", status["id"]),
                ("tenant", status["tenant_id"]),
                ("name", status["name"]),
                ("description", status.get("description")),
                ("status", status["status"]),
                ("version", status["version"]),
                ("cron", f"{status['cron_expression']}  ({status['timezone']})"),
                (
                    "next run",
                    f"{short_time(status['next_run'])}  "
                    f"(local {status.get('next_run_local') or '-'})",
                ),
                ("last run", short_time(status.get("last_run"))),
                ("last result", result_text(status.get("last_result"))),
                (
                    "runs",
                    f"{status.get('total_runs', 0)} total, "
                    f"{status.get('successful_runs', 0)} ok, "
                    f"{status.get('failed_runs', 0)} failed, "
                    f"{status.get('rejected_runs', 0)} rejected, "
                    f"{status.get('skipped_runs', 0)} skipped",
                ),
                ("consecutive failures", status.get("consecutive_failures", 0)),
                ("cooldown until", short_time(status.get("cooldown_until"))),
                ("safety level", controls.get("level")),
                ("learner", config.get("learner") or "(default)"),
                ("notifications", ",".join(config.get("notifications", {}).get("types", []))),
            ]
        )
    )
    if run_count > 0:
        click.echo("\nrecent runs:")
        click.echo(table(RUN_HEADERS, [run_row(r) for r in runs]))


@schedule.command("update")
@click.argument("schedule_id")
@click.option("--name", help="New name.")
@click.option("--cron", "cron_expression", help="New cron expression.")
@click.option("--description", help="New description.")
@click.option(
    "--expected-version", type=int, help="Refuse the update if the schedule changed since."
)
@_config_options
@JSON_OPTION
def update(
    schedule_id: str,
    name: str | None,
    cron_expression: str | None,
    description: str | None,
    expected_version: int | None,
    tz: str | None,
    safety_level: str | None,
    learner: str | None,
    notify: str | None,
    misfire: str | None,
    jitter_s: float | None,
    config_json: str | None,
    as_json: bool,
) -> None:
    """Change a schedule (a partial --config is merged into the stored one)."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if cron_expression is not None:
        changes["cron_expression"] = cron_expression
    if description is not None:
        changes["description"] = description
    config = _config_from_flags(
        parse_json_object("config", config_json), None, safety_level, learner, notify, misfire,
        jitter_s,
    )  # fmt: skip
    if tz is not None:
        changes["timezone"] = tz
    if config:
        changes["config"] = config
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    status = manager().update_schedule(schedule_id, expected_version=expected_version, **changes)
    if as_json:
        echo_json(status)
    else:
        click.echo(
            f"updated {schedule_id} (version {status['version']}), next run "
            f"{short_time(status['next_run'])}"
        )


def _simple(verb: str, method: str, doc: str) -> click.Command:
    @click.argument("schedule_id")
    @JSON_OPTION
    def command(schedule_id: str, as_json: bool) -> None:
        status = getattr(manager(), method)(schedule_id)
        if as_json:
            echo_json(status)
        else:
            next_run = short_time(status["next_run"])
            click.echo(f"{schedule_id}: {status['status']}, next run {next_run}")

    command.__doc__ = doc
    return click.command(verb)(command)


schedule.add_command(_simple("pause", "pause_schedule", "Pause a schedule (no more runs)."))
schedule.add_command(
    _simple("resume", "resume_schedule", "Resume a paused schedule from its next fire time.")
)


@schedule.command("reset-failures")
@click.argument("schedule_id")
@JSON_OPTION
def reset_failures(schedule_id: str, as_json: bool) -> None:
    """Reset the failure streak to 0 and end the cooldown (recorded in the history)."""
    status = manager().reset_failures(schedule_id, by="cli")
    if as_json:
        echo_json(status)
    else:
        click.echo(
            f"{schedule_id}: failures reset, {status['status']}, next run "
            f"{short_time(status['next_run'])}"
        )


@schedule.command("history")
@click.argument("schedule_id")
@click.option("--limit", default=20, show_default=True, help="How many entries (1-100).")
@JSON_OPTION
def history(schedule_id: str, limit: int, as_json: bool) -> None:
    """Operator actions on a schedule (such as failure resets), newest first."""
    items = manager().get_schedule_history(schedule_id, limit)
    if as_json:
        echo_json(items)
        return
    rows = [
        [short_time(e.get("at_iso")), e.get("event", ""), e.get("by", ""), _history_detail(e)]
        for e in items
    ]
    click.echo(table(["AT", "EVENT", "BY", "DETAIL"], rows))


def _history_detail(entry: dict[str, Any]) -> str:
    if entry.get("event") == "failures_reset":
        until = entry.get("previous_cooldown_until")
        cooldown = f", cooldown until {short_time(until)} ended" if until else ""
        return f"was {entry.get('previous_consecutive_failures', 0)} in a row{cooldown}"
    return ""


@schedule.command("delete")
@click.argument("schedule_id")
def delete(schedule_id: str) -> None:
    """Delete a schedule with its run history."""
    manager().delete_schedule(schedule_id)
    click.echo(f"deleted {schedule_id}")


@schedule.command("runs")
@click.argument("schedule_id")
@click.option("--limit", default=20, show_default=True, help="How many runs.")
@click.option("--offset", default=0, show_default=True, help="Skip this many newest runs.")
@JSON_OPTION
def runs(schedule_id: str, limit: int, offset: int, as_json: bool) -> None:
    """A schedule's run history, newest first."""
    items = manager().get_runs(schedule_id, offset=offset, limit=limit)
    if as_json:
        echo_json(items)
    else:
        click.echo(table(RUN_HEADERS, [run_row(r) for r in items]))
