"""``tasksched secrets rotate``: re-encrypt every stored secret under a new key."""

from __future__ import annotations

import click

from tasksched.cli.common import manager
from tasksched.errors import ValidationError


@click.group("secrets")
def secrets() -> None:
    """Stored secrets (SMTP passwords, webhook headers and signing secrets)."""


@secrets.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret under TASKSCHED_SECRET_KEY (all or nothing).

    Put the new key in TASKSCHED_SECRET_KEY and the old one in TASKSCHED_SECRET_KEY_PREVIOUS,
    run this once, then drop the previous key from every process's environment.
    """
    mgr = manager()
    if not mgr.store.settings.secret_key.strip():
        raise ValidationError("TASKSCHED_SECRET_KEY", "not set: it is the key to rotate to")
    if not mgr.store.settings.secret_key_previous.strip():
        raise ValidationError(
            "TASKSCHED_SECRET_KEY_PREVIOUS", "not set: it must hold the key being replaced"
        )
    count = mgr.rotate_secrets()
    click.echo(f"re-encrypted the secrets of {count} schedules under TASKSCHED_SECRET_KEY")
