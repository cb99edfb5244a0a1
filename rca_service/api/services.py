"""Services: the list, and one service's current status ("is X ok?")."""

from __future__ import annotations

from fastapi import APIRouter

from rca_service.api.deps import ServiceDep, ViewerDep
from rca_service.api.serialize import jsonable

router = APIRouter(prefix="/api/v1/services", tags=["services"])


@router.get("")
def list_services(service: ServiceDep, who: ViewerDep) -> dict:
    return {"services": list(service.services())}


@router.get("/{name}/status")
def service_status(name: str, service: ServiceDep, who: ViewerDep) -> dict:
    """{"service", "anomalous", "score", "detector", "signals", "open_incidents"}; 404 for an unknown service."""
    return jsonable(service.service_status(name))
