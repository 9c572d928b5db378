"""Frozen settings, read once from ``TASKSCHED_*`` environment variables.

Every variable is listed in ``docs/configuration.md``. Call :func:`get_settings` for the
process-wide instance; :func:`reload_settings` re-reads the environment (tests, the CLI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

from tasksched.errors import ValidationError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _state_dir_default() -> str:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "tasksched")


@dataclass(frozen=True)
class Settings:
    """All runtime settings. Field ``x_y`` is read from ``TASKSCHED_X_Y``."""

    redis_url: str = "redis://localhost:6379/0"
    broker_url: str = ""  # empty: same as redis_url
    result_backend: str = ""  # empty: no result backend (run records live in the store)
    key_prefix: str = "tasksched"
    secret_key: str = field(default="", repr=False)
    training_queue: str = "training"
    notifications_queue: str = "notifications"
    # beat
    beat_lease_s: float = 10.0
    beat_tick_s: float = 0.25
    beat_batch_size: int = 2000
    beat_default_grace_s: float = 300.0
    # history and feeds
    run_history_max: int = 500
    feed_max: int = 200
    dead_letter_max: int = 1000
    # worker
    worker_max_memory_mb: float = 0.0  # 0: no worker-level cap
    worker_max_cpu_percent: float = 0.0  # 0: no worker-level cap
    worker_cpu_sample_s: float = 1.0
    learner: str = ""  # default learner import path, "module:attribute"
    run_lock_ttl_s: float = 30.0
    max_training_time_s: int = 4 * 3600  # the longest any schedule may allow
    visibility_timeout_s: int = 0  # 0: max_training_time_s + 600
    defer_backoff_s: float = 5.0
    # seconds between a run's soft time limit (clean stop asked) and its hard kill
    training_kill_grace_s: float = 30.0
    # seconds between a worker's heartbeats (and its sweeps for lost runs)
    worker_heartbeat_s: float = 5.0
    # notifications
    webhook_allow_private: bool = False
    notify_max_retries: int = 5
    notify_backoff_s: float = 2.0
    notify_backoff_max_s: float = 300.0
    smtp_timeout_s: float = 30.0
    smtp_ca_file: str = ""  # extra CA bundle (PEM) trusted for SMTP TLS, e.g. a private relay
    webhook_ca_file: str = ""  # CA bundle (PEM) for https webhooks; empty: certifi's
    # api
    api_keys: str = field(default="", repr=False)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # embedded run
    state_dir: str = field(default_factory=_state_dir_default)

    @property
    def effective_broker_url(self) -> str:
        """The broker URL: ``broker_url`` or, when empty, ``redis_url``."""
        return self.broker_url or self.redis_url

    @property
    def effective_visibility_timeout_s(self) -> int:
        """Broker visibility timeout: longer than the longest allowed training."""
        return self.visibility_timeout_s or self.max_training_time_s + 600

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default ``os.environ``); bad values raise ValidationError."""
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = "TASKSCHED_" + f.name.upper()
            raw = source.get(name)
            if raw is None:
                continue
            values[f.name] = _parse(name, raw, f.type)
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, raw: str, type_name: object) -> object:
    kind = str(type_name)
    try:
        if kind == "bool":
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("expected true/false")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise ValidationError(name, f"invalid value {raw!r}: {exc}") from None
    return raw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env()


def reload_settings() -> Settings:
    """Forget the cached settings and read the environment again."""
    get_settings.cache_clear()
    return get_settings()
