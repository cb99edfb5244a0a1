"""Root-cause results of an incident: read (cached) or recompute."""

from __future__ import annotations

from fastapi import APIRouter

from rca_service.api.deps import OperatorDep, ServiceDep, ViewerDep
from rca_service.api.serialize import jsonable

router = APIRouter(prefix="/api/v1/incidents", tags=["rca"])


@router.get("/{incident_id}/rca")
def get_rca(incident_id: str, service: ServiceDep, who: ViewerDep) -> dict:
    """The incident's ranked root causes (computed once, then cached by the service)."""
    return jsonable(service.rca(incident_id, refresh=False))


@router.post("/{incident_id}/rca")
def rerun_rca(incident_id: str, service: ServiceDep, who: OperatorDep) -> dict:
    """Rank the incident again (e.g. after more telemetry arrived)."""
    return jsonable(service.rca(incident_id, refresh=True))
