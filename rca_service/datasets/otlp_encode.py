"""Plain records → OTLP protobuf Export requests (what an SDK or a Collector would send).

Records are grouped by resource (one ResourceSpans / ResourceMetrics / ResourceLogs per
distinct resource, i.e. per service or pod) under one instrumentation scope. Ids that are
not 16/8-byte hex (some benchmark tracers use 8-byte trace ids or other text) are padded or
hashed to valid OTLP ids, the same way every time, so parent links survive.

Metric points are sent as gauges, sums as cumulative sums; histogram and summary points as
summaries carrying count, sum and quantiles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from rca_service.records import ChangeEvent, LogRecord, MetricPoint, MetricType, RecordBatch, Span

SCOPE = InstrumentationScope(name="rca_service.datasets.replay", version="0.1.0")
CHANGE_KIND = "change.kind"


def any_value(value: Any) -> AnyValue:
    """A Python value as an OTLP AnyValue (str, bool, int, float, bytes, list, dict; else str)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(value)))
    return AnyValue(string_value=str(value))


def key_values(attrs: dict[str, Any] | None) -> list[KeyValue]:
    return [KeyValue(key=str(k), value=any_value(v)) for k, v in (attrs or {}).items() if v is not None]


def id_bytes(text: str | None, size: int) -> bytes:
    """An OTLP id of `size` bytes from a hex string (left-padded) or any other text (hashed)."""
    if not text:
        return b""
    t = text.strip().lower()
    if len(t) <= 2 * size and len(t) % 2 == 0:
        try:
            raw = bytes.fromhex(t)
            return raw.rjust(size, b"\0") if any(raw) else b""
        except ValueError:
            pass
    return hashlib.blake2b(t.encode(), digest_size=size).digest()


def _resource_key(resource: dict[str, Any], service: str) -> tuple:
    res = dict(resource or {})
    res.setdefault("service.name", service)
    return tuple(sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in res.items())), res


def _group(items: Iterable) -> dict[tuple, tuple[dict, list]]:
    """Records (anything with .service and .resource) by their full resource."""
    groups: dict[tuple, tuple[dict, list]] = {}
    for item in items:
        key, res = _resource_key(item.resource, item.service)
        groups.setdefault(key, (res, []))[1].append(item)
    return groups


def _scoped_groups(items: Iterable, resource_list: Any, scope_field: str) -> Iterator[tuple[Any, list]]:
    """For each resource among `items`: add a Resource… block with its attributes and one
    scope block under our instrumentation scope; yield (scope block, the items)."""
    for res, group in _group(items).values():
        block = resource_list.add()
        block.resource.CopyFrom(Resource(attributes=key_values(res)))
        scoped = getattr(block, scope_field).add()
        scoped.scope.CopyFrom(SCOPE)
        yield scoped, group


def _ns(t: float) -> int:
    return int(round(t * 1e9))


def encode_spans(spans: Iterable[Span]) -> ExportTraceServiceRequest:
    """One ExportTraceServiceRequest, spans grouped by resource."""
    req = ExportTraceServiceRequest()
    for ss, items in _scoped_groups(spans, req.resource_spans, "scope_spans"):
        for s in items:
            attrs = dict(s.attributes or {})
            if s.peer_service and "peer.service" not in attrs and "service.peer.name" not in attrs:
                attrs["peer.service"] = s.peer_service
            ss.spans.append(trace_pb2.Span(
                trace_id=id_bytes(s.trace_id, 16), span_id=id_bytes(s.span_id, 8),
                parent_span_id=id_bytes(s.parent_span_id, 8), name=s.name, kind=int(s.kind),
                start_time_unix_nano=_ns(s.start), end_time_unix_nano=_ns(max(s.end, s.start)),
                attributes=key_values(attrs),
                status=trace_pb2.Status(code=int(s.status), message=s.status_message or ""),
            ))
    return req


