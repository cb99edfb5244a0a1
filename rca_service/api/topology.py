"""GET /api/v1/topology: the service call graph over a time range."""

from __future__ import annotations

from fastapi import APIRouter

from rca_service.api.deps import ServiceDep, ViewerDep
from rca_service.api.serialize import topology_json
from rca_service.errors import InputError

router = APIRouter(prefix="/api/v1", tags=["topology"])


@router.get("/topology")
def topology(service: ServiceDep, who: ViewerDep, start: float | None = None, end: float | None = None) -> dict:
    """{"nodes": [{"service"}], "edges": [{"source", "target", "calls", "errors"}]}."""
    if start is not None and end is not None and end <= start:
        raise InputError("end must be after start")
    return topology_json(service.topology(start=start, end=end))
