"""Validated configuration models, safety presets, schedule and run records (pure).

The names follow what users of autonomous-training schedulers already write:
``SafetyLevel``, ``SafetyControls``, ``NotificationConfig``, ``AutonomousConfig``.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tasksched.cron import MisfirePolicy, get_timezone, normalise
from tasksched.errors import CronError
from tasksched.settings import get_settings

__all__ = [
    "PRESETS",
    "AutonomousConfig",
    "ConcurrencyPolicy",
    "MisfirePolicy",
    "NotificationConfig",
    "NotificationEvent",
    "NotificationType",
    "RunStatus",
    "RunTrigger",
    "SafetyControls",
    "SafetyLevel",
    "ScheduleStatus",
    "validate_name",
    "validate_tenant_id",
]

TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
SCHEDULE_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
NAME_MAX = 128
LEARNER_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")


class SafetyLevel(StrEnum):
    """Safety presets; see :data:`PRESETS` for their numbers."""

    STRICT = "strict"
    MODERATE = "moderate"
    PERMISSIVE = "permissive"


class NotificationType(StrEnum):
    """Notification channels. ``MEMORY`` is the per-tenant feed kept in Redis."""

    LOG = "log"
    EMAIL = "email"
    WEBHOOK = "webhook"
    MEMORY = "memory"


class NotificationEvent(StrEnum):
    """Events a run or schedule emits; channels may filter on them."""

    RUN_STARTED = "run_started"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_REJECTED = "run_rejected"
    RUN_FAILED = "run_failed"
    RUN_SKIPPED = "run_skipped"
    RUN_DEFERRED = "run_deferred"
    COOLDOWN_ENTERED = "cooldown_entered"
    SCHEDULE_PAUSED = "schedule_paused"
    TEST = "test"


class ScheduleStatus(StrEnum):
    """A schedule's status. Only ``active`` schedules are in the due index."""

    ACTIVE = "active"
    PAUSED = "paused"


class RunStatus(StrEnum):
    """A run's status. Terminal: succeeded, rejected, failed, skipped, missed, lost."""

    QUEUED = "queued"
    RUNNING = "running"
    DEFERRED = "deferred"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        """True when the run will not change any more."""
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.DEFERRED)


class RunTrigger(StrEnum):
    """Why a run exists: its cron fire time, a catch-up after downtime, or a user's request."""

    CRON = "cron"
    CATCHUP = "catchup"
    MANUAL = "manual"


class ConcurrencyPolicy(StrEnum):
    """What a run does when another run of its schedule holds the run lock."""

    SKIP = "skip"
    WAIT = "wait"


# The preset numbers. Data thresholds are sample counts; times in minutes and hours.
PRESETS: dict[SafetyLevel, dict[str, Any]] = {
    SafetyLevel.STRICT: {
        "min_data_threshold": 500,
        "max_data_threshold": 5000,
        "quality_threshold": 0.9,
        "validation_threshold": 0.95,
        "max_training_time_minutes": 30,
        "rollback_on_degradation": True,
        "max_memory_usage_mb": 1024,
        "max_cpu_usage_percent": 60.0,
        "max_consecutive_failures": 1,
        "failure_cooldown_hours": 48.0,
        "backup_before_training": True,
    },
    SafetyLevel.MODERATE: {
        "min_data_threshold": 100,
        "max_data_threshold": 10000,
        "quality_threshold": 0.7,
        "validation_threshold": 0.85,
        "max_training_time_minutes": 60,
        "rollback_on_degradation": True,
        "max_memory_usage_mb": 2048,
        "max_cpu_usage_percent": 80.0,
        "max_consecutive_failures": 3,
        "failure_cooldown_hours": 24.0,
        "backup_before_training": True,
    },
    SafetyLevel.PERMISSIVE: {
        "min_data_threshold": 50,
        "max_data_threshold": 50000,
        "quality_threshold": 0.5,
        "validation_threshold": 0.7,
        "max_training_time_minutes": 120,
        "rollback_on_degradation": False,
        "max_memory_usage_mb": 4096,
        "max_cpu_usage_percent": 95.0,
        "max_consecutive_failures": 5,
        "failure_cooldown_hours": 12.0,
        "backup_before_training": True,
    },
}


def validate_tenant_id(value: Any) -> str:
    """Return ``value`` if it is a sane tenant id, else raise ValueError."""
    if not isinstance(value, str) or not TENANT_RE.match(value):
        raise ValueError(
            "must be 1-64 characters: letters, digits, '_', '-', '.', starting with a letter "
            "or digit"
        )
    return value


