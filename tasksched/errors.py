"""One error tree for tasksched.

Failures derive from :class:`TaskschedError`. Control signals that steer a run
(:class:`SkipRun`, :class:`DeferRun`) are apart from failures: they derive from
:class:`RunControl` and never count as a failed run.
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
            msg = str(err.get("msg", "invalid value"))
            msg = msg.removeprefix("Value error, ")
            errors.append({"field": field, "message": msg})
        first = errors[0] if errors else {"field": prefix, "message": "invalid value"}
        return cls(first["field"], first["message"], errors)


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
    """Raised when the store cannot complete an operation (Redis unreachable, bad data)."""


class LeaseLostError(TaskschedError):
    """Raised when a holder finds that its lease (beat leadership, run lock) has passed."""


class LearnerError(TaskschedError):
    """Raised when a learner cannot be loaded or breaks its protocol."""


class NotificationError(TaskschedError):
    """Raised when a notification channel fails to deliver (retried by the notify task)."""

    def __init__(self, channel: str, message: str, retryable: bool = True):
        self.channel = channel
        self.retryable = retryable
        super().__init__(f"{channel}: {message}")


class RunControl(Exception):
    """Base of control signals that end a run early without failing it."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class SkipRun(RunControl):
    """Raised when a run must not happen (paused, cooldown, too little data, ...)."""


class DeferRun(RunControl):
    """Raised when this host cannot take the run now; it is re-queued with a delay."""

    def __init__(self, reason: str, countdown_s: float = 5.0):
        self.countdown_s = countdown_s
        super().__init__(reason)
