"""Shared validation rules and the strict base model of every config."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Self

import pydantic
from pydantic import BaseModel, ConfigDict

from tasksched.errors import ValidationError

TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
SCHEDULE_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
NAME_MAX = 128
LEARNER_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")


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


class Model(BaseModel):
    """Strict pydantic base: unknown fields are errors, defaults are validated.

    Constructing or validating a model with a bad value raises
    :class:`tasksched.errors.ValidationError` naming the field (dotted path), never pydantic's
    own error: the same error type from Python, REST, the CLI and import.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, use_enum_values=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise ValidationError.from_pydantic(exc) from None

    # Marks this __init__ as the base one (as pydantic's RootModel does), so a nested model is
    # validated by pydantic-core with its full field path, not through this translation.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate ``obj`` (a dict or an instance); raises ValidationError naming the field."""
        try:
            return super().model_validate(obj, **kwargs)
        except pydantic.ValidationError as exc:
            raise ValidationError.from_pydantic(exc) from None


def utc_iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 string in UTC with its offset, or None."""
    if ts is None:
        return None
    from datetime import UTC

    return datetime.fromtimestamp(ts, UTC).isoformat()
