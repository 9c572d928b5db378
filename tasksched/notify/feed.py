"""The feed channel ("memory"): the event, with an importance score, in a tenant's feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tasksched.errors import NotificationError
from tasksched.models import NotificationConfig
from tasksched.notify.events import summary_line

if TYPE_CHECKING:
    from tasksched.store import Store

CHANNEL = "memory"
_KEEP = (
    "id", "event", "title", "correlation_id", "run_id", "tenant_id", "schedule_id",
    "schedule_name", "outcome", "reason", "error", "scores", "timings", "time",
)


def entry(payload: Mapping[str, Any], config: NotificationConfig) -> dict[str, Any]:
    """The feed entry for a payload: its main fields, a message and the importance."""
    out = {k: payload.get(k) for k in _KEEP}
    out["message"] = summary_line(payload)
    out["importance"] = config.memory_importance_score
    return out


def send(payload: Mapping[str, Any], config: NotificationConfig, store: Store) -> str:
    """Push the entry to the feed of ``memory_tenant_id`` (default: the schedule's tenant)."""
    from tasksched.store.notifications import NotificationStore

    tenant = str(payload.get("tenant_id"))
    if config.memory_tenant_id and config.memory_tenant_id != tenant:
        # Written before schedules were held to their own feed: never another tenant's.
        raise NotificationError(
            CHANNEL, "memory_tenant_id names another tenant: refused", retryable=False
        )
    length = NotificationStore(store).push_feed(tenant, entry(payload, config))
    return f"added to the feed of tenant {tenant} ({length} entries)"
