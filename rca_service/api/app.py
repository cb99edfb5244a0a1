"""The FastAPI application: every HTTP route of the service, talking only to the `RcaService` facade.

    app = create_app(service)                     # lifespan starts and stops the service
    app = create_app(service, manage_lifecycle=False)   # the caller starts/stops it

Routes (one router a file in this package):
    GET  /healthz, /readyz, /metrics, /api/v1/whoami
    GET  /api/v1/topology?start=&end=
    GET  /api/v1/incidents?start=&end=&service=&status=     GET /api/v1/incidents/{id}
    GET  /api/v1/incidents/{id}/timeseries?service=&signals=
    GET|POST /api/v1/incidents/{id}/rca
    POST /api/v1/query
    GET  /api/v1/remediations?incident=     POST /api/v1/remediations/{id}/approve|reject|apply
    GET  /api/v1/audit?incident=            GET /api/v1/audit/verify
    GET  /api/v1/services                   GET /api/v1/services/{name}/status
    POST /chatops/slack/commands, /chatops/slack/interactions
    POST /v1/traces|metrics|logs (OTLP/HTTP, from api.otlp_http, when present)
    GET  /ui... (incident pages, from api.ui, when present)
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI

from rca_service.api import audit, health, incidents, metrics, query, rca, remediations, services, topology
from rca_service.api.auth import AccessControl, check_bind_safety
from rca_service.api.errors import error_response, install_error_handlers
from rca_service.errors import PayloadTooLarge
from rca_service.observability import HttpMetrics, build_registry

log = logging.getLogger(__name__)

__all__ = ["create_app", "check_bind_safety"]

MAX_API_BODY_BYTES = 1024 * 1024  # questions, decisions and Slack payloads are far smaller
_ROUTERS = (health.router, metrics.router, topology.router, incidents.router, rca.router, query.router,
            remediations.router, audit.router, services.router)


class _HttpMetricsMiddleware:
    """Counts requests by route template (bounded labels) — plain ASGI, cheap on the OTLP path."""

    def __init__(self, app: Any, metrics_: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics_

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope.get("method", ""), template, status["code"], started)


class _BodyLimitMiddleware:
    """Caps request bodies of the JSON API and the chat bot (OTLP routes enforce their own limit).

    A declared Content-Length over the cap is answered 413 before anything is read; a chunked
    body is counted as it arrives and fails the request with 413 once over the cap.
    """

    def __init__(self, app: Any, limit: int, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.limit = limit
        self.prefixes = prefixes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await error_response(PayloadTooLarge(self.limit))(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise PayloadTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


def _settings_of(service: Any) -> Any:
    return getattr(service, "settings", None)


def _mount_optional_routers(app: FastAPI, service: Any) -> None:
    """The chat bot and the UI, whose modules may be absent in a partial build."""
    try:
        from rca_service.chatops.slack import build_slack_router
    except ImportError as exc:  # pragma: no cover - only in a partial build
        log.info("chat bot routes not mounted: %s", exc)
    else:
        app.include_router(build_slack_router(service))
    try:
        from rca_service.api.ui import build_ui_router
    except ImportError as exc:
        log.info("UI routes not mounted: %s", exc)
    else:
        app.include_router(build_ui_router(service))


def _mount_otlp(app: FastAPI, service: Any) -> bool:
    """Mount the OTLP/HTTP routes once the ingest pipeline exists (after service.start())."""
    if app.state.otlp_mounted or getattr(service, "ingest", None) is None:
        return app.state.otlp_mounted
    try:
        from rca_service.api.otlp_http import build_otlp_router
    except ImportError as exc:
        log.warning("OTLP/HTTP routes not mounted: %s", exc)
        return False
    settings = _settings_of(service)
    app.include_router(build_otlp_router(service.ingest, None, getattr(settings, "ingest_token", "") or ""))
    app.state.otlp_mounted = True
    return True


def create_app(service: Any, manage_lifecycle: bool = True) -> FastAPI:
    """Build the HTTP application for a service.

    Args:
        service: the `RcaService` facade (or anything with its methods).
        manage_lifecycle: when True the app's lifespan calls `service.start()` before serving
            and `service.stop()` at shutdown; False when the caller does both.

    Raises:
        ConfigError: malformed `api_tokens` or `slack_roles` in the service's settings.
    """
    settings = _settings_of(service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await anyio.to_thread.run_sync(service.start)  # loads models: keep the event loop free
        _mount_otlp(app, service)
        try:
            yield
        finally:
            if manage_lifecycle:
                await anyio.to_thread.run_sync(service.stop)

    app = FastAPI(title="rca-service", version="0.1.0", lifespan=lifespan,
                  description="Root-cause analysis for microservices: OTLP in, ranked root causes, safe remediation.")
    app.state.service = service
    app.state.access = AccessControl(getattr(settings, "api_tokens", "") or "")
    app.state.otlp_mounted = False
    registry, http_metrics = build_registry(service)
    app.state.metrics_registry = registry
    install_error_handlers(app)
    for router in _ROUTERS:
        app.include_router(router)
    _mount_optional_routers(app, service)
    _mount_otlp(app, service)  # already started by the caller: mount now
    app.add_middleware(_BodyLimitMiddleware, limit=MAX_API_BODY_BYTES, prefixes=("/api/", "/chatops/"))
    app.add_middleware(_HttpMetricsMiddleware, metrics_=http_metrics)
    return app
