"""Frozen settings, read once from ``TASKSCHED_*`` environment variables (pydantic-settings).

Every variable is listed in ``docs/configuration.md``; field ``x_y`` is ``TASKSCHED_X_Y``. Call
:func:`get_settings` for the process-wide instance; :func:`reload_settings` re-reads the
environment (tests, the CLI). ``Settings(field=value, ...)`` builds settings from the defaults
and the values given only (it never reads the environment); :meth:`Settings.from_env` reads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tasksched.errors import ValidationError
from tasksched.urls import broker_for

ENV_PREFIX = "TASKSCHED_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A run id's tombstone outlives the broker's visibility timeout by this much (seconds).
TOMBSTONE_MARGIN_S = 3600

# The environment a from_env() call reads; None: construction from keywords only.
_SOURCE_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("tasksched_env", default=None)


def _state_dir_default() -> str:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "tasksched")


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]):
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._mapping.items() if v != ""}


class Settings(BaseSettings):
    """All runtime settings. Field ``x_y`` is read from ``TASKSCHED_X_Y`` (empty: the default)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore"
    )

    redis_url: str = "redis://localhost:6379/0"
    broker_url: str = ""  # empty: same as redis_url
    # JSON object merged into Celery's broker_transport_options (e.g. {"master_name": ...})
    broker_transport_options: dict[str, Any] = Field(default_factory=dict)
    result_backend: str = ""  # empty: no result backend (run records live in the store)
    key_prefix: str = "tasksched"
    secret_key: str = Field(default="", repr=False)
    # the key being replaced: still decrypts while `tasksched secrets rotate` runs
    secret_key_previous: str = Field(default="", repr=False)
    training_queue: str = "training"
    notifications_queue: str = "notifications"
    # tasksched's log level in every process; empty: the process's own (celery --loglevel)
    log_level: str = ""
    # beat: a standby takes over within the lease (+ a tick) after the leader dies
    beat_lease_s: float = 2.0
    beat_tick_s: float = 0.25
    beat_batch_size: int = 2000
    beat_default_grace_s: float = 300.0
    # a second with at least this many entries due is claimed ahead of it (broker = this
    # Redis; its messages reach the broker at the second in one step); 0: never
    beat_stage_min: int = Field(default=5000, ge=0)
    # log stored crons the engine reads differently at API and beat start (tasksched doctor)
    cron_check_at_start: bool = True
    # beat stops answering `celery inspect ping` when its loop has not ticked for this long
    beat_max_tick_age_s: float = 60.0
    # history and feeds
    run_history_max: int = 500
    feed_max: int = 200
    dead_letter_max: int = 1000
    # worker
    worker_max_memory_mb: float = 0.0  # 0: no worker-level cap
    worker_max_cpu_percent: float = 0.0  # 0: no worker-level cap
    worker_cpu_sample_s: float = 1.0
    # where this process's cgroup files are read (memory and CPU limits of a container)
    cgroup_root: str = "/sys/fs/cgroup"
    learner: str = "demo"  # the registered learner of schedules that name none
    learners: str = ""  # the deployment's own learners: "name=module:attribute,..."
    # renewed every third of it from the claim on; a dead worker's run is found lost within
    # this plus one heartbeat
    run_lock_ttl_s: float = 6.0
    max_training_time_s: int = 4 * 3600  # the longest any schedule may allow
    visibility_timeout_s: int = 0  # 0: max_training_time_s + 600
    defer_backoff_s: float = 5.0
    # seconds between a run's soft time limit (clean stop asked) and its hard kill
    training_kill_grace_s: float = 30.0
    # each learner step but training (load + count_available_data, backup, promote, restore)
    learner_step_timeout_s: float = Field(default=60.0, gt=0)
    # seconds between a worker's heartbeats (and its sweeps for lost and pending runs)
    worker_heartbeat_s: float = 2.0
    # notifications
    # outbound connections a tenant's config causes (webhooks, SMTP): private targets refused
    allow_private_targets: bool = False
    webhook_allow_private: bool = False  # the old name of allow_private_targets (webhooks only)
    smtp_allowed_hosts: str = ""  # SMTP relays allowed on private addresses: "host,host"
    smtp_allow_plaintext_login: bool = False  # SMTP login without TLS
    notify_max_retries: int = 5
    notify_backoff_s: float = 2.0
    notify_backoff_max_s: float = 300.0
    smtp_timeout_s: float = 30.0
    smtp_ca_file: str = ""  # extra CA bundle (PEM) trusted for SMTP TLS, e.g. a private relay
    webhook_ca_file: str = ""  # CA bundle (PEM) for https webhooks; empty: certifi's
    # api
    api_keys: str = Field(default="", repr=False)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # embedded run
    state_dir: str = Field(default_factory=_state_dir_default)

    @pydantic.field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level and level not in LOG_LEVELS:
            raise ValueError(f"one of {', '.join(LOG_LEVELS)} (or empty)")
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keywords only, or (in :meth:`from_env`) the environment being read."""
        env = _SOURCE_ENV.get()
        if env is None:
            return (init_settings,)
        return (init_settings, _MappingEnvSource(settings_cls, env))

    @property
    def sentinel_master(self) -> str | None:
        """``master_name`` of the transport options (needed by kombu's Sentinel form)."""
        name = self.broker_transport_options.get("master_name")
        return str(name) if name else None

    @property
    def effective_broker_url(self) -> str:
        """The broker URL: ``broker_url`` or, when empty, the store's Redis in kombu's spelling.

        See :func:`tasksched.urls.broker_for` (Sentinel in kombu's form, a unix socket as
        ``redis+socket://``).
        """
        if self.broker_url:
            return self.broker_url
        return broker_for(self.redis_url, self.sentinel_master)[0]

    @property
    def effective_broker_transport_options(self) -> dict[str, Any]:
        """Celery's ``broker_transport_options`` for this broker.

        The visibility timeout, then what the store's URL implies for a broker derived from
        it (Sentinel's ``master_name``), then ``TASKSCHED_BROKER_TRANSPORT_OPTIONS`` on top.
        """
        options: dict[str, Any] = {"visibility_timeout": self.effective_visibility_timeout_s}
        if not self.broker_url:
            options.update(broker_for(self.redis_url, self.sentinel_master)[1])
        options.update(self.broker_transport_options)
        return options

    @property
    def webhook_private_allowed(self) -> bool:
        """Webhooks may go to private addresses (the new setting or its old name)."""
        return self.allow_private_targets or self.webhook_allow_private

    @property
    def smtp_allowed_host_set(self) -> frozenset[str]:
        """``TASKSCHED_SMTP_ALLOWED_HOSTS`` as lower-case names."""
        return frozenset(
            h.strip().lower().rstrip(".") for h in self.smtp_allowed_hosts.split(",") if h.strip()
        )

    @property
    def effective_visibility_timeout_s(self) -> int:
        """Broker visibility timeout: longer than the longest allowed training."""
        return self.visibility_timeout_s or self.max_training_time_s + 600

    @property
    def tombstone_ttl_s(self) -> int:
        """How long a run id is remembered after its last change: longer than any redelivery
        (the visibility timeout) plus :data:`TOMBSTONE_MARGIN_S`."""
        return self.effective_visibility_timeout_s + TOMBSTONE_MARGIN_S

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (validated like the rest)."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default ``os.environ``).

        A bad value raises :class:`~tasksched.errors.ValidationError` naming the variable:
        ``TASKSCHED_BEAT_LEASE_S: invalid value 'ten': Input should be a valid number``.
        """
        source = dict(os.environ if env is None else env)
        with _reading(source):
            try:
                return cls()
            except pydantic.ValidationError as exc:
                raise _variable_error(exc, source) from None
            except ValueError as exc:  # pydantic-settings' SettingsError: a JSON value that is not
                raise _json_error(exc, source) from None


def check_api_bind(settings: Settings, host: str) -> None:
    """Refuse to serve the API on a non-loopback ``host`` when no API key is configured.

    Without keys the API is keyless (everyone on loopback is admin): it must not listen where
    other machines reach it. Raises ValidationError naming ``TASKSCHED_API_HOST``. Used by
    ``tasksched api`` and ``python -m tasksched.api`` alike.
    """
    if settings.api_keys.strip() or host == "localhost":
        return
    try:
        import ipaddress

        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValidationError(
            "TASKSCHED_API_HOST",
            f"cannot listen on {host!r} without TASKSCHED_API_KEYS: with no keys the API "
            "serves loopback only (use 127.0.0.1, or configure keys)",
        )


@contextmanager
def _reading(env: Mapping[str, str]) -> Iterator[None]:
    token = _SOURCE_ENV.set({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    try:
        yield
    finally:
        _SOURCE_ENV.reset(token)


def _variable_error(exc: pydantic.ValidationError, env: Mapping[str, str]) -> ValidationError:
    first = exc.errors()[0]
    name = ENV_PREFIX + str(first["loc"][0]).upper() if first.get("loc") else ENV_PREFIX
    raw = env.get(name, "")
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return ValidationError(name, f"invalid value {raw!r}: {message}")


def _json_error(exc: ValueError, env: Mapping[str, str]) -> ValidationError:
    match = re.search(r'field "([a-z_]+)"', str(exc))
    name = ENV_PREFIX + (match.group(1).upper() if match else "")
    return ValidationError(name, f"invalid value {env.get(name, '')!r}: not a JSON object")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env()


def reload_settings() -> Settings:
    """Forget the cached settings and read the environment again."""
    get_settings.cache_clear()
    return get_settings()
