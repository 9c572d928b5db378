"""The ``tasksched`` command (click, like Celery's own CLI).

Thin: each command parses its options, calls one :class:`~tasksched.SchedulerManager` method
(or the embedded stack) and formats the result. Bad input (a validation, cron, not-found or
conflict error) ends with exit code 2 and ONE line on stderr: ``Error: <field>: <message>``.
Lists print tables; ``--json`` prints JSON.

Commands live in :mod:`.schedule` (schedule ...), :mod:`.runs` (run), :mod:`.system` (status,
health, start, stop), :mod:`.cron` (cron, doctor), :mod:`.backup` (export, import), :mod:`.notify`
(test-notification, notifications, dead-letters), :mod:`.secrets` (secrets rotate) and
:mod:`.up` (up, api).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from tasksched import __version__
from tasksched.cli.backup import export, import_
from tasksched.cli.common import EXIT_BAD_INPUT, CliState, error_line
from tasksched.cli.cron import cron, doctor
from tasksched.cli.notify import dead_letters, notifications, test_notification
from tasksched.cli.runs import run
from tasksched.cli.schedule import schedule
from tasksched.cli.secrets import secrets
from tasksched.cli.system import health, start, status, stop
from tasksched.cli.up import api, up
from tasksched.errors import TaskschedError


class TaskschedGroup(click.Group):
    """A click group whose errors are one line: ``Error: <field>: <message>``, exit 2 on bad input.

    Handled in :meth:`main` so that the script and click's CliRunner behave the same.
    """

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; on error print one line and exit with its code."""
        try:
            return super().main(
                args=args, prog_name=prog_name or "tasksched", complete_var=complete_var,
                standalone_mode=False, **extra,
            )  # fmt: skip
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            code = 130
        except (click.ClickException, TaskschedError) as exc:
            message, code = error_line(exc)
            click.echo(f"Error: {message}", err=True)
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=TaskschedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--redis-url",
    envvar="TASKSCHED_REDIS_URL",
    help="Redis URL (default TASKSCHED_REDIS_URL, else redis://localhost:6379/0).",
)
@click.version_option(__version__, prog_name="tasksched")
@click.pass_context
def cli(ctx: click.Context, redis_url: str | None) -> None:
    """Scheduled, safe, autonomous model retraining for many tenants.

    Start with `tasksched up`: everything on this machine, with a demo schedule.
    """
    ctx.obj = CliState(redis_url)
    ctx.call_on_close(ctx.obj.close)


for command in (
    up, api, schedule, run, status, health, start, stop, cron, doctor, export, import_,
    test_notification, notifications, dead_letters, secrets,
):  # fmt: skip
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tasksched`` script."""
    code = cli.main(args=argv, prog_name="tasksched", standalone_mode=False)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["EXIT_BAD_INPUT", "TaskschedGroup", "cli", "main"]
