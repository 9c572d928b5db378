"""One error tree for tasksched: everything raised on purpose derives from :class:`TaskschedError`.

* :class:`ValidationError` (and :class:`CronError`) - bad input, naming the field;
* :class:`NotFoundError`, :class:`ConflictError` - a missing or changed schedule or run;
* :class:`SecretKeyMissingError`, :class:`SecretDecryptError` - secrets at rest;
* :class:`StoreError` (and :class:`StoreUnavailableError`) - Redis, translated by the store;
* :class:`LearnerError`, :class:`NotificationError` - a learner or a channel failed.
"""

from __future__ import annotations

from typing import Any


class TaskschedError(Exception):
    """Base of every error tasksched raises on purpose."""


class ValidationError(TaskschedError, ValueError):
    """Raised when input is invalid; ``field`` names the offending field (dotted path).

    ``errors`` holds every problem found as ``{"field": ..., "message": ...}`` dicts so an API
    can report them all; ``str()`` gives a one-line message naming the first field.
    """

    def __init__(self, field: str, message: str, errors: list[dict[str, str]] | None = None):
        self.field = field
        self.message = message
        self.errors = errors or [{"field": field, "message": message}]
        super().__init__(f"{field}: {message}" if field else message)

    @classmethod
    def from_pydantic(cls, exc: Any, prefix: str = "") -> ValidationError:
        """Build from a ``pydantic.ValidationError``, keeping every field path."""
        errors: list[dict[str, str]] = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
            field = ".".join(p for p in (prefix, loc) if p)
            sub = str((err.get("ctx") or {}).get("subpath") or "")
            if sub:
                field = f"{field}{sub}" if sub.startswith("[") else ".".join(
                    p for p in (field, sub) if p
                )
            msg = str(err.get("msg", "invalid value"))
            msg = msg.removeprefix("Value error, ")
            errors.append({"field": field, "message": msg})
        first = errors[0] if errors else {"field": prefix, "message": "invalid value"}
        return cls(first["field"], first["message"], errors)


    def prefixed(self, prefix: str) -> ValidationError:
        """The same problems with every field under ``prefix`` (``config`` -> ``config.x``)."""
        errors = [
            {"field": ".".join(p for p in (prefix, e["field"]) if p), "message": e["message"]}
            for e in self.errors
        ]
        first = errors[0]
        return type(self)(first["field"], first["message"], errors)


class CronError(ValidationError):
    """Raised when a cron expression or timezone cannot be used."""


class NotFoundError(TaskschedError, LookupError):
    """Raised when a schedule, run or tenant id does not exist (or is not visible)."""

    def __init__(self, kind: str, ident: str):
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident!r} not found")


class ConflictError(TaskschedError):
    """Raised when an update is based on a stale version (optimistic concurrency)."""

    def __init__(self, ident: str, expected: int, actual: int):
        self.ident = ident
        self.expected_version = expected
        self.actual_version = actual
        super().__init__(
            f"schedule {ident!r} changed meanwhile: expected version {expected}, it is {actual}"
        )


class SecretKeyMissingError(TaskschedError):
    """Raised when a secret must be stored or read but ``TASKSCHED_SECRET_KEY`` is not set."""

    def __init__(self, message: str | None = None):
        super().__init__(
            message
            or "TASKSCHED_SECRET_KEY is not set: it is required to store secrets "
            "(SMTP password, webhook headers, signing secret). "
            "Generate one with `python -c \"from cryptography.fernet import Fernet; "
            'print(Fernet.generate_key().decode())"`'
        )


class SecretDecryptError(TaskschedError):
    """Raised when a stored secret cannot be decrypted with the configured key."""


class StoreError(TaskschedError):
    """Raised when Redis refuses a command the store sent (a script error, a wrong type)."""


class StoreUnavailableError(StoreError):
    """Raised when Redis cannot be reached or cannot serve now (connection lost or refused,
    timeout, a replica, still loading); waiting and retrying may help."""


class LearnerError(TaskschedError):
    """Raised when a learner cannot be loaded or breaks its protocol."""


class NotificationError(TaskschedError):
    """Raised when a notification channel fails to deliver (retried by the notify task)."""

    def __init__(self, channel: str, message: str, retryable: bool = True):
        self.channel = channel
        self.retryable = retryable
        super().__init__(f"{channel}: {message}")
