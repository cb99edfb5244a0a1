"""A stand-in for the API app, used only while rca_service.api.app.create_app is not importable.

It serves the JSON routes the incident page reads, with the shapes the interfaces engineer's
app serves (rca_service.api.serialize), and bearer tokens with roles from Settings.api_tokens.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from rca_service.api.serialize import jsonable, topology_json
from rca_service.errors import AuthError, NotFoundError, PolicyRefusal


def _role(request: Request, tokens: str) -> tuple[str, str]:
    table = {}
    for entry in filter(None, (t.strip() for t in tokens.split(","))):
        tok, role, *name = entry.split(":")
        table[tok] = (role, name[0] if name else role)
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        raise AuthError("missing bearer token", 401)
    if auth[7:] not in table:
        raise AuthError("unknown token", 401)
    role, name = table[auth[7:]]
    return name, role


def create_standin_app(service: Any) -> FastAPI:
    app = FastAPI()
    tokens = service.settings.api_tokens

    @app.exception_handler(NotFoundError)
    def _nf(_, exc):
        return JSONResponse({"detail": str(exc)}, 404)

    @app.exception_handler(AuthError)
    def _auth(_, exc):
        return JSONResponse({"detail": str(exc)}, exc.status_code)

    @app.exception_handler(PolicyRefusal)
    def _pol(_, exc):
        return JSONResponse({"detail": {"message": str(exc), "rule": exc.rule}}, 409)

    @app.get("/api/v1/incidents")
    def incidents():
        return jsonable(service.list_incidents())

    @app.get("/api/v1/incidents/{iid}")
    def incident(iid: str):
        return jsonable(service.get_incident(iid))

    @app.get("/api/v1/incidents/{iid}/rca")
    def rca(iid: str):
        return jsonable(service.rca(iid))

    @app.get("/api/v1/incidents/{iid}/timeseries")
    def timeseries(iid: str, service_name: str | None = None, signals: str | None = None, request: Request = None):
        inc = service.get_incident(iid)
        name = request.query_params.get("service")
        sig = [s for s in (signals or "").split(",") if s] or None
        return jsonable(service.timeseries(name, inc.start - 1200, inc.end + 300, sig))

    @app.get("/api/v1/topology")
    def topology(start: float | None = None, end: float | None = None):
        return topology_json(service.topology(start, end))

    @app.get("/api/v1/remediations")
    def remediations(incident: str | None = None):
        return jsonable(service.list_remediations(incident))

    @app.post("/api/v1/remediations/{rid}/approve")
    def approve(rid: str, request: Request):
        user, role = _role(request, tokens)
        return jsonable(service.approve_remediation(rid, user, role))

    @app.post("/api/v1/remediations/{rid}/reject")
    async def reject(rid: str, request: Request):
        user, role = _role(request, tokens)
        body = await request.json()
        return jsonable(service.reject_remediation(rid, user, role, body.get("reason", "")))

    @app.get("/api/v1/audit")
    def audit(incident: str | None = None):
        return service.audit_records(incident)

    @app.get("/api/v1/audit/verify")
    def verify():
        return service.audit_verify()

    return app
