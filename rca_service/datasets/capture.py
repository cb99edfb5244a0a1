"""`CaptureServer`: a small OTLP/HTTP receiver that keeps what it is sent, for tests and checks.

It decodes with the service's own OTLP decoder (so what it holds is exactly what ingest
would produce), answers like an OTLP receiver (200 with an empty Export response), and can
be told to throttle the first N requests with 503/429 + Retry-After to exercise clients'
retry logic. Binds to 127.0.0.1 only.
"""

from __future__ import annotations

import socket
import threading
import time

import networkx as nx
import uvicorn
from fastapi import FastAPI, Request, Response

from rca_service.errors import RcaError
from rca_service.ingest.body import decompress
from rca_service.ingest.decode import OtlpDecoder
from rca_service.ingest.signals import LOGS, METRICS, TRACES
from rca_service.records import RecordBatch, Span, SpanKind

_SIGNALS = {"traces": TRACES, "metrics": METRICS, "logs": LOGS}


def span_topology(spans: list[Span]) -> nx.DiGraph:
    """Service call graph from spans: parent span's service → child span's service; a client
    span with no child in the data adds an edge to the peer it names. Edge attribute `calls`."""
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    answered: set[tuple[str, str]] = set()
    g = nx.DiGraph()

    def call(a: str, b: str) -> None:
        g.add_edge(a, b, calls=g.get_edge_data(a, b, {"calls": 0})["calls"] + 1)

    for s in spans:
        g.add_node(s.service)
        parent = by_id.get((s.trace_id, s.parent_span_id)) if s.parent_span_id else None
        if parent is not None and parent.service != s.service:
            call(parent.service, s.service)
            answered.add((parent.trace_id, parent.span_id))
    for s in spans:
        if s.kind == SpanKind.CLIENT and s.peer_service and s.peer_service != s.service \
                and (s.trace_id, s.span_id) not in answered:
            call(s.service, s.peer_service)
    return g


class CaptureServer:
    """OTLP/HTTP receiver on 127.0.0.1 that collects decoded records.

    Args:
        port: TCP port (0: a free one).
        throttle: answer the first `throttle` requests with `throttle_status` and Retry-After.
        throttle_status: 503 or 429.
        retry_after: the Retry-After value sent while throttling.
        token: when set, requests must carry `Authorization: Bearer <token>` (else 401).
    """

    def __init__(self, port: int = 0, throttle: int = 0, throttle_status: int = 503, retry_after: str = "0",
                 token: str | None = None) -> None:
        self.batch = RecordBatch()
        self.requests: list[tuple[str, int]] = []  # (signal, status) per request
        self.throttle = throttle
        self.throttle_status = throttle_status
        self.retry_after = retry_after
        self.token = token
        self._decoder = OtlpDecoder()
        self._lock = threading.Lock()
        app = FastAPI()
        for name in _SIGNALS:
            app.add_api_route(f"/v1/{name}", self._handler(name), methods=["POST"])
        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        sock.close()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="otlp-capture", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handler(self, name: str):
        signal = _SIGNALS[name]

        async def receive(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
                    self.requests.append((name, 401))
                    return Response(status_code=401)
                if self.throttle > 0:
                    self.throttle -= 1
                    self.requests.append((name, self.throttle_status))
                    return Response(status_code=self.throttle_status, headers={"Retry-After": self.retry_after})
            raw = decompress(body, request.headers.get("content-encoding"), 64 * 1024 * 1024)
            result = self._decoder.decode_body(signal, raw, "protobuf")
            with self._lock:
                self.requests.append((name, 200))
                self.batch.spans += result.batch.spans
                self.batch.metrics += result.batch.metrics
                self.batch.logs += result.batch.logs
                self.batch.changes += result.batch.changes
            return Response(content=signal.response().SerializeToString(), media_type="application/x-protobuf")

        return receive

    def start(self, timeout: float = 10.0) -> CaptureServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RcaError(f"capture server did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
