"""OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` (see PROTOCOLS.md).

Per request: bearer token → content type → early overload check → body read with the size
limit → Content-Encoding undone (limit counted again after inflating) → parse + decode
(on the event loop for small bodies, on a thread for big ones) → queued for the store.

Status codes: 200 (maybe with partial success), 400 malformed, 401 bad token, 413 too large,
415 unknown content type, 429 queue full / 503 not running (both with Retry-After), 500 for
bugs. Error bodies are `google.rpc.Status` in the request's encoding; the 415 body is text,
as the Collector's, since the request's encoding is the thing we do not know.
"""

from __future__ import annotations

import gzip
import hmac
import logging
from collections.abc import Callable

import anyio
from fastapi import APIRouter, Request, Response
from google.protobuf.message import Message

from rca_service.errors import DecodeError, OverloadedError, PayloadTooLarge
from rca_service.ingest.body import decompress
from rca_service.ingest.decode import Encoding
from rca_service.ingest.otlp_json import message_to_json
from rca_service.ingest.pipeline import IngestConfig, IngestPipeline
from rca_service.ingest.result import DecodeResult
from rca_service.ingest.signals import SIGNALS, Signal
from rca_service.ingest.status import (
    INTERNAL,
    INVALID_ARGUMENT,
    RESOURCE_EXHAUSTED,
    UNAUTHENTICATED,
    UNAVAILABLE,
    error_status,
    retry_after_header,
)

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_CONTENT_TYPES: dict[str, Encoding] = {PROTOBUF: "protobuf", "application/protobuf": "protobuf", JSON: "json"}


class _Reply(Exception):
    """Ends a request early with a ready response (keeps the handler a straight line)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def build_otlp_router(pipeline: IngestPipeline, config: IngestConfig | None = None, token: str = "") -> APIRouter:
    """The OTLP/HTTP routes, feeding `pipeline`.

    Args:
        pipeline: the started IngestPipeline; its decoder parses and converts bodies.
        config: limits; defaults to the pipeline's config.
        token: when non-empty, requests must carry `Authorization: Bearer <token>`.
    """
    receiver = _OtlpHttpReceiver(pipeline, config or pipeline.config, token)
    router = APIRouter(tags=["otlp"])
    for signal in SIGNALS:
        router.add_api_route(
            signal.http_path,
            receiver.endpoint(signal),
            methods=["POST"],
            include_in_schema=True,
            summary=f"OTLP/HTTP export of {signal.name}",
            response_class=Response,
        )
    return router


class _OtlpHttpReceiver:
    """The request handling behind the routes; one instance per router."""

    def __init__(self, pipeline: IngestPipeline, config: IngestConfig, token: str) -> None:
        self.pipeline = pipeline
        self.config = config
        self._expected_auth = f"Bearer {token}".encode() if token else b""
        self._limiter: anyio.CapacityLimiter | None = None

    def endpoint(self, signal: Signal) -> Callable:
        """The FastAPI endpoint of one signal; counts every answer by status code."""

        async def export(request: Request) -> Response:
            response = await self.handle(signal, request)
            self.pipeline.record_request("http", signal.name, response.status_code)
            return response

        export.__name__ = f"otlp_export_{signal.name}"
        return export

    async def handle(self, signal: Signal, request: Request) -> Response:
        """Answer one export request; never raises (bugs become a 500 Status)."""
        headers = request.headers
        encoding = _CONTENT_TYPES.get(headers.get("content-type", "").split(";", 1)[0].strip().lower())
        gzip_reply = "gzip" in headers.get("accept-encoding", "").lower()
        reply_encoding: Encoding = encoding or "protobuf"
        try:
            if self._expected_auth and not hmac.compare_digest(
                headers.get("authorization", "").encode(), self._expected_auth
            ):
                raise _Reply(self.status(401, UNAUTHENTICATED, "missing or wrong bearer token", reply_encoding, gzip_reply,
                                         {"WWW-Authenticate": 'Bearer realm="otlp"'}))
            if encoding is None:
                raise _Reply(Response(
                    f"{headers.get('content-type', '(none)')} unsupported media type, supported: [{JSON}, {PROTOBUF}]",
                    status_code=415, media_type="text/plain",
                ))
            self.pipeline.check_accepting()
            raw = await self.read_body(request)
            body = decompress(raw, headers.get("content-encoding"), self.config.max_body_bytes)
            if len(body) <= self.config.inline_decode_bytes:
                result = self.decode(signal, body, encoding)
            else:
                if self._limiter is None:
                    self._limiter = anyio.CapacityLimiter(self.config.decode_threads)
                result = await anyio.to_thread.run_sync(self.decode, signal, body, encoding, limiter=self._limiter)
            self.pipeline.submit(result.batch)
        except _Reply as reply:
            return reply.response
        except PayloadTooLarge as exc:
            return self.status(413, INVALID_ARGUMENT, str(exc), reply_encoding, gzip_reply, bad_field="body")
        except DecodeError as exc:
            return self.status(400, INVALID_ARGUMENT, str(exc), reply_encoding, gzip_reply, bad_field="body")
        except OverloadedError as exc:
            # Queue full: 429 (RESOURCE_EXHAUSTED); not running: 503 (UNAVAILABLE). Both retryable.
            http_code, rpc_code = (429, RESOURCE_EXHAUSTED) if self.pipeline.running else (503, UNAVAILABLE)
            return self.status(http_code, rpc_code, str(exc), reply_encoding, gzip_reply,
                               {"Retry-After": retry_after_header(exc.retry_after)}, retry_after=exc.retry_after)
        except Exception:  # a bug must cost one request, not the server
            log.exception("OTLP/HTTP %s request failed", signal.name)
            return self.status(500, INTERNAL, "internal error while ingesting", reply_encoding, gzip_reply)
        self.pipeline.record_rejected(signal.name, result.rejected)
        return self.message(200, signal.response(result.rejected, result.error_message), reply_encoding, gzip_reply)

    def decode(self, signal: Signal, body: bytes, encoding: Encoding) -> DecodeResult:
        """Parse and convert a decompressed body (on the loop or a worker thread)."""
        return self.pipeline.decoder.decode_body(signal, body, encoding)

    async def read_body(self, request: Request) -> bytes:
        """The raw body, refusing (413) as soon as it passes the limit, declared or not."""
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise PayloadTooLarge(limit)
            except ValueError:
                raise DecodeError(f"invalid Content-Length {declared!r}") from None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(limit)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def status(
        self,
        http_code: int,
        rpc_code: int,
        text: str,
        encoding: Encoding,
        gzip_reply: bool,
        headers: dict[str, str] | None = None,
        bad_field: str | None = None,
        retry_after: float | None = None,
    ) -> Response:
        """An error response carrying a google.rpc.Status."""
        return self.message(http_code, error_status(rpc_code, text, bad_field, retry_after), encoding, gzip_reply, headers)

    @staticmethod
    def message(
        http_code: int, message: Message, encoding: Encoding, gzip_reply: bool, headers: dict[str, str] | None = None
    ) -> Response:
        """A protobuf message as the response body, in the request's encoding."""
        if encoding == "json":
            body, media_type = message_to_json(message), JSON
        else:
            body, media_type = message.SerializeToString(), PROTOBUF
        out_headers = dict(headers or {})
        if gzip_reply:
            body = gzip.compress(body, compresslevel=1)
            out_headers["Content-Encoding"] = "gzip"
        return Response(body, status_code=http_code, media_type=media_type, headers=out_headers)
