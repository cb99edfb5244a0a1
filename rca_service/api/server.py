"""`rca-service serve`: OTLP/HTTP + API with uvicorn, OTLP/gRPC beside it, one RcaService."""

from __future__ import annotations

import argparse
import logging

from rca_service.settings import Settings

log = logging.getLogger(__name__)


def settings_from_args(args: argparse.Namespace, **defaults) -> Settings:
    """Settings from RCA_* environment variables, overridden by flags the user gave."""
    overrides = dict(defaults)
    for flag in ("host", "http_port", "grpc_port", "data_dir"):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[flag] = value
    return Settings(**overrides)


def serve(settings: Settings) -> None:
    """Run the service until interrupted (SIGINT/SIGTERM stop it cleanly)."""
    import uvicorn

    from rca_service.api.app import create_app
    from rca_service.api.auth import check_bind_safety
    from rca_service.service import RcaService

    check_bind_safety(settings)
    service = RcaService(settings)
    app = create_app(service)
    log.info("serving OTLP/HTTP and API on http://%s:%d, OTLP/gRPC on %s:%d, data in %s",
             settings.host, settings.http_port, settings.host, settings.grpc_port, settings.data_dir)
    uvicorn.run(app, host=settings.host, port=settings.http_port, log_level="warning",
                access_log=False, timeout_graceful_shutdown=10)


def serve_command(args: argparse.Namespace) -> int:
    serve(settings_from_args(args))
    return 0
