"""The OpenTelemetry SDK's own OTLP exporters (HTTP and gRPC) against a running server."""

from __future__ import annotations

import logging

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind as OtelKind
from opentelemetry.trace import Status
from opentelemetry.trace import StatusCode as OtelStatus

from rca_service.records import MetricType, SpanKind, StatusCode

PROTOCOLS = ["http", "grpc"]


def span_exporter(protocol: str, server, token: str = ""):
    if protocol == "http":
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return HttpSpanExporter(endpoint=f"{server.http_url}/v1/traces", compression=Compression.Gzip, headers=headers, timeout=10)
    headers = (("authorization", f"Bearer {token}"),) if token else None
    return GrpcSpanExporter(endpoint=server.grpc_target, insecure=True, compression=grpc.Compression.Gzip, headers=headers, timeout=10)


def metric_exporter(protocol: str, server):
    if protocol == "http":
        return HttpMetricExporter(endpoint=f"{server.http_url}/v1/metrics", timeout=10)
    return GrpcMetricExporter(endpoint=server.grpc_target, insecure=True, timeout=10)


def log_exporter(protocol: str, server):
    if protocol == "http":
        return HttpLogExporter(endpoint=f"{server.http_url}/v1/logs", compression=Compression.Gzip, timeout=10)
    return GrpcLogExporter(endpoint=server.grpc_target, insecure=True, timeout=10)


