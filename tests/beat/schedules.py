"""Helpers to create schedules at a chosen (fake) time."""

from __future__ import annotations

from typing import Any

from tasksched.models import AutonomousConfig, ScheduleSpec
from tasksched.store import Store

# 2027-01-15T08:00:00Z: a multiple of 60, so second and minute crons line up with it.
T0 = 1_800_000_000.0


def make_schedule(
    store: Store,
    cron: str = "* * * * * */10",
    now: float = T0,
    tenant_id: str = "t1",
    name: str = "s",
    schedule_id: str | None = None,
    **config: Any,
) -> str:
    """Create an active schedule as if at ``now``; return its id."""
    spec = ScheduleSpec(
        tenant_id=tenant_id,
        name=name,
        cron_expression=cron,
        config=AutonomousConfig(**config),
    )
    return store.schedules.create(spec, now=now, schedule_id=schedule_id).id


def make_many(store: Store, n: int, cron: str, now: float = T0, **config: Any) -> list[str]:
    """Create ``n`` schedules sharing one config object (fast path)."""
    cfg = AutonomousConfig(**config)
    specs = [
        ScheduleSpec(tenant_id=f"t{i % 7}", name=f"s{i}", cron_expression=cron, config=cfg)
        for i in range(n)
    ]
    return store.schedules.create_many(specs, now=now)


def store_the_old_way(store: Store, cron: str, tenant_id: str = "acme") -> str:
    """A schedule as written before create refused value/step forms and recorded readings.

    Created with a valid expression, then ``cron`` written straight into its hash and the
    reading removed: no validation on this path, as it was then.
    """
    rec = store.schedules.create(
        ScheduleSpec(tenant_id=tenant_id, name=f"old {cron}", cron_expression="0 2 * * *")
    )
    key = store.keys.schedule(rec.id)
    store.redis.hset(key, "cron", cron)
    store.redis.hdel(key, "cron_reading")
    return rec.id
