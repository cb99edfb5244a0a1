"""GET /healthz (accepting data), GET /readyz (models loaded), GET /api/v1/whoami."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rca_service.api.auth import Role
from rca_service.api.deps import PrincipalDep, ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(service: ServiceDep) -> JSONResponse:
    """200 once the service accepts data, 503 before (and while shutting down)."""
    ok = bool(getattr(service, "accepting", False))
    return JSONResponse({"status": "ok" if ok else "starting", "accepting": ok}, status_code=200 if ok else 503)


@router.get("/readyz")
def readyz(service: ServiceDep) -> JSONResponse:
    """200 once the models are loaded and incidents can be ranked, else 503."""
    ok = bool(getattr(service, "ready", False))
    return JSONResponse({"status": "ready" if ok else "not ready", "ready": ok}, status_code=200 if ok else 503)


@router.get("/api/v1/whoami")
def whoami(who: PrincipalDep) -> dict:
    """The caller's name and role, and whether they may approve remediations (for the UI)."""
    return {**who.to_dict(), "can_remediate": who.authenticated and who.role >= Role.OPERATOR}
