"""How a schedule is laid out in its Redis hash, and :class:`ScheduleRecord`, one read back."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from tasksched.cron import get_timezone
from tasksched.models import (
    SECRET_MASK,
    AutonomousConfig,
    ScheduleStatus,
    utc_iso,
)

COUNTERS = (
    "total_runs",
    "successful_runs",
    "failed_runs",
    "skipped_runs",
    "rejected_runs",
    "lost_runs",  # attempts whose worker stopped (not failures)
    "interrupted_runs",  # runs ended by a worker's shutdown (not failures)
    "consecutive_failures",
)
# Values a hash field takes when absent (left out on bulk create to save memory and time).
# Beat's timing fields (cron, tz, misfire) are always written; beat reads them as they are.
DEFAULT_FIELDS = {"config": "{}"}
# Config fields kept as their own hash fields (read by beat every tick), not in the JSON.
_CONFIG_TIMING = (
    "training_schedule", "timezone", "jitter_s", "misfire_policy", "misfire_grace_s",
    "duplicate_dst", "missing_dst",
)
# ``enabled`` is the schedule's status (active or paused), never stored in the JSON: it reads
# back as the status, so it follows pause and resume.
_FROM_STATUS = ("enabled",)


def new_schedule_id() -> str:
    """A random 16-hex-character schedule id (64 bits)."""
    return os.urandom(8).hex()


def _float(v: str | None) -> float | None:
    return None if v in (None, "") else float(v)  # type: ignore[arg-type]


def _next_run(h: Mapping[str, str]) -> float | None:
    """The next fire: a run claimed ahead of its fire time (``staged``, see
    :mod:`tasksched.beat.stage`) until that time comes, else the due index's ``next_run``
    (which then already holds the fire after it)."""
    staged = h.get("staged")
    if staged and h.get("status", "active") == "active":
        fire = float(staged.partition("\t")[0])
        if fire > time.time():
            return fire
    return _float(h.get("next_run"))


@dataclass
class ScheduleRecord:
    """One stored schedule, as read back."""

    id: str
    tenant_id: str
    name: str
    description: str
    cron_expression: str
    timezone: str
    status: ScheduleStatus
    version: int
    created_at: float
    updated_at: float
    raw_config: dict[str, Any]
    secret_names: dict[str, Any] = field(default_factory=dict)
    secrets_token: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    next_run: float | None = None
    last_run: float | None = None
    last_result: dict[str, Any] | None = None
    cooldown_until: float | None = None
    last_failure_at: float | None = None
    # The cron engine's reading recorded when the expression was written (cron.compat)
    cron_reading: str | None = None
    _config: AutonomousConfig | None = None

    @classmethod
    def from_hash(cls, h: Mapping[str, str]) -> ScheduleRecord:
        """Build from the stored hash fields."""
        h = {**DEFAULT_FIELDS, **h}
        raw = json.loads(h.get("config") or "{}")
        policy, _, grace = (h.get("misfire") or "").partition(":")
        raw["training_schedule"] = h["cron"]
        raw["timezone"] = h.get("tz", "UTC")
        raw["enabled"] = h.get("status", "active") == ScheduleStatus.ACTIVE.value
        if h.get("jitter_s"):
            raw["jitter_s"] = float(h["jitter_s"])
        if h.get("dst"):
            raw["duplicate_dst"], _, raw["missing_dst"] = h["dst"].partition(":")
        if policy:
            raw["misfire_policy"] = policy
        if grace:
            raw["misfire_grace_s"] = float(grace)
        last_result = h.get("last_result")
        return cls(
            id=h["id"],
            tenant_id=h["tenant_id"],
            name=h["name"],
            description=h.get("description", ""),
            cron_expression=h["cron"],
            timezone=h.get("tz", "UTC"),
            status=ScheduleStatus(h.get("status", "active")),
            version=int(h.get("version", 0)),
            created_at=float(h.get("created_at", 0)),
            updated_at=float(h.get("updated_at") or h.get("created_at") or 0),
            raw_config=raw,
            secret_names=json.loads(h["secret_names"]) if h.get("secret_names") else {},
            secrets_token=h.get("secrets") or None,
            counters={c: int(h.get(c, 0) or 0) for c in COUNTERS},
            next_run=_next_run(h),
            last_run=_float(h.get("last_run")),
            last_result=json.loads(last_result) if last_result else None,
            cooldown_until=_float(h.get("cooldown_until")),
            last_failure_at=_float(h.get("last_failure_at")),
            cron_reading=h.get("cron_reading") or None,
        )

    @property
    def config(self) -> AutonomousConfig:
        """The validated config, without secrets (see :meth:`ScheduleStore.config_with_secrets`)."""
        if self._config is None:
            self._config = AutonomousConfig.model_validate(self.raw_config)
        return self._config

    def _public_notifications(self) -> dict[str, Any]:
        notif = self.config.notifications.public_dict()
        names = self.secret_names
        notif["email_password"] = SECRET_MASK if names.get("email_password") else None
        notif["webhook_secret"] = SECRET_MASK if names.get("webhook_secret") else None
        notif["webhook_headers"] = {k: SECRET_MASK for k in names.get("webhook_headers", [])}
        return notif

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary for lists (no config parsing beyond what is stored)."""
        sc = self.raw_config.get("safety_controls", {})
        return {
            "id": self.id,
            "schedule_id": self.id,
            "tenant_id": self.tenant_id,
            "name": self.name,
            "description": self.description,
            "cron_expression": self.cron_expression,
            "timezone": self.timezone,
            "safety_level": sc.get("level", "moderate"),
            "status": self.status.value,
            "version": self.version,
            "next_run": utc_iso(self.next_run),
            "last_run": utc_iso(self.last_run),
            "last_result": self.last_result,
            **self.counters,
        }

    def status_dict(self) -> dict[str, Any]:
        """The full JSON-ready status: summary, effective config (secrets masked), times."""
        d = self.summary()
        next_local = None
        if self.next_run is not None:
            next_local = datetime.fromtimestamp(self.next_run, UTC).astimezone(
                get_timezone(self.timezone)
            )
        config = self.config.public_dict()
        config["notifications"] = self._public_notifications()
        d.update(
            {
                "next_run_local": next_local.isoformat() if next_local else None,
                "created_at": utc_iso(self.created_at),
                "updated_at": utc_iso(self.updated_at),
                "cooldown_until": utc_iso(self.cooldown_until),
                "in_cooldown": bool(self.cooldown_until and self.cooldown_until > time.time()),
                "last_failure_at": utc_iso(self.last_failure_at),
                "config": config,
            }
        )
        return d


def encode_config(cfg: AutonomousConfig) -> str:
    """The stored JSON of a config: timing fields apart, defaults and secrets left out."""
    stored = cfg.to_stored()
    defaults = _default_stored()
    out: dict[str, Any] = {}
    for name, value in stored.items():
        if name in _CONFIG_TIMING or name in _FROM_STATUS:
            continue
        if name == "notifications":
            dn = defaults["notifications"]
            value = {k: v for k, v in value.items() if dn.get(k, object()) != v}
            if not value:
                continue
        elif defaults.get(name, object()) == value:
            continue
        out[name] = value
    return json.dumps(out, separators=(",", ":"))


@cache
def _default_stored() -> dict[str, Any]:
    return AutonomousConfig().to_stored()
