"""Fixtures for ingest tests: a recording sink and real OTLP servers on free ports.

`otlp_server(**ingest_config)` starts an IngestPipeline over a RecordingSink (or the `sink=`
given, e.g. a real TelemetryStore), a FastAPI app with the OTLP router served by uvicorn on a
real socket, and the OTLP/gRPC server. Everything binds 127.0.0.1 and is stopped at teardown.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from rca_service.api.otlp_http import build_otlp_router
from rca_service.ingest.grpc_server import OtlpGrpcServer
from rca_service.ingest.pipeline import IngestConfig, IngestPipeline
from rca_service.records import ChangeEvent, LogRecord, MetricPoint, Span


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RecordingSink:
    """A RecordSink that keeps everything it is given; `gate` can hold the worker back."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.metrics: list[MetricPoint] = []
        self.logs: list[LogRecord] = []
        self.changes: list[ChangeEvent] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next = False

    def _wait(self) -> None:
        self.gate.wait(30)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("sink failure injected by the test")

    def consume_spans(self, spans: list[Span]) -> None:
        self._wait()
        self.spans.extend(spans)

    def consume_metrics(self, points: list[MetricPoint]) -> None:
        self._wait()
        self.metrics.extend(points)

    def consume_logs(self, logs: list[LogRecord]) -> None:
        self._wait()
        self.logs.extend(logs)

    def consume_changes(self, changes: list[ChangeEvent]) -> None:
        self._wait()
        self.changes.extend(changes)


@dataclass
class OtlpServer:
    """A running ingest: endpoints, the pipeline and what reached the sink."""

    pipeline: IngestPipeline
    sink: Any  # a RecordingSink unless the test gave its own
    http_port: int
    grpc: OtlpGrpcServer
    uvicorn_server: uvicorn.Server
    thread: threading.Thread

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc.port}"

    def flush(self) -> None:
        assert self.pipeline.flush(10), "pipeline did not drain"

    def wait_queue_empty(self) -> None:
        """Wait until the worker has taken every queued batch (it may still be in the sink)."""
        deadline = time.monotonic() + 10
        while self.pipeline.stats()["queue_depth"] and time.monotonic() < deadline:
            time.sleep(0.005)

    def stop(self) -> None:
        self.uvicorn_server.should_exit = True
        self.thread.join(10)
        self.grpc.stop(0)
        self.pipeline.stop(drain=False)


def start_otlp_server(token: str = "", sink: Any = None, **config) -> OtlpServer:
    sink = RecordingSink() if sink is None else sink
    cfg = IngestConfig.from_dict(config)
    pipeline = IngestPipeline(sink, cfg)
    pipeline.start()
    app = FastAPI()
    app.include_router(build_otlp_router(pipeline, cfg, token=token))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    grpc_server = OtlpGrpcServer(pipeline, "127.0.0.1", 0, cfg.max_body_bytes, token=token, workers=4)
    grpc_server.start()
    return OtlpServer(pipeline, sink, port, grpc_server, server, thread)


@pytest.fixture(name="RecordingSink")
def recording_sink_class() -> type[RecordingSink]:
    """The RecordingSink class, for tests that build their own pipeline."""
    return RecordingSink


@pytest.fixture
def free_port_fn() -> Callable[[], int]:
    """A function returning a free TCP port on 127.0.0.1 each call."""
    return free_port


@pytest.fixture
def otlp_server() -> Iterator[Callable[..., OtlpServer]]:
    """Factory: `otlp_server(token="", sink=None, **IngestConfig fields)` → a running OtlpServer."""
    started: list[OtlpServer] = []

    def make(token: str = "", sink: Any = None, **config) -> OtlpServer:
        server = start_otlp_server(token, sink, **config)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
