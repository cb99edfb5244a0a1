"""The app's lifespan drives the service, and the OTLP routes are mounted once ingest exists.

Runs on a real socket: uvicorn serves the app, the OpenTelemetry SDK's OTLP/HTTP exporter
sends spans to it, and the ingest pipeline hands them to a recording sink.
"""

from __future__ import annotations

import time

import httpx
from fastapi.testclient import TestClient
from rca_fakes import FakeService, uvicorn_server

from rca_service.api.app import create_app


class ListSink:
    def __init__(self):
        self.spans, self.metrics, self.logs, self.changes = [], [], [], []

    def consume_spans(self, spans):
        self.spans.extend(spans)

    def consume_metrics(self, points):
        self.metrics.extend(points)

    def consume_logs(self, logs):
        self.logs.extend(logs)

    def consume_changes(self, changes):
        self.changes.extend(changes)


class ServiceWithIngest(FakeService):
    """The canned facade plus a real ingest pipeline created in start(), as RcaService does."""

    def __init__(self):
        super().__init__()
        self.sink = ListSink()
        self.accepting = False

    def start(self):
        from rca_service.ingest.pipeline import IngestPipeline

        super().start()
        self.ingest = IngestPipeline(self.sink)
        self.ingest.start()
        self.accepting = True

    def stop(self):
        self.ingest.stop()
        super().stop()


def test_lifespan_starts_and_stops_the_service_once():
    svc = FakeService()
    with TestClient(create_app(svc)) as c:
        assert (svc.started, svc.stopped) == (1, 0)
        assert c.get("/healthz").status_code == 200
    assert (svc.started, svc.stopped) == (1, 1)


def test_caller_managed_lifecycle_is_left_alone():
    svc = FakeService()
    with TestClient(create_app(svc, manage_lifecycle=False)):
        pass
    assert (svc.started, svc.stopped) == (0, 0)


def test_otlp_spans_from_the_sdk_exporter_reach_ingest_through_the_app():
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    svc = ServiceWithIngest()
    app = create_app(svc)
    # before the lifespan ran there is no ingest pipeline, so no OTLP route either
    assert TestClient(app).post("/v1/traces", content=b"", headers={"content-type": "application/x-protobuf"}).status_code == 404
    with uvicorn_server(app) as url:
        provider = TracerProvider(resource=Resource.create({"service.name": "lumvor-svc"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=5)))
        tracer = provider.get_tracer("test")
        for i in range(3):
            with tracer.start_as_current_span(f"op-{i}"):
                pass
        provider.shutdown()
        deadline = time.monotonic() + 10
        while len(svc.sink.spans) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(s.name for s in svc.sink.spans) == ["op-0", "op-1", "op-2"]
        assert {s.service for s in svc.sink.spans} == {"lumvor-svc"}
        assert httpx.get(f"{url}/healthz").status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert 'rca_http_requests_total{method="POST",route="/v1/traces",status="200"} 3.0' in metrics
    assert svc.stopped == 1
