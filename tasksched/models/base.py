"""Shared validation rules and the strict base model of every config."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Self

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from tasksched.errors import ValidationError

TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
SCHEDULE_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
NAME_MAX = 128
# A registered learner's name (which names exist is the deployment's: tasksched.plugins).
LEARNER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
# What schedules stored before learners were registered by name: read, never imported.
LEGACY_LEARNER_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

# Limits of a free-form JSON value a tenant may store (learner_options): what a schedule
# needs, far below what would hurt Redis, the API or the worker reading it back.
JSON_MAX_BYTES = 64 * 1024  # encoded as compact UTF-8 JSON
JSON_MAX_DEPTH = 8  # levels of objects/arrays; the value itself is level 1
JSON_MAX_ITEMS = 1000  # keys and array items, counted through every level
JSON_MAX_STRING = 8192  # characters of any one string (keys: NAME_MAX)
# Any value given to a model: deeper than this is refused before anything else looks at it.
ANY_MAX_DEPTH = 32
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


def _fail(subpath: str, message: str) -> PydanticCustomError:
    # The ``subpath`` (inside the field) is joined to the field's own path by
    # ValidationError.from_pydantic and the API's error handler, so the field is exact.
    return PydanticCustomError("invalid_value", message, {"subpath": subpath})


def _join(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def check_text(value: Any, path: str = "", max_depth: int = ANY_MAX_DEPTH) -> None:
    """Refuse lone surrogates (not valid Unicode), NaN/infinity and absurd nesting anywhere
    in ``value``: all of them would be stored and then break every read of the record."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise _fail(where, "must be valid Unicode (no lone surrogates)") from None
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _fail(where, "must be a finite number")
        elif isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise _fail(where, f"is nested deeper than {max_depth} levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for k, v in pairs:
                if isinstance(k, str):
                    stack.append((k, where, depth))
                stack.append((v, _join(where, k), depth + 1))


def check_json_value(value: Any) -> Any:
    """``value`` if it is plain JSON within the limits above, else a pydantic error naming where.

    Plain JSON: objects with string keys, arrays, strings, finite numbers, booleans, null.
    """
    check_text(value, "", JSON_MAX_DEPTH)
    items = 0
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            items += len(item)
            for k, v in item.items():
                if not isinstance(k, str):
                    raise _fail(where, "keys must be strings")
                if len(k) > NAME_MAX:
                    raise _fail(where, f"keys must be at most {NAME_MAX} characters")
                stack.append((v, _join(where, k)))
        elif isinstance(item, list):
            items += len(item)
            stack.extend((v, _join(where, i)) for i, v in enumerate(item))
        elif isinstance(item, str):
            if len(item) > JSON_MAX_STRING:
                raise _fail(where, f"strings must be at most {JSON_MAX_STRING} characters")
        elif item is not None and not isinstance(item, bool | int | float):
            raise _fail(where, "must be plain JSON (object, array, string, number, bool, null)")
        if items > JSON_MAX_ITEMS:
            raise _fail("", f"must hold at most {JSON_MAX_ITEMS} keys and items in all")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > JSON_MAX_BYTES:
        raise _fail("", f"must be at most {JSON_MAX_BYTES} bytes as JSON (it is {size})")
    return value


class Model(BaseModel):
    """Strict pydantic base: unknown fields are errors, defaults are validated.

    Constructing or validating a model with a bad value raises
    :class:`tasksched.errors.ValidationError` naming the field (dotted path), never pydantic's
    own error: the same error type from Python, REST, the CLI and import.
    """

    model_config = ConfigDict(
        extra="forbid", validate_default=True, use_enum_values=False, allow_inf_nan=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _valid_text(cls, v: Any) -> Any:
        # Before any other rule: a lone surrogate or NaN stored once breaks every later read.
        check_text(v)
        return v

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
