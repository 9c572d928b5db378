"""A schedule's training configuration (AutonomousConfig) and ScheduleSpec."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tasksched.cron import MisfirePolicy, RepeatedDst, SkippedDst, get_timezone, normalise
from tasksched.cron.compat import refuse_ambiguous
from tasksched.errors import CronError
from tasksched.models.base import (
    LEARNER_NAME_RE,
    LEGACY_LEARNER_RE,
    Model,
    check_json_value,
    validate_name,
    validate_tenant_id,
)
from tasksched.models.enums import ConcurrencyPolicy
from tasksched.models.notifications import NotificationConfig
from tasksched.models.safety import SafetyControls


def valid_cron(value: Any) -> str:
    """The normalised expression, or ValueError with the cron engine's message (for pydantic)."""
    try:
        return normalise(value).expression
    except CronError as exc:
        raise ValueError(exc.message) from None


def valid_new_cron(value: Any, info: ValidationInfo | None = None) -> str:
    """As :func:`valid_cron`, and refuse forms cron libraries read differently (issue 13).

    An update that keeps the stored expression (``context={"stored_cron": ...}``) is not refused:
    a schedule written before the refusal goes on working; ``tasksched doctor`` lists it.
    """
    expr = valid_cron(value)
    if info is not None and info.context and expr == info.context.get("stored_cron"):
        return expr
    try:
        return refuse_ambiguous(expr)
    except CronError as exc:
        raise ValueError(exc.message) from None


# (top-level field of AutonomousConfig, field of SafetyControls, top -> controls, controls -> top)
MIRRORED_FIELDS: tuple[tuple[str, str, Any, Any], ...] = (
    ("min_data_threshold", "min_data_threshold", lambda v: v, lambda v: v),
    ("quality_threshold", "quality_threshold", lambda v: v, lambda v: v),
    ("validation_threshold", "validation_threshold", lambda v: v, lambda v: v),
    ("max_training_time", "max_training_time_minutes", lambda v: v / 60, lambda v: v * 60),
    ("backup_models", "backup_before_training", lambda v: v, lambda v: v),
    ("auto_rollback", "rollback_on_degradation", lambda v: v, lambda v: v),
)


# When a config gives both twins explicitly, the stricter value applies (in the controls' unit):
# more data, higher thresholds, less time, backups and rollback on.
STRICTER: dict[str, Any] = {
    "min_data_threshold": max,
    "quality_threshold": max,
    "validation_threshold": max,
    "max_training_time_minutes": min,
    "backup_before_training": lambda a, b: bool(a or b),
    "rollback_on_degradation": lambda a, b: bool(a or b),
}


class AutonomousConfig(Model):
    """A schedule's training configuration.

    The top-level thresholds (``min_data_threshold``, ``quality_threshold``,
    ``validation_threshold``, ``max_training_time`` in seconds, ``backup_models``,
    ``auto_rollback``) are the same values as their twins in ``safety_controls``: setting
    either sets both; when both are given explicitly with different values the stricter one
    applies to both (see :data:`STRICTER`), e.g. ``max_training_time=7200`` with
    ``safety_controls.max_training_time_minutes=60`` is 60 minutes.
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
    learner: str | None = Field(
        default=None,
        description="the name of a learner this deployment registered (None: the worker's "
        "default, TASKSCHED_LEARNER)",
    )
    learner_options: dict[str, Any] = Field(
        default_factory=dict,
        description="plain JSON for the learner's constructor: at most 64 KiB, 8 levels, "
        "1000 keys and items, strings of 8192 characters",
    )
    misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ONCE
    misfire_grace_s: float | None = Field(
        default=None,
        ge=0,
        le=7 * 86400,
        description="seconds; None: the deployment's TASKSCHED_BEAT_DEFAULT_GRACE_S",
    )
    jitter_s: float = Field(default=0.0, ge=0, le=86400)
    # Daylight saving: "auto" is the documented rule (docs/schedules.md); an explicit value
    # makes each wall time fire at most once, the side not set being first / shift.
    duplicate_dst: RepeatedDst = RepeatedDst.AUTO
    missing_dst: SkippedDst = SkippedDst.AUTO
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.SKIP

    @field_validator("training_schedule")
    @classmethod
    def _cron(cls, v: Any) -> str:
        return valid_cron(v)

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
        # Which names exist is the deployment's (checked where a schedule is written and
        # where it runs); an old stored import path still reads, and is never imported.
        if v is not None and not (LEARNER_NAME_RE.match(v) or LEGACY_LEARNER_RE.match(v)):
            raise ValueError(
                "must be the name of a registered learner (letters, digits, '_', '-', '.')"
            )
        return v

    @field_validator("learner_options")
    @classmethod
    def _options(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_json_value(v)  # type: ignore[no-any-return]

    _mirrored: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _mirror(self) -> AutonomousConfig:
        # pydantic re-runs after-validators when an instance is passed in; once is enough.
        if self._mirrored:
            return self
        controls = self.safety_controls
        overrides = {}
        for top, sc_name, to_sc, _ in MIRRORED_FIELDS:
            if top in self.model_fields_set and getattr(self, top) is not None:
                value = to_sc(getattr(self, top))
                if sc_name in controls.explicit_fields:  # both given: the stricter applies
                    value = STRICTER[sc_name](getattr(controls, sc_name), value)
                overrides[sc_name] = value
        if overrides:
            self.__dict__["safety_controls"] = controls.with_overrides(**overrides)
        for top, sc_name, _, from_sc in MIRRORED_FIELDS:
            self.__dict__[top] = from_sc(getattr(self.safety_controls, sc_name))
        self._mirrored = True
        return self

    def to_stored(self, include_secrets: bool = False) -> dict[str, Any]:
        """The JSON form kept in Redis: mirrored fields once, secrets removed (stored apart)."""
        d = self.model_dump(
            mode="json",
            exclude={m[0] for m in MIRRORED_FIELDS} | {"safety_controls", "notifications"},
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


class ScheduleSpec(Model):
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
    def _cron(cls, v: Any, info: ValidationInfo) -> str:
        return valid_new_cron(v, info)

    @model_validator(mode="after")
    def _own_feed(self) -> ScheduleSpec:
        # A schedule's feed entries go to its own tenant: naming another one would let a
        # tenant write into (and push real entries out of) someone else's feed.
        mem = self.config.notifications.memory_tenant_id
        if mem is not None and mem != self.tenant_id:
            raise PydanticCustomError(
                "invalid_value",
                "must be the schedule's own tenant ({tenant}) or left out",
                {"subpath": "config.notifications.memory_tenant_id", "tenant": self.tenant_id},
            )
        return self

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
        cron = check("cron_expression", refuse_ambiguous, cron_expression)
        if not isinstance(description, str) or len(description) > 2000:
            raise _VE("description", "must be a string of at most 2000 characters")
        try:
            description.encode("utf-8")
        except UnicodeEncodeError:
            raise _VE("description", "must be valid Unicode (no lone surrogates)") from None
        mem = config.notifications.memory_tenant_id
        if mem is not None and mem != tenant:
            raise _VE(
                "config.notifications.memory_tenant_id",
                f"must be the schedule's own tenant ({tenant}) or left out",
            )
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