def _metric_key(p: MetricPoint) -> tuple:
    return (p.name, p.unit, int(p.type), p.is_monotonic)


def encode_metrics(points: Iterable[MetricPoint]) -> ExportMetricsServiceRequest:
    """One ExportMetricsServiceRequest, points grouped by resource and then by metric."""
    req = ExportMetricsServiceRequest()
    for sm, items in _scoped_groups(points, req.resource_metrics, "scope_metrics"):
        by_metric: dict[tuple, list[MetricPoint]] = {}
        for p in items:
            by_metric.setdefault(_metric_key(p), []).append(p)
        for (name, unit, mtype, monotonic), pts in by_metric.items():
            metric = sm.metrics.add(name=name, unit=unit)
            if mtype == MetricType.SUM:
                metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                metric.sum.is_monotonic = monotonic
                for p in pts:
                    metric.sum.data_points.add(time_unix_nano=_ns(p.time), as_double=float(p.value),
                                               attributes=key_values(p.attributes))
            elif mtype in (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM, MetricType.SUMMARY):
                for p in pts:
                    count = int(p.count) if p.count is not None else 1
                    total = p.sum if p.sum is not None else p.value * count
                    dp = metric.summary.data_points.add(time_unix_nano=_ns(p.time), count=count, sum=float(total),
                                                        attributes=key_values(p.attributes))
                    for q, v in sorted(p.quantiles.items()):
                        dp.quantile_values.add(quantile=float(q), value=float(v))
            else:
                for p in pts:
                    metric.gauge.data_points.add(time_unix_nano=_ns(p.time), as_double=float(p.value),
                                                 attributes=key_values(p.attributes))
    return req


def _change_as_log(c: ChangeEvent) -> LogRecord:
    attrs = {CHANGE_KIND: c.kind, **(c.attributes or {})}
    return LogRecord(service=c.service, time=c.time, body=c.description or f"{c.kind} of {c.service}",
                     severity=9, severity_text="INFO", attributes=attrs, resource={"service.name": c.service})


def encode_logs(logs: Iterable[LogRecord], changes: Iterable[ChangeEvent] = ()) -> ExportLogsServiceRequest:
    """One ExportLogsServiceRequest. Change events not already carried by a log record marked
    `change.kind` are added as such log records (the decoder turns them back into changes)."""
    logs = list(logs)
    marked = {(lg.service, round(lg.time, 3), str(lg.attributes.get(CHANGE_KIND)))
              for lg in logs if lg.attributes and lg.attributes.get(CHANGE_KIND)}
    extra = [_change_as_log(c) for c in changes if (c.service, round(c.time, 3), c.kind) not in marked]
    req = ExportLogsServiceRequest()
    for sl, items in _scoped_groups(logs + extra, req.resource_logs, "scope_logs"):
        for lg in items:
            sl.log_records.append(logs_pb2.LogRecord(
                time_unix_nano=_ns(lg.time), observed_time_unix_nano=_ns(lg.time),
                severity_number=int(lg.severity), severity_text=lg.severity_text or "",
                body=AnyValue(string_value=lg.body), attributes=key_values(lg.attributes),
                trace_id=id_bytes(lg.trace_id, 16), span_id=id_bytes(lg.span_id, 8),
            ))
    return req


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def encode_batch(batch: RecordBatch, max_items: int = 5000) -> Iterator[tuple[str, Any]]:
    """("traces"|"metrics"|"logs", request) pairs for a batch, at most `max_items` records each."""
    for chunk in _chunks(batch.spans, max_items):
        yield "traces", encode_spans(chunk)
    for chunk in _chunks(batch.metrics, max_items):
        yield "metrics", encode_metrics(chunk)
    logs = batch.logs
    if logs or batch.changes:
        chunks = list(_chunks(logs, max_items)) or [[]]
        for i, chunk in enumerate(chunks):
            yield "logs", encode_logs(chunk, batch.changes if i == 0 else ())
