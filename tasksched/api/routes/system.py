"""The global switch, the system status, health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tasksched.api.deps import Admin, Caller, Manager
from tasksched.api.errors import ApiError
from tasksched.api.schemas import Health, SchedulerState, SystemStatus
from tasksched.errors import StoreError

router = APIRouter(tags=["system"])

# What a tenant key may see of a worker's heartbeat: host readings, not other tenants' runs.
_TENANT_WORKER_FIELDS = (
    "ts",
    "node",
    "hostname",
    "cpu_percent",
    "cpu_count",
    "memory_available_mb",
    "memory_total_mb",
    "limits",
    "queues",
)


@router.post("/start", response_model=SchedulerState)
def start(admin: Admin, manager: Manager) -> dict[str, Any]:
    """Resume dispatching on every beat process (admin)."""
    return manager.start_scheduler()


@router.post("/stop", response_model=SchedulerState)
def stop(admin: Admin, manager: Manager) -> dict[str, Any]:
    """Stop all dispatching; beat processes keep running and wait (admin)."""
    return manager.stop_scheduler()


@router.get("/status", response_model=SystemStatus)
def status(caller: Caller, manager: Manager) -> dict[str, Any]:
    """Switch, beat leader and lag, workers online with readings, schedules, queue depths.

    A tenant key sees its own tenant only: the switch, whether beat leads and how late it
    is, worker host figures, and its own schedules by status; no queue depths, no global
    run counters, no beat tokens or leader ids, no other tenant's totals.
    """
    doc = manager.system_status()
    if caller.is_admin:
        return doc
    for w in doc["workers"]:
        readings = w.get("readings")
        if isinstance(readings, dict):
            w["readings"] = {k: readings[k] for k in _TENANT_WORKER_FIELDS if k in readings}
    beat = doc["beat"]
    mine = manager.list_schedules(caller.tenant_id)
    active = sum(1 for s in mine if s["status"] == "active")
    return {
        "enabled": doc["enabled"],
        "changed_at": doc["changed_at"],
        "time": doc["time"],
        "tenant_id": caller.tenant_id,
        "beat": {k: beat[k] for k in ("leader_present", "last_tick", "last_tick_age_s", "lag_s")},
        "workers": doc["workers"],
        "workers_online": doc["workers_online"],
        "schedules": {"active": active, "paused": len(mine) - active, "total": len(mine)},
        "queues": {},
    }


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(manager: Manager, response: Response) -> dict[str, Any]:
    """200 when Redis answers, else 503. Needs no key (for probes); tells nothing else."""
    try:
        ok = manager.store.ping()
    except StoreError:
        ok = False
    response.status_code = 200 if ok else 503
    return {"status": "ok" if ok else "unavailable", "redis": ok}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(admin: Admin, manager: Manager, response: Response) -> Response:
    """Prometheus metrics read from Redis at scrape time (admin key)."""
    from tasksched.api.metrics import render

    body, content_type = render(manager)
    if not body:
        raise ApiError(503, "unavailable", "metrics unavailable")
    return Response(body, media_type=content_type)
