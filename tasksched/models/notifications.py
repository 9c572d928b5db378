"""Where a schedule's events go: NotificationConfig (secrets masked in views)."""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from tasksched.models.base import HEADER_NAME_RE, Model, validate_tenant_id
from tasksched.models.enums import NotificationEvent, NotificationType

SECRET_MASK = "********"


class NotificationConfig(Model):
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
