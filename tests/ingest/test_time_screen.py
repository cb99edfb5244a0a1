"""Records outside the store's retention or stamped in the far future are refused with OTLP
partial success (HTTP protobuf and JSON, gRPC, the SDK's exporter), the rest still stored."""

from __future__ import annotations

import json
import math
import os
import time

import grpc
import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourcePb
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rca_service.ingest.result import DecodeResult
from rca_service.ingest.time_screen import TimeScreen, duration_text, split_by_time, utc_text
from rca_service.records import LogRecord, RecordBatch
from rca_service.store.api import AcceptedTimeRange
from rca_service.store.config import StoreConfig
from rca_service.store.telemetry import TelemetryStore

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
HOUR = 3600.0
NS = 1_000_000_000
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


def _resource(service: str) -> ResourcePb:
    return ResourcePb(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])


def trace_request(starts: list[float], service: str = "screen-api") -> ExportTraceServiceRequest:
    """One span per start time (100 ms long), each with its own ids."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add(resource=_resource(service))
    scope = rs.scope_spans.add()
    for i, start in enumerate(starts, 1):
        scope.spans.add(trace_id=os.urandom(16), span_id=i.to_bytes(8, "big"), name="GET /x", kind=2,
                        start_time_unix_nano=int(start * NS), end_time_unix_nano=int((start + 0.1) * NS))
    return request


def metrics_request(times: list[float], service: str = "screen-api") -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add(resource=_resource(service)).scope_metrics.add()
    gauge = scope.metrics.add(name="queue_length").gauge
    for t in times:
        gauge.data_points.add(time_unix_nano=int(t * NS), as_double=3.0)
    return request


def logs_json(times: list[float], service: str = "screen-api") -> bytes:
    """An OTLP/JSON logs body (int64 as strings, as OTLP/JSON writes them)."""
    records = [{"timeUnixNano": str(int(t * NS)), "severityNumber": 17, "body": {"stringValue": f"failed {i}"}}
               for i, t in enumerate(times)]
    return json.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeLogs": [{"logRecords": records}]}]}).encode()


@pytest.fixture
def store_server(otlp_server):
    """(server, store, newest): ingest over a real TelemetryStore whose newest data is 10 min old."""
    store = TelemetryStore(StoreConfig(step=60, retention_seconds=24 * HOUR, max_future_seconds=HOUR))
    server = otlp_server(sink=store)
    newest = time.time() - 600
    r = httpx.post(f"{server.http_url}/v1/traces", content=trace_request([newest - 5]).SerializeToString(), headers=PB)
    assert r.status_code == 200 and not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    server.flush()
    assert store.watermark == pytest.approx(newest - 4.9, abs=1e-3)
    return server, store, store.watermark


def test_http_protobuf_spans_outside_the_range_are_rejected_with_a_reason(store_server):
    server, store, newest = store_server
    now = time.time()
    starts = [newest - 25 * HOUR, newest - 30 * HOUR, newest - 60, newest - 1, now + 2 * HOUR]
    r = httpx.post(f"{server.http_url}/v1/traces", content=trace_request(starts).SerializeToString(), headers=PB)
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 3
    message = partial.error_message
    assert message.startswith("rejected 3 spans: ")
    assert f"2 older than the 24 h retention (newest data {utc_text(newest)})" in message
    assert "1 stamped more than 1 h ahead of the server clock" in message
    server.flush()
    assert store.counters["spans"] == 1 + 2  # the first request's span and the two in range
    assert store.counters["dropped"] == 0  # nothing reached the store only to be dropped
    stats = server.pipeline.stats()
    assert (stats["rejected_spans"], stats["rejected_too_old"], stats["rejected_too_new"]) == (3, 2, 1)
    assert stats["accepted_spans"] == 3


def test_http_json_logs_outside_retention_are_rejected_in_json(store_server):
    server, store, newest = store_server
    r = httpx.post(f"{server.http_url}/v1/logs", content=logs_json([newest - 25 * HOUR, newest - 2, newest - 1]),
                   headers=JS)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()["partialSuccess"]
    assert int(body["rejectedLogRecords"]) == 1  # OTLP/JSON may write int64 as a string
    response = json_format.Parse(r.text, ExportLogsServiceResponse())
    assert response.partial_success.error_message == (
        f"rejected 1 log records: 1 older than the 24 h retention (newest data {utc_text(newest)})")
    server.flush()
    assert store.counters["logs"] == 2 and store.counters["dropped"] == 0
    assert server.pipeline.stats()["rejected_logs"] == 1


def test_grpc_metric_points_outside_the_range_are_rejected(store_server):
    server, store, newest = store_server
    with grpc.insecure_channel(server.grpc_target) as channel:
        export = channel.unary_unary(METRICS_EXPORT, request_serializer=ExportMetricsServiceRequest.SerializeToString,
                                     response_deserializer=ExportMetricsServiceResponse.FromString)
        response = export(metrics_request([newest - 48 * HOUR, newest - 30, time.time() + 5 * HOUR]), timeout=10)
        partial = response.partial_success
        assert partial.rejected_data_points == 2
        assert "1 older than the 24 h retention" in partial.error_message
        assert "1 stamped more than 1 h ahead" in partial.error_message
        # a request wholly in range carries no partial success
        assert not export(metrics_request([newest - 20]), timeout=10).HasField("partial_success")
    server.flush()
    assert store.counters["metric_points"] == 2 and store.counters["dropped"] == 0
    assert server.pipeline.stats()["rejected_points"] == 2


def test_sdk_exporter_sees_success_and_only_recent_spans_are_stored(store_server):
    """A partial success is a success to the client (never retried); the old span is refused."""
    server, store, newest = store_server
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "screen-sdk"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("screen")
    for start in (newest - 26 * HOUR, newest - 3):
        tracer.start_span("job", start_time=int(start * NS)).end(end_time=int((start + 0.5) * NS))
    provider.shutdown()
    exporter = HttpSpanExporter(endpoint=f"{server.http_url}/v1/traces", timeout=10)
    try:
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    server.flush()
    assert store.counters["spans"] == 2 and store.counters["dropped"] == 0
    assert server.pipeline.stats()["rejected_too_old"] == 1
    assert server.pipeline.stats()["requests"]["http.traces.200"] == 2


def test_empty_store_accepts_any_past_time_but_not_the_far_future(otlp_server):
    """Before any data there is no newest time: a replay of years-old data is accepted."""
    store = TelemetryStore(StoreConfig(step=60))
    server = otlp_server(sink=store)
    old = 1_600_000_000.0
    r = httpx.post(f"{server.http_url}/v1/traces", headers=PB,
                   content=trace_request([old, old + 1, time.time() + 3 * HOUR]).SerializeToString())
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 1 and "ahead of the server clock" in partial.error_message
    server.flush()
    assert store.counters["spans"] == 2


def test_screen_agrees_with_the_store_at_the_edges():
    """Every record the screen keeps the store keeps, and the reverse, right at the limits."""
    store = TelemetryStore(StoreConfig(step=60, retention_seconds=2 * HOUR, max_future_seconds=60))
    store.consume_logs([LogRecord("svc", 1_700_000_000.0, "x", 9)])
    accepted = store.accepted_time_range()
    assert accepted.earliest == 1_700_000_000.0 - 2 * HOUR and accepted.newest_data == 1_700_000_000.0
    lo = accepted.earliest
    times = [lo - 0.001, lo, lo + 1, time.time() + 3600]
    result = DecodeResult.of(RecordBatch(logs=[LogRecord("svc", t, "y", 9) for t in times]),
                             DecodeResult().rejections, "log records")
    TimeScreen(store.accepted_time_range).apply(result)
    assert [r.time for r in result.batch.logs] == [lo, lo + 1]
    assert result.rejected == 2
    assert result.error_message == ("rejected 2 log records: 1 older than the 2 h retention "
                                    "(newest data 2023-11-14T22:13:20Z); 1 stamped more than 1 min ahead of the "
                                    f"server clock ({utc_text(accepted.latest - 60)})")
    store.consume_logs(result.batch.logs)
    assert store.counters["dropped"] == 0 and store.counters["logs"] == 3


def test_decoder_rejections_and_time_rejections_share_one_message():
    accepted = AcceptedTimeRange(earliest=100.0, latest=200.0, newest_data=190.0, retention_seconds=90.0,
                                 max_future_seconds=5400.0)
    result = DecodeResult.of(RecordBatch(logs=[LogRecord("svc", t, "z", 9) for t in (50.0, 150.0, 250.0)]),
                             DecodeResult().rejections, "log records")
    result.reject("without a body", 2)  # what a decoder would have counted
    TimeScreen(lambda: accepted).apply(result)
    assert result.rejected == 4
    assert result.error_message.startswith("rejected 4 log records: 2 without a body; ")
    assert "1 older than the 90 s retention (newest data 1970-01-01T00:03:10Z)" in result.error_message
    assert "1 stamped more than 90 min ahead" in result.error_message


def test_split_by_time_returns_the_same_list_when_nothing_is_out():
    items = [1.0, 2.0, 3.0]
    kept, old, new = split_by_time(items, float, 1.0, 3.0)
    assert kept is items and (old, new) == (0, 0)
    assert split_by_time(items, float, 1.5, 2.5) == ([2.0], 1, 1)
    assert split_by_time(items, float, -math.inf, math.inf)[0] is items


def test_duration_text_uses_the_largest_whole_unit():
    assert [duration_text(s) for s in (86400, 5400, 3600, 120, 90, 0.5)] == ["24 h", "90 min", "1 h", "2 min", "90 s", "0.5 s"]


def test_pipeline_without_a_time_range_screens_nothing(RecordingSink):
    from rca_service.ingest.pipeline import IngestPipeline

    pipeline = IngestPipeline(RecordingSink())
    assert pipeline.decoder.screen is None
    assert "rejected_too_old" not in pipeline.stats()
