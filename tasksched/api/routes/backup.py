"""Backup and restore: export (a tenant key: its own schedules) and import (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tasksched.api.deps import Admin, Caller, Manager, tenant_scope
from tasksched.api.schemas import ExportDocument, ImportDocument, ImportResult

router = APIRouter(tags=["backup"])


@router.get("/export", response_model=ExportDocument)
def export(
    caller: Caller,
    manager: Manager,
    tenant_id: Annotated[str | None, Query(description="only this tenant (admin)")] = None,
) -> dict[str, Any]:
    """Schedules as a versioned JSON document; secrets stay encrypted, never in clear."""
    return manager.export_schedules(tenant_scope(caller, tenant_id))


@router.post("/import", response_model=ImportResult)
def import_(
    document: ImportDocument,
    admin: Admin,
    manager: Manager,
    replace: Annotated[bool, Query(description="replace schedules whose id exists")] = True,
    tenant_id: Annotated[
        str | None, Query(description="refuse the document unless all of it is this tenant's")
    ] = None,
) -> dict[str, Any]:
    """Validate the whole document, then write all of it or nothing (admin)."""
    ids = manager.import_schedules(document.model_dump(), replace=replace, tenant_id=tenant_id)
    return {"imported": ids, "count": len(ids)}
