"""OTLP/gRPC receiver: TraceService, MetricsService and LogsService `Export` (port 4317).

The services are registered as generic handlers that receive the raw request bytes, rather
than through the generated `add_*Servicer_to_server` helpers: those parse the message before
our code runs, and gRPC answers a parse failure with INTERNAL, where OTLP wants
INVALID_ARGUMENT with a `BadRequest`. The method paths are the ones of the generated stubs
(taken from the proto descriptors), so every OTLP client talks to this server unchanged.

Status codes: INVALID_ARGUMENT (+BadRequest) for bad data, UNAVAILABLE (+RetryInfo) when the
queue is full or ingest is stopped, RESOURCE_EXHAUSTED for messages over the size limit (gRPC
itself, also counted after gzip), UNAUTHENTICATED for a missing or wrong bearer token.
"""

from __future__ import annotations

import hmac
import logging
from concurrent import futures

import grpc
from google.rpc import status_pb2

from rca_service.errors import ConfigError, DecodeError, OverloadedError
from rca_service.ingest.pipeline import IngestPipeline
from rca_service.ingest.signals import SIGNALS, Signal
from rca_service.ingest.status import (
    INTERNAL,
    INVALID_ARGUMENT,
    UNAUTHENTICATED,
    UNAVAILABLE,
    error_status,
)

log = logging.getLogger(__name__)

_GRPC_CODES = {
    INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    INTERNAL: grpc.StatusCode.INTERNAL,
}


class OtlpGrpcServer:
    """The OTLP/gRPC server feeding an IngestPipeline.

    Args:
        pipeline: the started IngestPipeline; its decoder converts requests.
        host: address to bind (127.0.0.1 by default: expose deliberately).
        port: port to bind; 0 picks a free one (read `port` after `start()`).
        max_message_bytes: largest request message, after decompression.
        token: when non-empty, calls must carry metadata `authorization: Bearer <token>`.
        workers: threads serving calls; defaults to the pipeline config's `grpc_workers`.
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        host: str = "127.0.0.1",
        port: int = 4317,
        max_message_bytes: int = 16 * 1024 * 1024,
        token: str = "",
        workers: int | None = None,
    ) -> None:
        if max_message_bytes <= 0:
            raise ConfigError("max_message_bytes must be positive")
        if not 0 <= port <= 65535:
            raise ConfigError(f"invalid gRPC port {port}")
        self.pipeline = pipeline
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.workers = workers or pipeline.config.grpc_workers
        self._expected_auth = f"Bearer {token}".encode() if token else b""
        self._server: grpc.Server | None = None

    def start(self) -> None:
        """Bind and start serving; `port` then holds the bound port."""
        if self._server is not None:
            return
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="otlp-grpc"),
            handlers=[self._handler(signal) for signal in SIGNALS],
            options=[
                ("grpc.max_receive_message_length", self.max_message_bytes),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ],
            # Calls beyond this many in flight are refused by gRPC (RESOURCE_EXHAUSTED)
            # instead of piling up behind the worker threads.
            maximum_concurrent_rpcs=self.workers * 4,
        )
        bound = server.add_insecure_port(f"{self.host}:{self.port}")
        if not bound:
            raise ConfigError(f"cannot bind OTLP/gRPC to {self.host}:{self.port}")
        server.start()
        self.port = bound
        self._server = server
        log.info("OTLP/gRPC listening on %s:%d", self.host, bound)

    def stop(self, grace: float = 2.0) -> None:
        """Stop accepting calls; calls in flight get `grace` seconds to finish."""
        if self._server is None:
            return
        self._server.stop(grace).wait()
        self._server = None

    def _handler(self, signal: Signal) -> grpc.GenericRpcHandler:
        """The generic handler serving `Export` of one signal's service, on raw bytes."""

        def export(request: bytes, context: grpc.ServicerContext):
            return self._export(signal, request, context)

        method = grpc.unary_unary_rpc_method_handler(
            export,
            request_deserializer=None,  # raw bytes: we parse, so bad bytes get INVALID_ARGUMENT
            response_serializer=lambda message: message.SerializeToString(),
        )
        return grpc.method_handlers_generic_handler(signal.grpc_service, {"Export": method})

    def _export(self, signal: Signal, request: bytes, context: grpc.ServicerContext):
        """Decode and queue one request; failures end the call with an OTLP status code."""
        outcome = "OK"
        try:
            if self._expected_auth and not self._authorized(context):
                outcome = "UNAUTHENTICATED"
                self._abort(context, error_status(UNAUTHENTICATED, "missing or wrong bearer token"))
            try:
                self.pipeline.check_accepting()
                message = self.pipeline.decoder.parse(signal, request, "protobuf")
                result = self.pipeline.decoder.decode(signal, message)
                self.pipeline.submit(result.batch)
            except DecodeError as exc:
                outcome = "INVALID_ARGUMENT"
                self._abort(context, error_status(INVALID_ARGUMENT, str(exc), bad_field="request"))
            except OverloadedError as exc:
                outcome = "UNAVAILABLE"
                self._abort(context, error_status(UNAVAILABLE, str(exc), retry_after=exc.retry_after))
            except Exception:  # a bug must cost one call, not the server
                log.exception("OTLP/gRPC %s call failed", signal.name)
                outcome = "INTERNAL"
                self._abort(context, error_status(INTERNAL, "internal error while ingesting"))
            self.pipeline.record_rejected(signal.name, result.rejected)
            return signal.response(result.rejected, result.error_message)
        finally:
            self.pipeline.record_request("grpc", signal.name, outcome)

    def _authorized(self, context: grpc.ServicerContext) -> bool:
        for key, value in context.invocation_metadata():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected_auth)
        return False

    @staticmethod
    def _abort(context: grpc.ServicerContext, status: status_pb2.Status) -> None:
        """End the call with `status`, its details in the standard `grpc-status-details-bin` trailer."""
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
        context.abort(_GRPC_CODES[status.code], status.message)
