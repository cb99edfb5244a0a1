"""GET /metrics: Prometheus text, read from the service at scrape time."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rca_service.observability import CONTENT_TYPE_LATEST, render

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(render(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
