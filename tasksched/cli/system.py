"""``tasksched status|health|start|stop``: the whole system at a glance and the global switch."""

from __future__ import annotations

import sys
from typing import Any

import click

from tasksched.cli.common import EXIT_FAILURE, JSON_OPTION, manager
from tasksched.cli.format import echo_json, key_values, megabytes, percent, short_time, table


@click.command("status")
@JSON_OPTION
def status(as_json: bool) -> None:
    """The global switch, beat's leader and lag, workers and schedule counts."""
    mgr = manager()
    state = mgr.system_status()
    if as_json:
        echo_json(state)
        return
    beat = state["beat"]
    lag_s = beat["lag_s"]
    pairs: list[tuple[str, Any]] = [
        ("dispatching", "on" if state["enabled"] else "OFF (stopped)"),
        ("beat leader", beat["leader"] or "none"),
        ("beat last tick", short_time(beat["last_tick"])),
        ("beat lag", f"{lag_s:.3f}s" if lag_s is not None else "-"),
    ]
    for key in ("schedules", "queues"):
        pairs.append((key, ", ".join(f"{k}={v}" for k, v in state[key].items()) or "-"))
    runs = state.get("runs") or {}
    pairs.append(("runs", ", ".join(f"{k.removesuffix('_runs')}={v}" for k, v in runs.items())))
    click.echo(key_values(pairs))
    click.echo("\nworkers:")
    rows = []
    for w in state["workers"]:
        readings = w["readings"]
        age = w["age_s"]
        total = readings.get("memory_total_mb")
        available = readings.get("memory_available_mb")
        memory = f"{megabytes(available)} of {megabytes(total)}" if total else megabytes(available)
        rows.append(
            [
                w["host"],
                w["online"],
                percent(readings.get("cpu_percent")),
                memory,
                f"{age:.0f}s ago" if age is not None else None,
            ]
        )
    click.echo(table(("HOST", "ONLINE", "CPU", "MEMORY FREE", "LAST SEEN"), rows))


@click.command("health")
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="Also require a beat leader with a recent tick.")  # fmt: skip
@click.option("--max-tick-age-s", type=float,
              help="Oldest acceptable leader tick (default 3 x beat lease).")  # fmt: skip
@click.option("--ping", "nodes", multiple=True, metavar="NODE",
              help="Also require this Celery node to answer ping (celerybeat@HOST for this "
                   "beat, NAME@HOST for a worker); repeatable.")  # fmt: skip
@click.option("--timeout-s", type=float, default=5.0, show_default=True,
              help="How long --ping waits for the answers.")  # fmt: skip
def health(
    beat: bool, max_tick_age_s: float | None, nodes: tuple[str, ...], timeout_s: float
) -> None:
    """Exit 0 when Redis answers (and a beat leader ticks, and every --ping node answers),
    else 1: for healthchecks and liveness probes."""
    mgr = manager()
    mgr.store.ping()
    silent = [node for node, ok in mgr.ping(nodes, timeout_s).items() if not ok]
    if silent:
        click.echo(f"unhealthy: no answer to ping from {', '.join(silent)}", err=True)
        sys.exit(EXIT_FAILURE)
    if beat:
        limit_s = max_tick_age_s or 3 * mgr.store.settings.beat_lease_s
        info = mgr.system_status()["beat"]
        age = info.get("last_tick_age_s")
        if not info.get("leader_present"):
            click.echo("unhealthy: no beat leader", err=True)
            sys.exit(EXIT_FAILURE)
        if not isinstance(age, int | float) or age > limit_s:
            click.echo(f"unhealthy: leader's last tick {age}s ago (limit {limit_s:g}s)", err=True)
            sys.exit(EXIT_FAILURE)
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
