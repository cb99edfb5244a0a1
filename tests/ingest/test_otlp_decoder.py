"""The OTLP decoder on hand-built messages: metric types, quantiles, logs, changes, JSON, config."""

from __future__ import annotations

import json
import math

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from rca_service.errors import ConfigError, DecodeError
from rca_service.ingest import LOGS, METRICS, TRACES, DecoderConfig, OtlpDecoder
from rca_service.ingest.quantiles import (
    estimate_quantiles,
    explicit_buckets,
    exponential_buckets,
)
from rca_service.records import MetricType, SpanKind

T0 = 1_700_000_000_000_000_000


def resource(request_list, service: str, **extra):
    item = request_list.add()
    item.resource.attributes.add(key="service.name").value.string_value = service
    for key, value in extra.items():
        item.resource.attributes.add(key=key.replace("_", "."), value=AnyValue(string_value=value))
    return item


def test_histogram_quantiles_interpolate_inside_buckets():
    # 100 values spread evenly over (0, 10], (10, 20], ...: q50 sits at 50
    bounds = [10, 20, 30, 40, 50, 60, 70, 80, 90]
    buckets = explicit_buckets(bounds, [10] * 10)
    q = estimate_quantiles(buckets, (0.5, 0.9, 0.99), minimum=0.5, maximum=100)
    assert q[0.5] == pytest.approx(50)
    assert q[0.9] == pytest.approx(90)
    assert 90 < q[0.99] <= 100  # the +Inf bucket is closed by the recorded max
    assert estimate_quantiles(explicit_buckets([1], [0, 0]), (0.5,)) == {}
    # without a max, the open bucket collapses to its finite bound
    assert estimate_quantiles(explicit_buckets([1, 2], [0, 0, 5]), (0.5,))[0.5] == 2


def test_exponential_buckets_cover_positive_zero_and_negative_values():
    # scale 0: base 2; positive index 3 covers (8, 16]; negative index 0 covers [-2, -1)
    buckets = exponential_buckets(0, 2, 0.0, 3, [4], 0, [2])
    assert buckets == [(-2.0, -1.0, 2.0), (-0.0, 0.0, 2.0), (8.0, 16.0, 4.0)]
    q = estimate_quantiles(buckets, (0.25, 0.9))
    assert -2 <= q[0.25] <= 0 and 8 < q[0.9] <= 16
    assert exponential_buckets(20, 0, 0.0, 10**9, [1], 0, [])[0][1] > 1  # huge index: no overflow error


def test_every_metric_type_and_rejections():
    request = ExportMetricsServiceRequest()
    rm = resource(request.resource_metrics, "api")
    metrics = rm.scope_metrics.add().metrics
    gauge = metrics.add(name="temp", unit="C").gauge.data_points.add(time_unix_nano=T0, as_int=21)
    gauge.attributes.add(key="room").value.string_value = "a"
    metrics[-1].gauge.data_points.add(as_double=1.0)  # no time: rejected
    metrics[-1].gauge.data_points.add(time_unix_nano=T0)  # no value: rejected
    metrics[-1].gauge.data_points.add(time_unix_nano=T0, flags=1)  # no recorded value: skipped
    total = metrics.add(name="bytes")
    total.sum.is_monotonic = True
    total.sum.data_points.add(time_unix_nano=T0, as_double=1.5e6)
    hist = metrics.add(name="lat").histogram.data_points.add(
        time_unix_nano=T0, count=4, sum=10.0, bucket_counts=[1, 2, 1], explicit_bounds=[1.0, 5.0], min=0.5, max=8.0)
    assert hist.count == 4
    metrics[-1].histogram.data_points.add(time_unix_nano=T0, count=1, bucket_counts=[1, 0], explicit_bounds=[1.0, 2.0])
    summary = metrics.add(name="rt").summary.data_points.add(time_unix_nano=T0, count=10, sum=25.0)
    summary.quantile_values.add(quantile=0.5, value=2.0)
    summary.quantile_values.add(quantile=0.99, value=9.0)
    metrics.add(name="empty")  # no data type at all

    result = OtlpDecoder().decode(METRICS, request)
    points = {p.name: p for p in result.batch.metrics}
    assert points["temp"].type is MetricType.GAUGE and points["temp"].value == 21.0
    assert points["temp"].attributes == {"room": "a"} and points["temp"].unit == "C"
    assert points["bytes"].is_monotonic and points["bytes"].value == 1.5e6
    lat = points["lat"]
    assert lat.type is MetricType.HISTOGRAM and lat.value == 2.5 and lat.count == 4 and lat.sum == 10.0
    assert 1.0 <= lat.quantiles[0.5] <= 5.0 and lat.quantiles[0.99] <= 8.0
    rt = points["rt"]
    assert rt.type is MetricType.SUMMARY and rt.value == 2.5 and rt.quantiles == {0.5: 2.0, 0.99: 9.0}
    assert len(result.batch.metrics) == 4
    assert result.rejected == 4
    for reason in ("without a time", "without a value", "bucket counts", "without a data type"):
        assert reason in result.error_message