def validate_name(value: Any) -> str:
    """Return the stripped ``value`` if it is a sane schedule name, else raise ValueError."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    name = value.strip()
    if not name:
        raise ValueError("must not be empty")
    if len(name) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    if not name.isprintable():
        raise ValueError("must not contain control characters")
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, use_enum_values=False)


class SafetyControls(_Model):
    """Limits that decide whether a run may start and whether its model may be promoted.

    ``level`` picks a preset; every field not given explicitly is taken from it, explicit
    fields win: ``SafetyControls(level=SafetyLevel.STRICT, max_memory_usage_mb=512)``.
    """

    level: SafetyLevel = SafetyLevel.MODERATE
    min_data_threshold: int = Field(ge=0)
    max_data_threshold: int = Field(gt=0)
    quality_threshold: float = Field(ge=0.0, le=1.0)
    validation_threshold: float = Field(ge=0.0, le=1.0)
    max_training_time_minutes: float = Field(gt=0)
    rollback_on_degradation: bool
    max_memory_usage_mb: float = Field(gt=0)
    max_cpu_usage_percent: float = Field(gt=0, le=100)
    max_consecutive_failures: int = Field(ge=1)
    failure_cooldown_hours: float = Field(ge=0)
    backup_before_training: bool

    _explicit: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="wrap")
    @classmethod
    def _apply_preset(cls, data: Any, handler: Any) -> Any:
        if isinstance(data, SafetyControls):
            return data
        if not isinstance(data, dict):
            return handler(data)
        given = {k: v for k, v in data.items() if v is not None}
        raw_level = given.get("level", SafetyLevel.MODERATE)
        try:
            level = SafetyLevel(raw_level)
        except ValueError:
            return handler(given)  # let pydantic report the bad level
        explicit = frozenset(k for k in given if k != "level")
        model = handler({**PRESETS[level], **given, "level": level})
        model._explicit = explicit
        return model

    @model_validator(mode="after")
    def _check_ranges(self) -> SafetyControls:
        if self.min_data_threshold > self.max_data_threshold:
            raise ValueError(
                f"min_data_threshold ({self.min_data_threshold}) must not exceed "
                f"max_data_threshold ({self.max_data_threshold})"
            )
        cap_min = get_settings().max_training_time_s / 60
        if self.max_training_time_minutes > cap_min:
            raise ValueError(
                f"max_training_time_minutes must be at most {cap_min:g} "
                "(TASKSCHED_MAX_TRAINING_TIME_S)"
            )
        return self

    @property
    def explicit_fields(self) -> frozenset[str]:
        """The fields the user set explicitly (the rest come from the level's preset)."""
        return self._explicit

    def with_overrides(self, **changes: Any) -> SafetyControls:
        """A copy with ``changes`` applied as explicit values."""
        data = {k: getattr(self, k) for k in self._explicit}
        data.update(changes)
        return SafetyControls.model_validate({"level": self.level, **data})

    def to_stored(self) -> dict[str, Any]:
        """The level and the explicit fields only, so a preset change reaches the rest."""
        dumped = self.model_dump(mode="json")
        return {"level": dumped["level"], **{k: dumped[k] for k in sorted(self._explicit)}}


SECRET_MASK = "********"


class NotificationConfig(_Model):
    """Where a schedule's events go. Secrets are encrypted at rest and never shown back."""

    enabled: bool = True
    types: list[NotificationType] = Field(default_factory=lambda: [NotificationType.LOG])
    email_smtp_host: str | None = Field(default=None, max_length=255)
    email_smtp_port: int = Field(default=587, ge=1, le=65535)
    email_username: str | None = Field(default=None, max_length=255)
    email_password: SecretStr | None = None
    email_sender: str | None = Field(default=None, max_length=255)
    email_recipients: list[str] = Field(default_factory=list, max_length=100)
    email_use_tls: bool = True  # STARTTLS
    email_use_ssl: bool = False  # implicit TLS (port 465)
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_headers: dict[str, str] = Field(default_factory=dict, max_length=50, repr=False)
    webhook_timeout: float = Field(default=30, gt=0, le=300)
    webhook_secret: SecretStr | None = None
    memory_tenant_id: str | None = None
    memory_importance_score: int = Field(default=8, ge=0, le=10)
    # channel -> events it receives; a channel not listed receives every event
    event_filters: dict[NotificationType, list[NotificationEvent]] = Field(default_factory=dict)

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = (
        "email_password",
        "webhook_headers",
        "webhook_secret",
    )

    @field_validator("types")
    @classmethod
    def _unique_types(cls, v: list[NotificationType]) -> list[NotificationType]:
        return list(dict.fromkeys(v))

    @field_validator("email_recipients")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for addr in v:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", addr) or len(addr) > 254:
                raise ValueError(f"{addr!r} is not an email address")
        return v

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v

    @field_validator("webhook_headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not HEADER_NAME_RE.match(k):
                raise ValueError(f"{k!r} is not a valid header name")
            if "\n" in val or "\r" in val or len(val) > 8192:
                raise ValueError(f"header {k!r} has an invalid value")
        return v

    @field_validator("memory_tenant_id")
    @classmethod
    def _mem_tenant(cls, v: str | None) -> str | None:
        return None if v is None else validate_tenant_id(v)

    @model_validator(mode="after")
    def _channels_configured(self) -> NotificationConfig:
        if not self.enabled:
            return self
        if NotificationType.EMAIL in self.types:
            if not self.email_smtp_host:
                raise ValueError("email_smtp_host is required when 'email' is in types")
            if not self.email_recipients:
                raise ValueError("email_recipients is required when 'email' is in types")
        if NotificationType.WEBHOOK in self.types and not self.webhook_url:
            raise ValueError("webhook_url is required when 'webhook' is in types")
        return self

    def wants(self, channel: NotificationType, event: NotificationEvent) -> bool:
        """True when ``channel`` is on and its filter lets ``event`` through."""
        if not self.enabled or channel not in self.types:
            return False
        allowed = self.event_filters.get(channel)
        return allowed is None or event in allowed or event is NotificationEvent.TEST

    def secrets(self) -> dict[str, Any]:
        """The secret fields in clear text (for encryption at rest); empty ones left out."""
        out: dict[str, Any] = {}
        if self.email_password is not None:
            out["email_password"] = self.email_password.get_secret_value()
        if self.webhook_headers:
            out["webhook_headers"] = dict(self.webhook_headers)
        if self.webhook_secret is not None:
            out["webhook_secret"] = self.webhook_secret.get_secret_value()
        return out

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready dict with every secret masked (header names kept, values masked)."""
        d = self.model_dump(mode="json", exclude=set(self.SECRET_FIELDS))
        d["email_password"] = SECRET_MASK if self.email_password is not None else None
        d["webhook_secret"] = SECRET_MASK if self.webhook_secret is not None else None
        d["webhook_headers"] = {k: SECRET_MASK for k in self.webhook_headers}
        return d


# (top-level field of AutonomousConfig, field of SafetyControls, top -> controls, controls -> top)
_MIRRORED: tuple[tuple[str, str, Any, Any], ...] = (
    ("min_data_threshold", "min_data_threshold", lambda v: v, lambda v: v),
    ("quality_threshold", "quality_threshold", lambda v: v, lambda v: v),
    ("validation_threshold", "validation_threshold", lambda v: v, lambda v: v),
    ("max_training_time", "max_training_time_minutes", lambda v: v / 60, lambda v: v * 60),
    ("backup_models", "backup_before_training", lambda v: v, lambda v: v),
    ("auto_rollback", "rollback_on_degradation", lambda v: v, lambda v: v),
)


class AutonomousConfig(_Model):
    """A schedule's training configuration.

    The top-level thresholds (``min_data_threshold``, ``quality_threshold``,
    ``validation_threshold``, ``max_training_time`` in seconds, ``backup_models``,
    ``auto_rollback``) are the same values as their twins in ``safety_controls``: setting
    either sets both; two different explicit values are a validation error.
    """

    enabled: bool = True
    training_schedule: str = "0 2 * * *"
    timezone: str = "UTC"
    safety_controls: SafetyControls = Field(
        default_factory=lambda: SafetyControls.model_validate({})
    )
    min_data_threshold: int | None = Field(default=None, ge=0)
    quality_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    validation_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    max_training_time: float | None = Field(default=None, gt=0, description="seconds")
    backup_models: bool | None = None
    auto_rollback: bool | None = None
    notifications: NotificationConfig = Field(default_factory=lambda: NotificationConfig())
    learner: str | None = Field(default=None, description="import path 'module:attribute'")
    learner_options: dict[str, Any] = Field(default_factory=dict)
    misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ONCE
    misfire_grace_s: float = Field(default=300.0, ge=0, le=7 * 86400)
    jitter_s: float = Field(default=0.0, ge=0, le=86400)
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.SKIP

    @field_validator("training_schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        try:
            return normalise(v).expression
        except CronError as exc:
            raise ValueError(exc.message) from None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            get_timezone(v)
        except CronError as exc:
            raise ValueError(exc.message) from None
        return v

    @field_validator("learner")
    @classmethod
    def _learner(cls, v: str | None) -> str | None:
        if v is not None and not LEARNER_RE.match(v):
            raise ValueError("must be an import path 'module:attribute'")
        return v

    @field_validator(*[m[0] for m in _MIRRORED])
    @classmethod
    def _no_conflict(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        controls = info.data.get("safety_controls")
        if not isinstance(controls, SafetyControls):
            return v
        assert info.field_name is not None
        _, sc_name, to_sc, _ = next(m for m in _MIRRORED if m[0] == info.field_name)
        if sc_name in controls.explicit_fields and getattr(controls, sc_name) != to_sc(v):
            raise ValueError(
                f"conflicts with safety_controls.{sc_name} ({getattr(controls, sc_name)}); "
                "they are one value: set one of them, or both the same"
            )
        return v

    _mirrored: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _mirror(self) -> AutonomousConfig:
        # pydantic re-runs after-validators when an instance is passed in; once is enough.
        if self._mirrored:
            return self
        overrides = {
            sc_name: to_sc(getattr(self, top))
            for top, sc_name, to_sc, _ in _MIRRORED
            if top in self.model_fields_set and getattr(self, top) is not None
        }
        controls = self.safety_controls.with_overrides(**overrides) if overrides else None
        if controls is not None:
            self.__dict__["safety_controls"] = controls
        for top, sc_name, _, from_sc in _MIRRORED:
            self.__dict__[top] = from_sc(getattr(self.safety_controls, sc_name))
        self._mirrored = True
        return self

    def to_stored(self, include_secrets: bool = False) -> dict[str, Any]:
        """The JSON form kept in Redis: mirrored fields once, secrets removed (stored apart)."""
        d = self.model_dump(
            mode="json",
            exclude={m[0] for m in _MIRRORED} | {"safety_controls", "notifications"},
        )
        d["safety_controls"] = self.safety_controls.to_stored()
        notif = self.notifications.model_dump(
            mode="json", exclude=set(NotificationConfig.SECRET_FIELDS)
        )
        if include_secrets:
            notif.update(self.notifications.secrets())
        d["notifications"] = notif
        return d

    def public_dict(self) -> dict[str, Any]:
        """Every effective value, JSON-ready, secrets masked."""
        d = self.model_dump(mode="json", exclude={"notifications"})
        d["notifications"] = self.notifications.public_dict()
        return d


class ScheduleSpec(_Model):
    """What a user gives to create a schedule."""

    tenant_id: str
    name: str
    cron_expression: str
    config: AutonomousConfig = Field(default_factory=AutonomousConfig)
    description: str = Field(default="", max_length=2000)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: Any) -> str:
        return validate_tenant_id(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: Any) -> str:
        return validate_name(v)

    @field_validator("cron_expression")
    @classmethod
    def _cron(cls, v: str) -> str:
        try:
            return normalise(v).expression
        except CronError as exc:
            raise ValueError(exc.message) from None

    @model_validator(mode="after")
    def _cron_into_config(self) -> ScheduleSpec:
        # The schedule's cron is the one given here; the config's training_schedule follows it.
        if self.config.training_schedule != self.cron_expression:
            self.__dict__["config"] = self.config.model_copy(
                update={"training_schedule": self.cron_expression}
            )
        return self

    @classmethod
    def from_validated_config(
        cls,
        tenant_id: Any,
        name: Any,
        cron_expression: Any,
        config: AutonomousConfig,
        description: Any = "",
        config_cache: dict[tuple[int, str], AutonomousConfig] | None = None,
    ) -> ScheduleSpec:
        """Validate the plain fields with the same rules, reusing an already validated config.

        For bulk creation: skips re-validating ``config`` and, with ``config_cache``, shares
        one config object among specs with the same cron. Raises ValidationError naming the field.
        """
        from tasksched.errors import ValidationError as _VE

        def check(field: str, fn: Any, value: Any) -> Any:
            try:
                return fn(value)
            except (ValueError, TypeError) as exc:
                msg = exc.message if isinstance(exc, CronError) else str(exc)
                raise _VE(field, msg) from None

        tenant = check("tenant_id", validate_tenant_id, tenant_id)
        clean_name = check("name", validate_name, name)
        cron = check("cron_expression", lambda v: normalise(v).expression, cron_expression)
        if not isinstance(description, str) or len(description) > 2000:
            raise _VE("description", "must be a string of at most 2000 characters")
        if config.training_schedule != cron:
            key = (id(config), cron)
            cached = config_cache.get(key) if config_cache is not None else None
            if cached is None:
                cached = config.model_copy(update={"training_schedule": cron})
                if config_cache is not None:
                    config_cache[key] = cached
            config = cached
        return cls.model_construct(
            tenant_id=tenant,
            name=clean_name,
            cron_expression=cron,
            config=config,
            description=description,
        )


def utc_iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 string in UTC with its offset, or None."""
    if ts is None:
        return None
    from datetime import UTC

    return datetime.fromtimestamp(ts, UTC).isoformat()
