"""Shared validation rules and the strict base model of every config."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Self

import pydantic
from pydantic import BaseModel, ConfigDict
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


def _clean(value: Any, max_depth: int) -> bool:
    # The fast pass (no paths built): True when nothing below needs a closer look.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str:
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind is dict:
            if depth > max_depth:
                return False
            for k, v in item.items():
                stack.append((k, depth))
                stack.append((v, depth + 1))
        elif kind is list or kind is tuple:
            if depth > max_depth:
                return False
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str | float | dict | list | tuple):
            return False  # a subclass: let the careful pass judge it
    return True


def check_text(value: Any, path: str = "", max_depth: int = ANY_MAX_DEPTH) -> None:
    """Refuse lone surrogates (not valid Unicode), NaN/infinity and absurd nesting anywhere
    in ``value``: all of them would be stored and then break every read of the record."""
    if _clean(value, max_depth):
        return
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


def _plain(value: Any) -> bool:
    # The fast pass of check_json_value: True when every rule but the size holds.
    items = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is dict:
            if depth > JSON_MAX_DEPTH:
                return False
            items += len(item)
            for k, v in item.items():
                if type(k) is not str or len(k) > NAME_MAX or not k.isascii():
                    return False
                stack.append((v, depth + 1))
        elif kind is list:
            if depth > JSON_MAX_DEPTH:
                return False
            items += len(item)
            stack.extend((v, depth + 1) for v in item)
        elif kind is str:
            if len(item) > JSON_MAX_STRING or not item.isascii():
                return False  # non-ASCII: the careful pass checks its encoding
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif item is not None and kind is not bool and kind is not int:
            return False
        if items > JSON_MAX_ITEMS:
            return False
    return True


def check_json_value(value: Any) -> Any:
    """``value`` if it is plain JSON within the limits above, else a pydantic error naming where.

    Plain JSON: objects with string keys, arrays, strings, finite numbers, booleans, null.
    """
    if not _plain(value):  # then find the place, and say what is wrong there
        check_text(value, "", JSON_MAX_DEPTH)
        _check_plain(value)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > JSON_MAX_BYTES:
        raise _fail("", f"must be at most {JSON_MAX_BYTES} bytes as JSON (it is {size})")
    return value


def _check_plain(value: Any) -> None:
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


def _check_input(data: Any) -> None:
    try:
        check_text(data)
    except PydanticCustomError as exc:
        field = str((exc.context or {}).get("subpath") or "")
        raise ValidationError(field, exc.message()) from None


def check_text_before(data: Any) -> Any:
    """:func:`check_text` for a ``model_validator(mode="before")`` (API request bodies)."""
    check_text(data)
    return data


class Model(BaseModel):
    """Strict pydantic base: unknown fields are errors, defaults are validated.

    Constructing or validating a model with a bad value raises
    :class:`tasksched.errors.ValidationError` naming the field (dotted path), never pydantic's
    own error: the same error type from Python, REST, the CLI and import.
    """

    model_config = ConfigDict(
        extra="forbid", validate_default=True, use_enum_values=False, allow_inf_nan=False
    )

    def __init__(self, **data: Any) -> None:
        # Before any other rule, once for the whole input (nested models included): a lone
        # surrogate or a NaN stored once would break every later read.
        _check_input(data)
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
        if isinstance(obj, dict):
            _check_input(obj)
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