def test_logs_bodies_ids_and_change_events():
    request = ExportLogsServiceRequest()
    rl = resource(request.resource_logs, "billing")
    records = rl.scope_logs.add().log_records
    plain = records.add(time_unix_nano=T0, severity_number=17, severity_text="ERROR", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    plain.body.string_value = "card declined"
    structured = records.add(observed_time_unix_nano=T0 + 10**9, severity_number=9)
    kv = structured.body.kvlist_value.values.add(key="msg")
    kv.value.string_value = "hi"
    structured.body.kvlist_value.values.add(key="n").value.int_value = 3
    change = records.add(time_unix_nano=T0, severity_number=9)
    change.body.string_value = "config reloaded: pool=20"
    change.attributes.add(key="change.kind").value.string_value = "config"
    change.attributes.add(key="by").value.string_value = "ops"
    records.add(time_unix_nano=T0, trace_id=b"\x01" * 5)  # bad trace id length: rejected

    result = OtlpDecoder().decode(LOGS, request)
    logs = result.batch.logs
    assert len(logs) == 3 and result.rejected == 1 and "trace id" in result.error_message
    assert logs[0].body == "card declined" and logs[0].severity == 17 and logs[0].trace_id == "01" * 16
    assert logs[0].span_id == "02" * 8 and logs[0].time == pytest.approx(1.7e9)
    assert json.loads(logs[1].body) == {"msg": "hi", "n": 3} and logs[1].time == pytest.approx(1.7e9 + 1)
    assert logs[1].trace_id is None
    (event,) = result.batch.changes
    assert (event.service, event.kind, event.description, event.attributes) == ("billing", "config", "config reloaded: pool=20", {"by": "ops"})


def test_a_new_service_version_is_a_deploy_once():
    decoder = OtlpDecoder()

    def spans_from(version: str, start_s: int) -> list:
        request = ExportTraceServiceRequest()
        rs = resource(request.resource_spans, "cart", service_version=version)
        rs.scope_spans.add().spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="x", kind=2,
                                       start_time_unix_nano=start_s * 10**9, end_time_unix_nano=start_s * 10**9 + 5)
        return decoder.decode(TRACES, request).batch.changes

    assert spans_from("1.0", 100) == []  # baseline
    assert spans_from("1.0", 110) == []
    (deploy,) = spans_from("1.1", 120)
    assert deploy.kind == "deploy" and deploy.service == "cart" and deploy.time == 120
    assert "1.1" in deploy.description
    assert spans_from("1.0", 130) == []  # rolling update: old version again is not a new deploy


def test_span_rejections_and_kinds():
    request = ExportTraceServiceRequest()
    spans = resource(request.resource_spans, "web").scope_spans.add().spans
    good = {"trace_id": b"\x0a" * 16, "span_id": b"\x0b" * 8, "start_time_unix_nano": T0, "end_time_unix_nano": T0 + 1}
    spans.add(**{**good, "kind": 9})  # unknown kind number: kept as UNSPECIFIED
    spans.add(**{**good, "trace_id": bytes(16)})
    spans.add(**{**good, "span_id": b"\x01"})
    spans.add(**{**good, "parent_span_id": b"\x01\x02"})
    spans.add(**{**good, "start_time_unix_nano": 0})
    spans.add(**{**good, "end_time_unix_nano": T0 - 1})
    result = OtlpDecoder().decode(TRACES, request)
    assert [s.kind for s in result.batch.spans] == [SpanKind.UNSPECIFIED]
    assert result.rejected == 5
    assert result.error_message.startswith("rejected 5 spans:")


