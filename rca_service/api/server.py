"""`rca-service serve`: OTLP/HTTP + API with uvicorn, OTLP/gRPC beside it, one RcaService.

SIGTERM and SIGINT stop the service cleanly: uvicorn finishes the requests in flight, the
app's lifespan drains ingest and saves state (`RcaService.stop`), and the process exits 0, as
service managers (systemd, Kubernetes) expect of a clean stop. Plain `uvicorn.run` would
instead re-raise the captured signal once it has shut down, so SIGTERM ended the process
"killed by signal" (status 143) even after a clean shutdown.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

import uvicorn
from uvicorn.server import HANDLED_SIGNALS

from rca_service.settings import Settings

log = logging.getLogger(__name__)

STARTUP_FAILURE = 3  # uvicorn's exit status when the server never started (as `uvicorn.run`)


class CleanStopServer(uvicorn.Server):
    """A uvicorn server for which a stop signal is a request to shut down, not a fatal signal.

    uvicorn's `capture_signals` records SIGINT/SIGTERM, shuts down gracefully, then raises
    each recorded signal again with the previous handlers restored; for SIGTERM the default
    action kills the process. This override handles the signals the same way (graceful
    shutdown, a second SIGINT forces it) but does not raise them again afterwards.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # signals are main-thread only
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._captured_signals:
            names = ", ".join(signal.Signals(s).name for s in self._captured_signals)
            log.info("stopped cleanly after %s", names)


def settings_from_args(args: argparse.Namespace, **defaults) -> Settings:
    """Settings from RCA_* environment variables, overridden by flags the user gave."""
    overrides = dict(defaults)
    for flag in ("host", "http_port", "grpc_port", "data_dir"):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[flag] = value
    return Settings(**overrides)


def serve(settings: Settings) -> int:
    """Run the service until SIGINT/SIGTERM, which stop it cleanly (drain, save).

    Returns:
        The exit status: 0 after a clean stop, STARTUP_FAILURE when the server never started.
    """
    from rca_service.api.app import create_app
    from rca_service.api.auth import check_bind_safety
    from rca_service.service import RcaService

    check_bind_safety(settings)
    service = RcaService(settings)
    app = create_app(service)
    log.info("serving OTLP/HTTP and API on http://%s:%d, OTLP/gRPC on %s:%d, data in %s",
             settings.host, settings.http_port, settings.host, settings.grpc_port, settings.data_dir)
    server = CleanStopServer(uvicorn.Config(app, host=settings.host, port=settings.http_port, log_level="warning",
                                            access_log=False, timeout_graceful_shutdown=10))
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: SIGINT before its handlers are in place
        server.run()
    return 0 if server.started else STARTUP_FAILURE


def serve_command(args: argparse.Namespace) -> int:
    return serve(settings_from_args(args))
