"""The audit chain: an incident's records, and verification of the whole chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from rca_service.api.deps import ServiceDep, ViewerDep
from rca_service.api.serialize import jsonable

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("")
def audit_records(service: ServiceDep, who: ViewerDep,
                  incident: Annotated[str | None, Query(description="only this incident's records")] = None) -> dict:
    return {"records": jsonable(service.audit_records(incident))}


@router.get("/verify")
def audit_verify(service: ServiceDep, who: ViewerDep) -> dict:
    """{"ok", "records", "first_bad", "reason"}; 200 either way (the body says whether it holds)."""
    return jsonable(service.audit_verify())
