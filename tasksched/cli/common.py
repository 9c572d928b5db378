"""Shared pieces of the ``tasksched`` command: the manager, options, JSON arguments, error lines."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from tasksched.errors import (
    ConflictError,
    NotFoundError,
    SecretKeyMissingError,
    StoreError,
    ValidationError,
)
from tasksched.logs import safe_url
from tasksched.manager import SchedulerManager
from tasksched.settings import get_settings, reload_settings

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
CLI_REDIS_RETRIES = 2

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


class CliState:
    """Per-invocation state kept on the click context (``ctx.obj``)."""

    def __init__(self, redis_url: str | None = None):
        if redis_url:
            # Triggers publish with the app for these settings (tasksched.celery.app_for).
            os.environ["TASKSCHED_REDIS_URL"] = redis_url
            reload_settings()
        self._manager: SchedulerManager | None = None

    @property
    def manager(self) -> SchedulerManager:
        """A SchedulerManager on the configured Redis, made on first use."""
        if self._manager is None:
            # Long-lived processes retry Redis for ~30 s; a command should fail fast instead.
            self._manager = SchedulerManager(
                settings=get_settings(), redis_retries=CLI_REDIS_RETRIES
            )
        return self._manager

    def close(self) -> None:
        """Close the manager's Redis connections (at the end of the command)."""
        if self._manager is not None:
            self._manager.store.close()
            self._manager = None


def manager() -> SchedulerManager:
    """The current invocation's manager."""
    state = click.get_current_context().find_object(CliState)
    if state is None:  # a command invoked without the group (tests of single commands)
        state = CliState()
        ctx = click.get_current_context()
        ctx.obj = state
        ctx.call_on_close(state.close)
    return state.manager


def parse_json_arg(field: str, raw: str | None) -> Any:
    """Parse a JSON option given inline or as ``@path``; errors name ``field``."""
    if raw is None:
        return None
    text = raw
    if raw.startswith("@"):
        path = Path(raw[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(field, f"cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(field, f"invalid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ValidationError(field, "invalid JSON: nested too deeply") from None


def parse_json_object(field: str, raw: str | None) -> dict[str, Any] | None:
    """Like :func:`parse_json_arg` but the value must be a JSON object."""
    value = parse_json_arg(field, raw)
    if value is not None and not isinstance(value, dict):
        raise ValidationError(field, "must be a JSON object")
    return value


def redis_url_origin() -> str:
    """Which Redis URL this command used and where it came from (password masked)."""
    url = safe_url(get_settings().redis_url)
    if os.environ.get("TASKSCHED_REDIS_URL"):
        return f"TASKSCHED_REDIS_URL={url}"
    return f"the default {url}: TASKSCHED_REDIS_URL is not set"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an error that reached the top.

    Bad input (validation, cron, not found, conflict, missing secret key) exits with 2;
    an unreachable Redis or another tasksched failure with 1.
    """
    if isinstance(exc, ValidationError):  # includes CronError
        text = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return _one_line(text), EXIT_BAD_INPUT
    if isinstance(exc, NotFoundError):
        return _one_line(f"{exc.kind}_id: {exc}"), EXIT_BAD_INPUT
    if isinstance(exc, ConflictError):
        return _one_line(f"expected_version: {exc}"), EXIT_BAD_INPUT
    if isinstance(exc, SecretKeyMissingError):
        return _one_line(f"TASKSCHED_SECRET_KEY: {exc}"), EXIT_BAD_INPUT
    if isinstance(exc, click.MissingParameter) and exc.param is not None:
        hint = exc.param.opts[0] if exc.param.opts else exc.param.name
        kind = "option" if isinstance(exc.param, click.Option) else "argument"
        return f"{hint}: missing; this {kind} is required", exc.exit_code
    if isinstance(exc, click.BadParameter):
        raw_hint = exc.param_hint or (exc.param.opts[0] if exc.param and exc.param.opts else "")
        hint = raw_hint if isinstance(raw_hint, str) else "/".join(raw_hint)
        hint = hint.strip("'\"")
        return _one_line(f"{hint}: {exc.message}" if hint else exc.message), exc.exit_code
    if isinstance(exc, click.ClickException):
        return _one_line(exc.format_message()), exc.exit_code
    if isinstance(exc, StoreError):
        return _one_line(f"redis: {exc} ({redis_url_origin()})"), EXIT_FAILURE
    return _one_line(str(exc) or type(exc).__name__), EXIT_FAILURE
