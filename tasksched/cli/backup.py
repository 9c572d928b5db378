"""``tasksched export|import``: schedules to and from a versioned JSON document."""

from __future__ import annotations

import json
import sys

import click

from tasksched.cli.common import manager, parse_json_arg
from tasksched.cli.format import progress
from tasksched.errors import ValidationError


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
    count = len(document.get("schedules") or []) if isinstance(document, dict) else 0
    with progress(f"importing {count} schedules..."):
        ids = manager().import_schedules(document, replace=replace, tenant_id=tenant_id)
    click.echo(f"imported {len(ids)} schedules")