def test_span_attribute_scopes():
    request = ExportTraceServiceRequest()
    spans = resource(request.resource_spans, "web").scope_spans.add().spans
    for kind in (2, 3):
        span = spans.add(trace_id=b"\x0a" * 16, span_id=bytes([kind]) * 8, kind=kind,
                         start_time_unix_nano=T0, end_time_unix_nano=T0 + 1)
        span.attributes.extend([KeyValue(key="peer.service", value=AnyValue(string_value="db")),
                                KeyValue(key="custom.tag", value=AnyValue(int_value=1))])
    server, client = OtlpDecoder().decode(TRACES, request).batch.spans
    assert server.attributes == {} and server.peer_service is None
    assert client.attributes == {"peer.service": "db"} and client.peer_service == "db"
    everything = OtlpDecoder(DecoderConfig(span_attribute_scope="all", span_attribute_keys=None))
    server, client = everything.decode(TRACES, request).batch.spans
    assert server.attributes == {"peer.service": "db", "custom.tag": 1} and server.peer_service is None


def test_json_metrics_and_logs_parse_like_protobuf():
    decoder = OtlpDecoder()
    metrics_doc = {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "m"}}]},
                   "scopeMetrics": [{"metrics": [{"name": "c", "sum": {"isMonotonic": True, "aggregationTemporality": 2,
                    "dataPoints": [{"timeUnixNano": str(T0), "asInt": "42"}]}}]}]}]}
    (point,) = decoder.decode_body(METRICS, json.dumps(metrics_doc).encode(), "json").batch.metrics
    assert point.value == 42 and point.is_monotonic and point.time == pytest.approx(1.7e9)
    logs_doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": T0, "severityNumber": 13,
                "body": {"stringValue": "w"}, "traceId": "AB" * 16, "spanId": "", "unknownThing": 1}]}]}]}
    (log,) = decoder.decode_body(LOGS, json.dumps(logs_doc).encode(), "json").batch.logs
    assert log.trace_id == "ab" * 16 and log.span_id is None and log.service == "unknown_service"
    with pytest.raises(DecodeError):
        decoder.decode_body(LOGS, b"[1, 2]", "json")
    with pytest.raises(DecodeError):
        decoder.decode_body(LOGS, b"\xff\xfe", "json")
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    with pytest.raises(DecodeError):
        decoder.decode_body(LOGS, deep, "json")


def test_nan_mean_when_counts_are_empty():
    request = ExportMetricsServiceRequest()
    metric = resource(request.resource_metrics, "x").scope_metrics.add().metrics.add(name="s")
    metric.summary.data_points.add(time_unix_nano=T0, count=0, sum=0)
    (point,) = OtlpDecoder().decode(METRICS, request).batch.metrics
    assert math.isnan(point.value)


def test_decoder_config_validation():
    with pytest.raises(ConfigError):
        DecoderConfig(span_attribute_scope="some")
    with pytest.raises(ConfigError):
        DecoderConfig(quantiles=(0.5, 1.0))
    with pytest.raises(ConfigError, match="unknown key"):
        DecoderConfig.from_dict({"quantile": [0.5]})
    assert DecoderConfig.from_dict({"quantiles": [0.5, 0.75]}).quantiles == (0.5, 0.75)


def test_delta_totals_are_per_series_and_bounded():
    from rca_service.ingest.cumulative import DeltaToCumulative, series_key

    totals = DeltaToCumulative(max_series=2)
    a = series_key("s", "m", {"route": "/a", "tags": ["x"]})
    b = series_key("s", "m", {"route": "/b"})
    assert totals.add(a, 1, 10) == (1, 10)
    assert totals.add(a, 2, 5) == (3, 15)
    assert totals.add(b, 4) == (4,)
    totals.add(series_key("s", "other", {}), 1)  # third series: the least recently used (a) goes
    assert len(totals) == 2
    assert totals.add(a, 1, 1) == (1, 1)  # restarts from zero: the store reads a counter reset
