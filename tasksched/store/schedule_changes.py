"""What a schedule write may contain beyond the schema: this deployment's caps, and how a
partial update merges into the stored config (secrets kept, masked values unmasked).

Moved out of ``schedules.py`` (which keeps the CRUD); ``ScheduleStore.check_caps`` stays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tasksched.errors import ValidationError
from tasksched.models import MIRRORED_FIELDS, SECRET_MASK, AutonomousConfig, ScheduleStatus
from tasksched.settings import Settings

__all__ = ["check_caps", "merge_config", "status_change"]


def check_caps(settings: Settings, cfg: AutonomousConfig, where: str = "config") -> None:
    """Refuse what this deployment does not allow, though the schema does (a process cap).

    ``TASKSCHED_MAX_TRAINING_TIME_S`` bounds ``max_training_time_minutes``; the models
    themselves never read settings, so a stored schedule is valid in every process.
    """
    cap_min = settings.max_training_time_s / 60
    if cfg.safety_controls.max_training_time_minutes > cap_min:
        raise ValidationError(
            f"{where}.safety_controls.max_training_time_minutes",
            f"must be at most {cap_min:g} minutes: the cap of this deployment "
            f"(TASKSCHED_MAX_TRAINING_TIME_S={settings.max_training_time_s})",
        )


def status_change(
    changes: Mapping[str, Any], validated: AutonomousConfig, status: ScheduleStatus
) -> str:
    """The status an update's explicit ``config.enabled`` sets ("" for none: not given, or the
    status it has): False pauses, True resumes. A whole config object gives it only when set."""
    cfg = changes.get("config")
    if isinstance(cfg, AutonomousConfig):
        if "enabled" not in cfg.model_fields_set:
            return ""
    elif not isinstance(cfg, Mapping) or "enabled" not in cfg:
        return ""
    wanted = ScheduleStatus.ACTIVE if validated.enabled else ScheduleStatus.PAUSED
    return "" if wanted is status else wanted.value


def merge_config(
    stored_raw: Mapping[str, Any],
    stored_cron: str,
    changes: Mapping[str, Any],
    secrets_before: dict[str, Any],
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """An update's (cron, raw config with secrets, secrets after) from the stored config and
    ``changes`` (``config`` a partial dict or a whole :class:`AutonomousConfig`)."""
    raw = json.loads(json.dumps(stored_raw))
    cron = changes.get("cron_expression", stored_cron)
    new_cfg = changes.get("config")
    if isinstance(new_cfg, AutonomousConfig):
        raw_cfg: Any = new_cfg.to_stored(include_secrets=True)
        secrets_after = new_cfg.notifications.secrets()
        if "cron_expression" not in changes:
            cron = new_cfg.training_schedule
    elif isinstance(new_cfg, Mapping):
        # A new top-level threshold replaces its twin in safety_controls (one value).
        sc_changes = new_cfg.get("safety_controls") or {}
        for top, sc_name, _, _ in MIRRORED_FIELDS:
            if top in new_cfg and sc_name not in sc_changes:
                raw.get("safety_controls", {}).pop(sc_name, None)
        raw_cfg = _deep_merge(raw, dict(new_cfg))
        notif_changes = new_cfg.get("notifications")
        secrets_after = dict(secrets_before)
        if isinstance(notif_changes, Mapping):
            for name in ("email_password", "webhook_headers", "webhook_secret"):
                if name in notif_changes:
                    val = notif_changes[name]
                    if val in (None, {}, ""):
                        secrets_after.pop(name, None)
                    elif name == "webhook_headers" and isinstance(val, Mapping):
                        secrets_after[name] = _unmask_headers(
                            val, secrets_before.get("webhook_headers") or {}
                        )
                    elif val != SECRET_MASK:
                        secrets_after[name] = val
        raw_cfg.setdefault("notifications", {}).update(secrets_after)
        if "training_schedule" in new_cfg and "cron_expression" not in changes:
            cron = new_cfg["training_schedule"]
    elif new_cfg is None:
        raw_cfg = raw
        raw_cfg.setdefault("notifications", {}).update(secrets_before)
        secrets_after = secrets_before
    else:
        raise ValidationError("config", "must be an object")
    if "timezone" in changes:
        raw_cfg["timezone"] = changes["timezone"]
    raw_cfg["training_schedule"] = cron
    return cron, raw_cfg, secrets_after


def _unmask_headers(new: Mapping[str, Any], stored: Mapping[str, str]) -> dict[str, Any]:
    """Headers sent back as shown (all values masked) keep their stored values; a mix of
    masked and new values is refused (which stored values would survive is unclear)."""
    masked = [name for name, value in new.items() if value == SECRET_MASK]
    if masked and len(masked) != len(new):
        raise ValidationError(
            "config.notifications.webhook_headers",
            "mixes masked and new values: send every header value in clear, or all masked",
        )
    out: dict[str, Any] = {}
    for name, value in new.items():
        if value == SECRET_MASK:
            if name not in stored:
                raise ValidationError(
                    "config.notifications.webhook_headers",
                    f"header {name!r} has the mask as its value but no stored value to keep",
                )
            out[name] = stored[name]
        else:
            out[name] = value
    return out


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "event_filters":
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
