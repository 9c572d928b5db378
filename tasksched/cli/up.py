"""``tasksched up`` (everything on one machine) and ``tasksched api`` (the REST API server)."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import click

from tasksched.cli.format import run_line
from tasksched.cli.stack import DEMO_CRON, DEMO_LEARNER, Stack, StackError, UpOptions
from tasksched.settings import check_api_bind, get_settings


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("up")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where Redis data, logs, the secret key and models live "
    "(default TASKSCHED_STATE_DIR, else $XDG_STATE_HOME/tasksched).",
)
@click.option("--api-port", type=int, help="API port on loopback (default TASKSCHED_API_PORT; "
              "0 or busy: a free port).")  # fmt: skip
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Create the demo schedule and show its runs.")  # fmt: skip
@click.option("--demo-cron", default=DEMO_CRON, show_default=True,
              help="The demo's cron (six fields: seconds LAST).")  # fmt: skip
@click.option("--concurrency", default=2, show_default=True, help="Worker processes.")
def up(
    state_dir: Path | None, api_port: int | None, demo: bool, demo_cron: str, concurrency: int
) -> None:
    """Run all of tasksched on this machine until Ctrl-C.

    Starts an embedded Redis (unless TASKSCHED_REDIS_URL is set), a worker, beat and the
    API on loopback, creates a demo schedule and prints its runs as they happen. Ctrl-C
    stops every process.
    """
    settings = get_settings()
    options = UpOptions(
        state_dir=state_dir or Path(settings.state_dir),
        redis_url=os.environ.get("TASKSCHED_REDIS_URL") or None,
        api_host="127.0.0.1",
        api_port=settings.api_port if api_port is None else api_port,
        demo=demo,
        demo_cron=demo_cron,
        worker_concurrency=concurrency,
    )
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # Started as a background job of a non-interactive shell (`./run.sh &` in a script), SIGINT
    # arrives ignored and Python would keep ignoring it: Ctrl-C (or kill -INT) must still stop.
    signal.signal(signal.SIGINT, _raise_interrupt)
    stack = Stack(options, log=lambda line: click.echo(line, err=True))
    code = 0
    try:
        stack.start()
        if demo and _demo_available():
            sid = stack.ensure_demo()
            click.echo(f"demo:   schedule {sid} ({demo_cron}, learner {DEMO_LEARNER})", err=True)
            click.echo("ready. Runs appear below; Ctrl-C stops everything.", err=True)
            for run in stack.watch_runs():  # every schedule's runs, not only the demo's
                label = None
                if run.get("schedule_id") != sid:
                    label = f"{run.get('tenant_id')}/{run.get('schedule_name')}"
                click.echo(run_line(run, schedule=label))
        else:
            click.echo("ready. Ctrl-C stops everything.", err=True)
            while True:
                stack.check_alive()
                time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\nstopping...", err=True)
    except StackError as exc:
        click.echo(f"Error: {exc}", err=True)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # nor a SIGTERM after the Ctrl-C
        stack.pause_demo()
        left = stack.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if left:
            click.echo(f"Error: processes left running: {left}", err=True)
            code = 1
        else:
            click.echo("stopped: no process left running.", err=True)
    if code:
        sys.exit(code)


def _demo_available() -> bool:
    missing = [
        name
        for name in ("sklearn", "tasksched.learners.demo")
        if not _importable(name)
    ]
    if missing:
        click.echo(
            f"demo:   not started ({', '.join(missing)} missing: pip install -e '.[demo]')",
            err=True,
        )
        return False
    return True


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@click.command("api")
@click.option("--host", help="Bind address (default TASKSCHED_API_HOST).")
@click.option("--port", type=int, help="Port (default TASKSCHED_API_PORT).")
@click.option("--workers", default=1, show_default=True, help="uvicorn worker processes.")
@click.option("--log-level", default="info", show_default=True)
def api(host: str | None, port: int | None, workers: int, log_level: str) -> None:
    """Serve the REST API with uvicorn (tasksched.api.app:app)."""
    import uvicorn

    settings = get_settings()
    if not _importable("tasksched.api.app"):
        raise click.ClickException("the REST API (tasksched.api.app) is not installed")
    bind = host or settings.api_host
    check_api_bind(settings, bind)  # keyless: loopback only (ValidationError, exit 2)
    uvicorn.run(
        "tasksched.api.app:app",
        host=bind,
        port=settings.api_port if port is None else port,
        workers=workers,
        log_level=log_level,
        proxy_headers=False,
    )
