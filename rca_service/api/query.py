"""POST /api/v1/query: a plain-language question, answered from our own data."""

from __future__ import annotations

from fastapi import APIRouter

from rca_service.api.deps import ServiceDep, ViewerDep
from rca_service.api.schemas import QueryRequest
from rca_service.api.serialize import jsonable

router = APIRouter(prefix="/api/v1", tags=["query"])


@router.post("/query")
def query(body: QueryRequest, service: ServiceDep, who: ViewerDep) -> dict:
    """{"answer", "intent", "service", "time_range", "incident_id", "root_causes", "evidence", "similar", ...}."""
    return jsonable(service.query(body.question, now=body.now))