def tracer(name: str, exporter) -> tuple[TracerProvider, trace.Tracer]:
    provider = TracerProvider(resource=Resource.create({"service.name": name, "service.version": "1.0.0"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, provider.get_tracer("test")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_spans_decode_with_services_parents_kinds_and_peers(otlp_server, protocol):
    server = otlp_server(token="s3cret")
    web_provider, web = tracer("shop-web", span_exporter(protocol, server, "s3cret"))
    api_provider, api = tracer("shop-api", span_exporter(protocol, server, "s3cret"))

    with web.start_as_current_span("GET /cart", kind=OtelKind.SERVER) as root:  # noqa: SIM117 (nesting = call tree)
        with web.start_as_current_span("call api", kind=OtelKind.CLIENT,
                                       attributes={"peer.service": "shop-api", "http.request.method": "GET",
                                                   "url.full": "http://x/y"}) as client:
            ctx = trace.set_span_in_context(client)
            with api.start_as_current_span("GET /items", context=ctx, kind=OtelKind.SERVER) as remote:
                remote.set_status(Status(OtelStatus.ERROR, "db down"))
            with web.start_as_current_span("query", kind=OtelKind.CLIENT,
                                           attributes={"db.system": "redis", "server.address": "cache-1"}):
                pass
    web_provider.shutdown()
    api_provider.shutdown()
    server.flush()

    spans = {s.name: s for s in server.sink.spans}
    assert set(spans) == {"GET /cart", "call api", "GET /items", "query"}
    root_id = format(root.get_span_context().span_id, "016x")
    client_id = format(client.get_span_context().span_id, "016x")
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert spans["GET /cart"].parent_span_id is None
    assert spans["GET /cart"].span_id == root_id and spans["GET /cart"].trace_id == trace_id
    assert spans["call api"].parent_span_id == root_id
    assert spans["GET /items"].parent_span_id == client_id
    assert spans["GET /items"].service == "shop-api" and spans["call api"].service == "shop-web"
    assert spans["GET /cart"].kind is SpanKind.SERVER and spans["call api"].kind is SpanKind.CLIENT
    assert spans["call api"].peer_service == "shop-api"
    assert spans["query"].peer_service == "cache-1"  # server.address before db.system
    assert spans["GET /items"].status is StatusCode.ERROR and spans["GET /items"].status_message == "db down"
    assert spans["call api"].attributes["http.request.method"] == "GET"
    assert "url.full" not in spans["call api"].attributes  # only the kept keys
    assert all(s.end >= s.start > 1e9 for s in spans.values())
    assert spans["GET /items"].resource["service.version"] == "1.0.0"
    stats = server.pipeline.stats()
    assert stats["accepted_spans"] == 4 and stats["consumed_spans"] == 4
    assert stats["requests"][f"{protocol}.traces.{200 if protocol == 'http' else 'OK'}"] == 4


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_metrics_decode_every_type(otlp_server, protocol):
    server = otlp_server()
    reader = PeriodicExportingMetricReader(metric_exporter(protocol, server), export_interval_millis=3_600_000)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "shop-api"}),
        views=[View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation())],
    )
    meter = provider.get_meter("test")
    meter.create_counter("requests").add(7, {"route": "/items"})
    meter.create_up_down_counter("in_flight").add(-3)
    meter.create_observable_gauge("cpu", callbacks=[lambda options: [Observation(0.25)]])
    hist = meter.create_histogram("latency", unit="ms")
    exp = meter.create_histogram("latency.exp", unit="ms")
    for v in range(1, 101):
        hist.record(v)
        exp.record(v)
    provider.force_flush()
    provider.shutdown()
    server.flush()

    points = {p.name: p for p in server.sink.metrics}
    assert points["requests"].type is MetricType.SUM and points["requests"].is_monotonic
    assert points["requests"].value == 7 and points["requests"].attributes == {"route": "/items"}
    assert points["in_flight"].type is MetricType.SUM and not points["in_flight"].is_monotonic
    assert points["in_flight"].value == -3
    assert points["cpu"].type is MetricType.GAUGE and points["cpu"].value == pytest.approx(0.25)
    h = points["latency"]
    assert h.type is MetricType.HISTOGRAM and h.unit == "ms"
    assert h.count == 100 and h.sum == 5050 and h.value == pytest.approx(50.5)
    assert 25 <= h.quantiles[0.5] <= 75 and h.quantiles[0.5] <= h.quantiles[0.9] <= h.quantiles[0.99] <= 100
    e = points["latency.exp"]
    assert e.type is MetricType.EXPONENTIAL_HISTOGRAM and e.count == 100
    # exponential buckets are fine-grained: the estimates are close to the true quantiles
    assert e.quantiles[0.5] == pytest.approx(50, rel=0.1)
    assert e.quantiles[0.9] == pytest.approx(90, rel=0.1)
    assert all(p.service == "shop-api" for p in points.values())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_logs_decode_severity_trace_ids_and_change_events(otlp_server, protocol):
    server = otlp_server()
    provider = LoggerProvider(resource=Resource.create({"service.name": "shop-api"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter(protocol, server)))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger(f"ingest-test-{protocol}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    trace_provider = TracerProvider()
    try:
        with trace_provider.get_tracer("t").start_as_current_span("work") as span:
            logger.error("payment failed for order %s", 42)
        logger.warning("rolled out v2", extra={"change.kind": "deploy"})
        provider.force_flush()
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    server.flush()

    logs = {r.body: r for r in server.sink.logs}
    error = logs["payment failed for order 42"]
    assert error.severity == 17 and error.severity_text == "ERROR" and error.service == "shop-api"
    assert error.trace_id == format(span.get_span_context().trace_id, "032x")
    assert error.span_id == format(span.get_span_context().span_id, "016x")
    deploy = logs["rolled out v2"]
    assert deploy.severity == 13 and deploy.trace_id is None
    assert [(c.service, c.kind, c.description) for c in server.sink.changes] == [("shop-api", "deploy", "rolled out v2")]


def test_sdk_delta_temporality_reaches_the_sink_cumulative(otlp_server):
    from opentelemetry.sdk.metrics import Counter, Histogram
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    server = otlp_server()
    delta = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    exporter = HttpMetricExporter(endpoint=f"{server.http_url}/v1/metrics", preferred_temporality=delta, timeout=10)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "shop-api"}))
    meter = provider.get_meter("test")
    counter = meter.create_counter("orders")
    hist = meter.create_histogram("latency")
    counter.add(7)
    hist.record(10)
    provider.force_flush()
    counter.add(3)
    hist.record(20)
    hist.record(30)
    provider.force_flush()
    provider.shutdown()
    server.flush()

    orders = [p.value for p in server.sink.metrics if p.name == "orders"]
    assert orders == [7, 10]  # running total, as a cumulative exporter would have sent
    latency = [(p.count, p.sum, p.value) for p in server.sink.metrics if p.name == "latency"]
    assert latency == [(1, 10, 10), (3, 60, 25)]  # totals cumulative, mean of the interval itself
